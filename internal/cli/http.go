package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/xfollow-mcp/xfollow-mcp/internal/httpserver"
)

// serveHTTP serves the remote mode until ctx ends (SIGTERM or SIGINT).
func (a *app) serveHTTP(ctx context.Context, logger *slog.Logger) int {
	o := httpserver.Options{
		Addr:           a.cfg.HTTP,
		Token:          a.cfg.HTTPToken,
		KeyFromRequest: a.cfg.KeyFromRequest,
		AllowedOrigins: a.cfg.AllowedOrigins,
		Logger:         logger,
	}
	if a.state != nil && !a.cfg.ReadOnly {
		// With --state, a replica whose store does not answer refuses every
		// write: /healthz says so, so a balancer can route around it. A
		// read-only replica writes nothing and needs no store.
		o.Checks = map[string]func(context.Context) error{"state_store": a.stateHealth}
	}
	if a.cfg.OAuth {
		auth, closeStore, err := a.newOAuth()
		if err != nil {
			logger.Error("xfollow-mcp cannot start MCP authorization", "err", err)
			return 1
		}
		defer closeStore()
		o.OAuth = auth
	}
	err := httpserver.Serve(ctx, a.server, o)
	if err != nil {
		logger.Error("xfollow-mcp http server stopped", "err", err)
		return 1
	}
	return 0
}

// stateHealth is /healthz's check of the state store: down when a reserve
// would be refused (the probe runs the reserve's own path), unsafe when the
// store may evict the budget's keys.
func (a *app) stateHealth(ctx context.Context) error {
	if err := a.state.Ping(ctx); err != nil {
		return err
	}
	if risk, _ := a.state.EvictionRisk(ctx); risk != "" {
		return fmt.Errorf("%w: %s", httpserver.ErrUnsafe, risk)
	}
	return nil
}
