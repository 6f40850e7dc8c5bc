package console_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

func TestGeneratedCertificate(t *testing.T) {
	e := start(t)
	b, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "tls", "console.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v; want ECDSA", cert.PublicKeyAlgorithm)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("certificate lacks 127.0.0.1: %v", err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Errorf("certificate lacks localhost: %v", err)
	}
	if h, _ := os.Hostname(); h != "" {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("certificate lacks host name %q: %v", h, err)
		}
	}
	sum := sha256.Sum256(cert.Raw)
	if got := console.Fingerprint(cert.Raw); got != e.print || got != strings.ToUpper(strings.ReplaceAll(fmt.Sprintf("% x", sum), " ", ":")) {
		t.Errorf("printed fingerprint %s; certificate's is %s", e.print, got)
	}
	if st, err := os.Stat(filepath.Join(e.cfg.DataDir, "tls", "console.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v, %v; want 0600", st.Mode(), err)
	}
}

func TestRegistrationAndLogin(t *testing.T) {
	e := start(t)
	anon := e.client()
	var setup console.SetupStatus
	anon.must(http.StatusOK, "GET", "/api/v1/setup", nil, &setup)
	if setup.Registered {
		t.Fatal("fresh console says registered")
	}
	// Bad bodies name what is wrong.
	r := anon.do("POST", "/api/v1/auth/register", map[string]string{"email": "a@example.com", "password": "short", "name": "A", "organisation": "O"})
	if p := r.problem(t); r.status != 422 || !strings.Contains(string(r.body), "body.password") {
		t.Errorf("short password: %d %v", r.status, p)
	}
	if strings.Contains(string(r.body), "short") {
		t.Errorf("the problem echoes the submitted password: %s", r.body)
	}
	r = anon.do("POST", "/api/v1/auth/register", `{"email":"a@example.com","password":"long enough password","name":"A","organisation":"O","admin":true}`)
	if r.problem(t); r.status != 422 || !strings.Contains(string(r.body), "admin") {
		t.Errorf("unknown field: %d %s", r.status, r.body)
	}

	admin, u := e.registerAdmin()
	if u.Role != "admin" || u.Email != "admin@example.com" || u.LastLoginAt == nil {
		t.Errorf("registered user = %+v", u)
	}
	// Cookie attributes.
	r = e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": adminPassword})
	var sawSession, sawCSRF bool
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		switch c.Name {
		case console.SessionCookie:
			sawSession = c.HttpOnly && c.Secure && c.SameSite == http.SameSiteStrictMode && c.Path == "/"
		case console.CSRFCookie:
			sawCSRF = !c.HttpOnly && c.Secure && c.SameSite == http.SameSiteStrictMode
		}
	}
	if !sawSession || !sawCSRF {
		t.Errorf("login cookies %v; want HttpOnly+Secure+SameSite=Strict session and readable Secure CSRF cookie", r.header.Values("Set-Cookie"))
	}

	anon.must(http.StatusOK, "GET", "/api/v1/setup", nil, &setup)
	if !setup.Registered {
		t.Error("setup not registered after registration")
	}
	r = anon.do("POST", "/api/v1/auth/register", map[string]string{"email": "b@example.com", "password": adminPassword, "name": "B", "organisation": "O"})
	if r.problem(t); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "invitation") {
		t.Errorf("second registration: %d %s", r.status, r.body)
	}

	var me console.User
	admin.must(http.StatusOK, "GET", "/api/v1/me", nil, &me)
	if me.ID != u.ID {
		t.Errorf("me = %+v", me)
	}
	admin.must(http.StatusNoContent, "POST", "/api/v1/auth/logout", nil, nil)
	if r := admin.do("GET", "/api/v1/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("me after logout: %d", r.status)
	}
	r = e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": "wrong password!"})
	if r.problem(t); r.status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", r.status)
	}
	r = e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password!"})
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "wrong email or password") {
		t.Errorf("unknown user: %d %s", r.status, r.body)
	}
	c := e.login("ADMIN@example.com", adminPassword)
	c.must(http.StatusOK, "GET", "/api/v1/me", nil, &me)

	// Change password: needs the current one; ends other sessions.
	other := e.login("admin@example.com", adminPassword)
	r = c.do("POST", "/api/v1/me/password", map[string]string{"currentPassword": "not it", "newPassword": "a brand new password"})
	if r.problem(t); r.status != http.StatusForbidden {
		t.Errorf("change with wrong current password: %d", r.status)
	}
	c.must(http.StatusNoContent, "POST", "/api/v1/me/password", map[string]string{"currentPassword": adminPassword, "newPassword": "a brand new password"}, nil)
	c.must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
	if r := other.do("GET", "/api/v1/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("other session after password change: %d; want 401", r.status)
	}
	e.login("admin@example.com", "a brand new password")
}

