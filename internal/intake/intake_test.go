package intake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// measures are a valid document's sizes, computed the plain way: a
// reference for the Reader's counters.
type measures struct {
	depth, maxString     int
	values, bytes, items int64 // items: of the longest array
}

func measure(data []byte) measures {
	var m measures
	depth, str := 0, 0
	inStr, esc := false, false
	for _, c := range data {
		if inStr {
			m.bytes++
			str++
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				m.maxString = max(m.maxString, str)
			}
			continue
		}
		if isSpace(c) {
			continue
		}
		m.bytes++
		switch c {
		case '"':
			inStr, str = true, 1
		case '{', '[':
			depth++
			m.depth = max(m.depth, depth)
		case '}', ']':
			depth--
		}
	}
	m.values, m.items = countValues(data)
	return m
}

// countValues counts values with encoding/json's tokens (every token but
// object keys and closing delimiters) and the elements of the longest
// array.
func countValues(data []byte) (n, longest int64) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var isObj, wantKey []bool
	var items []int64
	for {
		t, err := dec.Token()
		if err != nil {
			return n, longest
		}
		if d, ok := t.(json.Delim); ok && (d == '}' || d == ']') {
			isObj, wantKey = isObj[:len(isObj)-1], wantKey[:len(wantKey)-1]
			items = items[:len(items)-1]
			continue
		}
		if i := len(isObj) - 1; i >= 0 && !isObj[i] {
			items[i]++
			longest = max(longest, items[i])
		}
		if i := len(isObj) - 1; i >= 0 && isObj[i] {
			if wantKey[i] {
				wantKey[i] = false
				continue // a key
			}
			wantKey[i] = true
		}
		n++
		if d, ok := t.(json.Delim); ok {
			isObj, wantKey = append(isObj, d == '{'), append(wantKey, d == '{')
			items = append(items, 0)
		}
	}
}

func compact(t *testing.T, doc string, lim Limits) (string, error) {
	t.Helper()
	b, err := io.ReadAll(NewReader(strings.NewReader(doc), lim))
	return string(b), err
}

func TestReaderCompacts(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"object", " { \"a\" : [ 1 , 2.5e-3 , true , null ] ,\n\t\"b\" : \"x y\\n\\\" \" } \n", `{"a":[1,2.5e-3,true,null],"b":"x y\n\" "}`},
		{"number", " -0.5 ", "-0.5"},
		{"bare_number", "12", "12"},
		{"string_with_unicode", `"\u00e9 é"`, `"\u00e9 é"`},
		{"empty_containers", "[ { } , [ ] ]", "[{},[]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compact(t, tc.in, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		lim      Limits
		limit    string // "" for a syntax error
	}{
		{"numbers_split_by_space", "[1 2]", Limits{}, ""},
		{"literal_split", "tr ue", Limits{}, ""},
		{"two_documents", "{} {}", Limits{}, ""},
		{"control_in_string", "\"a\x01\"", Limits{}, ""},
		{"bad_escape", `"\x"`, Limits{}, ""},
		{"truncated", `{"a":`, Limits{}, ""},
		{"leading_zero", "01", Limits{}, ""},
		{"missing_colon", `{"a" 1}`, Limits{}, ""},
		{"mismatched_close", `[}`, Limits{}, ""},
		{"depth", strings.Repeat("[", 5) + strings.Repeat("]", 5), Limits{MaxDepth: 4}, "MaxDepth"},
		{"string", `["abcdefgh"]`, Limits{MaxString: 8}, "MaxString"},
		{"key", `{"abcdefgh":1}`, Limits{MaxString: 8}, "MaxString"},
		{"values", `[1,2,3,4]`, Limits{MaxValues: 4}, "MaxValues"},
		{"items", `[[1,2],[1,2,3]]`, Limits{MaxItems: 2}, "MaxItems"},
		{"bytes", `[1, 2, 3]`, Limits{MaxBytes: 6}, "MaxBytes"},
		{"input", `[1,        2]`, Limits{MaxInput: 8}, "MaxInput"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compact(t, tc.in, tc.lim)
			var le *LimitError
			var se *SyntaxError
			switch {
			case tc.limit == "" && !errors.As(err, &se):
				t.Fatalf("err = %v, want a syntax error", err)
			case tc.limit != "" && (!errors.As(err, &le) || le.Limit != tc.limit || !errors.Is(err, ErrLimit)):
				t.Fatalf("err = %v, want the %s limit", err, tc.limit)
			case tc.limit != "" && !strings.Contains(err.Error(), tc.limit):
				t.Fatalf("err = %v does not name %s", err, tc.limit)
			}
		})
	}
}

func TestLimitsAreInclusive(t *testing.T) {
	doc := `{"ab":[1,"xy",{}]}`
	m := measure([]byte(doc))
	lim := Limits{MaxDepth: m.depth, MaxString: m.maxString, MaxValues: m.values, MaxItems: m.items, MaxBytes: m.bytes, MaxInput: int64(len(doc))}
	if got, err := compact(t, doc, lim); err != nil || got != doc {
		t.Fatalf("at its own measures: %q, %v", got, err)
	}
}

// TestWhitespaceBomb: half a gigabyte of padding around a small document
// passes on the document alone, and the input limit stops it.
func TestWhitespaceBomb(t *testing.T) {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write([]byte(`{"a":`))
	pad := bytes.Repeat([]byte(" "), 1<<20)
	for range 64 {
		zw.Write(pad)
	}
	zw.Write([]byte(`1}`))
	zw.Close()
	zr, _ := gzip.NewReader(bytes.NewReader(gz.Bytes()))
	var v map[string]int
	d := NewDecoder(zr, Limits{MaxInput: 128 << 20})
	if err := d.Decode(&v); err != nil || v["a"] != 1 {
		t.Fatalf("v = %v, err = %v", v, err)
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
	if d.Reader().Bytes() != 7 {
		t.Errorf("passed on %d bytes, want 7", d.Reader().Bytes())
	}
	zr, _ = gzip.NewReader(bytes.NewReader(gz.Bytes()))
	err := NewDecoder(zr, Limits{MaxInput: 16 << 20}).Decode(&v)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxInput") {
		t.Fatalf("err = %v, want MaxInput", err)
	}
}

