package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Audit actions of sensor identity.
const (
	AuditEnrolmentTokenCreate = "enrolment_token.create"
	AuditEnrolmentTokenRevoke = "enrolment_token.revoke"
	AuditSensorEnrol          = "sensor.enrol"
	AuditSensorEnrolFailed    = "sensor.enrol_failed"
	AuditSensorKeyRotate      = "sensor.key_rotate"
	AuditSensorRevoke         = "sensor.revoke"
	AuditSensorRefused        = "sensor.refused"
)

// ErrRevoked means a credential or token was revoked.
var ErrRevoked = errors.New("revoked")

// missing is notFound for a nil-or-error result.
func missing(err error, what string) error {
	if err == nil {
		return nil
	}
	return notFound(err, what)
}

// EnrolmentToken lets sensors enrol: reusable for a fleet (MaxSensors 0, or
// a cap) or single use (MaxSensors 1), until it expires or is revoked.
type EnrolmentToken struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"-"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	MaxSensors int        `json:"maxSensors"`
	Uses       int        `json:"uses"`
	ExpiresAt  time.Time  `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	CreatedBy  string     `json:"createdBy"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

// Usable reports whether the token can enrol one more sensor at now.
func (t EnrolmentToken) Usable(now time.Time) bool {
	return t.RevokedAt == nil && t.ExpiresAt.After(now) && (t.MaxSensors == 0 || t.Uses < t.MaxSensors)
}

const tokenCols = `id, org_id, name, prefix, max_sensors, uses, expires_at, revoked_at, created_by, created_at, last_used_at`

func scanToken(sc interface{ Scan(...any) error }) (EnrolmentToken, error) {
	var t EnrolmentToken
	var exp, created int64
	var rev, used sql.NullInt64
	err := sc.Scan(&t.ID, &t.OrgID, &t.Name, &t.Prefix, &t.MaxSensors, &t.Uses, &exp, &rev, &t.CreatedBy, &created, &used)
	t.ExpiresAt, t.CreatedAt, t.RevokedAt, t.LastUsedAt = FromMillis(exp), FromMillis(created), fromNullMillis(rev), fromNullMillis(used)
	return t, err
}

// CreateEnrolmentToken stores a token (its digest) and returns it.
func (s *Store) CreateEnrolmentToken(ctx context.Context, t EnrolmentToken, hash []byte) (EnrolmentToken, error) {
	now := s.now()
	t.ID, t.CreatedAt, t.Uses = NewID(now), FromMillis(Millis(now)), 0
	t.ExpiresAt = FromMillis(Millis(t.ExpiresAt))
	err := s.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO enrolment_tokens (id, org_id, name, token_hash, prefix, max_sensors, expires_at, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.OrgID, t.Name, hash, t.Prefix, t.MaxSensors, Millis(t.ExpiresAt), t.CreatedBy, Millis(now))
		return err
	})
	if err != nil {
		return EnrolmentToken{}, fmt.Errorf("create enrolment token %q: %w", t.Name, err)
	}
	return t, nil
}

// ListEnrolmentTokens lists the tokens, newest first.
func (s *Store) ListEnrolmentTokens(ctx context.Context) ([]EnrolmentToken, error) {
	rows, err := s.Read().QueryContext(ctx, `SELECT `+tokenCols+` FROM enrolment_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list enrolment tokens: %w", err)
	}
	defer rows.Close()
	out := []EnrolmentToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list enrolment tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeEnrolmentToken revokes a token (sensors it enrolled keep their
// credentials).
func (s *Store) RevokeEnrolmentToken(ctx context.Context, id string) (EnrolmentToken, error) {
	var t EnrolmentToken
	err := s.Tx(ctx, func(q Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE enrolment_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, Millis(s.now()), id); err != nil {
			return err
		}
		var err error
		t, err = scanToken(q.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM enrolment_tokens WHERE id = ?`, id))
		return missing(err, "enrolment token")
	})
	if err != nil {
		return EnrolmentToken{}, fmt.Errorf("revoke enrolment token %s: %w", id, err)
	}
	return t, nil
}