func TestCSRF(t *testing.T) {
	e := start(t)
	admin, _ := e.registerAdmin()
	admin.csrf = false
	r := admin.do("POST", "/api/v1/me/api-key", nil)
	if p := r.problem(t); r.status != http.StatusForbidden || p["type"] != console.ProblemCSRF {
		t.Errorf("no CSRF header: %d %v", r.status, p)
	}
	admin.header = http.Header{console.CSRFHeader: {admin.cookie(console.CSRFCookie) + "x"}}
	if r := admin.do("POST", "/api/v1/me/api-key", nil); r.status != http.StatusForbidden {
		t.Errorf("wrong CSRF header: %d", r.status)
	}
	// A token from another session does not work either.
	other := e.login("admin@example.com", adminPassword)
	admin.header = http.Header{console.CSRFHeader: {other.cookie(console.CSRFCookie)}}
	if r := admin.do("POST", "/api/v1/me/api-key", nil); r.status != http.StatusForbidden {
		t.Errorf("other session's CSRF token: %d", r.status)
	}
	// Safe methods need none.
	admin.header = nil
	admin.must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
	admin.csrf = true
	var key console.APIKeyResponse
	admin.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	// Cross-site state changes are refused even with the token.
	admin.header = http.Header{"Sec-Fetch-Site": {"cross-site"}}
	if r := admin.do("POST", "/api/v1/me/api-key", nil); r.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", r.status)
	}
	// A cross-site form can only send text/plain or form bodies: refused.
	plain := e.client()
	plain.header = http.Header{"Content-Type": {"text/plain"}}
	r = plain.do("POST", "/api/v1/auth/login", `{"email":"admin@example.com","password":"`+adminPassword+`"}`)
	if r.problem(t); r.status < 400 || r.status >= 500 {
		t.Errorf("text/plain login body: %d; want a 4xx problem", r.status)
	}
	// Bearer credentials need no CSRF token.
	bearer := e.client()
	bearer.bearer = key.APIKey
	bearer.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, nil)
}

