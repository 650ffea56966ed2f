package tools_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// TestToolSnapshots freezes each tool's name, description, schemas and
// annotations: the public contract a model acts on. Rewrite them with
// UPDATE_TOOLSNAPS=true; a missing snapshot fails when CI is set.
func TestToolSnapshots(t *testing.T) {
	for _, tl := range tools.All() {
		t.Run(tl.Name, func(t *testing.T) {
			got, err := json.MarshalIndent(tl.MCP, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("__toolsnaps__", tl.Name+".snap")
			want, err := os.ReadFile(path)
			switch {
			case os.Getenv("UPDATE_TOOLSNAPS") == "true":
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			case os.IsNotExist(err) && os.Getenv("CI") == "":
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote missing snapshot %s", path)
				return
			case err != nil:
				t.Fatalf("snapshot %s: %v (run with UPDATE_TOOLSNAPS=true to create it)", path, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("tool %s changed from its snapshot %s; if intended, run UPDATE_TOOLSNAPS=true go test ./tools/\ngot:\n%s", tl.Name, path, got)
			}
		})
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

func TestRegistryInvariants(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tl := range tools.All() {
		m := tl.MCP
		if !snakeCase.MatchString(m.Name) {
			t.Errorf("%s: not snake_case", m.Name)
		}
		if seen[m.Name] {
			t.Errorf("%s: registered twice", m.Name)
		}
		seen[m.Name] = true
		a := m.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("%s: a hint is not set explicitly: %+v", m.Name, a)
			continue
		}
		if *a.ReadOnlyHint && *a.DestructiveHint {
			t.Errorf("%s: both read-only and destructive", m.Name)
		}
		if a.Title == "" || m.Title == "" || m.Description == "" {
			t.Errorf("%s: missing title or description", m.Name)
		}
		if len(m.Description) > 600 {
			t.Errorf("%s: description is %d bytes; keep it tight", m.Name, len(m.Description))
		}
		if !bytes.Contains(readme, []byte("`"+m.Name+"`")) {
			t.Errorf("%s: not documented in README.md", m.Name)
		}
		// The schema is inline, closed and carries no $ref, $defs, $id or $schema.
		var in map[string]any
		if err := json.Unmarshal(tl.InSchema, &in); err != nil {
			t.Fatal(err)
		}
		if in["type"] != "object" || in["additionalProperties"] != false {
			t.Errorf("%s: input schema is not a closed object: %s", m.Name, tl.InSchema)
		}
		for _, k := range []string{"$ref", "$defs", "$id", "$schema"} {
			if strings.Contains(string(tl.InSchema), `"`+k+`"`) || strings.Contains(string(tl.OutSchema), `"`+k+`"`) {
				t.Errorf("%s: schema contains %s", m.Name, k)
			}
		}
	}
}

func TestReadOnlyFilterFollowsAnnotations(t *testing.T) {
	for _, tl := range tools.All() {
		want := *tl.MCP.Annotations.ReadOnlyHint
		if got := tools.Allowed(tl, true); got != want {
			t.Errorf("%s: allowed in read-only = %v, readOnlyHint = %v", tl.Name, got, want)
		}
		if !tools.Allowed(tl, false) {
			t.Errorf("%s: not allowed outside read-only mode", tl.Name)
		}
	}
}

func TestIDPatternSurvivesReflection(t *testing.T) {
	for _, tl := range tools.All() {
		s := string(tl.InSchema)
		if strings.Contains(s, "target_user_id") && !strings.Contains(s, `"pattern":"^[0-9]{1,19}$"`) {
			t.Errorf("%s: the id pattern was cut: %s", tl.Name, s)
		}
		if strings.Contains(s, "username") && !strings.Contains(s, `"pattern":"^@?[A-Za-z0-9_]{1,15}$"`) {
			t.Errorf("%s: the username pattern was cut: %s", tl.Name, s)
		}
	}
}

// TestInputSchemasCompile: every input schema compiles with the validator
// (it is compiled lazily at run time, so prove it here).
func TestInputSchemasCompile(t *testing.T) {
	for _, tl := range tools.All() {
		if err := tl.CompileInputSchema(); err != nil {
			t.Errorf("%s: %v", tl.Name, err)
		}
	}
}

func TestReadOnlyRefusalCoversExactlyTheWithheldTools(t *testing.T) {
	for _, tl := range tools.All() {
		msg, withheld := tools.ReadOnlyRefusal(tl.Name)
		if withheld == tools.Allowed(tl, true) {
			t.Errorf("%s: refused in read-only = %v, allowed = %v", tl.Name, withheld, tools.Allowed(tl, true))
		}
		if withheld && (!strings.HasPrefix(msg, "[read_only] "+tl.Name+" ") || !strings.Contains(msg, "get_x_user")) {
			t.Errorf("%s: %q", tl.Name, msg)
		}
	}
	if _, withheld := tools.ReadOnlyRefusal("no_such_tool"); withheld {
		t.Error("an unknown name was refused as a write tool")
	}
}
