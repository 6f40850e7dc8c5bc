package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// clock is the tests' settable clock.
type clock = testenv.Clock

type backend struct {
	name string
	url  func(t *testing.T) string
}

// backends is the table every store test runs over: SQLite in a temporary
// directory and a fresh PostgreSQL database (a missing server fails in CI).
var backends = []backend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "riskmap.db") }},
	{"postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, s *store.Store, clk *clock, url string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
			s, err := store.Open(context.Background(), store.Config{URL: url, Now: clk.Now})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s, clk, url)
		})
	}
}

func register(t *testing.T, s *store.Store) store.User {
	t.Helper()
	u, err := s.RegisterFirstUser(context.Background(), "Acme", store.NewUser{Email: "Admin@Example.com ", Name: "Ada", PasswordHash: "h"})
	if err != nil {
		t.Fatalf("RegisterFirstUser: %v", err)
	}
	return u
}

func TestMigrationsReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, url string) {
		ctx := context.Background()
		v, err := s.MigrationVersion(ctx)
		if err != nil || v < 2 {
			t.Fatalf("MigrationVersion = %d, %v; want >= 2", v, err)
		}
		register(t, s)
		s2, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s2.Close()
		if ok, err := s2.Registered(ctx); err != nil || !ok {
			t.Errorf("Registered after reopen = %v, %v; want true", ok, err)
		}
	})
}

func TestRegisterFirstUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		if ok, _ := s.Registered(ctx); ok {
			t.Fatal("fresh store says registered")
		}
		u := register(t, s)
		want := store.User{ID: u.ID, OrgID: u.OrgID, Email: "admin@example.com", Name: "Ada", Role: auth.RoleAdmin,
			PasswordHash: "h", CreatedAt: clk.Now(), PasswordChangedAt: clk.Now()}
		if diff := cmp.Diff(want, u); diff != "" {
			t.Errorf("registered user (-want +got):\n%s", diff)
		}
		got, err := s.UserByEmail(ctx, "ADMIN@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UserByEmail (-want +got):\n%s", diff)
		}
		org, err := s.Org(ctx)
		if err != nil || org.Name != "Acme" || org.ID != u.OrgID {
			t.Errorf("Org = %+v, %v", org, err)
		}
		_, err = s.RegisterFirstUser(ctx, "Other", store.NewUser{Email: "b@example.com", Name: "B", PasswordHash: "h"})
		if !errors.Is(err, store.ErrAlreadyRegistered) {
			t.Errorf("second registration: %v; want ErrAlreadyRegistered", err)
		}
	})
}

func TestRegisterRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.RegisterFirstUser(ctx, "Org", store.NewUser{Email: string(rune('a'+i)) + "@example.com", Name: "N", PasswordHash: "h"})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrAlreadyRegistered):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d registrations succeeded; want exactly 1", ok)
		}
	})
}

func TestLastAdminProtection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		admin := register(t, s)
		ro, std := auth.RoleReadOnly, auth.RoleStandard
		yes := true
		for name, upd := range map[string]store.UserUpdate{
			"demote":  {Role: &ro},
			"disable": {Disabled: &yes},
		} {
			if _, err := s.UpdateUser(ctx, admin.ID, upd); !errors.Is(err, store.ErrLastAdmin) {
				t.Errorf("%s last admin: %v; want ErrLastAdmin", name, err)
			}
		}
		if _, err := s.DeleteUser(ctx, admin.ID); !errors.Is(err, store.ErrLastAdmin) {
			t.Errorf("delete last admin: %v; want ErrLastAdmin", err)
		}
		// With a second admin, the first may go.
		inv, err := s.CreateInvitation(ctx, admin.OrgID, "second@example.com", auth.RoleAdmin, auth.HashSecret("t2"), admin.ID, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		second, _, err := s.AcceptInvitation(ctx, auth.HashSecret("t2"), "Second", "h2")
		if err != nil {
			t.Fatalf("accept %s: %v", inv.ID, err)
		}
		if u, err := s.UpdateUser(ctx, admin.ID, store.UserUpdate{Role: &std}); err != nil || u.Role != auth.RoleStandard {
			t.Fatalf("demote with another admin: %+v, %v", u, err)
		}
		if _, err := s.UpdateUser(ctx, second.ID, store.UserUpdate{Disabled: &yes}); !errors.Is(err, store.ErrLastAdmin) {
			t.Errorf("disable remaining admin: %v; want ErrLastAdmin", err)
		}
		if _, err := s.DeleteUser(ctx, admin.ID); err != nil {
			t.Errorf("delete non-admin: %v", err)
		}
		if _, err := s.UserByID(ctx, admin.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted user still found: %v", err)
		}
		if _, err := s.UpdateUser(ctx, "nope", store.UserUpdate{Role: &std}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing user: %v; want ErrNotFound", err)
		}
		bad := auth.Role("root")
		if _, err := s.UpdateUser(ctx, second.ID, store.UserUpdate{Role: &bad}); err == nil {
			t.Error("unknown role accepted")
		}
	})
}

func TestConcurrentDemotionsKeepOneAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		a := register(t, s)
		if _, err := s.CreateInvitation(ctx, a.OrgID, "b@example.com", auth.RoleAdmin, auth.HashSecret("tb"), a.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		b, _, err := s.AcceptInvitation(ctx, auth.HashSecret("tb"), "B", "h")
		if err != nil {
			t.Fatal(err)
		}
		ro := auth.RoleReadOnly
		var wg sync.WaitGroup
		for _, id := range []string{a.ID, b.ID} {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = s.UpdateUser(ctx, id, store.UserUpdate{Role: &ro}) }()
		}
		wg.Wait()
		users, _, err := s.ListUsers(ctx, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		admins := 0
		for _, u := range users {
			if u.Role == auth.RoleAdmin {
				admins++
			}
		}
		if admins != 1 {
			t.Errorf("%d admins after concurrent demotions; want 1", admins)
		}
	})
}

func TestInvitations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		admin := register(t, s)
		inv, err := s.CreateInvitation(ctx, admin.OrgID, "Bob@Example.com", auth.RoleStandard, auth.HashSecret("tok"), admin.ID, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.InvitationByToken(ctx, auth.HashSecret("tok"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(inv, got); diff != "" {
			t.Errorf("InvitationByToken (-created +read):\n%s", diff)
		}
		if got.Email != "bob@example.com" || !got.ExpiresAt.Equal(clk.Now().Add(48*time.Hour)) {
			t.Errorf("invitation = %+v", got)
		}
		if _, err := s.CreateInvitation(ctx, admin.OrgID, "admin@example.com", auth.RoleStandard, auth.HashSecret("x"), admin.ID, time.Hour); !errors.Is(err, store.ErrConflict) {
			t.Errorf("invite existing user: %v; want ErrConflict", err)
		}
		u, _, err := s.AcceptInvitation(ctx, auth.HashSecret("tok"), "Bob", "hb")
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "bob@example.com" || u.Role != auth.RoleStandard || u.OrgID != admin.OrgID {
			t.Errorf("accepted user = %+v", u)
		}
		if _, _, err := s.AcceptInvitation(ctx, auth.HashSecret("tok"), "Eve", "he"); !errors.Is(err, store.ErrUsed) {
			t.Errorf("second accept: %v; want ErrUsed", err)
		}
		if _, err := s.InvitationByToken(ctx, auth.HashSecret("tok")); !errors.Is(err, store.ErrUsed) {
			t.Errorf("lookup used invitation: %v; want ErrUsed", err)
		}
		// Expiry.
		if _, err := s.CreateInvitation(ctx, admin.OrgID, "carol@example.com", auth.RoleReadOnly, auth.HashSecret("tc"), admin.ID, 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		clk.Advance(48 * time.Hour)
		if _, _, err := s.AcceptInvitation(ctx, auth.HashSecret("tc"), "Carol", "hc"); !errors.Is(err, store.ErrExpired) {
			t.Errorf("accept after 48h: %v; want ErrExpired", err)
		}
		if _, _, err := s.AcceptInvitation(ctx, auth.HashSecret("unknown"), "X", "h"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("accept unknown: %v; want ErrNotFound", err)
		}
		list, next, err := s.ListInvitations(ctx, store.Page{Limit: 1})
		if err != nil || len(list) != 1 || next == "" {
			t.Fatalf("page 1: %d items, next %q, %v", len(list), next, err)
		}
		list2, next2, err := s.ListInvitations(ctx, store.Page{Limit: 1, Cursor: next})
		if err != nil || len(list2) != 1 || next2 != "" || list2[0].ID == list[0].ID {
			t.Fatalf("page 2: %+v, next %q, %v", list2, next2, err)
		}
		if _, err := s.DeleteInvitation(ctx, list2[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteInvitation(ctx, list2[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v; want ErrNotFound", err)
		}
	})
}

func TestSessionsAndPasswords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		u := register(t, s)
		mk := func(id string) store.Session {
			sess := store.Session{IDHash: auth.HashSecret(id), UserID: u.ID, CSRFHash: auth.HashSecret("c" + id),
				CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour), ClientAddr: "127.0.0.1", UserAgent: "test"}
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
			return sess
		}
		a, b := mk("a"), mk("b")
		gotSess, gotUser, err := s.SessionUser(ctx, a.IDHash)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, gotSess); diff != "" {
			t.Errorf("session (-want +got):\n%s", diff)
		}
		if gotUser.ID != u.ID {
			t.Errorf("session user %q; want %q", gotUser.ID, u.ID)
		}
		// Changing the password keeps the current session only.
		if err := s.SetPassword(ctx, u.ID, "new", a.IDHash); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionUser(ctx, b.IDHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("other session after password change: %v; want ErrNotFound", err)
		}
		if _, got, err := s.SessionUser(ctx, a.IDHash); err != nil || got.PasswordHash != "new" {
			t.Errorf("kept session: %v, hash %q", err, got.PasswordHash)
		}
		clk.Advance(time.Hour)
		if _, _, err := s.SessionUser(ctx, a.IDHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session: %v; want ErrNotFound", err)
		}
		if n, err := s.DeleteExpired(ctx); err != nil || n != 1 {
			t.Errorf("DeleteExpired = %d, %v; want 1", n, err)
		}
		// Reset link: single use, expires, ends sessions.
		c := mk("c")
		if _, err := s.CreatePasswordReset(ctx, u.ID, auth.HashSecret("r1"), "cli", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreatePasswordReset(ctx, u.ID, auth.HashSecret("r2"), "cli", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConsumePasswordReset(ctx, auth.HashSecret("r1"), "x"); !errors.Is(err, store.ErrUsed) {
			t.Errorf("superseded reset token: %v; want ErrUsed", err)
		}
		got, err := s.ConsumePasswordReset(ctx, auth.HashSecret("r2"), "reset")
		if err != nil || got.PasswordHash != "reset" {
			t.Fatalf("ConsumePasswordReset = %+v, %v", got, err)
		}
		if _, err := s.ConsumePasswordReset(ctx, auth.HashSecret("r2"), "again"); !errors.Is(err, store.ErrUsed) {
			t.Errorf("reuse reset token: %v; want ErrUsed", err)
		}
		if _, _, err := s.SessionUser(ctx, c.IDHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session after reset: %v; want ErrNotFound", err)
		}
		if _, err := s.CreatePasswordReset(ctx, u.ID, auth.HashSecret("r3"), "cli", time.Hour); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		if _, err := s.ConsumePasswordReset(ctx, auth.HashSecret("r3"), "late"); !errors.Is(err, store.ErrExpired) {
			t.Errorf("expired reset: %v; want ErrExpired", err)
		}
		if _, err := s.CreatePasswordReset(ctx, "nobody", auth.HashSecret("r4"), "cli", time.Hour); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("reset for missing user: %v; want ErrNotFound", err)
		}
	})
}

func TestAPIKeysAndRefreshTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		u := register(t, s)
		k1, err := s.SetAPIKey(ctx, u.ID, auth.HashSecret("key1"), "rmk_key1")
		if err != nil {
			t.Fatal(err)
		}
		gotKey, gotUser, err := s.APIKeyUser(ctx, auth.HashSecret("key1"))
		if err != nil || gotKey.ID != k1.ID || gotUser.ID != u.ID {
			t.Fatalf("APIKeyUser = %+v, %+v, %v", gotKey, gotUser, err)
		}
		rt, err := s.CreateRefreshToken(ctx, u.ID, k1.ID, auth.HashSecret("r1"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := s.RotateRefreshToken(ctx, auth.HashSecret("r1"), auth.HashSecret("r2"), time.Hour)
		if err != nil || r2.FamilyID != rt.FamilyID || r2.UserID != u.ID {
			t.Fatalf("rotate = %+v, %v", r2, err)
		}
		// Reusing r1 revokes the family, including r2.
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("r1"), auth.HashSecret("r3"), time.Hour); !errors.Is(err, store.ErrTokenReuse) {
			t.Errorf("reuse: %v; want ErrTokenReuse", err)
		}
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("r2"), auth.HashSecret("r4"), time.Hour); !errors.Is(err, store.ErrUsed) {
			t.Errorf("rotate revoked family: %v; want ErrUsed", err)
		}
		// Expiry.
		if _, err := s.CreateRefreshToken(ctx, u.ID, k1.ID, auth.HashSecret("e1"), time.Hour); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("e1"), auth.HashSecret("e2"), time.Hour); !errors.Is(err, store.ErrExpired) {
			t.Errorf("expired refresh: %v; want ErrExpired", err)
		}
		// Resetting the key ends the old key and its refresh tokens.
		if _, err := s.CreateRefreshToken(ctx, u.ID, k1.ID, auth.HashSecret("k1r"), time.Hour); err != nil {
			t.Fatal(err)
		}
		k2, err := s.SetAPIKey(ctx, u.ID, auth.HashSecret("key2"), "rmk_key2")
		if err != nil || k2.ID == k1.ID {
			t.Fatalf("SetAPIKey again = %+v, %v", k2, err)
		}
		if _, _, err := s.APIKeyUser(ctx, auth.HashSecret("key1")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old key after reset: %v; want ErrNotFound", err)
		}
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("k1r"), auth.HashSecret("k1r2"), time.Hour); !errors.Is(err, store.ErrUsed) {
			t.Errorf("refresh of old key: %v; want ErrUsed", err)
		}
		if k, err := s.APIKeyOf(ctx, u.ID); err != nil || k.ID != k2.ID {
			t.Errorf("APIKeyOf = %+v, %v", k, err)
		}
	})
}

func TestSigningKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		calls := 0
		gen := func() (string, []byte, error) {
			calls++
			return store.NewID(clk.Now()), make([]byte, 64), nil
		}
		k1, err := s.SigningKeys(ctx, gen)
		if err != nil || len(k1) != 1 {
			t.Fatalf("SigningKeys = %v, %v", k1, err)
		}
		k2, err := s.SigningKeys(ctx, gen)
		if err != nil || len(k2) != 1 || k2[0].ID != k1[0].ID || calls != 1 {
			t.Errorf("second SigningKeys = %v, %v (gen called %d times)", k2, err, calls)
		}
	})
}

func TestSigningKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		gen := func() (string, []byte, error) { return store.NewID(clk.Now()), make([]byte, 64), nil }
		ids := func(keys []auth.SigningKey) []string {
			var out []string
			for _, k := range keys {
				out = append(out, k.ID)
			}
			return out
		}
		k1, err := s.RotateSigningKeys(ctx, gen, 30*24*time.Hour, time.Hour)
		if err != nil || len(k1) != 1 {
			t.Fatalf("first rotation: %v, %v", ids(k1), err)
		}
		clk.Advance(29 * 24 * time.Hour)
		if k, _ := s.RotateSigningKeys(ctx, gen, 30*24*time.Hour, time.Hour); len(k) != 1 || k[0].ID != k1[0].ID {
			t.Errorf("before 30 days: %v", ids(k))
		}
		clk.Advance(24 * time.Hour)
		k2, err := s.RotateSigningKeys(ctx, gen, 30*24*time.Hour, time.Hour)
		if err != nil || len(k2) != 2 || k2[1].ID != k1[0].ID {
			t.Fatalf("after 30 days: %v, %v; want new key first, old key still verifying", ids(k2), err)
		}
		clk.Advance(time.Hour)
		k3, err := s.RotateSigningKeys(ctx, gen, 30*24*time.Hour, time.Hour)
		if err != nil || len(k3) != 1 || k3[0].ID != k2[0].ID {
			t.Errorf("after the overlap: %v, %v; want only the new key", ids(k3), err)
		}
	})
}

func TestAuditLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		var want []store.AuditEntry
		for i, action := range []string{store.AuditLogin, store.AuditLoginFailed, store.AuditUserUpdate} {
			e, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "a@example.com", Action: action, Target: "user " + string(rune('0'+i)), ClientAddr: "127.0.0.1", Detail: "d"})
			if err != nil {
				t.Fatal(err)
			}
			want = append([]store.AuditEntry{e}, want...)
			clk.Advance(time.Millisecond)
		}
		var got []store.AuditEntry
		cursor := ""
		for {
			page, next, err := s.ListAudit(ctx, store.Page{Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit newest first (-want +got):\n%s", diff)
		}
	})
}

func TestNewIDSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := store.NewID(t0), store.NewID(t0.Add(time.Millisecond))
	if !(a < b) || len(a) != 32 {
		t.Errorf("NewID order: %q !< %q", a, b)
	}
}
