package tools_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

func TestDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: &tools.Gate{DryRun: true}})
	out := h.ok("unfollow_x_user", `{"target_user_id":"12","expected_username":"jack"}`)
	if out["dry_run"] != true || out["following"] != false || !strings.Contains(out["note"].(string), "@jack (id 12) would have been unfollowed") {
		t.Fatalf("%v", out)
	}
	out = h.ok("follow_x_user", `{"target_user_id":"1500000000000000002"}`)
	if out["dry_run"] != true {
		t.Fatalf("%v", out)
	}
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214"]}`)
	if b["dry_run"] != true || len(b["results"].([]any)) != 2 || !strings.Contains(b["note"].(string), "2 of 2 ids") {
		t.Fatalf("%v", b)
	}
	// Checks still run in dry-run mode.
	h.fail("unfollow_x_user", `{"target_user_id":"12","expected_username":"TwitterDev"}`, "identity_mismatch")
	if w := h.sb.Writes(); len(w) != 0 {
		t.Fatalf("dry run sent %d writes", len(w))
	}
	if !h.sb.Follows("12") {
		t.Fatal("dry run changed the graph")
	}
	// A dry run does not spend the budget.
	if out := h.ok("unfollow_x_user", `{"target_user_id":"12"}`); out["budget"].(map[string]any)["remaining_15m"] != float64(50) {
		t.Fatalf("budget spent by a dry run: %v", out)
	}
}

func TestProtectedAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Protected: map[string]bool{"12": true}}})
	text := h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "protected_account")
	if !strings.Contains(text, "nothing was sent") {
		t.Errorf("%q", text)
	}
	b := h.ok("unfollow_x_users", `{"target_user_ids":["783214","12","11348282"]}`)
	res := b["results"].([]any)
	if res[1].(map[string]any)["status"] != "refused" || res[1].(map[string]any)["code"] != "protected_account" ||
		res[0].(map[string]any)["status"] != "unfollowed" || res[2].(map[string]any)["status"] != "unfollowed" {
		t.Fatalf("%v", res)
	}
	for _, w := range h.sb.Writes() {
		if w.TargetUserID == "12" {
			t.Fatal("a protected id reached the gateway")
		}
	}
	// Following a protected id is fine: protection guards against unfollows.
	h.ok("follow_x_user", `{"target_user_id":"12"}`)
}

func TestBudgetRefusesAndReports(t *testing.T) {
	t.Parallel()
	gate := &tools.Gate{Budget: safety.NewBudget(nil, safety.Window{Limit: 3, Span: 15 * time.Minute}, safety.Window{Limit: 0, Span: 24 * time.Hour})}
	h := newHarness(t, harnessOpts{gate: gate})
	for i, want := range []float64{2, 1, 0} {
		out := h.ok("unfollow_x_user", `{"target_user_id":"12"}`)
		b := out["budget"].(map[string]any)
		if b["remaining_15m"] != want {
			t.Fatalf("call %d: budget = %v", i, b)
		}
		if _, ok := b["remaining_24h"]; ok {
			t.Fatalf("a window with no limit shows a count: %v", b)
		}
	}
	text := h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "budget_exhausted")
	if !strings.Contains(text, "3 per 15 minutes") || !strings.Contains(text, "seconds") {
		t.Errorf("%q", text)
	}
	if n := len(h.sb.Writes()); n != 3 {
		t.Fatalf("writes = %d", n)
	}
	// Follows do not spend the unfollow budget.
	h.ok("follow_x_user", `{"target_user_id":"12"}`)
}

func TestBatchStopsAtTheBudget(t *testing.T) {
	t.Parallel()
	gate := &tools.Gate{Budget: safety.NewBudget(nil, safety.Window{Limit: 2, Span: 15 * time.Minute})}
	h := newHarness(t, harnessOpts{gate: gate})
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214","11348282","2244994945"]}`)
	res := b["results"].([]any)
	if len(res) != 3 || res[2].(map[string]any)["code"] != "budget_exhausted" || res[2].(map[string]any)["status"] != "refused" {
		t.Fatalf("%v", b)
	}
	if na := b["not_attempted"].([]any); len(na) != 1 || na[0] != "2244994945" {
		t.Fatalf("not_attempted = %v", na)
	}
	if b["retry_after_seconds"].(float64) <= 0 {
		t.Fatalf("no retry_after_seconds: %v", b)
	}
	if len(h.sb.Writes()) != 2 {
		t.Fatalf("writes = %d", len(h.sb.Writes()))
	}
}

