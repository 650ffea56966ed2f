package safety

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	JobID          string
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
				WasFollowing: r.WasFollowing, Outcome: OutcomeUnknown, JobID: r.JobID}
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
	// Legacy includes records that name no gateway and no key: journals
	// written before records carried them. They can only have come from the
	// real gateway and the server's own key as far as anyone can tell, so a
	// caller sets it for the real gateway and the server's own key: such
	// records then keep spending the budget and stay within undo's reach.
	Legacy bool
}

// NormalGateway is a journal record's gateway in the form compared: lower
// case, without a trailing dot on the host and without :443 or :80. Records
// are written that way (aisa.Client.Gateway), but older ones may keep a
// trailing dot or capitals from the base URL; they name the same gateway,
// so they spend the same budget and stay within undo's reach.
func NormalGateway(g string) string {
	if normal(g) {
		return g // as written by this version: no copy, no parse
	}
	g = strings.ToLower(g)
	host, port, err := net.SplitHostPort(g)
	if err != nil {
		return strings.TrimSuffix(g, ".") // no port
	}
	host = strings.TrimSuffix(host, ".")
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10) // 0443 is 443 to the dialer
	}
	if port == "443" || port == "80" || port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// normal reports whether g is already in NormalGateway's form without a
// port: lower case, no trailing dot, no colon.
func normal(g string) bool {
	if strings.HasSuffix(g, ".") {
		return false
	}
	for i := 0; i < len(g); i++ {
		if c := g[i]; c == ':' || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// IsLegacy reports whether the attempt's records predate the gateway and
// key fields.
func (a Attempt) IsLegacy() bool { return a.Gateway == "" && a.KeyFingerprint == "" }

func (s Scope) has(a Attempt) bool {
	if a.IsLegacy() {
		return s.Legacy
	}
	if NormalGateway(a.Gateway) != NormalGateway(s.Gateway) {
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
// hold a budget slot happened, at or after since, oldest first. Legacy
// records (in scope when s.Legacy) are under the empty fingerprint.
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
	Legacy   bool   // journaled by a version that did not record the gateway and key
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
				Verified: a.WasFollowing != nil && *a.WasFollowing, Outcome: a.Outcome, Legacy: a.IsLegacy()}
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

// ForeignUnfollows returns a Journal.OnForeign function that keeps b in step
// with the unfollows other processes sharing the journal record: each
// intent of the scope's real unfollows takes a slot at once (the other
// process sent it, or is about to), and an outcome that says it did not
// happen (failed, refused, noop) gives it back. Legacy records count for
// legacyFP.
func ForeignUnfollows(b *Budget, s Scope, unfollowTools []string, legacyFP string) func([]Record) {
	var mu sync.Mutex
	pending := map[string]Slot{}
	return func(recs []Record) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			switch r.Phase {
			case PhaseIntent:
				a := Attempt{Gateway: r.Gateway, KeyFingerprint: r.KeyFingerprint}
				if r.DryRun || r.CallID == "" || !slices.Contains(unfollowTools, r.Tool) || !s.has(a) {
					continue
				}
				fp := r.KeyFingerprint
				if a.IsLegacy() {
					fp = legacyFP
				}
				pending[r.CallID] = b.Add(fp, r.Time)
			case PhaseOutcome:
				slot, ok := pending[r.CallID]
				if !ok {
					continue
				}
				delete(pending, r.CallID)
				switch r.Outcome {
				case OutcomeFailed, OutcomeRefused, OutcomeNoop, outcomeLegacyError:
					slot.Release()
				}
			}
		}
	}
}
