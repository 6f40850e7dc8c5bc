package intake

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// DecodeStruct decodes the object that comes next into the struct v points
// to without holding more than one element of it at a time: its struct and
// pointer-to-struct members are walked the same way, its slice members
// element by element (each element one Decode), everything else with
// Decode. Member names match json tags case-insensitively, as with
// encoding/json. A member no field takes is refused when strict, skipped
// otherwise (Decode of the elements follows DisallowUnknownFields).
func (d *Decoder) DecodeStruct(v any, strict bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("intake: DecodeStruct of %T, want a pointer to a struct", v)
	}
	return d.walkStruct(rv.Elem(), strict)
}

// DecodeMember decodes the value of the member key, whose name Object
// has just given, into the field of the struct v points to that takes it,
// as DecodeStruct would.
func (d *Decoder) DecodeMember(v any, key string, strict bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("intake: DecodeMember of %T, want a pointer to a struct", v)
	}
	return d.member(rv.Elem(), key, strict)
}

func (d *Decoder) walkStruct(sv reflect.Value, strict bool) error {
	return d.Object(func(key string) error { return d.member(sv, key, strict) })
}

func (d *Decoder) member(sv reflect.Value, key string, strict bool) error {
	{
		fields := fieldsOf(sv.Type())
		i, ok := fields.byName[key]
		if !ok {
			for name, j := range fields.byName {
				if strings.EqualFold(name, key) {
					i, ok = j, true
					break
				}
			}
		}
		if !ok {
			if strict {
				return fmt.Errorf("json: unknown field %q", key)
			}
			return d.Skip()
		}
		f := sv.Field(i)
		t := f.Type()
		switch {
		case walkable(t):
			return d.walkStruct(f, strict)
		case t.Kind() == reflect.Pointer && walkable(t.Elem()):
			// As encoding/json: null is a nil pointer.
			isObject, err := d.object(func(key string) error { return d.member(f.Elem(), key, strict) }, func() {
				if f.IsNil() {
					f.Set(reflect.New(t.Elem()))
				}
			})
			if !isObject && err == nil {
				f.Set(reflect.Zero(t))
			}
			return err
		case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
			// As encoding/json: null is a nil slice, [] an empty one, and a
			// member given twice is replaced.
			f.Set(reflect.MakeSlice(t, 0, 0))
			isArray, err := d.array(func() error {
				f.Set(reflect.Append(f, reflect.Zero(t.Elem())))
				return d.Decode(f.Index(f.Len() - 1).Addr().Interface())
			})
			if !isArray && err == nil {
				f.Set(reflect.Zero(t))
			}
			return err
		}
		return d.Decode(f.Addr().Interface())
	}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walkable: a struct that decodes member by member (not one with its own
// JSON or text form, like time.Time).
func walkable(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	p := reflect.PointerTo(t)
	return !p.Implements(jsonUnmarshaler) && !p.Implements(textUnmarshaler)
}

type structFields struct{ byName map[string]int }

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f.byName[name] = i
	}
	fieldCache.Store(t, f)
	return f
}
