// Command xfollow-mcp is an MCP server that lets AI agents manage who a
// person's X (Twitter) account follows, through the AIsa API gateway.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/cli"
)

// stopGrace is how long the process may take to stop after SIGINT or
// SIGTERM (calls in flight finish or are cancelled well within it).
const stopGrace = 15 * time.Second

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

// release is the source tree's VERSION: what a build without -X main.version
// and without VCS information (go build -buildvcs=false) reports.
//
//go:embed VERSION
var release string

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// Signals are set up off the start's path: the runtime starts a thread
	// of its own to receive them, which was a fortieth of a cold start
	// (bench/notes.md). Until it is in place a signal has its default
	// action, as it has before main runs: the process ends, having done
	// nothing.
	go stopOnSignal(cancel)
	code := cli.Run(ctx, cli.IO{
		Args:    os.Args[1:],
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		Version: version,
		Release: strings.TrimSpace(release),
	})
	cancel()
	os.Exit(code)
}

// stopOnSignal cancels the run at the first SIGINT or SIGTERM, which asks
// every mode to stop. A second one ends the process at once (the signal's
// default action, back once it is no longer caught), and so does a stop that
// takes too long.
func stopOnSignal(cancel context.CancelFunc) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	signal.Stop(sig)
	// A second signal that came before Stop waits in the channel: it gets
	// the default action it would have had a moment later.
	select {
	case again := <-sig:
		if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(again) == nil {
			time.Sleep(time.Second) // the signal ends the process
		}
		os.Exit(1) // where a process cannot signal itself (Windows)
	default:
	}
	cancel()
	time.Sleep(stopGrace)
	giveUp(os.Stderr, os.Exit)
}

// messageWait is as long as giveUp waits for its message to be written.
const messageWait = time.Second

// giveUp says the stop took too long and exits 1. The message may not hold
// up the exit: stderr can be a pipe nobody reads (a host that has stopped
// reading it), which is one way a stop hangs in the first place.
func giveUp(stderr io.Writer, exit func(int)) {
	written := make(chan struct{})
	go func() {
		fmt.Fprintf(stderr, "xfollow-mcp: did not stop within %s of the signal; exiting\n", stopGrace)
		close(written)
	}()
	select {
	case <-written:
	case <-time.After(messageWait):
	}
	exit(1)
}
