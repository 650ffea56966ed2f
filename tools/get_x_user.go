package tools

import (
	"context"
)

// GetUserArgs is the input of get_x_user.
type GetUserArgs struct {
	Username string `json:"username" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"X handle to look up, e.g. \"TwitterDev\" (a leading @ is allowed)."`
}

func (a GetUserArgs) validate() error {
	_, err := checkUsername("username", a.Username)
	return err
}

// UserResult is the output of get_x_user.
type UserResult struct {
	ID             string `json:"id" jsonschema_description:"Numeric X user id, as a string: pass it as target_user_id."`
	Username       string `json:"username" jsonschema_description:"The handle, without @."`
	Name           string `json:"name" jsonschema_description:"Display name."`
	Protected      *bool  `json:"protected,omitempty" jsonschema_description:"True for a protected account (a follow needs its approval)."`
	Verified       *bool  `json:"verified,omitempty" jsonschema_description:"True for a verified account."`
	FollowersCount *int64 `json:"followers_count,omitempty" jsonschema_description:"How many accounts follow it."`
	FollowingCount *int64 `json:"following_count,omitempty" jsonschema_description:"How many accounts it follows."`
}

func getXUser() Tool {
	return define(Spec{
		Name:  "get_x_user",
		Title: "Get X user",
		Description: "Look up an X account by handle and return its numeric id and profile facts (name, protected, verified, follower counts). " +
			"Call it before unfollow_x_user or follow_x_user when you only know the @handle, and pass the handle on as expected_username.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   true,
	}, runGetUser)
}

func runGetUser(ctx context.Context, c *Call, in GetUserArgs) (UserResult, error) {
	name, _ := checkUsername("username", in.Username)
	if !c.Client.Configured() {
		return UserResult{}, notConfigured()
	}
	u, err := c.Client.UserInfo(ctx, name)
	if err != nil {
		te := asToolError(err, "@"+name)
		if te.Code == CodeUserNotFound {
			te.Msg = "the handle @" + name + " does not exist on X or the account is suspended; check the spelling with the person, and do not retry unchanged"
		}
		return UserResult{}, te
	}
	return UserResult{
		ID: u.ID, Username: u.Username, Name: u.Name,
		Protected: u.Protected, Verified: u.Verified,
		FollowersCount: u.FollowersCount, FollowingCount: u.FollowingCount,
	}, nil
}
