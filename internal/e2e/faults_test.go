package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// faultGateway serves the sandbox, except that unfollow requests go to
// fault(n, w, r) first; when it returns false the sandbox answers.
type faultGateway struct {
	*gateway
	calls atomic.Int32
}

func newFaultGateway(t *testing.T, fault func(n int, w http.ResponseWriter, r *http.Request) bool) *faultGateway {
	t.Helper()
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	fg := &faultGateway{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/twitter/unfollow_twitter") {
			n := int(fg.calls.Add(1))
			// Keep the body for the sandbox, and let net/http see the
			// client hang up (it watches the connection only once the
			// body has been read).
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			if fault(n, w, r) {
				return
			}
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	fg.gateway = &gateway{Sandbox: sb, URL: srv.URL + sandbox.BasePath}
	return fg
}

// resetMidBody writes a status line and half a body, then drops the connection.
func resetMidBody(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"data\":{\"foll")
	_ = buf.Flush()
	_ = conn.Close()
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc here")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// TestFaults: one case per gateway fault. Each asserts the exact error (or
// the recovery), that the server keeps serving the next call, that stdout
// holds only JSON-RPC, and that the key appears in none of stdout, stderr,
// the error texts or the journal (the harness and the end of this test).
func TestFaults(t *testing.T) {
	t.Parallel()
	big := 50 << 20
	cases := []struct {
		name   string
		args   []string
		fault  func(n int, w http.ResponseWriter, r *http.Request) bool
		code   string // "" means the call succeeds
		says   string
		after  func(t *testing.T, p *proc, fg *faultGateway)
		tryMax time.Duration
	}{
		{name: "hangs past the timeout", args: []string{"--timeout", "150ms"}, code: "timeout",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true },
			after: func(t *testing.T, p *proc, fg *faultGateway) {
				if fg.calls.Load() != 4 {
					t.Errorf("attempts = %d, want 4", fg.calls.Load())
				}
			}},
		{name: "connection reset mid-body, then good", code: "",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					resetMidBody(w)
					return true
				}
				return false
			},
			after: func(t *testing.T, p *proc, fg *faultGateway) {
				if fg.calls.Load() != 2 {
					t.Errorf("attempts = %d, want 2", fg.calls.Load())
				}
			}},
		{name: "html", code: "bad_gateway_response", says: "not a JSON object",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
				return true
			}},
		{name: "truncated json", code: "bad_gateway_response",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				_, _ = io.WriteString(w, `{"ok":true,"code":200,"data":{"following":fa`)
				return true
			}},
		{name: "50 MiB body", code: "bad_gateway_response", says: "larger than",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				chunk := []byte(strings.Repeat(" ", 64<<10))
				_, _ = w.Write([]byte(`{"data":{"following":false},"pad":"`))
				for sent := 0; sent < big; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return true
					}
				}
				return true
			},
			after: func(t *testing.T, p *proc, fg *faultGateway) {
				if kib := rssKiB(t, p.cmd.Process.Pid); kib > 40<<10 {
					t.Errorf("resident memory %d KiB after a 50 MiB body; the body cap did not hold", kib)
				}
			}},
		{name: "slow drip of bytes", args: []string{"--timeout", "300ms"}, code: "timeout",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				body := `{"data":{"following":false}}`
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(200)
				for i := 0; i < len(body); i++ {
					if _, err := w.Write([]byte{body[i]}); err != nil {
						return true
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return true
					case <-time.After(100 * time.Millisecond):
					}
				}
				return true
			}},
		{name: "429 Retry-After seconds, then good", code: "",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(429)
					return true
				}
				return false
			}},
		{name: "429 Retry-After HTTP date, then good", code: "",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					w.Header().Set("Retry-After", time.Now().Add(time.Second).UTC().Format(http.TimeFormat))
					w.WriteHeader(429)
					return true
				}
				return false
			}},
		{name: "429 Retry-After absurdly large", code: "rate_limited", says: "rate limited (429); retry after 4611686018 seconds", // the largest wait a Go duration holds
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Retry-After", "99999999999")
				w.WriteHeader(429)
				return true
			},
			after: func(t *testing.T, p *proc, fg *faultGateway) {
				if fg.calls.Load() != 1 {
					t.Errorf("attempts = %d; a wait above the cap must not be slept", fg.calls.Load())
				}
			}},
		{name: "storm of 503s", code: "gateway_unavailable", says: "status 503 (service unavailable) after 4 attempts",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(503)
				_, _ = io.WriteString(w, `{"error":{"type":"upstream_error","code":"upstream_unavailable","message":"down"}}`)
				return true
			}},
		{name: "success envelope without following", code: "bad_gateway_response", says: "without a boolean data.following",
			fault: func(n int, w http.ResponseWriter, r *http.Request) bool {
				_, _ = io.WriteString(w, `{"ok":true,"code":200,"data":{"result":"done"}}`)
				return true
			}},
		{name: "redirect to another host", code: "bad_gateway_response", says: "redirect"}, // fault set below
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stolen atomic.Int32
			thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
			defer thief.Close()
			fault := tc.fault
			if tc.name == "redirect to another host" {
				fault = func(n int, w http.ResponseWriter, r *http.Request) bool {
					http.Redirect(w, r, thief.URL+"/steal", http.StatusTemporaryRedirect)
					return true
				}
			}
			fg := newFaultGateway(t, fault)
			journal := filepath.Join(t.TempDir(), "journal.jsonl")
			args := append([]string{"--journal", journal, "--log-level", "debug"}, tc.args...)
			p := start(t, fg.gateway, serverOpts{args: args, protocol: "2025-11-25"})
			if tc.code == "" {
				out := p.ok("unfollow_x_user", id("12"))
				if out["following"] != false || fg.Follows("12") {
					t.Fatalf("%v", out)
				}
			} else {
				tx := p.fail("unfollow_x_user", id("12"), tc.code)
				if !strings.Contains(tx, tc.says) {
					t.Errorf("%q does not say %q", tx, tc.says)
				}
			}
			if tc.after != nil {
				tc.after(t, p, fg)
			}
			if stolen.Load() != 0 {
				t.Fatal("the request followed a redirect to another host")
			}
			// The server keeps serving.
			p.ok("get_x_user", map[string]any{"username": "jack"})
			raw, _ := os.ReadFile(journal)
			if strings.Contains(string(raw), testKey) {
				t.Fatal("the key is in the journal")
			}
			if strings.Count(string(raw), `"phase":"intent"`) != strings.Count(string(raw), `"phase":"outcome"`) {
				t.Errorf("journal has unmatched intents:\n%s", raw)
			}
		})
	}
}

// TestStdinClosedMidCall: EOF on stdin while a call is in flight ends the
// server cleanly, with a complete journal.
func TestStdinClosedMidCall(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{Latency: 300 * time.Millisecond})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal}, protocol: "2025-11-25"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.callCtxNoFail("unfollow_x_users", map[string]any{"target_user_ids": simIDs(1, 5)})
	}()
	for len(gw.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_ = p.stdin.Close()
	select {
	case err := <-p.waited:
		p.waited <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after stdin closed")
	}
	<-done
	recs := journalRecords(t, journal)
	open := map[string]int{}
	for _, r := range recs {
		if r.Phase == "intent" {
			open[r.CallID]++
		} else {
			open[r.CallID]--
		}
	}
	for id, n := range open {
		if n != 0 {
			t.Errorf("call %s has an intent without an outcome", id)
		}
	}
	if len(recs) == 0 {
		t.Fatal("nothing was journaled")
	}
	p.session = nil
}

func (p *proc) callCtxNoFail(name string, args any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	return err
}
