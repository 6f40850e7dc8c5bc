package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/auth"
	"github.com/riskmap/riskmap/internal/config"
	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
	"github.com/riskmap/riskmap/internal/testenv"
)

// from returns a client whose requests come from addr: the console trusts
// the loopback as its proxy (behindProxy) and takes X-Forwarded-For.
func (e *env) from(addr string) *client {
	c := e.client()
	c.header = http.Header{"X-Forwarded-For": {addr}}
	return c
}

func behindProxy(c *config.Console) { c.TrustedProxies = "127.0.0.0/8, ::1" }

func onBackend(b testenv.Backend, t *testing.T) envOpt {
	url := b.URL(t)
	return func(c *config.Console, _ *console.Options) { c.Database = url }
}

func loginBody(email, password string) map[string]string {
	return map[string]string{"email": email, "password": password}
}

// retryAfter is the response's Retry-After in seconds; it fails the test
// unless the response is a 429 rate-limited problem carrying one.
func retryAfter(t *testing.T, r response) time.Duration {
	t.Helper()
	p := r.problem(t)
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || p["type"] != console.ProblemRateLimited || err != nil || n < 1 {
		t.Fatalf("status %d, Retry-After %q, problem %v; want 429 rate-limited with Retry-After", r.status, r.header.Get("Retry-After"), p)
	}
	return time.Duration(n) * time.Second
}

// auditCount counts the audit log's entries by action.
func auditCount(t *testing.T, admin *client) map[string]int {
	t.Helper()
	count := map[string]int{}
	cursor := ""
	for {
		var page console.List[console.AuditEntry]
		admin.must(http.StatusOK, "GET", "/api/v1/audit?limit=500&cursor="+cursor, nil, &page)
		for _, a := range page.Items {
			count[a.Action]++
		}
		if page.NextCursor == "" {
			return count
		}
		cursor = page.NextCursor
	}
}

// loginMetric reads riskmap_logins_total{result} from /metrics.
func loginMetric(t *testing.T, e *env, result string) int {
	t.Helper()
	m := e.client().must(http.StatusOK, "GET", "/metrics", nil, nil)
	re := regexp.MustCompile(`(?m)^riskmap_logins_total\{result="` + result + `"\} (\d+)$`)
	if mm := re.FindSubmatch(m.body); mm != nil {
		n, _ := strconv.Atoi(string(mm[1]))
		return n
	}
	return 0
}

// TestLockoutAttempt is the hostile tester's attack: an address fails 50
// times against the admin, honouring every Retry-After to get as many
// guesses in as it can. Its delays grow; the admin, from another address,
// signs in at once; the attacker's next try, with the right password, is
// still delayed.
func TestLockoutAttempt(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, onBackend(b, t), func(c *config.Console, _ *console.Options) { behindProxy(c) })
			e.registerAdmin()
			attacker := e.from("203.0.113.66")
			failures, limited := 0, 0
			var waits []time.Duration
			for failures < 50 {
				r := attacker.do("POST", "/api/v1/auth/login", loginBody("admin@example.com", "guess number "+strconv.Itoa(failures)))
				switch r.status {
				case http.StatusUnauthorized:
					failures++
				case http.StatusTooManyRequests:
					limited++
					w := retryAfter(t, r)
					waits = append(waits, w)
					e.clk.Advance(w)
				default:
					t.Fatalf("attempt after %d failures: %d %s", failures, r.status, r.body)
				}
			}
			// 5 free failures, then a wait after each: 1 s doubling, at
			// most --login-window.
			if limited != 45 || waits[0] != time.Second || waits[1] != 2*time.Second || waits[len(waits)-1] != 15*time.Minute {
				t.Errorf("%d refusals, waits %v; want 45 growing from 1s to 15m", limited, waits)
			}
			for i := 1; i < len(waits); i++ {
				if waits[i] < waits[i-1] {
					t.Errorf("wait %d (%s) shorter than the one before (%s)", i, waits[i], waits[i-1])
				}
			}
			// During the delay the password is not read: a wrong one is not
			// a failure, just refused.
			if r := attacker.do("POST", "/api/v1/auth/login", loginBody("admin@example.com", "one more guess")); r.status != http.StatusTooManyRequests {
				t.Errorf("wrong password during the delay: %d; want 429", r.status)
			}
			// The owner, from another address, at once.
			owner := e.from("198.51.100.7")
			owner.must(http.StatusOK, "POST", "/api/v1/auth/login", loginBody("admin@example.com", adminPassword), nil)
			owner.must(http.StatusOK, "GET", "/api/v1/me", nil, nil)
			// The attacker, even with the right password, still waits.
			if w := retryAfter(t, attacker.do("POST", "/api/v1/auth/login", loginBody("admin@example.com", adminPassword))); w < 14*time.Minute {
				t.Errorf("attacker with the right password: Retry-After %s; want the full delay", w)
			}
			// Everything is in the audit log and the metric.
			count := auditCount(t, owner)
			if count[store.AuditLoginFailed] != 50 || count[store.AuditLoginLimited] != limited+2 || count[store.AuditLogin] != 1 {
				t.Errorf("audit actions = %v; want 50 login.failed, %d login.rate_limited, 1 login", count, limited+2)
			}
			if f, l, ok := loginMetric(t, e, "failed"), loginMetric(t, e, "rate_limited"), loginMetric(t, e, "ok"); f != 50 || l != limited+2 || ok != 1 {
				t.Errorf("riskmap_logins_total failed=%d rate_limited=%d ok=%d; want 50, %d, 1", f, l, ok, limited+2)
			}
		})
	}
}

