package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSchemaMatchesModel keeps schema/inventory-<SchemaVersion>.json true:
// every JSON field of the model is a schema property and the other way
// round, and fields without omitempty are required.
func TestSchemaMatchesModel(t *testing.T) {
	path := filepath.Join("..", "..", "schema", "inventory-"+SchemaVersion+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("schema for version %s: %v", SchemaVersion, err)
	}
	type object struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var schema struct {
		object
		Defs map[string]object `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var version struct {
		Properties struct {
			SchemaVersion struct {
				Const string `json:"const"`
			} `json:"schemaVersion"`
		} `json:"properties"`
	}
	json.Unmarshal(b, &version)
	if version.Properties.SchemaVersion.Const != SchemaVersion {
		t.Errorf("schema const %q, model %q", version.Properties.SchemaVersion.Const, SchemaVersion)
	}
	tests := []struct {
		name string
		typ  reflect.Type
		obj  object
	}{
		{"inventory", reflect.TypeFor[Inventory](), schema.object},
		{"target", reflect.TypeFor[Target](), schema.Defs["target"]},
		{"distro", reflect.TypeFor[Distro](), schema.Defs["distro"]},
		{"package", reflect.TypeFor[Package](), schema.Defs["package"]},
		{"file_error", reflect.TypeFor[FileError](), schema.Defs["fileError"]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fields, required []string
			for f := range tc.typ.Fields() {
				tag := f.Tag.Get("json")
				name, opts, _ := strings.Cut(tag, ",")
				fields = append(fields, name)
				if !strings.Contains(opts, "omitempty") {
					required = append(required, name)
				}
			}
			var props []string
			for k := range tc.obj.Properties {
				props = append(props, k)
			}
			slices.Sort(fields)
			slices.Sort(props)
			slices.Sort(required)
			req := slices.Clone(tc.obj.Required)
			slices.Sort(req)
			if diff := cmp.Diff(fields, props); diff != "" {
				t.Errorf("properties (-model +schema):\n%s", diff)
			}
			if diff := cmp.Diff(required, req); diff != "" {
				t.Errorf("required (-model +schema):\n%s", diff)
			}
		})
	}
}
