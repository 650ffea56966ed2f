package config

import (
	"fmt"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// replicas refuses --confirm with a state store (--state: replicas sharing
// it) but no XFOLLOW_SECRET. Each replica would sign the person's approvals
// with a random secret of its own, so an approval answered through another
// replica would be ignored and the person asked again, and again.
func (p *Parser) replicas(c *Config) []error {
	if !c.Confirm || c.State == "" || c.Secret != nil || p.secretErr != nil {
		return nil
	}
	return []error{fmt.Errorf("--confirm with --state (replicas sharing a state store) needs %s: without it each replica signs the person's approvals with a secret of its own, so an approval answered through another replica is ignored and the person is asked again. Set the same %s on every replica (at least %d bytes, for example: openssl rand -base64 48)", secret.Env, secret.Env, secret.MinLen)}
}
