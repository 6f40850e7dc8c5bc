package console

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// emptySlices is the console's huma transformer: the OpenAPI document
// declares arrays and objects not nullable, and encoding/json writes a nil
// slice or map as null, so every response body goes out with its nil
// slices and maps (reached through structs, pointers, slices, maps and
// interfaces) as empty ones. The body is not modified: what holds a nil
// is copied, so shared values (the topology's cached graph) stay as they
// are. Fields omitted when empty (omitempty) and values that encode
// themselves (json.Marshaler, []byte) are left alone.
func emptySlices(_ huma.Context, _ string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	if !mayHoldNil(rv.Type()) {
		return v, nil
	}
	if out, changed := fillNil(rv); changed {
		return out.Interface(), nil
	}
	return v, nil
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	holdsNil          sync.Map // reflect.Type → bool
)

// encodesItself reports whether encoding/json leaves t's encoding to t.
func encodesItself(t reflect.Type) bool {
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		return true
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		return pt.Implements(marshalerType) || pt.Implements(textMarshalerType)
	}
	return false
}

// mayHoldNil reports whether a value of type t can hold a nil slice or map
// that emptySlices replaces.
func mayHoldNil(t reflect.Type) bool {
	if v, ok := holdsNil.Load(t); ok {
		return v.(bool)
	}
	holdsNil.Store(t, true) // a recursive type meets itself: assume so until known
	r := computeMayHoldNil(t)
	holdsNil.Store(t, r)
	return r
}

func computeMayHoldNil(t reflect.Type) bool {
	if encodesItself(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Uint8 // []byte encodes as a string
	case reflect.Map, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Array:
		return mayHoldNil(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); encodedField(f) && mayHoldNil(f.Type) {
				return true
			}
		}
	}
	return false
}

// encodedField reports whether encoding/json writes f. The fields of an
// embedded unexported struct, which it writes too, are not reached: no
// console type has one with a slice.
func encodedField(f reflect.StructField) bool {
	return f.IsExported() && f.Tag.Get("json") != "-"
}

// planField is a struct field fillNil visits: encoded, and of a type that
// may hold a nil; omitEmpty when it is a slice or map encoding/json leaves
// out when empty.
type planField struct {
	index     int
	omitEmpty bool
}

var plans sync.Map // reflect.Type → []planField

func structPlan(t reflect.Type) []planField {
	if p, ok := plans.Load(t); ok {
		return p.([]planField)
	}
	var p []planField
	for i := range t.NumField() {
		f := t.Field(i)
		if !encodedField(f) || !mayHoldNil(f.Type) {
			continue
		}
		k := f.Type.Kind()
		p = append(p, planField{index: i, omitEmpty: omitEmpty(f) && (k == reflect.Slice || k == reflect.Map)})
	}
	plans.Store(t, p)
	return p
}

func omitEmpty(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	for o := range strings.SplitSeq(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			return true
		}
	}
	return false
}

// fillNil returns v with its nil slices and maps made empty and whether
// anything changed; v itself is never written.
func fillNil(v reflect.Value) (reflect.Value, bool) {
	t := v.Type()
	if !mayHoldNil(t) {
		return v, false
	}
	switch t.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return reflect.MakeSlice(t, 0, 0), true
		}
		if !mayHoldNil(t.Elem()) {
			return v, false
		}
		return fillElems(v, func() reflect.Value {
			out := reflect.MakeSlice(t, v.Len(), v.Len())
			reflect.Copy(out, v)
			return out
		})
	case reflect.Array:
		return fillElems(v, func() reflect.Value {
			out := reflect.New(t).Elem()
			out.Set(v)
			return out
		})
	case reflect.Map:
		if v.IsNil() {
			return reflect.MakeMapWithSize(t, 0), true
		}
		if !mayHoldNil(t.Elem()) {
			return v, false
		}
		var out reflect.Value
		it := v.MapRange()
		for it.Next() {
			e, changed := fillNil(it.Value())
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.MakeMapWithSize(t, v.Len())
				for k, val := range v.Seq2() {
					out.SetMapIndex(k, val)
				}
			}
			out.SetMapIndex(it.Key(), e)
		}
		if out.IsValid() {
			return out, true
		}
	case reflect.Pointer:
		if v.IsNil() {
			return v, false
		}
		e, changed := fillNil(v.Elem())
		if changed {
			p := reflect.New(t.Elem())
			p.Elem().Set(e)
			return p, true
		}
	case reflect.Interface:
		if v.IsNil() {
			return v, false
		}
		e, changed := fillNil(v.Elem())
		if changed {
			out := reflect.New(t).Elem()
			out.Set(e)
			return out, true
		}
	case reflect.Struct:
		var out reflect.Value
		for _, f := range structPlan(t) {
			i := f.index
			fv := v.Field(i)
			if f.omitEmpty && fv.Len() == 0 {
				continue // omitted either way
			}
			e, changed := fillNil(fv)
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.New(t).Elem()
				out.Set(v)
			}
			out.Field(i).Set(e)
		}
		if out.IsValid() {
			return out, true
		}
	}
	return v, false
}

// fillElems fills the elements of slice or array v, copying v (clone) at
// the first element that changes.
func fillElems(v reflect.Value, clone func() reflect.Value) (reflect.Value, bool) {
	var out reflect.Value
	for i := range v.Len() {
		e, changed := fillNil(v.Index(i))
		if !changed {
			continue
		}
		if !out.IsValid() {
			out = clone()
		}
		out.Index(i).Set(e)
	}
	if out.IsValid() {
		return out, true
	}
	return v, false
}
