package mcpserver

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/httpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// The server's own CPU for one tools/call over the remote mode's HTTP
// handler, without the network: the request goes through /mcp's checks
// (Origin, credentials, body) and mcp-go's stateless streamable HTTP
// transport, against the gateway that answers at once. BenchmarkHTTPBare
// is the same request to a bare mcp-go streamable HTTP server (stateless)
// whose tool makes the same POST. Run them together:
//
//	go test -run '^$' -bench 'HTTP(Ours|Bare)' -benchmem -count 5 ./internal/mcpserver/

func benchHTTP(b *testing.B, h http.Handler) {
	b.Helper()
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp", bytes.NewReader(benchCall))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post(); w.Code != http.StatusOK || bytes.Contains(w.Body.Bytes(), []byte(`"isError":true`)) {
		b.Fatalf("call failed: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := post(); w.Code != http.StatusOK {
			b.Fatalf("call failed: %d %s", w.Code, w.Body)
		}
	}
}

func BenchmarkHTTPOurs(b *testing.B) {
	c, err := aisa.New(aisa.Options{BaseURL: benchBase, APIKey: "sk-aisa-bench", UserAgent: "bench", Transport: instantGateway{}})
	if err != nil {
		b.Fatal(err)
	}
	gate := &tools.Gate{Gateway: c.Gateway(), Protected: map[string]bool{}, Budget: safety.NewBudget(time.Now)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(Options{Version: "bench"}, &tools.Deps{Client: c, Logger: logger, Gate: gate})
	benchHTTP(b, httpserver.New(s, httpserver.Options{Logger: logger}))
}

func BenchmarkHTTPBare(b *testing.B) {
	benchHTTP(b, server.NewStreamableHTTPServer(bareServer(), server.WithStateLess(true)))
}
