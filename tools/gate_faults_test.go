package tools_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// wrapped serves the sandbox behind a hook that sees every request first;
// when the hook returns true it has answered.
func wrapped(sb *sandbox.Sandbox, hook func(w http.ResponseWriter, r *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hook(w, r) {
			sb.ServeHTTP(w, r)
		}
	})
}

func budgetOf(limit int) safety.Limiter {
	return safety.NewBudget(nil, safety.Window{Limit: limit, Span: 15 * time.Minute}, safety.Window{Limit: 0, Span: 24 * time.Hour})
}

// TestUnknownOutcomesHoldTheirBudgetSlot: a gateway that applies every
// unfollow and then answers 504 (retried, then given up) must not let ten
// unfollows through a budget of 2: each unknown outcome keeps its slot.
func TestUnknownOutcomesHoldTheirBudgetSlot(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	var unfollowCalls atomic.Int32
	gw := wrapped(sb, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/unfollow_twitter") {
			return false
		}
		unfollowCalls.Add(1)
		sb.ServeHTTP(&discard{header: http.Header{}}, r) // applied...
		w.WriteHeader(http.StatusGatewayTimeout)         // ...but the answer is lost
		return true
	})
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := safety.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{gateway: gw, gate: &tools.Gate{Budget: budgetOf(2), Journal: j, Gateway: "test"}})
	ids := simIDs(1, 10)
	unknown, exhausted := 0, 0
	for _, id := range ids {
		res := h.call("unfollow_x_user", fmt.Sprintf(`{"target_user_id":%q}`, id))
		text := textOf(res)
		switch {
		case strings.HasPrefix(text, "[gateway_unavailable] ") && strings.Contains(text, "may have happened") &&
			strings.Contains(text, "counts against the unfollow budget") && strings.Contains(text, "undo"):
			unknown++
		case strings.HasPrefix(text, "[budget_exhausted] "):
			exhausted++
		default:
			t.Fatalf("%s: %s", id, text)
		}
	}
	if unknown != 2 || exhausted != 8 {
		t.Fatalf("unknown %d, budget_exhausted %d; want 2 and 8", unknown, exhausted)
	}
	if n := unfollowCalls.Load(); n != 2*4 { // two unfollows, each tried 4 times
		t.Fatalf("the gateway saw %d unfollow requests; want 8", n)
	}
	var outcomes []string
	for _, a := range safety.Attempts(readJournal(t, path)) {
		outcomes = append(outcomes, a.Outcome)
	}
	if got := strings.Join(outcomes, ","); got != "unknown,unknown"+strings.Repeat(",refused", 8) {
		t.Fatalf("journal outcomes %s", got)
	}
	// A batch stops at the budget as well, and says the ids' outcome.
	b := h.ok("unfollow_x_users", `{"target_user_ids":["12","783214"]}`)
	if r := b["results"].([]any); len(r) != 1 || r[0].(map[string]any)["code"] != "budget_exhausted" {
		t.Fatalf("%v", b)
	}
}

// discard is a ResponseWriter that throws the sandbox's answer away.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func simIDs(from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("17%017d", from+i)
	}
	return ids
}

// TestFailedOutcomesReleaseTheirSlot: a write the gateway refused (4xx) did
// not happen, so it gives its slot back and undo leaves it alone.
func TestFailedOutcomesReleaseTheirSlot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := safety.OpenJournal(path)
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Budget: budgetOf(1), Journal: j, Gateway: "test"}})
	for i := 0; i < 3; i++ {
		h.sb.FailNext("/twitter/unfollow_twitter", 422, `{"error":{"code":"invalid_request","message":"no"}}`, nil)
		h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "gateway_error")
	}
	out := h.ok("unfollow_x_user", `{"target_user_id":"12"}`)
	if out["budget"].(map[string]any)["remaining_15m"] != float64(0) {
		t.Fatalf("%v", out)
	}
	recs := readJournal(t, path)
	items := tools.UndoCandidates(recs, safety.Scope{Gateway: "test"}, time.Now().Add(-time.Hour))
	if len(items) != 1 || items[0].ID != "12" || items[0].Outcome != "ok" {
		t.Fatalf("undo candidates %+v", items)
	}
}

