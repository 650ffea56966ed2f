package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// Gate is the one place every write passes through. It applies, in order:
// the protected-account list, the identity guard, the relationship check
// (with an account set), the unfollow budget, the person's confirmation,
// the journal (intent before the gateway sees the request, outcome after)
// and dry run.
type Gate struct {
	DryRun  bool
	Confirm bool
	// Account is the handle (without @) of the X account linked to the key.
	// When set, every unfollow first checks that the account follows the
	// target: an unfollow of an account not followed sends nothing.
	Account   string
	Gateway   string // journaled with every record: safety.GatewaySandbox or the gateway host
	Protected map[string]bool
	Journal   *safety.Journal // nil: no journal
	Budget    safety.Limiter  // nil: no budget
	// Metrics counts each write's outcome where it is settled (--metrics);
	// nil counts nothing. It observes and never decides.
	Metrics *metrics.Metrics
	// ConfirmKeys sign and verify confirmation states (XFOLLOW_SECRET's
	// key for ConfirmPurpose): replicas sharing the secret accept each
	// other's approvals. nil: a random secret of this process's own.
	ConfirmKeys *secret.Keys
	// Nonces marks each approval used (with --state the shared store, so
	// once across replicas); nil: once in this process.
	Nonces OnceStore
	// Now is the server's clock for journal times (nil: the journal's own).
	Now func() time.Time

	confirm confirmer
}

// writeKind is what a write does to the follow graph.
type writeKind int

const (
	kindUnfollow writeKind = iota
	kindFollow
)

// writeItem is one account a write call acts on.
type writeItem struct {
	ID       string
	Expected string // handle without @, when the caller gave one
	Username string // resolved handle
	// WasFollowing is whether the account followed ID just before an
	// unfollow; nil when not checked or the check failed.
	WasFollowing *bool
	// JobID names the job whose item this write is ("" for a direct call).
	JobID string
	// allow, for a job's write, runs under the journal's lock just before
	// the budget slot and the intent: an error from it stops the write
	// there, with nothing journaled or sent (the job was paused or
	// cancelled by another process, or the budget's reserve is reached).
	allow func() error
	// fence, for a job's write with shared job state, is the lease the
	// budget reserve checks in the same script that takes the slot and
	// marks the item's intent.
	fence *safety.Fence
}

// notFollowed reports that the relationship check found ID not followed.
func (it *writeItem) notFollowed() bool { return it.WasFollowing != nil && !*it.WasFollowing }

// confirmKey names the one input request a confirmation makes.
const confirmKey = "confirm_write"

// relationshipChecks is how many relationship reads a batch sends at once.
const relationshipChecks = 4

// budgetView is what every unfollow result shows of the budget.
type budgetView struct {
	Remaining15m *int `json:"remaining_15m,omitempty" jsonschema_description:"Unfollows left in the current 15-minute window; absent when that window has no limit."`
	Remaining24h *int `json:"remaining_24h,omitempty" jsonschema_description:"Unfollows left in the current 24-hour window; absent when that window has no limit."`
}

// budgetView is what is left of the caller's budget; empty when it cannot be
// read (the shared store is down), which never fails a write's result.
func (g *Gate) budgetView(ctx context.Context, c *Call) budgetView {
	v, _ := g.budgetLeft(ctx, c)
	return v
}

func (g *Gate) budgetLeft(ctx context.Context, c *Call) (budgetView, error) {
	if g == nil || g.Budget == nil {
		return budgetView{}, nil
	}
	r, err := g.Budget.Remaining(ctx, c.Client.KeyFingerprint())
	if err != nil {
		return budgetView{}, err
	}
	return budgetView{Remaining15m: r.Per15m, Remaining24h: r.Per24h}, nil
}

