package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// maxBatch is the most ids one unfollow_x_users call takes.
const maxBatch = 50

// BatchUnfollowArgs is the input of unfollow_x_users.
type BatchUnfollowArgs struct {
	TargetUserIDs []string `json:"target_user_ids" jsonschema:"minItems=1,maxItems=50,uniqueItems=true" jsonschema_description:"1 to 50 distinct numeric X user ids, each a string of 1-19 digits. Not @handles: resolve them with get_x_user first."`
}

func (a BatchUnfollowArgs) validate() error {
	n := len(a.TargetUserIDs)
	if n == 0 {
		return invalidArg("target_user_ids is empty: send %s", fieldHelp("target_user_ids"))
	}
	if n > maxBatch {
		return invalidArg("target_user_ids has %d ids, more than %d: split them into calls of at most %d", n, maxBatch, maxBatch)
	}
	seen := make(map[string]bool, n)
	for i, id := range a.TargetUserIDs {
		if err := checkID(fmt.Sprintf("target_user_ids[%d]", i), id); err != nil {
			return err
		}
		if seen[id] {
			return invalidArg("target_user_ids lists %s twice: list each id once", id)
		}
		seen[id] = true
	}
	return nil
}

// Batch item statuses.
const (
	statusUnfollowed   = "unfollowed"
	statusNotFollowing = "not_following"
	statusRefused      = "refused"
	statusError        = "error"
	statusUnknown      = "unknown"
)

// BatchItem is the outcome for one id.
type BatchItem struct {
	TargetUserID string `json:"target_user_id" jsonschema_description:"The id."`
	Status       string `json:"status" jsonschema:"enum=unfollowed,enum=not_following,enum=refused,enum=error,enum=unknown" jsonschema_description:"unfollowed; not_following (the account did not follow it, so nothing was sent); refused (a safety control stopped it; nothing was sent); error (the gateway said no); unknown (no trustworthy answer: it may have been unfollowed, counts against the budget, and undo covers it)."`
	Code         string `json:"code,omitempty" jsonschema_description:"The error code when not unfollowed, as in single-call errors."`
	Message      string `json:"message,omitempty" jsonschema_description:"What happened and what to do, when not unfollowed."`
}

// BatchResult is the output of unfollow_x_users.
type BatchResult struct {
	Results           []BatchItem `json:"results" jsonschema_description:"One entry per attempted id, in order."`
	NotAttempted      []string    `json:"not_attempted" jsonschema_description:"Ids not attempted because the batch stopped early; nothing was sent for them."`
	Budget            budgetView  `json:"budget" jsonschema_description:"What is left of this server's unfollow budget."`
	RetryAfterSeconds int         `json:"retry_after_seconds,omitempty" jsonschema_description:"When a rate limit or the budget stopped the batch: seconds to wait before sending not_attempted again."`
	Stopped           string      `json:"stopped,omitempty" jsonschema_description:"Why the batch stopped early, as an error text."`
	DryRun            bool        `json:"dry_run,omitempty" jsonschema_description:"True in dry-run mode: every check ran but nothing was sent."`
	Note              string      `json:"note,omitempty" jsonschema_description:"What would have happened, in dry-run mode."`
}

func unfollowXUsers() Tool {
	return define(Spec{
		Name:  "unfollow_x_users",
		Title: "Unfollow X users (batch)",
		Description: "Unfollow up to 50 accounts on the person's real X account in one call, each by numeric X user id as a string (resolve @handles with get_x_user first). " +
			"Each id passes the same safety checks as unfollow_x_user; the result lists each id's status. The batch stops at an auth or link error, a rate limit or the budget, and lists the rest as not_attempted.",
		ReadOnly:    false,
		Destructive: true,
		Idempotent:  true,
		OpenWorld:   true,
	}, runBatchUnfollow)
}

// batchStops are the codes after which the rest of a batch is not attempted.
var batchStops = map[string]bool{
	CodeAuthInvalid: true, CodeNotLinked: true, CodeNotConfigured: true, CodeJournalUnavailable: true,
	CodeCanceled: true, CodeRateLimited: true, CodeBudgetExhausted: true, CodeStateUnavailable: true,
}

