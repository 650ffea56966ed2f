package release

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// root is the repository root, where the release files live.
const root = "../.."

type manifest struct {
	ManifestVersion string `json:"manifest_version"`
	Name            string `json:"name"`
	Version         string `json:"version"`
	License         string `json:"license"`
	Server          struct {
		Type       string `json:"type"`
		EntryPoint string `json:"entry_point"`
		MCPConfig  struct {
			Command           string            `json:"command"`
			Args              []string          `json:"args"`
			Env               map[string]string `json:"env"`
			PlatformOverrides map[string]struct {
				Command string            `json:"command"`
				Args    []string          `json:"args"`
				Env     map[string]string `json:"env"`
			} `json:"platform_overrides"`
		} `json:"mcp_config"`
	} `json:"server"`
	Tools []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"tools"`
	Compatibility struct {
		Platforms []string `json:"platforms"`
	} `json:"compatibility"`
	UserConfig map[string]struct {
		Type      string `json:"type"`
		Title     string `json:"title"`
		Required  bool   `json:"required"`
		Sensitive bool   `json:"sensitive"`
		Default   any    `json:"default"`
	} `json:"user_config"`
}

type serverJSON struct {
	Schema      string `json:"$schema"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version"`
	Packages    []struct {
		RegistryType         string                `json:"registryType"`
		Identifier           string                `json:"identifier"`
		Version              string                `json:"version"`
		FileSha256           string                `json:"fileSha256"`
		Transport            struct{ Type string } `json:"transport"`
		EnvironmentVariables []struct {
			Name       string `json:"name"`
			IsRequired bool   `json:"isRequired"`
			IsSecret   bool   `json:"isSecret"`
			Format     string `json:"format"`
			Default    string `json:"default"`
		} `json:"environmentVariables"`
		PackageArguments []struct {
			Type  string `json:"type"`
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"packageArguments"`
	} `json:"packages"`
	Remotes []remote `json:"remotes"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func releaseVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Fatalf("VERSION %q is not a semantic version such as 1.2.3", v)
	}
	return v
}

// acceptedEnv maps every environment variable the server reads to the flag
// it is the twin of ("" for the two that have none).
func acceptedEnv() map[string]string {
	m := map[string]string{config.EnvAPIKey: "", config.EnvBaseURL: ""}
	for _, f := range config.Flags {
		if f.Env != "" {
			m[f.Env] = f.Name
		}
	}
	return m
}

func flagDefault(name string) (string, bool) {
	for _, f := range config.Flags {
		if f.Name == name {
			return f.Default, true
		}
	}
	return "", false
}

// TestVersionsAgree: VERSION is the one source of the release version;
// manifest.json, server.json and its package say the same, and the
// package's URL is the release asset build-mcpb.sh names.
func TestVersionsAgree(t *testing.T) {
	v := releaseVersion(t)
	var m manifest
	readJSON(t, "manifest.json", &m)
	var s serverJSON
	readJSON(t, "server.json", &s)
	if m.Version != v || s.Version != v {
		t.Errorf("VERSION %s, manifest.json %s, server.json %s: they must agree", v, m.Version, s.Version)
	}
	for _, p := range s.Packages {
		want := "https://github.com/xfollow-mcp/xfollow-mcp/releases/download/v" + v + "/xfollow-mcp-" + v + ".mcpb"
		if p.Version != v || p.Identifier != want {
			t.Errorf("package %s@%s, want %s@%s", p.Identifier, p.Version, want, v)
		}
	}
	// The Helm chart installs the image of this version by default and names
	// the same registry entry.
	chart, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "xfollow-mcp", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^appVersion: "` + regexp.QuoteMeta(v) + `"$`).Match(chart) {
		t.Errorf("deploy/helm/xfollow-mcp/Chart.yaml's appVersion is not %q", v)
	}
	if !strings.Contains(string(chart), "io.modelcontextprotocol.server.name: "+s.Name+"\n") {
		t.Errorf("Chart.yaml's io.modelcontextprotocol.server.name annotation is not %s", s.Name)
	}
}

// TestServerJSON checks the registry entry against the registry's rules and
// against the server: every variable it names is one the server reads.
func TestServerJSON(t *testing.T) {
	var s serverJSON
	readJSON(t, "server.json", &s)
	if s.Schema != "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json" {
		t.Errorf("$schema %s", s.Schema)
	}
	if s.Name != "io.github.xfollow-mcp/xfollow-mcp" || !regexp.MustCompile(`^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`).MatchString(s.Name) {
		t.Errorf("name %q", s.Name)
	}
	if n := len(s.Description); n < 1 || n > 100 {
		t.Errorf("description is %d characters; the registry takes 1 to 100", n)
	}
	checkRemotes(t, s.Remotes)
	if len(s.Packages) != 1 {
		t.Fatalf("%d packages, want the one mcpb bundle", len(s.Packages))
	}
	p := s.Packages[0]
	if p.RegistryType != "mcpb" || p.Transport.Type != "stdio" || !regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(p.FileSha256) {
		t.Errorf("package %+v", p)
	}
	accepted := acceptedEnv()
	seen := map[string]bool{}
	for _, e := range p.EnvironmentVariables {
		flag, ok := accepted[e.Name]
		if !ok {
			t.Errorf("server.json names %s, which the server does not read", e.Name)
			continue
		}
		if seen[e.Name] {
			t.Errorf("%s listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.IsSecret != (e.Name == config.EnvAPIKey) {
			t.Errorf("%s: isSecret %v", e.Name, e.IsSecret)
		}
		if e.Format == "boolean" {
			if def, _ := flagDefault(flag); e.Default != def {
				t.Errorf("%s: default %q, the server's is %q", e.Name, e.Default, def)
			}
		}
	}
	if !seen[config.EnvAPIKey] {
		t.Errorf("server.json does not ask for %s", config.EnvAPIKey)
	}
	for _, e := range p.EnvironmentVariables {
		if e.Name == config.EnvAPIKey && (!e.IsRequired || !e.IsSecret) {
			t.Errorf("%s must be required and secret", e.Name)
		}
	}
	for _, a := range p.PackageArguments {
		if a.Type != "named" {
			t.Errorf("argument %+v: the server takes no positional arguments when serving", a)
			continue
		}
		name := strings.TrimPrefix(a.Name, "--")
		if _, ok := flagDefault(name); !ok || !strings.HasPrefix(a.Name, "--") {
			t.Errorf("argument %s is not a flag the server accepts", a.Name)
		}
	}
}

// TestManifest checks the bundle's manifest against the server: the key is
// asked for as a secret and passed in the environment, every variable is
// one the server reads, every setting reaches it, and the tools are the
// server's.
func TestManifest(t *testing.T) {
	var m manifest
	readJSON(t, "manifest.json", &m)
	if m.ManifestVersion != "0.3" || m.Name != "xfollow-mcp" || m.License != "MIT" {
		t.Errorf("manifest_version %s, name %s, license %s", m.ManifestVersion, m.Name, m.License)
	}
	srv := m.Server
	if srv.Type != "binary" || srv.EntryPoint != "server/xfollow-mcp" ||
		srv.MCPConfig.Command != "/bin/sh" || !slices.Equal(srv.MCPConfig.Args, []string{"${__dirname}/server/xfollow-mcp"}) {
		t.Errorf("server %+v", srv)
	}
	win, ok := srv.MCPConfig.PlatformOverrides["win32"]
	if !ok || win.Command != "${__dirname}/server/xfollow-mcp-windows-amd64.exe" || win.Args == nil || len(win.Args) != 0 {
		t.Errorf("win32 override %+v", win)
	}
	if !slices.Equal(m.Compatibility.Platforms, []string{"darwin", "linux", "win32"}) {
		t.Errorf("platforms %v", m.Compatibility.Platforms)
	}

	accepted := acceptedEnv()
	ref := regexp.MustCompile(`^\$\{user_config\.([a-z_]+)\}$`)
	used := map[string]string{} // user_config key -> variable
	for name, value := range srv.MCPConfig.Env {
		flag, ok := accepted[name]
		if !ok {
			t.Errorf("manifest passes %s, which the server does not read", name)
		}
		k := ref.FindStringSubmatch(value)
		if k == nil {
			t.Errorf("%s=%q: every variable should carry one user_config value", name, value)
			continue
		}
		uc, ok := m.UserConfig[k[1]]
		if !ok {
			t.Errorf("%s refers to user_config.%s, which does not exist", name, k[1])
			continue
		}
		used[k[1]] = name
		// An optional value without a default reaches the server as the
		// literal text ${user_config.x}: every optional value needs one.
		if !uc.Required && uc.Default == nil {
			t.Errorf("user_config.%s is optional and has no default", k[1])
		}
		if uc.Type == "boolean" {
			def, _ := flagDefault(flag)
			if b, ok := uc.Default.(bool); !ok || (b && def != "true") || (!b && def != "false") {
				t.Errorf("user_config.%s default %v, the server's --%s default is %s", k[1], uc.Default, flag, def)
			}
		}
	}
	for k := range m.UserConfig {
		if _, ok := used[k]; !ok {
			t.Errorf("user_config.%s is asked for but never passed to the server", k)
		}
	}
	key := m.UserConfig["aisa_api_key"]
	if used["aisa_api_key"] != config.EnvAPIKey || !key.Sensitive || !key.Required || key.Type != "string" {
		t.Errorf("the AIsa key must be a required, sensitive string passed as %s: %+v", config.EnvAPIKey, key)
	}
	for _, a := range append(append([]string{}, srv.MCPConfig.Args...), win.Args...) {
		if strings.Contains(a, "user_config") {
			t.Errorf("argument %q carries a user setting; settings go in env (the key above all)", a)
		}
	}
	for name := range m.UserConfig {
		if m.UserConfig[name].Sensitive && name != "aisa_api_key" {
			t.Errorf("user_config.%s is sensitive: only the key should be", name)
		}
	}
	if j := m.UserConfig["journal"]; used["journal"] != "XFOLLOW_JOURNAL" || !strings.HasPrefix(j.Default.(string), "${HOME}") {
		t.Errorf("journal %+v passed as %s: its default belongs in the person's home", j, used["journal"])
	}

	var names []string
	for _, tl := range m.Tools {
		names = append(names, tl.Name)
		if tl.Description == "" {
			t.Errorf("manifest tool %s has no description", tl.Name)
		}
	}
	var want []string
	for _, tl := range tools.All() {
		want = append(want, tl.Name)
	}
	sort.Strings(names)
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("manifest tools %v, server tools %v", names, want)
	}
}

type remote struct {
	Type      string                     `json:"type"`
	URL       string                     `json:"url"`
	Variables map[string]json.RawMessage `json:"variables"`
	Headers   []struct {
		Name      string                     `json:"name"`
		Value     string                     `json:"value"`
		IsSecret  bool                       `json:"isSecret"`
		Variables map[string]json.RawMessage `json:"variables"`
	} `json:"headers"`
}

// checkRemotes: the one remote is the HTTP mode as the server serves it for
// many people (--key-from-request): streamable HTTP at /mcp, the caller's
// AIsa key as a secret bearer token, every {variable} declared.
func checkRemotes(t *testing.T, rs []remote) {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("%d remotes, want the HTTP mode", len(rs))
	}
	r := rs[0]
	if r.Type != "streamable-http" || !strings.HasPrefix(r.URL, "https://") || !strings.HasSuffix(r.URL, "/mcp") {
		t.Errorf("remote %s %s: want streamable-http at https://.../mcp (the server serves /mcp; TLS in front)", r.Type, r.URL)
	}
	declared := func(text string, vars map[string]json.RawMessage) {
		for _, m := range regexp.MustCompile(`\{([a-z_]+)\}`).FindAllStringSubmatch(text, -1) {
			if _, ok := vars[m[1]]; !ok {
				t.Errorf("{%s} in %q is not declared", m[1], text)
			}
		}
	}
	declared(r.URL, r.Variables)
	if len(r.Headers) != 1 || r.Headers[0].Name != "Authorization" || !r.Headers[0].IsSecret || !strings.HasPrefix(r.Headers[0].Value, "Bearer ") {
		t.Fatalf("headers %+v: want one secret Authorization: Bearer header", r.Headers)
	}
	declared(r.Headers[0].Value, r.Headers[0].Variables)
}