// precheck runs the checks that need no consent: the protected list (for
// unfollows) and the identity guard. resolved is true when a signed
// confirmation state already carries the handle checked in the first round.
func (g *Gate) precheck(ctx context.Context, c *Call, kind writeKind, it *writeItem, resolved bool) error {
	if kind == kindUnfollow && g.Protected[it.ID] {
		return &ToolError{Code: CodeProtectedAccount, Msg: fmt.Sprintf(
			"user %s is on this server's protected list, so it will not be unfollowed; nothing was sent. Tell the person; only they can change the list (--protect / --protect-file)", it.ID)}
	}
	if it.Expected == "" || resolved {
		return nil
	}
	u, err := c.Client.UserInfo(ctx, it.Expected)
	if err != nil {
		te := *asToolError(err, "@"+it.Expected)
		if te.Code == CodeUserNotFound {
			te.Msg = fmt.Sprintf("expected_username @%s could not be resolved: the handle does not exist or is suspended, so nothing was written; check the handle with get_x_user", it.Expected)
		} else {
			te.Msg = "could not check expected_username, so nothing was written: " + te.Msg
		}
		return &te
	}
	if !strings.EqualFold(u.Username, it.Expected) {
		return &ToolError{Code: CodeIdentityMismatch, Msg: fmt.Sprintf(
			"the gateway answered the lookup of @%s with a different account (@%s, id %s), so the identity of id %s could not be confirmed and nothing was written; resolve the handle again with get_x_user and retry with the id it returns", it.Expected, u.Username, u.ID, it.ID)}
	}
	if u.ID != it.ID {
		return &ToolError{Code: CodeIdentityMismatch, Msg: fmt.Sprintf(
			"id %s is not @%s: @%s has id %s, so nothing was written; use the id get_x_user returns for the account the person means", it.ID, it.Expected, u.Username, u.ID)}
	}
	it.Username = u.Username
	return nil
}

// checkRelationships finds, when an account is set, whether it follows each
// item: handles not yet known are resolved in one batch_info_by_ids call,
// then each is checked with check_follow_relationship. A check that fails
// leaves WasFollowing nil: the unfollow then goes out unverified.
func (g *Gate) checkRelationships(ctx context.Context, c *Call, items []*writeItem) {
	if g.Account == "" || len(items) == 0 {
		return
	}
	items = g.knownFollowing(c, items)
	var need []string
	for _, it := range items {
		if it.Username == "" {
			need = append(need, it.ID)
		}
	}
	names := map[string]string{}
	for start := 0; start < len(need); start += aisa.MaxBatchInfoIDs {
		chunk := need[start:min(start+aisa.MaxBatchInfoIDs, len(need))]
		users, err := c.Client.BatchInfoByIDs(ctx, chunk)
		if err != nil {
			c.Logger.Warn("could not resolve handles for the relationship check; those unfollows go out unverified", "ids", len(chunk), "err", err)
			continue
		}
		for _, u := range users {
			names[u.ID] = u.Username
		}
	}
	sem := make(chan struct{}, relationshipChecks)
	var wg sync.WaitGroup
	for _, it := range items {
		if it.Username == "" {
			it.Username = names[it.ID]
		}
		if it.Username == "" || ctx.Err() != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(it *writeItem) {
			defer func() { <-sem; wg.Done() }()
			rel, err := c.Client.CheckRelationship(ctx, g.Account, it.Username)
			if err != nil {
				c.Logger.Warn("relationship check failed; the unfollow goes out unverified", "target_user_id", it.ID, "err", err)
				return
			}
			following := rel.Following
			it.WasFollowing = &following
			if !following {
				c.Following.Forget(g.Account, it.ID)
			}
		}(it)
	}
	wg.Wait()
}

// checkBudget reports whether n more unfollows fit.
func (g *Gate) checkBudget(ctx context.Context, c *Call, n int) error {
	if g.Budget == nil {
		return nil
	}
	if err := g.Budget.Check(ctx, c.Client.KeyFingerprint(), n); err != nil {
		return budgetError(err)
	}
	return nil
}

func budgetError(err error) error {
	var ex *safety.Exhausted
	if !errors.As(err, &ex) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Any other failure (safety.ErrStateUnavailable: the shared store
		// is down or answered an error) fails closed.
		return &ToolError{Code: CodeStateUnavailable, Msg: "the unfollow budget cannot be checked (this server's shared state store does not answer), so nothing was sent; retry in a minute, and tell the person if it persists"}
	}
	secs := int((ex.RetryAfter + time.Second - 1) / time.Second)
	return &ToolError{Code: CodeBudgetExhausted, RetryAfter: secs, Msg: fmt.Sprintf(
		"this server's unfollow budget of %d per %s is used up, so nothing was sent; the window frees a slot in %d seconds (at %s). %s",
		ex.Window.Limit, spanName(ex.Window.Span), secs, time.Now().Add(ex.RetryAfter).UTC().Format(time.RFC3339), budgetAdvice)}
}

// budgetAdvice ends a budget refusal.
const budgetAdvice = "Tell the person rather than working around it"

