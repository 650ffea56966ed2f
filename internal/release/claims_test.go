package release

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
	"unicode"
)

// What the release files and README promise about each other.

// The archives are named as `uname -s` and `uname -m` name the machine, so
// curl .../xfollow-mcp_$(uname -s)_$(uname -m).tar.gz fetches the right one:
// arm64 is aarch64 on Linux and arm64 on macOS.
func TestArchiveNamesMatchUname(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)name_template: >-\n\s+(\{\{[^\n]*)\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no archive name_template in .goreleaser.yaml")
	}
	tpl := template.Must(template.New("n").Funcs(template.FuncMap{
		"title": func(s string) string { r := []rune(s); r[0] = unicode.ToUpper(r[0]); return string(r) },
	}).Parse(string(m[1])))
	for _, c := range []struct{ goos, goarch, unameS, unameM string }{
		{"linux", "amd64", "Linux", "x86_64"},
		{"linux", "arm64", "Linux", "aarch64"}, // uname -m on Linux arm64
		{"darwin", "amd64", "Darwin", "x86_64"},
		{"darwin", "arm64", "Darwin", "arm64"},
	} {
		var sb strings.Builder
		if err := tpl.Execute(&sb, map[string]string{"ProjectName": "xfollow-mcp", "Os": c.goos, "Arch": c.goarch}); err != nil {
			t.Fatal(err)
		}
		if want := "xfollow-mcp_" + c.unameS + "_" + c.unameM; sb.String() != want {
			t.Errorf("%s/%s: archive %s, but uname -s/-m on that machine give %s", c.goos, c.goarch, sb.String(), want)
		}
	}
}

// README says what server.json holds: when it has a remotes entry, README
// never says it has none.
func TestReadmeAgreesOnRemotes(t *testing.T) {
	var s serverJSON
	readJSON(t, "server.json", &s)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ")
	if len(s.Remotes) == 0 {
		t.Fatal("server.json has no remotes entry")
	}
	if regexp.MustCompile("no `remotes` entry|no remotes").MatchString(text) {
		t.Errorf("README says the registry entry has no remotes entry, but server.json has %d", len(s.Remotes))
	}
	if !strings.Contains(text, "one `remotes` entry") {
		t.Error("README's Releasing section does not describe server.json's remotes entry")
	}
}

