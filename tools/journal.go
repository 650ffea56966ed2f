package tools

import (
	"slices"
	"strings"
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

// SlotEvents is BudgetEvents for the slot-holding writes Journal.Slots
// returns.
func SlotEvents(ws []safety.SlotWrites, s safety.Scope, since time.Time) map[string][]time.Time {
	return safety.SlotEvents(ws, s, since, unfollowTools)
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

// JournalScope is one gateway and key a journal holds unfollows of.
type JournalScope struct {
	Gateway        string // "" for records written before records named it
	KeyFingerprint string
	Unfollows      int // undoable: ok or unknown, not dry runs
}

// UnfollowScopes lists the gateways and keys that recs hold undoable
// unfollows of at or after since, most unfollows first: what undo names
// when it finds none of the ones it was asked for.
func UnfollowScopes(recs []safety.Record, since time.Time) []JournalScope {
	count := map[[2]string]int{}
	for _, a := range safety.Attempts(recs) {
		if a.Counts() && slices.Contains(unfollowTools, a.Tool) && !a.Time.Before(since) {
			count[[2]string{safety.NormalGateway(a.Gateway), a.KeyFingerprint}]++
		}
	}
	out := make([]JournalScope, 0, len(count))
	for k, n := range count {
		out = append(out, JournalScope{Gateway: k[0], KeyFingerprint: k[1], Unfollows: n})
	}
	slices.SortFunc(out, func(a, b JournalScope) int {
		if a.Unfollows != b.Unfollows {
			return b.Unfollows - a.Unfollows
		}
		return strings.Compare(a.Gateway+" "+a.KeyFingerprint, b.Gateway+" "+b.KeyFingerprint)
	})
	return out
}
