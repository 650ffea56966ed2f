package tools

import (
	"context"
	"fmt"
)

// UnfollowArgs is the input of unfollow_x_user.
type UnfollowArgs struct {
	TargetUserID     string `json:"target_user_id" jsonschema:"pattern=^[0-9]{1\\,19}$" jsonschema_description:"Numeric X user id of the account to unfollow, as a string of 1-19 digits (e.g. \"2244994945\"). Not a @handle: call get_x_user first to get the id."`
	ExpectedUsername string `json:"expected_username,omitempty" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle you believe target_user_id belongs to (a leading @ is allowed). Pass it whenever you know the handle: the server checks that the id is that account and refuses otherwise."`
}

func (a UnfollowArgs) validate() error {
	if err := checkID("target_user_id", a.TargetUserID); err != nil {
		return err
	}
	if a.ExpectedUsername != "" {
		if _, err := checkUsername("expected_username", a.ExpectedUsername); err != nil {
			return err
		}
	}
	return nil
}

// UnfollowResult is the output of unfollow_x_user.
type UnfollowResult struct {
	TargetUserID string     `json:"target_user_id" jsonschema_description:"The id that was unfollowed."`
	Following    bool       `json:"following" jsonschema_description:"Always false on success: the account no longer follows target_user_id."`
	WasFollowing *bool      `json:"was_following,omitempty" jsonschema_description:"With --account set: whether the account followed target_user_id just before this call. false means nothing was sent (there was nothing to unfollow); absent when not checked."`
	Budget       budgetView `json:"budget" jsonschema_description:"What is left of this server's unfollow budget."`
	DryRun       bool       `json:"dry_run,omitempty" jsonschema_description:"True when the server is in dry-run mode: every check passed but nothing was sent."`
	Note         string     `json:"note,omitempty" jsonschema_description:"What happened when nothing was sent: a dry run, or an account that was not followed."`
}

func unfollowXUser() Tool {
	return define(Spec{
		Name:  "unfollow_x_user",
		Title: "Unfollow X user",
		Description: "Unfollow one account on the person's real X account (through the AIsa gateway). " +
			"target_user_id is the numeric X user id as a string; a @handle is not accepted (call get_x_user first). " +
			"Pass expected_username whenever you know the handle, so a wrong id is refused. " +
			"Unfollowing an account not followed changes nothing; when the server knows the linked account (--account) it then sends nothing and reports was_following=false. Undo with follow_x_user.",
		ReadOnly:    false,
		Destructive: true,
		Idempotent:  true,
		OpenWorld:   true,
	}, runUnfollow)
}

func runUnfollow(ctx context.Context, c *Call, in UnfollowArgs) (UnfollowResult, error) {
	if !c.Client.Configured() {
		return UnfollowResult{}, notConfigured()
	}
	it := &writeItem{ID: in.TargetUserID, Expected: optionalUsername(in.ExpectedUsername)}
	if _, err := c.Gate.writeOne(ctx, c, kindUnfollow, it); err != nil {
		return UnfollowResult{}, c.Gate.withWhatIsLeft(ctx, c, err, 1, 1, 0)
	}
	out := UnfollowResult{TargetUserID: in.TargetUserID, Following: false, WasFollowing: it.WasFollowing, Budget: c.Gate.budgetView(ctx, c)}
	if it.notFollowed() {
		out.Note = fmt.Sprintf("@%s does not follow %s, so there was nothing to unfollow: nothing was sent and no budget was spent", c.Gate.Account, describe(it))
		return out, nil
	}
	if c.Gate.DryRun {
		out.DryRun = true
		out.Note = fmt.Sprintf("dry run: every check passed and %s would have been unfollowed; nothing was sent to the gateway", describe(it))
	}
	return out, nil
}

// describe names an account for notes: "@handle (id N)" or "id N".
func describe(it *writeItem) string {
	if it.Username != "" {
		return fmt.Sprintf("@%s (id %s)", it.Username, it.ID)
	}
	return "id " + it.ID
}
