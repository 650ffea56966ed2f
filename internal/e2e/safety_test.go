package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

func simIDs(from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("17%017d", from+i)
	}
	return ids
}

func journalRecords(t *testing.T, path string) []safety.Record {
	t.Helper()
	recs, warnings, err := safety.ReadJournalFile(path)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("journal: %v, skipped %v", err, warnings)
	}
	return recs
}

func TestReadOnlyOverStdio(t *testing.T) {
	t.Parallel()
	for _, protocol := range []string{"2025-11-25", ""} { // "" is the client's default, the 2026-07-28 era
		gw := newGateway(t, sandbox.Options{})
		p := start(t, gw, serverOpts{args: []string{"--read-only"}, protocol: protocol})
		lt, err := p.session.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range lt.Tools {
			if !tl.Annotations.ReadOnlyHint {
				t.Errorf("%q: read-only lists %s", protocol, tl.Name)
			}
		}
		if len(lt.Tools) != 7 {
			t.Fatalf("%q: %d tools", protocol, len(lt.Tools))
		}
		for _, name := range []string{"unfollow_x_user", "unfollow_x_users", "follow_x_user", "link_x_account"} {
			_, err = p.session.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: id("12")})
			if err == nil || !strings.Contains(err.Error(), "[read_only] "+name+" changes the X account, and this server runs read-only") {
				t.Fatalf("%q: %s in read-only mode: %v", protocol, name, err)
			}
		}
		if len(gw.Requests()) != 0 {
			t.Fatalf("%q: the gateway was called", protocol)
		}
	}
}

func TestDryRunAndProtectOverStdio(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	p := start(t, gw, serverOpts{args: []string{"--dry-run", "--protect", "783214"}, protocol: "2025-11-25"})
	out := p.ok("unfollow_x_user", map[string]any{"target_user_id": "12", "expected_username": "jack"})
	if out["dry_run"] != true || !strings.Contains(out["note"].(string), "would have been unfollowed") {
		t.Fatalf("%v", out)
	}
	p.fail("unfollow_x_user", id("783214"), "protected_account")
	if len(gw.Writes()) != 0 || !gw.Follows("12") {
		t.Fatal("dry run reached the gateway's write endpoint")
	}
}

// TestBudgetSurvivesRestart: the 51st unfollow in 15 minutes is refused, and
// a restart with the same journal does not reset the count.
func TestBudgetSurvivesRestart(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{UnfollowLimit: -1})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	b := p.ok("unfollow_x_users", map[string]any{"target_user_ids": simIDs(1, 50)})
	if len(b["results"].([]any)) != 50 || b["budget"].(map[string]any)["remaining_15m"] != float64(0) {
		t.Fatalf("%v", b)
	}
	p.fail("unfollow_x_user", id("12"), "budget_exhausted")
	p.stop()

	p2 := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	tx := p2.fail("unfollow_x_user", id("12"), "budget_exhausted")
	if !strings.Contains(tx, "50 per 15 minutes") {
		t.Errorf("%s", tx)
	}
	if n := len(gw.Writes()); n != 50 {
		t.Fatalf("the gateway saw %d unfollows; want 50", n)
	}
	// Lifting the limit with its flag lets it through.
	p3 := start(t, gw, serverOpts{args: []string{"--journal", journal, "--max-unfollows-per-15m", "0"}})
	p3.ok("unfollow_x_user", id("12"))
}

func TestJournalIntentPrecedesTheGateway(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	gw.FailNext("/twitter/unfollow_twitter", 400, `{"error":{"code":"invalid_request","message":"refused by test"}}`, nil)
	p.fail("unfollow_x_user", map[string]any{"target_user_id": "12", "expected_username": "jack"}, "gateway_error")
	recs := journalRecords(t, journal)
	if len(recs) != 2 || recs[0].Phase != "intent" || recs[1].Outcome != "failed" || recs[1].Code != "gateway_error" {
		t.Fatalf("%+v", recs)
	}
	w := gw.Writes()
	if len(w) != 1 || !recs[0].Time.Before(w[0].Time.Add(time.Millisecond)) {
		t.Fatalf("the intent (%v) is not before the gateway saw the request (%v)", recs[0].Time, w)
	}
	st, _ := os.Stat(journal)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v", st.Mode().Perm())
	}
}

