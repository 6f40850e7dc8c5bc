package console

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type esLeaf struct {
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

type esTree struct {
	Name     string          `json:"name"`
	Leaves   []esLeaf        `json:"leaves"`
	Ptrs     []*esLeaf       `json:"ptrs"`
	Omitted  []string        `json:"omitted,omitempty"`
	Raw      json.RawMessage `json:"raw"`
	Bytes    []byte          `json:"bytes"`
	When     time.Time       `json:"when"`
	Any      any             `json:"any"`
	Children []*esTree       `json:"children"`
	Hidden   []string        `json:"-"`
	private  []string
}

func TestEmptySlices(t *testing.T) {
	shared := &esLeaf{}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil_slices_and_maps", esTree{Name: "a"}, `{"name":"a","leaves":[],"ptrs":[],"raw":null,"bytes":null,"when":"0001-01-01T00:00:00Z","any":null,"children":[]}`},
		{"nested_through_pointers", &esTree{Ptrs: []*esLeaf{shared, nil}, Leaves: []esLeaf{{Tags: []string{"x"}}}, Any: []int(nil), Children: []*esTree{{}}},
			`{"name":"","leaves":[{"tags":["x"],"attrs":{}}],"ptrs":[{"tags":[],"attrs":{}},null],"raw":null,"bytes":null,"when":"0001-01-01T00:00:00Z","any":[],"children":[{"name":"","leaves":[],"ptrs":[],"raw":null,"bytes":null,"when":"0001-01-01T00:00:00Z","any":null,"children":[]}]}`},
		{"top_level_slice", []esLeaf(nil), `[]`},
		{"unexported_kept", esTree{private: []string{"p"}, Leaves: []esLeaf{}, Ptrs: []*esLeaf{}, Children: []*esTree{}}, `{"name":"","leaves":[],"ptrs":[],"raw":null,"bytes":null,"when":"0001-01-01T00:00:00Z","any":null,"children":[]}`},
		{"map_values", map[string][]string{"a": nil}, `{"a":[]}`},
		{"nothing_to_fill", []string{"a"}, `["a"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.in)
			out, err := emptySlices(nil, "200", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("encoded (-want +got):\n%s", diff)
			}
			if after, _ := json.Marshal(tc.in); string(after) != string(before) {
				t.Errorf("the input changed: %s, was %s", after, before)
			}
		})
	}
	if shared.Tags != nil || shared.Attrs != nil {
		t.Errorf("a shared value was written: %+v", shared)
	}
}

// BenchmarkEmptySlices measures the transformer on a graph-sized body:
// 5,000 nodes, each with a nil slice.
func BenchmarkEmptySlices(b *testing.B) {
	body := esTree{Ptrs: make([]*esLeaf, 5000)}
	for i := range body.Ptrs {
		body.Ptrs[i] = &esLeaf{Attrs: map[string]string{"k": "v"}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := emptySlices(nil, "200", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmptySlicesFull is the same body with nothing to fill.
func BenchmarkEmptySlicesFull(b *testing.B) {
	body := esTree{Ptrs: make([]*esLeaf, 5000), Leaves: []esLeaf{}, Children: []*esTree{}}
	for i := range body.Ptrs {
		body.Ptrs[i] = &esLeaf{Tags: []string{"t"}, Attrs: map[string]string{"k": "v"}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := emptySlices(nil, "200", body); err != nil {
			b.Fatal(err)
		}
	}
}
