package tools

import (
	"context"
	"fmt"
)

// FollowArgs is the input of follow_x_user.
type FollowArgs struct {
	TargetUserID     string `json:"target_user_id" jsonschema:"pattern=^[0-9]{1\\,19}$" jsonschema_description:"Numeric X user id of the account to follow, as a string of 1-19 digits (e.g. \"2244994945\"). Not a @handle: call get_x_user first to get the id."`
	ExpectedUsername string `json:"expected_username,omitempty" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle you believe target_user_id belongs to (a leading @ is allowed). Pass it whenever you know the handle: the server checks that the id is that account and refuses otherwise."`
}

func (a FollowArgs) validate() error {
	return UnfollowArgs(a).validate()
}

// FollowResult is the output of follow_x_user.
type FollowResult struct {
	TargetUserID  string `json:"target_user_id" jsonschema_description:"The id that was followed."`
	Following     bool   `json:"following" jsonschema_description:"True once the account follows target_user_id."`
	PendingFollow bool   `json:"pending_follow" jsonschema_description:"True when target_user_id is protected and the follow request awaits its approval."`
	DryRun        bool   `json:"dry_run,omitempty" jsonschema_description:"True when the server is in dry-run mode: every check passed but nothing was sent."`
	Note          string `json:"note,omitempty" jsonschema_description:"What would have happened, in dry-run mode."`
}

func followXUser() Tool {
	return define(Spec{
		Name:  "follow_x_user",
		Title: "Follow X user",
		Description: "Follow one account from the person's real X account; use it to undo an unfollow. " +
			"target_user_id is the numeric X user id as a string (call get_x_user first if you only know the handle); pass expected_username whenever you know it. " +
			"A protected account gives pending_follow=true until it approves. Following someone already followed is a no-op.",
		ReadOnly:    false,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   true,
	}, runFollow)
}

func runFollow(ctx context.Context, c *Call, in FollowArgs) (FollowResult, error) {
	if !c.Client.Configured() {
		return FollowResult{}, notConfigured()
	}
	it := &writeItem{ID: in.TargetUserID, Expected: optionalUsername(in.ExpectedUsername)}
	st, err := c.Gate.writeOne(ctx, c, kindFollow, it)
	if err != nil {
		return FollowResult{}, err
	}
	out := FollowResult{TargetUserID: in.TargetUserID, Following: st.Following, PendingFollow: st.PendingFollow}
	if c.Gate.DryRun {
		out.DryRun = true
		out.Note = fmt.Sprintf("dry run: every check passed and %s would have been followed; nothing was sent to the gateway", describe(it))
	}
	return out, nil
}
