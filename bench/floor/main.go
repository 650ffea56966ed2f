// Command floor is the smallest mcp-go stdio server that does what
// xfollow-mcp's unfollow_x_user does on the wire: the floor that xfollow-mcp's
// start-up and call overhead are compared with. The benchmark builds it from
// the same mcp-go version as xfollow-mcp.
//
// It has two tools: echo, which does nothing, and unfollow_x_user, which
// makes exactly the request xfollow-mcp makes (POST
// $AISA_BASE_URL/twitter/unfollow_twitter with the same headers and JSON
// body, on a keep-alive client), decodes the JSON answer and returns it as
// structuredContent. It checks nothing and keeps nothing: it is what any MCP
// server that calls this gateway must pay.
//
//	floor [-workers N]   # tool calls served at once (mcp-go's default: 5)
//	floor -tools FILE    # also list these tools (the JSON of xfollow-mcp tools),
//	                     # each with a handler that does nothing
//
// With -tools it lists what xfollow-mcp lists, schemas and all, so that a
// cold start can be compared with and without the size of the list.
//
//	floor -http 127.0.0.1:0   # serve streamable HTTP (stateless) at /mcp
//	                          # instead of stdio: prints its URL on stdout
//	                          # and serves until stdin closes
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func main() {
	workers := flag.Int("workers", 5, "tool calls served at once")
	toolsFile := flag.String("tools", "", "also list the tools in this file (the output of xfollow-mcp tools)")
	httpAddr := flag.String("http", "", "serve streamable HTTP at this address instead of stdio")
	flag.Parse()
	base := strings.TrimRight(os.Getenv("AISA_BASE_URL"), "/")
	key := os.Getenv("AISA_API_KEY")
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 128, 128
	hc := &http.Client{Transport: t}

	s := server.NewMCPServer("floor", "0")
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(req.GetString("text", "")), nil
	})
	unfollow := func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		id := req.GetString("target_user_id", "")
		body, _ := json.Marshal(map[string]any{"target_user_id": id, "aisa_api_key": key})
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/twitter/unfollow_twitter", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("Authorization", "Bearer "+key)
		hreq.Header.Set("Accept", "application/json")
		hreq.Header.Set("User-Agent", "floor")
		hreq.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(hreq)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		var env struct {
			Data struct {
				Following bool `json:"following"`
			} `json:"data"`
		}
		if res.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil {
			return mcp.NewToolResultError(fmt.Sprintf("gateway answered %d: %s", res.StatusCode, raw)), nil
		}
		out := map[string]any{"target_user_id": id, "following": env.Data.Following}
		text, _ := json.Marshal(out)
		return mcp.NewToolResultStructured(out, string(text)), nil
	}
	s.AddTool(mcp.NewTool("unfollow_x_user", mcp.WithString("target_user_id", mcp.Required())), unfollow)
	if *toolsFile != "" {
		if err := addListed(s, *toolsFile, unfollow); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *httpAddr != "" {
		serveHTTP(s, *httpAddr)
		return
	}
	if err := server.ServeStdio(s, server.WithWorkerPoolSize(*workers), server.WithQueueSize(1000)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// addListed adds the tools in file, keeping their schemas' bytes, each with
// a handler that does nothing, except unfollow_x_user, whose definition
// replaces the floor's own and which keeps the floor's handler.
func addListed(s *server.MCPServer, file string, unfollow server.ToolHandlerFunc) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var list struct {
		Tools []struct {
			Name         string             `json:"name"`
			Title        string             `json:"title"`
			Description  string             `json:"description"`
			InputSchema  json.RawMessage    `json:"inputSchema"`
			OutputSchema json.RawMessage    `json:"outputSchema"`
			Annotations  mcp.ToolAnnotation `json:"annotations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	nothing := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(""), nil
	}
	for _, t := range list.Tools {
		tool := mcp.NewToolWithRawSchema(t.Name, t.Description, t.InputSchema)
		tool.Title, tool.RawOutputSchema, tool.Annotations = t.Title, t.OutputSchema, t.Annotations
		if t.Name == "unfollow_x_user" {
			s.AddTool(tool, unfollow)
		} else {
			s.AddTool(tool, nothing)
		}
	}
	return nil
}

// serveHTTP serves s over stateless streamable HTTP at /mcp, as
// xfollow-mcp's --http does, until stdin closes.
func serveHTTP(s *server.MCPServer, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s, server.WithStateLess(true)))
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Printf("http://%s/mcp\n", ln.Addr())
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
