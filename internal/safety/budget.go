package safety

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Window is a sliding-window limit: at most Limit events in any Span.
// A Limit of 0 means no limit.
type Window struct {
	Limit int
	Span  time.Duration
}

// Limiter keeps unfollow budgets, one per API key fingerprint, so that one
// caller can neither use up nor see another's. Implementations: Budget (in
// process, rebuilt from the journal) and a shared store for replicas.
//
// A slot is taken before a write is sent and counts from that moment. The
// writer then keeps it (the write happened, or may have) or releases it
// (the gateway said no, or nothing was sent).
type Limiter interface {
	// Check reports whether n more unfollows fit, without taking them.
	Check(ctx context.Context, fp string, n int) error
	// Reserve takes one slot, or returns *Exhausted.
	Reserve(ctx context.Context, fp string) (Slot, error)
	// Remaining reports what is left in each window.
	Remaining(ctx context.Context, fp string) (Remaining, error)
	// Windows returns the configured windows.
	Windows() []Window
}

// Slot is one reserved unfollow.
type Slot interface {
	// Keep leaves the slot counted: the unfollow happened or may have.
	Keep()
	// Release gives the slot back: the unfollow did not happen.
	Release()
}

// Exhausted is returned when a window is full.
type Exhausted struct {
	Window     Window
	RetryAfter time.Duration // until enough events leave the window
}

func (e *Exhausted) Error() string {
	return fmt.Sprintf("unfollow budget of %d per %s is used up", e.Window.Limit, e.Window.Span)
}

// Remaining is what is left in each window; nil for a window with no limit.
type Remaining struct {
	Per15m *int
	Per24h *int
}

// Min is the smallest amount left in any limited window, or -1 when no
// window is limited.
func (r Remaining) Min() int {
	m := -1
	for _, p := range []*int{r.Per15m, r.Per24h} {
		if p != nil && (m < 0 || *p < m) {
			m = *p
		}
	}
	return m
}

// Budget is the in-process Limiter: sliding windows per key fingerprint,
// seeded from the journal at start.
type Budget struct {
	mu      sync.Mutex
	windows []Window
	events  map[string][]*event // per fingerprint, oldest first
	now     func() time.Time
}

type event struct{ t time.Time }

// NewBudget makes a budget with the given windows.
func NewBudget(now func() time.Time, windows ...Window) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{windows: windows, now: now, events: map[string][]*event{}}
}

// Windows returns the configured windows.
func (b *Budget) Windows() []Window { return b.windows }

// Seed adds past events of one key (rebuilt from a journal).
func (b *Budget) Seed(fp string, times ...time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := slices.Grow(b.events[fp], len(times))
	block := make([]event, len(times)) // one allocation for a day of events
	for i, t := range times {
		block[i].t = t
		evs = append(evs, &block[i])
	}
	if cmp := func(x, y *event) int { return x.t.Compare(y.t) }; !slices.IsSortedFunc(evs, cmp) {
		slices.SortStableFunc(evs, cmp)
	}
	b.events[fp] = evs
}

func (b *Budget) longest() time.Duration {
	var longest time.Duration
	for _, w := range b.windows {
		if w.Limit > 0 && w.Span > longest {
			longest = w.Span
		}
	}
	return longest
}

// prune drops events older than every window.
func (b *Budget) prune(fp string, now time.Time) []*event {
	evs := b.events[fp]
	cut := now.Add(-b.longest())
	i := 0
	for i < len(evs) && !evs[i].t.After(cut) {
		i++
	}
	evs = evs[i:]
	if len(evs) == 0 {
		delete(b.events, fp)
	} else {
		b.events[fp] = evs
	}
	return evs
}

// inWindow returns the events inside w, oldest first.
func inWindow(evs []*event, now time.Time, w Window) []*event {
	cut := now.Add(-w.Span)
	i := sort.Search(len(evs), func(i int) bool { return evs[i].t.After(cut) })
	return evs[i:]
}

// check returns an *Exhausted if n more events would not fit. RetryAfter is
// when enough events have left every full window for n to fit: the longest
// of the windows' waits, and within a window later than the oldest event's
// leaving when it holds more than its limit (a restart with a lower limit).
func (b *Budget) check(evs []*event, now time.Time, n int) error {
	var worst *Exhausted
	for _, w := range b.windows {
		if w.Limit <= 0 {
			continue
		}
		in := inWindow(evs, now, w)
		if len(in)+n <= w.Limit {
			continue
		}
		wait := w.Span
		if k := len(in) + n - w.Limit; k <= len(in) {
			wait = in[k-1].t.Add(w.Span).Sub(now)
		}
		if wait < time.Second {
			wait = time.Second
		}
		if worst == nil || wait > worst.RetryAfter {
			worst = &Exhausted{Window: w, RetryAfter: wait}
		}
	}
	if worst == nil {
		return nil
	}
	return worst
}

// Check reports whether n more unfollows fit, without reserving them.
func (b *Budget) Check(_ context.Context, fp string, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	return b.check(b.prune(fp, now), now, n)
}

// memSlot is one reserved event.
type memSlot struct {
	b    *Budget
	fp   string
	ev   *event
	once sync.Once
}

// Reserve takes one slot, or returns *Exhausted.
func (b *Budget) Reserve(_ context.Context, fp string) (Slot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	evs := b.prune(fp, now)
	if err := b.check(evs, now, 1); err != nil {
		return nil, err
	}
	ev := &event{t: now}
	b.events[fp] = append(evs, ev)
	return &memSlot{b: b, fp: fp, ev: ev}, nil
}

// Add counts an event of fp at t whatever the limits, and returns its slot:
// an unfollow another process sharing the journal has already sent.
func (b *Budget) Add(fp string, t time.Time) Slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := &event{t: t}
	evs := append(b.events[fp], ev)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	b.events[fp] = evs
	return &memSlot{b: b, fp: fp, ev: ev}
}

func (s *memSlot) Keep() {}

func (s *memSlot) Release() {
	s.once.Do(func() {
		s.b.mu.Lock()
		defer s.b.mu.Unlock()
		evs := s.b.events[s.fp]
		for i, e := range evs {
			if e == s.ev {
				s.b.events[s.fp] = append(evs[:i:i], evs[i+1:]...)
				return
			}
		}
	})
}

// Remaining reports what is left in the first two windows (15 minutes and
// 24 hours as configured).
func (b *Budget) Remaining(_ context.Context, fp string) (Remaining, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	evs := b.prune(fp, now)
	var r Remaining
	for i, w := range b.windows {
		if w.Limit <= 0 {
			continue
		}
		left := max(w.Limit-len(inWindow(evs, now, w)), 0)
		if i == 0 {
			r.Per15m = &left
		} else {
			r.Per24h = &left
		}
	}
	return r, nil
}
