package v2_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	v2 "github.com/riskmap/riskmap/internal/registries/provider/v2"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
		want   []v2.Challenge
		err    bool
	}{
		{"docker_hub", []string{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"`},
			[]v2.Challenge{{Scheme: "bearer", Params: map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/debian:pull"}}}, false},
		{"basic", []string{`Basic realm="Registry Realm"`}, []v2.Challenge{{Scheme: "basic", Params: map[string]string{"realm": "Registry Realm"}}}, false},
		{"spaces_and_case", []string{`  BEARER   Realm = "https://a/t" ,  Service=svc  `}, []v2.Challenge{{Scheme: "bearer", Params: map[string]string{"realm": "https://a/t", "service": "svc"}}}, false},
		{"comma_in_quotes", []string{`Bearer realm="https://a/t",scope="repository:a:pull,push"`},
			[]v2.Challenge{{Scheme: "bearer", Params: map[string]string{"realm": "https://a/t", "scope": "repository:a:pull,push"}}}, false},
		{"escapes", []string{`Basic realm="a \"quoted\" \\ realm"`}, []v2.Challenge{{Scheme: "basic", Params: map[string]string{"realm": `a "quoted" \ realm`}}}, false},
		{"two_challenges_one_line", []string{`Basic realm="r", Bearer realm="https://a/t",service="s"`},
			[]v2.Challenge{{Scheme: "basic", Params: map[string]string{"realm": "r"}}, {Scheme: "bearer", Params: map[string]string{"realm": "https://a/t", "service": "s"}}}, false},
		{"two_headers", []string{`Basic realm="r"`, `Bearer realm="https://a/t"`},
			[]v2.Challenge{{Scheme: "basic", Params: map[string]string{"realm": "r"}}, {Scheme: "bearer", Params: map[string]string{"realm": "https://a/t"}}}, false},
		{"token68", []string{`Negotiate abc123==`}, []v2.Challenge{{Scheme: "negotiate", Params: map[string]string{"": "abc123=="}}}, false},
		{"scheme_only", []string{`Bearer`}, []v2.Challenge{{Scheme: "bearer", Params: map[string]string{}}}, false},
		{"empty", []string{``}, nil, false},
		{"unterminated", []string{`Bearer realm="https://a/t`}, nil, true},
		{"duplicate", []string{`Bearer realm="a",realm="b"`}, nil, true},
		{"garbage", []string{`"quoted"`}, nil, true},
		{"missing_comma", []string{`Bearer realm="a" service="b"`}, nil, true},
		{"control", []string{"Bearer realm=\"a\x01b\""}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v2.ParseChallenges(tc.header)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); !tc.err && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
		want   string
		err    bool
	}{
		{"distribution", []string{`</v2/_catalog?last=b&n=100>; rel="next"`}, "/v2/_catalog?last=b&n=100", false},
		{"unquoted_rel", []string{`</v2/a/tags/list?last=x&n=2>; rel=next`}, "/v2/a/tags/list?last=x&n=2", false},
		{"several", []string{`<https://r/p1>; rel="prev", <https://r/p3>; rel="next last"`}, "https://r/p3", false},
		{"other_params", []string{`</x>; title="a, b; c"; rel="next"`}, "/x", false},
		{"none", nil, "", false},
		{"no_next", []string{`</x>; rel="prev"`}, "", false},
		{"first_rel_counts", []string{`</x>; rel="prev"; rel="next"`}, "", false},
		{"no_brackets", []string{`/x; rel="next"`}, "", true},
		{"unterminated", []string{`</x; rel="next"`}, "", true},
		{"bad_separator", []string{`</x> rel="next"`}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v2.NextLink(tc.header)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTokenResponse(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want v2.TokenResponse
		err  bool
	}{
		{"token", `{"token":"abc","expires_in":300}`, v2.TokenResponse{Token: "abc", ExpiresIn: 300}, false},
		{"access_token", `{"access_token":"xyz"}`, v2.TokenResponse{Token: "xyz", ExpiresIn: 60}, false},
		{"short_expiry", `{"token":"abc","expires_in":5}`, v2.TokenResponse{Token: "abc", ExpiresIn: 60}, false},
		{"huge_expiry", `{"token":"abc","expires_in":99999999999}`, v2.TokenResponse{Token: "abc", ExpiresIn: 86400}, false},
		{"no_token", `{"expires_in":300}`, v2.TokenResponse{}, true},
		{"header_injection", `{"token":"abc\r\nX-Evil: 1"}`, v2.TokenResponse{}, true},
		{"not_json", `<html>`, v2.TokenResponse{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v2.ParseTokenResponse([]byte(tc.body))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
