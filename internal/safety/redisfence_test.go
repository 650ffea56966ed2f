package safety

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
)

// TestReserveFencedChecksTheLeaseInTheSameStep: a stale token takes no
// slot and writes no intent; the holder's token takes one and writes it; a
// cancel or pause in the job's controls stops even the holder; a full
// window refuses as the plain reserve does.
func TestReserveFencedChecksTheLeaseInTheSameStep(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	b := realBudget(t, srv.URL(0), Window{Limit: 2, Span: 15 * time.Minute})
	ctx := context.Background()
	rdb := b.Client()
	if err := rdb.Set(ctx, "lease", "p1/2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f := Fence{LeaseKey: "lease", Token: "p1/1", ItemsKey: "items", Target: "12", Intent: "x", VersionKey: "ver", ControlKey: "ctl"}
	if _, err := b.ReserveFenced(ctx, "fp", true, f); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale token: %v", err)
	}
	if n, _ := rdb.HLen(ctx, "items").Result(); n != 0 {
		t.Fatal("a stale token wrote an intent")
	}
	if left, _ := b.Remaining(ctx, "fp"); *left.Per15m != 2 {
		t.Fatalf("a stale token took a slot: %d left", *left.Per15m)
	}
	f.Token = "p1/2"
	for range 2 {
		if _, err := b.ReserveFenced(ctx, "fp", true, f); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := rdb.HGet(ctx, "items", "12").Result(); v != "x" {
		t.Fatalf("intent %q", v)
	}
	var ex *Exhausted
	if _, err := b.ReserveFenced(ctx, "fp", true, f); !errors.As(err, &ex) {
		t.Fatalf("a full window: %v", err)
	}
	if _, err := b.ReserveFenced(ctx, "fp", false, f); err != nil {
		t.Fatalf("a follow takes no slot: %v", err)
	}
	for _, ctl := range [][]string{{"pause"}, {"pause", "resume", "cancel", "resume"}} {
		rdb.Del(ctx, "ctl")
		for _, c := range ctl {
			rdb.RPush(ctx, "ctl", c)
		}
		if _, err := b.ReserveFenced(ctx, "fp", false, f); !errors.Is(err, ErrFenced) {
			t.Fatalf("controls %v: %v", ctl, err)
		}
	}
	srv.Stop()
	if _, err := b.ReserveFenced(ctx, "fp", true, f); !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("store down: %v", err)
	}
}
