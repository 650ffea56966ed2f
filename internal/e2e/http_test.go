package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// httpToken is the XFOLLOW_HTTP_TOKEN of the one-person servers below.
const httpToken = "e2e-http-token-LEAKCHECK-3f9a0c"

// callerKey is the AIsa key of caller n in --key-from-request tests.
func callerKey(n int) string { return fmt.Sprintf("sk-aisa-E2E-CALLER-%02d-LEAKCHECK", n) }

// httpServer is a running `xfollow-mcp --http 127.0.0.1:0`.
type httpServer struct {
	t        *testing.T
	cmd      *exec.Cmd
	URL      string // http://127.0.0.1:PORT/mcp
	Base     string // http://127.0.0.1:PORT
	stdout   *lockedBuffer
	stderr   *lockedBuffer
	waited   chan error
	secrets  []string // must never appear in the output
	wantExit int
	done     bool
}

var listeningRe = regexp.MustCompile(`msg="xfollow-mcp listening" url=(http://\S+/mcp)`)

// startHTTP spawns the binary in remote mode against gw and waits until it
// listens. Secrets (the token, callers' keys) are checked absent from its
// output when it stops.
func startHTTP(t *testing.T, gw *gateway, o serverOpts, secrets ...string) *httpServer {
	t.Helper()
	o.args = append([]string{"--http", "127.0.0.1:0"}, o.args...)
	p := launch(t, gw, o)
	s := &httpServer{t: t, cmd: p.cmd, stdout: &lockedBuffer{}, stderr: p.stderr, waited: make(chan error, 1),
		secrets: append([]string{testKey, httpToken}, secrets...)}
	s.cmd.Stdout = s.stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waited <- s.cmd.Wait() }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listeningRe.FindStringSubmatch(s.stderr.String()); m != nil {
			s.URL = m[1]
			s.Base = strings.TrimSuffix(m[1], "/mcp")
			return s
		}
		select {
		case err := <-s.waited:
			s.waited <- err
			t.Fatalf("the server exited before listening: %v\nstderr:\n%s", err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not report its address\nstderr:\n%s", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the log for the address, not timing
	}
}

// signal sends SIGTERM.
func (s *httpServer) signal() {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
}

// exitCode waits for the process to end.
func (s *httpServer) exitCode(within time.Duration) int {
	s.t.Helper()
	select {
	case err := <-s.waited:
		s.waited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			s.t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		s.t.Fatalf("the server did not exit within %s\nstderr:\n%s", within, s.stderr.String())
		return -1
	}
}

// running reports whether the process has not exited yet.
func (s *httpServer) running() bool {
	select {
	case err := <-s.waited:
		s.waited <- err
		return false
	default:
		return true
	}
}

// stop ends the server with SIGTERM and checks its exit and its output.
func (s *httpServer) stop() {
	t := s.t
	if s.done {
		return
	}
	s.done = true
	if s.running() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	if code := s.exitCode(20 * time.Second); code != s.wantExit {
		t.Errorf("exit code %d, want %d\nstderr:\n%s", code, s.wantExit, s.stderr.String())
	}
	if out := s.stdout.String(); out != "" {
		t.Errorf("in HTTP mode stdout must stay empty; it holds %.200q", out)
	}
	for _, secret := range s.secrets {
		if strings.Contains(s.stderr.String(), secret) || strings.Contains(s.stdout.String(), secret) {
			t.Errorf("a secret (%.12s...) appeared in the server's output", secret)
		}
	}
}

// bearerTransport adds Authorization: Bearer to every request.
type bearerTransport struct {
	base   http.RoundTripper
	bearer string
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.bearer == "" {
		return b.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.bearer)
	return b.base.RoundTrip(r)
}

// connect opens an MCP session with the official Go SDK's streamable HTTP
// client, sending bearer with every request.
func connect(t *testing.T, endpoint, bearer, protocol string, copts *mcp.ClientOptions, stderr *lockedBuffer) *proc {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	if copts == nil {
		copts = &mcp.ClientOptions{}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "xfollow-e2e-http", Version: "0"}, copts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	transport := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearerTransport{tr, bearer}}}
	session, err := c.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: protocol})
	if err != nil {
		t.Fatalf("connect %s: %v\nstderr:\n%s", endpoint, err, stderr.String())
	}
	t.Cleanup(func() { _ = session.Close() })
	return &proc{t: t, session: session, stderr: stderr}
}

