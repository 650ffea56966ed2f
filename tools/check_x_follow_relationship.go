package tools

import (
	"context"
)

// CheckRelationshipArgs is the input of check_x_follow_relationship.
type CheckRelationshipArgs struct {
	SourceUsername string `json:"source_username" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle of the first account, usually the person's own (a leading @ is allowed)."`
	TargetUsername string `json:"target_username" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle of the other account (a leading @ is allowed)."`
}

func (a CheckRelationshipArgs) validate() error {
	if _, err := checkUsername("source_username", a.SourceUsername); err != nil {
		return err
	}
	_, err := checkUsername("target_username", a.TargetUsername)
	return err
}

// RelationshipResult is the output of check_x_follow_relationship.
type RelationshipResult struct {
	SourceUsername string `json:"source_username" jsonschema_description:"The first handle, without @."`
	TargetUsername string `json:"target_username" jsonschema_description:"The second handle, without @."`
	Following      bool   `json:"following" jsonschema_description:"True when source follows target."`
	FollowedBy     bool   `json:"followed_by" jsonschema_description:"True when target follows source."`
}

func checkXFollowRelationship() Tool {
	return define(Spec{
		Name:  "check_x_follow_relationship",
		Title: "Check X follow relationship",
		Description: "Check whether one X account follows another, both ways, by handle. " +
			"Use it to confirm the relationship before unfollowing and to verify the result after.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   true,
	}, runCheckRelationship)
}

func runCheckRelationship(ctx context.Context, c *Call, in CheckRelationshipArgs) (RelationshipResult, error) {
	src, _ := checkUsername("source_username", in.SourceUsername)
	dst, _ := checkUsername("target_username", in.TargetUsername)
	if !c.Client.Configured() {
		return RelationshipResult{}, notConfigured()
	}
	r, err := c.Client.CheckRelationship(ctx, src, dst)
	if err != nil {
		return RelationshipResult{}, asToolError(err, "@"+src+" or @"+dst)
	}
	return RelationshipResult{SourceUsername: src, TargetUsername: dst, Following: r.Following, FollowedBy: r.FollowedBy}, nil
}
