// Package intake reads JSON documents from outside callers (request bodies,
// uploaded feed records) at a cost bounded by limits instead of by what the
// caller sends. Its Reader sits between a decompressor and encoding/json: it
// tokenizes the stream as it arrives, validates its grammar, drops the
// whitespace outside strings (so padding costs nothing downstream: Go's
// json.Decoder keeps whitespace in its buffer) and fails, with an error that
// names the limit, as soon as the input, the significant bytes, the nesting
// depth, one string or the number of values passes its bound. Its Decoder
// walks objects and arrays member by member (Object, Array), so a caller
// counts elements before buffering them and decodes one element at a time,
// each bounded by MaxElement. Records does the same for the records of
// outside CSV files.
//
// No library we use does this: encoding/json and its v2 draft keep a fixed
// nesting bound (10,000) and no others, and the faster decoders (goccy,
// json-iterator, fastjson) buffer the whole document.
package intake

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Limits bound what a Reader passes on; a zero field is no limit.
type Limits struct {
	// MaxInput bounds the bytes read from the source, whitespace included:
	// the work of reading (decompressing) a body.
	MaxInput int64
	// MaxBytes bounds the significant bytes: the document without the
	// whitespace outside its strings.
	MaxBytes int64
	// MaxDepth bounds the nesting of arrays and objects.
	MaxDepth int
	// MaxString bounds one string (a key or a value) as written, quotes and
	// escapes included.
	MaxString int
	// MaxValues bounds the values: objects, arrays, strings, numbers, true,
	// false and null (object keys are not values).
	MaxValues int64
	// MaxItems bounds the elements of any one array.
	MaxItems int64
	// MaxElement bounds the significant bytes of one value a Decoder reads
	// whole (Decode): what encoding/json buffers at once.
	MaxElement int64
	// MaxRatio bounds the significant bytes per byte of Packed, the
	// compressed input read so far, once more than RatioFree significant
	// bytes have passed: a compression bomb is refused early, whatever its
	// shape (real JSON compresses 5 to 30 times; a bomb of repeated small
	// objects a thousand times).
	MaxRatio  int64
	RatioFree int64
	Packed    func() int64
}

// ErrLimit is wrapped by every LimitError.
var ErrLimit = errors.New("JSON limit exceeded")

// LimitError is a document over one of its Limits.
type LimitError struct {
	// Limit is the Limits field that was passed ("MaxDepth").
	Limit string
	// Max is its value.
	Max int64
	// Offset is the input byte at which it was passed.
	Offset int64
}

var limitWhat = map[string]string{
	"MaxInput":   "more than %d bytes of input",
	"MaxBytes":   "more than %d bytes without whitespace",
	"MaxDepth":   "nested deeper than %d",
	"MaxString":  "a string longer than %d bytes",
	"MaxValues":  "more than %d values",
	"MaxItems":   "more than %d elements in one array",
	"MaxElement": "one element larger than %d bytes",
	"MaxRecord":  "a CSV record longer than %d bytes",
	"MaxRatio":   "more than %d significant bytes per compressed byte",
}

func (e *LimitError) Error() string {
	what := fmt.Sprintf(limitWhat[e.Limit], e.Max)
	return fmt.Sprintf("JSON with %s (limit %s, at input byte %d)", what, e.Limit, e.Offset)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// SyntaxError is input that is not one JSON document.
type SyntaxError struct {
	Msg    string
	Offset int64 // input byte
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at input byte %d: %s", e.Offset, e.Msg)
}

type state uint8

const (
	stValue      state = iota // a value (document start, after ':' or after ',' in an array)
	stValueOrEnd              // after '[': a value or ']'
	stKeyOrEnd                // after '{': a key or '}'
	stKey                     // after ',' in an object: a key
	stColon                   // after a key
	stAfterValue              // after a value in a container: ',' or its close
	stDone                    // after the document: whitespace only
	stString                  // in a string
	stEscape                  // after '\' in a string
	stHex                     // in the four digits of \u
	stLiteral                 // in true, false or null
	stNumMinus                // after '-'
	stNumZero                 // after a leading 0
	stNumInt                  // in the integer digits
	stNumDot                  // after '.'
	stNumFrac                 // in the fraction digits
	stNumE                    // after 'e'
	stNumESign                // after the exponent's sign
	stNumExp                  // in the exponent digits
)

// Reader passes on one JSON document from a source, without the whitespace
// outside its strings, and fails at the first grammar error or limit.
// After the document only whitespace may follow; Read returns io.EOF at the
// source's end (and at once for a source holding no document at all).
type Reader struct {
	src    io.Reader
	lim    Limits
	buf    []byte
	r, w   int
	read   int64 // bytes read from src
	in     int64 // input bytes processed
	out    int64 // bytes passed on
	values int64
	stack  []byte  // open containers: '{' or '['
	items  []int64 // elements so far of each open container
	st     state
	str    int    // bytes of the current string so far
	key    bool   // the current string is a key
	lit    string // rest of the literal being matched
	hex    int    // \u digits still to come
	err    error  // sticky
	window int64  // out may not pass it (MaxElement); 0: none
	// blocked: scan stopped at the window; more is an element over
	// MaxElement only when the consumer asks for it.
	blocked bool
}

// Counter counts the bytes read through it: the Packed of a Limits.
type Counter struct {
	R io.Reader
	N int64
}

func (c *Counter) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// Count is the bytes read so far.
func (c *Counter) Count() int64 { return c.N }

// NewReader returns a Reader of src within lim.
func NewReader(src io.Reader, lim Limits) *Reader {
	buf, _ := readBufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, 32<<10)
		buf = &b
	}
	return &Reader{src: src, lim: lim, buf: *buf}
}

