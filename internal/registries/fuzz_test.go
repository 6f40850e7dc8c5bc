package registries

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzFilters: any filters compile or are refused with an error naming
// the filter; compiled ones answer for any name without panicking.
func FuzzFilters(f *testing.F) {
	f.Add("team/*\n!team/tmp-*", `v\d+`, 3, "team/app", "v1")
	f.Add("**", "", 0, "", "")
	f.Add("a?b/**/c*", "(a|b)+", 10000, "a1b/x/y/cz", "ab")
	f.Fuzz(func(t *testing.T, globs, tagRe string, latest int, repo, tag string) {
		fl := RegistryFilters{TagRegex: tagRe, LatestTags: latest}
		if globs != "" {
			fl.Repositories = strings.Split(globs, "\n")
		}
		s, err := fl.Compile()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "filters.") {
				t.Fatalf("error %q does not name the filter", err)
			}
			return
		}
		s.Repository(repo)
		s.Tag(tag)
	})
}

// FuzzAccountInput: any JSON body of an account is checked into a
// refusal naming what is wrong, or a valid account; never a panic.
func FuzzAccountInput(f *testing.F) {
	f.Add([]byte(`{"kind":"v2","name":"r","settings":{"url":"https://r.example","username":"u"},"secrets":{"password":"p"}}`))
	f.Add([]byte(`{"kind":"v2","name":"r","settings":{"url":"http://127.0.0.1:5000","insecure":"true"},"filters":{"repositories":["a/*"],"tagRegex":"v.*","latestTags":5},"schedule":"@every 6h"}`))
	f.Add([]byte(`{"kind":"v2","name":"r","settings":{"password":"p"},"secrets":{"url":"x"},"clearSecrets":["url"],"caCert":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----"}`))
	f.Add([]byte(`{"kind":"nope"}`))
	s := New(Config{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var in RegistryAccountInput
		if json.Unmarshal(body, &in) != nil {
			return
		}
		c, err := s.check(context.Background(), nil, in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal %q is not ErrInvalid", err)
			}
			return
		}
		if c.name == "" || c.kind.New == nil {
			t.Fatalf("accepted without a name or kind: %+v", c)
		}
		// A valid account opens (or its settings are refused) offline.
		if cn, err := s.connect(RegistryAccount{Kind: c.kind.Name, Settings: c.settings, CACert: c.caCert}, c.secrets); err == nil {
			cn.close()
		}
	})
}
