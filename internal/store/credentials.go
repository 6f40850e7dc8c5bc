package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
)

// Session is a browser login. Only SHA-256 digests of the session id and
// its CSRF token are stored.
type Session struct {
	IDHash     []byte
	UserID     string
	CSRFHash   []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ClientAddr string
	UserAgent  string
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	err := s.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, "INSERT INTO sessions (id_hash, user_id, csrf_hash, created_at, expires_at, client_addr, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
			sess.IDHash, sess.UserID, sess.CSRFHash, Millis(sess.CreatedAt), Millis(sess.ExpiresAt), sess.ClientAddr, sess.UserAgent)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session for user %q: %w", sess.UserID, err)
	}
	return nil
}

// SessionUser returns an unexpired session and its user.
func (s *Store) SessionUser(ctx context.Context, idHash []byte) (Session, User, error) {
	var sess Session
	var created, expires int64
	row := s.Read().QueryRowContext(ctx, "SELECT s.id_hash, s.user_id, s.csrf_hash, s.created_at, s.expires_at, s.client_addr, s.user_agent, "+prefixed("u", userCols)+
		" FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ?", idHash, Millis(s.now()))
	var u User
	var uc, uch int64
	var ul sql.NullInt64
	var role string
	err := row.Scan(&sess.IDHash, &sess.UserID, &sess.CSRFHash, &created, &expires, &sess.ClientAddr, &sess.UserAgent,
		&u.ID, &u.OrgID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.Disabled, &uc, &ul, &uch)
	if err != nil {
		return Session{}, User{}, notFound(err, "session")
	}
	sess.CreatedAt, sess.ExpiresAt = FromMillis(created), FromMillis(expires)
	u.Role, u.CreatedAt, u.LastLoginAt, u.PasswordChangedAt = auth.Role(role), FromMillis(uc), fromNullMillis(ul), FromMillis(uch)
	return sess, u, nil
}

func prefixed(alias, cols string) string {
	out := ""
	for i, c := range splitCols(cols) {
		if i > 0 {
			out += ", "
		}
		out += alias + "." + c
	}
	return out
}

