package tools

import (
	"context"
	"slices"
)

// linkScopes are the scopes auth_twitter documents.
var linkScopes = []string{"follows.write", "tweet.read", "users.read", "tweet.write", "like.write", "dm.read", "dm.write"}

// LinkArgs is the input of link_x_account.
type LinkArgs struct {
	Scopes []string `json:"scopes,omitempty" jsonschema:"minItems=1,uniqueItems=true,enum=follows.write,enum=tweet.read,enum=users.read,enum=tweet.write,enum=like.write,enum=dm.read,enum=dm.write" jsonschema_description:"X OAuth scopes to request; leave out for the gateway's default set. Following and unfollowing need follows.write, tweet.read and users.read."`
}

func (a LinkArgs) validate() error {
	if a.Scopes != nil && len(a.Scopes) == 0 {
		return invalidArg("scopes is an empty array: leave it out for the default set, or send %s", fieldHelp("scopes"))
	}
	seen := map[string]bool{}
	for _, s := range a.Scopes {
		if !slices.Contains(linkScopes, s) {
			return invalidArg("scope %s is not one the gateway supports: send %s", quoteArg(s), fieldHelp("scopes"))
		}
		if seen[s] {
			return invalidArg("scope %s is listed twice: list each scope once", quoteArg(s))
		}
		seen[s] = true
	}
	return nil
}

// LinkResult is the output of link_x_account.
type LinkResult struct {
	AuthURL   string `json:"auth_url" jsonschema_description:"X authorization link for the person to open in their browser."`
	ExpiresAt string `json:"expires_at,omitempty" jsonschema_description:"When the link stops working (RFC 3339), when the gateway says."`
	NextStep  string `json:"next_step" jsonschema_description:"What to tell the person."`
}

func linkXAccount() Tool {
	return define(Spec{
		Name:  "link_x_account",
		Title: "Link X account",
		Description: "Start linking the person's X account to their AIsa key: returns an authorization link for the person to open and approve. " +
			"Call it when a write fails with x_account_not_linked. Generating the link does not link anything: only the person's approval does.",
		ReadOnly:    false,
		Destructive: false,
		Idempotent:  false,
		OpenWorld:   true,
	}, runLink)
}

func runLink(ctx context.Context, c *Call, in LinkArgs) (LinkResult, error) {
	if !c.Client.Configured() {
		return LinkResult{}, notConfigured()
	}
	l, err := c.Client.StartAuth(ctx, in.Scopes)
	if err != nil {
		te := asToolError(err, "")
		if te.Code == CodeGatewayError {
			te.Msg += " If scopes were given, try again without them."
		}
		return LinkResult{}, te
	}
	return LinkResult{
		AuthURL:   l.AuthURL,
		ExpiresAt: l.ExpiresAt,
		NextStep: "Show auth_url to the person and ask them to open it and approve access; the link expires in about 10 minutes. " +
			"Linking is done only when they have approved: then retry the write. Do not say the account is linked before that.",
	}, nil
}
