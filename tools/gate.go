package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// Gate is the one place every write passes through. It applies, in order:
// the protected-account list, the identity guard, the unfollow budget, the
// person's confirmation, the journal (intent before the gateway sees the
// request, outcome after) and dry run.
type Gate struct {
	DryRun    bool
	Confirm   bool
	Protected map[string]bool
	Journal   *safety.Journal // nil: no journal
	Budget    *safety.Budget  // nil: no budget
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
	Username string // resolved handle, for the confirmation text
}

// budgetView is what every unfollow result shows of the budget.
type budgetView struct {
	Remaining15m *int `json:"remaining_15m,omitempty" jsonschema_description:"Unfollows left in the current 15-minute window; absent when that window has no limit."`
	Remaining24h *int `json:"remaining_24h,omitempty" jsonschema_description:"Unfollows left in the current 24-hour window; absent when that window has no limit."`
}

func (g *Gate) budgetView() budgetView {
	if g == nil || g.Budget == nil {
		return budgetView{}
	}
	r := g.Budget.Remaining()
	return budgetView{Remaining15m: r.Per15m, Remaining24h: r.Per24h}
}

// precheck runs the checks that need no consent: the protected list (for
// unfollows) and the identity guard. A refusal is journaled.
func (g *Gate) precheck(ctx context.Context, c *Call, kind writeKind, it *writeItem) error {
	if kind == kindUnfollow && g.Protected[it.ID] {
		err := &ToolError{Code: CodeProtectedAccount, Msg: fmt.Sprintf(
			"user %s is on this server's protected list, so it will not be unfollowed; nothing was sent. Tell the person; only they can change the list (--protect / --protect-file)", it.ID)}
		return g.refuse(c, it, err)
	}
	if it.Expected != "" {
		u, err := c.Client.UserInfo(ctx, it.Expected)
		if err != nil {
			te := asToolError(err, "@"+it.Expected)
			if te.Code == CodeUserNotFound {
				te.Msg = fmt.Sprintf("expected_username @%s could not be resolved: the handle does not exist or is suspended, so nothing was written; check the handle with get_x_user", it.Expected)
			} else {
				te.Msg = "could not check expected_username, so nothing was written: " + te.Msg
			}
			return g.refuse(c, it, te)
		}
		if u.ID != it.ID {
			err := &ToolError{Code: CodeIdentityMismatch, Msg: fmt.Sprintf(
				"id %s is not @%s: @%s has id %s, so nothing was written; use the id get_x_user returns for the account the person means", it.ID, it.Expected, u.Username, u.ID)}
			return g.refuse(c, it, err)
		}
		it.Username = u.Username
	}
	return nil
}

// checkBudget reports whether n more unfollows fit.
func (g *Gate) checkBudget(n int) error {
	if g.Budget == nil {
		return nil
	}
	if err := g.Budget.Check(n); err != nil {
		return budgetError(err)
	}
	return nil
}

