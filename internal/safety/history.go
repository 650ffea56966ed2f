package safety

import (
	"slices"
	"time"
)

// Attempt is one write as the journal tells it: its intent joined with its
// outcome. An intent whose outcome never got written reads as unknown.
type Attempt struct {
	CallID         string
	Tool           string
	TargetUserID   string
	Username       string
	Gateway        string
	KeyFingerprint string
	Time           time.Time // of the intent
	DryRun         bool
	WasFollowing   *bool
	Outcome        string
}

// Attempts joins a journal's intents and outcomes, in intent order.
func Attempts(recs []Record) []Attempt {
	var out []Attempt
	byCall := map[string]int{}
	for _, r := range recs {
		switch r.Phase {
		case PhaseIntent:
			a := Attempt{CallID: r.CallID, Tool: r.Tool, TargetUserID: r.TargetUserID, Username: r.Username,
				Gateway: r.Gateway, KeyFingerprint: r.KeyFingerprint, Time: r.Time, DryRun: r.DryRun,
				WasFollowing: r.WasFollowing, Outcome: OutcomeUnknown}
			if r.CallID != "" {
				byCall[r.CallID] = len(out)
			}
			out = append(out, a)
		case PhaseOutcome:
			i, ok := byCall[r.CallID]
			if !ok || r.CallID == "" {
				continue // an outcome without its intent says nothing reliable
			}
			delete(byCall, r.CallID) // the first outcome is the one
			o := r.Outcome
			if o == outcomeLegacyError {
				o = OutcomeFailed
			}
			out[i].Outcome = o
			if r.WasFollowing != nil {
				out[i].WasFollowing = r.WasFollowing
			}
		}
	}
	return out
}

// Scope is the gateway and key whose records count now: sandbox records
// never spend a real budget or drive a real undo, and one key's records
// never another's.
type Scope struct {
	Gateway        string
	KeyFingerprint string // "" selects every key (the budget is kept per key anyway)
}

func (s Scope) has(a Attempt) bool {
	if a.Gateway != s.Gateway {
		return false
	}
	return s.KeyFingerprint == "" || a.KeyFingerprint == s.KeyFingerprint
}

// Counts reports whether an attempt holds a budget slot: a real (not dry
// run) write that happened or may have happened.
func (a Attempt) Counts() bool {
	return !a.DryRun && (a.Outcome == OutcomeOK || a.Outcome == OutcomeUnknown)
}

// BudgetEvents returns, per key fingerprint, when the scope's unfollows that
// hold a budget slot happened, at or after since, oldest first.
func BudgetEvents(atts []Attempt, s Scope, since time.Time, unfollowTools []string) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, a := range atts {
		if s.has(a) && a.Counts() && slices.Contains(unfollowTools, a.Tool) && !a.Time.Before(since) {
			out[a.KeyFingerprint] = append(out[a.KeyFingerprint], a.Time)
		}
	}
	return out
}

// UndoItem is an account that undo should follow again.
type UndoItem struct {
	ID       string
	Username string
	// Verified is true when the server saw the account followed just before
	// the unfollow; false when it could not check (no --account, or the
	// check failed).
	Verified bool
	Outcome  string // ok or unknown
}

// UndoCandidates returns the scope's accounts that were unfollowed (ok or
// unknown, not a dry run) at or after since and not followed again since,
// oldest first, each once. An unfollow journaled with was_following false
// (the account was not followed) is never among them: re-following it would
// create a follow that never existed.
func UndoCandidates(atts []Attempt, s Scope, since time.Time, unfollowTools, followTools []string) []UndoItem {
	pending := map[string]UndoItem{}
	var order []string
	for _, a := range atts {
		if !s.has(a) || !a.Counts() {
			continue
		}
		switch {
		case slices.Contains(unfollowTools, a.Tool) && !a.Time.Before(since):
			if a.WasFollowing != nil && !*a.WasFollowing {
				continue
			}
			if _, seen := pending[a.TargetUserID]; !seen {
				order = append(order, a.TargetUserID)
			}
			pending[a.TargetUserID] = UndoItem{ID: a.TargetUserID, Username: a.Username,
				Verified: a.WasFollowing != nil && *a.WasFollowing, Outcome: a.Outcome}
		case slices.Contains(followTools, a.Tool) && a.Outcome == OutcomeOK:
			delete(pending, a.TargetUserID) // already followed again
		}
	}
	var out []UndoItem
	for _, id := range order {
		if it, ok := pending[id]; ok {
			out = append(out, it)
			delete(pending, id)
		}
	}
	return out
}
