package tools

import "context"

type callerKeyCtx struct{}

// WithCallerKey returns a context whose tool calls send key to the gateway
// instead of the server's own: the remote mode's --key-from-request puts each
// caller's key here, so it is used for that request's calls only.
func WithCallerKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, callerKeyCtx{}, key)
}

// depsFor returns d, or a copy of d whose client sends the caller's key when
// the request brought one, and whose following cache holds only what that
// key read.
func depsFor(ctx context.Context, d *Deps) *Deps {
	key, ok := ctx.Value(callerKeyCtx{}).(string)
	if !ok || d.Client == nil {
		return d
	}
	cp := *d
	cp.Client = d.Client.WithKey(key)
	cp.Following = d.Following.ForKey(cp.Client.KeyFingerprint())
	return &cp
}
