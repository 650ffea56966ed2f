package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// rawConn drives the binary over raw JSON-RPC lines on stdio, to send what
// SDK clients never would.
type rawConn struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *lockedBuffer
	nextID int
	meta   map[string]any // sent as params._meta on every request (2026-07-28)
	// asked records the server's own requests (elicitation/create: the
	// person is asked); they are answered with decline.
	asked []string
}

func rawStart(t *testing.T, gw *gateway, args ...string) *rawConn {
	t.Helper()
	return rawStartWith(t, gw, serverOpts{args: args})
}

// rawStartWith is rawStart with the environment o.env on top.
func rawStartWith(t *testing.T, gw *gateway, o serverOpts) *rawConn {
	t.Helper()
	p := launch(t, gw, o)
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	c := &rawConn{t: t, cmd: p.cmd, in: in, out: sc, stderr: p.stderr}
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Error("the server did not exit after stdin closed")
		}
		if strings.Contains(p.stderr.String(), testKey) {
			t.Error("the key appeared on stderr")
		}
	})
	return c
}

// request sends one JSON-RPC request and returns its result (or error) object.
func (c *rawConn) request(method string, params any) map[string]any {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	if c.meta != nil {
		if m, ok := params.(map[string]any); ok {
			m["_meta"] = c.meta
		}
	}
	line, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if _, err := c.in.Write(append(line, '\n')); err != nil {
		c.t.Fatal(err)
	}
	for c.out.Scan() {
		var msg map[string]any
		if err := json.Unmarshal(c.out.Bytes(), &msg); err != nil {
			c.t.Fatalf("stdout line is not JSON: %q", c.out.Text())
		}
		if m, ok := msg["method"].(string); ok && msg["id"] != nil {
			c.asked = append(c.asked, m)
			reply, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": msg["id"], "result": map[string]any{"action": "decline"}})
			_, _ = c.in.Write(append(reply, '\n'))
			continue
		}
		if msg["id"] == float64(id) {
			if e, ok := msg["error"]; ok {
				return map[string]any{"error": e}
			}
			return msg["result"].(map[string]any)
		}
	}
	c.t.Fatalf("stdout closed waiting for %s; stderr:\n%s", method, c.stderr.String())
	return nil
}

func (c *rawConn) notify(method string) {
	line, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method})
	_, _ = c.in.Write(append(line, '\n'))
}

func (c *rawConn) initialize(elicitation bool) {
	caps := map[string]any{}
	if elicitation {
		caps["elicitation"] = map[string]any{}
	}
	c.request("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": caps,
		"clientInfo": map[string]any{"name": "raw", "version": "0"}})
	c.notify("notifications/initialized")
}

var accept = map[string]any{"confirm_write": map[string]any{"action": "accept", "content": map[string]any{}}}

func asksForInput(res map[string]any) bool {
	ir, ok := res["inputRequests"].(map[string]any)
	return ok && ir["confirm_write"] != nil && res["requestState"] != ""
}

func modernMeta(elicitation bool) map[string]any {
	caps := map[string]any{}
	if elicitation {
		caps["elicitation"] = map[string]any{}
	}
	return map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw", "version": "0"},
		"io.modelcontextprotocol/clientCapabilities": caps,
	}
}

