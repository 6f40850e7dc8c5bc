package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
)

// Body limit of the identity endpoints' JSON bodies.
const authBodyLimit = 16 << 10

type (
	empty         struct{}
	bodyOf[T any] struct {
		Body T
	}
	withCookies[T any] struct {
		SetCookie []http.Cookie `header:"Set-Cookie"`
		Body      T
	}
	clearCookies struct {
		SetCookie []http.Cookie `header:"Set-Cookie"`
	}
	idPath struct {
		ID string `path:"id" maxLength:"64"`
	}
	tokenPath struct {
		Token string `path:"token" maxLength:"100"`
	}
)

func op(method, path, id, summary string, tags ...string) huma.Operation {
	return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: tags, MaxBodyBytes: authBodyLimit}
}

func (s *Server) registerAPI(api huma.API) {
	created := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusCreated; return o }
	noContent := func(o huma.Operation) huma.Operation { o.DefaultStatus = http.StatusNoContent; return o }

	huma.Register(api, op(http.MethodGet, "/api/v1/setup", "get-setup", "Has the first user registered?", "setup"), s.getSetup)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/auth/register", "register", "Register the first user (creates the organisation and its admin)", "auth")), s.register)
	huma.Register(api, op(http.MethodPost, "/api/v1/auth/login", "login", "Sign in with email and password (sets the session and CSRF cookies)", "auth"), s.login)
	huma.Register(api, noContent(op(http.MethodPost, "/api/v1/auth/logout", "logout", "End the session", "auth")), s.logout)
	huma.Register(api, op(http.MethodPost, "/api/v1/auth/token", "exchange-api-key", "Exchange an API key for an access token and a refresh token", "auth"), s.exchangeToken)
	huma.Register(api, op(http.MethodPost, "/api/v1/auth/refresh", "refresh-token", "Rotate a refresh token for a new access token", "auth"), s.refreshToken)
	huma.Register(api, noContent(op(http.MethodPost, "/api/v1/auth/password-reset", "reset-password", "Set a new password with a one-time reset token", "auth")), s.resetPassword)
	huma.Register(api, op(http.MethodGet, "/api/v1/invitations/{token}", "get-invitation", "Look up an open invitation", "invitations"), s.getInvitation)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/invitations/{token}/accept", "accept-invitation", "Accept an invitation (creates the user and signs in)", "invitations")), s.acceptInvitation)

	huma.Register(api, op(http.MethodGet, "/api/v1/me", "get-me", "The signed-in user", "me"), s.getMe)
	huma.Register(api, noContent(op(http.MethodPost, "/api/v1/me/password", "change-password", "Change your password (ends your other sessions)", "me")), s.changePassword)
	huma.Register(api, op(http.MethodPost, "/api/v1/me/api-key", "reset-api-key", "Create a new API key (shown once; the old one stops working)", "me"), s.resetAPIKey)

	huma.Register(api, op(http.MethodGet, "/api/v1/users", "list-users", "List users", "users"), s.listUsers)
	huma.Register(api, op(http.MethodPatch, "/api/v1/users/{id}", "update-user", "Change a user's role or disabled state", "users"), s.updateUser)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/users/{id}", "delete-user", "Delete a user", "users")), s.deleteUser)
	huma.Register(api, op(http.MethodPost, "/api/v1/users/{id}/password-reset", "create-password-reset", "Create a one-time password reset link for a user", "users"), s.createReset)
	huma.Register(api, op(http.MethodGet, "/api/v1/invitations", "list-invitations", "List invitations", "invitations"), s.listInvitations)
	huma.Register(api, created(op(http.MethodPost, "/api/v1/invitations", "create-invitation", "Invite an email with a role (single use, expires)", "invitations")), s.createInvitation)
	huma.Register(api, noContent(op(http.MethodDelete, "/api/v1/invitations/{id}", "delete-invitation", "Revoke an invitation", "invitations")), s.deleteInvitation)
	s.registerAudit(api)
	s.registerInfo(api)
	s.registerSensorAPI(api)
}

