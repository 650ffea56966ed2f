package safety

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
)

func realBudget(t testing.TB, url string, windows ...Window) *RedisBudget {
	t.Helper()
	b, err := NewRedisBudget(url, nil, windows...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestRedisBudgetAcrossClientsNeverOverruns: three clients (as three
// replicas would hold) and 50 goroutines each race for a budget of 10 on a
// real Redis; exactly 10 win, and releases give slots back to everyone.
func TestRedisBudgetAcrossClientsNeverOverruns(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	windows := []Window{{Limit: 10, Span: 15 * time.Minute}, {Limit: 400, Span: 24 * time.Hour}}
	var clients []*RedisBudget
	for range 3 {
		clients = append(clients, realBudget(t, srv.URL(0), windows...))
	}
	race := func(fp string) (granted, exhausted int32, slots []Slot) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var g, x atomic.Int32
		for _, c := range clients {
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := c.Reserve(context.Background(), fp)
					var ex *Exhausted
					switch {
					case err == nil:
						g.Add(1)
						mu.Lock()
						slots = append(slots, s)
						mu.Unlock()
					case errors.As(err, &ex):
						x.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		return g.Load(), x.Load(), slots
	}
	granted, exhausted, slots := race("a")
	if granted != 10 || exhausted != 140 {
		t.Fatalf("granted %d, exhausted %d of 150; want 10 and 140", granted, exhausted)
	}
	for _, c := range clients {
		r, err := c.Remaining(context.Background(), "a")
		if err != nil || *r.Per15m != 0 || *r.Per24h != 390 {
			t.Fatalf("remaining %+v %v", r, err)
		}
	}
	// Another fingerprint is untouched.
	if r, _ := clients[1].Remaining(context.Background(), "b"); *r.Per15m != 10 {
		t.Fatalf("b: %d", *r.Per15m)
	}
	// Four released (failed writes) by whichever client took them: exactly
	// four more can be had, from any client.
	for _, s := range slots[:4] {
		s.Release()
	}
	for _, s := range slots[4:] {
		s.Keep()
	}
	granted, _, _ = race("a")
	if granted != 4 {
		t.Fatalf("after 4 releases, %d more were granted", granted)
	}
}

// TestRedisBudgetSurvivesAnOutage: a stopped Redis refuses every call with
// ErrStateUnavailable, promptly; once it is back, on the same client and
// without any reconnect by hand, calls succeed again.
func TestRedisBudgetSurvivesAnOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{Password: "pw-Redis-7"})
	b := realBudget(t, srv.URL(3), Window{Limit: 5, Span: 15 * time.Minute})
	ctx := context.Background()
	s, err := b.Reserve(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	began := time.Now()
	if _, err := b.Reserve(ctx, "a"); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("reserve with Redis down: %v", err)
	}
	if err := b.Check(ctx, "a", 1); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("check with Redis down: %v", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("ping with Redis down: %v", err)
	}
	s.Release() // logged, not fatal
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("refusing took %s", d)
	}
	srv.Restart() // empty: it kept nothing on disk
	// A wrong password is refused like an outage, and never repeated.
	wrong := realBudget(t, strings.Replace(srv.URL(3), "pw-Redis-7", "not-the-pw-9", 1), Window{Limit: 5, Span: 15 * time.Minute})
	if _, err := wrong.Reserve(ctx, "a"); !errors.Is(err, ErrStateUnavailable) || strings.Contains(err.Error(), "not-the-pw-9") {
		t.Fatalf("reserve with a wrong password: %v", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	for i := range 5 {
		s, err := b.Reserve(ctx, "a")
		if err != nil {
			t.Fatalf("reserve %d after restart: %v", i, err)
		}
		s.Keep()
	}
	var ex *Exhausted
	if _, err := b.Reserve(ctx, "a"); !errors.As(err, &ex) {
		t.Fatalf("the budget does not bind after a restart: %v", err)
	}
}

// BenchmarkRedisReserve measures one check-and-reserve round trip against a
// local redis-server: go test -run - -bench RedisReserve ./internal/safety/
func BenchmarkRedisReserve(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	rb := realBudget(b, srv.URL(0), Window{Limit: 1 << 30, Span: 15 * time.Minute}, Window{Limit: 1 << 30, Span: 24 * time.Hour})
	ctx := context.Background()
	for b.Loop() {
		s, err := rb.Reserve(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		s.Keep()
	}
}

// TestRedisBudgetEvents: the shared budget lists the times it keeps, so a
// refusal can say when the rest would be done.
func TestRedisBudgetEvents(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	b := realBudget(t, srv.URL(0), Window{Limit: 10, Span: 15 * time.Minute})
	before := time.Now().Add(-time.Minute)
	for range 3 {
		if _, err := b.Reserve(context.Background(), "fp"); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := b.Events(context.Background(), "fp")
	if err != nil || len(evs) != 3 || evs[0].Before(before) || evs[2].After(time.Now().Add(time.Minute)) {
		t.Fatalf("Events = %v, %v", evs, err)
	}
	if evs, err := b.Events(context.Background(), "other"); err != nil || len(evs) != 0 {
		t.Fatalf("another key's Events = %v, %v", evs, err)
	}
}
