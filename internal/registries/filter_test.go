package registries

import (
	"strings"
	"testing"
)

func TestSelector(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       RegistryFilters
		in, out []string
		tagsIn  []string
		tagsOut []string
	}{
		{name: "empty_selects_all", in: []string{"a", "team/app", "x/y/z"}, tagsIn: []string{"latest", "v1"}},
		{name: "star_within_a_segment", f: RegistryFilters{Repositories: []string{"team/*"}}, in: []string{"team/app", "team/web"},
			out: []string{"team", "team/app/sub", "other/app"}},
		{name: "double_star_across", f: RegistryFilters{Repositories: []string{"team/**"}}, in: []string{"team/app", "team/app/sub"}, out: []string{"teams/app"}},
		{name: "question_mark", f: RegistryFilters{Repositories: []string{"app?"}}, in: []string{"app1", "appx"}, out: []string{"app", "app12", "app/"}},
		{name: "exclusions", f: RegistryFilters{Repositories: []string{"team/*", "!team/tmp-*"}}, in: []string{"team/app"}, out: []string{"team/tmp-1"}},
		{name: "only_exclusions", f: RegistryFilters{Repositories: []string{"!**/scratch"}}, in: []string{"team/app", "scratchy"}, out: []string{"team/scratch"}},
		{name: "dots_are_literal", f: RegistryFilters{Repositories: []string{"a.b"}}, in: []string{"a.b"}, out: []string{"axb"}},
		{name: "tag_regex_whole_tag", f: RegistryFilters{TagRegex: `v\d+\.\d+`}, tagsIn: []string{"v1.2", "v10.0"}, tagsOut: []string{"v1.2-rc", "xv1.2", "latest"}},
		{name: "tag_regex_alternation_anchored", f: RegistryFilters{TagRegex: `latest|stable`}, tagsIn: []string{"latest", "stable"}, tagsOut: []string{"latest-x", "unstable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.f.Compile()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.in {
				if !s.Repository(r) {
					t.Errorf("repository %q left out", r)
				}
			}
			for _, r := range tc.out {
				if s.Repository(r) {
					t.Errorf("repository %q selected", r)
				}
			}
			for _, g := range tc.tagsIn {
				if !s.Tag(g) {
					t.Errorf("tag %q left out", g)
				}
			}
			for _, g := range tc.tagsOut {
				if s.Tag(g) {
					t.Errorf("tag %q selected", g)
				}
			}
		})
	}
}

func TestFiltersRefused(t *testing.T) {
	many := make([]string, 51)
	for i := range many {
		many[i] = "a"
	}
	for _, tc := range []struct {
		name string
		f    RegistryFilters
		want string
	}{
		{"upper_case", RegistryFilters{Repositories: []string{"Team/*"}}, "filters.repositories[0]: glob \"Team/*\": repository names are lower case"},
		{"bad_character", RegistryFilters{Repositories: []string{"ok", "team/[ab]"}}, "filters.repositories[1]: glob \"team/[ab]\": character '['"},
		{"empty_glob", RegistryFilters{Repositories: []string{"!"}}, "filters.repositories[0]: empty glob"},
		{"too_many", RegistryFilters{Repositories: many}, "filters.repositories: 51 globs"},
		{"bad_regex", RegistryFilters{TagRegex: "v(1"}, "filters.tagRegex: error parsing regexp"},
		{"long_regex", RegistryFilters{TagRegex: strings.Repeat("a", 501)}, "filters.tagRegex: longer than 500"},
		{"negative_latest", RegistryFilters{LatestTags: -1}, "filters.latestTags: -1 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.f.Compile()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
