package cli

import (
	"log/slog"
	"runtime/debug"
	"testing"
)

func gcPercentNow() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The target lets a small live heap grow by the headroom, and is Go's
// default for a large one: the peak stays under twice the live heap and
// under the live heap plus the headroom.
func TestGCPercentFollowsTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400}, {1 * mib, 400}, {10 * mib, 400}, {16 * mib, 250}, {20 * mib, 200},
		{32 * mib, 125}, {40 * mib, 100}, {200 * mib, 100}, {4096 * mib, 100},
	} {
		got := gcPercentFor(c.live)
		if got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live/mib, got, c.want)
		}
		peak := c.live + c.live*uint64(got)/100
		if c.live > 0 && (peak > 2*c.live && peak > c.live+gcHeadroom) {
			t.Errorf("live %d MiB: peak %d MiB is above both bounds", c.live/mib, peak/mib)
		}
	}
}

func TestServerGCSettings(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	p0 := gcPercentNow()
	for _, c := range []struct {
		name string
		env  map[string]string
		set  bool
	}{
		{"nothing set", nil, true},
		{"GOGC set", map[string]string{"GOGC": "50"}, false},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			undo := tuneServerGC(func(k string) string { return c.env[k] }, logger)
			p := gcPercentNow()
			undo()
			if want := gcPercentFor(liveHeap()); c.set && (p < 100 || p > gcPercentMax || p == p0 && want != p0) {
				t.Errorf("GOGC %d while serving; want about %d", p, want)
			}
			if !c.set && p != p0 {
				t.Errorf("GOGC %d while serving; the environment's setting should stand (%d)", p, p0)
			}
			if p := gcPercentNow(); p != p0 {
				t.Errorf("not undone: GOGC %d; was %d", p, p0)
			}
		})
	}
}

// The goroutine that follows the live heap sets a new target when the live
// heap moves by more than a tenth, and never after the last server returns.
func TestServerGCRetunes(t *testing.T) {
	p0 := gcPercentNow()
	t.Cleanup(func() { debug.SetGCPercent(p0) })
	undo := tuneServerGC(func(string) string { return "" }, slog.New(slog.DiscardHandler))
	serverGC.Lock()
	retuneGC(200 << 20)
	serverGC.Unlock()
	if p := gcPercentNow(); p != 100 {
		t.Errorf("a live heap of 200 MiB: GOGC %d, want 100", p)
	}
	serverGC.Lock()
	retuneGC(20 << 20)
	serverGC.Unlock()
	if p := gcPercentNow(); p != 200 {
		t.Errorf("a live heap of 20 MiB: GOGC %d, want 200", p)
	}
	serverGC.Lock()
	retuneGC(21 << 20) // 190: within a tenth, left as it is
	serverGC.Unlock()
	if p := gcPercentNow(); p != 200 {
		t.Errorf("a move of less than a tenth changed GOGC to %d", p)
	}
	undo()
	if p := gcPercentNow(); p != p0 {
		t.Errorf("not undone: GOGC %d; was %d", p, p0)
	}
}

func TestServerGCSettingsOverlappingServers(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	p0 := gcPercentNow()
	t.Cleanup(func() { debug.SetGCPercent(p0) })
	env := func(string) string { return "" }
	undoA := tuneServerGC(env, logger)
	undoB := tuneServerGC(env, logger)
	undoA()
	if p := gcPercentNow(); p == p0 && gcPercentFor(liveHeap()) != p0 {
		t.Errorf("while the second server serves: GOGC %d, given back already", p)
	}
	undoB()
	undoB() // a second undo changes nothing
	if p := gcPercentNow(); p != p0 {
		t.Errorf("both returned: GOGC %d; want %d as before", p, p0)
	}
}
