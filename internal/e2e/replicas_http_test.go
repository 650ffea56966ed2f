package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// roundRobin serves the backends one request each in turn.
func roundRobin(t *testing.T, backends []*httpServer) string {
	t.Helper()
	var next atomic.Int64
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse(backends[next.Add(1)%int64(len(backends))].Base)
		r.SetURL(u)
	}, FlushInterval: -1}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	return front.URL + "/mcp"
}

func healthz(t *testing.T, s *httpServer) (int, string) {
	t.Helper()
	res, err := http.Get(s.Base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

// TestHTTPReplicasShareOneBudgetOnRedis: three --key-from-request replicas,
// each with a journal of its own, behind a round-robin proxy, on one Redis.
// Two callers, each from several clients at once, get exactly the budget's
// unfollows through between all three replicas, never more; then Redis
// stops, /healthz says so on every replica, writes are refused and reads
// served, and Redis's return brings it all back with no restart.
func TestHTTPReplicasShareOneBudgetOnRedis(t *testing.T) {
	t.Parallel()
	const budget, clients, perClient = 5, 3, 4
	rs := redistest.Start(t, redistest.Options{Password: "redis-pw-HTTP-4k"})
	gw := newRecordingGateway(t, sandbox.Options{UnfollowLimit: -1, Latency: 2 * time.Millisecond})
	keys := []string{callerKey(61), callerKey(62)}
	dir := t.TempDir()
	var backends []*httpServer
	for i := range 3 {
		backends = append(backends, startHTTP(t, gw.gateway, serverOpts{noKey: true, args: []string{
			"--key-from-request", "--state", rs.URL(0), "--max-unfollows-per-15m", fmt.Sprint(budget),
			"--journal", filepath.Join(dir, fmt.Sprintf("replica%d.jsonl", i)),
		}}, append(keys, "redis-pw-HTTP-4k")...))
	}
	for _, b := range backends {
		if code, body := healthz(t, b); code != 200 || body != `{"status":"ok","checks":{"state_store":"up"}}` {
			t.Fatalf("healthz with Redis up: %d %s", code, body)
		}
	}
	front := roundRobin(t, backends)

	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]map[string]int{} // per caller, filled before any goroutine reads it
	for _, key := range keys {
		codes[key] = map[string]int{}
	}
	for k, key := range keys {
		for c := range clients {
			p := connect(t, front, key, "", nil, &lockedBuffer{})
			ids := simIDs(100*k+10*c, perClient)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, target := range ids {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					res, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: "unfollow_x_user", Arguments: id(target)})
					cancel()
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					codes[key][codeOf(res)]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	sent := map[string]int{}
	for _, c := range gw.Calls() {
		if c.Path == "/twitter/unfollow_twitter" {
			sent[aisa.KeyFingerprint(strings.TrimPrefix(c.Auth, "Bearer "))]++
		}
	}
	for _, key := range keys {
		if sent[aisa.KeyFingerprint(key)] != budget || codes[key]["ok"] != budget || codes[key]["budget_exhausted"] != clients*perClient-budget {
			t.Fatalf("caller %s: the gateway saw %d unfollows, results %v; the shared budget is %d",
				aisa.KeyFingerprint(key), sent[aisa.KeyFingerprint(key)], codes[key], budget)
		}
	}

	rs.Stop()
	for i, b := range backends {
		if code, body := healthz(t, b); code != 503 || body != `{"status":"unavailable","checks":{"state_store":"down"}}` {
			t.Fatalf("replica %d healthz with Redis down: %d %s", i, code, body)
		}
	}
	p := connect(t, front, keys[0], "", nil, &lockedBuffer{})
	for range len(backends) { // the refusals land on each replica in turn
		p.fail("unfollow_x_user", id(simIDs(900, 1)[0]), "state_unavailable")
		p.ok("get_x_user", map[string]any{"username": "TwitterDev"})
	}
	rs.Restart() // empty: it kept nothing on disk
	for i, b := range backends {
		if code, _ := healthz(t, b); code != 200 {
			t.Fatalf("replica %d healthz after Redis came back: %d", i, code)
		}
	}
	out := p.ok("unfollow_x_user", id(simIDs(900, 1)[0]))
	if out["budget"].(map[string]any)["remaining_15m"] != float64(budget-1) {
		t.Fatalf("%v", out)
	}
	sent = map[string]int{}
	for _, c := range gw.Calls() {
		if c.Path == "/twitter/unfollow_twitter" {
			sent[aisa.KeyFingerprint(strings.TrimPrefix(c.Auth, "Bearer "))]++
		}
	}
	if sent[aisa.KeyFingerprint(keys[0])] != budget+1 {
		t.Fatalf("unfollows sent for caller 0: %d; want the budget and the one after Redis came back", sent[aisa.KeyFingerprint(keys[0])])
	}
}