// TestCredentialStuffing: one address tries one password against each of
// many accounts, so no account sees more than one failure from it. The
// address as a whole is slowed, the right password of a real account
// included, and its delays grow; other addresses are not slowed. Addresses
// of one IPv6 /64 count as one.
func TestCredentialStuffing(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, onBackend(b, t), func(c *config.Console, _ *console.Options) {
				behindProxy(c)
				c.LoginAddressLimit = 10
			})
			admin, _ := e.registerAdmin()
			e.invite(admin, "bob@example.com", "standard")
			stuffer := e.from("203.0.113.99")
			victim := 0
			stuff := func() response {
				victim++
				return stuffer.do("POST", "/api/v1/auth/login", loginBody("user"+strconv.Itoa(victim)+"@example.com", "Summer2026!"))
			}
			for i := range 10 {
				if r := stuff(); r.status != http.StatusUnauthorized {
					t.Fatalf("stuffing attempt %d: %d; want 401", i+1, r.status)
				}
			}
			// Slowed whatever the account, even with its right password.
			if w := retryAfter(t, stuffer.do("POST", "/api/v1/auth/login", loginBody("bob@example.com", adminPassword))); w != time.Second {
				t.Errorf("first delay %s; want 1s", w)
			}
			e.from("198.51.100.20").must(http.StatusOK, "POST", "/api/v1/auth/login", loginBody("bob@example.com", adminPassword), nil)
			// The delays grow: waiting one out buys one guess, then a longer wait.
			e.clk.Advance(time.Second)
			if r := stuff(); r.status != http.StatusUnauthorized {
				t.Fatalf("after the first delay: %d; want 401", r.status)
			}
			if w := retryAfter(t, stuff()); w != 2*time.Second {
				t.Errorf("second delay %s; want 2s", w)
			}
			// The right password after the wait goes through.
			e.clk.Advance(2 * time.Second)
			e.from("203.0.113.99").must(http.StatusOK, "POST", "/api/v1/auth/login", loginBody("bob@example.com", adminPassword), nil)

			// IPv6: the addresses of one /64 share a counter.
			for i := range 10 {
				c := e.from("2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16))
				if r := c.do("POST", "/api/v1/auth/login", loginBody("v6user"+strconv.Itoa(i)+"@example.com", "x")); r.status != http.StatusUnauthorized {
					t.Fatalf("IPv6 attempt %d: %d", i+1, r.status)
				}
			}
			retryAfter(t, e.from("2001:db8:1:2::ffff").do("POST", "/api/v1/auth/login", loginBody("bob@example.com", adminPassword)))
			e.from("2001:db8:1:3::1").must(http.StatusOK, "POST", "/api/v1/auth/login", loginBody("bob@example.com", adminPassword), nil)
		})
	}
}

// TestLoginHardLock: an operator who wants the account lock gets it: after
// --login-account-limit failures from any addresses the account is locked
// for --login-window, the right password from a clean address included.
func TestLoginHardLock(t *testing.T) {
	for _, b := range testenv.Backends {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, onBackend(b, t), func(c *config.Console, _ *console.Options) {
				behindProxy(c)
				c.LoginHardLock, c.LoginAccountLimit = true, 3
			})
			e.registerAdmin()
			for i, addr := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
				if r := e.from(addr).do("POST", "/api/v1/auth/login", loginBody("admin@example.com", "wrong")); r.status != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d", i+1, r.status)
				}
			}
			r := e.from("198.51.100.7").do("POST", "/api/v1/auth/login", loginBody("admin@example.com", adminPassword))
			if w := retryAfter(t, r); w != 15*time.Minute || !strings.Contains(string(r.body), "locked") {
				t.Errorf("owner while locked: Retry-After %s, %s; want 15m, locked", w, r.body)
			}
			e.clk.Advance(15 * time.Minute)
			e.from("198.51.100.7").must(http.StatusOK, "POST", "/api/v1/auth/login", loginBody("admin@example.com", adminPassword), nil)
			// A success clears the lock's count.
			for range 2 {
				e.from("203.0.113.4").do("POST", "/api/v1/auth/login", loginBody("admin@example.com", "wrong"))
			}
			e.from("198.51.100.7").must(http.StatusOK, "POST", "/api/v1/auth/login", loginBody("admin@example.com", adminPassword), nil)
		})
	}
}

// TestLoginThrottleAcrossReplicas: two consoles sharing PostgreSQL count
// one attacker's failures together, whichever replica each reaches.
func TestLoginThrottleAcrossReplicas(t *testing.T) {
	url := testenv.PostgresURL(t)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	var replicas []*console.Server
	for range 2 {
		cfg := testConfig(t)
		cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 64, 1
		st, err := store.Open(t.Context(), store.Config{URL: url, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		srv, err := console.New(t.Context(), console.Options{Config: cfg, Store: st, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, srv)
	}
	st, err := store.Open(t.Context(), store.Config{URL: url, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, _ := auth.HashPassword(adminPassword, auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if _, err := st.RegisterFirstUser(context.Background(), "Org", store.NewUser{Email: "admin@example.com", Name: "A", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	login := func(srv *console.Server, password string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"email":"admin@example.com","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 5 {
		if got := login(replicas[i%2], "wrong"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	for i, srv := range replicas {
		if got := login(srv, adminPassword); got != http.StatusTooManyRequests {
			t.Errorf("replica %d after 5 failures spread over both: %d; want 429", i, got)
		}
	}
}
