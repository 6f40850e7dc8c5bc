package restapi

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// BaseURLOr is BaseURL of raw, or of def when raw is blank.
func BaseURLOr(field, raw, def string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		raw = def
	}
	return BaseURL(field, raw)
}

// List reads a comma-separated setting: its items trimmed, empty ones
// dropped. Items valid does not match are errors naming the setting
// (`projects: "Bad Name" is not a Harbor project name`), joined.
func List(field, raw string, valid *regexp.Regexp, what string) ([]string, error) {
	var items []string
	var errs []error
	for _, it := range strings.Split(raw, ",") {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		if !valid.MatchString(it) {
			errs = append(errs, fmt.Errorf("%s: %q is not %s", field, it, what))
			continue
		}
		items = append(items, it)
	}
	return items, errors.Join(errs...)
}

// User checks a username setting sent with HTTP Basic: no colon (RFC
// 7617) nor white space; not empty when required.
func User(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%s: required", field)
	case strings.ContainsAny(v, ": \t"):
		return fmt.Errorf("%s: no colons or spaces", field)
	}
	return nil
}

// hostRE is host[:port], as in an image reference.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// IsHost reports whether s is a registry host as image references name
// it: host[:port].
func IsHost(s string) bool { return hostRE.MatchString(s) }

// Time reads an RFC 3339 time of an answer, in UTC; zero when absent,
// unreadable, or the zero time some APIs write (0001-01-01T00:00:00Z).
func Time(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}