func readJournal(t *testing.T, path string) []safety.Record {
	t.Helper()
	recs, warnings, err := safety.ReadJournalFile(path)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("journal: %v (skipped %v)", err, warnings)
	}
	return recs
}

func TestJournalIntentBeforeGateway(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := safety.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	gate := &tools.Gate{Journal: j, Protected: map[string]bool{"11348282": true}}
	h := newHarness(t, harnessOpts{gate: gate})
	// The sandbox fails the call; the intent must already be on disk.
	h.sb.FailNext("/twitter/unfollow_twitter", 400, `{"error":{"code":"invalid_request","message":"no"}}`, nil)
	h.fail("unfollow_x_user", `{"target_user_id":"12","expected_username":"jack"}`, "gateway_error")
	h.ok("unfollow_x_user", `{"target_user_id":"783214"}`)
	h.fail("unfollow_x_user", `{"target_user_id":"11348282"}`, "protected_account")
	recs := readJournal(t, path)
	if len(recs) != 6 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	want := []struct{ phase, id, outcome, code string }{
		{"intent", "12", "", ""}, {"outcome", "12", "failed", "gateway_error"},
		{"intent", "783214", "", ""}, {"outcome", "783214", "ok", ""},
		{"intent", "11348282", "", ""}, {"outcome", "11348282", "refused", "protected_account"},
	}
	for i, w := range want {
		r := recs[i]
		if r.Phase != w.phase || r.TargetUserID != w.id || r.Outcome != w.outcome || r.Code != w.code || r.Tool != "unfollow_x_user" {
			t.Errorf("record %d = %+v; want %+v", i, r, w)
		}
		if i%2 == 1 && r.CallID != recs[i-1].CallID {
			t.Errorf("record %d: call_id does not match its intent", i)
		}
	}
	if recs[0].ExpectedUsername != "jack" || recs[1].RequestID == "" {
		t.Errorf("records lack expected_username or request_id: %+v %+v", recs[0], recs[1])
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), testKey) {
		t.Fatal("the key is in the journal")
	}
}

func TestJournalFailureRefusesWrites(t *testing.T) {
	t.Parallel()
	j, err := safety.OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close() // every write now fails, as on a full or lost disk
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Journal: j}})
	h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "journal_unavailable")
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214"]}`)
	if r := b["results"].([]any); len(r) != 1 || r[0].(map[string]any)["code"] != "journal_unavailable" || len(b["not_attempted"].([]any)) != 1 {
		t.Fatalf("%v", b)
	}
	if len(h.sb.Writes()) != 0 {
		t.Fatal("a write was sent without a journal record")
	}
	// Reads still work.
	h.ok("get_x_user", `{"username":"jack"}`)
}

// elicitor answers elicitation requests and records their messages.
type elicitor struct {
	mu       sync.Mutex
	action   mcp.ElicitationResponseAction
	messages []string
}

func (e *elicitor) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.messages = append(e.messages, req.Params.Message)
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: e.action}}, nil
}

func TestConfirmation(t *testing.T) {
	t.Parallel()
	for _, action := range []mcp.ElicitationResponseAction{mcp.ElicitationResponseActionAccept, mcp.ElicitationResponseActionDecline} {
		el := &elicitor{action: action}
		h := newHarness(t, harnessOpts{gate: &tools.Gate{Confirm: true}, clientOp: []client.ClientOption{client.WithElicitationHandler(el)}})
		res := h.call("unfollow_x_user", `{"target_user_id":"12","expected_username":"jack"}`)
		if action == mcp.ElicitationResponseActionAccept {
			if res.IsError || h.sb.Follows("12") {
				t.Fatalf("accepted: %s", textOf(res))
			}
		} else {
			if !strings.HasPrefix(textOf(res), "[declined_by_user] ") || len(h.sb.Writes()) != 0 {
				t.Fatalf("declined: %s, %d writes", textOf(res), len(h.sb.Writes()))
			}
		}
		if len(el.messages) != 1 || !strings.Contains(el.messages[0], "@jack (id 12)") {
			t.Fatalf("asked %v", el.messages)
		}
		// A batch asks once, listing every id.
		el.messages = nil
		h.call("unfollow_x_users", `{"target_user_ids":["783214","11348282"]}`)
		if len(el.messages) != 1 || !strings.Contains(el.messages[0], "783214") || !strings.Contains(el.messages[0], "11348282") {
			t.Fatalf("batch asked %v", el.messages)
		}
	}
}

func TestConfirmationUnavailableFailsClosed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Confirm: true}})
	h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "confirmation_unavailable")
	h.fail("follow_x_user", `{"target_user_id":"12"}`, "confirmation_unavailable")
	if len(h.sb.Writes()) != 0 {
		t.Fatal("a write was sent without confirmation")
	}
}

