package jobs

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// simulate paces n sends with a pacer, each taking took, with a stop of
// down after half of them; it returns the send times.
func simulate(pace Pace, n int, took, down time.Duration, seed uint64) []time.Time {
	p := &pacer{}
	rnd := rand.New(rand.NewPCG(seed, 1))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for len(out) < n {
		if len(out) == n/2 && down > 0 {
			now = now.Add(down)
			down = 0
		}
		due := p.nextAt(pace, now, nil)
		if due.After(now) {
			now = due
			continue
		}
		now = now.Add(took)
		out = append(out, now)
		p.sent(pace, now, rnd)
	}
	return out
}

func maxInWindow(times []time.Time, span time.Duration) int {
	most := 0
	for i := range times {
		j := sort.Search(len(times), func(k int) bool { return times[k].After(times[i].Add(-span)) })
		most = max(most, i-j+1)
	}
	return most
}

// TestPacerKeepsEveryCeiling: whichever ceiling binds, no window exceeds
// it, no two sends are closer than a quarter of the mean gap, the gaps'
// standard deviation is at least a fifth of their mean, the pace reaches
// 80% of the binding ceiling, and downtime brings no burst.
func TestPacerKeepsEveryCeiling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pace Pace
		took time.Duration
	}{
		{Pace{Per15m: 25, PerDay: 300}, 2 * time.Second},  // the day binds
		{Pace{Per15m: 5, PerDay: 500}, 2 * time.Second},   // 15 minutes bind
		{Pace{Per15m: 45, PerDay: 360}, 40 * time.Second}, // slow checks
	} {
		times := simulate(tc.pace, 2000, tc.took, 9*time.Hour, 7)
		if n := maxInWindow(times, 15*time.Minute); n > tc.pace.Per15m {
			t.Errorf("%+v: %d sends in 15 minutes", tc.pace, n)
		}
		if n := maxInWindow(times, 24*time.Hour); n > tc.pace.PerDay {
			t.Errorf("%+v: %d sends in 24 hours", tc.pace, n)
		}
		mean := tc.pace.MeanGap()
		var gaps []float64
		for i := 1; i < len(times); i++ {
			g := times[i].Sub(times[i-1])
			if g < mean/4 {
				t.Errorf("%+v: sends %s apart (mean gap %s)", tc.pace, g, mean)
			}
			if g < 2*time.Hour { // the downtime is not a gap of the pattern
				gaps = append(gaps, g.Seconds())
			}
		}
		var s1, s2 float64
		for _, g := range gaps {
			s1 += g
			s2 += g * g
		}
		m := s1 / float64(len(gaps))
		sd := math.Sqrt(s2/float64(len(gaps)) - m*m)
		if sd < m/5 {
			t.Errorf("%+v: gaps mean %.0fs, sd %.0fs", tc.pace, m, sd)
		}
		// Efficiency over the first half (before the downtime).
		half := times[:1000]
		rate := float64(len(half)-1) / half[len(half)-1].Sub(half[0]).Seconds()
		ceiling := 1 / mean.Seconds()
		if eff := rate / ceiling; eff < 0.8 {
			t.Errorf("%+v: %.0f%% of the binding ceiling", tc.pace, 100*eff)
		} else {
			t.Logf("%+v: %.1f%% of the binding ceiling; gaps mean %.0fs sd %.0fs", tc.pace, 100*eff, m, sd)
		}
	}
}
