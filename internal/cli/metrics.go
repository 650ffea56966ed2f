package cli

import (
	"context"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
)

// newMetrics makes the instruments for --metrics, told the server's fixed
// label values: its tools and the protocol versions it knows.
func newMetrics(cfg config.Config) *metrics.Metrics {
	transport := "pipe"
	if cfg.HTTP != "" {
		transport = "tcp"
	}
	return metrics.New(metrics.Options{
		Tools:            mcpserver.ToolNames(false),
		WriteTools:       mcpserver.WriteToolNames(),
		Transport:        transport,
		ProtocolVersions: mcp.ValidProtocolVersions,
	})
}

// observe registers the gauges read at each scrape: the journal's size
// (with --journal: every segment), whether the state store answers (with
// --state), and the jobs by status (xfollow_jobs, with a job store). The
// runner counts each item's outcome itself (Runner.OnOutcome, set in
// setupJobs: xfollow_job_items_total). Both label sets are fixed in
// internal/metrics (JobStatuses, JobItemOutcomes); anything else counts as
// _OTHER.
func (a *app) observe() {
	if a.metrics == nil {
		return
	}
	if a.jobs != nil && a.jobs.Store != nil {
		store := a.jobs.Store
		a.metrics.JobsByStatus(func() map[string]int {
			n := map[string]int{}
			for _, j := range store.All() {
				n[j.Status]++
			}
			return n
		})
	}
	if a.journal != nil {
		a.metrics.JournalBytes(a.journal.Bytes)
	}
	if a.state != nil {
		a.metrics.StateStore(a.state.Ping)
	}
}

// serveMetrics opens the metrics listener (a failure stops the start) and
// serves it until ctx ends or stop is called.
func (a *app) serveMetrics(ctx context.Context, logger *slog.Logger) (stop func(), err error) {
	ln, err := metrics.Listen(a.cfg.Metrics)
	if err != nil {
		return nil, err
	}
	logger.Info("metrics listening", "url", "http://"+ln.Addr().String()+metrics.Path)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, a.metrics, logger); err != nil {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
