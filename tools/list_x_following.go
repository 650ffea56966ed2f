package tools

import (
	"context"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// ListArgs is the input of list_x_following and list_x_followers.
type ListArgs struct {
	Username string `json:"username" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle whose list to read (a leading @ is allowed)."`
	Cursor   string `json:"cursor,omitempty" jsonschema:"maxLength=512" jsonschema_description:"next_cursor from the previous page; leave out for the first page."`
	PageSize int    `json:"page_size,omitempty" jsonschema:"minimum=20,maximum=200" jsonschema_description:"Accounts per page, 20 to 200 (default 200)."`
}

func (a ListArgs) validate() error {
	if _, err := checkUsername("username", a.Username); err != nil {
		return err
	}
	if len(a.Cursor) > 512 {
		return invalidArg("cursor is longer than any cursor this server returns: pass next_cursor from the previous page unchanged")
	}
	if a.PageSize != 0 && (a.PageSize < 20 || a.PageSize > 200) {
		return invalidArg("page_size %d is out of range: send %s, or leave it out", a.PageSize, fieldHelp("page_size"))
	}
	return nil
}

// ListedUser is one account in a list.
type ListedUser struct {
	ID       string `json:"id" jsonschema_description:"Numeric X user id, as a string."`
	Username string `json:"username" jsonschema_description:"Handle, without @."`
	Name     string `json:"name" jsonschema_description:"Display name."`
}

// ListResult is the output of list_x_following and list_x_followers.
type ListResult struct {
	Users       []ListedUser `json:"users" jsonschema_description:"The accounts on this page, most recent first."`
	HasNextPage bool         `json:"has_next_page" jsonschema_description:"True when another page follows."`
	NextCursor  string       `json:"next_cursor" jsonschema_description:"Pass as cursor to get the next page; empty on the last page."`
}

func listXFollowing() Tool {
	return define(Spec{
		Name:  "list_x_following",
		Title: "List accounts an X user follows",
		Description: "List the accounts an X user follows, one page at a time (id, handle, name; most recent first). " +
			"Pass next_cursor back as cursor for the next page.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   true,
	}, func(ctx context.Context, c *Call, in ListArgs) (ListResult, error) {
		return runList(ctx, c, in, c.Client.Followings)
	})
}

type listFunc func(ctx context.Context, username, cursor string, pageSize int) (aisa.Page, error)

func runList(ctx context.Context, c *Call, in ListArgs, list listFunc) (ListResult, error) {
	name, _ := checkUsername("username", in.Username)
	if !c.Client.Configured() {
		return ListResult{}, notConfigured()
	}
	p, err := list(ctx, name, in.Cursor, in.PageSize)
	if err != nil {
		return ListResult{}, asToolError(err, "@"+name)
	}
	out := ListResult{Users: make([]ListedUser, 0, len(p.Users)), HasNextPage: p.HasNextPage, NextCursor: p.NextCursor}
	for _, u := range p.Users {
		out.Users = append(out.Users, ListedUser{ID: u.ID, Username: u.Username, Name: u.Name})
	}
	return out, nil
}
