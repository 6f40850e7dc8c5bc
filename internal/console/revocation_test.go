package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/testenv"
)

// exchange trades c's API key for tokens.
func (e *env) exchange(apiKey string) console.TokenResponse {
	e.t.Helper()
	var tok console.TokenResponse
	e.client().must(http.StatusOK, "POST", "/api/v1/auth/token", map[string]string{"apiKey": apiKey}, &tok)
	return tok
}

// bearer returns a client sending token.
func (e *env) bearer(token string) *client {
	c := e.client()
	c.bearer = token
	return c
}

// refused fails the test unless the access token is refused at once,
// saying why.
func refused(t *testing.T, e *env, what, token, why string) {
	t.Helper()
	r := e.bearer(token).do("GET", "/api/v1/me", nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), why) {
		t.Errorf("%s: %d %s; want 401 saying %q", what, r.status, r.body, why)
	}
}

func apiKeyOf(c *client) string {
	var key console.APIKeyResponse
	c.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	return key.APIKey
}

// TestAccessTokenRevocation: an access token stops working the moment what
// it was issued from is revoked, not when it expires 15 minutes later.
func TestAccessTokenRevocation(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, onBackend(b, t))
			admin, _ := e.registerAdmin()
			bobSession, bob := e.invite(admin, "bob@example.com", "standard")
			bobKey := apiKeyOf(bobSession)

			t.Run("refresh_token_reuse", func(t *testing.T) {
				first := e.exchange(bobKey)
				var second console.TokenResponse
				e.client().must(http.StatusOK, "POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": first.RefreshToken}, &second)
				e.bearer(second.AccessToken).must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
				e.bearer(first.AccessToken).must(http.StatusOK, "GET", "/api/v1/me", nil, nil) // a rotation revokes nothing
				// A thief replays the first refresh token: the family is revoked.
				if r := e.client().do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": first.RefreshToken}); r.status != http.StatusUnauthorized {
					t.Fatalf("reuse: %d", r.status)
				}
				refused(t, e, "access token of the rotation", second.AccessToken, "revoked")
				refused(t, e, "access token of the exchange", first.AccessToken, "revoked")
			})

			t.Run("logout", func(t *testing.T) {
				out, other := e.exchange(bobKey), e.exchange(bobKey)
				e.bearer(out.AccessToken).must(http.StatusNoContent, "POST", "/api/v1/auth/logout", nil, nil)
				refused(t, e, "signed-out access token", out.AccessToken, "revoked")
				if r := e.client().do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": out.RefreshToken}); r.status != http.StatusUnauthorized {
					t.Errorf("refresh after sign-out: %d; want 401", r.status)
				}
				e.bearer(other.AccessToken).must(http.StatusOK, "GET", "/api/v1/me", nil, nil) // another exchange is not signed out
			})

			t.Run("password_change", func(t *testing.T) {
				before := e.exchange(bobKey)
				bobSession.must(http.StatusNoContent, "POST", "/api/v1/me/password",
					map[string]string{"currentPassword": adminPassword, "newPassword": "bob's second password"}, nil)
				refused(t, e, "token from before the change", before.AccessToken, "revoked")
				// One exchanged in the same second as the change works.
				e.bearer(e.exchange(bobKey).AccessToken).must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
			})

			t.Run("password_reset", func(t *testing.T) {
				before := e.exchange(bobKey)
				var link console.ResetLinkResponse
				admin.must(http.StatusOK, "POST", "/api/v1/users/"+bob.ID+"/password-reset", nil, &link)
				e.bearer(before.AccessToken).must(http.StatusOK, "GET", "/api/v1/me", nil, nil) // a link alone changes nothing
				e.client().must(http.StatusNoContent, "POST", "/api/v1/auth/password-reset", map[string]string{"token": link.Token, "newPassword": "bob's third password"}, nil)
				refused(t, e, "token from before the reset", before.AccessToken, "revoked")
			})

			t.Run("disabled_then_enabled", func(t *testing.T) {
				before := e.exchange(bobKey)
				admin.must(http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, map[string]bool{"disabled": true}, nil)
				refused(t, e, "token of a disabled user", before.AccessToken, "revoked")
				admin.must(http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, map[string]bool{"disabled": false}, nil)
				refused(t, e, "token from before the user was disabled, after re-enabling", before.AccessToken, "revoked")
			})

			t.Run("deleted", func(t *testing.T) {
				before := e.exchange(bobKey)
				admin.must(http.StatusNoContent, "DELETE", "/api/v1/users/"+bob.ID, nil, nil)
				refused(t, e, "token of a deleted user", before.AccessToken, "revoked")
			})
		})
	}
}
