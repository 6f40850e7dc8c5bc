package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Decoder decodes one document read through a Reader: whole values with
// Decode (each at most MaxElement significant bytes), or member by member
// with Object and Array, so that a caller counts and handles the elements
// of a large array one at a time.
type Decoder struct {
	r   *Reader
	dec *json.Decoder
}

// NewDecoder returns a Decoder of the document src holds, within lim.
func NewDecoder(src io.Reader, lim Limits) *Decoder {
	r := NewReader(src, lim)
	return &Decoder{r: r, dec: json.NewDecoder(r)}
}

// Release returns the Decoder's buffer for reuse (Reader.Release); the
// Decoder must not be used afterwards.
func (d *Decoder) Release() { d.r.Release() }

// Reader is the Decoder's Reader (its counters).
func (d *Decoder) Reader() *Reader { return d.r }

// DisallowUnknownFields makes Decode refuse object members that no field
// of the destination struct takes.
func (d *Decoder) DisallowUnknownFields() { d.dec.DisallowUnknownFields() }

// Offset is the significant byte the decoder has reached.
func (d *Decoder) Offset() int64 { return d.dec.InputOffset() }

// mark bounds what the next step may read to MaxElement bytes from here.
func (d *Decoder) mark() {
	if d.r.lim.MaxElement > 0 {
		d.r.window = d.dec.InputOffset() + d.r.lim.MaxElement
	}
}

// Decode reads the next value into v (encoding/json rules).
func (d *Decoder) Decode(v any) error {
	d.mark()
	return d.dec.Decode(v)
}

// Token returns the next token (encoding/json's Decoder.Token).
func (d *Decoder) Token() (json.Token, error) {
	d.mark()
	return d.dec.Token()
}

// TypeError is a value of another kind than the one wanted.
type TypeError struct {
	Want   string // "an object", "an array"
	Found  string
	Offset int64 // significant byte
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("want %s, found %s (at byte %d without whitespace)", e.Want, e.Found, e.Offset)
}

func describe(t json.Token) string {
	switch t := t.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// open reads the next token, which must open a container (delim) or be
// null (false returned).
func (d *Decoder) open(delim json.Delim, want string) (bool, error) {
	at := d.dec.InputOffset()
	t, err := d.Token()
	if err != nil {
		return false, err
	}
	if t == nil {
		return false, nil
	}
	if t != delim {
		return false, &TypeError{Want: want, Found: describe(t), Offset: at}
	}
	return true, nil
}

// Object reads an object member by member: fn gets each key and must read
// its value (Decode, Object, Array or Skip). A null is an object without
// members.
func (d *Decoder) Object(fn func(key string) error) error {
	_, err := d.object(fn, nil)
	return err
}

// object is Object that tells a null (false) from an object; opened, when
// not nil, is called when an object opens, before its members.
func (d *Decoder) object(fn func(key string) error, opened func()) (bool, error) {
	ok, err := d.open('{', "an object")
	if !ok || err != nil {
		return false, err
	}
	if opened != nil {
		opened()
	}
	for {
		d.mark()
		if !d.dec.More() {
			break
		}
		t, err := d.Token()
		if err != nil {
			return true, err
		}
		if err := fn(t.(string)); err != nil {
			return true, err
		}
	}
	_, err = d.Token() // '}'
	return true, err
}

// Array reads an array element by element: fn must read each element
// (Decode, Object, Array or Skip). A null is an empty array.
func (d *Decoder) Array(fn func() error) error {
	_, err := d.array(fn)
	return err
}

// array is Array that tells a null (false) from an array.
func (d *Decoder) array(fn func() error) (bool, error) {
	ok, err := d.open('[', "an array")
	if !ok || err != nil {
		return false, err
	}
	for {
		d.mark()
		if !d.dec.More() {
			break
		}
		if err := fn(); err != nil {
			return true, err
		}
	}
	_, err = d.Token() // ']'
	return true, err
}

// Skip reads the next value and forgets it, one token at a time.
func (d *Decoder) Skip() error {
	depth := 0
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		if delim, ok := t.(json.Delim); ok {
			if delim == '{' || delim == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// ErrTrailingData is a document followed by more than whitespace.
var ErrTrailingData = errors.New("trailing data after the JSON document")

// End reads to the source's end: only whitespace may follow the document.
func (d *Decoder) End() error {
	d.mark()
	_, err := d.dec.Token()
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return ErrTrailingData
	}
	var se *SyntaxError
	if errors.As(err, &se) && se.Msg != "unexpected end of JSON input" {
		return fmt.Errorf("%w (%v)", ErrTrailingData, err)
	}
	return err
}

// Unmarshal decodes the one document data holds into v, within lim.
func Unmarshal(data []byte, v any, lim Limits) error {
	d := NewDecoder(bytes.NewReader(data), lim)
	defer d.Release()
	if err := d.Decode(v); err != nil {
		return err
	}
	return d.End()
}
