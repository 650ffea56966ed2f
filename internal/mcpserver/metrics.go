package mcpserver

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mark3labs/mcp-go/tracing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
)

// The one place MCP operations are measured: mcp-go opens a server span
// around every request it dispatches, on every transport; the tracer below
// makes that span a timer, and hooks fill in what the span alone does not
// carry (the tool, the JSON-RPC error code, an isError result, the version
// initialize settled on). Nothing here is installed without --metrics.

func withMetrics(m *metrics.Metrics, hooks *server.Hooks) server.ServerOption {
	hooks.AddBeforeCallTool(func(ctx context.Context, _ any, req *mcp.CallToolRequest) {
		if sp := opSpanFrom(ctx); sp != nil {
			sp.set(func() { sp.tool = req.Params.Name })
		}
	})
	hooks.AddAfterCallTool(func(ctx context.Context, _ any, _ *mcp.CallToolRequest, result any) {
		if r, ok := result.(*mcp.CallToolResult); ok && r != nil && r.IsError {
			if sp := opSpanFrom(ctx); sp != nil {
				sp.set(func() { sp.errType = metrics.ErrorTypeTool })
			}
		}
	})
	hooks.AddOnError(func(ctx context.Context, _ any, _ mcp.MCPMethod, _ any, err error) {
		sp := opSpanFrom(ctx)
		if sp == nil {
			return
		}
		code := metrics.Other
		var rpc interface{ ToJSONRPCError() mcp.JSONRPCError }
		if errors.As(err, &rpc) {
			code = strconv.Itoa(rpc.ToJSONRPCError().Error.Code)
		}
		sp.set(func() { sp.errType = code })
	})
	hooks.AddAfterInitialize(func(ctx context.Context, _ any, _ *mcp.InitializeRequest, res *mcp.InitializeResult) {
		if sp := opSpanFrom(ctx); sp != nil && res != nil {
			sp.set(func() { sp.version = res.ProtocolVersion })
		}
	})
	return server.WithTracer(opTracer{m: m})
}

type opTracer struct{ m *metrics.Metrics }

// Start opens a timer for a server span (one JSON-RPC request); the
// internal spans mcp-go opens around tool handlers are not timed apart.
func (t opTracer) Start(ctx context.Context, name string, kind tracing.SpanKind, attrs ...tracing.Attribute) (context.Context, tracing.Span) {
	if kind != tracing.SpanKindServer {
		return ctx, noSpan{}
	}
	sp := &opSpan{m: t.m, start: t.m.Now(), method: trimPrefix(name, "mcp.")}
	for _, a := range attrs {
		if a.Key == "mcp.protocol.version" {
			sp.version = a.Value
		}
	}
	if sp.version == "" {
		sp.version = server.RequestProtocolVersion(ctx)
	}
	return tracing.ContextWithSpan(ctx, sp), sp
}

func trimPrefix(s, p string) string {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

type opSpan struct {
	m      *metrics.Metrics
	start  time.Time
	method string

	mu      sync.Mutex
	tool    string
	errType string
	version string
}

func opSpanFrom(ctx context.Context) *opSpan {
	sp, _ := tracing.SpanFromContext(ctx).(*opSpan)
	return sp
}

func (s *opSpan) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *opSpan) SetAttributes(...tracing.Attribute) {}
func (s *opSpan) RecordError(error)                  {}

// SetStatus marks an error answer; the code comes from the OnError hook,
// so an error that did not pass through it is Other.
func (s *opSpan) SetStatus(code tracing.StatusCode, _ string) {
	if code != tracing.StatusError {
		return
	}
	s.set(func() {
		if s.errType == "" {
			s.errType = metrics.Other
		}
	})
}

func (s *opSpan) End() {
	s.mu.Lock()
	tool, errType, version := s.tool, s.errType, s.version
	s.mu.Unlock()
	s.m.Operation(s.method, tool, errType, version, s.m.Since(s.start))
}

type noSpan struct{}

func (noSpan) SetAttributes(...tracing.Attribute)   {}
func (noSpan) RecordError(error)                    {}
func (noSpan) SetStatus(tracing.StatusCode, string) {}
func (noSpan) End()                                 {}
