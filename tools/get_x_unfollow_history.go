package tools

import (
	"context"
	"slices"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// HistoryArgs is the input of get_x_unfollow_history.
type HistoryArgs struct {
	Since  string `json:"since,omitempty" jsonschema:"maxLength=40" jsonschema_description:"Only writes at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z); default the last 30 days."`
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=500" jsonschema_description:"Entries per page, 1-500 (default 100)."`
	Cursor string `json:"cursor,omitempty" jsonschema:"maxLength=80" jsonschema_description:"next_cursor from the previous page."`
}

func (a HistoryArgs) validate() error {
	if a.Since != "" {
		if _, err := time.Parse(time.RFC3339, a.Since); err != nil {
			return invalidArg("since %s is not an RFC 3339 time: send e.g. \"2026-12-01T00:00:00Z\"", quoteArg(a.Since))
		}
	}
	if a.Limit < 0 || a.Limit > 500 {
		return invalidArg("limit must be 1 to 500")
	}
	if a.Cursor != "" {
		if _, err := time.Parse(time.RFC3339Nano, a.Cursor); err != nil {
			return invalidArg("cursor %s is not one this server gave: send next_cursor from the previous page, or leave it out", quoteArg(a.Cursor))
		}
	}
	return nil
}

// HistoryEntry is one journaled write.
type HistoryEntry struct {
	Time         string `json:"time" jsonschema_description:"When the write was attempted (RFC 3339)."`
	Tool         string `json:"tool" jsonschema_description:"The tool that wrote it (start_x_unfollow_job for a job's unfollows, control_x_unfollow_job for an undo's follows)."`
	TargetUserID string `json:"target_user_id" jsonschema_description:"The account's numeric X id."`
	Username     string `json:"username,omitempty" jsonschema_description:"Its handle, when known."`
	Outcome      string `json:"outcome" jsonschema:"enum=ok,enum=noop,enum=refused,enum=failed,enum=unknown" jsonschema_description:"ok; noop (nothing needed doing: nothing sent); refused (a safety control stopped it); failed (the gateway said no); unknown (it may have happened)."`
	JobID        string `json:"job_id,omitempty" jsonschema_description:"The job it belongs to, if any."`
	DryRun       bool   `json:"dry_run,omitempty" jsonschema_description:"True for a dry run: nothing was sent."`
}

// HistoryResult is the output of get_x_unfollow_history.
type HistoryResult struct {
	Entries    []HistoryEntry `json:"entries" jsonschema_description:"Your writes, newest first."`
	NextCursor string         `json:"next_cursor,omitempty" jsonschema_description:"Pass as cursor for older entries; absent at the end."`
}

func getXUnfollowHistory() Tool {
	return define(Spec{
		Name:  "get_x_unfollow_history",
		Title: "Get unfollow history",
		Description: "List the follows and unfollows this server made for the person (their key, this gateway), newest first, from its journal: " +
			"time, tool, account, outcome and job id. Use it to show what was done, or to find accounts to follow again.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   false,
	}, runHistory)
}

func runHistory(_ context.Context, c *Call, in HistoryArgs) (HistoryResult, error) {
	g := c.Gate
	if g.Journal == nil {
		return HistoryResult{}, &ToolError{Code: CodeJobsUnavailable, Msg: "this server keeps no journal, so it has no history to show; the operator must start it with --journal PATH"}
	}
	now := time.Now()
	if c.Jobs != nil && c.Jobs.Clock != nil {
		now = c.Jobs.Clock.Now()
	}
	since := now.Add(-churnWindow)
	if in.Since != "" {
		since, _ = time.Parse(time.RFC3339, in.Since)
	}
	var before time.Time
	if in.Cursor != "" {
		before, _ = time.Parse(time.RFC3339Nano, in.Cursor)
	}
	limit := in.Limit
	if limit == 0 {
		limit = 100
	}
	fp := c.Client.KeyFingerprint()
	var recs []safety.Record
	err := g.Journal.Scan(since, func(r safety.Record) bool {
		if r.KeyFingerprint == fp && r.Gateway == g.Gateway && (r.Phase == safety.PhaseIntent || r.Phase == safety.PhaseOutcome) {
			recs = append(recs, r)
		}
		return true
	})
	if err != nil {
		return HistoryResult{}, journalUnavailable()
	}
	atts := safety.Attempts(recs)
	out := HistoryResult{Entries: []HistoryEntry{}}
	for _, a := range slices.Backward(atts) {
		writes := slices.Contains(unfollowTools, a.Tool) || slices.Contains(followTools, a.Tool)
		if !writes || (!before.IsZero() && !a.Time.Before(before)) {
			continue
		}
		if len(out.Entries) == limit {
			out.NextCursor = out.Entries[limit-1].Time
			break
		}
		out.Entries = append(out.Entries, HistoryEntry{Time: a.Time.UTC().Format(time.RFC3339Nano), Tool: a.Tool, TargetUserID: a.TargetUserID,
			Username: a.Username, Outcome: a.Outcome, JobID: a.JobID, DryRun: a.DryRun})
	}
	return out, nil
}
