package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/sensorproto"
	"github.com/riskmap/riskmap/internal/store"
)

// Sensor identity, as mature agents do it (Kubernetes bootstrap tokens,
// Tailscale auth keys): an admin creates an enrolment token; a sensor
// enrols with it and receives its own key, bound to the sensor id the
// console assigns; the key is exchanged for short-lived access tokens of
// the sensor audience; the sensor routes (Access Sensor) act for that
// sensor only; an admin revokes a sensor and its next request is refused.

// SensorKeyGrace is how long a rotated-away sensor key keeps working.
const SensorKeyGrace = 10 * time.Minute

// SensorFrom returns the enrolled sensor a request speaks for.
func SensorFrom(ctx context.Context) (*store.Sensor, bool) {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Sensor == nil {
		return nil, false
	}
	return p.Sensor, true
}

// sensorToken tells a sensor access token from a user's without verifying
// it (the verification that follows is the sensor one).
func (s *Server) sensorToken(cred string) bool {
	if !strings.HasPrefix(cred, "eyJ") {
		return false
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(cred, &c); err != nil {
		return false
	}
	for _, a := range c.Audience {
		if a == auth.SensorAudience {
			return true
		}
	}
	return false
}

// sensorTokensMax bounds the verified sensor tokens kept (a few per
// sensor of the fleet).
const sensorTokensMax = 50_000

// verifySensorToken is VerifySensor (with the other replicas' keys loaded
// when the token names a key this process does not know), remembering the
// tokens it verified until they expire or the signing keys change: a
// sensor sends the same token with every report, and verifying its
// signature is most of authenticating it.
func (s *Server) verifySensorToken(ctx context.Context, cred string) (*auth.SensorClaims, error) {
	now := s.now()
	s.keysMu.RLock()
	c, ok := s.sensorTokens[cred]
	gen := s.keysGen
	s.keysMu.RUnlock()
	if ok && c.ExpiresAt != nil && now.Before(c.ExpiresAt.Time) {
		return c, nil
	}
	claims, err := s.tokens().VerifySensor(cred)
	if errors.Is(err, auth.ErrUnknownKey) && s.reloadKeys(ctx) {
		s.keysMu.RLock()
		gen = s.keysGen
		s.keysMu.RUnlock()
		claims, err = s.tokens().VerifySensor(cred)
	}
	if err != nil || claims.ExpiresAt == nil {
		return claims, err
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	// Kept only if the keys it was verified with are still the keys.
	if gen == s.keysGen {
		if s.sensorTokens == nil || len(s.sensorTokens) >= sensorTokensMax {
			s.sensorTokens = s.pruneSensorTokens(now)
		}
		s.sensorTokens[cred] = claims
	}
	return claims, nil
}

// pruneSensorTokens returns the verified tokens that have not expired, or
// none when they are still too many. The caller holds keysMu.
func (s *Server) pruneSensorTokens(now time.Time) map[string]*auth.SensorClaims {
	keep := map[string]*auth.SensorClaims{}
	for k, c := range s.sensorTokens {
		if now.Before(c.ExpiresAt.Time) {
			keep[k] = c
		}
	}
	if len(keep) >= sensorTokensMax/2 {
		return map[string]*auth.SensorClaims{}
	}
	return keep
}

// knownSensorToken reports whether cred is a sensor token verified before.
func (s *Server) knownSensorToken(cred string) bool {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	_, ok := s.sensorTokens[cred]
	return ok
}

// authenticateSensor checks a sensor key or sensor access token: the
// sensor must be enrolled and not revoked, the token issued from its
// current key (or the previous one within its grace).
func (s *Server) authenticateSensor(r *http.Request, cred string) (*Principal, int, string) {
	ctx := r.Context()
	var x store.Sensor
	via := "sensor_key"
	if strings.HasPrefix(cred, auth.SensorKeyPrefix) {
		if !auth.WellFormed(cred, auth.SensorKeyPrefix) {
			return nil, http.StatusUnauthorized, "the sensor key is malformed"
		}
		var err error
		x, _, err = s.store.SensorByKey(ctx, auth.HashSecret(cred))
		switch {
		case errors.Is(err, store.ErrRevoked):
			return nil, http.StatusUnauthorized, "this sensor was revoked; enrol it again with a new enrolment token"
		case errors.Is(err, store.ErrNotFound):
			return nil, http.StatusUnauthorized, "the sensor key is not valid (it may have been rotated)"
		case err != nil:
			s.log.Error("look up sensor key", "err", err)
			return nil, http.StatusServiceUnavailable, "the console cannot reach its database; retry later"
		}
	} else {
		via = "sensor_token"
		claims, err := s.verifySensorToken(ctx, cred)
		if err != nil {
			return nil, http.StatusUnauthorized, "the sensor access token is not valid or has expired; exchange the sensor key again"
		}
		x, err = s.store.AuthSensor(ctx, claims.Subject)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("look up the sensor of an access token", "err", err)
			return nil, http.StatusServiceUnavailable, "the console cannot reach its database; retry later"
		}
		if err != nil {
			return nil, http.StatusUnauthorized, "the access token's sensor does not exist"
		}
		if x.RevokedAt != nil {
			return nil, http.StatusUnauthorized, "this sensor was revoked; enrol it again with a new enrolment token"
		}
		current := claims.KeyGen == x.KeyGen
		previous := claims.KeyGen == x.KeyGen-1 && x.PrevKeyUntil != nil && s.now().Before(*x.PrevKeyUntil)
		if !current && !previous {
			return nil, http.StatusUnauthorized, "the access token was issued from a rotated sensor key; exchange the current key"
		}
	}
	s.touchSensor(ctx, x.ID, "")
	return &Principal{Sensor: &x, Via: via}, 0, ""
}

// touchSensor records a sensor's request: at most once a minute per sensor
// and process (s.sensorSeen), and always when it names its version. A
// sensor's first request here, and one naming its version, are written at
// once; the later once-a-minute ones are gathered and written together
// every few seconds (recordSeen), a transaction for all instead of one per
// sensor (33 a second at 2,000 sensors).
func (s *Server) touchSensor(ctx context.Context, id, version string) {
	now := s.now()
	v, seen := s.sensorSeen.Load(id)
	refresh := seen && version == "" // not the first request, nor a new version
	if refresh && now.Sub(v.(time.Time)) < time.Minute {
		return
	}
	s.sensorSeen.Store(id, now)
	if refresh && s.seenBatched.Load() {
		s.seenMu.Lock()
		if s.seenPending == nil {
			s.seenPending = map[string]store.SensorTouch{}
		}
		s.seenPending[id] = store.SensorTouch{ID: id, Addr: ClientAddr(ctx), At: now}
		s.seenMu.Unlock()
		return
	}
	if err := s.store.TouchSensor(ctx, id, ClientAddr(ctx), version); err != nil {
		s.log.WarnContext(ctx, "record sensor request", "sensor", id, "err", err)
	}
}

// seenEvery is how often recordSeen writes the gathered requests.
const seenEvery = 5 * time.Second

// recordSeen writes the sensors' gathered requests every seenEvery, and
// once more when ctx ends.
func (s *Server) recordSeen(ctx context.Context) {
	s.seenBatched.Store(true)
	t := time.NewTicker(seenEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.seenBatched.Store(false)
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.flushSeen(fctx)
			cancel()
			return
		case <-t.C:
			s.flushSeen(ctx)
		}
	}
}

