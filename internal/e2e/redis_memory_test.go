package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestHTTPStateHealthMatchesWrites: a replica on a real Redis. With an
// eviction policy that may drop the budget's keys, the start says so and
// /healthz answers "unsafe"; with noeviction over maxmemory, /healthz says
// down and unfollows are refused, including one whose key has old events to
// trim (which went through before while /healthz said down); under the
// limit again, both come back.
func TestHTTPStateHealthMatchesWrites(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	ctx := context.Background()
	set := func(kv ...string) {
		t.Helper()
		for i := 0; i+1 < len(kv); i += 2 {
			if err := raw.ConfigSet(ctx, kv[i], kv[i+1]).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	set("maxmemory-policy", "allkeys-lru", "maxmemory", "64mb")
	gw := newGateway(t, sandbox.Options{UnfollowLimit: -1})
	s := startHTTP(t, gw, serverOpts{args: []string{"--state", rs.URL(0), "--max-unfollows-per-15m", "50"}})
	waitFor(t, "the start's warning about the eviction policy", func() bool {
		return strings.Contains(s.stderr.String(), "maxmemory-policy is allkeys-lru")
	})
	if code, body := healthz(t, s); code != 200 || body != `{"status":"unsafe","checks":{"state_store":"unsafe"}}` {
		t.Fatalf("healthz with allkeys-lru: %d %s", code, body)
	}

	set("maxmemory-policy", "noeviction")
	if code, body := healthz(t, s); code != 200 || body != `{"status":"ok","checks":{"state_store":"up"}}` {
		t.Fatalf("healthz with noeviction: %d %s", code, body)
	}
	// Old events in the server key's set: a reserve trims them.
	old := float64(time.Now().Add(-48 * time.Hour).UnixMilli())
	if err := raw.ZAdd(ctx, safety.RedisKeyPrefix+aisa.KeyFingerprint(testKey), redis.Z{Score: old, Member: "stale"}).Err(); err != nil {
		t.Fatal(err)
	}
	set("maxmemory", "1")
	if code, body := healthz(t, s); code != 503 || body != `{"status":"unavailable","checks":{"state_store":"down"}}` {
		t.Fatalf("healthz over maxmemory: %d %s", code, body)
	}
	r := rawPost(t, s.URL, toolCall("unfollow_x_user", id(simIDs(1, 1)[0])))
	if !strings.Contains(r.Body, `[state_unavailable]`) {
		t.Fatalf("an unfollow over maxmemory while /healthz says down: %s", r.Body)
	}
	set("maxmemory", "0")
	if code, _ := healthz(t, s); code != 200 {
		t.Fatalf("healthz under the limit: %d", code)
	}
	r = rawPost(t, s.URL, toolCall("unfollow_x_user", id(simIDs(1, 1)[0])))
	if strings.Contains(r.Body, `"isError":true`) {
		t.Fatalf("an unfollow under the limit: %s", r.Body)
	}
}
