package safety

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// EventLister is a Limiter that can list the times of the unfollows that
// still count in its windows, oldest first: what FinishAt needs to say when
// a number of unfollows could all be sent.
type EventLister interface {
	Events(ctx context.Context, fp string) ([]time.Time, error)
}

// FinishAt returns when the last of n more unfollows could be sent at the
// earliest, starting at now, if each is sent as soon as every window allows
// (a window admits an unfollow at t while fewer than Limit events lie in
// (t-Span, t]), given the times of the events that already count (past, in
// any order). It returns now for n <= 0 and when no window is limited. It
// is pure: the same arguments give the same time.
func FinishAt(now time.Time, windows []Window, past []time.Time, n int) time.Time {
	var limited []Window
	for _, w := range windows {
		if w.Limit > 0 && w.Span > 0 {
			limited = append(limited, w)
		}
	}
	if n <= 0 || len(limited) == 0 {
		return now
	}
	var longest time.Duration
	for _, w := range limited {
		longest = max(longest, w.Span)
	}
	evs := make([]time.Time, 0, len(past)+n)
	for _, t := range past {
		if t.After(now.Add(-longest)) {
			evs = append(evs, t)
		}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Before(evs[j]) })
	t := now
	for range n {
		for moved := true; moved; {
			moved = false
			for _, w := range limited {
				cut := t.Add(-w.Span)
				first := sort.Search(len(evs), func(i int) bool { return evs[i].After(cut) })
				if in := len(evs) - first; in >= w.Limit {
					// The event whose leaving makes room; it leaves the
					// window once t-Span reaches it.
					t = evs[len(evs)-w.Limit].Add(w.Span)
					moved = true
				}
			}
		}
		// t never goes back, so evs stays sorted.
		evs = append(evs, t)
	}
	return t
}

// Pace says the limited windows as a person would: "50 per 15 minutes and
// 400 a day"; empty when none is limited.
func Pace(windows []Window) string {
	var parts []string
	for _, w := range windows {
		if w.Limit <= 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", w.Limit, perSpan(w.Span)))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func perSpan(d time.Duration) string {
	switch {
	case d == 24*time.Hour:
		return "a day"
	case d == time.Hour:
		return "an hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("per %d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("per %d minutes", d/time.Minute)
	}
	return "per " + d.String()
}

// Events lists the times of fp's unfollows that still count, oldest first.
func (b *Budget) Events(_ context.Context, fp string) ([]time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := b.prune(fp, b.now())
	out := make([]time.Time, len(evs))
	for i, e := range evs {
		out[i] = e.t
	}
	return out, nil
}
