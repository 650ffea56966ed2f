package safety

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
)

// TestUseOnceAcrossClients: three clients (three replicas) race 20 times
// each for the same id on a real Redis: exactly one wins; another id is
// free; the mark ends with its ttl; a stopped store is an error, never a
// "first use".
func TestUseOnceAcrossClients(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	var clients []*RedisBudget
	for range 3 {
		clients = append(clients, realBudget(t, srv.URL(0)))
	}
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for _, c := range clients {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := c.UseOnce(ctx, "confirm", "nonce-a", time.Minute)
				if err != nil {
					t.Error(err)
				}
				if first {
					wins.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 60 uses of one id were first, want 1", wins.Load())
	}
	if first, err := clients[1].UseOnce(ctx, "other", "nonce-a", time.Minute); err != nil || !first {
		t.Fatalf("the same id for another purpose: %v %v", first, err)
	}
	if first, err := clients[0].UseOnce(ctx, "confirm", "nonce-b", 50*time.Millisecond); err != nil || !first {
		t.Fatalf("a new id: %v %v", first, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		first, err := clients[2].UseOnce(ctx, "confirm", "nonce-b", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mark outlived its ttl")
		}
		time.Sleep(20 * time.Millisecond) // polling Redis's expiry
	}
	srv.Stop()
	if first, err := clients[0].UseOnce(ctx, "confirm", "nonce-c", time.Minute); first || !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("with the store stopped: first=%v err=%v, want ErrStateUnavailable", first, err)
	}
}
