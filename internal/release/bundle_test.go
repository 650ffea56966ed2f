package release

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// bundleKey stands in for the person's key: the server runs against its
// sandbox, so the key is never sent anywhere, and it must never be printed.
const bundleKey = "sk-aisa-BUNDLE-TEST-not-a-real-key"

// TestBundleStartsAsTheManifestSays builds the MCP bundle with the one
// documented command (or takes the one CI built, from XFOLLOW_MCPB_BUNDLE),
// unpacks it as a host does, resolves the manifest's mcp_config with the
// reference implementation (@anthropic-ai/mcpb, via scripts/mcpb-config.mjs)
// for a person's settings, starts exactly that command with exactly that
// environment (plus XFOLLOW_SANDBOX=true, so no real key is needed), and
// completes initialize and tools/list over stdio with the official Go SDK.
//
// It needs Node and the pinned npm packages (npm ci). Without them it
// skips, except in CI (CI=true), where it fails.
func TestBundleStartsAsTheManifestSays(t *testing.T) {
	needs := func(what string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("the bundle test cannot run: %s", what)
		}
		t.Skipf("skipping the MCP bundle test: %s", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		needs("node (Node.js 18 or newer) is not on PATH")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		needs("bash is not on PATH (scripts/build-mcpb.sh needs it)")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "@anthropic-ai", "mcpb", "package.json")); err != nil {
		needs("the pinned npm packages are not installed; run npm ci in the repository root")
	}
	version := releaseVersion(t)

	bundle := os.Getenv("XFOLLOW_MCPB_BUNDLE")
	if bundle == "" {
		out := t.TempDir()
		cmd := exec.Command("bash", "scripts/build-mcpb.sh", "--out", out)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bash scripts/build-mcpb.sh: %v\n%s", err, b)
		}
		bundle = filepath.Join(out, "xfollow-mcp-"+version+".mcpb")
	} else if !filepath.IsAbs(bundle) {
		bundle = filepath.Join(root, bundle)
	}
	dir := unzip(t, bundle)

	var m manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	platform := map[string]string{"darwin": "darwin", "linux": "linux", "windows": "win32"}[runtime.GOOS]
	if m.Version != version || !slices.Contains(m.Compatibility.Platforms, platform) {
		t.Fatalf("bundled manifest: version %s, platforms %v; want %s and %s", m.Version, m.Compatibility.Platforms, version, platform)
	}

	readTools := 0
	for _, tl := range tools.All() {
		if tools.Allowed(tl, true) {
			readTools++
		}
	}
	home := t.TempDir()
	for _, tc := range []struct {
		name       string
		userConfig map[string]any
		tools      int
		journal    string
	}{
		// The person enters only the key and keeps every default.
		{"defaults", map[string]any{"aisa_api_key": bundleKey}, len(tools.All()), filepath.Join(home, ".xfollow-journal.jsonl")},
		{"read-only, own journal", map[string]any{"aisa_api_key": bundleKey, "read_only": true, "dry_run": true,
			"journal": filepath.Join(home, "elsewhere.jsonl")}, readTools, filepath.Join(home, "elsewhere.jsonl")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := resolveConfig(t, node, dir, tc.userConfig, home)
			if cfg.Env["AISA_API_KEY"] != bundleKey {
				t.Fatalf("the key did not reach the server's environment: %v", cfg.Env["AISA_API_KEY"] != "")
			}
			for _, a := range append([]string{cfg.Command}, cfg.Args...) {
				if strings.Contains(a, bundleKey) {
					t.Fatal("the key is on the command line")
				}
			}

			cmd := exec.Command(cfg.Command, cfg.Args...)
			// What a host gives a server: a minimal environment, then the config's.
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
			for k, v := range cfg.Env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			cmd.Env = append(cmd.Env, "XFOLLOW_SANDBOX=true")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "xfollow-bundle-test", Version: "0"}, nil)
			session, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second},
				&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}) // the initialize handshake
			if err != nil {
				t.Fatalf("initialize: %v\nstderr:\n%s", err, stderr.String())
			}
			init := session.InitializeResult()
			if init.ServerInfo.Name != "xfollow-mcp" || init.ServerInfo.Version != version {
				t.Errorf("serverInfo %+v, want xfollow-mcp %s (the stamped version)", init.ServerInfo, version)
			}
			lt, err := session.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("tools/list: %v\nstderr:\n%s", err, stderr.String())
			}
			if len(lt.Tools) != tc.tools {
				t.Errorf("%d tools, want %d", len(lt.Tools), tc.tools)
			}
			if err := session.Close(); err != nil {
				t.Errorf("close: %v\nstderr:\n%s", err, stderr.String())
			}
			log := stderr.String()
			if strings.Contains(log, bundleKey) {
				t.Fatal("the key appeared on stderr")
			}
			if !strings.Contains(log, "xfollow-mcp starting") || !strings.Contains(log, "api_key_set=true") {
				t.Errorf("stderr:\n%s", log)
			}
			// The journal, from the default ${HOME} path or the person's own,
			// was opened at start, in the home folder, readable only by them.
			st, err := os.Stat(tc.journal)
			if err != nil {
				t.Fatalf("journal: %v\nstderr:\n%s", err, log)
			}
			if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
				t.Errorf("journal mode %v", st.Mode().Perm())
			}
		})
	}

	// The launcher says so, on stderr only, when the bundle lacks this
	// machine's binary (a single-platform bundle on another CPU).
	if runtime.GOOS != "windows" {
		lonely := t.TempDir()
		launcher, err := os.ReadFile(filepath.Join(dir, "server", "xfollow-mcp"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lonely, "xfollow-mcp"), launcher, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", filepath.Join(lonely, "xfollow-mcp"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil || stdout.Len() != 0 || !strings.Contains(stderr.String(), "this bundle has no binary for") {
			t.Errorf("launcher without a binary: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
		}
	}
}

type mcpConfig struct {
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
}

// resolveConfig asks the reference implementation what a host runs.
func resolveConfig(t *testing.T, node, dir string, userConfig map[string]any, home string) mcpConfig {
	t.Helper()
	uc, _ := json.Marshal(userConfig)
	dirs, _ := json.Marshal(map[string]string{
		"HOME": home, "DESKTOP": filepath.Join(home, "Desktop"),
		"DOCUMENTS": filepath.Join(home, "Documents"), "DOWNLOADS": filepath.Join(home, "Downloads"),
	})
	cmd := exec.Command(node, filepath.Join(root, "scripts", "mcpb-config.mjs"), dir, string(uc), string(dirs))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mcpb-config.mjs: %v\n%s", err, stderr.String())
	}
	var c mcpConfig
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("mcpb-config.mjs printed %s: %v", out, err)
	}
	return c
}

// unzip unpacks a bundle into a new folder, keeping each file's mode.
func unzip(t *testing.T, bundle string) string {
	t.Helper()
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatalf("the bundle is not a zip: %v", err)
	}
	defer zr.Close()
	dir := t.TempDir()
	for _, f := range zr.File {
		if !filepath.IsLocal(f.Name) {
			t.Fatalf("bundle entry %q escapes the folder", f.Name)
		}
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if f.FileInfo().IsDir() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		mode := f.Mode().Perm()
		if mode == 0 {
			mode = 0o644
		}
		w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
