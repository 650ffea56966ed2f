package tools

import "sync"

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