func TestInvitations(t *testing.T) {
	e := start(t)
	admin, _ := e.registerAdmin()
	var inv console.CreatedInvitation
	admin.must(http.StatusCreated, "POST", "/api/v1/invitations", map[string]string{"email": "Bob@Example.com", "role": "standard"}, &inv)
	if inv.Email != "bob@example.com" || inv.Role != "standard" || !strings.HasPrefix(inv.Token, "rmi_") ||
		!strings.Contains(inv.URL, "/invite#token="+inv.Token) || !inv.ExpiresAt.Equal(e.clk.Now().Add(48*time.Hour)) {
		t.Errorf("invitation = %+v", inv)
	}
	anon := e.client()
	var info console.InvitationInfo
	anon.must(http.StatusOK, "GET", "/api/v1/invitations/"+inv.Token, nil, &info)
	if diff := cmp.Diff(console.InvitationInfo{Email: "bob@example.com", Role: "standard", ExpiresAt: inv.ExpiresAt}, info); diff != "" {
		t.Errorf("invitation info (-want +got):\n%s", diff)
	}
	if r := anon.do("GET", "/api/v1/invitations/rmi_nope", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown invitation: %d", r.status)
	}
	r := anon.do("POST", "/api/v1/invitations/"+inv.Token+"/accept", map[string]string{"name": "Bob", "password": "short"})
	if r.problem(t); r.status != 422 {
		t.Errorf("accept with short password: %d", r.status)
	}
	var bob console.User
	anon.must(http.StatusCreated, "POST", "/api/v1/invitations/"+inv.Token+"/accept", map[string]string{"name": "Bob", "password": adminPassword}, &bob)
	if bob.Role != "standard" || bob.Email != "bob@example.com" {
		t.Errorf("accepted user = %+v", bob)
	}
	anon.must(http.StatusOK, "GET", "/api/v1/me", nil, nil) // signed in by accepting
	if r := e.client().do("POST", "/api/v1/invitations/"+inv.Token+"/accept", map[string]string{"name": "Eve", "password": adminPassword}); r.status != http.StatusGone {
		t.Errorf("second accept: %d; want 410", r.status)
	}
	if r := anon.do("GET", "/api/v1/users", nil); r.status != http.StatusForbidden {
		t.Errorf("standard user lists users: %d", r.status)
	}
	if r := admin.do("POST", "/api/v1/invitations", map[string]string{"email": "bob@example.com", "role": "admin"}); r.status != http.StatusConflict {
		t.Errorf("invite existing user: %d", r.status)
	}
	if r := admin.do("POST", "/api/v1/invitations", map[string]string{"email": "x@example.com", "role": "root"}); r.status != 422 {
		t.Errorf("invite with unknown role: %d", r.status)
	}
	// Expiry after 48 h.
	var late console.CreatedInvitation
	admin.must(http.StatusCreated, "POST", "/api/v1/invitations", map[string]string{"email": "late@example.com", "role": "read-only"}, &late)
	e.clk.Advance(48*time.Hour + time.Second)
	admin = e.login("admin@example.com", adminPassword) // the session outlived its 12 h
	if r := e.client().do("POST", "/api/v1/invitations/"+late.Token+"/accept", map[string]string{"name": "Late", "password": adminPassword}); r.status != http.StatusGone {
		t.Errorf("accept after 48h: %d; want 410", r.status)
	}
	var list console.List[console.Invitation]
	admin.must(http.StatusOK, "GET", "/api/v1/invitations?limit=1", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Status != "accepted" || list.NextCursor == "" {
		t.Fatalf("page 1 = %+v", list)
	}
	next := list.NextCursor
	list = console.List[console.Invitation]{}
	admin.must(http.StatusOK, "GET", "/api/v1/invitations?limit=1&cursor="+next, nil, &list)
	if len(list.Items) != 1 || list.Items[0].Status != "expired" || list.NextCursor != "" {
		t.Fatalf("page 2 = %+v", list)
	}
	admin.must(http.StatusNoContent, "DELETE", "/api/v1/invitations/"+late.ID, nil, nil)
	if r := admin.do("DELETE", "/api/v1/invitations/"+late.ID, nil); r.status != http.StatusNotFound {
		t.Errorf("delete twice: %d", r.status)
	}
	r = admin.do("GET", "/api/v1/invitations?cursor=***", nil)
	if r.problem(t); r.status != http.StatusBadRequest {
		t.Errorf("bad cursor: %d", r.status)
	}
}

func TestLoginRateLimits(t *testing.T) {
	e := start(t, func(c *config.Console, _ *console.Options) {
		c.LoginAccountLimit, c.LoginAddressLimit, c.LoginWindow = 3, 6, 10*time.Minute
	})
	e.registerAdmin()
	wrong := map[string]string{"email": "admin@example.com", "password": "not the password"}
	for i := 0; i < 3; i++ {
		if r := e.client().do("POST", "/api/v1/auth/login", wrong); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	r := e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": adminPassword})
	if p := r.problem(t); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || p["type"] != console.ProblemRateLimited {
		t.Errorf("right password after 3 failures: %d Retry-After=%q %v; want 429", r.status, r.header.Get("Retry-After"), p)
	}
	// Per address: failures on other accounts count too (3 so far + 3).
	for i := 0; i < 3; i++ {
		if r := e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "other@example.com", "password": "x"}); r.status != http.StatusUnauthorized {
			t.Fatalf("other account attempt %d: %d", i+1, r.status)
		}
	}
	if r := e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "third@example.com", "password": "x"}); r.status != http.StatusTooManyRequests {
		t.Errorf("address over its limit: %d; want 429", r.status)
	}
	e.clk.Advance(10 * time.Minute)
	e.login("admin@example.com", adminPassword)

	// The audit log recorded the failures and the refusals.
	admin := e.login("admin@example.com", adminPassword)
	var audit console.List[console.AuditEntry]
	admin.must(http.StatusOK, "GET", "/api/v1/audit?limit=100", nil, &audit)
	count := map[string]int{}
	for _, a := range audit.Items {
		count[a.Action]++
		if a.ClientAddr != "127.0.0.1" {
			t.Errorf("audit client address %q", a.ClientAddr)
		}
	}
	if count[store.AuditLoginFailed] != 6 || count[store.AuditLoginLimited] != 2 || count[store.AuditLogin] != 2 || count[store.AuditRegister] != 1 {
		t.Errorf("audit actions = %v", count)
	}
}