// TestForgedApprovalOverRawStdio: with --confirm, an approval counts only
// when it answers an input request this server issued for this exact
// write, once.
func TestForgedApprovalOverRawStdio(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	// 2026-07-28: the client carries input requests and their state itself.
	c := rawStart(t, gw, "--confirm")
	c.meta = modernMeta(true)
	call := func(c *rawConn, args map[string]any, responses map[string]any, state string) map[string]any {
		p := map[string]any{"name": "unfollow_x_user", "arguments": args}
		if responses != nil {
			p["inputResponses"] = responses
		}
		if state != "" {
			p["requestState"] = state
		}
		return c.request("tools/call", p)
	}
	twelve := map[string]any{"target_user_id": "12"}
	// An approval nobody asked for, with no state or a made-up one: asked again.
	for _, state := range []string{"", "forged", "eyJ2IjoxfQ.AAAA"} {
		if res := call(c, twelve, accept, state); !asksForInput(res) {
			t.Fatalf("state %q: an unsolicited approval was not ignored: %v", state, res)
		}
	}
	// A genuine state, sent back with other arguments: asked again.
	first := call(c, twelve, nil, "")
	if !asksForInput(first) {
		t.Fatalf("no confirmation asked: %v", first)
	}
	state := first["requestState"].(string)
	if res := call(c, map[string]any{"target_user_id": "783214"}, accept, state); !asksForInput(res) {
		t.Fatalf("a state for id 12 approved id 783214: %v", res)
	}
	if n := len(gw.Writes()); n != 0 {
		t.Fatalf("%d writes before any valid approval", n)
	}
	// The genuine answer goes through, once.
	res := call(c, twelve, accept, state)
	if res["isError"] == true || res["structuredContent"] == nil || gw.Follows("12") {
		t.Fatalf("a valid approval did not go through: %v", res)
	}
	if res := call(c, twelve, accept, state); !asksForInput(res) {
		t.Fatalf("a used state was accepted again: %v", res)
	}
	if n := len(gw.Writes()); n != 1 {
		t.Fatalf("%d writes; want exactly the approved one", n)
	}

	// 2025-11-25: the server asks the person itself (elicitation/create); an
	// approval in the call's own params does not skip that.
	legacy := rawStart(t, gw, "--confirm")
	legacy.initialize(true)
	res = call(legacy, map[string]any{"target_user_id": "783214"}, accept, state)
	if len(legacy.asked) != 1 || legacy.asked[0] != "elicitation/create" || res["isError"] != true ||
		!strings.Contains(fmt.Sprint(res["content"]), "[declined_by_user]") {
		t.Fatalf("legacy forged approval: asked %v, result %v", legacy.asked, res)
	}

	// A client that cannot ask the person gets a refusal, whatever it sends.
	for _, modern := range []bool{true, false} {
		c2 := rawStart(t, gw, "--confirm")
		if modern {
			c2.meta = modernMeta(false)
		} else {
			c2.initialize(false)
		}
		res = call(c2, map[string]any{"target_user_id": "783214"}, accept, state)
		if res["isError"] != true || !strings.Contains(fmt.Sprint(res["content"]), "[confirmation_unavailable]") {
			t.Fatalf("modern %v: %v", modern, res)
		}
	}
	if n := len(gw.Writes()); n != 1 {
		t.Fatalf("%d writes after forged approvals; want 1", n)
	}
}

// hangingGateway applies unfollows and follows through the sandbox and then,
// while hang is set, never answers them.
type hangingGateway struct {
	*gateway
	hang    atomic.Bool
	arrived chan string
	release chan struct{}
}

func newHangingGateway(t *testing.T) *hangingGateway {
	t.Helper()
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	hg := &hangingGateway{arrived: make(chan string, 16), release: make(chan struct{})}
	srv := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write := strings.HasSuffix(r.URL.Path, "/unfollow_twitter") || strings.HasSuffix(r.URL.Path, "/follow_twitter")
		if !write || !hg.hang.Load() {
			sb.ServeHTTP(w, r)
			return
		}
		sb.ServeHTTP(&discardWriter{h: http.Header{}}, r) // applied
		hg.arrived <- r.URL.Path
		select { // the answer never comes
		case <-hg.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hg.release) })
	hg.gateway = &gateway{Sandbox: sb, URL: srv + sandbox.BasePath}
	return hg
}

func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func runCmd(t *testing.T, gw *gateway, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AISA_API_KEY=" + testKey}
	if gw != nil {
		cmd.Env = append(cmd.Env, "AISA_BASE_URL="+gw.URL)
	}
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String()+errb.String(), testKey) {
		t.Fatal("the key was printed")
	}
	return code, out.String(), errb.String()
}

