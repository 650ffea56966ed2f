package safety

import (
	"context"
	"testing"
	"time"
)

func TestFinishAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	def := []Window{{Limit: 50, Span: 15 * time.Minute}, {Limit: 400, Span: 24 * time.Hour}}
	ago := func(d time.Duration, k int) []time.Time {
		out := make([]time.Time, k)
		for i := range out {
			out[i] = now.Add(-d)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		windows []Window
		past    []time.Time
		n       int
		want    time.Time
	}{
		{"nothing to do", def, nil, 0, now},
		{"no limit", []Window{{Limit: 0, Span: time.Hour}}, nil, 1000, now},
		{"fits now", def, nil, 50, now},
		{"one more than a window", def, nil, 51, now.Add(15 * time.Minute)},
		{"a full window frees as its events leave", def, ago(5*time.Minute, 50), 1, now.Add(10 * time.Minute)},
		{"eight windows a day", def, nil, 400, now.Add(7 * 15 * time.Minute)},
		{"the day limit waits for the first event to leave", def, nil, 401, now.Add(24 * time.Hour)},
		// 50 sent now: 350 more fit today (at +15m ... +1h45m), then the
		// day is full until now's 50 leave at +24h; the other 371 go in
		// windows of 50 from +24h, the last 21 at +25h45m.
		{"the example: 721 left after 50 now", def, ago(0, 50), 721, now.Add(25*time.Hour + 45*time.Minute)},
		{"old events do not count", def, ago(25*time.Hour, 400), 1, now},
	} {
		got := FinishAt(now, tc.windows, tc.past, tc.n)
		if !got.Equal(tc.want) {
			t.Errorf("%s: FinishAt = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// bruteFinish steps a minute at a time and sends whatever every window
// allows: a second way of computing FinishAt for whole-minute inputs.
func bruteFinish(now time.Time, windows []Window, past []time.Time, n int) time.Time {
	evs := append([]time.Time(nil), past...)
	t := now
	for {
		for {
			ok := true
			for _, w := range windows {
				c := 0
				for _, e := range evs {
					if e.After(t.Add(-w.Span)) && !e.After(t) {
						c++
					}
				}
				if w.Limit > 0 && c >= w.Limit {
					ok = false
				}
			}
			if !ok {
				break
			}
			evs = append(evs, t)
			n--
			if n == 0 {
				return t
			}
		}
		t = t.Add(time.Minute)
	}
}

func TestFinishAtAgreesWithBruteForce(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	windows := []Window{{Limit: 5, Span: 15 * time.Minute}, {Limit: 12, Span: 2 * time.Hour}}
	past := []time.Time{now.Add(-time.Minute), now.Add(-14 * time.Minute), now.Add(-90 * time.Minute), now.Add(-3 * time.Hour)}
	for n := 1; n <= 40; n++ {
		if got, want := FinishAt(now, windows, past, n), bruteFinish(now, windows, past, n); !got.Equal(want) {
			t.Fatalf("n=%d: FinishAt = %s, brute force %s", n, got, want)
		}
	}
}

func TestPace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w    []Window
		want string
	}{
		{[]Window{{50, 15 * time.Minute}, {400, 24 * time.Hour}}, "50 per 15 minutes and 400 a day"},
		{[]Window{{0, 15 * time.Minute}, {400, 24 * time.Hour}}, "400 a day"},
		{[]Window{{0, 15 * time.Minute}, {0, 24 * time.Hour}}, ""},
		{[]Window{{3, time.Hour}, {10, 6 * time.Hour}}, "3 an hour and 10 per 6 hours"},
	} {
		if got := Pace(tc.w); got != tc.want {
			t.Errorf("Pace(%v) = %q, want %q", tc.w, got, tc.want)
		}
	}
}

func TestBudgetEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	b := NewBudget(func() time.Time { return now }, Window{Limit: 50, Span: 15 * time.Minute}, Window{Limit: 400, Span: 24 * time.Hour})
	b.Seed("fp", now.Add(-25*time.Hour), now.Add(-time.Hour), now.Add(-time.Minute))
	evs, err := b.Events(context.Background(), "fp")
	if err != nil || len(evs) != 2 || !evs[0].Equal(now.Add(-time.Hour)) {
		t.Fatalf("Events = %v, %v", evs, err)
	}
}
