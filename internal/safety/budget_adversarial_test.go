package safety

// When a full budget frees a slot, with more than one window full.

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetryAfterIsTheLongestWait: when both windows are full, a slot frees
// only when both have one: the wait reported is the longer one, not the
// first full window's.
func TestRetryAfterIsTheLongestWait(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	b := NewBudget(func() time.Time { return now }, Window{Limit: 2, Span: 15 * time.Minute}, Window{Limit: 2, Span: 24 * time.Hour})
	b.Seed("k", now.Add(-5*time.Minute), now.Add(-5*time.Minute))
	var ex *Exhausted
	if err := b.Check(context.Background(), "k", 1); !errors.As(err, &ex) {
		t.Fatalf("not exhausted: %v", err)
	}
	if want := 24*time.Hour - 5*time.Minute; ex.RetryAfter != want {
		t.Fatalf("retry after %v (window %v); a slot frees only in %v", ex.RetryAfter, ex.Window, want)
	}
}