func TestAPIKeyAndTokenExchange(t *testing.T) {
	e := start(t)
	admin, u := e.registerAdmin()
	var key console.APIKeyResponse
	admin.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	if !strings.HasPrefix(key.APIKey, "rmk_") {
		t.Fatalf("api key %q", key.APIKey)
	}
	// The key is stored hashed only.
	if k, err := e.st.APIKeyOf(t.Context(), u.ID); err != nil || strings.Contains(string(k.Hash), key.APIKey) || len(k.Hash) != 32 {
		t.Errorf("stored key: %+v, %v", k, err)
	}
	withKey := e.client()
	withKey.bearer = key.APIKey
	var me console.User
	withKey.must(http.StatusOK, "GET", "/api/v1/me", nil, &me)
	withKey.must(http.StatusOK, "GET", "/api/v1/users", nil, nil) // carries the admin role

	anon := e.client()
	var tok console.TokenResponse
	anon.must(http.StatusOK, "POST", "/api/v1/auth/token", map[string]string{"apiKey": key.APIKey}, &tok)
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || !strings.HasPrefix(tok.RefreshToken, "rmr_") {
		t.Errorf("token response = %+v", tok)
	}
	withToken := e.client()
	withToken.bearer = tok.AccessToken
	withToken.must(http.StatusOK, "GET", "/api/v1/me", nil, nil)

	var tok2 console.TokenResponse
	anon.must(http.StatusOK, "POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": tok.RefreshToken}, &tok2)
	if tok2.RefreshToken == tok.RefreshToken {
		t.Error("refresh token did not rotate")
	}
	// Reuse of the old refresh token revokes the family, including tok2's.
	if r := anon.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": tok.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Errorf("reuse: %d", r.status)
	}
	if r := anon.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": tok2.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Errorf("rotated token after family revocation: %d", r.status)
	}
	for _, bad := range []string{"rmk_nope", "", "not a key", strings.Repeat("a", 100)} {
		r := anon.do("POST", "/api/v1/auth/token", map[string]string{"apiKey": bad})
		if r.problem(t); r.status != http.StatusUnauthorized && r.status != 422 {
			t.Errorf("exchange %q: %d", bad, r.status)
		}
	}
	// Access tokens expire.
	e.clk.Advance(15*time.Minute + time.Second)
	if r := withToken.do("GET", "/api/v1/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("expired access token: %d", r.status)
	}
	// Resetting the key ends the old key and the tokens made from it.
	anon.must(http.StatusOK, "POST", "/api/v1/auth/token", map[string]string{"apiKey": key.APIKey}, &tok)
	withToken.bearer = tok.AccessToken
	withToken.must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
	var key2 console.APIKeyResponse
	withKey.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key2)
	for name, c := range map[string]*client{"old key": withKey, "old access token": withToken} {
		if r := c.do("GET", "/api/v1/me", nil); r.status != http.StatusUnauthorized {
			t.Errorf("%s after reset: %d", name, r.status)
		}
	}
	if r := anon.do("POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": tok.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Errorf("refresh of old key's token: %d", r.status)
	}
	withKey.bearer = key2.APIKey
	withKey.must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
	// A malformed Authorization header is refused, not ignored.
	withKey.bearer = ""
	withKey.header = http.Header{"Authorization": {"Basic YTpi"}}
	if r := withKey.do("GET", "/api/v1/setup", nil); r.status != http.StatusUnauthorized {
		t.Errorf("Basic auth: %d", r.status)
	}
}