func (s *httpServer) connect(t *testing.T, bearer, protocol string, copts *mcp.ClientOptions) *proc {
	t.Helper()
	return connect(t, s.URL, bearer, protocol, copts, s.stderr)
}

// gatewayCall is one request the recording gateway received.
type gatewayCall struct {
	Path    string
	Auth    string // the Authorization header
	BodyKey string // aisa_api_key in a POST body
	HasBody bool
	Target  string // target_user_id in a POST body
	Query   url.Values
}

// recorder wraps a sandbox and records the credentials of every request.
type recorder struct {
	*gateway
	mu    sync.Mutex
	calls []gatewayCall
	// hold, when set, is called for each unfollow before it is served.
	hold func(r *http.Request)
}

func newRecordingGateway(t *testing.T, o sandbox.Options) *recorder {
	t.Helper()
	sb := sandbox.New(o)
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := gatewayCall{Path: strings.TrimPrefix(r.URL.Path, sandbox.BasePath), Auth: r.Header.Get("Authorization"), Query: r.URL.Query()}
		if r.Method == http.MethodPost {
			raw, _ := io.ReadAll(r.Body)
			var body struct {
				Key    *string `json:"aisa_api_key"`
				Target string  `json:"target_user_id"`
			}
			_ = json.Unmarshal(raw, &body)
			if body.Key != nil {
				c.BodyKey, c.HasBody = *body.Key, true
			}
			c.Target = body.Target
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, c)
		hold := rec.hold
		rec.mu.Unlock()
		if hold != nil && c.Path == "/twitter/unfollow_twitter" {
			hold(r)
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.gateway = &gateway{Sandbox: sb, URL: srv.URL + sandbox.BasePath}
	return rec
}

func (r *recorder) Calls() []gatewayCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gatewayCall(nil), r.calls...)
}

// rawResponse is an HTTP answer read whole.
type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

// rawPost sends one JSON-RPC message over plain HTTP.
func rawPost(t *testing.T, endpoint, body string, hdr ...string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, http.DefaultClient, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) rawResponse {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	sawResponse(req.Method+" "+req.URL.Path, res.Header)
	raw, _ := io.ReadAll(res.Body)
	return rawResponse{res.StatusCode, res.Header, string(raw)}
}

func toolCall(name string, args any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call",
		"params": map[string]any{"name": name, "arguments": args}})
	return string(b)
}

// wantRefusal asserts a status with a JSON-RPC error body.
func wantRefusal(t *testing.T, what string, r rawResponse, status int) {
	t.Helper()
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %.300s", what, r.Status, status, r.Body)
	}
	if err := json.Unmarshal([]byte(r.Body), &msg); err != nil || msg.JSONRPC != "2.0" || msg.Error == nil || msg.Error.Message == "" || string(msg.ID) != "null" {
		t.Fatalf("%s: not a JSON-RPC error body: %.300s", what, r.Body)
	}
}

// TestEveryToolOverHTTP: a one-person server (token) serves every tool to
// the official Go SDK's streamable HTTP client, at the protocol hosts use
// today and at the SDK's default, exactly as over stdio.
func TestEveryToolOverHTTP(t *testing.T) {
	for _, pv := range protocols {
		t.Run(pv.name, func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, sandbox.Options{})
			journal := filepath.Join(t.TempDir(), "journal.jsonl")
			s := startHTTP(t, gw, serverOpts{args: []string{"--journal", journal, "--log-level", "debug"},
				env: []string{"XFOLLOW_HTTP_TOKEN=" + httpToken}})
			p := s.connect(t, httpToken, pv.pin, nil)
			exerciseEveryTool(t, p, gw, pv.want)
			raw, _ := os.ReadFile(journal)
			if len(raw) == 0 || strings.Contains(string(raw), testKey) || strings.Contains(string(raw), httpToken) {
				t.Errorf("journal empty or holding a secret: %d bytes", len(raw))
			}
			recs := journalRecords(t, journal)
			if recs[0].KeyFingerprint != aisa.KeyFingerprint(testKey) {
				t.Errorf("journal fingerprint %q, want the server key's", recs[0].KeyFingerprint)
			}
		})
	}
}

