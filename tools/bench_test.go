package tools_test

import (
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// BenchmarkUnfollowInProcess measures one unfollow_x_user call through the
// whole server (mcp-go in-process client, argument validation, gate, AIsa
// client) against the sandbox on loopback. Profile it with
//
//	go test -run x -bench UnfollowInProcess -cpuprofile cpu.prof ./tools/
func BenchmarkUnfollowInProcess(b *testing.B) {
	h := newHarness(b, harnessOpts{
		sandbox: sandbox.Options{UnfollowLimit: -1},
		gate:    &tools.Gate{Budget: safety.NewBudget(time.Now)},
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := h.call("unfollow_x_user", `{"target_user_id":"2244994945"}`)
		if res.IsError {
			b.Fatal(textOf(res))
		}
	}
}