func runBatchUnfollow(ctx context.Context, c *Call, in BatchUnfollowArgs) (BatchResult, error) {
	if !c.Client.Configured() {
		return BatchResult{}, notConfigured()
	}
	g := c.Gate
	out := BatchResult{Results: []BatchItem{}, NotAttempted: []string{}, DryRun: g.DryRun}

	items := make([]*writeItem, len(in.TargetUserIDs))
	for i, id := range in.TargetUserIDs {
		items[i] = &writeItem{ID: id}
	}
	st, answer, err := g.approval(ctx, c)
	if err != nil {
		return BatchResult{}, g.refuseAll(c, items, err)
	}
	if st != nil && !st.covers(items) {
		st = nil // minted for other items: ask again
	}
	if st != nil {
		applyState(st, items)
	}
	// Checks that need no consent first, so the person is asked only about
	// ids that can go ahead. Nothing is journaled until the call's final
	// round, so a confirmation round trip journals each refusal once.
	refused := map[string]*ToolError{}
	var ready, toWrite []*writeItem
	for _, it := range items {
		if err := g.precheck(ctx, c, kindUnfollow, it, st != nil); err != nil {
			refused[it.ID] = asToolError(err, "")
			continue
		}
		ready = append(ready, it)
	}
	if st == nil {
		g.checkRelationships(ctx, c, ready)
	}
	for _, it := range ready {
		if !it.notFollowed() {
			toWrite = append(toWrite, it)
		}
	}
	settleChecked := func() {
		for _, it := range items {
			if te, ok := refused[it.ID]; ok {
				g.settle(c, it, safety.OutcomeRefused, te.Code)
			} else if it.notFollowed() {
				g.settle(c, it, safety.OutcomeNoop, "")
			}
		}
	}
	if g.Confirm && len(toWrite) > 0 {
		var err error
		if st == nil {
			err = g.ask(ctx, c, kindUnfollow, toWrite, items)
			var ni *needInput
			if errors.As(err, &ni) {
				return BatchResult{}, err
			}
		} else if answer != mcp.ElicitationResponseActionAccept {
			err = declined()
		}
		if err != nil {
			settleChecked()
			return BatchResult{}, g.refuseAll(c, toWrite, err)
		}
	}

	progress := progressReporter(ctx, c, len(items))
	fp := c.Client.KeyFingerprint()
	dryUsed := 0 // what a dry run would have spent of the budget in this call
	for i, it := range items {
		if out.Stopped != "" || ctx.Err() != nil {
			if out.Stopped == "" {
				out.Stopped = (&ToolError{Code: CodeCanceled, Msg: "the call was cancelled; the ids in not_attempted were not sent"}).Error()
			}
			out.NotAttempted = append(out.NotAttempted, in.TargetUserIDs[i:]...)
			break
		}
		if te, ok := refused[it.ID]; ok {
			g.settle(c, it, safety.OutcomeRefused, te.Code)
			out.Results = append(out.Results, BatchItem{TargetUserID: it.ID, Status: statusRefused, Code: te.Code, Message: te.Msg})
			progress(i + 1)
			continue
		}
		if it.notFollowed() {
			g.settle(c, it, safety.OutcomeNoop, "")
			out.Results = append(out.Results, BatchItem{TargetUserID: it.ID, Status: statusNotFollowing,
				Message: fmt.Sprintf("@%s does not follow %s; nothing was sent and no budget was spent", g.Account, describe(it))})
			progress(i + 1)
			continue
		}
		var err error
		if g.DryRun && g.Budget != nil {
			// A dry run spends no real slot, but counts its own.
			if berr := g.Budget.Check(ctx, fp, dryUsed+1); berr != nil {
				err = g.refuse(c, it, budgetError(berr))
			}
		}
		if err == nil {
			_, err = g.execute(ctx, c, kindUnfollow, it)
		}
		if err == nil {
			dryUsed++
			out.Results = append(out.Results, BatchItem{TargetUserID: it.ID, Status: statusUnfollowed})
			progress(i + 1)
			continue
		}
		te := asToolError(err, "with id "+it.ID)
		status := statusError
		switch {
		case te.Code == CodeBudgetExhausted || te.Code == CodeJournalUnavailable || te.Code == CodeStateUnavailable:
			status = statusRefused
		case te.unknown:
			status = statusUnknown
		}
		out.Results = append(out.Results, BatchItem{TargetUserID: it.ID, Status: status, Code: te.Code, Message: te.Msg})
		progress(i + 1)
		if batchStops[te.Code] || (te.Code == CodeUnavailable && te.RetryAfter > 0) {
			// What is left of what was asked: this id and the rest.
			left, spent := len(items)-i, 0
			if g.DryRun {
				spent = dryUsed // counted here, never in the budget
			}
			if lt, ok := g.withWhatIsLeft(ctx, c, te, left, len(items), spent).(*ToolError); ok {
				te = lt
				out.Results[len(out.Results)-1].Message = te.Msg
			}
			out.Stopped = te.Error()
			out.RetryAfterSeconds = te.RetryAfter
		}
	}
	out.Budget = g.budgetView(ctx, c)
	if g.DryRun {
		n, stopped := 0, 0
		for _, r := range out.Results {
			switch {
			case r.Status == statusUnfollowed:
				n++
			case r.Code == CodeBudgetExhausted:
				stopped++
			}
		}
		writable := map[string]bool{}
		for _, it := range toWrite {
			writable[it.ID] = true
		}
		for _, id := range out.NotAttempted {
			if writable[id] { // refused and not-followed ids need no budget
				stopped++
			}
		}
		out.Note = fmt.Sprintf("dry run: %d of %d ids passed every check and would have been unfollowed; nothing was sent to the gateway", n, len(in.TargetUserIDs))
		if stopped > 0 && strings.Contains(out.Stopped, CodeBudgetExhausted) {
			out.Note += fmt.Sprintf("; %d were stopped by the unfollow budget", stopped)
		}
	}
	return out, nil
}

// progressReporter sends notifications/progress when the client gave a
// progress token; otherwise it does nothing.
func progressReporter(ctx context.Context, c *Call, total int) func(done int) {
	meta := c.Request.Params.Meta
	if meta == nil || meta.ProgressToken == nil {
		return func(int) {}
	}
	token := meta.ProgressToken
	return func(done int) {
		err := notify(ctx, "notifications/progress", map[string]any{
			"progressToken": token,
			"progress":      done,
			"total":         total,
			"message":       fmt.Sprintf("%d of %d ids processed", done, total),
		})
		if err != nil {
			c.Logger.Debug("progress notification not sent", "err", err)
		}
	}
}