// TestDryRunBatchCountsItsOwnBudget: a dry run spends no real slot but
// reports what the budget would have stopped.
func TestDryRunBatchCountsItsOwnBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: &tools.Gate{DryRun: true, Budget: budgetOf(3)}})
	b := h.ok("unfollow_x_users", fmt.Sprintf(`{"target_user_ids":["%s"]}`, strings.Join(simIDs(1, 10), `","`)))
	res := b["results"].([]any)
	n := 0
	for _, r := range res {
		if r.(map[string]any)["status"] == "unfollowed" {
			n++
		}
	}
	note := b["note"].(string)
	if n != 3 || len(res)+len(b["not_attempted"].([]any)) != 10 || res[3].(map[string]any)["code"] != "budget_exhausted" ||
		!strings.Contains(note, "3 of 10") || !strings.Contains(note, "7 were stopped by the unfollow budget") {
		t.Fatalf("%v", b)
	}
	if b["budget"].(map[string]any)["remaining_15m"] != float64(3) || len(h.sb.Writes()) != 0 {
		t.Fatalf("a dry run spent the budget or wrote: %v", b)
	}
}

func TestIDsMustBeCanonical(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Protected: map[string]bool{"12": true}}})
	for _, tc := range []struct{ id, says string }{
		{"0012", "leading zero"},
		{"0", "ids start at 1"},
		{"9223372036854775808", "above the largest X user id"},
		{"9999999999999999999", "above the largest X user id"},
	} {
		for _, tool := range []string{"unfollow_x_user", "follow_x_user"} {
			text := h.fail(tool, fmt.Sprintf(`{"target_user_id":%q}`, tc.id), "invalid_argument")
			if !strings.Contains(text, tc.says) {
				t.Errorf("%s %s: %s", tool, tc.id, text)
			}
		}
		b := h.call("unfollow_x_users", fmt.Sprintf(`{"target_user_ids":[%q]}`, tc.id))
		if !b.IsError || !strings.HasPrefix(textOf(b), "[invalid_argument] ") {
			t.Errorf("batch %s: %s", tc.id, textOf(b))
		}
	}
	if len(h.sb.Writes()) != 0 {
		t.Fatal("a non-canonical id reached the gateway")
	}
	// The largest id is valid.
	h.ok("unfollow_x_user", `{"target_user_id":"9223372036854775807"}`)
}

// TestIdentityGuardChecksTheHandleItGot: a gateway that answers a handle
// lookup with some other account must not pass the guard, even when that
// account's id is the one asked about.
func TestIdentityGuardChecksTheHandleItGot(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{})
	gw := wrapped(sb, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/user/info") {
			_, _ = w.Write([]byte(`{"users":[{"id":"12","userName":"jack"}],"status":"success"}`))
			return true
		}
		return false
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	text := h.fail("unfollow_x_user", `{"target_user_id":"12","expected_username":"NASA"}`, "identity_mismatch")
	if !strings.Contains(text, "@jack") || !strings.Contains(text, "@NASA") {
		t.Fatal(text)
	}
	h.ok("unfollow_x_user", `{"target_user_id":"12","expected_username":"JACK"}`) // case-insensitive
}

