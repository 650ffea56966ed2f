package tools

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// MCP Apps: a tool can name an HTML view that hosts show in a sandboxed
// frame (the extension io.modelcontextprotocol/ui). A view is a resource
// plus a _meta on the tool that shows it; its HTML is one self-contained
// file beside that tool, embedded in the binary. The view calls tools
// through the host, and those calls take the same path as any other:
// a tick in the view is not consent by itself.

// The MCP Apps extension's identifier and the views' MIME type.
const (
	UIExtension = "io.modelcontextprotocol/ui"
	AppMIMEType = "text/html;profile=mcp-app"
)

// ReviewViewURI is the candidate review view that find_x_unfollow_candidates
// names (review.html).
const ReviewViewURI = "ui://xfollow/review"

//go:embed review.html
var reviewHTML string

// AvatarDomains are the only remote origins a view may load from: X's
// image hosts (pbs.twimg.com for profile pictures, abs.twimg.com for the
// default one). Views fetch nothing and load no scripts from elsewhere.
var AvatarDomains = []string{"https://pbs.twimg.com", "https://abs.twimg.com"}

// View is one MCP Apps view: its resource and the contents it is read as.
type View struct {
	Resource mcp.Resource
	html     string
}

// Views returns every view the server offers.
func Views() []View {
	r := mcp.NewResource(ReviewViewURI, "review",
		mcp.WithResourceDescription("Review find_x_unfollow_candidates' accounts one by one (picture, name, bio, counts), tick the ones to unfollow, start an unfollow job and watch it."),
		mcp.WithMIMEType(AppMIMEType))
	r.Title = "Review accounts to unfollow"
	// The listing carries the same _meta.ui as the contents, for hosts
	// that review a view's policy when they connect.
	r.Meta = &mcp.Meta{AdditionalFields: uiMeta()}
	return []View{{Resource: r, html: reviewHTML}}
}

// uiMeta is the views' _meta: under ui, the content security policy the
// host is to apply (X's image hosts for pictures, nothing else remote: no
// connections, frames or scripts from elsewhere) and a border.
func uiMeta() map[string]any {
	return map[string]any{"ui": map[string]any{
		"csp":           map[string]any{"resourceDomains": AvatarDomains},
		"prefersBorder": true,
	}}
}

// Contents answers resources/read for the view: the HTML document and its
// _meta.ui.
func (v View) Contents() []mcp.ResourceContents {
	return []mcp.ResourceContents{mcp.TextResourceContents{
		URI:      v.Resource.URI,
		MIMEType: AppMIMEType,
		Text:     v.html,
		Meta:     uiMeta(),
	}}
}

// Handler is the view's resources/read handler.
func (v View) Handler() func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	return func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		if req.Params.URI != v.Resource.URI {
			return nil, fmt.Errorf("no view at %q", req.Params.URI)
		}
		return v.Contents(), nil
	}
}

// viewMeta is a tool's _meta naming its view: ui.resourceUri, and the older
// flat key ui/resourceUri that some hosts still read.
func viewMeta(uri string) *mcp.Meta {
	return &mcp.Meta{AdditionalFields: map[string]any{
		"ui":             map[string]any{"resourceUri": uri},
		"ui/resourceUri": uri,
	}}
}
