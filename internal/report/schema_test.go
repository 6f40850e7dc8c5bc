package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite schema/report-v1.json from the Go types")

// schemaFile is the checked-in JSON Schema of the report (STYLE 25).
const schemaFile = "../../schema/report-v1.json"

// TestSchemaMatchesTypes regenerates the JSON Schema from the Go types and
// compares it with the checked-in file, so the schema cannot drift from
// the code (go test ./internal/report -run Schema -update rewrites it).
func TestSchemaMatchesTypes(t *testing.T) {
	got := generateSchema()
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.FromSlash(schemaFile))
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("schema/report-v1.json is out of date; run go test ./internal/report -run Schema -update (-file +types):\n%s", diff)
	}
}

func generateSchema() []byte {
	defs := map[string]any{}
	root := schemaOf(reflect.TypeFor[Report](), defs)
	delete(defs, "Report")
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/riskmap/riskmap/schema/report-v1.json",
		"title":       "Riskmap sensor report, version " + Version,
		"description": "A topology report pushed by a Riskmap sensor (gzip-compressed JSON). See docs/report-format.md.",
		"$defs":       defs,
	}
	for k, v := range defs["__root"].(map[string]any) {
		doc[k] = v
	}
	delete(defs, "__root")
	_ = root
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
	return buf.Bytes()
}

func schemaOf(t reflect.Type, defs map[string]any) map[string]any {
	if t == reflect.TypeFor[time.Time]() {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), defs)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint16:
		return map[string]any{"type": "integer", "minimum": 0, "maximum": 65535}
	case reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.Struct:
		name := t.Name()
		if _, ok := defs[name]; !ok {
			defs[name] = nil // break cycles
			props := map[string]any{}
			var required []string
			for i := range t.NumField() {
				f := t.Field(i)
				tag := f.Tag.Get("json")
				jname, opts, _ := strings.Cut(tag, ",")
				if jname == "-" || !f.IsExported() {
					continue
				}
				props[jname] = schemaOf(f.Type, defs)
				if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
					required = append(required, jname)
				}
			}
			s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
			if len(required) > 0 {
				s["required"] = required
			}
			if name == "Report" {
				props["kind"] = map[string]any{"enum": []string{string(KindFull), string(KindDelta)}}
				props["version"] = map[string]any{"type": "string", "pattern": "^" + MajorVersion + `\.[0-9]+$`}
				defs["__root"] = s
				return map[string]any{"$ref": "#"}
			}
			if name == "Connection" {
				props["source"] = map[string]any{"enum": []string{SourceProc, SourceConntrack}}
			}
			defs[name] = s
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic("schema: unsupported type " + t.String())
}
