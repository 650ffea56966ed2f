package release

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestReleaseRehearsal checks what `goreleaser release --snapshot --clean`
// left in dist/ (CI runs it and points XFOLLOW_RELEASE_DIST at dist/): an
// archive per platform named as uname names the machine, each holding the
// binary, LICENSE and README.md; checksums.txt covering every archive and
// the MCP bundle, with the right sums; and dist/server.json carrying the
// bundle's sha256. Without XFOLLOW_RELEASE_DIST it skips: it needs
// goreleaser, which .ci/run installs.
func TestReleaseRehearsal(t *testing.T) {
	dist := os.Getenv("XFOLLOW_RELEASE_DIST")
	if dist == "" {
		t.Skip("XFOLLOW_RELEASE_DIST is not set: run goreleaser release --snapshot --clean and point it at dist/ (.ci/run does)")
	}
	if !filepath.IsAbs(dist) {
		dist = filepath.Join(root, dist)
	}
	version := releaseVersion(t)
	rel := filepath.Join(dist, "release")

	archives := map[string]string{ // archive -> binary inside
		"xfollow-mcp_Linux_x86_64.tar.gz":  "xfollow-mcp",
		"xfollow-mcp_Linux_aarch64.tar.gz": "xfollow-mcp",
		"xfollow-mcp_Darwin_x86_64.tar.gz": "xfollow-mcp",
		"xfollow-mcp_Darwin_arm64.tar.gz":  "xfollow-mcp",
		"xfollow-mcp_Windows_x86_64.zip":   "xfollow-mcp.exe",
		"xfollow-mcp_Windows_arm64.zip":    "xfollow-mcp.exe",
	}
	for name, bin := range archives {
		got := archiveNames(t, filepath.Join(rel, name))
		want := []string{"LICENSE", "README.md", bin}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", name, got, want)
		}
	}

	sums := map[string]string{}
	f, err := os.Open(filepath.Join(rel, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("checksums.txt line %q", sc.Text())
		}
		sums[name] = sum
	}
	bundle := "xfollow-mcp-" + version + ".mcpb"
	for name := range archives {
		if sums[name] != fileSHA256(t, filepath.Join(rel, name)) {
			t.Errorf("checksums.txt: %s is %q", name, sums[name])
		}
	}
	bundleSum := fileSHA256(t, filepath.Join(dist, bundle))
	if sums[bundle] != bundleSum {
		t.Errorf("checksums.txt: %s is %q, the file's is %s", bundle, sums[bundle], bundleSum)
	}
	if len(sums) != len(archives)+1 {
		t.Errorf("checksums.txt lists %d files, want %d", len(sums), len(archives)+1)
	}

	var s serverJSON
	b, err := os.ReadFile(filepath.Join(dist, "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Packages) != 1 || s.Packages[0].FileSha256 != bundleSum || s.Version != version {
		t.Errorf("dist/server.json does not carry the bundle's sha256 %s: %+v", bundleSum, s.Packages)
	}

	// The binary for this machine is static and stamped with the snapshot version.
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		out, err := exec.Command(filepath.Join(rel, "xfollow-mcp_linux_amd64_v1", "xfollow-mcp"), "--version").Output()
		if err != nil || !strings.HasPrefix(string(out), "xfollow-mcp "+version+"-snapshot") {
			t.Errorf("--version: %q, %v", out, err)
		}
	}
}

func archiveNames(t *testing.T, path string) []string {
	t.Helper()
	var names []string
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		return names
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
