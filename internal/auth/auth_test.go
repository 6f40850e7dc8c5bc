package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var cheap = Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery staple", cheap)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt?")
	}
	if err := VerifyPassword("correct horse battery staple", h); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := VerifyPassword("correct horse battery stapl", h); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v", err)
	}
	// Hashes made with other parameters still verify.
	def, _ := HashPassword("pw", Argon2Params{Memory: 128, Iterations: 2, Parallelism: 2, SaltLength: 8, KeyLength: 16})
	if err := VerifyPassword("pw", def); err != nil {
		t.Errorf("other parameters: %v", err)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=64,t=1,p=1$!!$a2V5", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$"} {
		if err := VerifyPassword("pw", bad); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("malformed hash %q: %v; want a format error", bad, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "twelve chars": true, "ñññññññññññ": false, "ññññññññññññ": true, strings.Repeat("x", 257): false} {
		if err := CheckPasswordPolicy(pw); (err == nil) != ok {
			t.Errorf("CheckPasswordPolicy(%q) = %v; want ok=%t", pw, err, ok)
		}
	}
}

func TestSecrets(t *testing.T) {
	k, err := NewSecret(APIKeyPrefix)
	if err != nil || !WellFormed(k, APIKeyPrefix) || WellFormed(k, RefreshTokenPrefix) || WellFormed(k+"x", APIKeyPrefix) {
		t.Fatalf("secret %q, %v", k, err)
	}
	if !SecretMatches(k, HashSecret(k)) || SecretMatches(k+"x", HashSecret(k)) {
		t.Error("SecretMatches")
	}
}

func TestRoles(t *testing.T) {
	if !RoleAdmin.AtLeast(RoleStandard) || RoleReadOnly.AtLeast(RoleStandard) || Role("root").AtLeast(RoleReadOnly) {
		t.Error("role order")
	}
	if _, err := ParseRole("superuser"); err == nil {
		t.Error("unknown role parsed")
	}
}