// Sensor is an enrolled sensor.
type Sensor struct {
	ID           string     `json:"id"`
	OrgID        string     `json:"-"`
	Hostname     string     `json:"hostname"`
	MachineID    string     `json:"machineId,omitempty"`
	Version      string     `json:"version,omitempty"`
	KeyPrefix    string     `json:"keyPrefix"`
	KeyGen       int        `json:"keyGeneration"`
	TokenID      string     `json:"enrolmentTokenId,omitempty"`
	EnrolledAt   time.Time  `json:"enrolledAt"`
	EnrolledFrom string     `json:"enrolledFrom,omitempty"`
	RotatedAt    *time.Time `json:"rotatedAt,omitempty"`
	RevokedAt    *time.Time `json:"revokedAt,omitempty"`
	RevokedBy    string     `json:"revokedBy,omitempty"`
	LastSeen     *time.Time `json:"lastSeen,omitempty"`
	LastAddr     string     `json:"lastAddress,omitempty"`
	// PrevKeyUntil is when the key it rotated away from stops working.
	PrevKeyUntil *time.Time `json:"-"`
}

const sensorCols = `id, org_id, hostname, machine_id, version, key_prefix, key_gen, token_id, enrolled_at, enrolled_from, rotated_at,
	revoked_at, revoked_by, last_seen, last_addr, prev_key_until`

func scanSensor(sc interface{ Scan(...any) error }, extra ...any) (Sensor, error) {
	var x Sensor
	var enrolled int64
	var rot, rev, seen, prev sql.NullInt64
	dest := append([]any{&x.ID, &x.OrgID, &x.Hostname, &x.MachineID, &x.Version, &x.KeyPrefix, &x.KeyGen, &x.TokenID, &enrolled,
		&x.EnrolledFrom, &rot, &rev, &x.RevokedBy, &seen, &x.LastAddr, &prev}, extra...)
	err := sc.Scan(dest...)
	x.EnrolledAt, x.RotatedAt, x.RevokedAt, x.LastSeen = FromMillis(enrolled), fromNullMillis(rot), fromNullMillis(rev), fromNullMillis(seen)
	x.PrevKeyUntil = fromNullMillis(prev)
	return x, err
}

