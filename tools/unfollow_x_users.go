package tools

import (
	"context"
	"fmt"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/server"
)

// maxBatch is the most ids one unfollow_x_users call takes.
const maxBatch = 50

// BatchUnfollowArgs is the input of unfollow_x_users.
type BatchUnfollowArgs struct {
	TargetUserIDs []string `json:"target_user_ids" jsonschema:"minItems=1,maxItems=50,uniqueItems=true" jsonschema_description:"1 to 50 distinct numeric X user ids, each a string of 1-19 digits. Not @handles: resolve them with get_x_user first."`
}

// JSONSchemaExtend sets the per-item pattern, which a tag on a slice cannot.
func (BatchUnfollowArgs) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("target_user_ids"); ok && p.Items != nil {
		p.Items.Pattern = idPattern
	}
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
	statusUnfollowed = "unfollowed"
	statusRefused    = "refused"
	statusError      = "error"
)

// BatchItem is the outcome for one id.
type BatchItem struct {
	TargetUserID string `json:"target_user_id" jsonschema_description:"The id."`
	Status       string `json:"status" jsonschema:"enum=unfollowed,enum=refused,enum=error" jsonschema_description:"unfollowed, refused (a safety control stopped it; nothing was sent) or error (the gateway failed)."`
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

func runBatchUnfollow(ctx context.Context, c *Call, in BatchUnfollowArgs) (BatchResult, error) {
	if !c.Client.Configured() {
		return BatchResult{}, notConfigured()
	}
	g := c.Gate
	out := BatchResult{Results: []BatchItem{}, NotAttempted: []string{}, DryRun: g.DryRun}

	// Checks that need no consent first, so the person is asked only about
	// ids that can go ahead.
	var ready []*writeItem
	refused := map[string]*ToolError{}
	for _, id := range in.TargetUserIDs {
		it := &writeItem{ID: id}
		if err := g.precheck(ctx, c, kindUnfollow, it); err != nil {
			refused[id] = asToolError(err, "")
			continue
		}
		ready = append(ready, it)
	}
	if len(ready) > 0 {
		ask, err := g.confirm(ctx, c, kindUnfollow, ready)
		if err != nil {
			return BatchResult{}, err
		}
		if ask != nil {
			return BatchResult{}, &needInput{result: ask}
		}
	}

	progress := progressReporter(ctx, c, len(in.TargetUserIDs))
	byID := make(map[string]*writeItem, len(ready))
	for _, it := range ready {
		byID[it.ID] = it
	}
	for i, id := range in.TargetUserIDs {
		if out.Stopped != "" || ctx.Err() != nil {
			if out.Stopped == "" {
				out.Stopped = (&ToolError{Code: CodeCanceled, Msg: "the call was cancelled; the ids in not_attempted were not sent"}).Error()
			}
			out.NotAttempted = append(out.NotAttempted, in.TargetUserIDs[i:]...)
			break
		}
		if te, ok := refused[id]; ok {
			out.Results = append(out.Results, BatchItem{TargetUserID: id, Status: statusRefused, Code: te.Code, Message: te.Msg})
			progress(i + 1)
			continue
		}
		_, err := g.execute(ctx, c, kindUnfollow, byID[id])
		if err == nil {
			out.Results = append(out.Results, BatchItem{TargetUserID: id, Status: statusUnfollowed})
			progress(i + 1)
			continue
		}
		te := asToolError(err, "with id "+id)
		status := statusError
		switch te.Code {
		case CodeBudgetExhausted, CodeJournalUnavailable:
			status = statusRefused
		}
		out.Results = append(out.Results, BatchItem{TargetUserID: id, Status: status, Code: te.Code, Message: te.Msg})
		progress(i + 1)
		switch te.Code {
		case CodeAuthInvalid, CodeNotLinked, CodeNotConfigured, CodeJournalUnavailable, CodeCanceled:
			out.Stopped = te.Error()
		case CodeRateLimited, CodeBudgetExhausted:
			out.Stopped = te.Error()
			out.RetryAfterSeconds = te.RetryAfter
		}
	}
	out.Budget = g.budgetView()
	if g.DryRun {
		n := 0
		for _, r := range out.Results {
			if r.Status == statusUnfollowed {
				n++
			}
		}
		out.Note = fmt.Sprintf("dry run: %d of %d ids passed every check and would have been unfollowed; nothing was sent to the gateway", n, len(in.TargetUserIDs))
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
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return func(int) {}
	}
	token := meta.ProgressToken
	return func(done int) {
		err := srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
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
