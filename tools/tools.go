package tools

// All returns every tool, in the order tools/list shows them. This is the
// one list of tools.
func All() []Tool {
	return []Tool{
		unfollowXUser(),
		unfollowXUsers(),
		followXUser(),
		getXUser(),
		checkXFollowRelationship(),
		listXFollowing(),
		listXFollowers(),
		linkXAccount(),
	}
}

// Allowed reports whether t may be registered: in read-only mode only the
// tools whose readOnlyHint is true, derived from the annotations alone.
func Allowed(t Tool, readOnly bool) bool {
	if !readOnly {
		return true
	}
	h := t.MCP.Annotations.ReadOnlyHint
	return h != nil && *h
}