func (s *Server) flushSeen(ctx context.Context) {
	s.seenMu.Lock()
	pending := s.seenPending
	s.seenPending = nil
	s.seenMu.Unlock()
	touches := slices.Collect(maps.Values(pending))
	if err := s.store.TouchSensors(ctx, touches); err != nil && ctx.Err() == nil {
		s.log.Warn("record sensor requests", "sensors", len(touches), "err", err)
	}
}

func (s *Server) registerSensorAPI(api huma.API) {
	created := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusCreated; return o }
	noContent := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusNoContent; return o }
	huma.Register(api, created(op(http.MethodPost, sensorproto.PathEnrol, "enrol-sensor", "Sensor: enrol with an enrolment token; returns the sensor's id and key", "sensor")), s.enrolSensor)
	huma.Register(api, op(http.MethodPost, sensorproto.PathToken, "sensor-token", "Sensor: exchange the sensor's key for an access token", "sensor"), s.sensorAccessToken)
	huma.Register(api, op(http.MethodPost, sensorproto.PathKey, "rotate-sensor-key", "Sensor: get a new key (the old one works for 10 more minutes)", "sensor"), s.rotateSensorKey)
	RawRoute(api, s.mux, op(http.MethodGet, sensorproto.PathStream, "sensor-stream",
		"Sensor: a WebSocket (subprotocol "+sensorproto.StreamProtocol+") carrying the sensor's requests (reports, polls, scan statuses) as binary messages, a request line (METHOD PATH[ CONTENT-ENCODING]) then the body, each answered in order by a text message {status, retryAfterSeconds?, body}: what the request would be answered", "sensor"),
		map[string]*huma.Response{"101": {Description: "Switching to the WebSocket"}}, s.serveStream)
	huma.Register(api, op(http.MethodGet, "/api/v1/sensors", "list-sensors", "Enrolled sensors: host, version, last request and its address, revocation", "sensors"), s.listSensors)
	huma.Register(api, op(http.MethodPost, "/api/v1/sensors/{id}/revoke", "revoke-sensor", "Revoke a sensor: its next request is refused", "sensors"), s.revokeSensor)
	huma.Register(api, op(http.MethodGet, "/api/v1/enrolment-tokens", "list-enrolment-tokens", "Enrolment tokens", "sensors"), s.listEnrolmentTokens)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/enrolment-tokens", "create-enrolment-token",
		"Create an enrolment token (shown once): expiring, single use or for a fleet with a cap", "sensors")), s.createEnrolmentToken)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/enrolment-tokens/{id}", "revoke-enrolment-token", "Revoke an enrolment token", "sensors")), s.revokeEnrolmentToken)
}

