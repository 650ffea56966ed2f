package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// newBudget makes the unfollow budget that --state names. Without it the
// budget lives in this process and is returned as a *safety.Budget too, to
// be rebuilt from the journal. With a redis:// URL it lives in Redis, shared
// by every replica; a store that does not answer yet is said on stderr and
// the server starts anyway, refusing every write until the store answers.
func (a *app) newBudget() (safety.Limiter, *safety.Budget, error) {
	windows := []safety.Window{
		{Limit: a.cfg.MaxUnfollowsPer15m, Span: 15 * time.Minute},
		{Limit: a.cfg.MaxUnfollowsPerDay, Span: 24 * time.Hour},
	}
	if a.cfg.State == "" {
		b := safety.NewBudget(a.clk.Now, windows...)
		return b, b, nil
	}
	rb, err := safety.NewRedisBudget(a.cfg.State, a.logger, windows...)
	if err != nil {
		return nil, nil, fmt.Errorf("--state %s: %v", config.RedactURL(a.cfg.State), err)
	}
	rb.SetClockScale(a.clk.Scale())
	a.state = rb
	// A failed ping logs the outage once, naming the store without its
	// password; the pool keeps trying, and the first answer is logged too.
	// A store that answers is asked its eviction policy now, so that an
	// unsafe one is said at start (EvictionRisk logs it); /healthz asks
	// again each time.
	if rb.Ping(context.Background()) == nil {
		_, _ = rb.EvictionRisk(context.Background())
	}
	return rb, nil, nil
}
