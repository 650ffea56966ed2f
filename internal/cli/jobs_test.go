package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// jobApp builds a sandbox server on @xfollow_big with a journal, at a clock
// scale.
func jobApp(t *testing.T, journal string, scale float64) *app {
	t.Helper()
	cfg := config.Config{Sandbox: true, Account: sandbox.BigUsername, Journal: journal, Timeout: 20 * time.Second,
		MaxUnfollowsPer15m: 50, MaxUnfollowsPerDay: 400, JobMaxPer15m: 25, JobMaxPerDay: 300,
		SandboxUnfollowLimit: 50, Workers: 8, ClockScale: scale}
	a, err := build(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

func callTool(t *testing.T, a *app, name string, args any) map[string]any {
	t.Helper()
	ctx := context.Background()
	c, err := a.inProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, _ := json.Marshal(args)
	res, err := a.call(ctx, c, name, raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("%s: %s", name, resultText(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func callToolError(t *testing.T, a *app, name string, args any) string {
	t.Helper()
	ctx := context.Background()
	c, err := a.inProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, _ := json.Marshal(args)
	res, err := a.call(ctx, c, name, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Fatalf("%s succeeded; want an error", name)
	}
	return resultText(res)
}

// waitStatus polls the store until the job reaches one of the statuses.
func waitStatus(t *testing.T, a *app, id string, limit time.Duration, statuses ...string) jobs.Summary {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_ = a.jobs.Store.Refresh() // what other processes on the journal did
		fp, gw, ok := a.jobs.Store.Owner(id)
		if !ok && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		sum, err := a.jobs.Store.Summary(id, fp, gw, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range statuses {
			if sum.Status == s {
				return sum
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s (%s) after %s: %+v", id, sum.Status, sum.StatusText, limit, sum.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkWindows fails unless no window of span holds more than limit of the
// times (sorted), and returns the smallest gap.
func checkWindows(t *testing.T, times []time.Time, span time.Duration, limit int, what string) {
	t.Helper()
	for i := range times {
		j := sort.Search(len(times), func(k int) bool { return times[k].After(times[i].Add(-span)) })
		if n := i - j + 1; n > limit {
			t.Fatalf("%s: %d sends in the %s ending %s; the ceiling is %d", what, n, span, times[i].Format(time.RFC3339), limit)
		}
	}
}

func unfollowTimes(sb *sandbox.Sandbox) []time.Time {
	var out []time.Time
	for _, r := range sb.Writes() {
		if r.Path == "/twitter/unfollow_twitter" {
			out = append(out, r.Time)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Before(out[b]) })
	return out
}

// TestBigJobRunsWithinEveryLimit: the 771 non-followers of @xfollow_big,
// approved once, run to completed with no agent calling, at a clock 20000
// times real time, with a stop of some two hours half way; window by
// window, no 15 minutes holds more than the job's 25 or the budget's 50
// less its reserve, no 24 hours more than 300 or 360, no two sends are
// closer than a quarter of the mean gap (no burst after the stop), and the
// gaps vary.
func TestBigJobRunsWithinEveryLimit(t *testing.T) {
	a := jobApp(t, filepath.Join(t.TempDir(), "j.jsonl"), 20000)
	ids := sandbox.BigNonFollowers()
	// A duplicate, and an id that follows back (skipped at its check).
	list := append(append([]string{}, ids...), ids[0], sandbox.BigUserID(sandbox.BigFollowingCount))
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": list})
	job := out["job"].(map[string]any)
	id := job["job_id"].(string)
	if job["total"] != float64(len(ids)+1) || out["skipped"].(map[string]any)["duplicates"] != float64(1) {
		t.Fatalf("start = %v", out)
	}
	if job["eta"] == nil || job["next_at"] == nil {
		t.Fatalf("no eta: %v", job)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx)
	// Downtime half way: the runner stops for some two hours of the job's
	// clock; when it starts again it must not catch up in a burst.
	deadline := time.Now().Add(2 * time.Minute)
	for len(unfollowTimes(a.sandbox.Sandbox)) < len(ids)/2 {
		if time.Now().After(deadline) {
			t.Fatal("half the job was not sent in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	time.Sleep(400 * time.Millisecond)
	stop = a.startRunner(ctx)
	sum := waitStatus(t, a, id, 3*time.Minute, jobs.StatusCompleted)
	stop()
	if sum.Counts[jobs.OutcomeOK] != len(ids) || sum.Counts[jobs.OutcomeFollowsBack] != 1 {
		t.Fatalf("counts %v", sum.Counts)
	}
	times := unfollowTimes(a.sandbox.Sandbox)
	if len(times) != len(ids) {
		t.Fatalf("%d unfollows sent; want %d", len(times), len(ids))
	}
	checkWindows(t, times, 15*time.Minute, 25, "job per 15m")
	checkWindows(t, times, 24*time.Hour, 300, "job per day")
	// The budget (50 and 400) less the tenth kept for interactive calls.
	checkWindows(t, times, 15*time.Minute, 45, "budget per 15m")
	checkWindows(t, times, 24*time.Hour, 360, "budget per day")
	mean := jobs.Pace{Per15m: 25, PerDay: 300}.MeanGap()
	var sum1, sum2 float64
	for i := 1; i < len(times); i++ {
		g := times[i].Sub(times[i-1])
		if g > time.Hour {
			continue // the downtime
		}
		if g < mean/4 {
			t.Fatalf("two sends %s apart; the floor is %s", g, mean/4)
		}
		sum1 += g.Seconds()
		sum2 += g.Seconds() * g.Seconds()
	}
	n := float64(len(times) - 2)
	m := sum1 / n
	sd := math.Sqrt(sum2/n - m*m)
	span := times[len(times)-1].Sub(times[0])
	t.Logf("%d sends over %s: %.0f a day against a ceiling of 300; gaps mean %.0fs, stddev %.0fs", len(times), span.Round(time.Minute), float64(len(times)-1)/span.Hours()*24, m, sd)
	if sd < m/5 {
		t.Fatalf("gaps: mean %.0fs, stddev %.0fs: under a fifth of the mean", m, sd)
	}
	for _, id := range ids {
		if a.sandbox.Sandbox.Follows(id) {
			t.Fatalf("%s still followed", id)
		}
	}
}

// TestPauseCancelAndAnotherCallersJob: after pause answers, nothing more is
// sent until resume; after cancel, nothing more at all, and the accounts not
// reached read cancelled. Another key's job id answers [job_not_found],
// exactly as an unknown one does.
func TestPauseCancelAndAnotherCallersJob(t *testing.T) {
	a := jobApp(t, filepath.Join(t.TempDir(), "j.jsonl"), 20000)
	ids := sandbox.BigNonFollowers()[:200]
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx)
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for len(unfollowTimes(a.sandbox.Sandbox)) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the job sent nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p := callTool(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "pause"})
	if p["job"].(map[string]any)["status"] != "paused" {
		t.Fatalf("pause = %v", p)
	}
	// A send in flight when pause answered may still land; none after it.
	time.Sleep(50 * time.Millisecond)
	sent := len(unfollowTimes(a.sandbox.Sandbox))
	time.Sleep(300 * time.Millisecond) // some 70 minutes of the job's clock
	if n := len(unfollowTimes(a.sandbox.Sandbox)); n != sent {
		t.Fatalf("%d unfollows sent while paused", n-sent)
	}
	callTool(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "resume"})
	for len(unfollowTimes(a.sandbox.Sandbox)) < sent+3 {
		if time.Now().After(deadline) {
			t.Fatal("the job did not resume")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := callTool(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "cancel"})
	job := c["job"].(map[string]any)
	time.Sleep(50 * time.Millisecond)
	sent = len(unfollowTimes(a.sandbox.Sandbox))
	time.Sleep(300 * time.Millisecond)
	if n := len(unfollowTimes(a.sandbox.Sandbox)); n != sent {
		t.Fatalf("%d unfollows sent after cancel", n-sent)
	}
	if job["status"] != "cancelled" || job["counts"].(map[string]any)["cancelled"] == nil {
		t.Fatalf("cancel = %v", job)
	}
	if txt := callToolError(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "resume"}); txt == "" {
		t.Fatal("no error")
	}

	// Another key's job, in the same journal.
	other := jobs.Def{ID: jobs.NewID(), Kind: jobs.KindUnfollow, KeyFingerprint: "0123456789abcdef", Gateway: "sandbox",
		Username: sandbox.BigUsername, TargetUserIDs: ids[:2], ConsentAt: time.Now(), Pace: jobs.Pace{Per15m: 1, PerDay: 1}, Tool: "start_x_unfollow_job"}
	if _, err := a.jobs.Store.Create(other); err != nil {
		t.Fatal(err)
	}
	for _, args := range []map[string]any{
		{"job_id": other.ID, "action": "cancel"},
		{"job_id": other.ID, "action": "undo"},
		{"job_id": jobs.NewID(), "action": "pause"},
	} {
		txt := callToolError(t, a, "control_x_unfollow_job", args)
		if len(txt) < 15 || txt[:15] != "[job_not_found]" {
			t.Fatalf("%v: %s", args, txt)
		}
	}
	if txt := callToolError(t, a, "get_x_unfollow_jobs", map[string]any{"job_id": other.ID}); txt[:15] != "[job_not_found]" {
		t.Fatal(txt)
	}
	list := callTool(t, a, "get_x_unfollow_jobs", map[string]any{})
	if n := len(list["jobs"].([]any)); n != 1 {
		t.Fatalf("the caller sees %d jobs; want its own 1", n)
	}
	if fp, _, _ := a.jobs.Store.Owner(other.ID); fp != "0123456789abcdef" {
		t.Fatal("the other job changed owner")
	}
	// The other key's job was never advanced by this server.
	if sum, _ := a.jobs.Store.Summary(other.ID, other.KeyFingerprint, "sandbox", false); sum.Done != 0 {
		t.Fatalf("another key's job advanced: %+v", sum)
	}
}

// TestCleanUpPromptEndsInOneJob: on a server that keeps jobs the guided
// clean-up ends in one start_x_unfollow_job, reported by its eta; on one
// that keeps none it stays with batches.
func TestCleanUpPromptEndsInOneJob(t *testing.T) {
	for _, tc := range []struct {
		journal bool
		want    string
		not     string
	}{
		{true, "call start_x_unfollow_job once", "unfollow_x_users, passing"},
		{false, "unfollow_x_users, passing their ids", "start_x_unfollow_job"},
	} {
		journal := ""
		if tc.journal {
			journal = filepath.Join(t.TempDir(), "j.jsonl")
		}
		a := jobApp(t, journal, 1)
		ctx := context.Background()
		c, err := a.inProcess(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := mcp.GetPromptRequest{}
		req.Params.Name = "clean_up_following"
		res, err := c.GetPrompt(ctx, req)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		text := res.Messages[0].Content.(mcp.TextContent).Text
		if !strings.Contains(text, tc.want) || strings.Contains(text, tc.not) || (tc.journal && !strings.Contains(text, "eta")) {
			t.Fatalf("journal %v: %s", tc.journal, text)
		}
	}
}

// TestJobToolArguments: the server validates every job tool argument, and a
// dry run plans a job without storing or sending anything.
func TestJobToolArguments(t *testing.T) {
	a := jobApp(t, filepath.Join(t.TempDir(), "j.jsonl"), 1)
	many := make([]string, 10001)
	for i := range many {
		many[i] = sandbox.BigUserID(i)
	}
	for _, tc := range []struct {
		tool string
		args map[string]any
		code string
	}{
		{"start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": many}, "[invalid_argument]"},
		{"start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": []string{"@jack"}}, "[invalid_argument]"},
		{"start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": []string{}}, "[invalid_argument]"},
		{"start_x_unfollow_job", map[string]any{"username": "someone_else", "target_user_ids": []string{"12"}}, "[invalid_argument]"},
		{"start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": []string{"12"}, "all": true}, "[invalid_argument]"},
		{"control_x_unfollow_job", map[string]any{"job_id": "job_1", "action": "pause"}, "[invalid_argument]"},
		{"control_x_unfollow_job", map[string]any{"job_id": jobs.NewID(), "action": "delete"}, "[invalid_argument]"},
		{"get_x_unfollow_jobs", map[string]any{"job_id": "JOB_X"}, "[invalid_argument]"},
		{"get_x_unfollow_history", map[string]any{"since": "yesterday"}, "[invalid_argument]"},
		{"get_x_unfollow_history", map[string]any{"limit": 501}, "[invalid_argument]"},
	} {
		if txt := callToolError(t, a, tc.tool, tc.args); !strings.HasPrefix(txt, tc.code) {
			t.Errorf("%s %v: %s", tc.tool, tc.args, txt)
		}
	}

	cfg := a.cfg
	cfg.DryRun = true
	d, err := build(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	ids := sandbox.BigNonFollowers()[:30]
	out := callTool(t, d, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	job := out["job"].(map[string]any)
	if job["dry_run"] != true || job["eta"] == nil || job["total"] != float64(30) {
		t.Fatalf("dry run = %v", job)
	}
	// An empty list is left out of the answer (omitempty), as before.
	if list := callTool(t, d, "get_x_unfollow_jobs", map[string]any{}); list["jobs"] != nil {
		t.Fatalf("a dry run stored a job: %v", list)
	}
	if n := len(unfollowTimes(d.sandbox.Sandbox)); n != 0 {
		t.Fatalf("a dry run sent %d unfollows", n)
	}
}

// TestJobGatewayAnswers: a 429 makes the job wait its Retry-After before
// the next unfollow; an account that is gone is skipped as gone and the job
// goes on; an unlinked account (403) makes the job wait as needs_link, and
// linking it again lets the job finish.
func TestJobGatewayAnswers(t *testing.T) {
	a := jobApp(t, filepath.Join(t.TempDir(), "j.jsonl"), 20000)
	sb := a.sandbox.Sandbox
	ids := append([]string{"999999999999"}, sandbox.BigNonFollowers()[:4]...)
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	sb.FailNext("/twitter/unfollow_twitter", 429, `{"error":{"type":"rate_limit_error","message":"slow down"}}`, http.Header{"Retry-After": {"3600"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx)
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for len(unfollowTimes(sb)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the job did not go on after the 429")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var limited, next time.Time
	for _, r := range sb.Requests() {
		if r.Path != "/twitter/unfollow_twitter" {
			continue
		}
		if r.Status == 429 {
			limited = r.Time
		} else if !limited.IsZero() && next.IsZero() {
			next = r.Time
		}
	}
	if limited.IsZero() || next.Sub(limited) < time.Hour {
		t.Fatalf("429 at %s, next unfollow at %s: the Retry-After of an hour was not kept", limited, next)
	}
	sb.Unlink()
	waitStatus(t, a, id, time.Minute, jobs.StatusNeedsLink)
	sb.Link()
	sum := waitStatus(t, a, id, time.Minute, jobs.StatusCompleted)
	if sum.Counts[jobs.OutcomeGone] != 1 || sum.Counts[jobs.OutcomeOK] != 4 {
		t.Fatalf("counts %v", sum.Counts)
	}
}

// TestUndoJobFollowsAgainWhatTheJobUnfollowed: undo of a completed job is a
// paced follow job over its ok accounts only (not the one that followed
// back); the job undone stays completed.
func TestUndoJobFollowsAgainWhatTheJobUnfollowed(t *testing.T) {
	a := jobApp(t, filepath.Join(t.TempDir(), "j.jsonl"), 20000)
	ids := append(append([]string{}, sandbox.BigNonFollowers()[:6]...), sandbox.BigUserID(sandbox.BigFollowingCount))
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx)
	defer stop()
	waitStatus(t, a, id, time.Minute, jobs.StatusCompleted)
	u := callTool(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "undo"})["job"].(map[string]any)
	if u["kind"] != "follow" || u["undo_of"] != id || u["total"] != float64(6) {
		t.Fatalf("undo = %v", u)
	}
	sum := waitStatus(t, a, u["job_id"].(string), time.Minute, jobs.StatusCompleted)
	if sum.Counts[jobs.OutcomeOK] != 6 {
		t.Fatalf("undo counts %v", sum.Counts)
	}
	for _, target := range ids[:6] {
		if !a.sandbox.Sandbox.Follows(target) {
			t.Fatalf("%s not followed again", target)
		}
	}
	if s := callTool(t, a, "get_x_unfollow_jobs", map[string]any{"job_id": id})["job"].(map[string]any)["status"]; s != "completed" {
		t.Fatalf("the undone job is %v", s)
	}
}

// TestPauseDuringARetryWaitSendsNothingMore: a job's write that met a 429
// is not sent again, after its Retry-After, once the job was paused in the
// wait: pause answered means nothing more is sent.
func TestPauseDuringARetryWaitSendsNothingMore(t *testing.T) {
	a := jobApp(t, filepath.Join(t.TempDir(), "j.jsonl"), 20000)
	sb := a.sandbox.Sandbox
	ids := sandbox.BigNonFollowers()[:3]
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	sb.FailNext("/twitter/unfollow_twitter", 429, `{"error":{"type":"rate_limit_error","message":"slow down"}}`, http.Header{"Retry-After": {"1"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx)
	defer stop()
	unfollows := func() (limited, sent int) {
		for _, r := range sb.Requests() {
			if r.Path == "/twitter/unfollow_twitter" {
				if r.Status == 429 {
					limited++
				} else {
					sent++
				}
			}
		}
		return limited, sent
	}
	deadline := time.Now().Add(time.Minute)
	for l, _ := unfollows(); l == 0; l, _ = unfollows() {
		if time.Now().After(deadline) {
			t.Fatal("the job sent nothing")
		}
		time.Sleep(2 * time.Millisecond)
	}
	p := callTool(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "pause"})
	if p["job"].(map[string]any)["status"] != "paused" {
		t.Fatalf("pause = %v", p)
	}
	time.Sleep(1500 * time.Millisecond) // past the Retry-After
	if _, sent := unfollows(); sent != 0 {
		t.Fatalf("%d unfollows sent after pause was answered (a retry of the write that met the 429)", sent)
	}
}

// TestUndoTakesAWriteInFlight: undo of a job while another process sharing
// the journal has one of its unfollows in flight (an intent, no outcome yet)
// follows that account again too, once checked: the unfollow may land after
// the undo answered.
func TestUndoTakesAWriteInFlight(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	a := jobApp(t, path, 20000)
	ids := sandbox.BigNonFollowers()[:3]
	out := callTool(t, a, "start_x_unfollow_job", map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	id := out["job"].(map[string]any)["job_id"].(string)
	fp, gw, _ := a.jobs.Store.Owner(id)
	other, err := safety.OpenJournal(path) // the process running the job
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rec := func(call, phase, target, outcome string) {
		t.Helper()
		if err := other.Append(safety.Record{Time: time.Now().UTC(), CallID: call, Phase: phase, Tool: "start_x_unfollow_job",
			TargetUserID: target, Gateway: gw, KeyFingerprint: fp, JobID: id, Outcome: outcome}); err != nil {
			t.Fatal(err)
		}
	}
	rec("c1", safety.PhaseIntent, ids[0], "")
	rec("c1", safety.PhaseOutcome, ids[0], safety.OutcomeOK)
	rec("c2", safety.PhaseIntent, ids[1], "") // in flight
	u := callTool(t, a, "control_x_unfollow_job", map[string]any{"job_id": id, "action": "undo"})["job"].(map[string]any)
	rec("c2", safety.PhaseOutcome, ids[1], safety.OutcomeOK) // it landed
	items := callTool(t, a, "get_x_unfollow_jobs", map[string]any{"job_id": u["job_id"]})["items"].([]any)
	got := map[string]bool{}
	for _, it := range items {
		got[it.(map[string]any)["target_user_id"].(string)] = true
	}
	if !got[ids[0]] || !got[ids[1]] || got[ids[2]] {
		t.Fatalf("undo follows %v; want %s (done) and %s (in flight when undo answered), not %s", got, ids[0], ids[1], ids[2])
	}
}