func TestPasswordReset(t *testing.T) {
	e := start(t)
	admin, _ := e.registerAdmin()
	bobClient, bob := e.invite(admin, "bob@example.com", "read-only")
	var link console.ResetLinkResponse
	admin.must(http.StatusOK, "POST", "/api/v1/users/"+bob.ID+"/password-reset", nil, &link)
	if !strings.HasPrefix(link.Token, "rmp_") || !strings.Contains(link.URL, "/reset-password#token="+link.Token) {
		t.Errorf("reset link = %+v", link)
	}
	anon := e.client()
	if r := anon.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": link.Token, "newPassword": "short"}); r.status != 422 {
		t.Errorf("short new password: %d", r.status)
	}
	anon.must(http.StatusNoContent, "POST", "/api/v1/auth/password-reset", map[string]string{"token": link.Token, "newPassword": "bob's new password"}, nil)
	if r := bobClient.do("GET", "/api/v1/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("bob's session after reset: %d", r.status)
	}
	if r := anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "bob@example.com", "password": adminPassword}); r.status != http.StatusUnauthorized {
		t.Errorf("old password after reset: %d", r.status)
	}
	e.login("bob@example.com", "bob's new password")
	if r := anon.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": link.Token, "newPassword": "yet another password"}); r.status != http.StatusGone {
		t.Errorf("reuse of reset link: %d; want 410", r.status)
	}
	if r := anon.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": "rmp_" + strings.Repeat("A", 43), "newPassword": "yet another password"}); r.status != http.StatusNotFound {
		t.Errorf("unknown reset token: %d", r.status)
	}
	// The console-host path (riskmap console reset-password) makes the same kind of link.
	cfg := e.cfg
	cfg.PublicURL = "https://console.example:8443"
	url, _, err := console.ResetLink(t.Context(), e.st, cfg, "admin@example.com", "console host")
	if err != nil || !strings.HasPrefix(url, "https://console.example:8443/reset-password#token=rmp_") {
		t.Fatalf("ResetLink = %q, %v", url, err)
	}
	token := url[strings.Index(url, "token=")+len("token="):]
	e.clk.Advance(time.Hour)
	if r := anon.do("POST", "/api/v1/auth/password-reset", map[string]string{"token": token, "newPassword": "admin's new password"}); r.status != http.StatusGone {
		t.Errorf("reset link after its hour: %d; want 410", r.status)
	}
	url, _, _ = console.ResetLink(t.Context(), e.st, cfg, "admin@example.com", "console host")
	token = url[strings.Index(url, "token=")+len("token="):]
	anon.must(http.StatusNoContent, "POST", "/api/v1/auth/password-reset", map[string]string{"token": token, "newPassword": "admin's new password"}, nil)
	e.login("admin@example.com", "admin's new password")
	if _, _, err := console.ResetLink(t.Context(), e.st, cfg, "nobody@example.com", "console host"); err == nil {
		t.Error("ResetLink for an unknown email succeeded")
	}
}