func (s *Server) enrolSensor(ctx context.Context, in *bodyOf[sensorproto.EnrolRequest]) (*bodyOf[sensorproto.EnrolResponse], error) {
	if err := s.checkAddr(ctx, "sensor enrolment"); err != nil {
		return nil, err
	}
	b := in.Body
	refuse := func(msg string) error {
		s.failedAttempt(ctx)
		s.audit(ctx, "", store.AuditSensorEnrolFailed, "host "+b.Hostname, msg)
		return huma.Error401Unauthorized(msg)
	}
	if !auth.WellFormed(b.Token, auth.EnrolmentTokenPrefix) {
		return nil, refuse("token is not a Riskmap enrolment token (rme_...)")
	}
	key, err := auth.NewSecret(auth.SensorKeyPrefix)
	if err != nil {
		return nil, s.internal(ctx, "enrol sensor", err)
	}
	x, tok, err := s.store.EnrolSensor(ctx, auth.HashSecret(b.Token), store.Sensor{Hostname: b.Hostname, MachineID: b.MachineID, Version: b.Version,
		KeyPrefix: auth.SecretHint(key), EnrolledFrom: ClientAddr(ctx)}, auth.HashSecret(key))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, refuse("the enrolment token is not valid")
	case errors.Is(err, store.ErrRevoked):
		return nil, refuse("the enrolment token was revoked")
	case errors.Is(err, store.ErrExpired):
		return nil, refuse("the enrolment token has expired")
	case errors.Is(err, store.ErrUsed):
		return nil, refuse("the enrolment token has enrolled all the sensors it may")
	case err != nil:
		return nil, s.internal(ctx, "enrol sensor", err)
	}
	// The actor is the new sensor, come in with the enrolment token.
	if _, err := s.store.AppendAudit(ctx, store.AuditEntry{OrgID: x.OrgID, ActorID: x.ID, Actor: "sensor " + x.ID + " (" + x.Hostname + ")",
		Via: store.ViaEnrolmentToken, Action: store.AuditSensorEnrol, Target: "sensor " + x.ID, ClientAddr: ClientAddr(ctx),
		Detail: fmt.Sprintf("host %s (machine %s, version %s) with enrolment token %q (%s), use %d", x.Hostname, x.MachineID, x.Version, tok.Name, tok.Prefix, tok.Uses)}); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", store.AuditSensorEnrol, "err", err)
	}
	return &bodyOf[sensorproto.EnrolResponse]{sensorproto.EnrolResponse{SensorID: x.ID, Key: key, Hostname: x.Hostname}}, nil
}

