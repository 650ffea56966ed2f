package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestHTTPReplicasTakeOverAJobFromAKilledRunner: two --key-from-request
// replicas with XFOLLOW_SECRET, each with a journal of its own, on one
// Redis. A caller starts a job on the first, which starts running it; the
// second starts; the first is killed with SIGKILL. The second takes the job
// over (the lease lasts a second at this clock scale), the caller sees it
// completed there, every target was unfollowed exactly once, and no
// process printed the caller's key or the secret.
func TestHTTPReplicasTakeOverAJobFromAKilledRunner(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	gw := newRecordingGateway(t, sandbox.Options{Account: sandbox.BigUsername, UnfollowLimit: -1})
	key := callerKey(71)
	sec := "e2e-secret-" + strings.Repeat("x", 40)
	opts := func() serverOpts {
		return serverOpts{noKey: true, args: []string{"--key-from-request", "--state", rs.URL(0),
			"--journal", filepath.Join(t.TempDir(), "journal.jsonl")},
			env: []string{"XFOLLOW_SECRET=" + sec, "XFOLLOW_CLOCK_SCALE=3000"}}
	}
	a := startHTTP(t, gw.gateway, opts(), key, sec)
	ids := sandbox.BigNonFollowers()[:40]
	pa := connect(t, a.URL, key, "", nil, &lockedBuffer{})
	out := pa.ok("start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	jobID := out["job"].(map[string]any)["job_id"].(string)
	sent := func() map[string]int {
		m := map[string]int{}
		for _, c := range gw.Calls() {
			if c.Path == "/twitter/unfollow_twitter" {
				m[c.Target]++
			}
		}
		return m
	}
	deadline := time.Now().Add(time.Minute)
	for len(sent()) < 10 {
		if time.Now().After(deadline) {
			t.Fatal("the first replica sent nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := startHTTP(t, gw.gateway, opts(), key, sec)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wantExit = -1
	killed := time.Now()
	if n := len(sent()); n >= len(ids) {
		t.Fatalf("the job ended (%d sent) before its runner was killed: the test proves nothing", n)
	}
	pb := connect(t, b.URL, key, "", nil, &lockedBuffer{})
	for {
		j := pb.ok("get_x_unfollow_jobs", map[string]any{"job_id": jobID})["job"].(map[string]any)
		if j["status"] == "completed" {
			if fmt.Sprint(j["counts"].(map[string]any)["ok"]) != fmt.Sprint(len(ids)) {
				t.Fatalf("completed with %v", j["counts"])
			}
			break
		}
		if time.Since(killed) > 45*time.Second {
			t.Fatalf("the job is %v (%v) %s after the runner was killed", j["status"], j["status_text"], time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range ids {
		if n := sent()[id]; n != 1 {
			t.Fatalf("%s unfollowed %d times", id, n)
		}
	}
}
