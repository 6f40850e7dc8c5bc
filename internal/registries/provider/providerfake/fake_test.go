package providerfake

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestRepoOf(t *testing.T) {
	for path, want := range map[string]string{
		"/v2/":                         "",
		"/v2/_catalog":                 "",
		"/v2/a/b/manifests/v1":         "a/b",
		"/v2/a/blobs/sha256:x":         "a",
		"/v2/p/tags/list":              "p",
		"/v2/x/manifests/y/manifests/": "x/manifests/y",
	} {
		if got := repoOf(path); got != want {
			t.Errorf("repoOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestGrants(t *testing.T) {
	for _, tt := range []struct {
		scopes []string
		repo   string
		want   bool
	}{
		{[]string{"repository:a/b:pull"}, "a/b", true},
		{[]string{"repository:a/b:push,pull"}, "a/b", true},
		{[]string{"repository:a/b:push"}, "a/b", false},
		{[]string{"repository:a:pull repository:b:pull"}, "b", true},
		{[]string{"repository:host:5000/a:pull"}, "host:5000/a", true},
		{[]string{"registry:catalog:*"}, "a", false},
		{nil, "a", false},
	} {
		if got := grants(tt.scopes, tt.repo, "pull"); got != tt.want {
			t.Errorf("grants(%q, %q) = %v", tt.scopes, tt.repo, got)
		}
	}
}

func TestAfterLast(t *testing.T) {
	for _, tt := range []struct {
		query, want, link string
	}{
		{"n=2&orderby=time", "[a b]", `</v2/_catalog?last=b&n=2&orderby=time>; rel="next"`},
		{"n=2&last=b", "[c d]", ""},
		{"n=9&last=zz", "[]", ""},
	} {
		r := httptest.NewRequest("GET", "/v2/_catalog?"+tt.query, nil)
		w := httptest.NewRecorder()
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		got := afterLast(w, r, []string{"d", "b", "a", "c"}, n, "orderby")
		if fmt.Sprint(got) != tt.want || w.Header().Get("Link") != tt.link {
			t.Errorf("%s: %v, Link %q; want %s, %q", tt.query, got, w.Header().Get("Link"), tt.want, tt.link)
		}
	}
}
