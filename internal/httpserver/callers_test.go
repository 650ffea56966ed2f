package httpserver

// Many callers at once, each with its own key.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// TestManyCallersKeepTheirKeys: 40 callers with distinct keys,
// concurrently; every gateway request carries exactly one caller's key in
// the header and (for writes) the same key in aisa_api_key, and the write
// for each caller's target carries that caller's key; each caller's budget
// is its own.
func TestManyCallersKeepTheirKeys(t *testing.T) {
	type seen struct{ auth, bodyKey, target, path string }
	var mu sync.Mutex
	var calls []seen
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		bk, _ := m["aisa_api_key"].(string)
		tg, _ := m["target_user_id"].(string)
		mu.Lock()
		calls = append(calls, seen{r.Header.Get("Authorization"), bk, tg, r.URL.Path})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		sb.ServeHTTP(w, r)
	}))
	defer gw.Close()
	c, err := aisa.New(aisa.Options{BaseURL: gw.URL + sandbox.BasePath})
	if err != nil {
		t.Fatal(err)
	}
	budget := safety.NewBudget(nil, safety.Window{Limit: 2, Span: 15 * time.Minute})
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := mcpserver.New(mcpserver.Options{Version: "t"}, &tools.Deps{Client: c, Logger: logger, Gate: &tools.Gate{Budget: budget}})
	srv := httptest.NewServer(New(s, Options{KeyFromRequest: true, Logger: logger}))
	defer srv.Close()

	const n = 40
	key := func(i int) string { return fmt.Sprintf("sk-aisa-REVIEW-%04d-xyzxyz", i) }
	target := func(i int) string { return sandbox.BigUserID(i + 1) }
	var wg sync.WaitGroup
	errs := make(chan string, n*4)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				_, body := post(t, srv.URL+MCPPath, key(i), callBody("unfollow_x_user", map[string]any{"target_user_id": target(i)}))
				want := fmt.Sprintf(`"remaining_15m":%d`, 1-j)
				if j == 2 {
					want = "budget_exhausted"
				}
				if !strings.Contains(body, want) {
					errs <- fmt.Sprintf("caller %d call %d: want %s: %.300s", i, j, want, body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	owner := map[string]string{}
	for i := 0; i < n; i++ {
		owner[target(i)] = "Bearer " + key(i)
	}
	for _, c := range calls {
		if c.bodyKey != "" && "Bearer "+c.bodyKey != c.auth {
			t.Fatalf("body key differs from header key on %s", c.path)
		}
		if c.target != "" && owner[c.target] != c.auth {
			t.Fatalf("write for %s carried another caller's key", c.target)
		}
	}
	for i := 0; i < n; i++ {
		if strings.Contains(logs.String(), key(i)) {
			t.Fatal("a key reached the log")
		}
	}
}

// TestNoStreamIsSharedBetweenCallers: a stateless server has no session to
// tie a GET stream to (mcp-go would file every one under one shared session
// and send it other callers' notifications), so GET is refused; a caller's
// progress notifications come on its own POST's response.
func TestNoStreamIsSharedBetweenCallers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler(Options{KeyFromRequest: true}))
	defer srv.Close()
	url := srv.URL + MCPPath
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		req.Header.Set("Authorization", "Bearer "+callerA)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
			t.Fatalf("%s: %d, Allow %q", method, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	body := rpc("tools/call", map[string]any{
		"name":      "unfollow_x_users",
		"arguments": map[string]any{"target_user_ids": []any{"2244994945", "783214"}},
		"_meta":     map[string]any{"progressToken": "caller-B-progress"},
	})
	res, out := post(t, url, "sk-aisa-UNIT-CALLER-B-0002", body, "MCP-Protocol-Version", "2025-06-18")
	if res.StatusCode != 200 || !strings.Contains(out, "caller-B-progress") || !strings.Contains(out, `\"status\":\"unfollowed\"`) {
		t.Fatalf("caller B: %d %s", res.StatusCode, out)
	}
}
