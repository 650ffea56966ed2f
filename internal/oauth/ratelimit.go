package oauth

import (
	"sync"
	"time"
)

// maxLimiterEntries bounds the addresses a limiter remembers: past it, the
// oldest windows are dropped first, and when all are current a new address
// is refused until one ends (an attacker with many addresses then slows
// only the unauthenticated endpoints, not /mcp or /token).
const maxLimiterEntries = 10000

// limiter allows n requests per address in each fixed window. A fixed
// window is enough here: it bounds registration and consent pages per
// address, and needs no library.
type limiter struct {
	mu      sync.Mutex
	n       int
	span    time.Duration
	max     int
	now     func() time.Time
	windows map[string]*window
}

type window struct {
	start time.Time
	count int
}

func newLimiter(n int, span time.Duration, max int, now func() time.Time) *limiter {
	return &limiter{n: n, span: span, max: max, now: now, windows: map[string]*window{}}
}

func (l *limiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.windows[addr]
	if w == nil || now.Sub(w.start) >= l.span {
		if w == nil && len(l.windows) >= l.max {
			for a, old := range l.windows {
				if now.Sub(old.start) >= l.span {
					delete(l.windows, a)
				}
			}
			if len(l.windows) >= l.max {
				return false
			}
		}
		w = &window{start: now}
		l.windows[addr] = w
	}
	if w.count >= l.n {
		return false
	}
	w.count++
	return true
}

// size is the number of addresses remembered (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}