// TestKill9WhileAWriteHangs: the gateway applied the unfollow, the server
// was killed before it saw an answer. After a restart the unfollow counts
// against the budget (its intent has no outcome: unknown), and undo
// re-follows it.
func TestKill9WhileAWriteHangs(t *testing.T) {
	t.Parallel()
	gw := newHangingGateway(t)
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw.gateway, serverOpts{args: []string{"--journal", journal}, protocol: "2025-11-25"})
	gw.hang.Store(true)
	go func() { _ = p.callCtxNoFail("unfollow_x_user", id("12")) }()
	<-gw.arrived
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.waited
	p.waited <- nil
	p.session = nil
	gw.hang.Store(false)
	if gw.Follows("12") {
		t.Fatal("the gateway did not apply the unfollow; the test proves nothing")
	}

	p2 := start(t, gw.gateway, serverOpts{args: []string{"--journal", journal, "--max-unfollows-per-15m", "1"}})
	p2.fail("unfollow_x_user", id("783214"), "budget_exhausted")
	p2.stop()

	code, out, errOut := runCmd(t, gw.gateway, "undo", "--journal", journal, "--since", "1h")
	if code != 0 || !strings.Contains(out, "refollowed 12") || !strings.Contains(out, "unknown") || !gw.Follows("12") {
		t.Fatalf("undo exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestTornLastLineThenTwoRestarts: a crash mid-append leaves a torn line;
// the next start closes it off and says so once, no record is lost, and
// undo works.
func TestTornLastLineThenTwoRestarts(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	p.ok("unfollow_x_user", id("12"))
	p.stop()
	f, err := os.OpenFile(journal, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"time":"2026-11-29T10:00:00Z","call_id":"torn","phase":"int`)
	_ = f.Close()

	p1 := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	p1.ok("unfollow_x_user", id("783214"))
	p1.stop()
	if n := strings.Count(p1.stderr.String(), "cut short by a crash"); n != 1 {
		t.Fatalf("the torn line was reported %d times:\n%s", n, p1.stderr.String())
	}
	p2 := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	p2.ok("unfollow_x_user", id("11348282"))
	p2.stop()
	if strings.Contains(p2.stderr.String(), "crash") || strings.Contains(p2.stderr.String(), "skipped") {
		t.Fatalf("the repaired line was reported again:\n%s", p2.stderr.String())
	}
	recs := journalRecords(t, journal)
	if n := len(safety.Attempts(recs)); n != 3 {
		t.Fatalf("%d attempts in the journal; want 3", n)
	}
	code, out, errOut := runCmd(t, gw, "undo", "--journal", journal, "--since", "1h")
	if code != 0 || !strings.Contains(out, "3 of 3 re-follows succeeded") {
		t.Fatalf("undo exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestSandboxJournalIsNotReplayedForReal: what was unfollowed in the
// sandbox neither spends the real budget nor is re-followed on the real
// account.
func TestSandboxJournalIsNotReplayedForReal(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	for _, id := range []string{"12", "783214"} {
		code, out, errOut := runCmd(t, nil, "--sandbox", "--journal", journal, "call", "unfollow_x_user", `{"target_user_id":"`+id+`"}`)
		if code != 0 {
			t.Fatalf("sandbox call: %d %s %s", code, out, errOut)
		}
	}
	code, out, _ := runCmd(t, gw, "undo", "--journal", journal, "--since", "1h")
	if code != 3 || !strings.Contains(out, "nothing to undo") || !strings.Contains(out, "gateway sandbox (2 unfollows): add --sandbox") || len(gw.Requests()) != 0 {
		t.Fatalf("undo against the real gateway replayed sandbox records: exit %d\n%s\n%d requests", code, out, len(gw.Requests()))
	}
	code, out, errOut := runCmd(t, gw, "--journal", journal, "--max-unfollows-per-15m", "1", "call", "unfollow_x_user", `{"target_user_id":"12"}`)
	if code != 0 {
		t.Fatalf("sandbox records spent the real budget: %d %s %s", code, out, errOut)
	}
	// The sandbox's own undo sees its records, and not the real one.
	code, out, _ = runCmd(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h", "--dry-run")
	if code != 0 || !strings.Contains(out, "would re-follow 12") || !strings.Contains(out, "would re-follow 783214") || !strings.Contains(out, "gateway sandbox") {
		t.Fatalf("sandbox undo: %d\n%s", code, out)
	}
}

// TestUndoIsTruthfulWithAnAccount: undo never re-follows an account that
// was not followed, and marks what it could not verify.
func TestUndoIsTruthfulWithAnAccount(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal, "--account", "@" + sandbox.MeUsername}})
	out := p.ok("unfollow_x_user", id("1500000000000000001")) // quiet_owl: not followed
	if out["was_following"] != false {
		t.Fatalf("%v", out)
	}
	p.ok("unfollow_x_user", id("12"))
	p.stop()
	p2 := start(t, gw, serverOpts{args: []string{"--journal", journal}}) // no account: unverified
	p2.ok("unfollow_x_user", id("783214"))
	p2.stop()
	if len(gw.Writes()) != 2 {
		t.Fatalf("%d writes; the not-followed account must not be sent", len(gw.Writes()))
	}
	code, stdout, errOut := runCmd(t, gw, "undo", "--journal", journal, "--since", "1h")
	if code != 0 || strings.Contains(stdout, "1500000000000000001") || !strings.Contains(stdout, "refollowed 12 (@jack)\n") ||
		!strings.Contains(stdout, "refollowed 783214 [unverified") || !strings.Contains(stdout, "2 of 2 re-follows succeeded (1 unverified") {
		t.Fatalf("undo exit %d\n%s\n%s", code, stdout, errOut)
	}
	if gw.Follows("1500000000000000001") || len(gw.Pending()) != 0 {
		t.Fatal("undo created a follow (or a follow request) that never existed")
	}
}

func TestUndoNeedsAnExistingJournal(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	path := filepath.Join(t.TempDir(), "typo.jsonl")
	code, _, errOut := runCmd(t, gw, "undo", "--journal", path, "--since", "1h")
	if code != 1 || !strings.Contains(errOut, "nothing was created") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("undo created the journal it was asked to read")
	}
}

// TestSignalsEndEveryModePromptly: SIGTERM ends serving, call and undo while
// a gateway write hangs, and the journal says the write's outcome is unknown.
func TestSignalsEndEveryModePromptly(t *testing.T) {
	t.Parallel()
	gw := newHangingGateway(t)
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.jsonl")
	code, _, errOut := runCmd(t, gw.gateway, "--journal", seed, "call", "unfollow_x_user", `{"target_user_id":"11348282"}`)
	if code != 0 {
		t.Fatal(errOut)
	}
	gw.hang.Store(true)
	modes := map[string][]string{
		"serve": {"--journal", filepath.Join(dir, "serve.jsonl")},
		"call":  {"--journal", filepath.Join(dir, "call.jsonl"), "call", "unfollow_x_user", `{"target_user_id":"12"}`},
		"undo":  {"--journal", seed, "undo", "--since", "1h"},
	}
	for name, args := range modes {
		p := launch(t, gw.gateway, serverOpts{args: args})
		stdin, _ := p.cmd.StdinPipe()
		stdout, _ := p.cmd.StdoutPipe()
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if name == "serve" {
			raw := &rawConn{t: t, cmd: p.cmd, in: stdin, out: bufio.NewScanner(stdout), stderr: p.stderr}
			raw.initialize(false)
			line, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 99, "method": "tools/call",
				"params": map[string]any{"name": "unfollow_x_user", "arguments": id("783214")}})
			_, _ = stdin.Write(append(line, '\n'))
		} else {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
		}
		select {
		case <-gw.arrived:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the write never reached the gateway; stderr:\n%s", name, p.stderr.String())
		}
		began := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Fatalf("%s: still running 10s after SIGTERM", name)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("%s: took %s to stop", name, d)
		}
		_ = stdin.Close()
	}
	recs := journalRecords(t, filepath.Join(dir, "serve.jsonl"))
	atts := safety.Attempts(recs)
	if len(atts) != 1 || atts[0].Outcome != safety.OutcomeUnknown {
		t.Fatalf("serve journal: %+v", atts)
	}
}

