package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// The server's own CPU for one tools/call of unfollow_x_user, without the
// network: the request handled by mcp-go and the response encoded, against
// a RoundTripper that answers at once. BenchmarkCallBare is the same call on
// a bare mcp-go server whose tool makes the same POST and checks nothing
// (bench/floor's unfollow_x_user). The difference between the two is what
// xfollow-mcp's checks cost a call; run them together:
//
//	go test -run '^$' -bench 'Call(Ours|Bare)' -count 5 ./internal/mcpserver/

// instantGateway answers every request as the gateway answers an unfollow.
type instantGateway struct{}

func (instantGateway) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", "req_bench_1")
	body := `{"data":{"following":false,"pending_follow":false}}` + "\n"
	return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: r}, nil
}

const benchBase = "http://127.0.0.1:1/apis/v1"

var benchCall = []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"unfollow_x_user","arguments":{"target_user_id":"2244994945"}}}`)

func benchInitialize(b *testing.B, s *server.MCPServer) {
	b.Helper()
	s.HandleMessage(context.Background(), []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`))
}

func benchCalls(b *testing.B, s *server.MCPServer) {
	b.Helper()
	benchInitialize(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := json.Marshal(s.HandleMessage(context.Background(), benchCall))
		if err != nil || bytes.Contains(out, []byte(`"isError":true`)) || bytes.Contains(out, []byte(`"error"`)) {
			b.Fatalf("call failed: %s %v", out, err)
		}
	}
}

func BenchmarkCallOurs(b *testing.B) {
	c, err := aisa.New(aisa.Options{BaseURL: benchBase, APIKey: "sk-aisa-bench", UserAgent: "bench", Transport: instantGateway{}})
	if err != nil {
		b.Fatal(err)
	}
	// The default configuration, unfollow budget lifted (as in go run ./bench).
	// The info line is formatted on the call's path here, as on a terminal;
	// on a host's pipe the server formats it after the answer.
	gate := &tools.Gate{Gateway: c.Gateway(), Protected: map[string]bool{}, Budget: safety.NewBudget(time.Now)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	benchCalls(b, New(Options{Version: "bench"}, &tools.Deps{Client: c, Logger: logger, Gate: gate}))
}

// BenchmarkCallOursMetrics is BenchmarkCallOurs with --metrics: every
// instrument on the call's path (the operation timer and its hooks, the
// gateway round tripper, the write counter).
func BenchmarkCallOursMetrics(b *testing.B) {
	m := metrics.New(metrics.Options{Tools: ToolNames(false), WriteTools: WriteToolNames(), Transport: "pipe", ProtocolVersions: mcp.ValidProtocolVersions})
	c, err := aisa.New(aisa.Options{BaseURL: benchBase, APIKey: "sk-aisa-bench", UserAgent: "bench", Transport: m.RoundTripper(instantGateway{})})
	if err != nil {
		b.Fatal(err)
	}
	gate := &tools.Gate{Gateway: c.Gateway(), Protected: map[string]bool{}, Budget: safety.NewBudget(time.Now), Metrics: m}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	benchCalls(b, New(Options{Version: "bench", Metrics: m}, &tools.Deps{Client: c, Logger: logger, Gate: gate}))
}

func BenchmarkCallBare(b *testing.B) { benchCalls(b, bareServer()) }

// bareServer is bench/floor's unfollow_x_user on a bare mcp-go server.
func bareServer() *server.MCPServer {
	hc := &http.Client{Transport: instantGateway{}}
	s := server.NewMCPServer("bare", "0")
	s.AddTool(mcp.NewTool("unfollow_x_user", mcp.WithString("target_user_id", mcp.Required())), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		id := req.GetString("target_user_id", "")
		body, _ := json.Marshal(map[string]any{"target_user_id": id, "aisa_api_key": "sk-aisa-bench"})
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, benchBase+"/twitter/unfollow_twitter", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("Authorization", "Bearer sk-aisa-bench")
		hreq.Header.Set("Accept", "application/json")
		hreq.Header.Set("User-Agent", "bare")
		hreq.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(hreq)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		var env struct {
			Data struct {
				Following bool `json:"following"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &env) != nil {
			return mcp.NewToolResultError("bad answer"), nil
		}
		out := map[string]any{"target_user_id": id, "following": env.Data.Following}
		text, _ := json.Marshal(out)
		return mcp.NewToolResultStructured(out, string(text)), nil
	})
	return s
}