func TestUserAdministration(t *testing.T) {
	e := start(t)
	admin, me := e.registerAdmin()
	r := admin.do("PATCH", "/api/v1/users/"+me.ID, map[string]string{"role": "standard"})
	if r.problem(t); r.status != http.StatusConflict || !strings.Contains(string(r.body), "last active admin") {
		t.Errorf("demote last admin: %d %s", r.status, r.body)
	}
	if r := admin.do("PATCH", "/api/v1/users/"+me.ID, map[string]bool{"disabled": true}); r.status != http.StatusConflict {
		t.Errorf("disable last admin: %d", r.status)
	}
	if r := admin.do("DELETE", "/api/v1/users/"+me.ID, nil); r.status != http.StatusConflict {
		t.Errorf("delete last admin: %d", r.status)
	}
	if r := admin.do("PATCH", "/api/v1/users/"+me.ID, map[string]string{}); r.status != 422 {
		t.Errorf("empty patch: %d", r.status)
	}
	bobClient, bob := e.invite(admin, "bob@example.com", "read-only")
	var got console.User
	admin.must(http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, map[string]string{"role": "admin"}, &got)
	if got.Role != "admin" {
		t.Errorf("promoted = %+v", got)
	}
	bobClient.must(http.StatusOK, "GET", "/api/v1/users", nil, nil) // role change applies at once
	admin.must(http.StatusOK, "PATCH", "/api/v1/users/"+me.ID, map[string]string{"role": "standard"}, nil)
	if r := admin.do("GET", "/api/v1/users", nil); r.status != http.StatusForbidden {
		t.Errorf("demoted admin lists users: %d", r.status)
	}
	var users console.List[console.User]
	bobClient.must(http.StatusOK, "GET", "/api/v1/users", nil, &users)
	if len(users.Items) != 2 {
		t.Errorf("users = %+v", users)
	}
	bobClient.must(http.StatusOK, "PATCH", "/api/v1/users/"+me.ID, map[string]bool{"disabled": true}, nil)
	if r := admin.do("GET", "/api/v1/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("disabled user's session: %d", r.status)
	}
	if r := e.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": adminPassword}); r.status != http.StatusForbidden {
		t.Errorf("disabled user's login: %d", r.status)
	}
	bobClient.must(http.StatusNoContent, "DELETE", "/api/v1/users/"+me.ID, nil, nil)
	if r := bobClient.do("DELETE", "/api/v1/users/"+me.ID, nil); r.status != http.StatusNotFound {
		t.Errorf("delete twice: %d", r.status)
	}
	var audit console.List[console.AuditEntry]
	bobClient.must(http.StatusOK, "GET", "/api/v1/audit", nil, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
	}
	want := []string{"user.delete", "login.failed", "user.update", "user.update", "user.update", "invitation.accept", "invitation.create", "register"}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("audit actions, newest first (-want +got):\n%s", diff)
	}
}

func TestHealthMetricsAndSPA(t *testing.T) {
	spa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>riskmap ui</html>"))
	})
	e := start(t, func(_ *config.Console, o *console.Options) { o.SPA = spa })
	c := e.client()
	for _, p := range []string{"/healthz", "/readyz"} {
		c.must(http.StatusOK, "GET", p, nil, nil)
	}
	c.must(http.StatusOK, "GET", "/api/v1/setup", nil, nil)
	m := c.must(http.StatusOK, "GET", "/metrics", nil, nil)
	if !strings.Contains(string(m.body), `riskmap_http_requests_total{code="200",method="GET",route="/api/v1/setup"} 1`) {
		t.Errorf("metrics lack the request counter:\n%s", m.body)
	}
	r := c.must(http.StatusOK, "GET", "/topology/hosts", nil, nil)
	if string(r.body) != "<html>riskmap ui</html>" {
		t.Errorf("SPA fallback body %q", r.body)
	}
	r = c.do("GET", "/api/v1/nothing-here", nil)
	if r.problem(t); r.status != http.StatusNotFound {
		t.Errorf("unknown API path: %d", r.status)
	}
	r = c.do("PUT", "/api/v1/setup", "{}")
	if r.problem(t); r.status != http.StatusMethodNotAllowed && r.status != http.StatusNotFound {
		t.Errorf("wrong method: %d", r.status)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Strict-Transport-Security") == "" {
		t.Errorf("security headers missing: %v", r.header)
	}
	big := `{"email":"` + strings.Repeat("a", 40000) + `","password":"x"}`
	r = c.do("POST", "/api/v1/auth/login", big)
	if r.problem(t); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", r.status)
	}
}

// TestOnPostgres runs the main flows with PostgreSQL as the console database.
func TestOnPostgres(t *testing.T) {
	url := testenv.PostgresURL(t)
	e := start(t, func(c *config.Console, _ *console.Options) { c.Database = url })
	admin, _ := e.registerAdmin()
	_, bob := e.invite(admin, "bob@example.com", "standard")
	var key console.APIKeyResponse
	admin.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	var tok console.TokenResponse
	e.client().must(http.StatusOK, "POST", "/api/v1/auth/token", map[string]string{"apiKey": key.APIKey}, &tok)
	withToken := e.client()
	withToken.bearer = tok.AccessToken
	var users console.List[console.User]
	withToken.must(http.StatusOK, "GET", "/api/v1/users", nil, &users)
	if len(users.Items) != 2 || users.Items[1].ID != bob.ID {
		t.Errorf("users = %+v", users)
	}
	if e.st.Dialect() != store.Postgres {
		t.Errorf("dialect %s", e.st.Dialect())
	}
}

