package tools_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

func noBudgetGate() *tools.Gate {
	return &tools.Gate{Budget: safety.NewBudget(time.Now)}
}

// validArgs holds one valid call per tool.
var validArgs = map[string]string{
	"unfollow_x_user":             `{"target_user_id":"2244994945"}`,
	"unfollow_x_users":            `{"target_user_ids":["2244994945"]}`,
	"follow_x_user":               `{"target_user_id":"2244994945"}`,
	"get_x_user":                  `{"username":"TwitterDev"}`,
	"check_x_follow_relationship": `{"source_username":"xfollow_sandbox","target_username":"TwitterDev"}`,
	"list_x_following":            `{"username":"xfollow_sandbox"}`,
	"list_x_followers":            `{"username":"xfollow_sandbox"}`,
	"link_x_account":              `{}`,
	"find_x_unfollow_candidates":  `{"username":"xfollow_sandbox"}`,
	"start_x_unfollow_job":        `{"username":"xfollow_sandbox","target_user_ids":["2244994945"]}`,
	"get_x_unfollow_jobs":         `{}`,
	"control_x_unfollow_job":      `{"job_id":"job_0123456789abcdef0123456789abcdef","action":"pause"}`,
	"get_x_unfollow_history":      `{}`,
}

// jobTools call no gateway themselves: their runner does (jobs_test.go).
var jobTools = map[string]bool{"start_x_unfollow_job": true, "get_x_unfollow_jobs": true, "control_x_unfollow_job": true, "get_x_unfollow_history": true}

func TestEveryToolHasValidArgs(t *testing.T) {
	for _, tl := range tools.All() {
		if _, ok := validArgs[tl.Name]; !ok {
			t.Errorf("no valid arguments for %s in this test", tl.Name)
		}
	}
}

// TestGatewayErrorsForEveryTool: each status the gateway can answer with
// comes back from every tool as the documented code, with the request id,
// never as a success and never with the key.
func TestGatewayErrorsForEveryTool(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		hdr    string
		code   string
		says   string
	}{
		{400, "", "gateway_error", "status 400"},
		{401, "", "auth_invalid", "AISA_API_KEY"},
		{403, "", "x_account_not_linked", "link_x_account"},
		{404, "", "user_not_found", "not"},
		{409, "", "gateway_error", "status 409"},
		{422, "", "gateway_error", "status 422"},
		{429, "30", "rate_limited", "retry after 30 seconds"},
		{500, "", "gateway_unavailable", "status 500"},
		{502, "", "gateway_unavailable", "status 502"},
		{503, "", "gateway_unavailable", "status 503"},
		{504, "", "gateway_unavailable", "status 504"},
	}
	for name, args := range validArgs {
		if jobTools[name] {
			continue
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%d", name, tc.status), func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, harnessOpts{gate: noBudgetGate(), gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Request-Id", "req_abc123")
					if tc.hdr != "" {
						w.Header().Set("Retry-After", tc.hdr)
					}
					w.WriteHeader(tc.status)
					fmt.Fprintf(w, `{"error":{"type":"t","code":"c","message":"gateway says %s"}}`, testKey)
				})})
				res := h.call(name, args)
				text := textOf(res)
				if name == "unfollow_x_users" {
					// A batch reports per-item outcomes as structured results.
					if res.IsError {
						t.Fatalf("batch: %s", text)
					}
					out := structured(t, name, res)
					item := out["results"].([]any)[0].(map[string]any)
					// A 5xx may have been applied: its outcome is unknown.
					want := map[bool]string{true: "unknown", false: "error"}[tc.status >= 500]
					if item["code"] != tc.code || item["status"] != want {
						t.Fatalf("batch item = %v; want code %s", item, tc.code)
					}
					return
				}
				if name == "find_x_unfollow_candidates" && tc.status == 429 {
					// A rate limit does not fail a scan: it stops it with a cursor.
					if res.IsError {
						t.Fatalf("finder: %s", text)
					}
					out := structured(t, name, res)
					if out["stopped"] != "rate_limited" || out["retry_after_seconds"] != float64(30) || out["complete"] != false || out["next_cursor"] == nil {
						t.Fatalf("finder after a 429 = %v", out)
					}
					return
				}
				if !res.IsError || !strings.HasPrefix(text, "["+tc.code+"] ") {
					t.Fatalf("got %q; want [%s]", text, tc.code)
				}
				if !strings.Contains(text, tc.says) || !strings.HasSuffix(text, "(request_id req_abc123)") {
					t.Errorf("text %q should say %q and end with the request id", text, tc.says)
				}
				if strings.Contains(text, testKey) {
					t.Fatal("the key leaked into the error text")
				}
			})
		}
	}
}

func TestBadGatewayResponsesForEveryTool(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"html":      `<html><body>502 Bad Gateway</body></html>`,
		"truncated": `{"data":{"follo`,
		"empty":     ``,
	}
	for name, args := range validArgs {
		if name == "unfollow_x_users" || jobTools[name] {
			continue
		}
		for kind, body := range bodies {
			h := newHarness(t, harnessOpts{gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(body))
			})})
			h.fail(name, args, "bad_gateway_response")
			_ = kind
		}
	}
}

// TestUnavailableSaysWhatFailed: a gateway that accepts the connection and
// drops it is reported, through the real client, as a closed connection to
// its host, after the retries.
func TestUnavailableSaysWhatFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})})
	u, err := url.Parse(h.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	text := h.fail("get_x_user", `{"username":"jack"}`, "gateway_unavailable")
	if !strings.Contains(text, "could not be reached: the connection to "+host+" was closed before a complete answer, after 4 attempts") {
		t.Fatalf("%s", text)
	}
}
