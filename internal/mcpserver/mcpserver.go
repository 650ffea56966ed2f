// Package mcpserver builds xfollow-mcp's MCP server from its tools.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// Name is the server's name in the MCP handshake.
const Name = "xfollow-mcp"

// Instructions are sent to the client at initialize.
const Instructions = `xfollow-mcp manages who the person's X (Twitter) account follows, through the AIsa gateway. Its writes act on the person's real account.
To unfollow by handle: get_x_user to resolve the id, then unfollow_x_user with target_user_id and expected_username. To undo an unfollow: follow_x_user.
To unfollow everyone who does not follow back: find_x_unfollow_candidates, show the person the candidates, then unfollow_x_users with the ids they agree to (the clean_up_following prompt walks through it).
If a write fails with x_account_not_linked: call link_x_account and show the person the link. Errors start with a [code]; follow the sentence after it.`

// Options select what the server registers.
type Options struct {
	Version  string
	ReadOnly bool
	// Metrics, when set (--metrics), times every request the server
	// handles; nil installs nothing.
	Metrics *metrics.Metrics
}

// New builds the server with every allowed tool bound to deps.
func New(o Options, deps *tools.Deps) *server.MCPServer {
	opts := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithInstructions(Instructions),
		server.WithElicitation(),
		server.WithPromptCapabilities(false),
		// Clients may set a log level (logging/setLevel answers {}); the
		// server's own logs go to stderr, so it sends no log notifications.
		server.WithLogging(),
		// MCP Apps: find_x_unfollow_candidates names a view (a ui://
		// resource) that hosts which render views show with its results.
		server.WithResourceCapabilities(false, false),
		server.WithExtensions(map[string]any{tools.UIExtension: map[string]any{"mimeTypes": []string{tools.AppMIMEType}}}),
	}
	hooks := &server.Hooks{}
	if o.ReadOnly {
		hooks.AddOnRequestInitialization(refuseWithheldTools)
	}
	if o.Metrics != nil {
		opts = append(opts, withMetrics(o.Metrics, hooks))
	}
	if o.ReadOnly || o.Metrics != nil {
		opts = append(opts, server.WithHooks(hooks))
	}
	s := server.NewMCPServer(Name, o.Version, opts...)
	if deps.Following == nil {
		deps.Following = tools.NewFollowingCache(time.Now)
	}
	var list []server.ServerTool
	for _, t := range tools.All() {
		if !tools.Allowed(t, o.ReadOnly) {
			continue
		}
		list = append(list, server.ServerTool{Tool: t.MCP, Handler: t.Handler(deps)})
	}
	s.AddTools(list...)
	var prompts []server.ServerPrompt
	for _, p := range tools.Prompts() {
		if tools.PromptAllowed(p, o.ReadOnly) {
			prompts = append(prompts, server.ServerPrompt{Prompt: p.MCP(deps), Handler: p.Handler(deps)})
		}
	}
	s.AddPrompts(prompts...)
	// Each view is registered when the tool that shows it is (read-only
	// mode keeps the finder, so it keeps its view; the view's writes are
	// then refused as any other call's would be).
	var views []server.ServerResource
	for _, v := range tools.Views() {
		for _, t := range list {
			if t.Tool.Meta != nil && viewURI(t.Tool.Meta) == v.Resource.URI {
				views = append(views, server.ServerResource{Resource: v.Resource, Handler: v.Handler()})
				break
			}
		}
	}
	s.AddResources(views...)
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

// refuseWithheldTools answers a tools/call of a write tool on a read-only
// server with an error that says the server runs read-only. The write tools
// are not registered (tools/list shows only the read tools), so without it
// mcp-go would answer its generic "tool not found", which tells the model
// nothing it can act on. mcp-go sends the error as JSON-RPC -32600.
func refuseWithheldTools(_ context.Context, _ any, message any) error {
	raw, ok := message.(json.RawMessage)
	if !ok {
		return nil
	}
	var req struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if json.Unmarshal(raw, &req) != nil || req.Method != string(mcp.MethodToolsCall) {
		return nil
	}
	if msg, withheld := tools.ReadOnlyRefusal(req.Params.Name); withheld {
		return errors.New(msg)
	}
	return nil
}

// viewURI is the view a tool's _meta names, or "".
func viewURI(m *mcp.Meta) string {
	ui, _ := m.AdditionalFields["ui"].(map[string]any)
	uri, _ := ui["resourceUri"].(string)
	return uri
}

// WriteToolNames lists the tools that write (readOnlyHint false).
func WriteToolNames() []string {
	var names []string
	for _, t := range tools.All() {
		if !tools.Allowed(t, true) {
			names = append(names, t.Name)
		}
	}
	return names
}
