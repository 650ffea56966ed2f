package cli

import (
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

// stdioProcs is GOMAXPROCS while serving stdio. One client sends one call at
// a time or a few dozen that mostly wait on the gateway, and the server's own
// work per call is tens of microseconds: a second P buys no parallelism worth
// having, while every handoff between goroutines (stdin reader, worker, the
// HTTP transport's reader and writer) can wake an idle P's thread to run it.
// At 1 those handoffs stay on one thread (bench/notes.md has the figures).
const stdioProcs = 1

// stdioProcsAfter is how long after serving starts GOMAXPROCS changes.
// Changing it stops the world, which early in a process takes a few hundred
// microseconds: after the host's opening requests (initialize, tools/list)
// it costs nobody anything.
var stdioProcsAfter = 100 * time.Millisecond

// tuneStdio prepares the process for serving MCP on stdin: a stdin the
// runtime's poller can wait on, and, shortly after, GOMAXPROCS of
// stdioProcs unless the environment sets GOMAXPROCS. It returns the reader
// to serve and a function that undoes both. Anything but the process's own
// stdin file is left alone.
func tuneStdio(p IO) (io.Reader, func()) {
	f, ok := p.Stdin.(*os.File)
	if !ok {
		return p.Stdin, func() {}
	}
	in, closeIn := pollableStdin(f)
	if p.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) <= stdioProcs {
		return in, closeIn
	}
	var mu sync.Mutex
	prev, done := 0, false
	set := func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			prev = runtime.GOMAXPROCS(stdioProcs)
		}
	}
	var timer *time.Timer
	if stdioProcsAfter <= 0 {
		set()
	} else {
		timer = time.AfterFunc(stdioProcsAfter, set)
	}
	return in, func() {
		closeIn()
		if timer != nil {
			timer.Stop()
		}
		mu.Lock()
		defer mu.Unlock()
		done = true
		if prev > 0 {
			runtime.GOMAXPROCS(prev)
		}
	}
}
