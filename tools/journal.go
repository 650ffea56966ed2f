package tools

import (
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// The tools whose journal records are unfollows and follows.
var (
	unfollowTools = []string{"unfollow_x_user", "unfollow_x_users", jobUnfollowTool}
	followTools   = []string{"follow_x_user", jobFollowTool}
)

// BudgetEvents returns, per key fingerprint, when the scope's unfollows that
// hold a budget slot (ok or unknown, not dry run) happened at or after
// since, to rebuild the budget at start.
func BudgetEvents(recs []safety.Record, s safety.Scope, since time.Time) map[string][]time.Time {
	return safety.BudgetEvents(safety.Attempts(recs), s, since, unfollowTools)
}

// UndoCandidates returns the scope's accounts unfollowed at or after since
// and not followed again, oldest first; never one journaled as not followed.
func UndoCandidates(recs []safety.Record, s safety.Scope, since time.Time) []safety.UndoItem {
	return safety.UndoCandidates(safety.Attempts(recs), s, since, unfollowTools, followTools)
}

// ForeignUnfollows keeps b in step with the unfollows of other processes
// sharing the journal (see safety.ForeignUnfollows).
func ForeignUnfollows(b *safety.Budget, s safety.Scope, legacyFP string) func([]safety.Record) {
	return safety.ForeignUnfollows(b, s, unfollowTools, legacyFP)
}