func TestUnwritableJournal(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	// What is not a regular file is refused at start, at once: a FIFO would
	// otherwise block the start for ever, a device swallow the records.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/full", t.TempDir()} {
		for _, args := range [][]string{{"--journal", path}, {"undo", "--journal", path, "--since", "1h"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			cmd := exec.CommandContext(ctx, binary, args...)
			cmd.Env = []string{"AISA_API_KEY=" + testKey, "AISA_BASE_URL=" + gw.URL}
			began := time.Now()
			out, err := cmd.CombinedOutput()
			cancel()
			if err == nil || !strings.Contains(string(out), "not a regular file") || time.Since(began) > 5*time.Second {
				t.Fatalf("%v: err = %v after %s, output %s", args, err, time.Since(began), out)
			}
		}
	}
	// A journal that cannot be opened stops the server at start.
	cmd := exec.Command(binary, "--journal", filepath.Join(t.TempDir(), "no", "such", "dir", "j.jsonl"))
	cmd.Env = []string{"AISA_API_KEY=" + testKey, "AISA_BASE_URL=" + gw.URL}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot be opened for appending") {
		t.Fatalf("err = %v, output %s", err, out)
	}
	if strings.Contains(string(out), testKey) {
		t.Fatal("the key was printed")
	}
}

// TestUndoRestoresTheGraph: undo re-follows what the journal shows was
// unfollowed, and only that.
func TestUndoRestoresTheGraph(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	before := gw.Following()
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal, "--protect", "11348282"}})
	p.ok("unfollow_x_user", id("12"))
	p.ok("unfollow_x_users", map[string]any{"target_user_ids": []string{"783214", "2244994945", "11348282"}})
	p.fail("unfollow_x_user", map[string]any{"target_user_id": "1700000000000000001", "expected_username": "jack"}, "identity_mismatch")
	p.stop()
	if slices.Equal(gw.Following(), before) {
		t.Fatal("nothing was unfollowed")
	}
	run := func(extra ...string) (string, error) {
		args := append([]string{"undo", "--journal", journal, "--since", "1h"}, extra...)
		cmd := exec.Command(binary, args...)
		cmd.Env = []string{"AISA_API_KEY=" + testKey, "AISA_BASE_URL=" + gw.URL}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("--dry-run")
	if err != nil || !strings.Contains(out, "would re-follow 12") || gw.Follows("12") {
		t.Fatalf("dry-run undo: %v\n%s", err, out)
	}
	out, err = run()
	if err != nil {
		t.Fatalf("undo: %v\n%s", err, out)
	}
	if !strings.Contains(out, "3 of 3 re-follows succeeded") {
		t.Fatalf("undo output:\n%s", out)
	}
	if !slices.Equal(gw.Following(), before) {
		t.Fatalf("undo did not restore the graph: %v", out)
	}
	// Undo journals what it did; a second undo finds nothing left to do.
	out, err = run()
	if err != nil || !strings.Contains(out, "nothing to undo") {
		t.Fatalf("second undo: %v\n%s", err, out)
	}
	// An undo whose re-follow fails exits non-zero.
	p2 := start(t, gw, serverOpts{args: []string{"--journal", journal}})
	p2.ok("unfollow_x_user", id("12"))
	p2.stop()
	gw.Unlink()
	if out, err := run(); err == nil || !strings.Contains(out, "x_account_not_linked") {
		t.Fatalf("failing undo: %v\n%s", err, out)
	}
}

func TestConfirmOverStdio(t *testing.T) {
	t.Parallel()
	for _, pv := range protocols {
		for _, action := range []string{"accept", "decline"} {
			t.Run(pv.name+"/"+action, func(t *testing.T) {
				t.Parallel()
				gw := newGateway(t, sandbox.Options{})
				var mu sync.Mutex
				var asked []string
				copts := &mcp.ClientOptions{ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					mu.Lock()
					asked = append(asked, req.Params.Message)
					mu.Unlock()
					return &mcp.ElicitResult{Action: action}, nil
				}}
				p := start(t, gw, serverOpts{args: []string{"--confirm"}, protocol: pv.pin, client: copts})
				res := p.call("unfollow_x_user", map[string]any{"target_user_id": "12", "expected_username": "jack"})
				if action == "accept" {
					if res.IsError || gw.Follows("12") {
						t.Fatalf("accepted but: %s", text(res))
					}
				} else if !res.IsError || !strings.HasPrefix(text(res), "[declined_by_user]") || len(gw.Writes()) != 0 {
					t.Fatalf("declined but: %s", text(res))
				}
				mu.Lock()
				defer mu.Unlock()
				if len(asked) != 1 || !strings.Contains(asked[0], "@jack (id 12)") {
					t.Fatalf("asked %q", asked)
				}
			})
		}
		t.Run(pv.name+"/no-elicitation", func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, sandbox.Options{})
			p := start(t, gw, serverOpts{args: []string{"--confirm"}, protocol: pv.pin})
			p.fail("unfollow_x_user", id("12"), "confirmation_unavailable")
			if len(gw.Writes()) != 0 {
				t.Fatal("wrote without confirmation")
			}
		})
	}
}