// internal logs err and returns an opaque 500 naming the operation.
func (s *Server) internal(ctx context.Context, what string, err error) error {
	s.log.ErrorContext(ctx, what, "err", err, "request_id", ctx.Value(requestIDKey))
	return huma.Error500InternalServerError(what + " failed; see the console log")
}

func (s *Server) audit(ctx context.Context, orgID, action, target, detail string) {
	e := store.AuditEntry{OrgID: orgID, Actor: "anonymous", Action: action, Target: target, ClientAddr: ClientAddr(ctx), Detail: detail}
	if p, ok := PrincipalFrom(ctx); ok {
		e.ActorID, e.Actor, e.Via = actorOf(p)
		if e.OrgID == "" {
			e.OrgID = p.User.OrgID
			if p.Sensor != nil {
				e.OrgID = p.Sensor.OrgID
			}
		}
	}
	if _, err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

func (s *Server) auditAs(ctx context.Context, u store.User, action, target, detail string) {
	if _, err := s.store.AppendAudit(ctx, store.AuditEntry{OrgID: u.OrgID, ActorID: u.ID, Actor: u.Email, Action: action,
		Target: target, ClientAddr: ClientAddr(ctx), Detail: detail}); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

func principal(ctx context.Context) *Principal {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		// The policy table guarantees a principal on these routes.
		panic("console: handler needing a user reached without one; check the policy table")
	}
	return p
}

func (s *Server) getSetup(ctx context.Context, _ *empty) (*bodyOf[SetupStatus], error) {
	ok, err := s.store.Registered(ctx)
	if err != nil {
		return nil, s.internal(ctx, "read setup state", err)
	}
	return &bodyOf[SetupStatus]{Body: SetupStatus{Registered: ok}}, nil
}

func (s *Server) hash(ctx context.Context, pw string) (string, error) {
	if err := auth.CheckPasswordPolicy(pw); err != nil {
		return "", huma.Error422UnprocessableEntity(err.Error())
	}
	h, err := auth.HashPassword(pw, s.argon)
	if err != nil {
		return "", s.internal(ctx, "hash password", err)
	}
	return h, nil
}

func (s *Server) register(ctx context.Context, in *bodyOf[RegisterRequest]) (*withCookies[User], error) {
	if ok, err := s.store.Registered(ctx); err != nil {
		return nil, s.internal(ctx, "read setup state", err)
	} else if ok {
		return nil, huma.Error403Forbidden("registration is closed: the console has its first user; ask an admin for an invitation")
	}
	h, err := s.hash(ctx, in.Body.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.store.RegisterFirstUser(ctx, in.Body.Organisation, store.NewUser{Email: in.Body.Email, Name: in.Body.Name, PasswordHash: h})
	if errors.Is(err, store.ErrAlreadyRegistered) {
		return nil, huma.Error403Forbidden("registration is closed: the console has its first user; ask an admin for an invitation")
	}
	if err != nil {
		return nil, s.internal(ctx, "register", err)
	}
	cookies, err := s.startSession(ctx, &u)
	if err != nil {
		return nil, err
	}
	s.auditAs(ctx, u, store.AuditRegister, "org "+in.Body.Organisation, "first user; admin")
	return &withCookies[User]{SetCookie: cookies, Body: apiUser(u)}, nil
}

// startSession creates a session for u and returns its two cookies.
func (s *Server) startSession(ctx context.Context, u *store.User) ([]http.Cookie, error) {
	sid, err := auth.NewSecret(auth.SessionPrefix)
	if err != nil {
		return nil, s.internal(ctx, "create session", err)
	}
	csrf, err := auth.NewSecret(auth.CSRFPrefix)
	if err != nil {
		return nil, s.internal(ctx, "create session", err)
	}
	now := s.now()
	ua := ""
	if hc, ok := ctx.Value(httpRequestKey{}).(*http.Request); ok {
		ua = hc.UserAgent()
	}
	if len(ua) > 256 {
		ua = ua[:256]
	}
	if err := s.store.CreateSession(ctx, store.Session{IDHash: auth.HashSecret(sid), UserID: u.ID, CSRFHash: auth.HashSecret(csrf),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), ClientAddr: ClientAddr(ctx), UserAgent: ua}); err != nil {
		return nil, s.internal(ctx, "create session", err)
	}
	if err := s.store.RecordLogin(ctx, u.ID); err != nil {
		s.log.WarnContext(ctx, "record login", "err", err)
	}
	u.LastLoginAt = ptr(store.FromMillis(store.Millis(now)))
	maxAge := int(s.cfg.SessionTTL.Seconds())
	return []http.Cookie{
		{Name: SessionCookie, Value: sid, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode},
		{Name: CSRFCookie, Value: csrf, Path: "/", MaxAge: maxAge, HttpOnly: false, Secure: true, SameSite: http.SameSiteStrictMode},
	}, nil
}

type httpRequestKey struct{}

func (s *Server) login(ctx context.Context, in *bodyOf[LoginRequest]) (*withCookies[User], error) {
	email := store.NormaliseEmail(in.Body.Email)
	attempt, wait, err := s.chargeSignIn(ctx, email)
	if err != nil {
		return nil, err
	}
	if wait != nil {
		s.metrics.logins.WithLabelValues("rate_limited").Inc()
		s.audit(ctx, "", store.AuditLoginLimited, "user "+email, wait.audit)
		return nil, wait.problem()
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.internal(ctx, "sign in", err)
	}
	if err != nil {
		auth.DummyVerify(in.Body.Password, s.argon)
	} else {
		err = auth.VerifyPassword(in.Body.Password, u.PasswordHash)
		if err != nil && !errors.Is(err, auth.ErrMismatch) {
			s.log.ErrorContext(ctx, "verify password", "user", u.ID, "err", err)
		}
	}
	if err != nil {
		s.metrics.logins.WithLabelValues("failed").Inc()
		s.audit(ctx, u.OrgID, store.AuditLoginFailed, "user "+email, "wrong email or password")
		return nil, huma.Error401Unauthorized("wrong email or password")
	}
	s.forgive(ctx, attempt)
	if u.Disabled {
		s.metrics.logins.WithLabelValues("disabled").Inc()
		s.audit(ctx, u.OrgID, store.AuditLoginFailed, "user "+email, "account disabled")
		return nil, huma.Error403Forbidden("this account is disabled; ask an admin")
	}
	cookies, err := s.startSession(ctx, &u)
	if err != nil {
		return nil, err
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.auditAs(ctx, u, store.AuditLogin, "user "+u.Email, "")
	return &withCookies[User]{SetCookie: cookies, Body: apiUser(u)}, nil
}

func ptr[T any](v T) *T { return &v }

func (s *Server) logout(ctx context.Context, _ *empty) (*clearCookies, error) {
	p := principal(ctx)
	switch p.Via {
	case "session":
		if err := s.store.DeleteSession(ctx, p.SessionHash); err != nil {
			return nil, s.internal(ctx, "sign out", err)
		}
		s.audit(ctx, "", store.AuditLogout, "user "+p.User.Email, "")
	case "access_token":
		// Signing out with an access token ends its exchange: the refresh
		// tokens and the access tokens of its family.
		fam, err := s.bearerFamily(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.store.RevokeTokenFamily(ctx, fam); err != nil {
			return nil, s.internal(ctx, "sign out", err)
		}
		s.audit(ctx, "", store.AuditLogout, "user "+p.User.Email, "access token's refresh family revoked")
	}
	return &clearCookies{SetCookie: []http.Cookie{
		{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode},
		{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, SameSite: http.SameSiteStrictMode},
	}}, nil
}

// bearerFamily is the refresh-token family of the request's access token
// (authenticate has verified it).
func (s *Server) bearerFamily(ctx context.Context) (string, error) {
	r, _ := ctx.Value(httpRequestKey{}).(*http.Request)
	if r == nil {
		return "", s.internal(ctx, "sign out", errors.New("no request in the context"))
	}
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	claims, err := s.tokens().Verify(strings.TrimSpace(cred))
	if err != nil {
		return "", huma.Error401Unauthorized("the access token is not valid or has expired")
	}
	return claims.FamilyID, nil
}

func (s *Server) issueTokens(ctx context.Context, u store.User, rt store.RefreshToken, refresh string) (*bodyOf[TokenResponse], error) {
	access, exp, err := s.tokens().Issue(auth.Origin{UserID: u.ID, APIKeyID: rt.APIKeyID, FamilyID: rt.FamilyID}, store.NewID(s.now()))
	if err != nil {
		return nil, s.internal(ctx, "issue access token", err)
	}
	return &bodyOf[TokenResponse]{Body: TokenResponse{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(exp.Sub(s.now()).Seconds())}}, nil
}

func (s *Server) exchangeToken(ctx context.Context, in *bodyOf[TokenRequest]) (*bodyOf[TokenResponse], error) {
	if err := s.checkAddr(ctx, "token exchange"); err != nil {
		return nil, err
	}
	if !auth.WellFormed(in.Body.APIKey, auth.APIKeyPrefix) {
		s.failedAttempt(ctx)
		return nil, huma.Error401Unauthorized("apiKey is not a Riskmap API key (rmk_...)")
	}
	key, u, err := s.store.APIKeyUser(ctx, auth.HashSecret(in.Body.APIKey))
	if errors.Is(err, store.ErrNotFound) {
		s.failedAttempt(ctx)
		return nil, huma.Error401Unauthorized("apiKey is not valid (it may have been reset)")
	}
	if err != nil {
		return nil, s.internal(ctx, "exchange API key", err)
	}
	if u.Disabled {
		return nil, huma.Error401Unauthorized("the account is disabled")
	}
	refresh, err := auth.NewSecret(auth.RefreshTokenPrefix)
	if err != nil {
		return nil, s.internal(ctx, "exchange API key", err)
	}
	rt, err := s.store.CreateRefreshToken(ctx, u.ID, key.ID, auth.HashSecret(refresh), s.cfg.RefreshTokenTTL)
	if err != nil {
		return nil, s.internal(ctx, "exchange API key", err)
	}
	s.auditAs(ctx, u, store.AuditTokenExchange, "user "+u.Email, "API key "+key.Prefix)
	return s.issueTokens(ctx, u, rt, refresh)
}

func (s *Server) refreshToken(ctx context.Context, in *bodyOf[RefreshRequest]) (*bodyOf[TokenResponse], error) {
	if err := s.checkAddr(ctx, "token refresh"); err != nil {
		return nil, err
	}
	if !auth.WellFormed(in.Body.RefreshToken, auth.RefreshTokenPrefix) {
		s.failedAttempt(ctx)
		return nil, huma.Error401Unauthorized("refreshToken is not a Riskmap refresh token (rmr_...)")
	}
	refresh, err := auth.NewSecret(auth.RefreshTokenPrefix)
	if err != nil {
		return nil, s.internal(ctx, "refresh", err)
	}
	rt, err := s.store.RotateRefreshToken(ctx, auth.HashSecret(in.Body.RefreshToken), auth.HashSecret(refresh), s.cfg.RefreshTokenTTL)
	switch {
	case errors.Is(err, store.ErrTokenReuse):
		s.failedAttempt(ctx)
		s.audit(ctx, "", store.AuditTokenReuse, "refresh token family", "a used refresh token was presented again; the family is revoked")
		return nil, huma.Error401Unauthorized("refreshToken was already used; all tokens from that exchange are revoked, exchange the API key again")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUsed), errors.Is(err, store.ErrExpired):
		s.failedAttempt(ctx)
		return nil, huma.Error401Unauthorized("refreshToken is not valid or has expired; exchange the API key again")
	case err != nil:
		return nil, s.internal(ctx, "refresh", err)
	}
	u, err := s.store.UserByID(ctx, rt.UserID)
	if err != nil {
		return nil, huma.Error401Unauthorized("the token's user no longer exists")
	}
	if u.Disabled {
		return nil, huma.Error401Unauthorized("the account is disabled")
	}
	return s.issueTokens(ctx, u, rt, refresh)
}

func (s *Server) resetPassword(ctx context.Context, in *bodyOf[PasswordResetRequest]) (*empty, error) {
	if err := s.checkAddr(ctx, "password reset"); err != nil {
		return nil, err
	}
	if !auth.WellFormed(in.Body.Token, auth.ResetPrefix) {
		s.failedAttempt(ctx)
		return nil, huma.Error404NotFound("token is not a valid password reset token")
	}
	h, err := s.hash(ctx, in.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	u, err := s.store.ConsumePasswordReset(ctx, auth.HashSecret(in.Body.Token), h)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.failedAttempt(ctx)
		return nil, huma.Error404NotFound("token is not a valid password reset token")
	case errors.Is(err, store.ErrUsed), errors.Is(err, store.ErrExpired):
		return nil, huma.Error410Gone("the password reset link was already used or has expired; ask for a new one")
	case err != nil:
		return nil, s.internal(ctx, "reset password", err)
	}
	s.passwordSet(ctx, u.Email)
	s.auditAs(ctx, u, store.AuditPasswordReset, "user "+u.Email, "password set with a reset link; sessions ended")
	return nil, nil
}

func (s *Server) openInvitation(ctx context.Context, token string) (store.Invitation, error) {
	if err := s.checkAddr(ctx, "invitation"); err != nil {
		return store.Invitation{}, err
	}
	if !auth.WellFormed(token, auth.InvitationPrefix) {
		s.failedAttempt(ctx)
		return store.Invitation{}, huma.Error404NotFound("no such invitation")
	}
	inv, err := s.store.InvitationByToken(ctx, auth.HashSecret(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.failedAttempt(ctx)
		return store.Invitation{}, huma.Error404NotFound("no such invitation")
	case errors.Is(err, store.ErrUsed):
		return store.Invitation{}, huma.Error410Gone("this invitation was already accepted")
	case errors.Is(err, store.ErrExpired):
		return store.Invitation{}, huma.Error410Gone("this invitation has expired; ask an admin for a new one")
	case err != nil:
		return store.Invitation{}, s.internal(ctx, "read invitation", err)
	}
	return inv, nil
}

func (s *Server) getInvitation(ctx context.Context, in *tokenPath) (*bodyOf[InvitationInfo], error) {
	inv, err := s.openInvitation(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	return &bodyOf[InvitationInfo]{Body: InvitationInfo{Email: inv.Email, Role: string(inv.Role), ExpiresAt: inv.ExpiresAt}}, nil
}

func (s *Server) acceptInvitation(ctx context.Context, in *struct {
	Token string `path:"token" maxLength:"100"`
	Body  AcceptRequest
}) (*withCookies[User], error) {
	if _, err := s.openInvitation(ctx, in.Token); err != nil {
		return nil, err
	}
	h, err := s.hash(ctx, in.Body.Password)
	if err != nil {
		return nil, err
	}
	u, inv, err := s.store.AcceptInvitation(ctx, auth.HashSecret(in.Token), in.Body.Name, h)
	switch {
	case errors.Is(err, store.ErrUsed), errors.Is(err, store.ErrExpired):
		return nil, huma.Error410Gone("this invitation was already accepted or has expired")
	case errors.Is(err, store.ErrConflict):
		return nil, huma.Error409Conflict("a user with this email already exists")
	case errors.Is(err, store.ErrNotFound):
		return nil, huma.Error404NotFound("no such invitation")
	case err != nil:
		return nil, s.internal(ctx, "accept invitation", err)
	}
	cookies, err := s.startSession(ctx, &u)
	if err != nil {
		return nil, err
	}
	s.auditAs(ctx, u, store.AuditInviteAccept, "invitation "+inv.ID, "joined as "+string(u.Role))
	return &withCookies[User]{SetCookie: cookies, Body: apiUser(u)}, nil
}

func (s *Server) getMe(ctx context.Context, _ *empty) (*bodyOf[Me], error) {
	u := principal(ctx).User
	me := Me{User: apiUser(u)}
	switch k, err := s.store.APIKeyOf(ctx, u.ID); {
	case err == nil:
		me.APIKey = &APIKeyInfo{Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
	case !errors.Is(err, store.ErrNotFound):
		return nil, s.internal(ctx, "read your API key", err)
	}
	return &bodyOf[Me]{Body: me}, nil
}

func (s *Server) changePassword(ctx context.Context, in *bodyOf[PasswordChangeRequest]) (*empty, error) {
	p := principal(ctx)
	attempt, wait, err := s.chargeSignIn(ctx, p.User.Email)
	if err != nil {
		return nil, err
	}
	if wait != nil {
		return nil, wait.problem()
	}
	if err := auth.VerifyPassword(in.Body.CurrentPassword, p.User.PasswordHash); err != nil {
		s.audit(ctx, "", store.AuditLoginFailed, "user "+p.User.Email, "wrong current password on password change")
		return nil, huma.Error403Forbidden("currentPassword is wrong")
	}
	s.forgive(ctx, attempt)
	h, err := s.hash(ctx, in.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetPassword(ctx, p.User.ID, h, p.SessionHash); err != nil {
		return nil, s.internal(ctx, "change password", err)
	}
	s.audit(ctx, "", store.AuditPasswordChange, "user "+p.User.Email, "other sessions ended")
	return nil, nil
}

func (s *Server) resetAPIKey(ctx context.Context, _ *empty) (*bodyOf[APIKeyResponse], error) {
	p := principal(ctx)
	key, err := auth.NewSecret(auth.APIKeyPrefix)
	if err != nil {
		return nil, s.internal(ctx, "reset API key", err)
	}
	if _, err := s.store.SetAPIKey(ctx, p.User.ID, auth.HashSecret(key), auth.SecretHint(key)); err != nil {
		return nil, s.internal(ctx, "reset API key", err)
	}
	s.audit(ctx, "", store.AuditAPIKeyReset, "user "+p.User.Email, "new key "+auth.SecretHint(key))
	return &bodyOf[APIKeyResponse]{Body: APIKeyResponse{APIKey: key}}, nil
}

func (s *Server) listUsers(ctx context.Context, in *ListQuery) (*bodyOf[List[User]], error) {
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	users, next, err := s.store.ListUsers(ctx, page)
	if err != nil {
		return nil, s.internal(ctx, "list users", err)
	}
	out := List[User]{Items: make([]User, 0, len(users)), NextCursor: encodeCursor(next)}
	for _, u := range users {
		out.Items = append(out.Items, apiUser(u))
	}
	return &bodyOf[List[User]]{Body: out}, nil
}

func userError(s *Server, ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return huma.Error404NotFound("no such user")
	case errors.Is(err, store.ErrLastAdmin):
		return huma.Error409Conflict(store.ErrLastAdmin.Error())
	}
	return s.internal(ctx, what, err)
}

func (s *Server) updateUser(ctx context.Context, in *struct {
	ID   string `path:"id" maxLength:"64"`
	Body UserPatch
}) (*bodyOf[User], error) {
	var upd store.UserUpdate
	detail := ""
	if in.Body.Role != nil {
		r, err := auth.ParseRole(*in.Body.Role)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(err.Error())
		}
		upd.Role = &r
		detail += "role=" + string(r) + " "
	}
	if in.Body.Disabled != nil {
		upd.Disabled = in.Body.Disabled
		detail += fmt.Sprintf("disabled=%t", *in.Body.Disabled)
	}
	if upd.Role == nil && upd.Disabled == nil {
		return nil, huma.Error422UnprocessableEntity("nothing to change: give role and/or disabled")
	}
	before, err := s.store.UserByID(ctx, in.ID)
	if err != nil {
		return nil, userError(s, ctx, "update user", err)
	}
	u, err := s.store.UpdateUser(ctx, in.ID, upd)
	if err != nil {
		return nil, userError(s, ctx, "update user", err)
	}
	s.audit(ctx, "", store.AuditUserUpdate, "user "+u.Email, fmt.Sprintf("was role=%s disabled=%t; now %s", before.Role, before.Disabled, detail))
	return &bodyOf[User]{Body: apiUser(u)}, nil
}

func (s *Server) deleteUser(ctx context.Context, in *idPath) (*empty, error) {
	u, err := s.store.DeleteUser(ctx, in.ID)
	if err != nil {
		return nil, userError(s, ctx, "delete user", err)
	}
	s.audit(ctx, "", store.AuditUserDelete, "user "+u.Email, "role "+string(u.Role))
	return nil, nil
}

func (s *Server) createReset(ctx context.Context, in *idPath) (*bodyOf[ResetLinkResponse], error) {
	u, err := s.store.UserByID(ctx, in.ID)
	if err != nil {
		return nil, userError(s, ctx, "create password reset", err)
	}
	token, err := auth.NewSecret(auth.ResetPrefix)
	if err != nil {
		return nil, s.internal(ctx, "create password reset", err)
	}
	pr, err := s.store.CreatePasswordReset(ctx, u.ID, auth.HashSecret(token), principal(ctx).User.Email, s.cfg.ResetTTL)
	if err != nil {
		return nil, userError(s, ctx, "create password reset", err)
	}
	s.audit(ctx, "", store.AuditPasswordResetLink, "user "+u.Email, "expires "+pr.ExpiresAt.Format(time.RFC3339))
	return &bodyOf[ResetLinkResponse]{Body: ResetLinkResponse{Token: token, URL: s.link("reset-password", token), ExpiresAt: pr.ExpiresAt}}, nil
}

func (s *Server) listInvitations(ctx context.Context, in *ListQuery) (*bodyOf[List[Invitation]], error) {
	page, err := in.page()
	if err != nil {
		return nil, err
	}
	invs, next, err := s.store.ListInvitations(ctx, page)
	if err != nil {
		return nil, s.internal(ctx, "list invitations", err)
	}
	now := s.now()
	out := List[Invitation]{Items: make([]Invitation, 0, len(invs)), NextCursor: encodeCursor(next)}
	for _, inv := range invs {
		status := "open"
		switch {
		case inv.AcceptedAt != nil:
			status = "accepted"
		case !now.Before(inv.ExpiresAt):
			status = "expired"
		}
		out.Items = append(out.Items, Invitation{ID: inv.ID, Email: inv.Email, Role: string(inv.Role), Status: status,
			CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, AcceptedAt: inv.AcceptedAt})
	}
	return &bodyOf[List[Invitation]]{Body: out}, nil
}

func (s *Server) createInvitation(ctx context.Context, in *bodyOf[InvitationRequest]) (*bodyOf[CreatedInvitation], error) {
	p := principal(ctx)
	role, err := auth.ParseRole(in.Body.Role)
	if err != nil {
		return nil, huma.Error422UnprocessableEntity(err.Error())
	}
	token, err := auth.NewSecret(auth.InvitationPrefix)
	if err != nil {
		return nil, s.internal(ctx, "create invitation", err)
	}
	inv, err := s.store.CreateInvitation(ctx, p.User.OrgID, in.Body.Email, role, auth.HashSecret(token), p.User.ID, s.cfg.InvitationTTL)
	if errors.Is(err, store.ErrConflict) {
		return nil, huma.Error409Conflict(fmt.Sprintf("a user with email %q already exists", store.NormaliseEmail(in.Body.Email)))
	}
	if err != nil {
		return nil, s.internal(ctx, "create invitation", err)
	}
	s.audit(ctx, "", store.AuditInviteCreate, "email "+inv.Email, "role "+string(role)+"; invitation "+inv.ID)
	return &bodyOf[CreatedInvitation]{Body: CreatedInvitation{ID: inv.ID, Email: inv.Email, Role: string(inv.Role), Token: token,
		URL: s.link("invite", token), ExpiresAt: inv.ExpiresAt}}, nil
}

func (s *Server) deleteInvitation(ctx context.Context, in *idPath) (*empty, error) {
	inv, err := s.store.DeleteInvitation(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, huma.Error404NotFound("no such invitation")
	}
	if err != nil {
		return nil, s.internal(ctx, "delete invitation", err)
	}
	s.audit(ctx, "", store.AuditInviteDelete, "email "+inv.Email, "invitation "+inv.ID)
	return nil, nil
}