func (s *Server) sensorAccessToken(ctx context.Context, in *bodyOf[sensorproto.SensorTokenRequest]) (*bodyOf[sensorproto.SensorTokenResponse], error) {
	if err := s.checkAddr(ctx, "sensor token exchange"); err != nil {
		return nil, err
	}
	if !auth.WellFormed(in.Body.Key, auth.SensorKeyPrefix) {
		s.failedAttempt(ctx)
		return nil, huma.Error401Unauthorized("key is not a Riskmap sensor key (rmsk_...)")
	}
	x, gen, err := s.store.SensorByKey(ctx, auth.HashSecret(in.Body.Key))
	switch {
	case errors.Is(err, store.ErrRevoked):
		s.audit(ctx, x.OrgID, store.AuditSensorRefused, "sensor "+x.ID, "token exchange by a revoked sensor")
		return nil, huma.Error401Unauthorized("this sensor was revoked; enrol it again with a new enrolment token")
	case errors.Is(err, store.ErrNotFound):
		s.failedAttempt(ctx)
		return nil, huma.Error401Unauthorized("the sensor key is not valid (it may have been rotated)")
	case err != nil:
		return nil, s.internal(ctx, "sensor token exchange", err)
	}
	tok, exp, err := s.tokens().IssueSensor(x.ID, gen, store.NewID(s.now()))
	if err != nil {
		return nil, s.internal(ctx, "sensor token exchange", err)
	}
	s.touchSensor(ctx, x.ID, in.Body.Version)
	return &bodyOf[sensorproto.SensorTokenResponse]{sensorproto.SensorTokenResponse{SensorID: x.ID, AccessToken: tok, TokenType: "Bearer",
		ExpiresIn: int(exp.Sub(s.now()).Seconds())}}, nil
}

func (s *Server) rotateSensorKey(ctx context.Context, _ *empty) (*bodyOf[sensorproto.SensorKeyResponse], error) {
	x, ok := SensorFrom(ctx)
	if !ok {
		return nil, huma.Error401Unauthorized("not a sensor")
	}
	key, err := auth.NewSecret(auth.SensorKeyPrefix)
	if err != nil {
		return nil, s.internal(ctx, "rotate sensor key", err)
	}
	nx, err := s.store.RotateSensorKey(ctx, x.ID, auth.HashSecret(key), auth.SecretHint(key), SensorKeyGrace)
	if errors.Is(err, store.ErrRevoked) {
		return nil, huma.Error401Unauthorized("this sensor was revoked")
	}
	if err != nil {
		return nil, s.internal(ctx, "rotate sensor key", err)
	}
	s.audit(ctx, x.OrgID, store.AuditSensorKeyRotate, "sensor "+x.ID, fmt.Sprintf("key generation %d (%s); the previous key works until %s",
		nx.KeyGen, nx.KeyPrefix, s.now().Add(SensorKeyGrace).UTC().Format(time.RFC3339)))
	return &bodyOf[sensorproto.SensorKeyResponse]{sensorproto.SensorKeyResponse{SensorID: x.ID, Key: key}}, nil
}

func (s *Server) listSensors(ctx context.Context, _ *empty) (*bodyOf[List[store.Sensor]], error) {
	xs, err := s.store.ListSensors(ctx)
	if err != nil {
		return nil, s.internal(ctx, "list sensors", err)
	}
	return &bodyOf[List[store.Sensor]]{List[store.Sensor]{Items: xs}}, nil
}