// JobsTool is the tool that sends a long list of unfollows at a pace the
// budget allows.
const JobsTool = "start_x_unfollow_job"

// restHint ends a stop by a limit with where to go for the rest of the
// work: the jobs tool when this server has it, nothing otherwise. It is the
// one place a stop's advice names another tool.
func restHint() string {
	if hasTool(JobsTool) {
		return "; " + JobsTool + " runs the rest at a safe pace"
	}
	return ""
}

// hasTool reports whether this server has a tool of that name. It is set
// in init: the tools' handlers use it, and All is made of the tools.
var hasTool func(name string) bool

func init() {
	hasTool = func(name string) bool {
		return slices.ContainsFunc(All(), func(t Tool) bool { return t.Name == name })
	}
}

// withWhatIsLeft adds to a stop by a limit (the budget, or the gateway's
// rate limit) how much of what was asked is left, when at the current
// limits it would all be done, and where to go for the rest: left of asked
// unfollows are not done, and spent more have been counted in this call
// without reaching the budget (a dry run's). Other errors pass unchanged.
func (g *Gate) withWhatIsLeft(ctx context.Context, c *Call, err error, left, asked, spent int) error {
	var te *ToolError
	if !errors.As(err, &te) || (te.Code != CodeBudgetExhausted && te.Code != CodeRateLimited) || left <= 0 {
		return err
	}
	cp := *te
	if te.Code == CodeBudgetExhausted {
		cp.Msg = strings.TrimSuffix(strings.TrimSuffix(cp.Msg, budgetAdvice), " ") + " " +
			g.whatIsLeft(ctx, c, left, asked, spent) + ". " + budgetAdvice + restHint()
	} else {
		// The gateway's own limits are not known here: no finishing time.
		cp.Msg = strings.TrimSuffix(cp.Msg, ".") + fmt.Sprintf(". %d of %d left", left, asked) + restHint()
	}
	return &cp
}

// whatIsLeft says "21 of 50 left; at 50 per 15 minutes and 400 a day, all
// done around 2026-12-08T19:40Z" from the budget's windows and the times of
// the unfollows that count in them (safety.FinishAt).
func (g *Gate) whatIsLeft(ctx context.Context, c *Call, left, asked, spent int) string {
	s := fmt.Sprintf("%d of %d left", left, asked)
	if g.Budget == nil {
		return s
	}
	windows := g.Budget.Windows()
	pace := safety.Pace(windows)
	lister, ok := g.Budget.(safety.EventLister)
	if pace == "" || !ok {
		return s
	}
	past, err := lister.Events(ctx, c.Client.KeyFingerprint())
	if err != nil {
		return s
	}
	now := time.Now()
	for range spent {
		past = append(past, now)
	}
	done := safety.FinishAt(now, windows, past, left)
	// Rounded up to the minute: "around" should not promise early.
	if r := done.Truncate(time.Minute); r.Before(done) {
		done = r.Add(time.Minute)
	}
	return fmt.Sprintf("%s; at %s, all done around %s", s, pace, done.UTC().Format("2006-01-02T15:04Z"))
}

func spanName(d time.Duration) string {
	switch d {
	case 15 * time.Minute:
		return "15 minutes"
	case 24 * time.Hour:
		return "24 hours"
	}
	return d.String()
}

// approval returns the signed state of an earlier confirmation request and
// the person's answer, when this call is the retry that answers it. An
// answer without a state this server signed for this exact call (forged,
// replayed, expired, for other arguments or another caller) is ignored as
// if absent. An error (state_unavailable) means the shared store could not
// tell whether the approval was used already: the write is refused.
func (g *Gate) approval(ctx context.Context, c *Call) (*confirmState, mcp.ElicitationResponseAction, error) {
	if !g.Confirm {
		return nil, "", nil
	}
	p := c.Request.Params
	ans := server.ElicitationResponse(p.InputResponses, confirmKey)
	if ans == nil {
		return nil, "", nil
	}
	st, err := g.confirmer().verify(ctx, p.RequestState, c.Tool, c.CanonicalArgs(), c.Client.KeyFingerprint())
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, "", err
		}
		return nil, "", &ToolError{Code: CodeStateUnavailable, Msg: "the approval cannot be checked (this server's shared state store does not answer, so it cannot tell whether the approval was used already), so nothing was sent; retry in a minute, and tell the person if it persists"}
	}
	if st == nil {
		c.Logger.Warn("a confirmation answer came without a valid request state from this server; it was ignored", "tool", c.Tool)
		return nil, "", nil
	}
	return st, ans.Action, nil
}