// scripts/build-mcpb.sh and README name one Node version for the bundle
// build, at least what the packer (@anthropic-ai/mcpb and what it brings)
// declares; and the script's `npm ci` succeeds with npm's engine-strict
// on even though it also installs the MCP Inspector (node >=22.19), which the
// build does not use. The install is run as a dry run from the lockfile in a
// scratch folder, so it leaves node_modules alone.
func TestBundleBuildNeedsOnlyTheNodeItClaims(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(root, "scripts", "build-mcpb.sh"))
	if err != nil {
		t.Fatal(err)
	}
	claim := regexp.MustCompile(`Node\.js (\d+) or newer`).FindAllSubmatch(script, -1)
	if claim == nil {
		t.Fatal("build-mcpb.sh names no Node version")
	}
	claimed, _ := strconv.Atoi(string(claim[0][1]))
	for _, c := range claim {
		if string(c[1]) != string(claim[0][1]) {
			t.Errorf("build-mcpb.sh names Node %s and Node %s", claim[0][1], c[1])
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Every "Node N or newer" (or "Node N+") near a mention of the bundle or
	// its packer.
	lines := strings.Split(string(readme), "\n")
	nodeNeed := regexp.MustCompile(`Node(?:\.js)? (\d+)(?: or newer|\+)`)
	seen := 0
	for i, l := range lines {
		near := strings.Join(lines[max(i-1, 0):min(i+2, len(lines))], " ")
		if !strings.Contains(near, "bundle") && !strings.Contains(near, "packer") {
			continue
		}
		for _, m := range nodeNeed.FindAllStringSubmatch(l, -1) {
			seen++
			if n, _ := strconv.Atoi(m[1]); n != claimed {
				t.Errorf("README line %d says the bundle build needs Node %d, build-mcpb.sh says %d", i+1, n, claimed)
			}
		}
	}
	if seen == 0 {
		t.Error("README names no Node version for the bundle build")
	}

	var lock struct {
		Packages map[string]struct {
			Engines map[string]string `json:"engines"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(root, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	minMajor := regexp.MustCompile(`^>=\s*(\d+)`)
	for path, p := range lock.Packages {
		if !strings.HasPrefix(path, "node_modules/@anthropic-ai/mcpb") {
			continue
		}
		if m := minMajor.FindStringSubmatch(p.Engines["node"]); m != nil {
			if need, _ := strconv.Atoi(m[1]); need > claimed {
				t.Errorf("%s needs node %s, more than the %d build-mcpb.sh claims", path, p.Engines["node"], claimed)
			}
		}
	}

	line := regexp.MustCompile(`(?m)^\s*(npm ci[^\n]*)$`).FindSubmatch(script)
	if line == nil {
		t.Fatal("build-mcpb.sh runs no npm ci")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is not on PATH")
		}
		t.Skip("npm is not on PATH")
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", string(line[1])+" --dry-run")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_engine_strict=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s, with npm_config_engine_strict=true: %v\n%s", line[1], err, out)
	}
}

// The bundle puts no xfollow-mcp on the PATH, so the manifest's description
// says what runs undo: the release binary or the bundled one, with the key in
// AISA_API_KEY.
func TestManifestSaysWhatRunsUndo(t *testing.T) {
	var m struct {
		LongDescription string `json:"long_description"`
	}
	readJSON(t, "manifest.json", &m)
	d := m.LongDescription
	if !strings.Contains(d, "xfollow-mcp undo") {
		t.Skip("the description does not mention undo")
	}
	for _, want := range []string{"release binary", "bundled one", "AISA_API_KEY"} {
		if !strings.Contains(d, want) {
			t.Errorf("long_description tells bundle users to run xfollow-mcp undo but does not mention %q", want)
		}
	}
}

// The Quick start builds the binary and puts it on PATH before any later
// section runs a bare `xfollow-mcp` outside an install recipe: a newcomer
// following the README line by line has it.
func TestQuickStartBuildsTheBinaryTheReadmeRuns(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	qs := strings.Index(readme, "## Quick start")
	if qs < 0 {
		t.Fatal("README has no Quick start")
	}
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(readme[qs:])
	if block == nil {
		t.Fatal("the Quick start has no sh block")
	}
	if !regexp.MustCompile(`(?m)^go build -o xfollow-mcp \. && export PATH="\$PWD:\$PATH"`).MatchString(block[1]) {
		t.Fatalf("the Quick start does not build xfollow-mcp and put it on PATH:\n%s", block[1])
	}
	try := strings.Index(readme, "### Try it without a host")
	if try < 0 || !strings.Contains(readme[try:try+400], "\nxfollow-mcp --sandbox ") {
		t.Fatal("Try it without a host no longer runs xfollow-mcp as this test expects; check that what it runs is built first")
	}
}

// scripts/build-mcpb.sh says what it does before each slow step (npm ci,
// each go build, mcpb validate, mcpb pack), so a terminal never sits
// silent for a minute.
func TestBundleBuildSaysWhatItDoes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "scripts", "build-mcpb.sh"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, slow := range []string{"npm ci ", "go build ", `"$mcpb" validate`, `"$mcpb" pack`} {
		found := false
		for i, l := range lines {
			if !strings.Contains(l, slow) || strings.HasPrefix(strings.TrimSpace(l), "#") || strings.Contains(l, "step ") {
				continue
			}
			found = true
			said := false
			for j := max(0, i-3); j < i; j++ {
				if strings.HasPrefix(strings.TrimSpace(lines[j]), "step ") {
					said = true
				}
			}
			if !said {
				t.Errorf("line %d runs %s without a step line before it", i+1, slow)
			}
		}
		if !found {
			t.Errorf("build-mcpb.sh no longer runs %s; update this test", slow)
		}
	}
}