func splitCols(cols string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(cols); i++ {
		if i == len(cols) || cols[i] == ',' {
			c := cols[start:i]
			for len(c) > 0 && c[0] == ' ' {
				c = c[1:]
			}
			out = append(out, c)
			start = i + 1
		}
	}
	return out
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	err := s.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, "DELETE FROM sessions WHERE id_hash = ?", idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// APIKey is a user's API key record; only the SHA-256 digest of the key is
// kept.
type APIKey struct {
	ID         string
	UserID     string
	Hash       []byte
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// SetAPIKey gives a user a new API key (replacing any previous one, whose
// refresh tokens are revoked) and returns its record.
func (s *Store) SetAPIKey(ctx context.Context, userID string, hash []byte, prefix string) (APIKey, error) {
	now := s.now()
	k := APIKey{ID: s.newID(), UserID: userID, Hash: hash, Prefix: prefix, CreatedAt: FromMillis(Millis(now))}
	err := s.Tx(ctx, func(q Querier) error {
		var old sql.NullString
		if err := q.QueryRowContext(ctx, "SELECT id FROM api_keys WHERE user_id = ?", userID).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old.Valid {
			if _, err := q.ExecContext(ctx, "DELETE FROM api_keys WHERE user_id = ?", userID); err != nil {
				return err
			}
			if err := revokeRefresh(ctx, q, byAPIKey, old.String, now); err != nil {
				return err
			}
		}
		_, err := q.ExecContext(ctx, "INSERT INTO api_keys (id, user_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
			k.ID, userID, hash, prefix, Millis(now))
		return err
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("set API key of user %q: %w", userID, err)
	}
	return k, nil
}

// APIKeyUser finds the key with the given digest and its user. The digest is
// looked up by index and then compared in constant time.
func (s *Store) APIKeyUser(ctx context.Context, hash []byte) (APIKey, User, error) {
	var k APIKey
	var created int64
	var last sql.NullInt64
	row := s.Read().QueryRowContext(ctx, "SELECT k.id, k.user_id, k.key_hash, k.prefix, k.created_at, k.last_used_at FROM api_keys k WHERE k.key_hash = ?", hash)
	if err := row.Scan(&k.ID, &k.UserID, &k.Hash, &k.Prefix, &created, &last); err != nil {
		return APIKey{}, User{}, notFound(err, "API key")
	}
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
		return APIKey{}, User{}, fmt.Errorf("API key: %w", ErrNotFound)
	}
	k.CreatedAt, k.LastUsedAt = FromMillis(created), fromNullMillis(last)
	u, err := s.UserByID(ctx, k.UserID)
	if err != nil {
		return APIKey{}, User{}, err
	}
	return k, u, nil
}

// APIKeyOf returns a user's API key record.
func (s *Store) APIKeyOf(ctx context.Context, userID string) (APIKey, error) {
	var k APIKey
	var created int64
	var last sql.NullInt64
	row := s.Read().QueryRowContext(ctx, "SELECT id, user_id, key_hash, prefix, created_at, last_used_at FROM api_keys WHERE user_id = ?", userID)
	if err := row.Scan(&k.ID, &k.UserID, &k.Hash, &k.Prefix, &created, &last); err != nil {
		return APIKey{}, notFound(err, fmt.Sprintf("API key of user %q", userID))
	}
	k.CreatedAt, k.LastUsedAt = FromMillis(created), fromNullMillis(last)
	return k, nil
}

// Invitation invites an email to join with a role. The token itself is only
// ever shown to the inviting admin; its digest is stored.
type Invitation struct {
	ID             string
	OrgID          string
	Email          string
	Role           auth.Role
	TokenHash      []byte
	InvitedBy      string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	AcceptedAt     *time.Time
	AcceptedUserID string
}

const invitationCols = "id, org_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, accepted_user_id"

func scanInvitation(row interface{ Scan(...any) error }) (Invitation, error) {
	var inv Invitation
	var role string
	var by, acceptedBy sql.NullString
	var created, expires int64
	var accepted sql.NullInt64
	if err := row.Scan(&inv.ID, &inv.OrgID, &inv.Email, &role, &inv.TokenHash, &by, &created, &expires, &accepted, &acceptedBy); err != nil {
		return Invitation{}, err
	}
	inv.Role, inv.InvitedBy, inv.AcceptedUserID = auth.Role(role), by.String, acceptedBy.String
	inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt = FromMillis(created), FromMillis(expires), fromNullMillis(accepted)
	return inv, nil
}

// CreateInvitation stores an invitation. Inviting an email that already has
// a user fails with ErrConflict.
func (s *Store) CreateInvitation(ctx context.Context, orgID, email string, role auth.Role, tokenHash []byte, invitedBy string, ttl time.Duration) (Invitation, error) {
	now := s.now()
	inv := Invitation{ID: s.newID(), OrgID: orgID, Email: NormaliseEmail(email), Role: role, TokenHash: tokenHash,
		InvitedBy: invitedBy, CreatedAt: FromMillis(Millis(now)), ExpiresAt: FromMillis(Millis(now.Add(ttl)))}
	if _, err := auth.ParseRole(string(role)); err != nil {
		return Invitation{}, fmt.Errorf("create invitation for %q: %w", email, err)
	}
	err := s.Tx(ctx, func(q Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE email = ?", inv.Email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("a user with email %q: %w", inv.Email, ErrConflict)
		}
		var by any
		if invitedBy != "" {
			by = invitedBy
		}
		_, err := q.ExecContext(ctx, "INSERT INTO invitations ("+invitationCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			inv.ID, inv.OrgID, inv.Email, string(inv.Role), inv.TokenHash, by, Millis(now), Millis(inv.ExpiresAt), nil, nil)
		return err
	})
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation for %q: %w", email, err)
	}
	return inv, nil
}