// TestErrorCodesOverHTTP: every error code comes back over HTTP as it does
// over stdio.
func TestErrorCodesOverHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, sandbox.Options{})
			if tc.setup != nil {
				tc.setup(gw)
			}
			s := startHTTP(t, gw, serverOpts{args: tc.args})
			p := s.connect(t, "", "2025-11-25", nil)
			p.fail(tc.call, tc.params, tc.code)
			p.ok("get_x_user", map[string]any{"username": "jack"})
		})
	}
}

// TestHTTPRefusals: without valid credentials, from a foreign Origin or
// with a body over 1 MiB a request is refused before any tool runs.
func TestHTTPRefusals(t *testing.T) {
	t.Parallel()
	gw := newRecordingGateway(t, sandbox.Options{})
	s := startHTTP(t, gw.gateway, serverOpts{env: []string{"XFOLLOW_HTTP_TOKEN=" + httpToken},
		args: []string{"--allowed-origins", "https://app.example.com"}})
	call := toolCall("unfollow_x_user", id("12"))

	t.Run("credentials", func(t *testing.T) {
		r := rawPost(t, s.URL, call)
		wantRefusal(t, "no Authorization", r, http.StatusUnauthorized)
		if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") {
			t.Fatalf("WWW-Authenticate %q", wa)
		}
		r = rawPost(t, s.URL, call, "Authorization", "Bearer "+httpToken+"-not")
		wantRefusal(t, "wrong token", r, http.StatusUnauthorized)
		if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, "invalid_token") {
			t.Fatalf("WWW-Authenticate %q", wa)
		}
		wantRefusal(t, "basic auth", rawPost(t, s.URL, call, "Authorization", "Basic "+httpToken), http.StatusUnauthorized)
		wantRefusal(t, "the AIsa key instead of the token", rawPost(t, s.URL, call, "Authorization", "Bearer "+testKey), http.StatusUnauthorized)
		req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
		req.Header.Set("Accept", "text/event-stream")
		if r := do(t, http.DefaultClient, req); r.Status != http.StatusUnauthorized {
			t.Fatalf("GET stream without a token: %d", r.Status)
		}
	})
	t.Run("origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "null", "http://app.example.com", "https://app.example.com.evil.example"} {
			wantRefusal(t, origin, rawPost(t, s.URL, call, "Authorization", "Bearer "+httpToken, "Origin", origin), http.StatusForbidden)
		}
		for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:6274", "http://[::1]:3000", "https://app.example.com"} {
			r := rawPost(t, s.URL, toolCall("get_x_user", map[string]any{"username": "jack"}), "Authorization", "Bearer "+httpToken, "Origin", origin)
			if r.Status != 200 || !strings.Contains(r.Body, `\"username\":\"jack\"`) {
				t.Fatalf("origin %s refused: %d %.200s", origin, r.Status, r.Body)
			}
		}
	})
	t.Run("body limit", func(t *testing.T) {
		big := strings.Repeat(" ", 1<<20) + call // valid JSON, one byte too many... and more
		wantRefusal(t, "Content-Length over 1 MiB", rawPost(t, s.URL, big, "Authorization", "Bearer "+httpToken), http.StatusRequestEntityTooLarge)

		// Chunked: no Content-Length, so only reading tells.
		req, _ := http.NewRequest(http.MethodPost, s.URL, io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+httpToken)
		wantRefusal(t, "chunked body over 1 MiB", do(t, http.DefaultClient, req), http.StatusRequestEntityTooLarge)

		// A client that waits for 100 Continue gets 413 instead, and never
		// sends the body.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = time.Minute
		defer tr.CloseIdleConnections()
		sent := &countingReader{r: strings.NewReader(big)}
		req, _ = http.NewRequest(http.MethodPost, s.URL, sent)
		req.ContentLength = int64(len(big))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+httpToken)
		req.Header.Set("Expect", "100-continue")
		wantRefusal(t, "Expect: 100-continue", do(t, &http.Client{Transport: tr}, req), http.StatusRequestEntityTooLarge)
		if n := sent.n.Load(); n != 0 {
			t.Fatalf("the client sent %d body bytes though the server never said 100 Continue", n)
		}

		// A client that sends the body without waiting for 100 Continue.
		status := expectContinueWithoutWaiting(t, s.Base, len(big))
		if !strings.Contains(status, " 413 ") {
			t.Fatalf("body sent without waiting for 100 Continue: status line %q", status)
		}
	})
	t.Run("health needs no credentials", func(t *testing.T) {
		res, err := http.Get(s.Base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.TrimSpace(string(raw)) != `{"status":"ok"}` {
			t.Fatalf("healthz: %d %q", res.StatusCode, raw)
		}
	})
	if w := gw.Writes(); len(w) != 0 {
		t.Fatalf("a refused request reached the gateway: %+v", w)
	}
	if strings.Contains(s.stderr.String(), "tool=unfollow_x_user") {
		t.Fatalf("a refused request reached the tool:\n%s", s.stderr.String())
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// expectContinueWithoutWaiting sends a request that announces Expect:
// 100-continue and a body of size n, and sends the body at once; it returns
// the first status line the server answers.
func expectContinueWithoutWaiting(t *testing.T, base string, n int) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		lines <- line
	}()
	head := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
		strings.TrimPrefix(base, "http://"), httpToken, n)
	go func() {
		// The server may close the connection while this is still writing.
		_, _ = conn.Write([]byte(head))
		_, _ = conn.Write(bytes.Repeat([]byte(" "), n))
	}()
	return <-lines
}

