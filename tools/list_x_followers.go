package tools

import (
	"context"
)

func listXFollowers() Tool {
	return define(Spec{
		Name:  "list_x_followers",
		Title: "List an X user's followers",
		Description: "List the accounts that follow an X user, one page at a time (id, handle, name; most recent first). " +
			"Pass next_cursor back as cursor for the next page.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   true,
	}, func(ctx context.Context, c *Call, in ListArgs) (ListResult, error) {
		return runList(ctx, c, in, c.Client.Followers)
	})
}
