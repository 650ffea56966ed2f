package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// inspectorBinary returns the pinned MCP Inspector that `npm install` puts
// at the repository's root, or skips t (fails it in CI, which installs it).
func inspectorBinary(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "node_modules", ".bin", "mcp-inspector"))
	if err == nil {
		if _, err = os.Stat(p); err == nil {
			_, err = exec.LookPath("node")
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the pinned MCP Inspector is not installed (%v), and CI must connect it through --oauth: run npm install at the repository's root (.ci/run does)", err)
		}
		t.Skipf("the pinned MCP Inspector is not installed (npm install at the repository's root): %v", err)
	}
	return p
}

var navigateRe = regexp.MustCompile(`Please navigate to: (\S+)`)

// TestOAuthInspectorCLI: the MCP Inspector's CLI, an independent TypeScript
// client, connects to `--sandbox --http --oauth` by URL alone: it
// discovers the server from the 401, registers, prints the authorization
// URL and waits on its loopback callback; the person approves on the
// consent page, the browser lands on the callback, and the Inspector lists
// the tools (strictly) and calls them with the token it got.
func TestOAuthInspectorCLI(t *testing.T) {
	t.Parallel()
	insp := inspectorBinary(t)
	s := startOAuth(t, nil, nil)
	run := func(args ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cb := fmt.Sprintf("http://127.0.0.1:%d/oauth/callback", freeLoopbackPort(t))
		a := append([]string{"--cli", "--format", "json", "--transport", "http", "--callback-url", cb}, args...)
		cmd := exec.CommandContext(ctx, insp, append(a, s.URL)...)
		// Secrets in memory only; no TTY, so the prompt is forced on and
		// the "browser" it would start is a no-op: this test is the browser.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "NO_COLOR=1",
			"MCP_INSPECTOR_SECRET_STORE=memory", "MCP_AUTO_OPEN_ENABLED=true", "BROWSER=true"}
		var stdout lockedBuffer
		cmd.Stdout = &stdout
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		prompts := make(chan string, 1)
		var errOut lockedBuffer
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				_, _ = errOut.Write([]byte(line + "\n"))
				if m := navigateRe.FindStringSubmatch(line); m != nil {
					select {
					case prompts <- m[1]:
					default:
					}
				}
			}
		}()
		select {
		case u := <-prompts:
			leaks.saw("url", "inspector authorization", u)
			if !strings.HasPrefix(u, s.Base+"/authorize?") || !strings.Contains(u, "code_challenge_method=S256") {
				t.Errorf("the Inspector opens %s", u)
			}
			loc, r := fillConsent(t, u, consentKey(1))
			if loc == nil || !strings.HasPrefix(loc.String(), cb+"?") || loc.Query().Get("code") == "" {
				t.Fatalf("consent: %v %d %.300s", loc, r.Status, r.Body)
			}
			if back := rawGet(t, loc.String()); back.Status != 200 {
				t.Errorf("the Inspector's callback answered %d: %.200s", back.Status, back.Body)
			}
		case <-copied:
		case <-ctx.Done():
		}
		<-copied
		err = cmd.Wait()
		leaks.sawLines("log", "inspector", errOut.String())
		leaks.sawLines("log", "inspector stdout", stdout.String())
		if err != nil {
			t.Fatalf("inspector %v: %v\nstdout: %.500s\nstderr: %s\nserver: %s", args, err, stdout.String(), errOut.String(), s.stderr.String())
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil {
			t.Fatalf("inspector %v: %v: %.500s", args, err, stdout.String())
		}
		return out
	}
	list := run("--method", "tools/list", "--strict")
	result, _ := list["result"].(map[string]any)
	if tools, _ := result["tools"].([]any); len(tools) < 9 {
		t.Errorf("tools/list over --oauth: %d tools: %.300v", len(tools), list)
	}
	got := run("--method", "tools/call", "--tool-name", "get_x_user", "--tool-args-json", `{"username":"@`+sandbox.MeUsername+`"}`)
	if b, _ := json.Marshal(got); !strings.Contains(string(b), sandbox.MeUsername) || strings.Contains(string(b), `"isError":true`) {
		t.Errorf("get_x_user over --oauth: %.500s", b)
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