// TestHTTPKeyFromRequestRefusals: a many-people server wants an AIsa key as
// the bearer, and nothing else.
func TestHTTPKeyFromRequestRefusals(t *testing.T) {
	t.Parallel()
	gw := newRecordingGateway(t, sandbox.Options{})
	s := startHTTP(t, gw.gateway, serverOpts{noKey: true, args: []string{"--key-from-request"}})
	call := toolCall("get_x_user", map[string]any{"username": "jack"})
	for what, auth := range map[string]string{
		"no header":          "",
		"not an AIsa key":    "Bearer " + httpToken,
		"too short":          "Bearer sk-aisa-abc",
		"basic":              "Basic " + callerKey(1),
		"two keys in one":    "Bearer " + callerKey(1) + " " + callerKey(2),
		"a key with a quote": "Bearer sk-aisa-quote\"injected",
	} {
		var r rawResponse
		if auth == "" {
			r = rawPost(t, s.URL, call)
		} else {
			r = rawPost(t, s.URL, call, "Authorization", auth)
		}
		wantRefusal(t, what, r, http.StatusUnauthorized)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: WWW-Authenticate %q", what, r.Header.Get("WWW-Authenticate"))
		}
	}
	if c := gw.Calls(); len(c) != 0 {
		t.Fatalf("%d refused requests reached the gateway", len(c))
	}
	r := rawPost(t, s.URL, call, "Authorization", "Bearer "+callerKey(1))
	if r.Status != 200 || !strings.Contains(r.Body, `\"username\":\"jack\"`) {
		t.Fatalf("%d %.300s", r.Status, r.Body)
	}
	if c := gw.Calls(); len(c) != 1 || c[0].Auth != "Bearer "+callerKey(1) {
		t.Fatalf("the gateway saw %d requests, or not with the caller's key", len(c))
	}
	s.secrets = append(s.secrets, callerKey(1), callerKey(2))
}

// TestHTTPStartRefusals: a server that would be open to the network, or
// that mixes the two ways to authenticate, does not start, and says why
// without repeating a secret.
func TestHTTPStartRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		says string
	}{
		{"every interface without a token", []string{"AISA_API_KEY=" + testKey}, []string{"--http", "0.0.0.0:0"}, "XFOLLOW_HTTP_TOKEN is not set"},
		{"a hostname without a token", []string{"AISA_API_KEY=" + testKey}, []string{"--http", "mcp.example.com:0"}, "beyond this machine"},
		{"a short token", []string{"AISA_API_KEY=" + testKey, "XFOLLOW_HTTP_TOKEN=tiny-token"}, []string{"--http", "0.0.0.0:0"}, "at least 16"},
		{"a server key beside --key-from-request", []string{"AISA_API_KEY=" + testKey}, []string{"--http", "127.0.0.1:0", "--key-from-request"}, "unset AISA_API_KEY"},
		{"a token beside --key-from-request", []string{"XFOLLOW_HTTP_TOKEN=" + httpToken}, []string{"--http", "127.0.0.1:0", "--key-from-request"}, "choose one"},
		{"--key-from-request without --http", nil, []string{"--key-from-request"}, "needs --http"},
		{"the environment twin", []string{"XFOLLOW_HTTP=0.0.0.0:0"}, nil, "beyond this machine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.says) {
				t.Fatalf("err %v, output:\n%s", err, out)
			}
			for _, secret := range []string{testKey, httpToken, "tiny-token"} {
				if strings.Contains(string(out), secret) {
					t.Fatalf("the output repeats a secret:\n%s", out)
				}
			}
		})
	}
}

