package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// unfollowWrites counts the unfollows the gateway received.
func unfollowWrites(gw *gateway) int {
	n := 0
	for _, r := range gw.Writes() {
		if strings.HasSuffix(r.Path, "/unfollow_twitter") {
			n++
		}
	}
	return n
}

// codeOf is the [code] an error result starts with, or "ok".
func codeOf(res *mcp.CallToolResult) string {
	if !res.IsError {
		return "ok"
	}
	tx := text(res)
	if i := strings.IndexByte(tx, ']'); strings.HasPrefix(tx, "[") && i > 0 {
		return tx[1:i]
	}
	return tx
}

// TestReplicasShareOneBudget: two and three server processes on one Redis,
// each with several callers unfollowing at once, against one gateway. The
// gateway sees exactly the budget's number of unfollows, whatever replica
// the calls land on, and every other call is refused by the budget.
func TestReplicasShareOneBudget(t *testing.T) {
	t.Parallel()
	for _, replicas := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			t.Parallel()
			const budget, callers, perCaller = 7, 3, 4
			rs := redistest.Start(t, redistest.Options{})
			gw := newGateway(t, sandbox.Options{UnfollowLimit: -1, Latency: 2 * time.Millisecond})
			dir := t.TempDir()
			var procs []*proc
			for i := range replicas {
				procs = append(procs, start(t, gw, serverOpts{args: []string{
					"--state", rs.URL(0), "--max-unfollows-per-15m", fmt.Sprint(budget),
					"--journal", filepath.Join(dir, fmt.Sprintf("replica%d.jsonl", i)),
				}}))
			}
			var mu sync.Mutex
			codes := map[string]int{}
			var wg sync.WaitGroup
			next := 0
			for _, p := range procs {
				for range callers {
					ids := simIDs(next, perCaller)
					next += perCaller
					wg.Add(1)
					go func() {
						defer wg.Done()
						for _, id := range ids {
							ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
							res, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: "unfollow_x_user", Arguments: map[string]any{"target_user_id": id}})
							cancel()
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							codes[codeOf(res)]++
							mu.Unlock()
						}
					}()
				}
			}
			// A batch on every replica at the same time as the single calls.
			batches := make([]map[string]any, replicas)
			for i, p := range procs {
				ids := simIDs(1000+10*i, 5)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					res, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: "unfollow_x_users", Arguments: map[string]any{"target_user_ids": ids}})
					if err != nil || res.IsError {
						t.Errorf("batch: %v %s", err, text(res))
						return
					}
					batches[i] = res.StructuredContent.(map[string]any)
				}()
			}
			wg.Wait()
			for _, b := range batches {
				for _, r := range b["results"].([]any) {
					r := r.(map[string]any)
					code := "ok"
					if r["status"] != "unfollowed" {
						code = fmt.Sprint(r["code"])
					}
					codes[code]++
				}
			}
			if n := unfollowWrites(gw); n != budget {
				t.Fatalf("the gateway saw %d unfollows; the shared budget is %d (results %v)", n, budget, codes)
			}
			if codes["ok"] != budget || len(codes) != 2 || codes["budget_exhausted"] < replicas*callers*perCaller-budget {
				t.Fatalf("results %v; want %d ok and the rest budget_exhausted", codes, budget)
			}
			// Each replica's journal holds its own share, and together they
			// hold exactly the budget.
			kept := 0
			for i := range replicas {
				for _, a := range safety.Attempts(journalRecords(t, filepath.Join(dir, fmt.Sprintf("replica%d.jsonl", i)))) {
					if a.Counts() {
						kept++
					}
				}
			}
			if kept != budget {
				t.Fatalf("the journals hold %d unfollows; want %d", kept, budget)
			}
			// Every replica now refuses, naming the shared window's end.
			for _, p := range procs {
				tx := p.fail("unfollow_x_user", id("12"), "budget_exhausted")
				if !strings.Contains(tx, "budget of 7 per 15 minutes") {
					t.Fatal(tx)
				}
			}
		})
	}
}

