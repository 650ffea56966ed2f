package httpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

const (
	testToken = "unit-test-token-0123456789"
	callerA   = "sk-aisa-UNIT-CALLER-A-0001"
)

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// probe is a tool that reports the Authorization header it sees and, on
// request, blocks until released or for a while.
type probe struct {
	calls     atomic.Int32
	started   chan struct{}
	release   chan struct{}
	cancelled atomic.Bool
}

func newProbe() *probe {
	return &probe{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (p *probe) handler(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p.calls.Add(1)
	p.started <- struct{}{}
	switch req.GetString("mode", "") {
	case "wait":
		select {
		case <-p.release:
		case <-ctx.Done():
			p.cancelled.Store(true)
			return nil, ctx.Err()
		}
	case "sleep":
		d, _ := time.ParseDuration(req.GetString("for", "0s"))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			p.cancelled.Store(true)
			return nil, ctx.Err()
		}
	}
	return mcp.NewToolResultText(fmt.Sprintf("authorization=%q", req.Header.Get("Authorization"))), nil
}

// fixture is the real MCP server (every tool, bound to a recording gateway)
// plus the probe tool.
type fixture struct {
	mcp      *server.MCPServer
	probe    *probe
	mu       sync.Mutex
	gwAuth   []string // Authorization headers the gateway received
	logs     *logBuffer
	gatewayN atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{probe: newProbe(), logs: &logBuffer{}}
	sb := sandbox.New(sandbox.Options{})
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.gatewayN.Add(1)
		f.mu.Lock()
		f.gwAuth = append(f.gwAuth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(gw.Close)
	c, err := aisa.New(aisa.Options{BaseURL: gw.URL + sandbox.BasePath})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.mcp = mcpserver.New(mcpserver.Options{Version: "test"}, &tools.Deps{Client: c, Logger: logger, Gate: &tools.Gate{}})
	f.mcp.AddTool(mcp.NewTool("probe", mcp.WithString("mode"), mcp.WithString("for")), f.probe.handler)
	return f
}

func (f *fixture) handler(o Options) http.Handler {
	o.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(f.mcp, o)
}

func rpc(method string, params any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return string(b)
}

func callBody(name string, args map[string]any) string {
	return rpc("tools/call", map[string]any{"name": name, "arguments": args})
}

func post(t *testing.T, url, bearer, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, string(raw)
}

// checkRefusal asserts an HTTP status with a JSON-RPC error body.
func checkRefusal(t *testing.T, res *http.Response, body string, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", res.StatusCode, status, body)
	}
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil || msg.JSONRPC != "2.0" || string(msg.ID) != "null" || msg.Error.Code == 0 || msg.Error.Message == "" {
		t.Fatalf("body is not a JSON-RPC error: %s", body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}

func TestTokenMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler(Options{Token: testToken}))
	defer srv.Close()
	url := srv.URL + MCPPath

	for _, tc := range []struct {
		name, auth string
		invalid    bool
	}{
		{"no header", "", false},
		{"wrong token", "Bearer " + testToken + "x", true},
		{"prefix of the token", "Bearer " + testToken[:10], true},
		{"basic scheme", "Basic " + testToken, false},
		{"empty bearer", "Bearer ", false}, // the header value is trimmed to "Bearer"
	} {
		res, body := post(t, url, "", callBody("probe", nil), "Authorization", tc.auth)
		checkRefusal(t, res, body, http.StatusUnauthorized)
		wa := res.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(wa, "Bearer ") || strings.Contains(wa, `error="invalid_token"`) != tc.invalid {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, wa)
		}
	}
	if n := f.probe.calls.Load(); n != 0 {
		t.Fatalf("a refused request reached the tool %d times", n)
	}
	// GET (the stream) and DELETE are refused alike.
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(method, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", method, res.StatusCode)
		}
	}

	res, body := post(t, url, testToken, callBody("probe", nil))
	if res.StatusCode != 200 || !strings.Contains(body, `authorization=\"\"`) {
		t.Fatalf("with the token: %d %s", res.StatusCode, body)
	}
	// The health check needs no credentials and says nothing else.
	hres, err := http.Get(srv.URL + HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	hbody, _ := io.ReadAll(hres.Body)
	hres.Body.Close()
	if hres.StatusCode != 200 || strings.TrimSpace(string(hbody)) != `{"status":"ok"}` || hres.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("healthz: %d %q", hres.StatusCode, hbody)
	}
	if strings.Contains(f.logs.String(), testToken[:10]) {
		t.Fatal("the token reached the log")
	}
}

func TestKeyFromRequestMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler(Options{KeyFromRequest: true}))
	defer srv.Close()
	url := srv.URL + MCPPath

	for _, bad := range []string{"", "not-a-key-but-long-enough", "sk-aisa-short", "sk-aisa-has space-inside", "sk-aisa-" + strings.Repeat("x", 600)} {
		res, body := post(t, url, "", callBody("get_x_user", map[string]any{"username": "jack"}), "Authorization", "Bearer "+bad)
		checkRefusal(t, res, body, http.StatusUnauthorized)
	}
	if n := f.gatewayN.Load(); n != 0 {
		t.Fatalf("refused requests reached the gateway %d times", n)
	}
	res, body := post(t, url, callerA, callBody("get_x_user", map[string]any{"username": "jack"}))
	if res.StatusCode != 200 || !strings.Contains(body, `"username":"jack"`) {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	f.mu.Lock()
	got := strings.Join(f.gwAuth, "|")
	f.mu.Unlock()
	if got != "Bearer "+callerA {
		t.Fatalf("the gateway saw %d requests, or not with the caller's key", len(f.gwAuth))
	}
	// The key does not reach the tools as a header.
	res, body = post(t, url, callerA, callBody("probe", nil))
	if res.StatusCode != 200 || !strings.Contains(body, `authorization=\"\"`) {
		t.Fatalf("the tool saw the Authorization header: %s", body)
	}
	logs := f.logs.String()
	if strings.Contains(logs, callerA) {
		t.Fatal("the caller's key reached the log")
	}
	if !strings.Contains(logs, "key_fingerprint="+aisa.KeyFingerprint(callerA)) {
		t.Fatalf("no log line names the caller's fingerprint:\n%s", logs)
	}
}

func TestValidCallerKey(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"sk-aisa-0123456789abcdef":            true,
		"sk-aisa-01234567":                    true,
		"sk-aisa-0123456":                     false, // 15 characters
		"SK-AISA-0123456789abcdef":            false,
		"sk-openai-0123456789abcdef":          false,
		"sk-aisa-0123456789\tabcdef":          false,
		"sk-aisa-0123456789 abcdef":           false,
		"sk-aisa-0123456789abcdéf":            false,
		"sk-aisa-AZaz09-._~+/==":              true,
		"sk-aisa-0123456789=abcdef":           false, // = only at the end
		"sk-aisa-0123456789\"abcdef":          false,
		"sk-aisa-0123456789,abcdef":           false,
		"sk-aisa-" + strings.Repeat("a", 504): true,
		"sk-aisa-" + strings.Repeat("a", 505): false,
	} {
		if got := ValidCallerKey(key); got != want {
			t.Errorf("ValidCallerKey(%.30q) = %v", key, got)
		}
	}
}

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler(Options{AllowedOrigins: []string{"https://app.example.com"}}))
	defer srv.Close()
	for origin, allowed := range map[string]bool{
		"http://localhost":                     true,
		"http://localhost:5173":                true,
		"https://localhost:8443":               true,
		"http://127.0.0.1:6274":                true,
		"http://[::1]:3000":                    true,
		"https://app.example.com":              true,
		"https://APP.example.com:443":          true,
		"https://evil.example":                 false,
		"http://app.example.com":               false,
		"https://app.example.com.evil.example": false,
		"https://app.example.com:8443":         false,
		"null":                                 false,
		"http://localhost.evil.example":        false,
		"file://":                              false,
	} {
		res, body := post(t, srv.URL+MCPPath, "", callBody("probe", nil), "Origin", origin)
		if allowed && res.StatusCode != 200 {
			t.Errorf("%s: refused: %d %s", origin, res.StatusCode, body)
		}
		if !allowed {
			checkRefusal(t, res, body, http.StatusForbidden)
		}
	}
	// No Origin at all (a non-browser client) is fine.
	if res, body := post(t, srv.URL+MCPPath, "", callBody("probe", nil)); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if n := int(f.probe.calls.Load()); n != 8 {
		t.Fatalf("the tool ran %d times; want once per allowed origin (7) and once without an Origin", n)
	}
}

func TestOriginCheckedBeforeCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler(Options{Token: testToken}))
	defer srv.Close()
	res, body := post(t, srv.URL+MCPPath, testToken, callBody("probe", nil), "Origin", "https://evil.example")
	checkRefusal(t, res, body, http.StatusForbidden)
	if f.probe.calls.Load() != 0 {
		t.Fatal("the tool ran")
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler(Options{Token: testToken}))
	defer srv.Close()
	url := srv.URL + MCPPath

	// A ping padded to exactly the limit is served.
	exact := padded(MaxBodyBytes)
	if res, body := post(t, url, testToken, exact); res.StatusCode != 200 || !strings.Contains(body, `"result"`) {
		t.Fatalf("a body of exactly %d bytes: %d %.200s", MaxBodyBytes, res.StatusCode, body)
	}
	// One byte more, with a Content-Length.
	res, body := post(t, url, testToken, padded(MaxBodyBytes+1))
	checkRefusal(t, res, body, http.StatusRequestEntityTooLarge)
	// Without a Content-Length (chunked).
	req, _ := http.NewRequest(http.MethodPost, url, io.MultiReader(strings.NewReader(padded(MaxBodyBytes+1))))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	cres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cbody, _ := io.ReadAll(cres.Body)
	cres.Body.Close()
	if len(cres.TransferEncoding) != 0 {
		t.Logf("response transfer encoding %v", cres.TransferEncoding)
	}
	checkRefusal(t, cres, string(cbody), http.StatusRequestEntityTooLarge)
}

