package tools

import (
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// The tools whose journal records are unfollows and follows.
var (
	unfollowTools = []string{"unfollow_x_user", "unfollow_x_users"}
	followTools   = []string{"follow_x_user"}
)

// UnfollowTimes returns when the journal's real (not dry-run) unfollows at or
// after since happened, to rebuild the budget at start.
func UnfollowTimes(recs []safety.Record, since time.Time) []time.Time {
	var out []time.Time
	for _, r := range recs {
		if r.Phase != safety.PhaseOutcome || r.Outcome != safety.OutcomeOK || r.DryRun || r.Time.Before(since) {
			continue
		}
		for _, t := range unfollowTools {
			if r.Tool == t {
				out = append(out, r.Time)
			}
		}
	}
	return out
}

// UnfollowedSince returns the ids the journal shows were unfollowed at or
// after since and not followed again since, oldest first.
func UnfollowedSince(recs []safety.Record, since time.Time) []string {
	return safety.Unfollowed(recs, since, unfollowTools, followTools)
}