// TestStateStoreOutageMidRun: Redis stops while two replicas serve; writes
// are refused with [state_unavailable] and nothing reaches the gateway,
// reads are served; Redis comes back (empty) and writes resume with no
// restart of the servers. The password is never printed.
func TestStateStoreOutageMidRun(t *testing.T) {
	t.Parallel()
	const password = "redis-pw-7Hq2"
	rs := redistest.Start(t, redistest.Options{Password: password})
	gw := newGateway(t, sandbox.Options{UnfollowLimit: -1})
	args := []string{"--state", rs.URL(0), "--max-unfollows-per-15m", "3"}
	a := start(t, gw, serverOpts{args: args})
	b := start(t, gw, serverOpts{env: []string{"XFOLLOW_STATE=" + rs.URL(0), "XFOLLOW_MAX_UNFOLLOWS_PER_15M=3"}})
	out := a.ok("unfollow_x_user", id("12"))
	if out["budget"].(map[string]any)["remaining_15m"] != float64(2) {
		t.Fatalf("%v", out)
	}
	out = b.ok("unfollow_x_user", id("783214"))
	if out["budget"].(map[string]any)["remaining_15m"] != float64(1) {
		t.Fatalf("replica b does not see a's unfollow: %v", out)
	}

	rs.Stop()
	for _, p := range []*proc{a, b} {
		tx := p.fail("unfollow_x_user", id("11348282"), "state_unavailable")
		if !strings.Contains(tx, "nothing was sent") {
			t.Fatal(tx)
		}
		res := p.ok("unfollow_x_users", map[string]any{"target_user_ids": simIDs(1, 3)})
		if !strings.HasPrefix(res["stopped"].(string), "[state_unavailable] ") || len(res["not_attempted"].([]any)) != 2 {
			t.Fatalf("batch with Redis down: %v", res)
		}
		p.ok("get_x_user", map[string]any{"username": "TwitterDev"})
		p.ok("check_x_follow_relationship", map[string]any{"source_username": "xfollow_sandbox", "target_username": "TwitterDev"})
	}
	if n := unfollowWrites(gw); n != 2 {
		t.Fatalf("the gateway saw %d unfollows; only the 2 before the outage may have gone", n)
	}

	rs.Restart() // empty: this Redis keeps nothing on disk
	a.ok("unfollow_x_user", id("11348282"))
	out = b.ok("unfollow_x_user", id("2244994945"))
	if out["budget"].(map[string]any)["remaining_15m"] != float64(1) {
		t.Fatalf("after the restart: %v", out)
	}
	for _, p := range []*proc{a, b} {
		p.stop()
		errs := p.stderr.String()
		if strings.Contains(errs, password) {
			t.Fatalf("the Redis password was printed:\n%s", errs)
		}
		if !strings.Contains(errs, "the state store does not answer") || !strings.Contains(errs, "the state store answers again") ||
			!strings.Contains(errs, "redis://:xxxxx@127.0.0.1:") {
			t.Fatalf("stderr does not tell the outage:\n%s", errs)
		}
	}
}

// TestStartWithTheStateStoreDown: the server starts anyway and says so,
// refuses writes and serves reads until Redis answers, then accepts writes.
func TestStartWithTheStateStoreDown(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	rs.Stop()
	gw := newGateway(t, sandbox.Options{UnfollowLimit: -1})
	p := start(t, gw, serverOpts{args: []string{"--state", rs.URL(0)}})
	p.fail("unfollow_x_user", id("12"), "state_unavailable")
	p.ok("get_x_user", map[string]any{"username": "jack"})
	p.ok("follow_x_user", id("1500000000000000001")) // follows spend no budget
	rs.Restart()
	out := p.ok("unfollow_x_user", id("12"))
	if out["budget"].(map[string]any)["remaining_15m"] != float64(49) {
		t.Fatalf("%v", out)
	}
	p.stop()
	errs := p.stderr.String()
	down := strings.Index(errs, "the state store does not answer; every write is refused until it does")
	if down < 0 || down > strings.Index(errs, "xfollow-mcp starting") || !strings.Contains(errs, "answers again") {
		t.Fatalf("start did not say the store is down, or its return was not told:\n%s", errs)
	}
}

// TestWindowsOutliveAServerRestart: the windows live in Redis, so a server
// started again (even without its journal) still sees them; and a journal
// is never replayed into a shared store, which is the truth for every
// replica.
func TestWindowsOutliveAServerRestart(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	gw := newGateway(t, sandbox.Options{UnfollowLimit: -1})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	first := start(t, gw, serverOpts{args: []string{"--state", rs.URL(2), "--max-unfollows-per-15m", "2", "--journal", journal}})
	first.ok("unfollow_x_user", id("12"))
	first.ok("unfollow_x_user", id("783214"))
	first.stop()

	again := start(t, gw, serverOpts{args: []string{"--state", rs.URL(2), "--max-unfollows-per-15m", "2"}})
	tx := again.fail("unfollow_x_user", id("11348282"), "budget_exhausted")
	if !strings.Contains(tx, "frees a slot in") {
		t.Fatal(tx)
	}
	again.stop()

	// Another database of the same Redis holds no windows: the journal's two
	// unfollows are not seeded into it.
	fresh := start(t, gw, serverOpts{args: []string{"--state", rs.URL(5), "--max-unfollows-per-15m", "2", "--journal", journal}})
	out := fresh.ok("unfollow_x_user", id("11348282"))
	if out["budget"].(map[string]any)["remaining_15m"] != float64(1) {
		t.Fatalf("a journal was replayed into the shared store: %v", out)
	}
	if n := unfollowWrites(gw); n != 3 {
		t.Fatalf("%d unfollows reached the gateway; want 3", n)
	}
}