// TestHTTPManyCallersKeepTheirKeys: with --key-from-request, many callers
// at once, each with its own key; the gateway sees every request carry its
// own caller's key, in the header and in the body, and nothing else.
func TestHTTPManyCallersKeepTheirKeys(t *testing.T) {
	t.Parallel()
	const callers = 12
	gw := newRecordingGateway(t, sandbox.Options{UnfollowLimit: -1})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	var keys []string
	for i := range callers {
		keys = append(keys, callerKey(i))
	}
	s := startHTTP(t, gw.gateway, serverOpts{noKey: true, args: []string{"--key-from-request", "--journal", journal}}, keys...)
	targets := simIDs(1, callers)
	owner := map[string]string{} // target id -> key
	sessions := make([]*proc, callers)
	for i := range callers {
		owner[targets[i]] = keys[i]
		sessions[i] = s.connect(t, keys[i], protocols[i%2].pin, nil)
	}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := sessions[i]
			for _, c := range []struct {
				name string
				args any
			}{
				{"get_x_user", map[string]any{"username": "jack"}},
				{"unfollow_x_user", id(targets[i])},
				{"follow_x_user", id(targets[i])},
				{"list_x_following", map[string]any{"username": "xfollow_sandbox", "page_size": 20}},
			} {
				res, err := p.session.CallTool(context.Background(), &mcp.CallToolParams{Name: c.name, Arguments: c.args})
				if err != nil || res.IsError {
					t.Errorf("caller %d %s: %v %v", i, c.name, err, res)
					return
				}
			}
		}()
	}
	wg.Wait()

	perKey := map[string]map[string]int{}
	for _, c := range gw.Calls() {
		key, ok := strings.CutPrefix(c.Auth, "Bearer ")
		if !ok || !containsStr(keys, key) {
			t.Fatalf("a gateway request to %s carried a credential (fingerprint %s) that is no caller's key", c.Path, aisa.KeyFingerprint(c.Auth))
		}
		if c.HasBody && c.BodyKey != key {
			t.Fatalf("a request's body key is not its header key (%s)", c.Path)
		}
		if c.Target != "" && owner[c.Target] != key {
			t.Fatalf("the write for %s carried another caller's key", c.Target)
		}
		if perKey[key] == nil {
			perKey[key] = map[string]int{}
		}
		perKey[key][c.Path]++
	}
	want := "map[/twitter/follow_twitter:1 /twitter/unfollow_twitter:1 /twitter/user/followings:1 /twitter/user/info:1]"
	for i, key := range keys {
		if got := fmt.Sprint(perKey[key]); got != want {
			t.Errorf("caller %d's key was used for %s; want %s", i, got, want)
		}
	}
	for _, r := range journalRecords(t, journal) {
		if r.TargetUserID != "" && r.KeyFingerprint != aisa.KeyFingerprint(owner[r.TargetUserID]) {
			t.Errorf("journal record for %s carries fingerprint %q, not its caller's", r.TargetUserID, r.KeyFingerprint)
		}
	}
	raw, _ := os.ReadFile(journal)
	for _, key := range keys {
		if strings.Contains(string(raw), key) {
			t.Fatal("a caller's key is in the journal")
		}
	}

	// What a scan read with one caller's key is not served to another: the
	// second caller's scan of the same account reads the gateway with its
	// own key.
	scans := func(key string) int {
		n := 0
		for _, c := range gw.Calls() {
			if c.Auth == "Bearer "+key && c.Path == "/twitter/user/followings" && c.Query.Get("userName") == "xfollow_big" {
				n++
			}
		}
		return n
	}
	scan := map[string]any{"username": "xfollow_big", "limit": 5}
	first := sessions[0].ok("find_x_unfollow_candidates", scan)
	if n := scans(keys[0]); n == 0 {
		t.Fatal("the first scan did not read the gateway")
	}
	second := sessions[1].ok("find_x_unfollow_candidates", scan)
	if n := scans(keys[1]); n == 0 {
		t.Fatal("the second caller was answered from the first caller's scan")
	}
	if fmt.Sprint(first["candidates"]) != fmt.Sprint(second["candidates"]) {
		t.Fatalf("two scans of one account differ: %v / %v", first["candidates"], second["candidates"])
	}
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestHTTPPerCallerBudgets: with --key-from-request the unfollow budget is
// kept per caller key: each caller gets its own N, and neither sees the
// other's use, also after a restart that rebuilds the budget from the
// journal.
func TestHTTPPerCallerBudgets(t *testing.T) {
	t.Parallel()
	const n = 3
	gw := newRecordingGateway(t, sandbox.Options{UnfollowLimit: -1})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	keyA, keyB, keyC := callerKey(31), callerKey(32), callerKey(33)
	args := []string{"--key-from-request", "--journal", journal, "--max-unfollows-per-15m", fmt.Sprint(n)}
	s := startHTTP(t, gw.gateway, serverOpts{noKey: true, args: args}, keyA, keyB, keyC)
	a := s.connect(t, keyA, "2025-11-25", nil)
	b := s.connect(t, keyB, "", nil)

	use := func(p *proc, who string, ids []string) {
		t.Helper()
		for i, target := range ids {
			out := p.ok("unfollow_x_user", id(target))
			if left := out["budget"].(map[string]any)["remaining_15m"]; left != float64(n-1-i) {
				t.Fatalf("%s's unfollow %d: remaining_15m = %v, want %d", who, i+1, left, n-1-i)
			}
		}
		tx := p.fail("unfollow_x_user", id(simIDs(50, 1)[0]), "budget_exhausted")
		if !strings.Contains(tx, fmt.Sprintf("%d per 15 minutes", n)) {
			t.Fatalf("%s: %s", who, tx)
		}
	}
	use(a, "A", simIDs(1, n))
	use(b, "B", simIDs(10, n)) // A's use does not show in B's budget
	a.fail("unfollow_x_user", id(simIDs(20, 1)[0]), "budget_exhausted")

	fpA, fpB := aisa.KeyFingerprint(keyA), aisa.KeyFingerprint(keyB)
	sent := map[string]int{}
	for _, c := range gw.Calls() {
		if c.Path == "/twitter/unfollow_twitter" {
			sent[aisa.KeyFingerprint(strings.TrimPrefix(c.Auth, "Bearer "))]++
		}
	}
	if sent[fpA] != n || sent[fpB] != n || len(sent) != 2 {
		t.Fatalf("unfollows sent per key: %v", sent)
	}
	count := map[string]int{}
	for _, r := range journalRecords(t, journal) {
		if r.Phase == "outcome" {
			count[r.KeyFingerprint+"/"+r.Outcome]++
		}
	}
	if count[fpA+"/ok"] != n || count[fpB+"/ok"] != n || count[fpA+"/refused"] != 2 || count[fpB+"/refused"] != 1 {
		t.Fatalf("journal outcomes per fingerprint: %v", count)
	}

	// A restart rebuilds each caller's budget from the journal.
	s.stop()
	s2 := startHTTP(t, gw.gateway, serverOpts{noKey: true, args: args}, keyA, keyB, keyC)
	s2.connect(t, keyA, "", nil).fail("unfollow_x_user", id(simIDs(30, 1)[0]), "budget_exhausted")
	out := s2.connect(t, keyC, "", nil).ok("unfollow_x_user", id(simIDs(40, 1)[0]))
	if left := out["budget"].(map[string]any)["remaining_15m"]; left != float64(n-1) {
		t.Fatalf("a new caller's budget after the restart: remaining_15m = %v", left)
	}
}