// applyState restores what the first round resolved, from the signed state.
func applyState(st *confirmState, items []*writeItem) {
	byID := make(map[string]stateItem, len(st.Items))
	for _, si := range st.Items {
		byID[si.ID] = si
	}
	for _, it := range items {
		if si, ok := byID[it.ID]; ok {
			it.Username = si.Username
			it.WasFollowing = si.WasFollowing
		}
	}
}

// covers reports whether st lists every item: a state binds the call's
// arguments, so it always does unless it was minted for fewer items than
// the call names; then the approval does not count.
func (st *confirmState) covers(items []*writeItem) bool {
	listed := make(map[string]bool, len(st.Items))
	for _, si := range st.Items {
		listed[si.ID] = true
	}
	for _, it := range items {
		if !listed[it.ID] {
			return false
		}
	}
	return true
}

// ask returns a needInput that asks the person to approve the writes of
// items, once for all, or an error when the client cannot ask. The signed
// state carries what was checked of every item of the call (checked), the
// ones not to be written included, so the approved retry acts on exactly
// what the person was shown.
func (g *Gate) ask(ctx context.Context, c *Call, kind writeKind, items, checked []*writeItem) error {
	if !canElicit(ctx) {
		return &ToolError{Code: CodeConfirmationUnavailable, Msg: "this server is set to ask the person before every write (--confirm), but this MCP client cannot ask them (no elicitation support), so nothing was sent; the person must use a client with elicitation or restart the server without --confirm"}
	}
	verb := "Unfollow"
	if kind == kindFollow {
		verb = "Follow"
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, describe(it))
	}
	msg := fmt.Sprintf("%s %s on your X account?", verb, strings.Join(names, ", "))
	if len(items) > 1 {
		msg = fmt.Sprintf("%s these %d accounts on your X account? %s", verb, len(items), strings.Join(names, ", "))
	}
	if g.DryRun {
		msg += " (dry run: nothing will be sent)"
	}
	params := mcp.ElicitationParams{
		Message:         msg,
		RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}},
	}
	state := g.confirmer().mint(c.Tool, c.CanonicalArgs(), c.Client.KeyFingerprint(), checked)
	return &needInput{result: server.NewInputRequestBuilder(state).Elicit(confirmKey, params).ToolResult()}
}

func declined() error {
	return &ToolError{Code: CodeDeclinedByUser, Msg: "the person declined this write, so nothing was sent; do not retry it unless they ask again"}
}

// canElicit reports whether the client declared the elicitation capability,
// for this request (2026-07-28) or at initialize (earlier versions).
func canElicit(ctx context.Context) bool {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		return info.ClientCapabilities != nil && info.ClientCapabilities.Elicitation != nil
	}
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	if !ok {
		return false
	}
	return s.GetClientCapabilities().Elicitation != nil
}

// execute sends one write through the budget and the journal, or simulates
// it in dry-run mode. It returns the gateway's answer.
func (g *Gate) execute(ctx context.Context, c *Call, kind writeKind, it *writeItem) (aisa.FollowState, error) {
	slot, callID, err := g.reserveAndJournal(ctx, c, kind, it)
	if err != nil {
		return aisa.FollowState{}, err
	}
	if g.DryRun {
		st := aisa.FollowState{Following: kind == kindFollow}
		g.journalOutcome(c, it, callID, safety.OutcomeOK, "", "", &st.Following)
		return st, nil
	}
	var st aisa.FollowState
	if kind == kindUnfollow {
		st, err = c.Client.Unfollow(ctx, it.ID)
	} else {
		st, err = c.Client.Follow(ctx, it.ID)
	}
	outcome := safety.OutcomeOK
	switch {
	case err != nil:
		outcome = outcomeOf(err)
	case kind == kindUnfollow && st.Following:
		outcome = safety.OutcomeFailed
		err = &ToolError{Code: CodeNotUnfollowed, RequestID: st.RequestID, Msg: fmt.Sprintf(
			"the gateway answered but X still reports following %s, so the unfollow did not take effect; check with check_x_follow_relationship, and retry once later", it.ID)}
	case kind == kindFollow && !st.Following && !st.PendingFollow:
		outcome = safety.OutcomeFailed
		err = &ToolError{Code: CodeNotFollowed, RequestID: st.RequestID, Msg: fmt.Sprintf(
			"the gateway answered but X reports neither following %s nor a pending request, so the follow did not take effect; check with check_x_follow_relationship, and retry once later", it.ID)}
	}
	if slot != nil {
		if outcome == safety.OutcomeFailed {
			slot.Release()
		} else {
			slot.Keep()
		}
	}
	if outcome != safety.OutcomeFailed {
		g.followingChanged(c, kind, it.ID)
	}
	if err != nil {
		te := *asToolError(err, "with id "+it.ID)
		if outcome == safety.OutcomeUnknown {
			if te.Code == CodeCanceled {
				te.Msg = "the call was cancelled while the write was on its way to the gateway"
			}
			te.Msg = strings.TrimRight(te.Msg, ". ") + "." + unknownNote(kind)
			te.unknown = true
		}
		g.journalOutcome(c, it, callID, outcome, te.Code, te.RequestID, nil)
		return st, &te
	}
	g.journalOutcome(c, it, callID, safety.OutcomeOK, "", st.RequestID, &st.Following)
	return st, nil
}

