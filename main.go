// Command xfollow-mcp is an MCP server that lets AI agents manage who a
// person's X (Twitter) account follows, through the AIsa API gateway.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/xfollow-mcp/xfollow-mcp/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
