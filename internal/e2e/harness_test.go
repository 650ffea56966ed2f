// Package e2e drives the built xfollow-mcp binary over stdio with an
// independent MCP client, the official Go SDK, against the sandbox gateway
// served from the test process.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// testKey is recognisable so that tests can prove it never leaks.
const testKey = "sk-aisa-E2E-LEAKCHECK-5d1e"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xfollow-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "xfollow-mcp")
	build := exec.Command("go", "build", "-o", binary, "../..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	if !checkLeaks() && code == 0 {
		code = 1
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gateway is a sandbox served from the test process.
type gateway struct {
	*sandbox.Sandbox
	URL string
}

func newGateway(t *testing.T, o sandbox.Options) *gateway {
	t.Helper()
	sb := sandbox.New(o)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &gateway{Sandbox: sb, URL: srv.URL + sandbox.BasePath}
}

type serverOpts struct {
	args     []string
	env      []string // on top of a minimal environment
	noKey    bool
	protocol string // "" = the SDK's default (2026-07-28)
	client   *mcp.ClientOptions
}

// proc is a running server with a connected client session.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	session *mcp.ClientSession
	stdout  *lockedBuffer
	stderr  *lockedBuffer
	waited  chan error
	stdin   io.WriteCloser
	copied  chan struct{} // closed once stdout has been read to its end
}

// copyStdout reads every byte the server writes to stdout into p.stdout, to
// its end, and hands the same bytes to the client for as long as it reads
// them. Neither the client closing its session nor Wait (which closes a
// StdoutPipe as soon as the process exits, perhaps before the last line has
// been read) can cut what the test checks.
func (p *proc) copyStdout(r io.ReadCloser, client *io.PipeWriter) {
	defer close(p.copied)
	defer r.Close()
	buf := make([]byte, 32<<10)
	toClient := true
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = p.stdout.Write(buf[:n])
			if toClient {
				if _, werr := client.Write(buf[:n]); werr != nil {
					toClient = false // the client has closed its end
				}
			}
		}
		if err != nil {
			_ = client.Close()
			return
		}
	}
}

// start spawns the binary against gw (nil: no gateway env) and connects.
func start(t *testing.T, gw *gateway, o serverOpts) *proc {
	t.Helper()
	p := launch(t, gw, o)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	copts := o.client
	if copts == nil {
		copts = &mcp.ClientOptions{}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "xfollow-e2e", Version: "0"}, copts)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = outW
	p.stdin, err = p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = outW.Close() // the child holds its own copy
	clientR, clientW := io.Pipe()
	p.copied = make(chan struct{})
	go p.copyStdout(outR, clientW)
	go func() { p.waited <- p.cmd.Wait() }()
	transport := &mcp.IOTransport{Reader: clientR, Writer: p.stdin}
	session, err := c.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: o.protocol})
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, p.stderr.String())
	}
	p.session = session
	t.Cleanup(p.stop)
	return p
}

func launch(t *testing.T, gw *gateway, o serverOpts) *proc {
	t.Helper()
	cmd := exec.Command(binary, o.args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if !o.noKey {
		cmd.Env = append(cmd.Env, "AISA_API_KEY="+testKey)
	}
	if gw != nil {
		cmd.Env = append(cmd.Env, "AISA_BASE_URL="+gw.URL)
	}
	cmd.Env = append(cmd.Env, o.env...)
	p := &proc{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	watchProcess(t, o.args, p.stderr, p.stdout)
	return p
}

// stop closes the session (stdin EOF), waits for a clean exit and checks
// stdout and stderr.
func (p *proc) stop() {
	t := p.t
	if p.session != nil {
		_ = p.session.Close()
		p.session = nil
	}
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	select {
	case err := <-p.waited:
		if err != nil && !strings.Contains(err.Error(), "killed") {
			t.Errorf("server exit: %v\nstderr:\n%s", err, p.stderr.String())
		}
		p.waited <- err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("server did not exit after stdin closed")
	}
	if p.copied != nil {
		select {
		case <-p.copied:
		case <-time.After(10 * time.Second):
			t.Errorf("stdout was not read to its end")
		}
	}
	checkStdout(t, p.stdout.String())
	for name, out := range map[string]string{"stdout": p.stdout.String(), "stderr": p.stderr.String()} {
		if strings.Contains(out, testKey) {
			t.Errorf("the API key appeared on %s", name)
		}
	}
}

// checkStdout asserts that every line the server wrote is a JSON-RPC message.
func checkStdout(t *testing.T, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		var msg struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal(line, &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Errorf("stdout carried a line that is not JSON-RPC: %.200q", line)
		}
	}
}

func (p *proc) call(name string, args any) *mcp.CallToolResult {
	p.t.Helper()
	return p.callCtx(context.Background(), name, args)
}

func (p *proc) callCtx(ctx context.Context, name string, args any) *mcp.CallToolResult {
	p.t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	res, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		p.t.Fatalf("%s: %v\nstderr:\n%s", name, err, p.stderr.String())
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}

// ok asserts success; the text must be the same JSON as structuredContent.
func (p *proc) ok(name string, args any) map[string]any {
	p.t.Helper()
	res := p.call(name, args)
	if res.IsError {
		p.t.Fatalf("%s: %s", name, text(res))
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var sc, tx map[string]any
	if err := json.Unmarshal(raw, &sc); err != nil {
		p.t.Fatalf("%s: structuredContent %s", name, raw)
	}
	if err := json.Unmarshal([]byte(text(res)), &tx); err != nil {
		p.t.Fatalf("%s: text is not JSON: %s", name, text(res))
	}
	a, _ := json.Marshal(sc)
	b, _ := json.Marshal(tx)
	if !bytes.Equal(a, b) {
		p.t.Fatalf("%s: text %s != structuredContent %s", name, b, a)
	}
	return sc
}

// fail asserts an error result starting with [code].
func (p *proc) fail(name string, args any, code string) string {
	p.t.Helper()
	res := p.call(name, args)
	tx := text(res)
	if !res.IsError || !strings.HasPrefix(tx, "["+code+"] ") {
		p.t.Fatalf("%s: want [%s], got isError=%v %s", name, code, res.IsError, tx)
	}
	if res.StructuredContent != nil {
		p.t.Fatalf("%s: error result carries structuredContent", name)
	}
	return tx
}

func id(s string) map[string]any { return map[string]any{"target_user_id": s} }

// startPiped starts cmd with pipes to its stdin and stdout and its stderr
// collected; stop kills it and waits for it.
func startPiped(t *testing.T, cmd *exec.Cmd) (stdin io.WriteCloser, stdout io.ReadCloser, stderr *lockedBuffer, stop func()) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err = cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdin, stdout, stderr, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}