// TestHTTPBehindRoundRobinProxy: two server processes behind a proxy that
// alternates between them serve one client, since the server keeps no
// session.
func TestHTTPBehindRoundRobinProxy(t *testing.T) {
	for _, pv := range protocols {
		t.Run(pv.name, func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, sandbox.Options{})
			opts := serverOpts{env: []string{"XFOLLOW_HTTP_TOKEN=" + httpToken}}
			backends := []*httpServer{startHTTP(t, gw, opts), startHTTP(t, gw, opts)}
			var next atomic.Int64
			var served [2]atomic.Int64
			proxy := &httputil.ReverseProxy{
				Rewrite: func(r *httputil.ProxyRequest) {
					i := int(next.Add(1) % 2)
					served[i].Add(1)
					u, _ := url.Parse(backends[i].Base)
					r.SetURL(u)
				},
				FlushInterval: -1, // pass SSE through as it comes
			}
			front := httptest.NewServer(proxy)
			t.Cleanup(front.Close)
			both := &lockedBuffer{}
			p := connect(t, front.URL+"/mcp", httpToken, pv.pin, nil, both)
			exerciseEveryTool(t, p, gw, pv.want)
			if served[0].Load() < 5 || served[1].Load() < 5 {
				t.Fatalf("the proxy sent %d and %d requests to the two servers", served[0].Load(), served[1].Load())
			}
			for i, b := range backends {
				if !strings.Contains(b.stderr.String(), `msg="tool call"`) {
					t.Errorf("server %d served no tool call", i)
				}
			}
		})
	}
}

