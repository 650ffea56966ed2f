package cli

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// replica builds a server on a shared gateway and Redis, with its own
// journal, as a replica on another machine would run.
func replica(t *testing.T, gw *sandbox.Server, state string, scale float64) *app {
	t.Helper()
	return replicaOn(t, gw, state, filepath.Join(t.TempDir(), "j.jsonl"), scale)
}

func replicaOn(t *testing.T, gw *sandbox.Server, state, journal string, scale float64) *app {
	t.Helper()
	cfg := config.Config{APIKey: "sk-aisa-REPLICA-TEST", BaseURL: gw.URL, Account: sandbox.BigUsername,
		Journal: journal, State: state, Timeout: 5 * time.Second,
		MaxUnfollowsPer15m: 50, MaxUnfollowsPerDay: 400, JobMaxPer15m: 45, JobMaxPerDay: 360, Workers: 8, ClockScale: scale}
	a, err := build(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// dyingLocker is a replica's leases that a "killed" runner does not give
// back: they lapse, as a dead process's would.
type dyingLocker struct {
	*jobs.Redis
	mu   sync.Mutex
	dead bool
	took time.Time // when this replica first held a lease
}

func (d *dyingLocker) TryLock(id string) (bool, error) {
	d.mu.Lock()
	dead := d.dead
	d.mu.Unlock()
	if dead {
		return false, nil
	}
	ok, err := d.Redis.TryLock(id)
	if ok {
		d.mu.Lock()
		if d.took.IsZero() {
			d.took = time.Now()
		}
		d.mu.Unlock()
	}
	return ok, err
}
func (d *dyingLocker) Unlock(string) {}
func (d *dyingLocker) Close()        {}
func (d *dyingLocker) kill() {
	d.mu.Lock()
	d.dead = true
	d.mu.Unlock()
}
func (d *dyingLocker) firstHeld() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.took
}

func unfollowsByTarget(sb *sandbox.Sandbox) map[string]int {
	out := map[string]int{}
	for _, r := range sb.Writes() {
		if r.Path == "/twitter/unfollow_twitter" {
			out[r.TargetUserID]++
		}
	}
	return out
}

// TestReplicasShareAJobAndTakeOverFromADeadRunner: two replicas on one
// Redis, each with its own journal. A job started on one is seen and
// steered from the other; exactly one advances it; when that one's runner
// dies (its lease is not given back) the other takes the job over within
// the lease's life, and every target is unfollowed exactly once.
func TestReplicasShareAJobAndTakeOverFromADeadRunner(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	gw, err := sandbox.Start(sandbox.Options{Account: sandbox.BigUsername, UnfollowLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	const scale = 3000 // a lease of 30 s lasts 1 s (its floor)
	a := replica(t, gw, rs.URL(0), scale)
	b := replica(t, gw, rs.URL(0), scale)
	ids := sandbox.BigNonFollowers()[:60]
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	// The other replica sees it, and can pause and resume it.
	got := callTool(t, b, "get_x_unfollow_jobs", map[string]any{"job_id": id})
	if got["job"].(map[string]any)["total"] != float64(len(ids)) {
		t.Fatalf("replica b sees %v", got)
	}
	callTool(t, b, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "pause"})
	if s := callTool(t, a, "get_x_unfollow_jobs", map[string]any{"job_id": id})["job"].(map[string]any)["status"]; s != "paused" {
		t.Fatalf("replica a sees the job %v after b paused it", s)
	}
	callTool(t, b, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "resume"})

	la := &dyingLocker{Redis: a.jobs.Runner.Locks.(*jobs.Redis)}
	lb := &dyingLocker{Redis: b.jobs.Runner.Locks.(*jobs.Redis)}
	a.jobs.Runner.Locks, b.jobs.Runner.Locks = la, lb
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopA, stopB := a.startRunner(ctx), b.startRunner(ctx)
	defer stopA()
	defer stopB()
	deadline := time.Now().Add(time.Minute)
	for len(unfollowTimes(gw.Sandbox)) < 15 {
		if time.Now().After(deadline) {
			t.Fatal("the job sent nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Kill whichever runs it.
	victim, other, survivor := la, lb, b
	if !lb.firstHeld().IsZero() && (la.firstHeld().IsZero() || lb.firstHeld().Before(la.firstHeld())) {
		victim, other, survivor = lb, la, a
	}
	if !other.firstHeld().IsZero() {
		t.Fatal("both replicas held the job's lease")
	}
	victim.kill()
	killed := time.Now()
	for other.firstHeld().IsZero() {
		if time.Since(killed) > 10*time.Second {
			t.Fatal("no replica took the job over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The lease lasts 1 s here; at scale 1 it is 30 s, so a takeover within
	// its life and a poll is within 60 s.
	if took := other.firstHeld().Sub(killed); took > 2*time.Second {
		t.Fatalf("takeover after %s; the lease lasts 1s", took)
	}
	// The surviving replica's view (the dead one's is frozen where it died).
	fp, gwName, _ := survivor.jobs.Store.Owner(id)
	for {
		_ = survivor.jobs.Store.Refresh()
		sum, _ := survivor.jobs.Store.Summary(id, fp, gwName, false)
		if sum.Status == jobs.StatusCompleted {
			if sum.Counts[jobs.OutcomeOK] != len(ids) {
				t.Fatalf("counts %v", sum.Counts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) %v", sum.Status, sum.StatusText, sum.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, target := range ids {
		if n := unfollowsByTarget(gw.Sandbox)[target]; n != 1 {
			t.Fatalf("%s unfollowed %d times", target, n)
		}
	}
}

// TestRedisDownMeansTheJobWaits: with the store down the job waits in
// waiting_state and nothing is sent; when it is back the job goes on, and
// every target is unfollowed once.
func TestRedisDownMeansTheJobWaits(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	gw, err := sandbox.Start(sandbox.Options{Account: sandbox.BigUsername, UnfollowLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	a := replica(t, gw, rs.URL(0), 3000)
	ids := sandbox.BigNonFollowers()[:40]
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx)
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for len(unfollowTimes(gw.Sandbox)) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the job sent nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs.Stop()
	waitStatus(t, a, id, 10*time.Second, jobs.StatusWaitingState)
	sent := len(unfollowTimes(gw.Sandbox))
	time.Sleep(time.Second)
	if n := len(unfollowTimes(gw.Sandbox)); n != sent {
		t.Fatalf("%d unfollows sent while the state store was down", n-sent)
	}
	rs.Restart()
	waitStatus(t, a, id, time.Minute, jobs.StatusCompleted)
	for _, target := range ids {
		if n := unfollowsByTarget(gw.Sandbox)[target]; n != 1 {
			t.Fatalf("%s unfollowed %d times", target, n)
		}
	}
}

// TestTwoServersOnOneJournal: two servers sharing a journal (two MCP hosts
// on one machine) both run their runners; the job's file lock lets one
// advance it, every target is unfollowed exactly once, and both see it
// completed.
func TestTwoServersOnOneJournal(t *testing.T) {
	gw, err := sandbox.Start(sandbox.Options{Account: sandbox.BigUsername, UnfollowLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	a := replicaOn(t, gw, "", journal, 5000)
	b := replicaOn(t, gw, "", journal, 5000)
	ids := sandbox.BigNonFollowers()[:40]
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopA, stopB := a.startRunner(ctx), b.startRunner(ctx)
	defer stopA()
	defer stopB()
	waitStatus(t, b, id, time.Minute, jobs.StatusCompleted)
	waitStatus(t, a, id, time.Minute, jobs.StatusCompleted)
	for _, target := range ids {
		if n := unfollowsByTarget(gw.Sandbox)[target]; n != 1 {
			t.Fatalf("%s unfollowed %d times", target, n)
		}
	}
}
