package tools

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/goleak"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

const leakKey = "sk-aisa-PANIC-LEAK-91b2"

type panicArgs struct {
	Mode string `json:"mode"`
}

func (panicArgs) validate() error { return nil }

type panicOut struct {
	OK bool `json:"ok"`
}

func inProcess(t *testing.T, gatewayURL string, extra ...Tool) (*client.Client, *bytes.Buffer) {
	t.Helper()
	c, err := aisa.New(aisa.Options{BaseURL: gatewayURL, APIKey: leakKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	deps := &Deps{Client: c, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Gate: &Gate{}}
	s := server.NewMCPServer("t", "0")
	for _, tl := range append(All(), extra...) {
		s.AddTool(tl.MCP, tl.Handler(deps))
	}
	cl, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ir mcp.InitializeRequest
	ir.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	if _, err := cl.Initialize(context.Background(), ir); err != nil {
		t.Fatal(err)
	}
	return cl, &logs
}

// TestPanicIsRecovered: a panic inside a handler becomes an [internal_error]
// result, the key in the panic value is not logged, and the server serves
// the next call.
func TestPanicIsRecovered(t *testing.T) {
	boom := define(Spec{Name: "boom", Title: "Boom", Description: "Panics.", OpenWorld: false},
		func(ctx context.Context, c *Call, in panicArgs) (panicOut, error) {
			panic("handler bug while holding " + leakKey)
		})
	sb := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer sb.Close()
	cl, logs := inProcess(t, sb.URL+sandbox.BasePath, boom)
	defer cl.Close()
	var req mcp.CallToolRequest
	req.Params.Name = "boom"
	req.Params.Arguments = map[string]any{"mode": "x"}
	res, err := cl.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("a panic became a JSON-RPC error: %v", err)
	}
	text := res.Content[0].(mcp.TextContent).Text
	if !res.IsError || !strings.HasPrefix(text, "[internal_error] ") || strings.Contains(text, leakKey) {
		t.Fatalf("result = %v %q", res.IsError, text)
	}
	if !strings.Contains(logs.String(), "tool handler panicked") || strings.Contains(logs.String(), leakKey) {
		t.Fatalf("logs = %s", logs.String())
	}
	req.Params.Name = "get_x_user"
	req.Params.Arguments = map[string]any{"username": "jack"}
	res, err = cl.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatalf("the server stopped serving after a panic: %v %v", err, res)
	}
}

// TestCancelledCallsLeaveNoGoroutines: calls cancelled by the client, one
// waiting on a slow gateway and one in a retry backoff, end their goroutines.
func TestCancelledCallsLeaveNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "user/info") {
			w.WriteHeader(503) // retried with backoff
			return
		}
		_, _ = r.Body.Read(make([]byte, 1<<10))
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	cl, _ := inProcess(t, slow.URL)
	for _, call := range []struct {
		name string
		args map[string]any
	}{
		{"unfollow_x_user", map[string]any{"target_user_id": "12"}},
		{"get_x_user", map[string]any{"username": "jack"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var req mcp.CallToolRequest
		req.Params.Name = call.name
		req.Params.Arguments = call.args
		start := time.Now()
		_, _ = cl.CallTool(ctx, req)
		cancel()
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%s: the cancelled call took %s", call.name, time.Since(start))
		}
	}
	_ = cl.Close()
	slow.CloseClientConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
}

// TestPanicScrubsTheCallersKey: with a caller's own key (remote mode), a
// panic that holds that key does not log it either.
func TestPanicScrubsTheCallersKey(t *testing.T) {
	const callerKey = "sk-aisa-CALLER-PANIC-LEAK-77c3"
	boom := define(Spec{Name: "boom", Title: "Boom", Description: "Panics.", OpenWorld: false},
		func(ctx context.Context, c *Call, in panicArgs) (panicOut, error) {
			panic("handler bug while holding " + callerKey)
		})
	sb := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer sb.Close()
	cl, logs := inProcess(t, sb.URL+sandbox.BasePath, boom)
	defer cl.Close()
	var req mcp.CallToolRequest
	req.Params.Name = "boom"
	req.Params.Arguments = map[string]any{"mode": "x"}
	res, err := cl.CallTool(WithCallerKey(context.Background(), callerKey), req)
	if err != nil || !res.IsError {
		t.Fatalf("%v %v", err, res)
	}
	if !strings.Contains(logs.String(), "tool handler panicked") || strings.Contains(logs.String(), callerKey) {
		t.Fatalf("logs = %s", logs.String())
	}
}