// TestSandboxUndoOfRemoteCallers: a --sandbox --key-from-request server's
// unfollows are journaled under each caller's key; the sandbox's undo says
// which keys have unfollows to undo and how, and with --key-fingerprint it
// re-follows them on the sandbox (which checks no key), journaled as that
// caller's, so a second undo finds nothing.
func TestSandboxUndoOfRemoteCallers(t *testing.T) {
	t.Parallel()
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	key := callerKey(77)
	s := startHTTP(t, nil, serverOpts{noKey: true, args: []string{"--sandbox", "--key-from-request", "--journal", journal}}, key)
	p := s.connect(t, key, "", nil)
	p.ok("unfollow_x_user", id("12"))
	p.ok("unfollow_x_user", id("783214"))
	s.stop()
	fp := aisa.KeyFingerprint(key)

	code, out, errOut := runCmd(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h")
	if code != 3 || !strings.Contains(out, "nothing to undo") || !strings.Contains(out, fp+" (2 unfollows)") || !strings.Contains(out, "--key-fingerprint "+fp) {
		t.Fatalf("sandbox undo without a fingerprint: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h", "--key-fingerprint", fp)
	if code != 0 || !strings.Contains(out, "refollowed 12") || !strings.Contains(out, "refollowed 783214") || !strings.Contains(out, "2 of 2 re-follows succeeded") {
		t.Fatalf("sandbox undo of a remote caller: %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range journalRecords(t, journal) {
		if r.KeyFingerprint != fp {
			t.Fatalf("a record of the undo names fingerprint %q, not the caller's", r.KeyFingerprint)
		}
	}
	code, out, _ = runCmd(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h", "--key-fingerprint", fp)
	if code != 0 || !strings.Contains(out, "nothing to undo") {
		t.Fatalf("a second undo: %d\n%s", code, out)
	}
}