func TestDecoderWalks(t *testing.T) {
	doc := `{"name":"x","items":[{"n":1},{"n":2},null,{"n":3}],"skip":{"deep":[1,[2]]},"none":null}`
	d := NewDecoder(strings.NewReader(doc), Limits{MaxElement: 64})
	var name string
	var ns []int
	err := d.Object(func(key string) error {
		switch key {
		case "name":
			return d.Decode(&name)
		case "items":
			return d.Array(func() error {
				var it struct{ N int }
				if err := d.Decode(&it); err != nil {
					return err
				}
				ns = append(ns, it.N)
				return nil
			})
		case "none":
			return d.Array(func() error { t.Fatal("element of null"); return nil })
		}
		return d.Skip()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 0, 3}, ns); name != "x" || diff != "" {
		t.Errorf("name %q, items diff (-want +got):\n%s", name, diff)
	}
}

func TestDecoderElementLimit(t *testing.T) {
	doc := `[{"a":"` + strings.Repeat("x", 100) + `"},{"a":"y"}]`
	d := NewDecoder(strings.NewReader(doc), Limits{MaxElement: 50})
	err := d.Array(func() error { var v map[string]string; return d.Decode(&v) })
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "MaxElement" {
		t.Fatalf("err = %v, want MaxElement", err)
	}
	// Many small elements pass the same bound one at a time.
	doc = "[" + strings.Repeat(`{"a":"y"},`, 1000) + `{"a":"y"}]`
	d = NewDecoder(strings.NewReader(doc), Limits{MaxElement: 50})
	n := 0
	if err := d.Array(func() error { n++; var v map[string]string; return d.Decode(&v) }); err != nil || n != 1001 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
}

func TestDecoderTypeErrors(t *testing.T) {
	d := NewDecoder(strings.NewReader(`[1]`), Limits{})
	err := d.Object(func(string) error { return nil })
	var te *TypeError
	if !errors.As(err, &te) || te.Want != "an object" || te.Found != "an array" {
		t.Fatalf("err = %v", err)
	}
	if err := Unmarshal([]byte(`{} x`), new(any), Limits{}); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("trailing: %v", err)
	}
	if err := Unmarshal([]byte(`  `), new(any), Limits{}); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
}

func BenchmarkWhitespace(b *testing.B) {
	data := []byte(`{"a":` + strings.Repeat(" ", 1<<20) + `1}`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		io.Copy(io.Discard, NewReader(bytes.NewReader(data), Limits{}))
	}
}

func BenchmarkStrings(b *testing.B) {
	data := []byte("[" + strings.Repeat(`"pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64",`, 20000) + "1]")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		io.Copy(io.Discard, NewReader(bytes.NewReader(data), Limits{}))
	}
}

func TestDecodeStruct(t *testing.T) {
	type item struct {
		N int `json:"n"`
	}
	type inner struct {
		Items []item `json:"items,omitempty"`
		Tags  []string
	}
	type doc struct {
		Name  string         `json:"name"`
		In    *inner         `json:"in"`
		Plain inner          `json:"plain"`
		M     map[string]int `json:"m"`
		Skip  string         `json:"-"`
	}
	src := `{"name":"a","IN":{"items":[{"n":1},{"n":2}],"Tags":["x"]},"plain":{"items":[{"n":3}]},"m":{"k":1}}`
	var want, got doc
	if err := json.Unmarshal([]byte(src), &want); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(strings.NewReader(src), Limits{MaxElement: 16})
	if err := d.DecodeStruct(&got, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-encoding/json +DecodeStruct):\n%s", diff)
	}
	err := NewDecoder(strings.NewReader(`{"name":"a","more":[1,2]}`), Limits{}).DecodeStruct(&got, true)
	if err == nil || !strings.Contains(err.Error(), `unknown field "more"`) {
		t.Fatalf("strict: %v", err)
	}
	if err := NewDecoder(strings.NewReader(`{"name":"a","more":[1,{"x":[2]}]}`), Limits{}).DecodeStruct(&got, false); err != nil {
		t.Fatalf("lenient: %v", err)
	}
}

func TestRecords(t *testing.T) {
	ok := "a,b\n\"x\ny\",2\n" + strings.Repeat("c", 10) + "\n"
	if b, err := io.ReadAll(Records(strings.NewReader(ok), 10)); err != nil || string(b) != ok {
		t.Fatalf("%q, %v", b, err)
	}
	_, err := io.ReadAll(Records(strings.NewReader("a\n\"b\nccccccccc\"\n"), 10))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxRecord") {
		t.Fatalf("quoted newlines: %v", err)
	}
}

func TestRatio(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("[" + strings.Repeat(`{"a":1},`, 100_000) + "1]"))
	zw.Close()
	packed := &countingReader{r: bytes.NewReader(gz.Bytes())}
	zr, _ := gzip.NewReader(packed)
	_, err := io.ReadAll(NewReader(zr, Limits{MaxRatio: 100, RatioFree: 64 << 10, Packed: func() int64 { return packed.n }}))
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "MaxRatio" || le.Offset > 200<<10 {
		t.Fatalf("err = %v, want MaxRatio soon after 64 KiB", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
