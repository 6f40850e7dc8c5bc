package providerfake

import "testing"

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
