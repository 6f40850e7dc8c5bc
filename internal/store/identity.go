package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
)

// Org is the organisation that owns the console's users.
type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// User is a console user. PasswordHash is an argon2id PHC string.
type User struct {
	ID                string
	OrgID             string
	Email             string
	Name              string
	Role              auth.Role
	PasswordHash      string
	Disabled          bool
	CreatedAt         time.Time
	LastLoginAt       *time.Time
	PasswordChangedAt time.Time
}

// NewUser is what creating a user needs.
type NewUser struct {
	Email        string
	Name         string
	Role         auth.Role
	PasswordHash string
}

// Page asks for one page of a list: at most Limit items after Cursor (an
// opaque value returned as Next by the previous page).
type Page struct {
	Limit  int
	Cursor string
}

// MaxPageLimit bounds every list.
const MaxPageLimit = 500

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// NormaliseEmail is the canonical form emails are stored and looked up in.
func NormaliseEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

const userCols = "id, org_id, email, name, role, password_hash, disabled, created_at, last_login_at, password_changed_at"

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created, changed int64
	var last sql.NullInt64
	var role string
	if err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.Disabled, &created, &last, &changed); err != nil {
		return User{}, err
	}
	u.Role = auth.Role(role)
	u.CreatedAt = FromMillis(created)
	u.PasswordChangedAt = FromMillis(changed)
	u.LastLoginAt = fromNullMillis(last)
	return u, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Registered reports whether the first user has registered.
func (s *Store) Registered(ctx context.Context) (bool, error) {
	var n int
	if err := s.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM installation").Scan(&n); err != nil {
		return false, fmt.Errorf("registered: %w", err)
	}
	return n > 0, nil
}

// Org returns the installation's organisation.
func (s *Store) Org(ctx context.Context) (Org, error) {
	var o Org
	var created int64
	err := s.Read().QueryRowContext(ctx, "SELECT o.id, o.name, o.created_at FROM orgs o JOIN installation i ON i.org_id = o.id").Scan(&o.ID, &o.Name, &created)
	if err != nil {
		return Org{}, notFound(err, "org")
	}
	o.CreatedAt = FromMillis(created)
	return o, nil
}

// RegisterFirstUser creates the organisation and its first user, an admin.
// It fails with ErrAlreadyRegistered once any registration happened, even
// under concurrent attempts.
func (s *Store) RegisterFirstUser(ctx context.Context, orgName string, nu NewUser) (User, error) {
	now := s.now()
	orgID := s.newID()
	var u User
	err := s.Tx(ctx, func(q Querier) error {
		if _, err := q.ExecContext(ctx, "INSERT INTO orgs (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)", orgID, orgName, Millis(now), Millis(now)); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "INSERT INTO installation (id, org_id, created_at) VALUES (1, ?, ?)", orgID, Millis(now)); err != nil {
			if IsUniqueViolation(err) {
				return ErrAlreadyRegistered
			}
			return err
		}
		nu.Role = auth.RoleAdmin
		var err error
		u, err = insertUser(ctx, q, s.newID(), orgID, nu, now)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("register first user %q: %w", nu.Email, err)
	}
	return u, nil
}

func insertUser(ctx context.Context, q Querier, id, orgID string, nu NewUser, now time.Time) (User, error) {
	if _, err := auth.ParseRole(string(nu.Role)); err != nil {
		return User{}, err
	}
	u := User{ID: id, OrgID: orgID, Email: NormaliseEmail(nu.Email), Name: nu.Name, Role: nu.Role,
		PasswordHash: nu.PasswordHash, CreatedAt: FromMillis(Millis(now)), PasswordChangedAt: FromMillis(Millis(now))}
	_, err := q.ExecContext(ctx, "INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		u.ID, u.OrgID, u.Email, u.Name, string(u.Role), u.PasswordHash, false, Millis(now), nil, Millis(now))
	if err != nil {
		if IsUniqueViolation(err) {
			return User{}, fmt.Errorf("a user with email %q: %w", u.Email, ErrConflict)
		}
		return User{}, err
	}
	return u, nil
}

// UserByID returns a user.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.Read().QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return User{}, notFound(err, fmt.Sprintf("user %q", id))
	}
	return u, nil
}

// UserByEmail returns a user by (case-insensitive) email.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.Read().QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE email = ?", NormaliseEmail(email)))
	if err != nil {
		return User{}, notFound(err, fmt.Sprintf("user %q", email))
	}
	return u, nil
}