// reserveAndJournal takes the unfollow's budget slot and writes its intent,
// as one step for every process sharing the journal. A refusal is journaled.
func (g *Gate) reserveAndJournal(ctx context.Context, c *Call, kind writeKind, it *writeItem) (safety.Slot, string, error) {
	var slot safety.Slot
	var budgetErr, stopErr error
	callID := safety.NewCallID()
	step := func(appendRec func(safety.Record) error) error {
		if it.allow != nil {
			if stopErr = it.allow(); stopErr != nil {
				return nil
			}
		}
		if it.fence != nil && !g.DryRun {
			rb, ok := g.Budget.(*safety.RedisBudget)
			if !ok {
				stopErr = safety.ErrFenced // a lease with no shared store: a wiring bug; send nothing
				return nil
			}
			s, err := rb.ReserveFenced(ctx, c.Client.KeyFingerprint(), kind == kindUnfollow, *it.fence)
			switch {
			case errors.Is(err, safety.ErrFenced):
				stopErr = err
				return nil
			case err != nil:
				budgetErr = err
				return nil
			}
			slot = s
		} else if kind == kindUnfollow && g.Budget != nil && !g.DryRun {
			s, err := g.Budget.Reserve(ctx, c.Client.KeyFingerprint())
			if err != nil {
				budgetErr = err
				return nil
			}
			slot = s
		}
		if appendRec == nil {
			return nil
		}
		if err := appendRec(g.record(c, it, callID, safety.PhaseIntent)); err != nil {
			if slot != nil {
				slot.Release()
				slot = nil
			}
			return err
		}
		return nil
	}
	var err error
	if g.Journal != nil {
		err = g.Journal.Exclusive(step)
	} else {
		err = step(nil)
	}
	if err != nil {
		c.Logger.Error("journal write failed; refusing writes", "err", err)
		g.Metrics.Write(c.Tool, safety.OutcomeRefused, CodeJournalUnavailable)
		return nil, "", journalUnavailable()
	}
	if stopErr != nil {
		return nil, "", stopErr
	}
	if budgetErr != nil {
		return nil, "", g.refuse(c, it, budgetError(budgetErr))
	}
	return slot, callID, nil
}

func journalUnavailable() error {
	return &ToolError{Code: CodeJournalUnavailable, Msg: "the write journal cannot be written, so this server refuses every write and nothing was sent; the person must fix the journal file (disk full, permissions) and restart the server"}
}

// outcomeOf sorts a failed write: failed when the gateway said no or the
// request never left, unknown when it may have been acted on.
func outcomeOf(err error) string {
	var ge *aisa.Error
	if errors.As(err, &ge) {
		if ge.MaybeApplied {
			return safety.OutcomeUnknown
		}
		return safety.OutcomeFailed
	}
	return safety.OutcomeUnknown
}

func unknownNote(kind writeKind) string {
	if kind == kindFollow {
		return " The outcome is unknown: the follow may have happened; check with check_x_follow_relationship before retrying."
	}
	return " The outcome is unknown: the unfollow may have happened, so it counts against the unfollow budget and `xfollow-mcp undo` covers it; check with check_x_follow_relationship before retrying."
}

