package v2_test

import (
	"strings"
	"testing"

	v2 "github.com/riskmap/riskmap/internal/registries/provider/v2"
)

// FuzzParseChallenges: any WWW-Authenticate header is parsed or refused
// with an error, never a panic; what is parsed has lower-case schemes and
// parameter names.
func FuzzParseChallenges(f *testing.F) {
	f.Add(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a:pull"`)
	f.Add(`Basic realm="r", Bearer realm="x"`)
	f.Add(`Negotiate abc==`)
	f.Add(`Bearer realm="a\"b\\"`)
	f.Add(`,,, Bearer ,, realm = x ,`)
	f.Fuzz(func(t *testing.T, h string) {
		cs, err := v2.ParseChallenges([]string{h})
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("scheme %q", c.Scheme)
			}
			for k := range c.Params {
				if k != strings.ToLower(k) {
					t.Fatalf("parameter %q not lower case", k)
				}
			}
		}
	})
}

// FuzzNextLink: any Link header gives a next target, none, or an error.
func FuzzNextLink(f *testing.F) {
	f.Add(`</v2/_catalog?last=b&n=100>; rel="next"`)
	f.Add(`<a>; rel=prev, <b>; rel="next"; title="x, y"`)
	f.Add(`<`)
	f.Fuzz(func(t *testing.T, h string) {
		next, err := v2.NextLink([]string{h})
		if err == nil && strings.ContainsAny(next, "<\r\n") {
			t.Fatalf("next %q", next)
		}
	})
}

// FuzzParseTokenResponse: a token answer gives a header-safe token with a
// bounded lifetime, or an error.
func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"token":"abc","expires_in":300}`))
	f.Add([]byte(`{"access_token":"x","expires_in":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := v2.ParseTokenResponse(b)
		if err != nil {
			return
		}
		if tr.Token == "" || strings.ContainsAny(tr.Token, " \r\n\t") || tr.ExpiresIn < 60 || tr.ExpiresIn > 86400 {
			t.Fatalf("%+v", tr)
		}
	})
}
