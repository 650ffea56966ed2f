package tools_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

func TestGetUser(t *testing.T) {
	t.Parallel()
	for _, env := range []sandbox.Envelope{sandbox.EnvelopeData, sandbox.EnvelopeOK} {
		h := newHarness(t, harnessOpts{sandbox: sandbox.Options{Envelope: env}})
		u := h.ok("get_x_user", `{"username":"@TwitterDev"}`)
		if u["id"] != "2244994945" || u["username"] != "TwitterDev" || u["verified"] != true || u["protected"] != false {
			t.Fatalf("%s: %v", env, u)
		}
		if _, ok := u["followers_count"].(float64); !ok {
			t.Errorf("%s: no followers_count: %v", env, u)
		}
		q := h.sb.Requests()[0].Query.Get("userName")
		if q != "TwitterDev" {
			t.Errorf("userName sent = %q; the @ must be dropped", q)
		}
		text := h.fail("get_x_user", `{"username":"nobody_here"}`, "user_not_found")
		if !strings.Contains(text, "does not exist") || !strings.Contains(text, "suspended") {
			t.Errorf("text = %q", text)
		}
	}
	h := newHarness(t, harnessOpts{})
	for args, want := range map[string]string{
		`{"username":""}`:                    "is empty",
		`{"username":"has space"}`:           "contains spaces",
		`{"username":"abcdefghijklmnopqrs"}`: "15-character limit",
		`{"username":"https://x.com/jack"}`:  "profile URL",
		`{"username":12}`:                    "must be a string",
		`{"user":"jack"}`:                    `unknown argument "user"`,
	} {
		if text := h.fail("get_x_user", args, "invalid_argument"); !strings.Contains(text, want) {
			t.Errorf("%s: %q lacks %q", args, text, want)
		}
	}
	if len(h.sb.Requests()) != 0 {
		t.Fatal("invalid calls reached the gateway")
	}
}

func TestGetUserOmitsWhatTheGatewayDoesNotGive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"id":"12","userName":"jack","name":"jack"},"status":"success"}`))
	})})
	u := h.ok("get_x_user", `{"username":"jack"}`)
	if len(u) != 3 {
		t.Fatalf("got %v; want only id, username, name", u)
	}
}

func TestFollowAndPending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{sandbox: sandbox.Options{Envelope: sandbox.EnvelopeOK}})
	out := h.ok("follow_x_user", `{"target_user_id":"1500000000000000002","expected_username":"new_friend"}`)
	if out["following"] != true || out["pending_follow"] != false || !h.sb.Follows("1500000000000000002") {
		t.Fatalf("%v", out)
	}
	out = h.ok("follow_x_user", `{"target_user_id":"1500000000000000001"}`)
	if out["following"] != false || out["pending_follow"] != true {
		t.Fatalf("protected: %v", out)
	}
	h.sb.Unlink()
	text := h.fail("follow_x_user", `{"target_user_id":"12"}`, "x_account_not_linked")
	if !strings.Contains(text, "link_x_account") {
		t.Errorf("403 does not name link_x_account: %q", text)
	}
}

func TestFollowNeitherFollowingNorPendingIsAnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"following":false,"pending_follow":false}}`))
	})})
	h.fail("follow_x_user", `{"target_user_id":"12"}`, "not_followed")
}

func TestCheckRelationship(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	out := h.ok("check_x_follow_relationship", `{"source_username":"@xfollow_sandbox","target_username":"@sim_user_03"}`)
	if out["source_username"] != "xfollow_sandbox" || out["target_username"] != "sim_user_03" || out["following"] != true || out["followed_by"] != true {
		t.Fatalf("%v", out)
	}
	out = h.ok("check_x_follow_relationship", `{"source_username":"xfollow_sandbox","target_username":"sim_user_01"}`)
	if out["following"] != true || out["followed_by"] != false {
		t.Fatalf("%v", out)
	}
	h.fail("check_x_follow_relationship", `{"source_username":"xfollow_sandbox","target_username":"ghost_user"}`, "user_not_found")
	h.fail("check_x_follow_relationship", `{"source_username":"xfollow_sandbox"}`, "invalid_argument")
}

func TestListsPageThroughTheGraph(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	seen := map[string]bool{}
	cursor := ""
	for page := 0; page < 10; page++ {
		args := `{"username":"xfollow_sandbox","page_size":20`
		if cursor != "" {
			args += `,"cursor":"` + cursor + `"`
		}
		out := h.ok("list_x_following", args+`}`)
		for _, u := range out["users"].([]any) {
			seen[u.(map[string]any)["id"].(string)] = true
		}
		cursor, _ = out["next_cursor"].(string)
		if out["has_next_page"] != true {
			if cursor != "" {
				t.Fatalf("last page has a cursor %q", cursor)
			}
			break
		}
	}
	if len(seen) != len(h.sb.Following()) {
		t.Fatalf("listed %d of %d", len(seen), len(h.sb.Following()))
	}
	// An unfollow shows up in the list.
	h.ok("unfollow_x_user", `{"target_user_id":"12"}`)
	out := h.ok("list_x_following", `{"username":"xfollow_sandbox"}`)
	for _, u := range out["users"].([]any) {
		if u.(map[string]any)["id"] == "12" {
			t.Fatal("12 still listed after the unfollow")
		}
	}
	fl := h.ok("list_x_followers", `{"username":"xfollow_sandbox","page_size":20}`)
	if len(fl["users"].([]any)) != 20 || fl["has_next_page"] != true {
		t.Fatalf("followers page = %v", fl)
	}
	for _, bad := range []string{`{"username":"x","page_size":10}`, `{"username":"x","page_size":201}`, `{"username":"x","page_size":"20"}`, `{"username":"x","cursor":5}`} {
		h.fail("list_x_following", bad, "invalid_argument")
	}
}

func TestListAcceptsEveryListKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"followings", "followers", "users"} {
		h := newHarness(t, harnessOpts{gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"` + key + `":[{"id":"1","userName":"a","name":"A"}],"has_next_page":false,"next_cursor":"","status":"success"}`))
		})})
		out := h.ok("list_x_followers", `{"username":"a"}`)
		if len(out["users"].([]any)) != 1 {
			t.Errorf("%s: %v", key, out)
		}
	}
}

func TestLinkAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	out := h.ok("link_x_account", `{"scopes":["follows.write","tweet.read","users.read"]}`)
	u := out["auth_url"].(string)
	if !strings.HasPrefix(u, "https://twitter.com/i/oauth2/authorize?") || !strings.Contains(u, "follows.write%20tweet.read%20users.read") {
		t.Fatalf("auth_url = %s", u)
	}
	if out["expires_at"] == "" || !strings.Contains(out["next_step"].(string), "about 10 minutes") {
		t.Fatalf("%v", out)
	}
	for _, bad := range []string{`{"scopes":[]}`, `{"scopes":["admin"]}`, `{"scopes":["users.read","users.read"]}`, `{"scopes":"follows.write"}`} {
		h.fail("link_x_account", bad, "invalid_argument")
	}
	if n := h.requestsTo("/twitter/auth_twitter"); n != 1 {
		t.Fatalf("auth calls = %d", n)
	}
}

// TestIdentityGuard: match writes; mismatch and lookup failure write nothing.
func TestIdentityGuard(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"unfollow_x_user", "follow_x_user"} {
		h := newHarness(t, harnessOpts{})
		h.ok(tool, `{"target_user_id":"12","expected_username":"@JACK"}`)
		if len(h.sb.Writes()) != 1 {
			t.Fatalf("%s: match: %d writes", tool, len(h.sb.Writes()))
		}
		text := h.fail(tool, `{"target_user_id":"12","expected_username":"TwitterDev"}`, "identity_mismatch")
		if !strings.Contains(text, "@TwitterDev") || !strings.Contains(text, "2244994945") || !strings.Contains(text, "12") {
			t.Errorf("%s: the mismatch should name both accounts: %q", tool, text)
		}
		h.fail(tool, `{"target_user_id":"12","expected_username":"ghost_user"}`, "user_not_found")
		h.sb.FailNext("/twitter/user/info", 500, `{}`, nil)
		h.sb.FailNext("/twitter/user/info", 500, `{}`, nil)
		h.sb.FailNext("/twitter/user/info", 500, `{}`, nil)
		h.sb.FailNext("/twitter/user/info", 500, `{}`, nil)
		text = h.fail(tool, `{"target_user_id":"12","expected_username":"jack"}`, "gateway_unavailable")
		if !strings.Contains(text, "nothing was written") {
			t.Errorf("%s: %q", tool, text)
		}
		if len(h.sb.Writes()) != 1 {
			t.Fatalf("%s: a refused call wrote: %d writes", tool, len(h.sb.Writes()))
		}
	}
}

// TestTextIsWrittenAsAPersonCopiesIt: every tool's text content (the JSON a
// model reads and relays) writes &, < and > as themselves, so the link
// link_x_account returns opens when copied; the harness holds every call in
// this package to the same.
func TestTextIsWrittenAsAPersonCopiesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, tl := range tools.All() {
		if jobTools[tl.Name] {
			continue // the harness keeps no jobs; internal/cli and e2e call them
		}
		res := h.call(tl.Name, validArgs[tl.Name])
		if res.IsError {
			t.Fatalf("%s: %s", tl.Name, textOf(res))
		}
		if esc := htmlEscape.FindString(textOf(res)); esc != "" {
			t.Errorf("%s: text holds %s: %s", tl.Name, esc, textOf(res))
		}
	}
	text := textOf(h.call("link_x_account", `{}`))
	if !strings.Contains(text, "?client_id=AIsa&code_challenge=") {
		t.Fatalf("link text = %s", text)
	}
	// A result holding <, > and & in a string comes out as written.
	b, err := tools.MarshalText(map[string]string{"a": "<b> & </b>"})
	if err != nil || string(b) != `{"a":"<b> & </b>"}` {
		t.Fatalf("MarshalText = %s, %v", b, err)
	}
}
