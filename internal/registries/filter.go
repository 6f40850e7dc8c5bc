package registries

import (
	"fmt"
	"regexp"
	"strings"
)

// RegistryFilters select the part of a registry's catalogue an account syncs.
type RegistryFilters struct {
	// Repositories are globs over repository names; empty selects every
	// repository. `*` matches within one path segment, `**` across
	// segments, `?` one character; a glob starting with `!` excludes what
	// it matches (team/*, !team/tmp-*).
	Repositories []string `json:"repositories" nullable:"true" maxItems:"50" doc:"Repository globs (* within a segment, ** across segments, ? one character, !glob excludes); empty: every repository"`
	// TagRegex must match a whole tag (RE2 syntax); empty selects every tag.
	TagRegex string `json:"tagRegex" maxLength:"500" doc:"A regular expression (RE2) a whole tag must match; empty: every tag"`
	// LatestTags keeps, per repository, only the N tags pushed last; 0
	// keeps every tag.
	LatestTags int `json:"latestTags" minimum:"0" maximum:"10000" doc:"Only the N tags pushed last in each repository; 0: every tag"`
}

// Limits of the filters.
const (
	maxGlobs      = 50
	maxGlobLen    = 200
	maxTagRegex   = 500
	maxLatestTags = 10_000
)

// Selector is compiled RegistryFilters.
type Selector struct {
	include, exclude []*regexp.Regexp
	tag              *regexp.Regexp
	latest           int
}

// Compile checks the filters and compiles them; each problem names the
// filter and what is wrong with it.
func (f RegistryFilters) Compile() (*Selector, error) {
	s := &Selector{latest: f.LatestTags}
	if len(f.Repositories) > maxGlobs {
		return nil, fmt.Errorf("filters.repositories: %d globs; at most %d", len(f.Repositories), maxGlobs)
	}
	for i, g := range f.Repositories {
		neg := strings.HasPrefix(g, "!")
		re, err := CompileGlob(strings.TrimPrefix(g, "!"))
		if err != nil {
			return nil, fmt.Errorf("filters.repositories[%d]: %w", i, err)
		}
		if neg {
			s.exclude = append(s.exclude, re)
		} else {
			s.include = append(s.include, re)
		}
	}
	if len(f.TagRegex) > maxTagRegex {
		return nil, fmt.Errorf("filters.tagRegex: longer than %d characters", maxTagRegex)
	}
	if f.TagRegex != "" {
		re, err := regexp.Compile(`^(?:` + f.TagRegex + `)$`)
		if err != nil {
			return nil, fmt.Errorf("filters.tagRegex: %w", err)
		}
		s.tag = re
	}
	if f.LatestTags < 0 || f.LatestTags > maxLatestTags {
		return nil, fmt.Errorf("filters.latestTags: %d out of range 0-%d", f.LatestTags, maxLatestTags)
	}
	return s, nil
}

// Repository reports whether a repository is selected.
func (s *Selector) Repository(name string) bool {
	if len(s.include) > 0 {
		ok := false
		for _, re := range s.include {
			if re.MatchString(name) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, re := range s.exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return true
}

// Tag reports whether a tag's name is selected (LatestTags applies to a
// repository's selected tags afterwards).
func (s *Selector) Tag(name string) bool { return s.tag == nil || s.tag.MatchString(name) }

// Latest is the LatestTags filter (0: every tag).
func (s *Selector) Latest() int { return s.latest }

// CompileGlob compiles a repository glob: `*` matches any run of
// characters but `/`, `**` any run including `/`, `?` one character but
// `/`; other characters are those of repository names and match
// themselves.
func CompileGlob(g string) (*regexp.Regexp, error) {
	if g == "" {
		return nil, fmt.Errorf("empty glob")
	}
	if len(g) > maxGlobLen {
		return nil, fmt.Errorf("glob longer than %d characters", maxGlobLen)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '*' && i+1 < len(g) && g[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '/', c == '-', c == '_', c == '.':
			b.WriteString(regexp.QuoteMeta(string(c)))
		case c >= 'A' && c <= 'Z':
			return nil, fmt.Errorf("glob %q: repository names are lower case", g)
		default:
			return nil, fmt.Errorf("glob %q: character %q at %d is not in repository names nor a wildcard (* ** ?)", g, c, i)
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
