package store_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/store"
)

// TestTokenFamilies: every way a refresh-token family ends shows in the
// one lookup access tokens are checked with.
func TestTokenFamilies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store, clk *clock, _ string) {
		ctx := context.Background()
		admin := register(t, s)
		inv, err := s.CreateInvitation(ctx, admin.OrgID, "bob@example.com", auth.RoleStandard, auth.HashSecret("inv"), admin.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		bob, _, err := s.AcceptInvitation(ctx, auth.HashSecret("inv"), "Bob", "h")
		if err != nil {
			t.Fatalf("AcceptInvitation(%s): %v", inv.ID, err)
		}
		key, err := s.SetAPIKey(ctx, bob.ID, auth.HashSecret("bobkey"), "rmk_bob")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		family := func() store.RefreshToken {
			t.Helper()
			n++
			rt, err := s.CreateRefreshToken(ctx, bob.ID, key.ID, auth.HashSecret("r"+strconv.Itoa(n)), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return rt
		}
		state := func(id string) (store.TokenFamily, error) {
			t.Helper()
			f, u, err := s.TokenFamilyUser(ctx, id)
			if err == nil && u.ID != bob.ID {
				t.Errorf("family %s's user = %s; want bob", id, u.ID)
			}
			return f, err
		}

		rt := family()
		f, err := state(rt.FamilyID)
		if err != nil || f.RevokedAt != nil || !f.KeyCurrent || f.APIKeyID != key.ID || !f.ExpiresAt.Equal(rt.ExpiresAt) {
			t.Fatalf("new family = %+v, %v", f, err)
		}
		// A rotation keeps the family and extends it.
		clk.Advance(time.Minute)
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("r1"), auth.HashSecret("r1b"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if f, err := state(rt.FamilyID); err != nil || f.RevokedAt != nil || !f.ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
			t.Errorf("family after rotation = %+v, %v", f, err)
		}
		// Reuse revokes it.
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("r1"), auth.HashSecret("r1c"), time.Hour); !errors.Is(err, store.ErrTokenReuse) {
			t.Fatalf("reuse: %v", err)
		}
		if f, err := state(rt.FamilyID); err != nil || f.RevokedAt == nil {
			t.Errorf("family after reuse = %+v, %v; want revoked", f, err)
		}

		// Sign-out revokes one family, not the others.
		out, other := family(), family()
		if err := s.RevokeTokenFamily(ctx, out.FamilyID); err != nil {
			t.Fatal(err)
		}
		if f, _ := state(out.FamilyID); f.RevokedAt == nil {
			t.Error("family after RevokeTokenFamily not revoked")
		}
		if _, err := s.RotateRefreshToken(ctx, auth.HashSecret("r"+strconv.Itoa(n-1)), auth.HashSecret("x"), time.Hour); !errors.Is(err, store.ErrUsed) {
			t.Errorf("rotating a revoked family's token: %v; want ErrUsed", err)
		}
		if f, _ := state(other.FamilyID); f.RevokedAt != nil {
			t.Error("sign-out of one family revoked another")
		}

		for _, tc := range []struct {
			name   string
			revoke func() error
		}{
			{"password_change", func() error { return s.SetPassword(ctx, bob.ID, "h2", nil) }},
			{"password_reset", func() error {
				if _, err := s.CreatePasswordReset(ctx, bob.ID, auth.HashSecret("reset"), "admin", time.Hour); err != nil {
					return err
				}
				_, err := s.ConsumePasswordReset(ctx, auth.HashSecret("reset"), "h3")
				return err
			}},
			{"disabled", func() error {
				d := true
				if _, err := s.UpdateUser(ctx, bob.ID, store.UserUpdate{Disabled: &d}); err != nil {
					return err
				}
				d = false
				_, err := s.UpdateUser(ctx, bob.ID, store.UserUpdate{Disabled: &d})
				return err
			}},
		} {
			rt := family()
			if err := tc.revoke(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if f, err := state(rt.FamilyID); err != nil || f.RevokedAt == nil {
				t.Errorf("%s: family = %+v, %v; want revoked", tc.name, f, err)
			}
		}

		// An API key reset: revoked, and the key is no longer current.
		rt = family()
		if _, err := s.SetAPIKey(ctx, bob.ID, auth.HashSecret("bobkey2"), "rmk_bob2"); err != nil {
			t.Fatal(err)
		}
		if f, err := state(rt.FamilyID); err != nil || f.RevokedAt == nil || f.KeyCurrent {
			t.Errorf("after key reset: family = %+v, %v; want revoked, key not current", f, err)
		}

		// Deleting the user deletes its families.
		rt = family()
		if _, err := s.DeleteUser(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := state(rt.FamilyID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("family of a deleted user: %v; want ErrNotFound", err)
		}
		if _, err := state("nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown family: %v; want ErrNotFound", err)
		}
	})
}
