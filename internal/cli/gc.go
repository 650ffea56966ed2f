package cli

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// The remote mode's garbage collector settings. A call allocates some 30 KB
// (most of it net/http's and mcp-go's) and the live heap is a few MiB, so
// with Go's default target (GOGC=100) the collector runs every few MiB of
// calls: about a tenth of the server's CPU under load went to it (its
// background marking alone; allocations also pay for it). A target of
// 400 makes it run a quarter as often for a few more MiB of heap; the soft
// limit keeps that from mattering where memory is short: as the heap nears
// it, the collector works harder again, so the peak stays near whichever is
// larger, the limit or the live heap (with GOGC=100 the peak is twice the
// live heap). Setting GOGC or GOMEMLIMIT in the environment keeps Go's own
// handling of them instead. Measured in docs/BENCHMARKS.md (HTTP mode).
const (
	serverGCPercent = 400
	serverGCLimit   = 256 << 20 // bytes; at most half the container's limit
)

// cgroupMemoryFiles hold the memory limit of the process's cgroup (v2, then
// v1); a test points them elsewhere.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// cgroupMemoryLimit is the memory limit of the process's cgroup, if it has
// one.
func cgroupMemoryLimit() (int64, bool) {
	for _, f := range cgroupMemoryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a huge number (v1) when there is no limit.
		if err != nil || n <= 0 || n >= math.MaxInt64/2 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// serverGC counts the servers that run with the settings above, and holds
// what was in force before the first of them: the settings are process-wide,
// so they are undone when the last server returns, not the first.
var serverGC struct {
	sync.Mutex
	serving     int
	prevPercent int
	prevLimit   int64
}

// tuneServerGC applies the settings above unless the environment sets
// GOGC or GOMEMLIMIT, and returns what undoes it.
func tuneServerGC(getenv func(string) string, logger *slog.Logger) (undo func()) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	serverGC.Lock()
	defer serverGC.Unlock()
	if serverGC.serving == 0 {
		limit := int64(serverGCLimit)
		if c, ok := cgroupMemoryLimit(); ok && c/2 < limit {
			limit = c / 2
		}
		serverGC.prevPercent = debug.SetGCPercent(serverGCPercent)
		serverGC.prevLimit = debug.SetMemoryLimit(limit)
		logger.Debug("garbage collector set for serving", "gogc", serverGCPercent, "soft_limit_mib", limit>>20)
	}
	serverGC.serving++
	var once sync.Once
	return func() {
		once.Do(func() {
			serverGC.Lock()
			defer serverGC.Unlock()
			if serverGC.serving--; serverGC.serving == 0 {
				debug.SetGCPercent(serverGC.prevPercent)
				debug.SetMemoryLimit(serverGC.prevLimit)
			}
		})
	}
}
