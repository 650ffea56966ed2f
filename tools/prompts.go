package tools

import (
	"context"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Prompt is a defined MCP prompt: its description and a handler factory.
type Prompt struct {
	Name string
	// Writes is true when the prompt leads the agent to write tools, so it
	// is not offered in read-only mode.
	Writes  bool
	args    []string
	build   func(d *Deps) mcp.Prompt
	handler func(ctx context.Context, d *Deps, args map[string]string) (*mcp.GetPromptResult, error)
}

// MCP is the prompt as the server lists it for d (an argument's being
// required can depend on the configuration).
func (p Prompt) MCP(d *Deps) mcp.Prompt { return p.build(d) }

// Handler returns the prompt's MCP handler bound to d. Arguments are
// validated here, on the server: clients do not.
func (p Prompt) Handler(d *Deps) server.PromptHandlerFunc {
	return func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		var unknown []string
		for k := range req.Params.Arguments {
			if !slices.Contains(p.args, k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return nil, invalidArg("unknown argument %s; %s takes only %s", quoteList(unknown), p.Name, quoteList(p.args))
		}
		return p.handler(ctx, d, req.Params.Arguments)
	}
}

// Prompts returns every prompt: the one list of prompts.
func Prompts() []Prompt { return prompts() }

var prompts = sync.OnceValue(func() []Prompt {
	return []Prompt{
		cleanUpFollowing(),
	}
})

// PromptAllowed reports whether p may be registered: in read-only mode only
// the prompts that lead to no write.
func PromptAllowed(p Prompt, readOnly bool) bool { return !readOnly || !p.Writes }