// EnrolSensor spends one use of the token whose digest is tokenHash and
// creates the sensor with the credential digest keyHash, in one
// transaction. It fails with ErrNotFound (unknown token), ErrRevoked,
// ErrExpired or ErrUsed (its cap of sensors is reached).
func (s *Store) EnrolSensor(ctx context.Context, tokenHash []byte, x Sensor, keyHash []byte) (Sensor, EnrolmentToken, error) {
	now := s.now()
	var tok EnrolmentToken
	err := s.Tx(ctx, func(q Querier) error {
		var err error
		tok, err = scanToken(q.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM enrolment_tokens WHERE token_hash = ?`, tokenHash))
		if err != nil {
			return missing(err, "enrolment token")
		}
		switch {
		case tok.RevokedAt != nil:
			return fmt.Errorf("enrolment token %s: %w", tok.Prefix, ErrRevoked)
		case !tok.ExpiresAt.After(now):
			return fmt.Errorf("enrolment token %s: %w", tok.Prefix, ErrExpired)
		}
		res, err := q.ExecContext(ctx, `UPDATE enrolment_tokens SET uses = uses + 1, last_used_at = ? WHERE id = ? AND (max_sensors = 0 OR uses < max_sensors)`,
			Millis(now), tok.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("enrolment token %s: its %d sensors are enrolled: %w", tok.Prefix, tok.MaxSensors, ErrUsed)
		}
		tok.Uses++
		x.ID, x.OrgID, x.TokenID, x.EnrolledAt, x.KeyGen = NewID(now), tok.OrgID, tok.ID, FromMillis(Millis(now)), 1
		_, err = q.ExecContext(ctx, `INSERT INTO sensors (id, org_id, hostname, machine_id, version, key_hash, key_prefix, key_gen, token_id,
			enrolled_at, enrolled_from, last_seen, last_addr) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`,
			x.ID, x.OrgID, x.Hostname, x.MachineID, x.Version, keyHash, x.KeyPrefix, x.TokenID, Millis(now), x.EnrolledFrom, Millis(now), x.EnrolledFrom)
		return err
	})
	if err != nil {
		return Sensor{}, tok, fmt.Errorf("enrol sensor %q: %w", x.Hostname, err)
	}
	t := x.EnrolledAt
	x.LastSeen, x.LastAddr = &t, x.EnrolledFrom
	return x, tok, nil
}

// SensorByKey returns the sensor whose current credential (or previous
// one, within its rotation grace) has the digest keyHash, and the key
// generation it matched. A revoked sensor is ErrRevoked.
func (s *Store) SensorByKey(ctx context.Context, keyHash []byte) (Sensor, int, error) {
	var x Sensor
	var cur int
	err := func() error {
		var err error
		x, err = scanSensor(s.Read().QueryRowContext(ctx, `SELECT `+sensorCols+`, CASE WHEN key_hash = ? THEN 1 ELSE 0 END FROM sensors
			WHERE key_hash = ? OR (prev_key_hash = ? AND prev_key_until > ?)`, keyHash, keyHash, keyHash, Millis(s.now())), &cur)
		return missing(err, "sensor credential")
	}()
	if err != nil {
		return Sensor{}, 0, err
	}
	if x.RevokedAt != nil {
		return x, 0, fmt.Errorf("sensor %s: %w", x.ID, ErrRevoked)
	}
	gen := x.KeyGen
	if cur == 0 {
		gen--
	}
	return x, gen, nil
}

// SensorByID returns a sensor (revoked ones too).
func (s *Store) SensorByID(ctx context.Context, id string) (Sensor, error) {
	x, err := scanSensor(s.Read().QueryRowContext(ctx, `SELECT `+sensorCols+` FROM sensors WHERE id = ?`, id))
	if err != nil {
		return Sensor{}, missing(err, "sensor")
	}
	return x, nil
}

// ListSensors lists the enrolled sensors, newest first.
func (s *Store) ListSensors(ctx context.Context) ([]Sensor, error) {
	rows, err := s.Read().QueryContext(ctx, `SELECT `+sensorCols+` FROM sensors ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list sensors: %w", err)
	}
	defer rows.Close()
	out := []Sensor{}
	for rows.Next() {
		x, err := scanSensor(rows)
		if err != nil {
			return nil, fmt.Errorf("list sensors: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// RotateSensorKey gives a sensor a new credential; the one it had stays
// valid for grace (requests already under way), then no more.
func (s *Store) RotateSensorKey(ctx context.Context, id string, newHash []byte, prefix string, grace time.Duration) (Sensor, error) {
	now := s.now()
	var x Sensor
	err := s.Tx(ctx, func(q Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE sensors SET prev_key_hash = key_hash, prev_key_until = ?, key_hash = ?, key_prefix = ?,
			key_gen = key_gen + 1, rotated_at = ? WHERE id = ? AND revoked_at IS NULL`, Millis(now.Add(grace)), newHash, prefix, Millis(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sensor %s: %w", id, ErrRevoked)
		}
		x, err = scanSensor(q.QueryRowContext(ctx, `SELECT `+sensorCols+` FROM sensors WHERE id = ?`, id))
		if err != nil {
			return err
		}
		return s.notifySensorChanged(ctx, q, id)
	})
	s.sensors.changed(id)
	if err != nil {
		return Sensor{}, fmt.Errorf("rotate the credential of sensor %s: %w", id, err)
	}
	return x, nil
}

// RevokeSensor revokes a sensor's credentials: its next request is
// refused. Revoking twice keeps the first revocation.
func (s *Store) RevokeSensor(ctx context.Context, id, by string) (Sensor, error) {
	var x Sensor
	err := s.Tx(ctx, func(q Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE sensors SET revoked_at = ?, revoked_by = ?, prev_key_hash = NULL WHERE id = ? AND revoked_at IS NULL`,
			Millis(s.now()), by, id); err != nil {
			return err
		}
		var err error
		x, err = scanSensor(q.QueryRowContext(ctx, `SELECT `+sensorCols+` FROM sensors WHERE id = ?`, id))
		if err != nil {
			return missing(err, "sensor")
		}
		return s.notifySensorChanged(ctx, q, id)
	})
	s.sensors.changed(id)
	if err != nil {
		return Sensor{}, fmt.Errorf("revoke sensor %s: %w", id, err)
	}
	return x, nil
}

// TouchSensor records a sensor's last request: when, from where, and the
// version it runs (when known).
func (s *Store) TouchSensor(ctx context.Context, id, addr, version string) error {
	err := s.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, `UPDATE sensors SET last_seen = ?, last_addr = ?, version = CASE WHEN ? <> '' THEN ? ELSE version END WHERE id = ?`,
			Millis(s.now()), addr, version, version, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the request of sensor %s: %w", id, err)
	}
	return nil
}

// SensorTouch is one sensor's last request, for TouchSensors.
type SensorTouch struct {
	ID, Addr string
	At       time.Time
}

// TouchSensors records the last requests of many sensors in one
// transaction (the console gathers a few seconds of them).
func (s *Store) TouchSensors(ctx context.Context, touches []SensorTouch) error {
	if len(touches) == 0 {
		return nil
	}
	err := s.Tx(ctx, func(q Querier) error {
		for _, t := range touches {
			if _, err := q.ExecContext(ctx, `UPDATE sensors SET last_seen = ?, last_addr = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)`,
				Millis(t.At), t.Addr, t.ID, Millis(t.At)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the requests of %d sensors: %w", len(touches), err)
	}
	return nil
}
