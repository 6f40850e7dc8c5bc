package osv

import "testing"

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not_json", `{`},
		{"missing_id", `{"modified":"2023-01-01T00:00:00Z"}`},
		{"unknown_range_type", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"FOO","events":[{"introduced":"0"}]}]}]}`},
		{"two_kinds_in_event", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`},
		{"package_without_name", `{"id":"A","affected":[{"package":{"ecosystem":"Go"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in)); err == nil {
				t.Fatal("Parse succeeded, want error")
			}
		})
	}
}
