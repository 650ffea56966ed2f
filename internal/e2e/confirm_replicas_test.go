package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

const (
	replicaSecret = "REPLICA-SECRET-0123456789abcdef-LEAKCHECK"
	otherSecret   = "OTHER-SECRET-0123456789abcdef-LEAKCHECK"
)

// TestConfirmationAcrossReplicas: three replicas on one real Redis, two of
// them with the same XFOLLOW_SECRET. An approval asked on one is accepted
// on the other, once: answering it again on either asks again and sends
// nothing. A replica with another secret does not accept it.
func TestConfirmationAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	gw := newGateway(t, sandbox.Options{})
	replica := func(sec string) *rawConn {
		c := rawStartWith(t, gw, serverOpts{args: []string{"--confirm", "--state", rs.URL(0)}, env: []string{"XFOLLOW_SECRET=" + sec}})
		c.meta = modernMeta(true)
		t.Cleanup(func() {
			for _, s := range []string{replicaSecret, otherSecret} {
				if strings.Contains(c.stderr.String(), s) {
					t.Error("XFOLLOW_SECRET appeared on stderr")
				}
			}
		})
		return c
	}
	a, b, other := replica(replicaSecret), replica(replicaSecret), replica(otherSecret)
	twelve := map[string]any{"target_user_id": "12"}
	call := func(c *rawConn, state string) map[string]any {
		p := map[string]any{"name": "unfollow_x_user", "arguments": twelve}
		if state != "" {
			p["inputResponses"], p["requestState"] = accept, state
		}
		return c.request("tools/call", p)
	}
	first := call(a, "")
	if !asksForInput(first) {
		t.Fatalf("replica a did not ask: %v", first)
	}
	state := first["requestState"].(string)
	if res := call(other, state); !asksForInput(res) || len(gw.Writes()) != 0 {
		t.Fatalf("a replica with another secret accepted the approval: %v", res)
	}
	res := call(b, state)
	if res["isError"] == true || res["structuredContent"] == nil || gw.Follows("12") {
		t.Fatalf("replica b did not accept the approval asked on a: %v", res)
	}
	for name, c := range map[string]*rawConn{"a": a, "b": b} {
		if res := call(c, state); !asksForInput(res) {
			t.Fatalf("the used approval was accepted again on %s: %v", name, res)
		}
	}
	if n := len(gw.Writes()); n != 1 {
		t.Fatalf("%d writes, want exactly the approved one", n)
	}

	// Redis stops: an approval cannot be checked for reuse, so it is
	// refused (state_unavailable), never taken as new.
	second := call(a, "")
	if !asksForInput(second) {
		t.Fatalf("no confirmation asked: %v", second)
	}
	rs.Stop()
	res = call(b, second["requestState"].(string))
	if res["isError"] != true || !strings.Contains(fmt.Sprint(res["content"]), "[state_unavailable]") {
		t.Fatalf("with Redis down: %v", res)
	}
	if n := len(gw.Writes()); n != 1 {
		t.Fatalf("%d writes with Redis down, want 1", n)
	}
}

// TestConfirmationAcrossHTTPReplicas: an SDK client behind a round-robin
// proxy over two --http replicas sharing XFOLLOW_SECRET and Redis gets its
// unfollow through with one question: the call is asked on one replica and
// its approved retry served by the other (their metrics say which).
func TestConfirmationAcrossHTTPReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	gw := newGateway(t, sandbox.Options{})
	var backends []*httpServer
	for range 2 {
		backends = append(backends, startHTTP(t, gw, serverOpts{
			args: []string{"--confirm", "--state", rs.URL(0), "--metrics", "127.0.0.1:0"},
			env:  []string{"XFOLLOW_SECRET=" + replicaSecret},
		}, replicaSecret))
	}
	var asked atomic.Int32
	copts := &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked.Add(1)
		return &mcp.ElicitResult{Action: "accept"}, nil
	}}
	front := roundRobin(t, backends)
	p := connect(t, front, "", "", copts, backends[0].stderr)
	out := p.ok("unfollow_x_user", id("12"))
	if out["following"] != false || gw.Follows("12") || asked.Load() != 1 || len(gw.Writes()) != 1 {
		t.Fatalf("unfollow across replicas: %v, asked %d times, %d writes", out, asked.Load(), len(gw.Writes()))
	}
	calls := regexp.MustCompile(`mcp_server_operation_duration_seconds_count\{error_type="",gen_ai_tool_name="unfollow_x_user",[^}]*\} (\d+)`)
	written := regexp.MustCompile(`xfollow_writes_total\{outcome="ok",tool="unfollow_x_user"\} (\d+)`)
	var perReplica []string
	total := 0
	for _, s := range backends {
		_, body := get(t, metricsURL(t, s.stderr))
		n, w := 0, 0
		if m := calls.FindStringSubmatch(body); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if m := written.FindStringSubmatch(body); m != nil {
			w, _ = strconv.Atoi(m[1])
		}
		total += w
		perReplica = append(perReplica, fmt.Sprintf("%d calls/%d writes", n, w))
		if n != 1 {
			t.Errorf("each replica should have served one round of the call: %v", perReplica)
		}
	}
	if total != 1 {
		t.Errorf("writes per replica: %v", perReplica)
	}
}

// TestReplicasWithConfirmNeedTheSecret: --confirm with --state and no
// XFOLLOW_SECRET does not start, and says why.
func TestReplicasWithConfirmNeedTheSecret(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	for _, mode := range [][]string{nil, {"--http", "127.0.0.1:0"}} {
		p := launch(t, gw, serverOpts{args: append([]string{"--confirm", "--state", "redis://127.0.0.1:1/0"}, mode...)})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, p.cmd.Path, p.cmd.Args[1:]...)
		cmd.Env, cmd.Stderr = p.cmd.Env, p.stderr
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("%v: exit %v, want 2 (a usage error)\nstderr:\n%s", mode, err, p.stderr.String())
		}
		if s := p.stderr.String(); !strings.Contains(s, "XFOLLOW_SECRET") || !strings.Contains(s, "another replica") {
			t.Fatalf("%v: the refusal does not say why:\n%s", mode, s)
		}
	}
}