func TestBatchProgressAndMidwayStops(t *testing.T) {
	t.Parallel()
	t.Run("progress", func(t *testing.T) {
		t.Parallel()
		gw := newGateway(t, sandbox.Options{})
		var mu sync.Mutex
		var seen []float64
		copts := &mcp.ClientOptions{ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			seen = append(seen, req.Params.Progress)
			mu.Unlock()
		}}
		p := start(t, gw, serverOpts{protocol: "2025-11-25", client: copts})
		params := &mcp.CallToolParams{Name: "unfollow_x_users", Arguments: map[string]any{"target_user_ids": simIDs(1, 5)}}
		params.SetProgressToken("batch-1")
		res, err := p.session.CallTool(t.Context(), params)
		if err != nil || res.IsError {
			t.Fatalf("%v %v", err, res)
		}
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n == 5 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 5 || seen[4] != 5 {
			t.Fatalf("progress = %v", seen)
		}
	})
	t.Run("rate limit midway", func(t *testing.T) {
		t.Parallel()
		gw := newGateway(t, sandbox.Options{UnfollowLimit: 3})
		p := start(t, gw, serverOpts{})
		b := p.ok("unfollow_x_users", map[string]any{"target_user_ids": simIDs(1, 6)})
		res := b["results"].([]any)
		if len(res) != 4 || res[3].(map[string]any)["code"] != "rate_limited" || len(b["not_attempted"].([]any)) != 2 || b["retry_after_seconds"].(float64) < 1 {
			t.Fatalf("%v", b)
		}
	})
	t.Run("auth error midway", func(t *testing.T) {
		t.Parallel()
		gw := newGateway(t, sandbox.Options{})
		gw.FailNext("/twitter/unfollow_twitter", 200, `{"data":{"following":false}}`, nil)
		gw.FailNext("/twitter/unfollow_twitter", 401, `{"error":{"code":"revoked_api_key","message":"revoked"}}`, nil)
		p := start(t, gw, serverOpts{})
		b := p.ok("unfollow_x_users", map[string]any{"target_user_ids": simIDs(1, 4)})
		res := b["results"].([]any)
		if len(res) != 2 || res[1].(map[string]any)["code"] != "auth_invalid" || len(b["not_attempted"].([]any)) != 2 {
			t.Fatalf("%v", b)
		}
		if len(gw.Writes()) != 2 {
			t.Fatalf("writes after the auth error: %d", len(gw.Writes()))
		}
	})
}

// TestBatchCancelledMidway: the batch stops between items, and the journal
// agrees with what the gateway applied.
func TestBatchCancelledMidway(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{Latency: 60 * time.Millisecond})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal}, protocol: "2025-11-25"})
	ids := simIDs(1, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: "unfollow_x_users", Arguments: map[string]any{"target_user_ids": ids}})
	if err == nil {
		t.Fatal("the call finished before it was cancelled; make the gateway slower")
	}
	time.Sleep(300 * time.Millisecond)
	n := len(gw.Writes())
	time.Sleep(300 * time.Millisecond)
	if len(gw.Writes()) != n || n >= len(ids) {
		t.Fatalf("the batch kept going after cancellation: %d then %d writes", n, len(gw.Writes()))
	}
	// Still serving.
	p.ok("get_x_user", map[string]any{"username": "jack"})
	checkJournalAgainstGateway(t, journalRecords(t, journal), gw)
}

// checkJournalAgainstGateway: every write the gateway received has an intent
// record, and every id with an ok outcome is no longer followed.
func checkJournalAgainstGateway(t *testing.T, recs []safety.Record, gw *gateway) {
	t.Helper()
	intents := map[string]bool{}
	for _, r := range recs {
		if r.Phase == "intent" {
			intents[r.TargetUserID] = true
		}
		if r.Phase == "outcome" && r.Outcome == "ok" && gw.Follows(r.TargetUserID) {
			t.Errorf("journal says %s was unfollowed, but the gateway still follows it", r.TargetUserID)
		}
	}
	for _, w := range gw.Writes() {
		if !intents[w.TargetUserID] {
			t.Errorf("the gateway received an unfollow of %s with no intent record", w.TargetUserID)
		}
	}
	applied := 0
	for _, w := range gw.Writes() {
		if !gw.Follows(w.TargetUserID) {
			applied++
		}
	}
	if applied == 0 {
		t.Error("nothing was applied before the stop; the test proves nothing")
	}
}

// TestKill9DuringBatch: a kill -9 mid-batch leaves a journal that parses line
// by line and accounts for every request the gateway received.
func TestKill9DuringBatch(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{Latency: 40 * time.Millisecond})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--journal", journal}, protocol: "2025-11-25"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.session.CallTool(context.Background(), &mcp.CallToolParams{Name: "unfollow_x_users", Arguments: map[string]any{"target_user_ids": simIDs(1, 40)}})
	}()
	for len(gw.Writes()) < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	time.Sleep(100 * time.Millisecond)
	raw, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	recs, warnings, err := safety.ReadJournal(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("journal does not parse: %v", err)
	}
	if len(warnings) > 1 {
		t.Fatalf("%d torn lines", len(warnings))
	}
	checkJournalAgainstGateway(t, recs, gw)
	p.session = nil // already dead
}
