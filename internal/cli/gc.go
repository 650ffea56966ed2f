package cli

import (
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The remote mode's garbage collector target. A call allocates some 30 KB
// (most of it net/http's and mcp-go's) and the live heap is a few MiB, so
// with Go's default target (GOGC=100: collect when the heap has grown by as
// much as is live) the collector runs every few MiB of calls: about a tenth
// of the server's CPU under load went to it. While the live heap is small,
// the server lets it grow by gcHeadroom (up to five times the live heap)
// before collecting, which takes the collector's share to about a quarter;
// once the live heap is past gcHeadroom (many jobs, say), the target is Go's
// default again. So the heap's peak stays under the larger of twice the
// live heap and the live heap plus gcHeadroom: never more than gcHeadroom
// above what GOGC=100 allows, and no soft limit for a large live heap to run
// into. The target follows the live heap, read once a second. GOGC or
// GOMEMLIMIT in the environment leaves Go's own handling of them in place.
// Measured in docs/BENCHMARKS.md (HTTP mode).
const (
	gcHeadroom    = 40 << 20 // bytes the heap may grow by before a collection
	gcPercentMax  = 400      // the target's ceiling: five times a small live heap
	gcRetuneEvery = time.Second
)

// gcPercentFor is the GOGC that lets a live heap of live bytes grow by
// gcHeadroom, between Go's default (100) and gcPercentMax.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	return int(min(max(100*uint64(gcHeadroom)/live, 100), gcPercentMax))
}

// liveHeap is the heap the last collection found live, in bytes.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// serverGC counts the servers that run with the target above, and holds
// what was in force before the first of them: the setting is process-wide,
// so it is undone when the last server returns, not the first.
var serverGC struct {
	sync.Mutex
	serving     int
	prevPercent int
	percent     int           // the target set last
	gen         int           // which first server the goroutine following the live heap serves
	stop        chan struct{} // ends that goroutine
}

// retuneGC sets the target for the live heap now, if it moved by more than
// a tenth; serverGC is locked.
func retuneGC(live uint64) {
	p := gcPercentFor(live)
	if d := p - serverGC.percent; d*10 > serverGC.percent || -d*10 > serverGC.percent {
		debug.SetGCPercent(p)
		serverGC.percent = p
	}
}

// tuneServerGC applies the target above unless the environment sets GOGC
// or GOMEMLIMIT, and returns what undoes it.
func tuneServerGC(getenv func(string) string, logger *slog.Logger) (undo func()) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	serverGC.Lock()
	defer serverGC.Unlock()
	if serverGC.serving == 0 {
		serverGC.percent = gcPercentFor(liveHeap())
		serverGC.prevPercent = debug.SetGCPercent(serverGC.percent)
		serverGC.gen++
		gen, stop := serverGC.gen, make(chan struct{})
		serverGC.stop = stop
		go func() {
			t := time.NewTicker(gcRetuneEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					live := liveHeap()
					serverGC.Lock()
					// Not once the setting is given back, even by a tick
					// that raced with the undo.
					if serverGC.gen == gen && serverGC.serving > 0 {
						retuneGC(live)
					}
					serverGC.Unlock()
				}
			}
		}()
		logger.Debug("garbage collector target set for serving", "gogc", serverGC.percent, "headroom_mib", gcHeadroom>>20)
	}
	serverGC.serving++
	var once sync.Once
	return func() {
		once.Do(func() {
			serverGC.Lock()
			defer serverGC.Unlock()
			if serverGC.serving--; serverGC.serving == 0 {
				close(serverGC.stop)
				debug.SetGCPercent(serverGC.prevPercent)
			}
		})
	}
}