func budgetError(err error) error {
	var ex *safety.Exhausted
	if !errors.As(err, &ex) {
		return err
	}
	secs := int((ex.RetryAfter + time.Second - 1) / time.Second)
	return &ToolError{Code: CodeBudgetExhausted, RetryAfter: secs, Msg: fmt.Sprintf(
		"this server's unfollow budget of %d per %s is used up, so nothing was sent; the window frees a slot in %d seconds (at %s). Tell the person rather than working around it",
		ex.Window.Limit, spanName(ex.Window.Span), secs, time.Now().Add(ex.RetryAfter).UTC().Format(time.RFC3339))}
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

// confirm asks the person to approve the write, once for all items. It
// returns (nil, nil) when approved or not required, a result to return as
// it is when the client must be asked first, or an error when declined or
// when the client cannot ask.
func (g *Gate) confirm(ctx context.Context, c *Call, kind writeKind, items []*writeItem) (*mcp.CallToolResult, error) {
	if !g.Confirm {
		return nil, nil
	}
	const key = "confirm_write"
	if ans := server.ElicitationResponse(c.Request.Params.InputResponses, key); ans != nil {
		if ans.Action == mcp.ElicitationResponseActionAccept {
			return nil, nil
		}
		err := &ToolError{Code: CodeDeclinedByUser, Msg: "the person declined this write, so nothing was sent; do not retry it unless they ask again"}
		return nil, g.refuseAll(c, items, err)
	}
	if !canElicit(ctx) {
		err := &ToolError{Code: CodeConfirmationUnavailable, Msg: "this server is set to ask the person before every write (--confirm), but this MCP client cannot ask them (no elicitation support), so nothing was sent; the person must use a client with elicitation or restart the server without --confirm"}
		return nil, g.refuseAll(c, items, err)
	}
	verb := "Unfollow"
	if kind == kindFollow {
		verb = "Follow"
	}
	var names []string
	for _, it := range items {
		if it.Username != "" {
			names = append(names, fmt.Sprintf("@%s (id %s)", it.Username, it.ID))
		} else {
			names = append(names, "id "+it.ID)
		}
	}
	msg := fmt.Sprintf("%s %s on your X account?", verb, strings.Join(names, ", "))
	if len(items) > 1 {
		msg = fmt.Sprintf("%s these %d accounts on your X account? %s", verb, len(items), strings.Join(names, ", "))
	}
	if g.DryRun {
		msg += " (dry run: nothing will be sent)"
	}
	params := mcp.ElicitationParams{
		Message: msg,
		RequestedSchema: map[string]any{
			"type":       "object",
			"properties": map[string]any{},
		},
	}
	return server.NewInputRequestBuilder("").Elicit(key, params).ToolResult(), nil
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
	var res *safety.Reservation
	if kind == kindUnfollow && g.Budget != nil {
		r, err := g.Budget.Reserve()
		if err != nil {
			return aisa.FollowState{}, g.refuse(c, it, budgetError(err))
		}
		res = r
	}
	callID, err := g.journalIntent(c, it)
	if err != nil {
		res.Release()
		return aisa.FollowState{}, err
	}
	if g.DryRun {
		res.Release()
		st := aisa.FollowState{Following: kind == kindFollow}
		g.journalOutcome(c, it, callID, safety.OutcomeOK, "", "", &st.Following)
		return st, nil
	}
	var st aisa.FollowState
	if kind == kindUnfollow {
		st, err = c.Client.Unfollow(ctx, it.ID)
		if err == nil && st.Following {
			err = &ToolError{Code: CodeNotUnfollowed, RequestID: st.RequestID, Msg: fmt.Sprintf(
				"the gateway answered but X still reports following %s, so the unfollow did not take effect; check with check_x_follow_relationship, and retry once later", it.ID)}
		}
	} else {
		st, err = c.Client.Follow(ctx, it.ID)
		if err == nil && !st.Following && !st.PendingFollow {
			err = &ToolError{Code: CodeNotFollowed, RequestID: st.RequestID, Msg: fmt.Sprintf(
				"the gateway answered but X reports neither following %s nor a pending request, so the follow did not take effect; check with check_x_follow_relationship, and retry once later", it.ID)}
		}
	}
	if err != nil {
		res.Release()
		te := asToolError(err, "with id "+it.ID)
		reqID := te.RequestID
		g.journalOutcome(c, it, callID, safety.OutcomeError, te.Code, reqID, nil)
		return st, te
	}
	res.Commit()
	g.journalOutcome(c, it, callID, safety.OutcomeOK, "", st.RequestID, &st.Following)
	return st, nil
}

// journalIntent writes the intent record; failing that, the write is refused.
func (g *Gate) journalIntent(c *Call, it *writeItem) (string, error) {
	callID := safety.NewCallID()
	if g.Journal == nil {
		return callID, nil
	}
	err := g.Journal.Append(safety.Record{CallID: callID, Phase: safety.PhaseIntent, Tool: c.Tool,
		TargetUserID: it.ID, ExpectedUsername: it.Expected, DryRun: g.DryRun})
	if err != nil {
		c.Logger.Error("journal write failed; refusing writes", "err", err)
		return "", &ToolError{Code: CodeJournalUnavailable, Msg: "the write journal cannot be written, so this server refuses every write and nothing was sent; the person must fix the journal file (disk full, permissions) and restart the server"}
	}
	return callID, nil
}

func (g *Gate) journalOutcome(c *Call, it *writeItem, callID, outcome, code, reqID string, following *bool) {
	if g.Journal == nil {
		return
	}
	err := g.Journal.Append(safety.Record{CallID: callID, Phase: safety.PhaseOutcome, Tool: c.Tool,
		TargetUserID: it.ID, ExpectedUsername: it.Expected, DryRun: g.DryRun,
		Outcome: outcome, Code: code, RequestID: reqID, Following: following})
	if err != nil {
		c.Logger.Error("journal outcome write failed; later writes will be refused", "err", err)
	}
}

// refuse journals a refused write (intent and outcome) and returns err. If
// the journal cannot be written, the refusal stands all the same.
func (g *Gate) refuse(c *Call, it *writeItem, err error) error {
	te := asToolError(err, "")
	if g.Journal != nil {
		callID, jerr := g.journalIntent(c, it)
		if jerr == nil {
			g.journalOutcome(c, it, callID, safety.OutcomeRefused, te.Code, te.RequestID, nil)
		}
	}
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

// writeOne is the whole path of a single-account write tool.
func (g *Gate) writeOne(ctx context.Context, c *Call, kind writeKind, it *writeItem) (aisa.FollowState, error) {
	if err := g.precheck(ctx, c, kind, it); err != nil {
		return aisa.FollowState{}, err
	}
	if kind == kindUnfollow {
		if err := g.checkBudget(1); err != nil {
			return aisa.FollowState{}, g.refuse(c, it, err)
		}
	}
	ask, err := g.confirm(ctx, c, kind, []*writeItem{it})
	if err != nil {
		return aisa.FollowState{}, err
	}
	if ask != nil {
		return aisa.FollowState{}, &needInput{result: ask}
	}
	return g.execute(ctx, c, kind, it)
}
