package intake

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzReader compares Unmarshal through a Reader with encoding/json on the
// same bytes: a document json refuses is refused; one it accepts gives the
// same value, unless a limit was passed, and then the limit named is one
// the document really passes.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5e-3,true,null,"x\"y\u00e9"],"b":{}}`, ` [ 1 , 2 ] `, `"\ud800"`, `-0`, `1e5`, `[1 2]`, `{"a" 1}`,
		`[[[[[[[[[[]]]]]]]]]]`, `{"a":"` + "\xff\xfe" + `"}`, `tr ue`, `{} {}`, `[-]`, `0.`, `01`, "[\"\t\"]",
	} {
		f.Add([]byte(s), uint8(5), uint8(8), uint8(10), uint16(40), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, depth, str, values uint8, bytes uint16, items uint8) {
		lim := Limits{MaxDepth: int(depth), MaxString: int(str), MaxValues: int64(values), MaxBytes: int64(bytes), MaxItems: int64(items)}
		var want, got any
		werr := json.Unmarshal(data, &want)
		gerr := Unmarshal(data, &got, lim)
		if werr != nil {
			if gerr == nil {
				t.Fatalf("accepted what encoding/json refuses (%v): %q → %#v", werr, data, got)
			}
			return
		}
		if gerr == nil {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%q: values differ (-json +intake):\n%s", data, diff)
			}
			return
		}
		var le *LimitError
		if !errors.As(gerr, &le) {
			t.Fatalf("%q: encoding/json accepts it, intake refuses it without a limit: %v", data, gerr)
		}
		m := measure(data)
		var over bool
		switch le.Limit {
		case "MaxDepth":
			over = lim.MaxDepth > 0 && m.depth > lim.MaxDepth
		case "MaxString":
			over = lim.MaxString > 0 && m.maxString > lim.MaxString
		case "MaxValues":
			over = lim.MaxValues > 0 && m.values > lim.MaxValues
		case "MaxBytes":
			over = lim.MaxBytes > 0 && m.bytes > lim.MaxBytes
		case "MaxItems":
			over = lim.MaxItems > 0 && m.items > lim.MaxItems
		}
		if !over {
			t.Fatalf("%q: refused for %s but within it (%+v, limits %+v)", data, gerr, m, lim)
		}
	})
}
