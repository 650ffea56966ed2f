// Command xfollow-mcp is an MCP server that lets AI agents manage who a
// person's X (Twitter) account follows, through the AIsa API gateway.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/cli"
)

// stopGrace is how long the process may take to stop after SIGINT or
// SIGTERM (calls in flight finish or are cancelled well within it).
const stopGrace = 15 * time.Second

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// The first signal asks every mode to stop; a second one ends the
		// process at once, and so does a stop that takes too long.
		stop()
		time.Sleep(stopGrace)
		fmt.Fprintf(os.Stderr, "xfollow-mcp: did not stop within %s of the signal; exiting\n", stopGrace)
		os.Exit(1)
	}()
	code := cli.Run(ctx, cli.IO{
		Args:    os.Args[1:],
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Getenv:  os.Getenv,
		Version: version,
	})
	stop()
	os.Exit(code)
}
