package tools_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

func getPrompt(h *harness, args map[string]string) (*mcp.GetPromptResult, error) {
	var req mcp.GetPromptRequest
	req.Params.Name = "clean_up_following"
	req.Params.Arguments = args
	return h.client.GetPrompt(context.Background(), req)
}

func promptText(t *testing.T, res *mcp.GetPromptResult) string {
	t.Helper()
	if len(res.Messages) != 1 || res.Messages[0].Role != mcp.RoleUser {
		t.Fatalf("messages = %+v", res.Messages)
	}
	tc, ok := res.Messages[0].Content.(mcp.TextContent)
	if !ok {
		t.Fatalf("content = %T", res.Messages[0].Content)
	}
	return tc.Text
}

func TestCleanUpFollowingPrompt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	if h.init.Capabilities.Prompts == nil {
		t.Fatal("the server does not advertise prompts")
	}
	lp, err := h.client.ListPrompts(context.Background(), mcp.ListPromptsRequest{})
	if err != nil || len(lp.Prompts) != 1 {
		t.Fatalf("prompts/list: %v %+v", err, lp)
	}
	p := lp.Prompts[0]
	if p.Name != "clean_up_following" || p.Title == "" || p.Description == "" || len(p.Arguments) != 2 ||
		p.Arguments[0].Name != "username" || !p.Arguments[0].Required || p.Arguments[1].Name != "max_unfollows" || p.Arguments[1].Required {
		t.Fatalf("prompt = %+v", p)
	}

	res, err := getPrompt(h, map[string]string{"username": "@TwitterDev", "max_unfollows": "50"})
	if err != nil {
		t.Fatal(err)
	}
	text := promptText(t, res)
	for _, want := range []string{
		"@TwitterDev follows", "at most 50 of them now", "at most 50 in total",
		`find_x_unfollow_candidates with {"username": "TwitterDev"`, "next_cursor",
		"grouped by followers_count", "the number in each group and the total",
		"Ask me which to keep", "Unfollow nothing before I answer",
		"unfollow_x_users", "at most 50 ids a call", "50 in the next 15 minutes and 400 in 24 hours",
		"Report what was done", "follow_x_user", "xfollow-mcp undo",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, text)
		}
	}
	if res.Description != "Clean up who @TwitterDev follows, at most 50 unfollows" || strings.Contains(text, "dry-run") {
		t.Errorf("description %q", res.Description)
	}
	res, err = getPrompt(h, map[string]string{"username": "jack"})
	if err != nil || !strings.Contains(promptText(t, res), "as many of them as the unfollow budget allows") {
		t.Fatalf("without max_unfollows: %v", err)
	}

	// The server validates the arguments: clients do not.
	for _, args := range []map[string]string{
		{},
		{"username": "not a handle"},
		{"username": "jack", "max_unfollows": "0"},
		{"username": "jack", "max_unfollows": "10001"},
		{"username": "jack", "max_unfollows": "5.5"},
		{"username": "jack", "max_unfollows": "+5"},
		{"username": "jack", "extra": "x"},
	} {
		_, err := getPrompt(h, args)
		if err == nil || !strings.Contains(err.Error(), "[invalid_argument]") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if len(h.sb.Requests()) != 0 {
		t.Fatal("a prompt reached the gateway")
	}
}

func TestCleanUpFollowingPromptWithAccountAndModes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{account: "xfollow_big", gate: &tools.Gate{DryRun: true}})
	lp, err := h.client.ListPrompts(context.Background(), mcp.ListPromptsRequest{})
	if err != nil || lp.Prompts[0].Arguments[0].Required || !strings.Contains(lp.Prompts[0].Arguments[0].Description, "@xfollow_big") {
		t.Fatalf("with --account, username is optional: %+v", lp)
	}
	res, err := getPrompt(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if text := promptText(t, res); !strings.Contains(text, "@xfollow_big follows") || !strings.Contains(text, "dry-run mode") {
		t.Fatalf("%s", text)
	}
	// Read-only: no writes, so no clean-up prompt; the capability stays.
	ro := newHarness(t, harnessOpts{readOnly: true})
	lp, err = ro.client.ListPrompts(context.Background(), mcp.ListPromptsRequest{})
	if err != nil || len(lp.Prompts) != 0 || ro.init.Capabilities.Prompts == nil {
		t.Fatalf("read-only prompts: %v %+v", err, lp)
	}
}

// TestOneFinderCallAndOneBatch: "unfollow everyone who doesn't follow me
// back, except my protected list, at most 50 now" is one finder call and one
// batch call, on the sandbox's big account.
func TestOneFinderCallAndOneBatch(t *testing.T) {
	t.Parallel()
	keep := sandbox.BigNonFollowers()[3]
	h := newHarness(t, harnessOpts{sandbox: sandbox.Options{Account: sandbox.BigUsername}, account: sandbox.BigUsername,
		gate: &tools.Gate{Protected: map[string]bool{keep: true}}})
	found := h.ok("find_x_unfollow_candidates", `{"limit":50}`)
	var want []string
	for _, id := range sandbox.BigNonFollowers() {
		if id != keep {
			want = append(want, id)
		}
	}
	got := ids(found)
	if !slices.Equal(got, want[:50]) || num(found["excluded_protected"]) != 1 {
		t.Fatalf("finder: %d candidates, excluded %v", len(got), found["excluded_protected"])
	}
	b, _ := json.Marshal(map[string]any{"target_user_ids": got})
	out := h.ok("unfollow_x_users", string(b))
	for i, r := range out["results"].([]any) {
		if r.(map[string]any)["status"] != "unfollowed" || h.sb.Follows(got[i]) {
			t.Fatalf("batch item %d: %v", i, r)
		}
	}
	if h.requestsTo("/twitter/user/check_follow_relationship") != 0 {
		t.Fatal("the batch re-checked accounts the finder had just seen followed")
	}
	// The next round skips what was unfollowed, and reuses the followers
	// list the first round paged.
	followerPages := h.requestsTo("/twitter/user/followers")
	next := h.ok("find_x_unfollow_candidates", `{"limit":50}`)
	if !slices.Equal(ids(next), want[50:100]) || h.requestsTo("/twitter/user/followers") != followerPages {
		t.Fatalf("next round starts at %s; followers pages read again: %d", ids(next)[0], h.requestsTo("/twitter/user/followers")-followerPages)
	}
}
