package release

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
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

// scripts/build-mcpb.sh says it needs "Node.js 18 or newer" (README: 20), but
// the `npm install` it runs installs every package in package-lock.json,
// the Inspector among them, which declares node >=22.19.0: with npm's
// engine-strict on, the one documented command fails on Node 18 and 20.
func TestReview13BundleBuildNeedsOnlyTheNodeItClaims(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(root, "scripts", "build-mcpb.sh"))
	if err != nil {
		t.Fatal(err)
	}
	claim := regexp.MustCompile(`Node\.js (\d+) or newer`).FindSubmatch(script)
	if claim == nil {
		t.Fatal("build-mcpb.sh names no Node version")
	}
	claimed, _ := strconv.Atoi(string(claim[1]))
	var lock struct {
		Packages map[string]struct {
			Engines map[string]string `json:"engines"`
			Dev     bool              `json:"dev"`
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
	worst, worstPath, worstNeed, n := "", "", 0, 0
	for path, p := range lock.Packages {
		m := minMajor.FindStringSubmatch(p.Engines["node"])
		if m == nil {
			continue
		}
		if need, _ := strconv.Atoi(m[1]); need > claimed {
			n++
			if need > worstNeed || (need == worstNeed && path < worstPath) {
				worstPath = path
				worst, worstNeed = strings.TrimPrefix(path, "node_modules/")+" (node "+p.Engines["node"]+")", need
			}
		}
	}
	if n > 0 {
		t.Errorf("npm install (run by build-mcpb.sh) installs %d packages needing a newer Node than the %d the script claims, up to %s",
			n, claimed, worst)
	}
}
