package mcpserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// rpc sends one raw JSON-RPC message and returns the decoded answer.
func rpc(t *testing.T, s *server.MCPServer, msg string) map[string]any {
	t.Helper()
	raw, err := json.Marshal(s.HandleMessage(context.Background(), []byte(msg)))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return out
}

func viewServer(t *testing.T, readOnly bool) *server.MCPServer {
	t.Helper()
	c, err := aisa.New(aisa.Options{BaseURL: benchBase, APIKey: "sk-aisa-views", UserAgent: "test", Transport: instantGateway{}})
	if err != nil {
		t.Fatal(err)
	}
	gate := &tools.Gate{Gateway: c.Gateway(), Protected: map[string]bool{}, Budget: safety.NewBudget(time.Now)}
	s := New(Options{Version: "test", ReadOnly: readOnly}, &tools.Deps{Client: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Gate: gate})
	init := rpc(t, s, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	caps, _ := dig(init, "result", "capabilities").(map[string]any)
	ui, _ := dig(caps, "extensions", tools.UIExtension).(map[string]any)
	if ui == nil || !slices.Equal(strs(ui["mimeTypes"]), []string{"text/html;profile=mcp-app"}) {
		t.Fatalf("the MCP Apps extension is not advertised: %v", caps)
	}
	if caps["resources"] == nil {
		t.Fatalf("no resources capability: %v", caps)
	}
	return s
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestViewOnTheWire: the finder names its view under _meta.ui.resourceUri
// and the flat ui/resourceUri; no other tool names one; the view is listed
// and read with its MIME type and a CSP that allows X's image hosts and
// nothing else; read-only mode keeps both.
func TestViewOnTheWire(t *testing.T) {
	t.Parallel()
	for _, readOnly := range []bool{false, true} {
		s := viewServer(t, readOnly)
		list := rpc(t, s, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		found := false
		for _, tl := range dig(list, "result", "tools").([]any) {
			name := dig(tl, "name")
			meta, _ := dig(tl, "_meta").(map[string]any)
			if name != "find_x_unfollow_candidates" {
				if meta != nil {
					t.Errorf("%s carries _meta %v", name, meta)
				}
				continue
			}
			found = true
			if dig(meta, "ui", "resourceUri") != "ui://xfollow/review" || meta["ui/resourceUri"] != "ui://xfollow/review" {
				t.Errorf("finder _meta = %v", meta)
			}
		}
		if !found {
			t.Fatal("find_x_unfollow_candidates is not listed")
		}

		res := rpc(t, s, `{"jsonrpc":"2.0","id":3,"method":"resources/list"}`)
		rs, _ := dig(res, "result", "resources").([]any)
		if len(rs) != 1 || dig(rs[0], "uri") != "ui://xfollow/review" || dig(rs[0], "mimeType") != "text/html;profile=mcp-app" {
			t.Fatalf("resources/list = %v", res)
		}
		checkCSP(t, "resources/list", dig(rs[0], "_meta", "ui", "csp"))

		read := rpc(t, s, `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"ui://xfollow/review"}}`)
		contents, _ := dig(read, "result", "contents").([]any)
		if len(contents) != 1 {
			t.Fatalf("resources/read = %v", read)
		}
		c := contents[0]
		if dig(c, "uri") != "ui://xfollow/review" || dig(c, "mimeType") != "text/html;profile=mcp-app" {
			t.Errorf("contents = uri %v mime %v", dig(c, "uri"), dig(c, "mimeType"))
		}
		checkCSP(t, "resources/read", dig(c, "_meta", "ui", "csp"))
		checkViewHTML(t, dig(c, "text").(string))

		bad := rpc(t, s, `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"ui://xfollow/nope"}}`)
		if bad["error"] == nil {
			t.Errorf("an unknown view was read: %v", bad)
		}
	}
}

// checkCSP: the view may load pictures from X's image hosts and nothing
// else remote (no connect, frame or base-uri domains).
func checkCSP(t *testing.T, where string, v any) {
	t.Helper()
	csp, _ := v.(map[string]any)
	if len(csp) != 1 || !slices.Equal(strs(csp["resourceDomains"]), []string{"https://pbs.twimg.com", "https://abs.twimg.com"}) {
		t.Errorf("%s: csp = %v; want resourceDomains of X's image hosts only, no connect/frame/base domains", where, csp)
	}
}

// checkViewHTML holds the view to its rules: one complete document, no
// remote script, style or fetch, no URL outside X's image hosts, and
// untrusted text never parsed as markup (no innerHTML and friends).
func checkViewHTML(t *testing.T, html string) {
	t.Helper()
	if !strings.HasPrefix(strings.ToLower(html), "<!doctype html>") || !strings.Contains(html, "</html>") {
		t.Fatal("the view is not a complete HTML document")
	}
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
		"<script src", "<link", "@import", "fetch(", "XMLHttpRequest", "WebSocket", "setAttribute('on", `setAttribute("on`} {
		if strings.Contains(html, banned) {
			t.Errorf("the view uses %q", banned)
		}
	}
	for _, u := range regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindAllString(html, -1) {
		if !strings.HasPrefix(u, "https://pbs.twimg.com") && !strings.HasPrefix(u, "https://abs.twimg.com") {
			t.Errorf("the view names a remote origin outside X's image hosts: %s", u)
		}
	}
	for _, method := range []string{"ui/initialize", "ui/notifications/initialized", "ui/notifications/tool-input", "ui/notifications/tool-result",
		"ui/notifications/tool-cancelled", "ui/notifications/host-context-changed", "ui/notifications/size-changed", "ui/resource-teardown",
		"start_x_unfollow_job", "get_x_unfollow_jobs", "control_x_unfollow_job"} {
		if !strings.Contains(html, `"`+method+`"`) {
			t.Errorf("the view does not handle %s", method)
		}
	}
}