// InvitationByToken returns an open (unaccepted, unexpired) invitation.
func (s *Store) InvitationByToken(ctx context.Context, tokenHash []byte) (Invitation, error) {
	inv, err := scanInvitation(s.Read().QueryRowContext(ctx, "SELECT "+invitationCols+" FROM invitations WHERE token_hash = ?", tokenHash))
	if err != nil {
		return Invitation{}, notFound(err, "invitation")
	}
	if err := inv.open(s.now()); err != nil {
		return Invitation{}, fmt.Errorf("invitation: %w", err)
	}
	return inv, nil
}

func (inv Invitation) open(now time.Time) error {
	if inv.AcceptedAt != nil {
		return ErrUsed
	}
	if !now.Before(inv.ExpiresAt) {
		return ErrExpired
	}
	return nil
}

// ListInvitations returns invitations in creation order.
func (s *Store) ListInvitations(ctx context.Context, p Page) (out []Invitation, next string, err error) {
	lim := p.limit()
	rows, err := s.Read().QueryContext(ctx, "SELECT "+invitationCols+" FROM invitations WHERE id > ? ORDER BY id LIMIT ?", p.Cursor, lim+1)
	if err != nil {
		return nil, "", fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list invitations: %w", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list invitations: %w", err)
	}
	if len(out) > lim {
		out = out[:lim]
		next = out[lim-1].ID
	}
	return out, next, nil
}

// DeleteInvitation revokes an invitation.
func (s *Store) DeleteInvitation(ctx context.Context, id string) (Invitation, error) {
	var inv Invitation
	err := s.Tx(ctx, func(q Querier) error {
		var err error
		inv, err = scanInvitation(q.QueryRowContext(ctx, "SELECT "+invitationCols+" FROM invitations WHERE id = ?", id))
		if err != nil {
			return notFound(err, "invitation")
		}
		_, err = q.ExecContext(ctx, "DELETE FROM invitations WHERE id = ?", id)
		return err
	})
	if err != nil {
		return Invitation{}, fmt.Errorf("delete invitation %q: %w", id, err)
	}
	return inv, nil
}

// AcceptInvitation consumes an open invitation (once) and creates its user
// with the invited email and role.
func (s *Store) AcceptInvitation(ctx context.Context, tokenHash []byte, name, passwordHash string) (User, Invitation, error) {
	now := s.now()
	var u User
	var inv Invitation
	err := s.Tx(ctx, func(q Querier) error {
		var err error
		inv, err = scanInvitation(q.QueryRowContext(ctx, "SELECT "+invitationCols+" FROM invitations WHERE token_hash = ?", tokenHash))
		if err != nil {
			return notFound(err, "invitation")
		}
		if err := inv.open(now); err != nil {
			return err
		}
		u, err = insertUser(ctx, q, s.newID(), inv.OrgID, NewUser{Email: inv.Email, Name: name, Role: inv.Role, PasswordHash: passwordHash}, now)
		if err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, "UPDATE invitations SET accepted_at = ?, accepted_user_id = ? WHERE id = ? AND accepted_at IS NULL", Millis(now), u.ID, inv.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrUsed
		}
		return nil
	})
	if err != nil {
		return User{}, Invitation{}, fmt.Errorf("accept invitation: %w", err)
	}
	return u, inv, nil
}

