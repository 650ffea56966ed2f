// Package mcpserver builds xfollow-mcp's MCP server from its tools.
package mcpserver

import (
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// Name is the server's name in the MCP handshake.
const Name = "xfollow-mcp"

// Instructions are sent to the client at initialize.
const Instructions = `xfollow-mcp manages who the person's X (Twitter) account follows, through the AIsa gateway. Its writes act on the person's real account.
To unfollow by handle: get_x_user to resolve the id, then unfollow_x_user with target_user_id and expected_username. To undo an unfollow: follow_x_user.
If a write fails with x_account_not_linked: call link_x_account and show the person the link. Errors start with a [code]; follow the sentence after it.`

// Options select what the server registers.
type Options struct {
	Version  string
	ReadOnly bool
}

// New builds the server with every allowed tool bound to deps.
func New(o Options, deps *tools.Deps) *server.MCPServer {
	s := server.NewMCPServer(Name, o.Version,
		server.WithToolCapabilities(false),
		server.WithInstructions(Instructions),
		server.WithElicitation(),
		// Clients may set a log level (logging/setLevel answers {}); the
		// server's own logs go to stderr, so it sends no log notifications.
		server.WithLogging(),
	)
	var list []server.ServerTool
	for _, t := range tools.All() {
		if !tools.Allowed(t, o.ReadOnly) {
			continue
		}
		list = append(list, server.ServerTool{Tool: t.MCP, Handler: t.Handler(deps)})
	}
	s.AddTools(list...)
	return s
}

// ToolNames lists the tools New registers, for the startup log line.
func ToolNames(readOnly bool) []string {
	var names []string
	for _, t := range tools.All() {
		if tools.Allowed(t, readOnly) {
			names = append(names, t.Name)
		}
	}
	return names
}
