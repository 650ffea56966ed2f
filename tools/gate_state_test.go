package tools_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// sharedBudget is the Redis limiter on an in-memory Redis the test can
// break (SetError) and mend.
func sharedBudget(t *testing.T, limit int) (*safety.RedisBudget, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	b, err := safety.NewRedisBudget("redis://"+mr.Addr()+"/0", nil,
		safety.Window{Limit: limit, Span: 15 * time.Minute}, safety.Window{Limit: 0, Span: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, mr
}

// TestStateStoreDownRefusesWritesAndServesReads: with the shared budget's
// store failing, every unfollow is refused with [state_unavailable] and
// nothing reaches the gateway, a batch stops at its first id, reads and
// follows work, and the store's return lets unfollows through again.
func TestStateStoreDownRefusesWritesAndServesReads(t *testing.T) {
	t.Parallel()
	budget, mr := sharedBudget(t, 5)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := safety.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Budget: budget, Journal: j, Gateway: "test"}})
	h.ok("unfollow_x_user", `{"target_user_id":"12"}`)

	mr.SetError("ERR the store is failing")
	text := h.fail("unfollow_x_user", `{"target_user_id":"783214"}`, "state_unavailable")
	if !strings.Contains(text, "nothing was sent") || !strings.Contains(text, "retry") || strings.Contains(text, "failing") {
		t.Fatalf("%s", text)
	}
	ids := simIDs(1, 5)
	b := h.ok("unfollow_x_users", fmt.Sprintf(`{"target_user_ids":["%s"]}`, strings.Join(ids, `","`)))
	res := b["results"].([]any)
	first := res[0].(map[string]any)
	if len(res) != 1 || first["status"] != "refused" || first["code"] != "state_unavailable" ||
		len(b["not_attempted"].([]any)) != 4 || !strings.HasPrefix(b["stopped"].(string), "[state_unavailable] ") {
		t.Fatalf("batch: %v", b)
	}
	if _, ok := b["budget"].(map[string]any)["remaining_15m"]; ok {
		t.Fatalf("a budget view was made up while the store is down: %v", b)
	}
	h.ok("get_x_user", `{"username":"TwitterDev"}`)
	h.ok("list_x_following", `{"username":"xfollow_sandbox"}`)
	h.ok("follow_x_user", `{"target_user_id":"12"}`) // follows spend no budget
	if n := len(h.sb.Writes()); n != 2 {
		t.Fatalf("the gateway saw %d writes; want the first unfollow and the follow", n)
	}
	// The journal says the refused ones were refused, with the code.
	var refused int
	for _, a := range safety.Attempts(readJournal(t, path)) {
		if a.Outcome == safety.OutcomeRefused {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d refusals journaled; want the single unfollow and the batch's first id", refused)
	}

	mr.SetError("")
	out := h.ok("unfollow_x_user", `{"target_user_id":"783214"}`)
	if out["budget"].(map[string]any)["remaining_15m"] != float64(3) {
		t.Fatalf("after the store came back: %v", out)
	}
}

// flakyRemaining is a limiter whose Remaining fails: the store went down
// between the reservation and the result.
type flakyRemaining struct{ safety.Limiter }

func (flakyRemaining) Remaining(context.Context, string) (safety.Remaining, error) {
	return safety.Remaining{}, fmt.Errorf("%w: connection reset", safety.ErrStateUnavailable)
}

// TestRemainingFailingNeverFailsADoneUnfollow: the unfollow happened; the
// result says so, without a budget view.
func TestRemainingFailingNeverFailsADoneUnfollow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Budget: flakyRemaining{budgetOf(5)}}})
	out := h.ok("unfollow_x_user", `{"target_user_id":"12"}`)
	if out["following"] != false || len(out["budget"].(map[string]any)) != 0 || h.sb.Follows("12") {
		t.Fatalf("%v", out)
	}
	b := h.ok("unfollow_x_users", `{"target_user_ids":["783214"]}`)
	if r := b["results"].([]any); len(r) != 1 || r[0].(map[string]any)["status"] != "unfollowed" {
		t.Fatalf("%v", b)
	}
	text := promptText(t, must(getPrompt(h, map[string]string{"username": "xfollow_sandbox"})))
	if !strings.Contains(text, "cannot be read right now") || strings.Contains(text, "no limit set") {
		t.Fatalf("the prompt misstates a budget it could not read:\n%s", text)
	}
}

// TestDryRunRefusesWhenTheStoreIsDown: a dry run checks the budget too, so
// it says what a real run would meet.
func TestDryRunRefusesWhenTheStoreIsDown(t *testing.T) {
	t.Parallel()
	budget, mr := sharedBudget(t, 5)
	h := newHarness(t, harnessOpts{gate: &tools.Gate{DryRun: true, Budget: budget}})
	mr.SetError("ERR down")
	h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "state_unavailable")
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214"]}`)
	if r := b["results"].([]any); len(r) != 1 || r[0].(map[string]any)["code"] != "state_unavailable" {
		t.Fatalf("%v", b)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