// record builds a journal record for it with the call's gateway and key.
func (g *Gate) record(c *Call, it *writeItem, callID, phase string) safety.Record {
	r := safety.Record{CallID: callID, Phase: phase, Tool: c.Tool,
		TargetUserID: it.ID, ExpectedUsername: it.Expected, Username: it.Username,
		Gateway: g.Gateway, KeyFingerprint: c.Client.KeyFingerprint(),
		DryRun: g.DryRun, WasFollowing: it.WasFollowing, JobID: it.JobID}
	if g.Now != nil {
		r.Time = g.Now().UTC()
	}
	return r
}

// journalIntent writes the intent record; failing that, the write is refused.
func (g *Gate) journalIntent(c *Call, it *writeItem) (string, error) {
	callID := safety.NewCallID()
	if g.Journal == nil {
		return callID, nil
	}
	if err := g.Journal.Append(g.record(c, it, callID, safety.PhaseIntent)); err != nil {
		c.Logger.Error("journal write failed; refusing writes", "err", err)
		return "", journalUnavailable()
	}
	return callID, nil
}

func (g *Gate) journalOutcome(c *Call, it *writeItem, callID, outcome, code, reqID string, following *bool) {
	g.Metrics.Write(c.Tool, outcome, code)
	if g.Journal == nil {
		return
	}
	r := g.record(c, it, callID, safety.PhaseOutcome)
	r.Outcome, r.Code, r.RequestID, r.Following = outcome, code, reqID, following
	if err := g.Journal.Append(r); err != nil {
		c.Logger.Error("journal outcome write failed; later writes will be refused", "err", err)
	}
}

// settle journals a write that ends without being sent: refused (a safety
// control stopped it) or noop (nothing to do). If the journal cannot be
// written, the result stands all the same.
func (g *Gate) settle(c *Call, it *writeItem, outcome, code string) {
	if g.Journal == nil {
		g.Metrics.Write(c.Tool, outcome, code)
		return
	}
	if callID, err := g.journalIntent(c, it); err == nil {
		g.journalOutcome(c, it, callID, outcome, code, "", nil) // counts it
	} else {
		g.Metrics.Write(c.Tool, outcome, code)
	}
}

// refuse journals a refused write and returns err as a *ToolError.
func (g *Gate) refuse(c *Call, it *writeItem, err error) error {
	te := asToolError(err, "")
	g.settle(c, it, safety.OutcomeRefused, te.Code)
	return te
}

func (g *Gate) refuseAll(c *Call, items []*writeItem, err error) error {
	for _, it := range items {
		_ = g.refuse(c, it, err)
	}
	return err
}

// needInput carries a result that asks the client for input (confirmation)
// through the run function's error return to the define helper.
type needInput struct{ result *mcp.CallToolResult }

func (n *needInput) Error() string { return "input required" }

// writeOne is the whole path of a single-account write tool. For an unfollow
// of an account the relationship check found not followed, it sends nothing
// and reports it through it.WasFollowing.
func (g *Gate) writeOne(ctx context.Context, c *Call, kind writeKind, it *writeItem) (aisa.FollowState, error) {
	st, answer, err := g.approval(ctx, c)
	if err != nil {
		return aisa.FollowState{}, g.refuse(c, it, err)
	}
	if st != nil {
		applyState(st, []*writeItem{it})
	}
	if err := g.precheck(ctx, c, kind, it, st != nil); err != nil {
		return aisa.FollowState{}, g.refuse(c, it, err)
	}
	if kind == kindUnfollow {
		if st == nil {
			g.checkRelationships(ctx, c, []*writeItem{it})
		}
		if it.notFollowed() {
			g.settle(c, it, safety.OutcomeNoop, "")
			return aisa.FollowState{Following: false}, nil
		}
		if err := g.checkBudget(ctx, c, 1); err != nil {
			return aisa.FollowState{}, g.refuse(c, it, err)
		}
	}
	if g.Confirm {
		if st == nil {
			err := g.ask(ctx, c, kind, []*writeItem{it}, []*writeItem{it})
			var ni *needInput
			if errors.As(err, &ni) {
				return aisa.FollowState{}, err
			}
			return aisa.FollowState{}, g.refuse(c, it, err)
		}
		if answer != mcp.ElicitationResponseActionAccept {
			return aisa.FollowState{}, g.refuse(c, it, declined())
		}
	}
	return g.execute(ctx, c, kind, it)
}