// TestTrustedProxies: behind a trusted load balancer, rate limits and the
// audit log use the client from X-Forwarded-For; from anyone else the
// header is ignored.
func TestTrustedProxies(t *testing.T) {
	e := start(t, func(c *config.Console, _ *console.Options) {
		c.TrustedProxies = "127.0.0.0/8, ::1"
		c.LoginAddressLimit = 2
	})
	admin, _ := e.registerAdmin()
	fail := func(xff string) int {
		c := e.client()
		c.header = http.Header{"X-Forwarded-For": {xff}}
		return c.do("POST", "/api/v1/auth/login", map[string]string{"email": "x@example.com", "password": "wrong password"}).status
	}
	for i := 0; i < 2; i++ {
		if got := fail("203.0.113.7"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := fail("198.51.100.1, 203.0.113.7"); got != http.StatusTooManyRequests {
		t.Errorf("third failure from 203.0.113.7 (spoofed left hop ignored): %d; want 429", got)
	}
	if got := fail("203.0.113.8"); got != http.StatusUnauthorized {
		t.Errorf("another client behind the proxy: %d; want 401", got)
	}
	var audit console.List[console.AuditEntry]
	admin.must(http.StatusOK, "GET", "/api/v1/audit", nil, &audit)
	if audit.Items[0].ClientAddr != "203.0.113.8" {
		t.Errorf("audit client %q; want 203.0.113.8", audit.Items[0].ClientAddr)
	}
}

// TestReplicasShareRotatedKeys: consoles sharing one database verify each
// other's access tokens, also after one of them rotated the signing key.
func TestReplicasShareRotatedKeys(t *testing.T) {
	url := testenv.PostgresURL(t)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	replica := func() *console.Server {
		cfg := testConfig(t)
		st, err := store.Open(t.Context(), store.Config{URL: url, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		srv, err := console.New(t.Context(), console.Options{Config: cfg, Store: st, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	a := replica()
	st, err := store.Open(t.Context(), store.Config{URL: url, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.RegisterFirstUser(t.Context(), "Org", store.NewUser{Email: "a@example.com", Name: "A", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := auth.NewSecret(auth.APIKeyPrefix)
	if _, err := st.SetAPIKey(t.Context(), u.ID, auth.HashSecret(key), "k"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * 24 * time.Hour)
	b := replica() // starts after the rotation is due: signs with a new key
	tokenFrom := func(srv *console.Server) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/auth/token", strings.NewReader(`{"apiKey":"`+key+`"}`))
		req.Header.Set("Content-Type", "application/json")
		srv.Handler().ServeHTTP(rec, req)
		var tok console.TokenResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || rec.Code != 200 {
			t.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
		return tok.AccessToken
	}
	me := func(srv *console.Server, token string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	fromB := tokenFrom(b)
	if got := me(a, fromB); got != http.StatusOK {
		t.Errorf("replica A with B's token signed by the rotated key: %d", got)
	}
	if got := me(b, tokenFrom(a)); got != http.StatusOK {
		t.Errorf("replica B with A's token: %d", got)
	}
}

// TestMeAPIKey: /me says whether the user holds an API key (its prefix,
// never the key), so the first key is not created under a warning that
// "the current key stops working".
func TestMeAPIKey(t *testing.T) {
	e := start(t)
	admin, _ := e.registerAdmin()
	var before console.Me
	admin.must(http.StatusOK, "GET", "/api/v1/me", nil, &before)
	if before.APIKey != nil || before.Email != "admin@example.com" {
		t.Fatalf("before any key: %+v", before)
	}
	var key console.APIKeyResponse
	admin.must(http.StatusOK, "POST", "/api/v1/me/api-key", nil, &key)
	var after console.Me
	admin.must(http.StatusOK, "GET", "/api/v1/me", nil, &after)
	if after.APIKey == nil || after.APIKey.Prefix == "" || !strings.HasPrefix(key.APIKey, strings.TrimSuffix(after.APIKey.Prefix, "…")) || strings.Contains(fmt.Sprint(after), key.APIKey) {
		t.Fatalf("after a key: %+v (key %s…)", after.APIKey, key.APIKey[:8])
	}
}