func TestReadOnlyRegistersOnlyReadTools(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{readOnly: true})
	lt, err := h.client.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range lt.Tools {
		if !*tl.Annotations.ReadOnlyHint {
			t.Errorf("read-only mode lists %s", tl.Name)
		}
	}
	if len(lt.Tools) != 7 {
		t.Fatalf("%d tools", len(lt.Tools))
	}
	var req mcp.CallToolRequest
	req.Params.Name = "unfollow_x_user"
	req.Params.Arguments = map[string]any{"target_user_id": "12"}
	// A withheld write tool is refused with a sentence that says why.
	if _, err := h.client.CallTool(context.Background(), req); err == nil ||
		!strings.Contains(err.Error(), "[read_only] unfollow_x_user changes the X account, and this server runs read-only") {
		t.Fatalf("err = %v", err)
	}
	// A name that is no tool at all stays "not found".
	req.Params.Name = "no_such_tool"
	if _, err := h.client.CallTool(context.Background(), req); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v", err)
	}
	if len(h.sb.Requests()) != 0 {
		t.Fatal("a request reached the gateway")
	}
}

func TestBatchStopsAtAuthAndRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: noBudgetGate()})
	h.sb.FailNext("/twitter/unfollow_twitter", 200, `{"data":{"following":false}}`, nil)
	h.sb.FailNext("/twitter/unfollow_twitter", 403, `{"error":{"code":"client-forbidden","message":"no session"}}`, nil)
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214","11348282"]}`)
	res := b["results"].([]any)
	if len(res) != 2 || res[1].(map[string]any)["code"] != "x_account_not_linked" || !strings.Contains(b["stopped"].(string), "link_x_account") {
		t.Fatalf("%v", b)
	}
	if na := b["not_attempted"].([]any); len(na) != 1 || na[0] != "11348282" {
		t.Fatalf("%v", na)
	}
	h.sb.FailNext("/twitter/unfollow_twitter", 429, `{}`, map[string][]string{"Retry-After": {"900"}})
	b = h.ok("unfollow_x_users", `{"target_user_ids":["12","783214"]}`)
	if b["retry_after_seconds"] != float64(900) || len(b["not_attempted"].([]any)) != 1 {
		t.Fatalf("%v", b)
	}
}

func TestBatchValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ids := make([]string, 51)
	for i := range ids {
		ids[i] = `"` + strings.Repeat("1", 1+i%19) + `"`
	}
	for args, want := range map[string]string{
		`{"target_user_ids":[]}`:                               "is empty",
		`{"target_user_ids":["12","12"]}`:                      "twice",
		`{"target_user_ids":["12","@jack"]}`:                   "target_user_ids[1]",
		`{"target_user_ids":[12]}`:                             `a list of ids, each in quotes, e.g. ["2244994945","783214"]; it held a JSON number`,
		`{"target_user_ids":"12"}`:                             "a list of ids, each in quotes",
		`{"target_user_ids":[` + strings.Join(ids, ",") + `]}`: "more than 50",
	} {
		if text := h.fail("unfollow_x_users", args, "invalid_argument"); !strings.Contains(text, want) {
			t.Errorf("%s: %q lacks %q", args, text, want)
		}
	}
	if len(h.sb.Requests()) != 0 {
		t.Fatal("invalid batches reached the gateway")
	}
}

func TestBatchProgressNotifications(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	var mu sync.Mutex
	var progress []float64
	h.client.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			progress = append(progress, toFloat(n.Params.AdditionalFields["progress"]))
			mu.Unlock()
		}
	})
	var req mcp.CallToolRequest
	req.Params.Name = "unfollow_x_users"
	req.Params.Arguments = map[string]any{"target_user_ids": []string{"12", "783214", "11348282"}}
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	if _, err := h.client.CallTool(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) != 3 || progress[2] != 3 {
		t.Fatalf("progress = %v", progress)
	}
}

func TestBatchAgainstSandboxRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: noBudgetGate(), sandbox: sandbox.Options{UnfollowLimit: 3}})
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214","11348282","2244994945","1700000000000000001"]}`)
	res := b["results"].([]any)
	if len(res) != 4 || res[3].(map[string]any)["code"] != "rate_limited" || len(b["not_attempted"].([]any)) != 1 {
		t.Fatalf("%v", b)
	}
	if b["retry_after_seconds"].(float64) < 1 {
		t.Fatalf("%v", b)
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return -1
}
