package tools_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

var allDone = regexp.MustCompile(`(\d+) of (\d+) left; at ([^,]+), all done around (\d{4}-\d\d-\d\dT\d\d:\d\dZ)\. Tell the person rather than working around it(; start_x_unfollow_job runs the rest at a safe pace)?$`)

// checkAllDone finds the sentence and checks its numbers and its time, which
// must lie within [from, to] rounded up to the minute.
func checkAllDone(t *testing.T, text, left, asked, pace string, from, to time.Time) {
	t.Helper()
	m := allDone.FindStringSubmatch(text)
	if m == nil || m[1] != left || m[2] != asked || m[3] != pace {
		t.Fatalf("want %s of %s left at %s; text %q", left, asked, pace, text)
	}
	// The rest goes to the jobs tool only when the server has one.
	if hasJobs := slices.ContainsFunc(tools.All(), func(tl tools.Tool) bool { return tl.Name == tools.JobsTool }); hasJobs != (m[5] != "") {
		t.Fatalf("the server has the jobs tool: %v; the text %q", hasJobs, text)
	}
	at, err := time.Parse("2006-01-02T15:04Z", m[4])
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(from.Truncate(time.Minute)) || at.After(to.Truncate(time.Minute).Add(time.Minute)) {
		t.Fatalf("all done around %s, want between %s and %s", at, from, to)
	}
}

// TestBudgetStopsSayWhatIsLeftAndWhen: a batch stopped by the budget says
// how many of the ids asked for are left and when, at these limits, they
// would all be done; so does a single unfollow refused by it.
func TestBudgetStopsSayWhatIsLeftAndWhen(t *testing.T) {
	t.Parallel()
	gate := &tools.Gate{Budget: safety.NewBudget(nil, safety.Window{Limit: 2, Span: 15 * time.Minute}, safety.Window{Limit: 3, Span: 24 * time.Hour})}
	h := newHarness(t, harnessOpts{gate: gate})
	start := time.Now()
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214","11348282","2244994945","6253282"]}`)
	end := time.Now()
	// 2 sent now; the third when the 15 minutes pass; the last two when
	// the day's first leave, 24 hours from now.
	checkAllDone(t, b["stopped"].(string), "3", "5", "2 per 15 minutes and 3 a day", start.Add(24*time.Hour), end.Add(24*time.Hour))
	res := b["results"].([]any)
	checkAllDone(t, res[len(res)-1].(map[string]any)["message"].(string), "3", "5", "2 per 15 minutes and 3 a day", start.Add(24*time.Hour), end.Add(24*time.Hour))

	text := h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "budget_exhausted")
	checkAllDone(t, text, "1", "1", "2 per 15 minutes and 3 a day", start.Add(15*time.Minute), time.Now().Add(15*time.Minute))
}

// TestDryRunStopSaysWhatIsLeft: a dry run counts its own would-be
// unfollows, which the budget never sees, in the finishing time.
func TestDryRunStopSaysWhatIsLeft(t *testing.T) {
	t.Parallel()
	gate := &tools.Gate{DryRun: true, Budget: safety.NewBudget(nil, safety.Window{Limit: 2, Span: 15 * time.Minute}, safety.Window{Limit: 0, Span: 24 * time.Hour})}
	h := newHarness(t, harnessOpts{gate: gate})
	start := time.Now()
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214","11348282","2244994945","6253282"]}`)
	// 2 would go now, 2 in 15 minutes, the last in 30.
	checkAllDone(t, b["stopped"].(string), "3", "5", "2 per 15 minutes", start.Add(30*time.Minute), time.Now().Add(30*time.Minute))
	if !strings.Contains(b["note"].(string), "stopped by the unfollow budget") {
		t.Fatalf("note: %v", b["note"])
	}
}
