package tools

import (
	"fmt"
	"strings"
	"sync"
)

// All returns every tool. This is the one list of tools. The tools are built
// once (reflecting their schemas costs milliseconds) and are immutable.
func All() []Tool { return all() }

var all = sync.OnceValue(func() []Tool {
	return []Tool{
		unfollowXUser(),
		unfollowXUsers(),
		followXUser(),
		getXUser(),
		checkXFollowRelationship(),
		listXFollowing(),
		listXFollowers(),
		findXUnfollowCandidates(),
		linkXAccount(),
		startXUnfollowJob(),
		getXUnfollowJobs(),
		controlXUnfollowJob(),
		getXUnfollowHistory(),
	}
})

// Allowed reports whether t may be registered: in read-only mode only the
// tools whose readOnlyHint is true, derived from the annotations alone.
func Allowed(t Tool, readOnly bool) bool {
	if !readOnly {
		return true
	}
	h := t.MCP.Annotations.ReadOnlyHint
	return h != nil && *h
}

// ReadOnlyRefusal is the answer to a call of name on a read-only server,
// and whether name is a tool read-only mode withholds. Unknown names are
// not refused here: they stay mcp-go's "tool not found".
func ReadOnlyRefusal(name string) (string, bool) {
	var reads []string
	withheld := false
	for _, t := range All() {
		if Allowed(t, true) {
			reads = append(reads, t.Name)
		} else if t.Name == name {
			withheld = true
		}
	}
	if !withheld {
		return "", false
	}
	return fmt.Sprintf("[read_only] %s changes the X account, and this server runs read-only (--read-only or XFOLLOW_READ_ONLY), so it offers only %s; nothing was sent. Tell the person: to allow changes they must restart the server without read-only mode.",
		name, strings.Join(reads, ", ")), true
}
