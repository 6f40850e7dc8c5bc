package osv

import "testing"

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"GO-2020-0001","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"github.com/gin-gonic/gin"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.6.0"}]}]}]}`))
	f.Add([]byte(`{"id":"X","modified":"2023-01-01T00:00:00Z","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":["1.0"]}]}`))
	f.Add([]byte(`{"id":"X","affected":[{"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"abc","fixed":"def"}]}]}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err == nil && v.ID == "" {
			t.Fatal("valid record without id")
		}
	})
}
