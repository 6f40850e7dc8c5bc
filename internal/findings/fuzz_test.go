package findings

import "testing"

// FuzzFindingsQuery checks the findings query decoder (severity list,
// cursor) never panics and only lets known severities through.
func FuzzFindingsQuery(f *testing.F) {
	f.Add("critical,high", "100", "risk")
	f.Add("bogus", "-1", "")
	f.Add(",,,", "x", "vuln")
	f.Fuzz(func(t *testing.T, sev, cursor, sort string) {
		in := Query{Severity: []string{sev}, Cursor: cursor, Sort: sort}
		ff, err := in.Filter()
		if err != nil {
			return
		}
		for _, s := range ff.Severity {
			switch s {
			case "critical", "high", "medium", "low", "unknown":
			default:
				t.Fatalf("severity %q accepted", s)
			}
		}
		if ff.Offset < 0 {
			t.Fatalf("negative offset %d", ff.Offset)
		}
	})
}