func (s *Server) revokeSensor(ctx context.Context, in *idPath) (*bodyOf[store.Sensor], error) {
	p := principal(ctx)
	before, err := s.store.SensorByID(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, huma.Error404NotFound("no sensor " + in.ID)
	}
	if err != nil {
		return nil, s.internal(ctx, "revoke sensor", err)
	}
	x, err := s.store.RevokeSensor(ctx, in.ID, p.User.Email)
	if err != nil {
		return nil, s.internal(ctx, "revoke sensor", err)
	}
	if before.RevokedAt == nil {
		s.audit(ctx, "", store.AuditSensorRevoke, "sensor "+x.ID, "host "+x.Hostname)
	}
	return &bodyOf[store.Sensor]{x}, nil
}

func (s *Server) listEnrolmentTokens(ctx context.Context, _ *empty) (*bodyOf[List[store.EnrolmentToken]], error) {
	ts, err := s.store.ListEnrolmentTokens(ctx)
	if err != nil {
		return nil, s.internal(ctx, "list enrolment tokens", err)
	}
	return &bodyOf[List[store.EnrolmentToken]]{List[store.EnrolmentToken]{Items: ts}}, nil
}

// EnrolmentTokenRequest creates an enrolment token.
type EnrolmentTokenRequest struct {
	Name string `json:"name" minLength:"1" maxLength:"200" doc:"what the token is for (a cluster, a fleet)"`
	// ExpiresInHours defaults to 24; at most a year.
	ExpiresInHours int `json:"expiresInHours,omitempty" minimum:"0" maximum:"8784"`
	// MaxSensors caps the sensors it enrols: 1 for a single use, 0 for no
	// cap.
	MaxSensors int `json:"maxSensors" minimum:"0" maximum:"1000000"`
}

// CreatedEnrolmentToken is a new token with its secret, shown once.
type CreatedEnrolmentToken struct {
	store.EnrolmentToken
	Token string `json:"token"`
}

func (s *Server) createEnrolmentToken(ctx context.Context, in *bodyOf[EnrolmentTokenRequest]) (*bodyOf[CreatedEnrolmentToken], error) {
	p := principal(ctx)
	hours := in.Body.ExpiresInHours
	if hours == 0 {
		hours = 24
	}
	secret, err := auth.NewSecret(auth.EnrolmentTokenPrefix)
	if err != nil {
		return nil, s.internal(ctx, "create enrolment token", err)
	}
	t, err := s.store.CreateEnrolmentToken(ctx, store.EnrolmentToken{OrgID: p.User.OrgID, Name: strings.TrimSpace(in.Body.Name),
		Prefix: auth.SecretHint(secret), MaxSensors: in.Body.MaxSensors, ExpiresAt: s.now().Add(time.Duration(hours) * time.Hour),
		CreatedBy: p.User.Email}, auth.HashSecret(secret))
	if err != nil {
		return nil, s.internal(ctx, "create enrolment token", err)
	}
	uses := "no cap on sensors"
	if t.MaxSensors > 0 {
		uses = fmt.Sprintf("at most %d sensors", t.MaxSensors)
	}
	s.audit(ctx, "", store.AuditEnrolmentTokenCreate, "enrolment token "+t.ID, fmt.Sprintf("%q (%s), %s, expires %s", t.Name, t.Prefix, uses,
		t.ExpiresAt.UTC().Format(time.RFC3339)))
	return &bodyOf[CreatedEnrolmentToken]{CreatedEnrolmentToken{EnrolmentToken: t, Token: secret}}, nil
}

func (s *Server) revokeEnrolmentToken(ctx context.Context, in *idPath) (*empty, error) {
	t, err := s.store.RevokeEnrolmentToken(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, huma.Error404NotFound("no enrolment token " + in.ID)
	}
	if err != nil {
		return nil, s.internal(ctx, "revoke enrolment token", err)
	}
	s.audit(ctx, "", store.AuditEnrolmentTokenRevoke, "enrolment token "+t.ID, fmt.Sprintf("%q (%s) after %d uses", t.Name, t.Prefix, t.Uses))
	return nil, nil
}
