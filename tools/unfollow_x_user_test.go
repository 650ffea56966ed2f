package tools_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

func TestUnfollowAgainstSandbox(t *testing.T) {
	t.Parallel()
	for _, env := range []sandbox.Envelope{sandbox.EnvelopeData, sandbox.EnvelopeOK} {
		h := newHarness(t, harnessOpts{sandbox: sandbox.Options{Envelope: env}})
		if !h.sb.Follows("2244994945") {
			t.Fatal("seed: the sandbox account should follow 2244994945")
		}
		out := h.ok("unfollow_x_user", `{"target_user_id":"2244994945"}`)
		if out["target_user_id"] != "2244994945" || out["following"] != false {
			t.Fatalf("%s: %v", env, out)
		}
		b := out["budget"].(map[string]any)
		if b["remaining_15m"] != float64(49) || b["remaining_24h"] != float64(399) {
			t.Errorf("%s: budget = %v", env, b)
		}
		if h.sb.Follows("2244994945") {
			t.Fatalf("%s: the sandbox still follows 2244994945", env)
		}
		// Idempotent: unfollowing again still reports following=false.
		out = h.ok("unfollow_x_user", `{"target_user_id":"2244994945"}`)
		if out["following"] != false {
			t.Fatalf("%s: second unfollow: %v", env, out)
		}
	}
}

// TestUnfollowRejectsBadArguments: every bad input is an [invalid_argument]
// with a corrective sentence, and none reaches the gateway.
func TestUnfollowRejectsBadArguments(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	cases := []struct{ name, args, want string }{
		{"json number", `{"target_user_id":2244994945}`, `must be the id in quotes, e.g. "2244994945", not a JSON number`},
		{"handle with @", `{"target_user_id":"@TwitterDev"}`, "is a username, not a numeric id"},
		{"handle without @", `{"target_user_id":"TwitterDev"}`, "is a username, not a numeric id"},
		{"empty", `{"target_user_id":""}`, "is empty"},
		{"20 digits", `{"target_user_id":"12345678901234567890"}`, "has 20 digits"},
		{"spaces", `{"target_user_id":" 2244994945"}`, "contains spaces"},
		{"inner space", `{"target_user_id":"2244 994945"}`, "contains spaces"},
		{"arabic digits", `{"target_user_id":"٢٢٤٤"}`, "non-ASCII digits"},
		{"fullwidth digits", `{"target_user_id":"２２４４"}`, "non-ASCII digits"},
		{"negative", `{"target_user_id":"-12"}`, "is not a numeric X user id"},
		{"unknown field", `{"target_user_id":"12","force":true}`, `unknown argument "force"`},
		{"missing field", `{}`, `missing required argument "target_user_id"`},
		{"no arguments", ``, `missing required argument "target_user_id"`},
		{"null", `{"target_user_id":null}`, "is null"},
		{"bool", `{"target_user_id":true}`, "must be the id in quotes"},
		{"array", `{"target_user_id":["12"]}`, "must be the id in quotes"},
		{"not an object", `["12"]`, "must be a JSON object"},
		{"bad expected_username", `{"target_user_id":"12","expected_username":"not a handle!"}`, "expected_username"},
		{"long expected_username", `{"target_user_id":"12","expected_username":"abcdefghijklmnopq"}`, "15-character limit"},
	}
	for _, tc := range cases {
		text := h.fail("unfollow_x_user", tc.args, "invalid_argument")
		if !strings.Contains(text, tc.want) {
			t.Errorf("%s: %q does not say %q", tc.name, text, tc.want)
		}
	}
	if n := len(h.sb.Requests()); n != 0 {
		t.Fatalf("%d requests reached the gateway; want none", n)
	}
}

func TestUnfollowFollowingTrueIsNotASuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_still")
		_, _ = w.Write([]byte(`{"ok":true,"code":200,"data":{"following":true}}`))
	})})
	text := h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "not_unfollowed")
	if !strings.HasSuffix(text, "(request_id req_still)") {
		t.Errorf("text = %q", text)
	}
}

func TestUnfollowNotConfigured(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{key: "-"})
	text := h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "not_configured")
	if !strings.Contains(text, "AISA_API_KEY") {
		t.Errorf("text = %q", text)
	}
	if len(h.sb.Requests()) != 0 {
		t.Fatal("a request was sent without a key")
	}
}

func TestUnfollowSandboxRateLimit(t *testing.T) {
	t.Parallel()
	// The server's own budget is off here, so the sandbox's X limit answers.
	h := newHarness(t, harnessOpts{gate: noBudgetGate()})
	for i := 0; i < sandbox.DefaultUnfollowLimit; i++ {
		h.ok("unfollow_x_user", `{"target_user_id":"12"}`)
	}
	text := h.fail("unfollow_x_user", `{"target_user_id":"12"}`, "rate_limited")
	if !strings.Contains(text, "retry after") {
		t.Errorf("text = %q", text)
	}
}