// TestHTTPReplicasSharingAJournalShareBudgets: two --key-from-request
// servers behind a round-robin proxy, writing one journal, give each caller
// one budget between them, not one each.
func TestHTTPReplicasSharingAJournalShareBudgets(t *testing.T) {
	t.Parallel()
	const n = 3
	gw := newRecordingGateway(t, sandbox.Options{UnfollowLimit: -1})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	keyA, keyB := callerKey(41), callerKey(42)
	opts := serverOpts{noKey: true, args: []string{"--key-from-request", "--journal", journal, "--max-unfollows-per-15m", fmt.Sprint(n)}}
	backends := []*httpServer{startHTTP(t, gw.gateway, opts, keyA, keyB), startHTTP(t, gw.gateway, opts, keyA, keyB)}
	var next atomic.Int64
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse(backends[next.Add(1)%2].Base)
		r.SetURL(u)
	}}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	for _, key := range []string{keyA, keyB} {
		p := connect(t, front.URL+"/mcp", key, "", nil, &lockedBuffer{})
		for _, target := range simIDs(int(next.Load())+1, n) {
			p.ok("unfollow_x_user", id(target))
		}
		// Whichever server answers, this caller's budget is spent.
		p.fail("unfollow_x_user", id(simIDs(55, 1)[0]), "budget_exhausted")
		p.fail("unfollow_x_user", id(simIDs(56, 1)[0]), "budget_exhausted")
	}
	sent := map[string]int{}
	for _, c := range gw.Calls() {
		if c.Path == "/twitter/unfollow_twitter" {
			sent[aisa.KeyFingerprint(strings.TrimPrefix(c.Auth, "Bearer "))]++
		}
	}
	if sent[aisa.KeyFingerprint(keyA)] != n || sent[aisa.KeyFingerprint(keyB)] != n {
		t.Fatalf("unfollows sent per caller across both servers: %v", sent)
	}
}

// blockingGateway holds every unfollow until released, and says when one
// has arrived.
func blockingGateway(t *testing.T) (*recorder, chan struct{}, chan struct{}) {
	t.Helper()
	gw := newRecordingGateway(t, sandbox.Options{})
	arrived, release := make(chan struct{}, 8), make(chan struct{})
	gw.hold = func(r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return gw, arrived, release
}

// TestHTTPGracefulShutdown: on SIGTERM the server stops accepting, lets the
// call in flight finish, and exits 0 as soon as it has.
func TestHTTPGracefulShutdown(t *testing.T) {
	t.Parallel()
	gw, arrived, release := blockingGateway(t)
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	s := startHTTP(t, gw.gateway, serverOpts{args: []string{"--journal", journal}, env: []string{"XFOLLOW_HTTP_TOKEN=" + httpToken}})
	// At 2025-11-25 the SDK tries a GET stream for server messages (405).
	p := s.connect(t, httpToken, "2025-11-25", nil)
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	called := make(chan result, 1)
	go func() {
		res, err := p.session.CallTool(context.Background(), &mcp.CallToolParams{Name: "unfollow_x_user", Arguments: id("12")})
		called <- result{res, err}
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the call never reached the gateway")
	}
	s.signal()
	// New connections are refused while the call is still in flight.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.Base, "http://"), 5*time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener to close
	}
	if !s.running() {
		t.Fatalf("the server exited with a call in flight\nstderr:\n%s", s.stderr.String())
	}
	close(release)
	r := <-called
	if r.err != nil || r.res.IsError {
		t.Fatalf("the call in flight: %v %+v", r.err, r.res)
	}
	if code := s.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "xfollow-mcp stopped") {
		t.Errorf("no stop line:\n%s", s.stderr.String())
	}
	recs := journalRecords(t, journal)
	if last := recs[len(recs)-1]; last.Phase != "outcome" || last.Outcome != "ok" || last.TargetUserID != "12" {
		t.Fatalf("the journal ends with %+v", last)
	}
	if gw.Follows("12") {
		t.Fatal("the unfollow in flight did not happen")
	}
}

