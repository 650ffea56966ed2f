package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

var protocols = []struct{ name, pin, want string }{
	{"2025-11-25", "2025-11-25", "2025-11-25"},
	{"sdk-default", "", "2026-07-28"},
}

var allTools = []string{
	"unfollow_x_user", "unfollow_x_users", "follow_x_user", "get_x_user",
	"check_x_follow_relationship", "list_x_following", "list_x_followers", "link_x_account",
	"find_x_unfollow_candidates", "start_x_unfollow_job", "get_x_unfollow_jobs", "control_x_unfollow_job",
	"get_x_unfollow_history",
}

// TestEveryToolOverStdio: handshake, tools/list, and a successful call of
// every tool, at the protocol hosts use today and at the SDK's default.
func TestEveryToolOverStdio(t *testing.T) {
	for _, pv := range protocols {
		t.Run(pv.name, func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, sandbox.Options{})
			journal := filepath.Join(t.TempDir(), "journal.jsonl")
			p := start(t, gw, serverOpts{protocol: pv.pin, args: []string{"--journal", journal, "--log-level", "debug"}})
			t.Cleanup(func() {
				raw, _ := os.ReadFile(journal)
				if len(raw) == 0 || strings.Contains(string(raw), testKey) {
					t.Errorf("journal empty or holding the key: %d bytes", len(raw))
				}
			})
			exerciseEveryTool(t, p, gw, pv.want)
		})
	}
}