func TestBuckets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBuckets(3, 2*time.Second, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := b.Allow("a"); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	if ok, wait := b.Allow("a"); ok || wait != 2*time.Second {
		t.Errorf("beyond the burst: ok=%t wait=%s, want refused for 2s", ok, wait)
	}
	if ok, _ := b.Allow("b"); !ok {
		t.Error("other key limited")
	}
	now = now.Add(1500 * time.Millisecond)
	if ok, wait := b.Allow("a"); ok || wait != 500*time.Millisecond {
		t.Errorf("before the refill: ok=%t wait=%s, want refused for 500ms", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := b.Allow("a"); !ok {
		t.Error("not allowed after one refill")
	}
	if ok, _ := b.Allow("a"); ok {
		t.Error("one refill allowed two events")
	}
	now = now.Add(time.Hour) // idle: swept, and full again
	for i := range 3 {
		if ok, _ := b.Allow("a"); !ok {
			t.Fatalf("after idling, event %d of the burst refused", i)
		}
	}
	if n := len(b.b); n != 1 {
		t.Errorf("%d buckets kept after the sweep, want only the active one", n)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(2, time.Minute, func() time.Time { return now })
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d refused", i)
		}
	}
	if ok, wait := l.Allow("a"); ok || wait != time.Minute {
		t.Errorf("third event: ok=%t wait=%s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("other key limited")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("not allowed after the window")
	}
	l.MaxKeys = 3
	for _, k := range []string{"c", "d"} {
		l.Add(k)
	}
	if ok, _ := l.Check("e"); ok {
		t.Error("new key admitted beyond MaxKeys with nothing expired")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Check("e"); !ok {
		t.Error("new key refused after old ones expired")
	}
}

func TestAccessTokens(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk := &Tokens{Keys: []SigningKey{{ID: "k1", Private: priv}}, TTL: 15 * time.Minute, Now: func() time.Time { return now }}
	s, exp, err := tk.Issue(Origin{UserID: "user1", APIKeyID: "key1", FamilyID: "fam1"}, "tok1")
	if err != nil || !exp.Equal(now.Add(15*time.Minute)) {
		t.Fatal(err)
	}
	c, err := tk.Verify(s)
	if err != nil || c.Subject != "user1" || c.APIKeyID != "key1" || c.FamilyID != "fam1" || !c.IssuedAt.Equal(now) {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	wrongKey := &Tokens{Keys: []SigningKey{{ID: "k1", Private: other}}, TTL: time.Minute, Now: tk.Now}
	if _, err := wrongKey.Verify(s); err == nil {
		t.Error("token verified with another key")
	}
	now = now.Add(15 * time.Minute)
	if _, err := tk.Verify(s); err == nil {
		t.Error("expired token verified")
	}
	// alg=none and HMAC tokens are refused.
	for _, forged := range []string{
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyMSJ9.",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyMSJ9.c2ln",
	} {
		if _, err := tk.Verify(forged); err == nil {
			t.Errorf("forged token %q verified", forged)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk := &Tokens{Keys: []SigningKey{{ID: "k1", Private: priv}}, TTL: time.Minute, Now: func() time.Time { return now }}
	good, _, _ := tk.Issue(Origin{UserID: "u", APIKeyID: "k", FamilyID: "f"}, "t")
	f.Add(good)
	// The same claims with the family renamed and the signature kept: the
	// family is covered by the signature like every other claim.
	if head, rest, ok := strings.Cut(good, "."); ok {
		if _, sig, ok := strings.Cut(rest, "."); ok {
			f.Add(head + ".eyJha2lkIjoiayIsImZhbSI6ImciLCJzdWIiOiJ1In0." + sig)
		}
	}
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Verify(s)
		if err == nil && (c.Subject == "" || s != good && (c.Subject != "u" || c.FamilyID != "f")) {
			t.Fatalf("unexpected token accepted: %q", s)
		}
	})
}

// FuzzParsePHC: stored hashes come from the database, but a corrupted row
// must not crash or demand unbounded memory: parameters are range-checked.
func FuzzParsePHC(f *testing.F) {
	h, _ := HashPassword("pw", cheap)
	f.Add(h)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$a2V5")
	f.Add("$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdGluZXNz$a2V5a2V5a2V5a2V5a2V5")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, hash string) {
		p, salt, key, err := parsePHC(hash)
		if err != nil {
			return
		}
		if p.Memory > 1024*1024 || p.Iterations > 64 || len(salt) > 64 || len(key) > 64 {
			t.Fatalf("accepted out-of-range hash %q: %+v", hash, p)
		}
	})
}

// FuzzVerifySensor: any string given as a sensor access token verifies
// only when it is one this key signed; user tokens never pass.
func FuzzVerifySensor(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(nil)
	now := time.Unix(2e9, 0)
	tk := &Tokens{Keys: []SigningKey{{ID: "k1", Private: priv}}, TTL: time.Minute, Now: func() time.Time { return now }}
	good, _, _ := tk.IssueSensor("sensor-1", 1, "t1")
	user, _, _ := tk.Issue(Origin{UserID: "user-1", APIKeyID: "key-1", FamilyID: "f1"}, "t2")
	f.Add(good)
	f.Add(user)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.VerifySensor(s)
		if err != nil {
			return
		}
		if s != good || c.Subject != "sensor-1" || c.KeyGen != 1 {
			t.Fatalf("verified %q as %+v", s, c)
		}
	})
}

func TestSensorAndUserTokensDoNotMix(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	now := time.Unix(2e9, 0)
	tk := &Tokens{Keys: []SigningKey{{ID: "k1", Private: priv}}, TTL: time.Minute, Now: func() time.Time { return now }}
	st, _, err := tk.IssueSensor("sensor-1", 3, "t1")
	if err != nil {
		t.Fatal(err)
	}
	ut, _, err := tk.Issue(Origin{UserID: "user-1", APIKeyID: "key-1", FamilyID: "f1"}, "t2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(st); err == nil {
		t.Error("a sensor token verified as a user's")
	}
	if _, err := tk.VerifySensor(ut); err == nil {
		t.Error("a user token verified as a sensor's")
	}
	if c, err := tk.VerifySensor(st); err != nil || c.Subject != "sensor-1" || c.KeyGen != 3 {
		t.Errorf("sensor token: %+v %v", c, err)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration // Wait(0), Wait(1), ...
	}{
		{"doubling_after_free", Backoff{Free: 3, Base: time.Second, Max: 10 * time.Second},
			[]time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"lock", Backoff{Free: 2, Base: time.Minute, Max: time.Minute},
			[]time.Duration{0, 0, time.Minute, time.Minute}},
		{"no_free", Backoff{Free: 0, Base: time.Second, Max: time.Hour},
			[]time.Duration{time.Second, 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []time.Duration
			for n := range tc.want {
				got = append(got, tc.b.Wait(n))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
	// No overflow, however many failures.
	b := Backoff{Free: 5, Base: time.Second, Max: 15 * time.Minute}
	for _, n := range []int{60, 63, 64, 100, 1 << 30} {
		if w := b.Wait(n); w != 15*time.Minute {
			t.Errorf("Wait(%d) = %s; want the maximum", n, w)
		}
	}
}
