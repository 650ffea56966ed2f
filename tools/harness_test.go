package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	schemacheck "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// testKey is recognisable so that tests can prove it never leaks.
const testKey = "sk-aisa-LEAKCHECK-7f3a9c"

// syncBuffer is a log sink shared by concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t       testing.TB
	sb      *sandbox.Sandbox // nil when a custom gateway is used
	gate    *tools.Gate
	client  *client.Client
	logs    *syncBuffer
	baseURL string
	deps    *tools.Deps
	init    *mcp.InitializeResult
}

type harnessOpts struct {
	sandbox   sandbox.Options
	gateway   http.Handler // instead of the sandbox
	key       string       // default testKey; "-" for none
	gate      *tools.Gate
	readOnly  bool
	clientOp  []client.ClientOption
	protocol  string
	account   string                // Gate.Account (--account)
	following *tools.FollowingCache // default: a fresh cache on the real clock
}

// newHarness starts a gateway (the sandbox unless o.gateway is set), builds
// the real server on it, and connects mcp-go's in-process client.
func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}}
	var handler http.Handler = o.gateway
	if handler == nil {
		h.sb = sandbox.New(o.sandbox)
		handler = h.sb
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.baseURL = srv.URL + sandbox.BasePath
	key := o.key
	switch key {
	case "":
		key = testKey
	case "-":
		key = ""
	}
	c, err := aisa.New(aisa.Options{
		BaseURL: h.baseURL, APIKey: key, UserAgent: "xfollow-mcp/test", Timeout: 2 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.gate = o.gate
	if h.gate == nil {
		h.gate = &tools.Gate{}
	}
	if h.gate.Budget == nil {
		h.gate.Budget = safety.NewBudget(nil, safety.Window{Limit: 50, Span: 15 * time.Minute}, safety.Window{Limit: 400, Span: 24 * time.Hour})
	}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.account != "" {
		h.gate.Account = o.account
	}
	deps := &tools.Deps{Client: c, Logger: logger, Gate: h.gate, Following: o.following}
	h.deps = deps
	s := mcpserver.New(mcpserver.Options{Version: "test", ReadOnly: o.readOnly}, deps)
	opts := o.clientOp
	if o.protocol != "" {
		opts = append(opts, client.WithProtocolVersion(o.protocol))
	}
	cl, err := client.NewInProcessClientWithOptions(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var ir mcp.InitializeRequest
	ir.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	ir.Params.ClientInfo = mcp.Implementation{Name: "tools-test", Version: "0"}
	init, err := cl.Initialize(ctx, ir)
	if err != nil {
		t.Fatal(err)
	}
	h.init = init
	t.Cleanup(func() { _ = cl.Close() })
	h.client = cl
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), testKey) {
			t.Errorf("the API key appeared in the server's logs")
		}
	})
	return h
}

// call runs a tool with raw JSON arguments.
func (h *harness) call(name, args string) *mcp.CallToolResult {
	h.t.Helper()
	return h.callCtx(context.Background(), name, args)
}

func (h *harness) callCtx(ctx context.Context, name, args string) *mcp.CallToolResult {
	h.t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name = name
	if args != "" {
		req.Params.Arguments = json.RawMessage(args)
	}
	res, err := h.client.CallTool(ctx, req)
	if err != nil {
		h.t.Fatalf("%s %s: JSON-RPC error %v", name, args, err)
	}
	if strings.Contains(textOf(res), testKey) {
		h.t.Fatalf("%s: the API key appeared in the result", name)
	}
	if esc := htmlEscape.FindString(textOf(res)); esc != "" {
		h.t.Fatalf("%s: the text holds %s where a person would copy &, < or >: %s", name, esc, textOf(res))
	}
	return res
}

// ok asserts success and returns the structured content as a map, after
// checking that the text is the same JSON and that it fits the output schema.
func (h *harness) ok(name, args string) map[string]any {
	h.t.Helper()
	res := h.call(name, args)
	if res.IsError {
		h.t.Fatalf("%s %s: error %s", name, args, textOf(res))
	}
	return structured(h.t, name, res)
}

// fail asserts an error result with the code and returns its text.
func (h *harness) fail(name, args, code string) string {
	h.t.Helper()
	res := h.call(name, args)
	text := textOf(res)
	if !res.IsError {
		h.t.Fatalf("%s %s: want [%s], got success %s", name, args, code, text)
	}
	if !strings.HasPrefix(text, "["+code+"] ") {
		h.t.Fatalf("%s %s: want [%s], got %s", name, args, code, text)
	}
	if res.StructuredContent != nil {
		h.t.Fatalf("%s: an error result carries structuredContent", name)
	}
	if len(res.Content) != 1 {
		h.t.Fatalf("%s: error result has %d contents", name, len(res.Content))
	}
	return text
}

// htmlEscape finds what json.Marshal writes for &, < and >.
var htmlEscape = regexp.MustCompile(`\\u00(26|3[cCeE])`)

func textOf(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}

var outputCheckers sync.Map // tool name -> *schemacheck.Schema

func outputChecker(t testing.TB, name string) *schemacheck.Schema {
	if v, ok := outputCheckers.Load(name); ok {
		return v.(*schemacheck.Schema)
	}
	for _, tl := range tools.All() {
		if tl.Name != name {
			continue
		}
		doc, err := schemacheck.UnmarshalJSON(bytes.NewReader(tl.OutSchema))
		if err != nil {
			t.Fatal(err)
		}
		c := schemacheck.NewCompiler()
		if err := c.AddResource("out.json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("out.json")
		if err != nil {
			t.Fatal(err)
		}
		outputCheckers.Store(name, s)
		return s
	}
	t.Fatalf("no tool %s", name)
	return nil
}

func structured(t testing.TB, name string, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: structuredContent is not an object: %s", name, raw)
	}
	var fromText map[string]any
	if err := json.Unmarshal([]byte(textOf(res)), &fromText); err != nil {
		t.Fatalf("%s: text content is not JSON: %q", name, textOf(res))
	}
	a, _ := json.Marshal(m)
	b, _ := json.Marshal(fromText)
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: text %s differs from structuredContent %s", name, b, a)
	}
	inst, err := schemacheck.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := outputChecker(t, name).Validate(inst); err != nil {
		t.Fatalf("%s: structuredContent %s breaks the output schema: %v", name, raw, err)
	}
	return m
}

// writesTo counts requests the sandbox saw at a path.
func (h *harness) requestsTo(path string) int {
	n := 0
	for _, r := range h.sb.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}
