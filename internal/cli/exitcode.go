package cli

import (
	"encoding/json"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// call's exit codes (the README's table): scripts tell "done" from "stopped
// by a control or a limit" (try later, or ask the person) from "wrong".
const (
	exitOK      = 0 // the tool did all that was asked
	exitError   = 1 // an error: bad arguments, an unknown tool, the gateway said no, the server could not start
	exitUsage   = 2 // the command line itself was wrong
	exitRefused = 3 // refused or partly done: a safety control or a limit stopped all or part of it
)

// exitForError is the exit code of an error result's text.
func exitForError(text string) int {
	if tools.IsRefusal(tools.ErrorCodeOf(text)) {
		return exitRefused
	}
	return exitError
}

// exitForResult is the exit code of a successful result: exitRefused when
// it reports part of the work not done (a batch's refused, failed or
// unknown items, or ids not attempted).
func exitForResult(res *mcp.CallToolResult) int {
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return exitOK
	}
	var r struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
		NotAttempted []string `json:"not_attempted"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return exitOK // not a batch
	}
	if len(r.NotAttempted) > 0 {
		return exitRefused
	}
	for _, it := range r.Results {
		switch it.Status {
		case "unfollowed", "not_following", "":
		default:
			return exitRefused
		}
	}
	return exitOK
}
