package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/server"
)

// Notifier sends one notification to the caller of the call in ctx and
// returns once it is written: a transport whose library queues
// notifications on a channel of their own (mcp-go's stdio server) installs
// one, so that a call's last progress is on the wire before its response,
// as the protocol requires.
type Notifier func(ctx context.Context, method string, params map[string]any) error

type notifierKey struct{}

// WithNotifier makes n the way notifications of calls under ctx are sent.
func WithNotifier(ctx context.Context, n Notifier) context.Context {
	return context.WithValue(ctx, notifierKey{}, n)
}

// notify sends a notification to the caller: through the transport's
// Notifier when it installed one, otherwise through mcp-go's session (the
// streamable HTTP transport writes what is queued there before the
// response).
func notify(ctx context.Context, method string, params map[string]any) error {
	if n, ok := ctx.Value(notifierKey{}).(Notifier); ok && n != nil {
		return n(ctx, method, params)
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	return srv.SendNotificationToClient(ctx, method, params)
}