// readBufs are the Readers' buffers, returned by Release.
var readBufs sync.Pool

// Release returns the Reader's buffer for reuse; the Reader must not be
// used afterwards. Calling it is optional (a busy decoder of many small
// documents, such as the console's report intake, saves 32 KiB each).
func (r *Reader) Release() {
	if r.buf != nil {
		b := r.buf
		r.buf, r.src = nil, nil
		r.err = errReleased
		readBufs.Put(&b)
	}
}

var errReleased = errors.New("intake: reader released")

// InputBytes is the number of bytes read from the source so far.
func (r *Reader) InputBytes() int64 { return r.read }

// Bytes is the number of significant bytes passed on so far.
func (r *Reader) Bytes() int64 { return r.out }

// Values is the number of values begun so far.
func (r *Reader) Values() int64 { return r.values }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.err == nil {
		if r.r == r.w {
			if n > 0 {
				break
			}
			r.fill()
			continue
		}
		r.blocked = false
		n += r.scan(p[n:])
		if r.blocked {
			if n == 0 {
				r.fail("MaxElement", r.lim.MaxElement, r.in)
			}
			break
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// fill reads more input, or ends the document at the source's end.
func (r *Reader) fill() {
	want := len(r.buf)
	if r.lim.MaxInput > 0 {
		if left := r.lim.MaxInput + 1 - r.read; left < int64(want) {
			want = int(max(left, 1))
		}
	}
	var n int
	var err error
	for n == 0 && err == nil {
		n, err = r.src.Read(r.buf[:want])
	}
	r.r, r.w = 0, n
	r.read += int64(n)
	if r.lim.MaxInput > 0 && r.read > r.lim.MaxInput {
		r.w = n - int(r.read-r.lim.MaxInput)
		r.fail("MaxInput", r.lim.MaxInput, r.lim.MaxInput)
		return
	}
	if n > 0 {
		return
	}
	if !errors.Is(err, io.EOF) {
		r.err = err
		return
	}
	switch {
	case r.st == stDone:
		r.err = io.EOF
	case r.st == stValue && len(r.stack) == 0 && r.values == 0:
		r.err = io.EOF // nothing but whitespace: no document
	case len(r.stack) == 0 && (r.st == stNumZero || r.st == stNumInt || r.st == stNumFrac || r.st == stNumExp):
		r.st = stDone // a number is the document
		r.err = io.EOF
	default:
		r.err = &SyntaxError{"unexpected end of JSON input", r.in}
	}
}

func (r *Reader) fail(limit string, max, at int64) {
	r.err = &LimitError{Limit: limit, Max: max, Offset: at}
}

func (r *Reader) syntax(c byte, context string) {
	r.err = &SyntaxError{fmt.Sprintf("invalid character %q %s", c, context), r.in}
}

// room reports whether k more bytes may be passed on.
func (r *Reader) room(k int) bool {
	if r.lim.MaxBytes > 0 && r.out+int64(k) > r.lim.MaxBytes {
		r.fail("MaxBytes", r.lim.MaxBytes, r.in)
		return false
	}
	if r.window > 0 && r.out+int64(k) > r.window {
		r.blocked = true
		return false
	}
	if l := &r.lim; l.MaxRatio > 0 && l.Packed != nil && r.out+int64(k) > l.RatioFree &&
		r.out+int64(k) > l.MaxRatio*max(l.Packed(), 1) {
		r.fail("MaxRatio", l.MaxRatio, r.in)
		return false
	}
	return true
}

// begin counts a value starting at the current byte.
func (r *Reader) begin() bool {
	r.values++
	if r.lim.MaxValues > 0 && r.values > r.lim.MaxValues {
		r.fail("MaxValues", r.lim.MaxValues, r.in)
		return false
	}
	if n := len(r.stack); n > 0 && r.stack[n-1] == '[' {
		r.items[n-1]++
		if r.lim.MaxItems > 0 && r.items[n-1] > r.lim.MaxItems {
			r.fail("MaxItems", r.lim.MaxItems, r.in)
			return false
		}
	}
	return true
}

// pop closes the innermost container.
func (r *Reader) pop() {
	r.stack = r.stack[:len(r.stack)-1]
	r.items = r.items[:len(r.items)-1]
}

// end moves past a complete value.
func (r *Reader) end() {
	if len(r.stack) == 0 {
		r.st = stDone
	} else {
		r.st = stAfterValue
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scan processes buffered input into p until either runs out or an error.
func (r *Reader) scan(p []byte) int {
	n := 0
	for r.r < r.w && n < len(p) && r.err == nil {
		c := r.buf[r.r]
		switch r.st {
		case stString:
			// The common case: a run of plain bytes.
			in := r.buf[r.r:r.w]
			j := 0
			for j < len(in) && j < len(p)-n && in[j] != '"' && in[j] != '\\' && in[j] >= 0x20 {
				j++
			}
			if r.window > 0 && int64(j) > r.window-r.out {
				j = int(max(r.window-r.out, 0))
				if j == 0 {
					r.blocked = true
					return n
				}
			}
			if j > 0 {
				if r.lim.MaxString > 0 && r.str+j > r.lim.MaxString {
					r.fail("MaxString", int64(r.lim.MaxString), r.in+int64(r.lim.MaxString-r.str))
					return n
				}
				if !r.room(j) {
					return n
				}
				copy(p[n:], in[:j])
				n += j
				r.out += int64(j)
				r.str += j
				r.r += j
				r.in += int64(j)
				continue
			}
			if c < 0x20 {
				r.syntax(c, "in string literal")
				return n
			}
			if !r.room(1) {
				return n
			}
			switch {
			case c == '"':
				if r.key {
					r.st = stColon
				} else {
					r.end()
				}
			case c == '\\':
				r.st = stEscape
			}
			if !r.strByte() {
				return n
			}
			n += r.pass(p[n:], c)
		case stEscape:
			if !r.room(1) {
				return n
			}
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.st = stString
			case 'u':
				r.st, r.hex = stHex, 4
			default:
				r.syntax(c, "in string escape code")
				return n
			}
			if !r.strByte() {
				return n
			}
			n += r.pass(p[n:], c)
		case stHex:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				r.syntax(c, "in \\u hexadecimal character escape")
				return n
			}
			if !r.room(1) {
				return n
			}
			if r.hex--; r.hex == 0 {
				r.st = stString
			}
			if !r.strByte() {
				return n
			}
			n += r.pass(p[n:], c)
		case stLiteral:
			if c != r.lit[0] {
				r.syntax(c, "in literal")
				return n
			}
			if !r.room(1) {
				return n
			}
			r.lit = r.lit[1:]
			if r.lit == "" {
				r.end()
			}
			n += r.pass(p[n:], c)
		case stNumMinus, stNumZero, stNumInt, stNumDot, stNumFrac, stNumE, stNumESign, stNumExp:
			next, ok := numNext(r.st, c)
			if !ok {
				switch r.st {
				case stNumZero, stNumInt, stNumFrac, stNumExp:
					r.end() // the byte after a number: look at it again
					continue
				}
				r.syntax(c, "in numeric literal")
				return n
			}
			if !r.room(1) {
				return n
			}
			r.st = next
			n += r.pass(p[n:], c)
		default:
			if isSpace(c) {
				// Whitespace between tokens: skip the run.
				j := r.r + 1
				for j < r.w && isSpace(r.buf[j]) {
					j++
				}
				r.in += int64(j - r.r)
				r.r = j
				continue
			}
			if !r.room(1) || !r.structural(c) {
				return n
			}
			n += r.pass(p[n:], c)
		}
	}
	return n
}

// pass gives the current input byte c to p (the caller checked room).
func (r *Reader) pass(p []byte, c byte) int {
	p[0] = c
	r.out++
	r.r++
	r.in++
	return 1
}

// strByte counts one byte of a string (a quote, or part of an escape); the
// caller checked room.
func (r *Reader) strByte() bool {
	r.str++
	if r.lim.MaxString > 0 && r.str > r.lim.MaxString {
		r.fail("MaxString", int64(r.lim.MaxString), r.in)
		return false
	}
	return true
}

// numNext is the number state after byte c, and whether c continues the
// number.
func numNext(s state, c byte) (state, bool) {
	digit := '0' <= c && c <= '9'
	switch s {
	case stNumMinus:
		if c == '0' {
			return stNumZero, true
		}
		if digit {
			return stNumInt, true
		}
	case stNumZero, stNumInt:
		if s == stNumInt && digit {
			return stNumInt, true
		}
		if c == '.' {
			return stNumDot, true
		}
		if c == 'e' || c == 'E' {
			return stNumE, true
		}
	case stNumDot, stNumFrac:
		if digit {
			return stNumFrac, true
		}
		if s == stNumFrac && (c == 'e' || c == 'E') {
			return stNumE, true
		}
	case stNumE:
		if c == '+' || c == '-' {
			return stNumESign, true
		}
		if digit {
			return stNumExp, true
		}
	case stNumESign, stNumExp:
		if digit {
			return stNumExp, true
		}
	}
	return s, false
}

// structural handles a byte outside strings, numbers and literals: it
// checks the grammar and the limits and moves the state on. The caller
// passes the byte on.
func (r *Reader) structural(c byte) bool {
	switch r.st {
	case stDone:
		r.syntax(c, "after top-level value")
		return false
	case stColon:
		if c != ':' {
			r.syntax(c, "after object key")
			return false
		}
		r.st = stValue
		return true
	case stAfterValue:
		top := r.stack[len(r.stack)-1]
		switch {
		case c == ',' && top == '{':
			r.st = stKey
		case c == ',':
			r.st = stValue
		case c == '}' && top == '{', c == ']' && top == '[':
			r.pop()
			r.end()
		default:
			where := "after array element"
			if top == '{' {
				where = "after object key:value pair"
			}
			r.syntax(c, where)
			return false
		}
		return true
	case stKeyOrEnd, stKey:
		if c == '}' && r.st == stKeyOrEnd {
			r.pop()
			r.end()
			return true
		}
		if c != '"' {
			r.syntax(c, "looking for beginning of object key string")
			return false
		}
		r.st, r.key, r.str = stString, true, 0
		return r.strByte()
	case stValueOrEnd:
		if c == ']' {
			r.pop()
			r.end()
			return true
		}
	}
	// A value begins.
	switch c {
	case '{', '[':
		if !r.begin() {
			return false
		}
		if r.lim.MaxDepth > 0 && len(r.stack) >= r.lim.MaxDepth {
			r.fail("MaxDepth", int64(r.lim.MaxDepth), r.in)
			return false
		}
		r.stack = append(r.stack, c)
		r.items = append(r.items, 0)
		if c == '{' {
			r.st = stKeyOrEnd
		} else {
			r.st = stValueOrEnd
		}
		return true
	case '"':
		if !r.begin() {
			return false
		}
		r.st, r.key, r.str = stString, false, 0
		return r.strByte()
	case 't', 'f', 'n':
		if !r.begin() {
			return false
		}
		r.st = stLiteral
		switch c {
		case 't':
			r.lit = "rue"
		case 'f':
			r.lit = "alse"
		default:
			r.lit = "ull"
		}
		return true
	case '-':
		if !r.begin() {
			return false
		}
		r.st = stNumMinus
		return true
	}
	if '0' <= c && c <= '9' {
		if !r.begin() {
			return false
		}
		r.st = stNumInt
		if c == '0' {
			r.st = stNumZero
		}
		return true
	}
	r.syntax(c, "looking for beginning of value")
	return false
}

// Holds reports whether no document of n input bytes can pass any of l's
// limits but MaxDepth: such a document may be decoded whole, by a caller
// whose destination type bounds the nesting itself (encoding/json refuses
// an array or object where the type has neither), without a Reader. Every
// value but the last takes at least two bytes ("0,"), so n bytes hold at
// most n/2+1 values or elements of one array.
func (l Limits) Holds(n int64) bool {
	within := func(max int64, need int64) bool { return max <= 0 || need <= max }
	values := n/2 + 1
	return within(l.MaxInput, n) && within(l.MaxBytes, n) && within(int64(l.MaxString), n) &&
		within(l.MaxValues, values) && within(l.MaxItems, values) && within(l.MaxElement, n) &&
		(l.MaxRatio <= 0 || n <= l.RatioFree)
}
