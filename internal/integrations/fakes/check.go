package fakes

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// checker collects schema violations of a decoded JSON document, each
// with the path of the member at fault.
type checker struct {
	errs []string
}

func (c *checker) failf(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

func (c *checker) ok() bool { return len(c.errs) == 0 }

func (c *checker) String() string { return strings.Join(c.errs, "; ") }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object is v as a JSON object, or a violation.
func (c *checker) object(path string, v any) (map[string]any, bool) {
	o, ok := v.(map[string]any)
	if !ok {
		c.failf(path, "must be an object")
	}
	return o, ok
}

// only reports members of o not in allowed.
func (c *checker) only(path string, o map[string]any, allowed ...string) {
	for k := range o {
		if !slices.Contains(allowed, k) {
			c.failf(join(path, k), "unknown member")
		}
	}
}

// str checks o[key] is a string of at most max characters (0: no limit),
// not empty when required. It returns the value and whether it is there.
func (c *checker) str(path string, o map[string]any, key string, required bool, max int) (string, bool) {
	v, there := o[key]
	if !there || v == nil {
		if required {
			c.failf(join(path, key), "required")
		}
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		c.failf(join(path, key), "must be a string")
		return "", false
	}
	if required && s == "" {
		c.failf(join(path, key), "must not be empty")
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		c.failf(join(path, key), "must be at most %d characters, is %d", max, utf8.RuneCountInString(s))
	}
	return s, true
}

// enum checks o[key], when there, is one of values (case-insensitive when
// fold).
func (c *checker) enum(path string, o map[string]any, key string, required, fold bool, values ...string) string {
	s, ok := c.str(path, o, key, required, 0)
	if !ok {
		return ""
	}
	for _, v := range values {
		if s == v || (fold && strings.EqualFold(s, v)) {
			return v
		}
	}
	c.failf(join(path, key), "%q is not one of %s", s, strings.Join(values, ", "))
	return ""
}

func (c *checker) boolean(path string, o map[string]any, key string) {
	if v, there := o[key]; there {
		if _, ok := v.(bool); !ok {
			c.failf(join(path, key), "must be a boolean")
		}
	}
}

// array checks o[key] is an array of between min and max items (max 0:
// no limit).
func (c *checker) array(path string, o map[string]any, key string, required bool, min, max int) ([]any, bool) {
	v, there := o[key]
	if !there || v == nil {
		if required {
			c.failf(join(path, key), "required")
		}
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		c.failf(join(path, key), "must be an array")
		return nil, false
	}
	if len(a) < min {
		c.failf(join(path, key), "must have at least %d items, has %d", min, len(a))
	}
	if max > 0 && len(a) > max {
		c.failf(join(path, key), "must have at most %d items, has %d", max, len(a))
	}
	return a, true
}

// absURL checks o[key] is an absolute http(s) URL of at most max
// characters.
func (c *checker) absURL(path string, o map[string]any, key string, required bool, max int) {
	s, ok := c.str(path, o, key, required, max)
	if !ok || s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		c.failf(join(path, key), "%q is not an absolute http(s) URL", s)
	}
}

func item(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