// ListUsers returns users in creation order, one page at a time.
func (s *Store) ListUsers(ctx context.Context, p Page) (users []User, next string, err error) {
	lim := p.limit()
	rows, err := s.Read().QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE id > ? ORDER BY id LIMIT ?", p.Cursor, lim+1)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	if len(users) > lim {
		users = users[:lim]
		next = users[lim-1].ID
	}
	return users, next, nil
}

// UserUpdate changes a user's role or disabled state; nil fields are kept.
type UserUpdate struct {
	Role     *auth.Role
	Disabled *bool
}

// lockOrg serialises changes that must see a consistent set of admins: on
// PostgreSQL the UPDATE takes the org row's lock until commit; on SQLite the
// immediate transaction already excludes other writers.
func lockOrg(ctx context.Context, q Querier, orgID string, now time.Time) error {
	_, err := q.ExecContext(ctx, "UPDATE orgs SET updated_at = ? WHERE id = ?", Millis(now), orgID)
	return err
}

func activeAdminsExcept(ctx context.Context, q Querier, orgID, userID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE org_id = ? AND role = ? AND disabled = ? AND id <> ?",
		orgID, string(auth.RoleAdmin), false, userID).Scan(&n)
	return n, err
}

// UpdateUser applies upd, refusing (ErrLastAdmin) to leave the organisation
// without an active admin. Disabling a user ends their sessions and refresh
// tokens.
func (s *Store) UpdateUser(ctx context.Context, id string, upd UserUpdate) (User, error) {
	now := s.now()
	var u User
	err := s.Tx(ctx, func(q Querier) error {
		cur, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
		if err != nil {
			return notFound(err, "user")
		}
		if err := lockOrg(ctx, q, cur.OrgID, now); err != nil {
			return err
		}
		next := cur
		if upd.Role != nil {
			if _, err := auth.ParseRole(string(*upd.Role)); err != nil {
				return err
			}
			next.Role = *upd.Role
		}
		if upd.Disabled != nil {
			next.Disabled = *upd.Disabled
		}
		wasActiveAdmin := cur.Role == auth.RoleAdmin && !cur.Disabled
		isActiveAdmin := next.Role == auth.RoleAdmin && !next.Disabled
		if wasActiveAdmin && !isActiveAdmin {
			n, err := activeAdminsExcept(ctx, q, cur.OrgID, cur.ID)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		if _, err := q.ExecContext(ctx, "UPDATE users SET role = ?, disabled = ? WHERE id = ?", string(next.Role), next.Disabled, id); err != nil {
			return err
		}
		if next.Disabled && !cur.Disabled {
			if err := revokeUserCredentials(ctx, q, id, now); err != nil {
				return err
			}
		}
		u = next
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	return u, nil
}

func revokeUserCredentials(ctx context.Context, q Querier, userID string, now time.Time) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
		return err
	}
	return revokeRefresh(ctx, q, byUser, userID, now)
}

// DeleteUser deletes a user and everything hanging off it (sessions, API
// key, tokens), refusing to delete the last active admin.
func (s *Store) DeleteUser(ctx context.Context, id string) (User, error) {
	now := s.now()
	var u User
	err := s.Tx(ctx, func(q Querier) error {
		cur, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
		if err != nil {
			return notFound(err, "user")
		}
		if err := lockOrg(ctx, q, cur.OrgID, now); err != nil {
			return err
		}
		if cur.Role == auth.RoleAdmin && !cur.Disabled {
			n, err := activeAdminsExcept(ctx, q, cur.OrgID, cur.ID)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id); err != nil {
			return err
		}
		u = cur
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("delete user %q: %w", id, err)
	}
	return u, nil
}

// SetPassword replaces a user's password hash and ends every session and
// refresh token of the user except the session keepSession (hashed id; nil
// keeps none).
func (s *Store) SetPassword(ctx context.Context, userID, hash string, keepSession []byte) error {
	now := s.now()
	err := s.Tx(ctx, func(q Querier) error {
		return setPassword(ctx, q, userID, hash, keepSession, now)
	})
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", userID, err)
	}
	return nil
}

func setPassword(ctx context.Context, q Querier, userID, hash string, keepSession []byte, now time.Time) error {
	res, err := q.ExecContext(ctx, "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?", hash, Millis(now), userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if keepSession != nil {
		_, err = q.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?", userID, keepSession)
	} else {
		_, err = q.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	}
	if err != nil {
		return err
	}
	return revokeRefresh(ctx, q, byUser, userID, now)
}

// RecordLogin sets a user's last login time.
func (s *Store) RecordLogin(ctx context.Context, userID string) error {
	err := s.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, "UPDATE users SET last_login_at = ? WHERE id = ?", Millis(s.now()), userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record login of user %q: %w", userID, err)
	}
	return nil
}