// exerciseEveryTool checks the handshake and tools/list, then calls every
// tool successfully and two invalid calls, whatever the transport.
func exerciseEveryTool(t *testing.T, p *proc, gw *gateway, wantProtocol string) {
	t.Helper()
	init := p.session.InitializeResult()
	if init.ProtocolVersion != wantProtocol {
		t.Errorf("protocol = %s, want %s", init.ProtocolVersion, wantProtocol)
	}
	if init.ServerInfo == nil || init.ServerInfo.Name != "xfollow-mcp" {
		t.Errorf("server info = %+v", init.ServerInfo)
	}
	lt, err := p.session.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
		if tl.Annotations == nil || tl.Annotations.DestructiveHint == nil || tl.Annotations.OpenWorldHint == nil {
			t.Errorf("%s: annotations %+v", tl.Name, tl.Annotations)
		}
		if tl.OutputSchema == nil {
			t.Errorf("%s: no output schema", tl.Name)
		}
	}
	want := slices.Sorted(slices.Values(allTools))
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("tools = %v", names)
	}

	u := p.ok("get_x_user", map[string]any{"username": "@TwitterDev"})
	if u["id"] != "2244994945" || u["username"] != "TwitterDev" {
		t.Fatalf("get_x_user = %v", u)
	}
	r := p.ok("check_x_follow_relationship", map[string]any{"source_username": "xfollow_sandbox", "target_username": "TwitterDev"})
	if r["following"] != true || r["followed_by"] != true {
		t.Fatalf("check = %v", r)
	}
	out := p.ok("unfollow_x_user", map[string]any{"target_user_id": "2244994945", "expected_username": "TwitterDev"})
	if out["following"] != false || out["target_user_id"] != "2244994945" {
		t.Fatalf("unfollow = %v", out)
	}
	if gw.Follows("2244994945") {
		t.Fatal("the sandbox still follows 2244994945 after the unfollow")
	}
	r = p.ok("check_x_follow_relationship", map[string]any{"source_username": "xfollow_sandbox", "target_username": "TwitterDev"})
	if r["following"] != false {
		t.Fatalf("check after unfollow = %v", r)
	}
	f := p.ok("follow_x_user", map[string]any{"target_user_id": "2244994945", "expected_username": "TwitterDev"})
	if f["following"] != true || f["pending_follow"] != false || !gw.Follows("2244994945") {
		t.Fatalf("follow = %v", f)
	}
	f = p.ok("follow_x_user", id("1500000000000000001"))
	if f["following"] != false || f["pending_follow"] != true {
		t.Fatalf("follow of a protected account = %v", f)
	}
	b := p.ok("unfollow_x_users", map[string]any{"target_user_ids": []string{"783214", "12"}})
	if res := b["results"].([]any); len(res) != 2 || res[0].(map[string]any)["status"] != "unfollowed" {
		t.Fatalf("batch = %v", b)
	}
	l := p.ok("list_x_following", map[string]any{"username": "xfollow_sandbox", "page_size": 20})
	if len(l["users"].([]any)) != 20 || l["has_next_page"] != true || l["next_cursor"] == "" {
		t.Fatalf("list page 1 = %v", l)
	}
	l2 := p.ok("list_x_following", map[string]any{"username": "xfollow_sandbox", "page_size": 20, "cursor": l["next_cursor"]})
	if l2["users"].([]any)[0].(map[string]any)["id"] == l["users"].([]any)[0].(map[string]any)["id"] {
		t.Fatal("page 2 repeats page 1")
	}
	fl := p.ok("list_x_followers", map[string]any{"username": "xfollow_sandbox"})
	if len(fl["users"].([]any)) == 0 || fl["next_cursor"] != "" || fl["has_next_page"] != false {
		t.Fatalf("followers = %v", fl)
	}
	fc := p.ok("find_x_unfollow_candidates", map[string]any{"username": "xfollow_big", "limit": 5})
	if len(fc["candidates"].([]any)) != 5 || fc["complete"] != false || fc["next_cursor"] == "" || fc["method"] != "followers_list" {
		t.Fatalf("find_x_unfollow_candidates = %v", fc)
	}
	lk := p.ok("link_x_account", map[string]any{})
	if !strings.HasPrefix(lk["auth_url"].(string), "https://twitter.com/i/oauth2/authorize?") || !strings.Contains(lk["next_step"].(string), "10 minutes") {
		t.Fatalf("link = %v", lk)
	}
	// The job tools: with a journal, an id followed just now is follow
	// churn, and the history holds the writes above; without one, they say
	// why there are no jobs.
	if res := p.call("get_x_unfollow_jobs", map[string]any{}); res.IsError {
		if !strings.HasPrefix(text(res), "[jobs_unavailable]") {
			t.Fatalf("get_x_unfollow_jobs: %s", text(res))
		}
		p.fail("get_x_unfollow_history", map[string]any{}, "jobs_unavailable")
	} else {
		p.fail("start_x_unfollow_job", map[string]any{"username": "xfollow_sandbox", "target_user_ids": []string{"1500000000000000001"}}, "nothing_to_do")
		p.fail("control_x_unfollow_job", map[string]any{"job_id": "job_" + strings.Repeat("0", 32), "action": "pause"}, "job_not_found")
		h := p.ok("get_x_unfollow_history", map[string]any{"limit": 3})
		if e, _ := h["entries"].([]any); len(e) != 3 {
			t.Fatalf("history = %v", h)
		}
	}
	p.fail("unfollow_x_user", id("@TwitterDev"), "invalid_argument")
	p.fail("unfollow_x_user", map[string]any{"target_user_id": 2244994945}, "invalid_argument")
}

// errorCase is one error code provoked through the real binary.
type errorCase struct {
	name   string
	args   []string
	setup  func(gw *gateway)
	call   string
	params any
	code   string
}

