package safety

import (
	"fmt"
	"sync"
	"time"
)

// Window is a sliding-window limit: at most Limit events in any Span.
// A Limit of 0 means no limit.
type Window struct {
	Limit int
	Span  time.Duration
}

// Budget bounds how many unfollows may happen in sliding windows. Slots are
// reserved before a write is sent and either committed (the write happened)
// or released (it did not), so concurrent calls cannot overrun it.
type Budget struct {
	mu       sync.Mutex
	windows  []Window
	events   []time.Time // committed, oldest first
	reserved int
	now      func() time.Time
}

// NewBudget makes a budget with the given windows.
func NewBudget(now func() time.Time, windows ...Window) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{windows: windows, now: now}
}

// Windows returns the configured windows.
func (b *Budget) Windows() []Window { return b.windows }

// Exhausted is returned when a window is full.
type Exhausted struct {
	Window     Window
	RetryAfter time.Duration // until the oldest event leaves the window
}

func (e *Exhausted) Error() string {
	return fmt.Sprintf("unfollow budget of %d per %s is used up", e.Window.Limit, e.Window.Span)
}

// Remaining is what is left in each window; nil for a window with no limit.
type Remaining struct {
	Per15m *int
	Per24h *int
}

// Seed adds past events (rebuilt from a journal).
func (b *Budget) Seed(times ...time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, times...)
	// Keep them ordered; the journal is already in order, so this is cheap.
	for i := 1; i < len(b.events); i++ {
		for j := i; j > 0 && b.events[j].Before(b.events[j-1]); j-- {
			b.events[j], b.events[j-1] = b.events[j-1], b.events[j]
		}
	}
}

func (b *Budget) prune(now time.Time) {
	var longest time.Duration
	for _, w := range b.windows {
		if w.Limit > 0 && w.Span > longest {
			longest = w.Span
		}
	}
	cut := now.Add(-longest)
	i := 0
	for i < len(b.events) && !b.events[i].After(cut) {
		i++
	}
	b.events = b.events[i:]
}

// used counts events inside w (plus reservations).
func (b *Budget) used(now time.Time, w Window) (n int, oldest time.Time) {
	cut := now.Add(-w.Span)
	for _, t := range b.events {
		if t.After(cut) {
			if n == 0 {
				oldest = t
			}
			n++
		}
	}
	return n + b.reserved, oldest
}

// check returns an *Exhausted if n more events would not fit.
func (b *Budget) check(now time.Time, n int) error {
	for _, w := range b.windows {
		if w.Limit <= 0 {
			continue
		}
		used, oldest := b.used(now, w)
		if used+n > w.Limit {
			wait := w.Span
			if !oldest.IsZero() {
				wait = oldest.Add(w.Span).Sub(now)
			}
			if wait < time.Second {
				wait = time.Second
			}
			return &Exhausted{Window: w, RetryAfter: wait}
		}
	}
	return nil
}

// Check reports whether n more unfollows fit, without reserving them.
func (b *Budget) Check(n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.prune(now)
	return b.check(now, n)
}

// Reservation is one reserved slot.
type Reservation struct {
	b    *Budget
	done bool
}

// Reserve takes one slot, or returns *Exhausted.
func (b *Budget) Reserve() (*Reservation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.prune(now)
	if err := b.check(now, 1); err != nil {
		return nil, err
	}
	b.reserved++
	return &Reservation{b: b}, nil
}

// Commit records the slot as an unfollow that happened now.
func (r *Reservation) Commit() {
	if r == nil || r.done {
		return
	}
	r.done = true
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.b.reserved--
	r.b.events = append(r.b.events, r.b.now())
}

// Release gives the slot back (the unfollow did not happen).
func (r *Reservation) Release() {
	if r == nil || r.done {
		return
	}
	r.done = true
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.b.reserved--
}

// Remaining reports what is left in the 15-minute and 24-hour windows (or
// whatever spans the two windows have).
func (b *Budget) Remaining() Remaining {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.prune(now)
	var r Remaining
	for i, w := range b.windows {
		if w.Limit <= 0 {
			continue
		}
		used, _ := b.used(now, w)
		left := max(w.Limit-used, 0)
		if i == 0 {
			r.Per15m = &left
		} else {
			r.Per24h = &left
		}
	}
	return r
}
