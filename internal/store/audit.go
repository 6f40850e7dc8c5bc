package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEntry is one security-relevant action.
type AuditEntry struct {
	ID         string
	OrgID      string
	Time       time.Time
	ActorID    string // empty for anonymous or system actions
	Actor      string // email, "anonymous" or "system"
	Action     string // e.g. login, login.failed, user.update
	Target     string
	ClientAddr string
	Detail     string
}

// Audit actions recorded by the console.
const (
	AuditRegister          = "register"
	AuditLogin             = "login"
	AuditLoginFailed       = "login.failed"
	AuditLoginLimited      = "login.rate_limited"
	AuditLogout            = "logout"
	AuditPasswordChange    = "password.change"
	AuditPasswordReset     = "password.reset"
	AuditPasswordResetLink = "password.reset_link"
	AuditAPIKeyReset       = "api_key.reset"
	AuditTokenExchange     = "token.exchange"
	AuditTokenReuse        = "token.reuse"
	AuditInviteCreate      = "invitation.create"
	AuditInviteDelete      = "invitation.delete"
	AuditInviteAccept      = "invitation.accept"
	AuditUserUpdate        = "user.update"
	AuditUserDelete        = "user.delete"
)

// AppendAudit records an entry (ID and Time are filled in when empty).
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.ID == "" {
		e.ID = NewID(e.Time)
	}
	e.Time = FromMillis(Millis(e.Time))
	err := s.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, "INSERT INTO audit_log (id, org_id, at, actor_id, actor, action, target, client_addr, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			e.ID, nullable(e.OrgID), Millis(e.Time), nullable(e.ActorID), e.Actor, e.Action, e.Target, e.ClientAddr, e.Detail)
		return err
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return e, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, p Page) (out []AuditEntry, next string, err error) {
	lim := p.limit()
	q := "SELECT id, org_id, at, actor_id, actor, action, target, client_addr, detail FROM audit_log ORDER BY id DESC LIMIT ?"
	args := []any{lim + 1}
	if p.Cursor != "" {
		q = "SELECT id, org_id, at, actor_id, actor, action, target, client_addr, detail FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?"
		args = []any{p.Cursor, lim + 1}
	}
	rows, err := s.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		var org, actor sql.NullString
		var at int64
		if err := rows.Scan(&e.ID, &org, &at, &actor, &e.Actor, &e.Action, &e.Target, &e.ClientAddr, &e.Detail); err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		e.OrgID, e.ActorID, e.Time = org.String, actor.String, FromMillis(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	if len(out) > lim {
		out = out[:lim]
		next = out[lim-1].ID
	}
	return out, next, nil
}