// TestAccountCheckMakesNoopsAndRecordsWasFollowing: with the linked account
// known, an unfollow of an account not followed sends nothing, spends no
// budget and is journaled noop; a followed one carries was_following.
func TestAccountCheckMakesNoopsAndRecordsWasFollowing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := safety.OpenJournal(path)
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Account: sandbox.MeUsername, Journal: j, Budget: budgetOf(5), Gateway: "test"}})
	out := h.ok("unfollow_x_user", `{"target_user_id":"1500000000000000001"}`) // quiet_owl: not followed
	if out["was_following"] != false || out["following"] != false || !strings.Contains(out["note"].(string), "nothing was sent") ||
		out["budget"].(map[string]any)["remaining_15m"] != float64(5) {
		t.Fatalf("%v", out)
	}
	if len(h.sb.Writes()) != 0 {
		t.Fatal("an unfollow of an account not followed was sent")
	}
	lookups := h.requestsTo("/twitter/user/batch_info_by_ids")
	out = h.ok("unfollow_x_user", `{"target_user_id":"12","expected_username":"jack"}`)
	if out["was_following"] != true || out["budget"].(map[string]any)["remaining_15m"] != float64(4) {
		t.Fatalf("%v", out)
	}
	// The identity guard's lookup gave the handle: no batch lookup for it.
	if n := h.requestsTo("/twitter/user/batch_info_by_ids") - lookups; n != 0 {
		t.Fatalf("%d batch lookups for a handle already resolved", n)
	}
	before := h.requestsTo("/twitter/user/check_follow_relationship")
	b := h.ok("unfollow_x_users", `{"target_user_ids":["1500000000000000002","783214","11348282"]}`)
	res := b["results"].([]any)
	if res[0].(map[string]any)["status"] != "not_following" || res[1].(map[string]any)["status"] != "unfollowed" || res[2].(map[string]any)["status"] != "unfollowed" {
		t.Fatalf("%v", b)
	}
	if n := h.requestsTo("/twitter/user/batch_info_by_ids") - lookups; n != 1 {
		t.Fatalf("a batch resolved its handles in %d calls; want 1", n)
	}
	if n := h.requestsTo("/twitter/user/check_follow_relationship") - before; n != 3 {
		t.Fatalf("%d relationship checks for 3 ids", n)
	}
	recs := readJournal(t, path)
	var got []string
	for _, a := range safety.Attempts(recs) {
		wf := "nil"
		if a.WasFollowing != nil {
			wf = fmt.Sprint(*a.WasFollowing)
		}
		got = append(got, a.TargetUserID+":"+a.Outcome+":"+wf)
	}
	want := "1500000000000000001:noop:false,12:ok:true,1500000000000000002:noop:false,783214:ok:true,11348282:ok:true"
	if strings.Join(got, ",") != want {
		t.Fatalf("journal %v\nwant %s", got, want)
	}
	var ids []string
	for _, it := range tools.UndoCandidates(recs, safety.Scope{Gateway: "test"}, time.Now().Add(-time.Hour)) {
		ids = append(ids, it.ID)
	}
	if strings.Join(ids, ",") != "12,783214,11348282" {
		t.Fatalf("undo would re-follow %v", ids)
	}
}

// TestAccountCheckFailureSendsUnverified: when the relationship cannot be
// checked, the unfollow still goes out, with was_following unknown.
func TestAccountCheckFailureSendsUnverified(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{})
	gw := wrapped(sb, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/check_follow_relationship") {
			w.WriteHeader(http.StatusBadRequest)
			return true
		}
		return false
	})
	h := newHarness(t, harnessOpts{gateway: gw, gate: &tools.Gate{Account: sandbox.MeUsername}})
	out := h.ok("unfollow_x_user", `{"target_user_id":"12"}`)
	if _, ok := out["was_following"]; ok || sb.Follows("12") {
		t.Fatalf("%v", out)
	}
}

// TestConfirmationRoundTripJournalsOnceAndResolvesOnce: the handler runs
// twice around a confirmation; refusals are journaled once and the handle
// is looked up once.
func TestConfirmationRoundTripJournalsOnceAndResolvesOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := safety.OpenJournal(path)
	el := &elicitor{action: mcp.ElicitationResponseActionAccept}
	h := newHarness(t, harnessOpts{
		gate:     &tools.Gate{Confirm: true, Journal: j, Account: sandbox.MeUsername, Protected: map[string]bool{"11348282": true}},
		clientOp: []client.ClientOption{client.WithElicitationHandler(el)},
	})
	h.ok("unfollow_x_user", `{"target_user_id":"12","expected_username":"jack"}`)
	if n := h.requestsTo("/twitter/user/info"); n != 1 {
		t.Fatalf("the handle was looked up %d times for one write", n)
	}
	if n := h.requestsTo("/twitter/user/check_follow_relationship"); n != 1 {
		t.Fatalf("the relationship was checked %d times for one write", n)
	}
	h.ok("unfollow_x_users", `{"target_user_ids":["783214","11348282"]}`)
	refused := 0
	for _, a := range safety.Attempts(readJournal(t, path)) {
		if a.TargetUserID == "11348282" {
			refused++
			if a.Outcome != "refused" {
				t.Fatalf("%+v", a)
			}
		}
	}
	if refused != 1 || len(el.messages) != 2 {
		t.Fatalf("the protected id was journaled %d times; %d confirmations asked", refused, len(el.messages))
	}
}
