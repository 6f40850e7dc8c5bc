package console_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskmap/riskmap/internal/console"
	"github.com/riskmap/riskmap/internal/store"
)

// FuzzAuditQuery decodes arbitrary query strings as the audit log's
// filter: never a panic; what is accepted respects the limits, has since
// before until, and, written back as a query, decodes to the same filter.
func FuzzAuditQuery(f *testing.F) {
	for _, seed := range []string{
		"", "action=scan.&actor=ada@example.com&target=nightly&since=2026-12-01&until=2026-12-02T10:00:00.5%2B02:00",
		"since=2026-12-02&until=2026-12-01", "since=yesterday", "actor=a&actor=b", "target=%25_%5C", "until=9999-12-31T23:59:59.999999999Z",
		"since=1969-12-31T23:59:59Z", "since=2026-02-30", "action=%00%FF", "format=csv&target=+x+",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := console.ParseAuditQuery(v)
		if err != nil {
			return
		}
		flt, err := q.Filter()
		if err != nil {
			return
		}
		if len(q.Action) > 100 || len(q.Actor) > 254 || len(q.Target) > 200 || len(q.Since) > 40 || len(q.Until) > 40 {
			t.Fatalf("accepted over the limits: %+v", q)
		}
		if !flt.Since.IsZero() && !flt.Until.IsZero() && !flt.Since.Before(flt.Until) {
			t.Fatalf("accepted since %s not before until %s", flt.Since, flt.Until)
		}
		for _, tm := range []time.Time{flt.Since, flt.Until} {
			if !tm.IsZero() && (tm.Location() != time.UTC || !tm.Equal(tm.Truncate(time.Millisecond))) {
				t.Fatalf("time %s is not UTC to the millisecond", tm)
			}
		}
		again := url.Values{}
		set := func(k, s string) {
			if s != "" {
				again.Set(k, s)
			}
		}
		set("action", flt.ActionPrefix)
		set("actor", flt.Actor)
		set("target", flt.Target)
		if !flt.Since.IsZero() {
			set("since", flt.Since.Format(time.RFC3339Nano))
		}
		if !flt.Until.IsZero() {
			set("until", flt.Until.Format(time.RFC3339Nano))
		}
		q2, err := console.ParseAuditQuery(again)
		if err != nil {
			t.Fatalf("%q decoded to %+v, which does not decode again: %v", raw, flt, err)
		}
		flt2, err := q2.Filter()
		if err != nil {
			t.Fatalf("%q decoded to %+v, which does not check again: %v", raw, flt, err)
		}
		if diff := cmp.Diff(flt, flt2, cmp.Comparer(func(a, b store.AuditFilter) bool {
			return a.ActionPrefix == b.ActionPrefix && a.Actor == b.Actor && a.Target == b.Target && a.Since.Equal(b.Since) && a.Until.Equal(b.Until)
		})); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", raw, diff)
		}
	})
}