// padded is a ping request of exactly n bytes.
func padded(n int) string {
	head := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"pad":"`
	tail := `"}}}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// serve runs Serve on a free loopback port and returns its URL and a stop
// function that returns Serve's result.
func serve(t *testing.T, f *fixture, o Options) (string, func() error) {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	o.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr := make(chan net.Addr, 1)
	o.listening = func(a net.Addr) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, f.mcp, o) }()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return url, stop
}

// TestLongCallOutlivesTheServerTimeouts: an accepted call may run longer
// than the read and write timeouts, which only bound what a caller holds
// before it is accepted.
func TestLongCallOutlivesTheServerTimeouts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url, _ := serve(t, f, Options{Token: testToken, readTimeout: 100 * time.Millisecond, writeTimeout: 100 * time.Millisecond})
	res, body := post(t, url+MCPPath, testToken, callBody("probe", map[string]any{"mode": "sleep", "for": "600ms"}))
	if res.StatusCode != 200 || !strings.Contains(body, "authorization=") || f.probe.cancelled.Load() {
		t.Fatalf("%d %s (cancelled=%v)", res.StatusCode, body, f.probe.cancelled.Load())
	}
	// A caller that has not authenticated is still bound by them: a body
	// that never finishes is cut.
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", testToken)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.Contains(line, "200") {
		t.Fatalf("an incomplete body was served: %q", line)
	}
}

// TestShutdownLetsCallsFinish: on stop the server refuses new connections,
// ends the streams clients hold open, waits for the call in flight and
// returns nil once it is done.
func TestShutdownLetsCallsFinish(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url, stop := serve(t, f, Options{})

	// GET streams are refused: a stateless server has no session to tie
	// them to.
	greq, _ := http.NewRequest(http.MethodGet, url+MCPPath, nil)
	greq.Header.Set("Accept", "text/event-stream")
	greq.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if gres, err := http.DefaultClient.Do(greq); err != nil || gres.StatusCode != http.StatusMethodNotAllowed || gres.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %v %v", err, gres)
	}
	// A client holds a subscriptions/listen stream open (2026-07-28).
	listen := `{"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta":{` +
		`"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"0"},` +
		`"io.modelcontextprotocol/clientCapabilities":{}}}}`
	lreq, _ := http.NewRequest(http.MethodPost, url+MCPPath, strings.NewReader(listen))
	lreq.Header.Set("Accept", "application/json, text/event-stream")
	lreq.Header.Set("Content-Type", "application/json")
	lreq.Header.Set("MCP-Protocol-Version", "2026-07-28")
	lreq.Header.Set("Mcp-Method", "subscriptions/listen")
	gres, err := http.DefaultClient.Do(lreq)
	if err != nil || gres.StatusCode != 200 {
		msg, _ := io.ReadAll(gres.Body)
		t.Fatalf("listen stream: %v %v %s", err, gres, msg)
	}
	streamEnded := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, gres.Body)
		gres.Body.Close()
		close(streamEnded)
	}()

	type result struct {
		status int
		body   string
	}
	called := make(chan result, 1)
	go func() {
		res, body := post(t, url+MCPPath, "", callBody("probe", map[string]any{"mode": "wait"}))
		called <- result{res.StatusCode, body}
	}()
	<-f.probe.started

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case <-streamEnded:
	case <-time.After(20 * time.Second):
		t.Fatal("the listen stream was not closed on shutdown")
	}
	// New connections are refused while the call is still running.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after the stop")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a timing assumption
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a call was in flight", err)
	default:
	}
	close(f.probe.release)
	r := <-called
	if r.status != 200 || !strings.Contains(r.body, "authorization=") {
		t.Fatalf("the call in flight: %d %s", r.status, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestShutdownCutsOffAfterTheGrace: a call still running after the drain
// time is cancelled and Serve says so.
func TestShutdownCutsOffAfterTheGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url, stop := serve(t, f, Options{drainTimeout: 200 * time.Millisecond})
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+MCPPath, strings.NewReader(callBody("probe", map[string]any{"mode": "wait"})))
		req.Header.Set("Content-Type", "application/json")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	<-f.probe.started
	err := stop()
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Serve = %v", err)
	}
	if !f.probe.cancelled.Load() {
		t.Fatal("the call's context was not cancelled")
	}
}