// TestHTTPShutdownCancelsAfterTheGrace: a call still running 10 s after
// SIGTERM is cancelled, its outcome journaled, and the exit code says so.
func TestHTTPShutdownCancelsAfterTheGrace(t *testing.T) {
	t.Parallel()
	gw, arrived, _ := blockingGateway(t)
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	s := startHTTP(t, gw.gateway, serverOpts{args: []string{"--journal", journal}})
	s.wantExit = 1
	p := s.connect(t, "", "", nil)
	go func() {
		_, _ = p.session.CallTool(context.Background(), &mcp.CallToolParams{Name: "unfollow_x_user", Arguments: id("12")})
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the call never reached the gateway")
	}
	began := time.Now()
	s.signal()
	if code := s.exitCode(30 * time.Second); code != 1 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, s.stderr.String())
	}
	if waited := time.Since(began); waited < 9*time.Second {
		t.Fatalf("the server gave the call only %s", waited)
	}
	if !strings.Contains(s.stderr.String(), "were cancelled") {
		t.Errorf("stderr does not say calls were cancelled:\n%s", s.stderr.String())
	}
	recs := journalRecords(t, journal)
	if last := recs[len(recs)-1]; last.Phase != "outcome" || last.TargetUserID != "12" || last.Outcome != safety.OutcomeUnknown {
		t.Fatalf("the journal ends with %+v", last)
	}
}

// TestHTTPClientDisconnectCancelsTheCall: a client that gives up on a
// long batch closes its request, and the server stops the batch between
// items, as over stdio.
func TestHTTPClientDisconnectCancelsTheCall(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{Latency: 50 * time.Millisecond, UnfollowLimit: -1})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	s := startHTTP(t, gw, serverOpts{args: []string{"--journal", journal, "--max-unfollows-per-15m", "0"}})
	p := s.connect(t, "", "2025-11-25", nil)
	ids := simIDs(1, 40)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: "unfollow_x_users", Arguments: map[string]any{"target_user_ids": ids}})
		done <- err
	}()
	waitFor(t, "two writes", func() bool { return len(gw.Writes()) >= 2 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the call finished before it was cancelled")
	}
	// Once the handler has returned, no more writes can come.
	waitFor(t, "the batch's log line", func() bool { return strings.Contains(s.stderr.String(), "tool=unfollow_x_users") })
	if n := len(gw.Writes()); n >= len(ids) {
		t.Fatalf("the batch ran to the end (%d writes) after the client left", n)
	}
	checkJournalAgainstGateway(t, journalRecords(t, journal), gw)
}

// waitFor polls cond until it holds, for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// TestConfirmOverHTTP: --confirm asks through the protocol's input-required
// round trip at 2026-07-28; at 2025-11-25 a stateless server cannot know the
// client's capabilities from initialize, so it refuses to write.
func TestConfirmOverHTTP(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	s := startHTTP(t, gw, serverOpts{args: []string{"--confirm"}})
	var asked atomic.Int32
	copts := &mcp.ClientOptions{ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked.Add(1)
		return &mcp.ElicitResult{Action: "accept"}, nil
	}}
	s.connect(t, "", "2025-11-25", copts).fail("unfollow_x_user", id("12"), "confirmation_unavailable")
	if len(gw.Writes()) != 0 {
		t.Fatal("wrote without a confirmation")
	}
	out := s.connect(t, "", "", copts).ok("unfollow_x_user", id("12"))
	if out["following"] != false || gw.Follows("12") || asked.Load() != 1 {
		t.Fatalf("confirmed unfollow: %v, asked %d times", out, asked.Load())
	}
}
