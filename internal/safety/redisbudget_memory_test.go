package safety

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
)

// rawRedis is a plain client on srv, to set the store up as an operator
// would.
func rawRedis(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: ""})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func configSet(t *testing.T, c *redis.Client, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := c.ConfigSet(context.Background(), kv[i], kv[i+1]).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", kv[i], kv[i+1], err)
		}
	}
}

// TestRedisHealthMatchesReservesOverMaxmemory: a real Redis over its
// maxmemory with noeviction refuses a reserve on every key, one with old
// events to trim as well as a new one, exactly when the health probe is
// refused; under the limit, both go through. (Trimming before adding let a
// reserve on a key with old events through while the probe was refused.)
func TestRedisHealthMatchesReservesOverMaxmemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	raw := rawRedis(t, srv)
	ctx := context.Background()
	windows := []Window{{Limit: 100, Span: 15 * time.Minute}, {Limit: 400, Span: 24 * time.Hour}}
	b := realBudget(t, srv.URL(0), windows...)

	// Keys with events older than every window: a reserve on them trims.
	seed := func() {
		t.Helper()
		old := float64(time.Now().Add(-48 * time.Hour).UnixMilli())
		for _, fp := range []string{"old1", "old2", "old3"} {
			if err := raw.ZAdd(ctx, RedisKeyPrefix+fp, redis.Z{Score: old, Member: "stale-" + fp}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	seed()
	configSet(t, raw, "maxmemory-policy", "noeviction", "maxmemory", "1")
	pingErr := b.Ping(ctx)
	if !errors.Is(pingErr, ErrStateUnavailable) {
		t.Fatalf("the probe over maxmemory: %v", pingErr)
	}
	for _, fp := range []string{"old1", "old2", "fresh"} {
		if _, err := b.Reserve(ctx, fp); !errors.Is(err, ErrStateUnavailable) {
			t.Fatalf("a reserve on %s went through over maxmemory while /healthz's probe was refused: %v", fp, err)
		} else if !strings.Contains(err.Error(), "OOM") {
			t.Fatalf("a reserve on %s: %v", fp, err)
		}
	}
	// Reads of the budget still answer (they grow nothing).
	if err := b.Check(ctx, "old3", 1); err != nil {
		t.Fatalf("a check over maxmemory: %v", err)
	}

	configSet(t, raw, "maxmemory", "0")
	seed()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("the probe under the limit: %v", err)
	}
	for _, fp := range []string{"old1", "old2", "fresh"} {
		s, err := b.Reserve(ctx, fp)
		if err != nil {
			t.Fatalf("a reserve on %s under the limit: %v", fp, err)
		}
		s.Keep()
	}
	// The old events were trimmed, the new ones counted.
	if n, err := raw.ZCard(ctx, RedisKeyPrefix+"old1").Result(); err != nil || n != 1 {
		t.Fatalf("old1 holds %d events (%v), want 1", n, err)
	}
	if n, _ := raw.Exists(ctx, RedisKeyPrefix+"healthz").Result(); n != 0 {
		t.Fatal("the probe left its event in the store")
	}
}

// TestRedisEvictionPolicyIsReported: a real Redis whose policy may evict
// the budget's keys (allkeys-*, volatile-*, with a maxmemory) is reported
// unsafe, once in the log per change; noeviction, or no maxmemory, is safe.
// A user not allowed CONFIG GET is said once, and its budget still works.
func TestRedisEvictionPolicyIsReported(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	raw := rawRedis(t, srv)
	ctx := context.Background()
	var logs bytes.Buffer
	b, err := NewRedisBudget(srv.URL(0), slog.New(slog.NewTextHandler(&logs, nil)), Window{Limit: 3, Span: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	for _, tc := range []struct {
		policy, maxmemory string
		unsafe            bool
	}{
		{"allkeys-lru", "64mb", true},
		{"allkeys-lru", "64mb", true}, // the same again: not logged again
		{"volatile-ttl", "64mb", true},
		{"noeviction", "64mb", false},
		{"allkeys-random", "0", false}, // no limit: nothing is evicted
		{"volatile-lru", "32mb", true},
	} {
		configSet(t, raw, "maxmemory-policy", tc.policy, "maxmemory", tc.maxmemory)
		risk, err := b.EvictionRisk(ctx)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.policy, tc.maxmemory, err)
		}
		if (risk != "") != tc.unsafe || (tc.unsafe && (!strings.Contains(risk, tc.policy) || !strings.Contains(risk, "maxmemory-policy noeviction"))) {
			t.Fatalf("%s %s: risk %q", tc.policy, tc.maxmemory, risk)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "maxmemory-policy is allkeys-lru"); n != 1 {
		t.Fatalf("allkeys-lru logged %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "volatile-ttl") || !strings.Contains(out, "safe again") || !strings.Contains(out, "volatile-lru") {
		t.Fatalf("the log misses a change:\n%s", out)
	}

	// A user without CONFIG: said once, and never asked again.
	if err := raw.Do(ctx, "ACL", "SETUSER", "budget", "on", ">pw-budget-1", "~"+RedisKeyPrefix+"*", "+@all", "-@admin").Err(); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	limited, err := NewRedisBudget(fmt.Sprintf("redis://budget:pw-budget-1@%s/0", srv.Addr()), slog.New(slog.NewTextHandler(&logs, nil)), Window{Limit: 3, Span: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = limited.Close() })
	for range 3 {
		if _, err := limited.EvictionRisk(ctx); !errors.Is(err, ErrEvictionUnknown) {
			t.Fatalf("CONFIG GET refused: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "CONFIG GET refused"); n != 1 {
		t.Fatalf("the refusal was logged %d times:\n%s", n, logs.String())
	}
	if err := limited.Ping(ctx); err != nil {
		t.Fatalf("the limited user's probe: %v", err)
	}
	if _, err := limited.Reserve(ctx, "fp"); err != nil {
		t.Fatalf("the limited user's reserve: %v", err)
	}
}