// PasswordReset is a one-time password reset link's record.
type PasswordReset struct {
	ID        string
	UserID    string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePasswordReset stores a reset token digest for a user; earlier unused
// tokens of the user stop working.
func (s *Store) CreatePasswordReset(ctx context.Context, userID string, tokenHash []byte, createdBy string, ttl time.Duration) (PasswordReset, error) {
	now := s.now()
	r := PasswordReset{ID: s.newID(), UserID: userID, CreatedBy: createdBy, CreatedAt: FromMillis(Millis(now)), ExpiresAt: FromMillis(Millis(now.Add(ttl)))}
	err := s.Tx(ctx, func(q Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE id = ?", userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := q.ExecContext(ctx, "UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", Millis(now), userID); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, "INSERT INTO password_resets (id, user_id, token_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
			r.ID, userID, tokenHash, createdBy, Millis(now), Millis(r.ExpiresAt))
		return err
	})
	if err != nil {
		return PasswordReset{}, fmt.Errorf("create password reset for user %q: %w", userID, err)
	}
	return r, nil
}

// ConsumePasswordReset uses a reset token once: it sets the new password
// hash and ends all the user's sessions and refresh tokens.
func (s *Store) ConsumePasswordReset(ctx context.Context, tokenHash []byte, newHash string) (User, error) {
	now := s.now()
	var userID string
	err := s.Tx(ctx, func(q Querier) error {
		var id string
		var expires int64
		var used sql.NullInt64
		err := q.QueryRowContext(ctx, "SELECT id, user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?", tokenHash).Scan(&id, &userID, &expires, &used)
		if err != nil {
			return notFound(err, "password reset token")
		}
		if used.Valid {
			return ErrUsed
		}
		if !now.Before(FromMillis(expires)) {
			return ErrExpired
		}
		if _, err := q.ExecContext(ctx, "UPDATE password_resets SET used_at = ? WHERE id = ?", Millis(now), id); err != nil {
			return err
		}
		return setPassword(ctx, q, userID, newHash, nil, now)
	})
	if err != nil {
		return User{}, fmt.Errorf("reset password: %w", err)
	}
	return s.UserByID(ctx, userID)
}

// RefreshToken is a stored refresh token (digest only).
type RefreshToken struct {
	ID        string
	FamilyID  string
	UserID    string
	APIKeyID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateRefreshToken starts a new refresh-token family for a key exchange.
func (s *Store) CreateRefreshToken(ctx context.Context, userID, apiKeyID string, tokenHash []byte, ttl time.Duration) (RefreshToken, error) {
	now := s.now()
	id := s.newID()
	rt := RefreshToken{ID: id, FamilyID: id, UserID: userID, APIKeyID: apiKeyID, CreatedAt: FromMillis(Millis(now)), ExpiresAt: FromMillis(Millis(now.Add(ttl)))}
	err := s.Tx(ctx, func(q Querier) error {
		if _, err := q.ExecContext(ctx, "INSERT INTO refresh_families (id, user_id, api_key_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
			rt.FamilyID, userID, apiKeyID, Millis(rt.CreatedAt), Millis(rt.ExpiresAt)); err != nil {
			return err
		}
		return insertRefresh(ctx, q, rt, tokenHash)
	})
	if err != nil {
		return RefreshToken{}, fmt.Errorf("create refresh token for user %q: %w", userID, err)
	}
	return rt, nil
}

func insertRefresh(ctx context.Context, q Querier, rt RefreshToken, tokenHash []byte) error {
	_, err := q.ExecContext(ctx, "INSERT INTO refresh_tokens (id, family_id, user_id, api_key_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		rt.ID, rt.FamilyID, rt.UserID, rt.APIKeyID, tokenHash, Millis(rt.CreatedAt), Millis(rt.ExpiresAt))
	return err
}

// RotateRefreshToken consumes a refresh token and stores its successor in
// the same family. A token presented a second time revokes the family and
// returns ErrTokenReuse. The API key the family came from must still be the
// user's current key, and the family must not be revoked (ErrUsed): the
// family's row is locked until commit, so a rotation and a revocation of
// one family never both succeed unseen by each other.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash, newHash []byte, ttl time.Duration) (RefreshToken, error) {
	now := s.now()
	var next RefreshToken
	var reused bool
	err := s.Tx(ctx, func(q Querier) error {
		var cur RefreshToken
		var created, expires int64
		var used, revoked sql.NullInt64
		err := q.QueryRowContext(ctx, "SELECT id, family_id, user_id, api_key_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?", oldHash).
			Scan(&cur.ID, &cur.FamilyID, &cur.UserID, &cur.APIKeyID, &created, &expires, &used, &revoked)
		if err != nil {
			return notFound(err, "refresh token")
		}
		if revoked.Valid {
			return ErrUsed
		}
		if used.Valid {
			// Reuse: someone holds a copy. Revoke the family (committed).
			reused = true
			return revokeRefresh(ctx, q, byFamily, cur.FamilyID, now)
		}
		if !now.Before(FromMillis(expires)) {
			return ErrExpired
		}
		res, err := q.ExecContext(ctx, "UPDATE refresh_families SET expires_at = ? WHERE id = ? AND revoked_at IS NULL", Millis(now.Add(ttl)), cur.FamilyID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrUsed // the family was revoked
		}
		var keyID string
		if err := q.QueryRowContext(ctx, "SELECT id FROM api_keys WHERE user_id = ?", cur.UserID).Scan(&keyID); err != nil || keyID != cur.APIKeyID {
			return ErrExpired
		}
		if _, err := q.ExecContext(ctx, "UPDATE refresh_tokens SET used_at = ? WHERE id = ?", Millis(now), cur.ID); err != nil {
			return err
		}
		next = RefreshToken{ID: NewID(now), FamilyID: cur.FamilyID, UserID: cur.UserID, APIKeyID: cur.APIKeyID,
			CreatedAt: FromMillis(Millis(now)), ExpiresAt: FromMillis(Millis(now.Add(ttl)))}
		return insertRefresh(ctx, q, next, newHash)
	})
	if err == nil && reused {
		err = ErrTokenReuse
	}
	if err != nil {
		return RefreshToken{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	return next, nil
}

// TokenFamily is a refresh-token family: one API key exchange and its
// rotations. The access tokens issued with its refresh tokens name it.
type TokenFamily struct {
	ID        string
	UserID    string
	APIKeyID  string
	CreatedAt time.Time
	ExpiresAt time.Time // of its newest refresh token
	RevokedAt *time.Time
	// KeyCurrent says whether the family's API key is still its user's key.
	KeyCurrent bool
}

// tokenFamilyUserQuery is built once: it runs on every request made with
// an access token.
var tokenFamilyUserQuery = "SELECT f.id, f.user_id, f.api_key_id, f.created_at, f.expires_at, f.revoked_at, k.id, " + prefixed("u", userCols) +
	" FROM refresh_families f JOIN users u ON u.id = f.user_id LEFT JOIN api_keys k ON k.id = f.api_key_id AND k.user_id = f.user_id WHERE f.id = ?"

// TokenFamilyUser returns a refresh-token family and its user: the check of
// every request made with an access token, one query by primary keys.
func (s *Store) TokenFamilyUser(ctx context.Context, familyID string) (TokenFamily, User, error) {
	var f TokenFamily
	var u User
	var created, expires, uc, uch int64
	var revoked, ul sql.NullInt64
	var key sql.NullString
	var role string
	err := s.Read().QueryRowContext(ctx, tokenFamilyUserQuery, familyID).
		Scan(&f.ID, &f.UserID, &f.APIKeyID, &created, &expires, &revoked, &key,
			&u.ID, &u.OrgID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.Disabled, &uc, &ul, &uch)
	if err != nil {
		return TokenFamily{}, User{}, notFound(err, fmt.Sprintf("refresh token family %q", familyID))
	}
	f.CreatedAt, f.ExpiresAt, f.RevokedAt, f.KeyCurrent = FromMillis(created), FromMillis(expires), fromNullMillis(revoked), key.Valid
	u.Role, u.CreatedAt, u.LastLoginAt, u.PasswordChangedAt = auth.Role(role), FromMillis(uc), fromNullMillis(ul), FromMillis(uch)
	return f, u, nil
}

// RevokeTokenFamily revokes a refresh-token family (sign-out with an access
// token): its refresh tokens stop rotating and its access tokens stop
// working at once.
func (s *Store) RevokeTokenFamily(ctx context.Context, familyID string) error {
	err := s.Tx(ctx, func(q Querier) error {
		return revokeRefresh(ctx, q, byFamily, familyID, s.now())
	})
	if err != nil {
		return fmt.Errorf("revoke refresh token family %q: %w", familyID, err)
	}
	return nil
}

// What revokeRefresh revokes.
const (
	byFamily = iota
	byUser
	byAPIKey
)

// revokeRefresh revokes the refresh-token families of one family, user or
// API key, and their refresh tokens.
func revokeRefresh(ctx context.Context, q Querier, by int, id string, now time.Time) error {
	var families, tokens string
	switch by {
	case byFamily:
		families = "UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
		tokens = "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL"
	case byUser:
		families = "UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
		tokens = "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"
	case byAPIKey:
		families = "UPDATE refresh_families SET revoked_at = ? WHERE api_key_id = ? AND revoked_at IS NULL"
		tokens = "UPDATE refresh_tokens SET revoked_at = ? WHERE api_key_id = ? AND revoked_at IS NULL"
	default:
		return fmt.Errorf("revoke refresh tokens: unknown selector %d", by)
	}
	if _, err := q.ExecContext(ctx, families, Millis(now), id); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, tokens, Millis(now), id)
	return err
}

// SigningKeys returns the active access-token signing keys, newest first,
// creating one with gen when there is none. Concurrent replicas converge on
// the same key.
func (s *Store) SigningKeys(ctx context.Context, gen func() (id string, private []byte, err error)) ([]auth.SigningKey, error) {
	load := func() ([]auth.SigningKey, error) {
		rows, err := s.Read().QueryContext(ctx, "SELECT id, private_key FROM signing_keys WHERE retired_at IS NULL AND algorithm = ? ORDER BY created_at DESC, id DESC", "EdDSA")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var keys []auth.SigningKey
		for rows.Next() {
			var k auth.SigningKey
			var priv []byte
			if err := rows.Scan(&k.ID, &priv); err != nil {
				return nil, err
			}
			k.Private = priv
			keys = append(keys, k)
		}
		return keys, rows.Err()
	}
	keys, err := load()
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if len(keys) > 0 {
		return keys, nil
	}
	id, priv, err := gen()
	if err != nil {
		return nil, fmt.Errorf("signing keys: generate: %w", err)
	}
	err = s.Tx(ctx, func(q Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		_, err := q.ExecContext(ctx, "INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, ?, ?, ?)", id, "EdDSA", priv, Millis(s.now()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: store: %w", err)
	}
	keys, err = load()
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

// RotateSigningKeys adds a new signing key (made by gen) when the newest is
// older than rotateAfter, retires keys superseded for longer than overlap
// (which must exceed the access-token lifetime), and returns the active
// keys, newest first. Replicas may call it concurrently.
func (s *Store) RotateSigningKeys(ctx context.Context, gen func() (id string, private []byte, err error), rotateAfter, overlap time.Duration) ([]auth.SigningKey, error) {
	now := s.now()
	err := s.Tx(ctx, func(q Querier) error {
		var newest sql.NullInt64
		if err := q.QueryRowContext(ctx, "SELECT MAX(created_at) FROM signing_keys WHERE retired_at IS NULL").Scan(&newest); err != nil {
			return err
		}
		if !newest.Valid || now.Sub(FromMillis(newest.Int64)) >= rotateAfter {
			id, priv, err := gen()
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			if _, err := q.ExecContext(ctx, "INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, ?, ?, ?)", id, "EdDSA", priv, Millis(now)); err != nil {
				return err
			}
			newest = sql.NullInt64{Int64: Millis(now), Valid: true}
		}
		// Keys older than the newest have been superseded since the newest
		// was created; retire them once that is longer ago than overlap.
		if now.Sub(FromMillis(newest.Int64)) >= overlap {
			if _, err := q.ExecContext(ctx, "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND created_at < ?", Millis(now), newest.Int64); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}
	return s.SigningKeys(ctx, gen)
}

// DeleteExpired removes expired sessions, refresh tokens and their
// families, password resets and sign-in throttles; it returns how many
// rows went.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := Millis(s.now())
	var total int64
	err := s.Tx(ctx, func(q Querier) error {
		for _, stmt := range []string{
			"DELETE FROM sessions WHERE expires_at <= ?",
			"DELETE FROM refresh_tokens WHERE expires_at <= ?",
			"DELETE FROM refresh_families WHERE expires_at <= ?",
			"DELETE FROM password_resets WHERE expires_at <= ?",
			"DELETE FROM login_throttle WHERE expires_at <= ?",
		} {
			res, err := q.ExecContext(ctx, stmt, now)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("delete expired credentials: %w", err)
	}
	return total, nil
}