// errorCases provoke each error code; every transport runs them all.
func errorCases() []errorCase {
	return []errorCase{
		{"auth_invalid", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 401, `{"error":{"type":"authentication_error","code":"invalid_api_key","message":"bad"}}`, nil)
		}, "unfollow_x_user", id("12"), "auth_invalid"},
		{"x_account_not_linked", nil, func(gw *gateway) { gw.Unlink() }, "unfollow_x_user", id("12"), "x_account_not_linked"},
		{"user_not_found", nil, nil, "get_x_user", map[string]any{"username": "no_such_user"}, "user_not_found"},
		{"user_not_found on follow", nil, nil, "follow_x_user", id("999"), "user_not_found"},
		{"rate_limited", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 429, `{"error":{"code":"upstream_rate_limit","message":"slow"}}`, http.Header{"Retry-After": {"3600"}})
		}, "unfollow_x_user", id("12"), "rate_limited"},
		{"gateway_unavailable", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 501, `{"error":{"code":"gateway_error","message":"down"}}`, nil)
		}, "unfollow_x_user", id("12"), "gateway_unavailable"},
		{"bad_gateway_response", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 200, `<html>oops</html>`, nil)
		}, "unfollow_x_user", id("12"), "bad_gateway_response"},
		{"not_unfollowed", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 200, `{"data":{"following":true}}`, nil)
		}, "unfollow_x_user", id("12"), "not_unfollowed"},
		{"gateway_error", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 400, `{"error":{"code":"invalid_request","message":"no"}}`, nil)
		}, "unfollow_x_user", id("12"), "gateway_error"},
		{"failure envelope in a 200", nil, func(gw *gateway) {
			gw.FailNext("/twitter/unfollow_twitter", 200, `{"ok":false,"code":403,"message":"session expired","data":{"following":false}}`, nil)
		}, "unfollow_x_user", id("12"), "x_account_not_linked"},
		{"identity_mismatch", nil, nil, "unfollow_x_user", map[string]any{"target_user_id": "12", "expected_username": "TwitterDev"}, "identity_mismatch"},
	}
}

// TestErrorCodesOverStdio: each error code comes back as an error result
// through the real binary.
func TestErrorCodesOverStdio(t *testing.T) {
	t.Parallel()
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, sandbox.Options{})
			if tc.setup != nil {
				tc.setup(gw)
			}
			p := start(t, gw, serverOpts{args: tc.args, protocol: "2025-11-25"})
			p.fail(tc.call, tc.params, tc.code)
			// The server keeps serving after an error.
			p.ok("get_x_user", map[string]any{"username": "jack"})
		})
	}
}

func TestTimeoutOverStdio(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{Latency: 2000 * 1e6})
	p := start(t, gw, serverOpts{args: []string{"--timeout", "50ms"}})
	p.fail("get_x_user", map[string]any{"username": "jack"}, "timeout")
}

func TestNotConfiguredStillListsTools(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	p := start(t, gw, serverOpts{noKey: true, protocol: "2025-11-25"})
	lt, err := p.session.ListTools(t.Context(), nil)
	if err != nil || len(lt.Tools) != len(allTools) {
		t.Fatalf("tools/list without a key: %v, %v", err, lt)
	}
	for _, name := range []string{"unfollow_x_user", "get_x_user", "link_x_account"} {
		args := map[string]any{"target_user_id": "12", "username": "jack"}
		switch name {
		case "unfollow_x_user":
			args = id("12")
		case "get_x_user":
			args = map[string]any{"username": "jack"}
		case "link_x_account":
			args = map[string]any{}
		}
		tx := p.fail(name, args, "not_configured")
		if !strings.Contains(tx, "AISA_API_KEY") {
			t.Errorf("%s: %s", name, tx)
		}
	}
	if len(gw.Requests()) != 0 {
		t.Fatal("requests were sent without a key")
	}
}

func TestSandboxFlagNeedsNoKeyOrGateway(t *testing.T) {
	t.Parallel()
	p := start(t, nil, serverOpts{noKey: true, args: []string{"--sandbox"}})
	out := p.ok("unfollow_x_user", id("2244994945"))
	if out["following"] != false {
		t.Fatalf("%v", out)
	}
	if !strings.Contains(p.stderr.String(), "xfollow-mcp starting") || !strings.Contains(p.stderr.String(), "sandbox=true") {
		t.Errorf("startup line missing from stderr:\n%s", p.stderr.String())
	}
}
