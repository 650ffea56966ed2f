package tools

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/invopop/jsonschema"
)

// JSONSchemaExtend sets the per-item pattern, which a tag on a slice cannot.
// It is here, beside the reflection, because only the schema generator
// (TestEmbeddedSchemas) reflects: the server reads the generated schemas.
func (BatchUnfollowArgs) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("target_user_ids"); ok && p.Items != nil {
		p.Items.Pattern = idPattern
	}
}

// JSONSchemaExtend sets the per-item id pattern of a job's list.
func (StartJobArgs) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("target_user_ids"); ok && p.Items != nil {
		p.Items.Pattern = idPattern
	}
}

func init() {
	update := os.Getenv("UPDATE_SCHEMAS") == "true"
	schemaSource = func(tool, dir string, t reflect.Type) json.RawMessage {
		// The tools are built from the generated files, as shipped. When
		// generating, the files may be missing or stale, so they are built
		// from reflection, as the files will be; so are the tools that tests
		// define for themselves, which have no file.
		if raw, err := schemaFiles.ReadFile(schemaFile(tool, dir)); err == nil && !update {
			return raw
		}
		_, raw := reflectSchema(t)
		return raw
	}
}

// reflectSchema reflects t into an inline JSON schema: no $ref, $defs, $id
// or $schema; additionalProperties false.
func reflectSchema(t reflect.Type) (*jsonschema.Schema, []byte) {
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, Anonymous: true}
	s := r.ReflectFromType(t)
	s.Version = ""
	s.ID = ""
	raw, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return s, raw
}

// TestEmbeddedSchemas checks that every tool's schemas in schemas/ are what
// reflecting its input and output types gives, byte for byte, and that the
// property list the server reads from them is the reflected one. With
// UPDATE_SCHEMAS=true (go generate ./tools) it writes them instead.
func TestEmbeddedSchemas(t *testing.T) {
	update := os.Getenv("UPDATE_SCHEMAS") == "true"
	want := map[string]bool{}
	for _, tl := range All() {
		for dir, typ := range map[string]reflect.Type{"in": tl.inType, "out": tl.outType} {
			path := schemaFile(tl.Name, dir)
			want[filepath.Base(path)] = true
			s, got := reflectSchema(typ)
			if update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if dir == "in" {
				var props []string
				for pair := s.Properties.Oldest(); pair != nil; pair = pair.Next() {
					props = append(props, pair.Key)
				}
				if !slices.Equal(props, tl.properties) || !slices.Equal(s.Required, tl.required) {
					t.Errorf("%s: properties %v required %v; reflected %v %v", tl.Name, tl.properties, tl.required, props, s.Required)
				}
			}
			if emb := embeddedSchema(tl.Name, dir); !bytes.Equal(emb, got) || !bytes.Equal(emb, tl.schema(dir)) {
				t.Errorf("%s differs from the reflected %s schema of %s; run go generate ./tools\nembedded:  %s\nreflected: %s", path, dir, typ, emb, got)
			}
		}
	}
	if update {
		t.Skip("wrote the schemas; run again without UPDATE_SCHEMAS to check them")
	}
	entries, err := schemaFiles.ReadDir("schemas")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("schemas/%s belongs to no tool; remove it", e.Name())
		}
	}
}

func (t Tool) schema(dir string) json.RawMessage {
	if dir == "in" {
		return t.InSchema
	}
	return t.OutSchema
}
