package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/httpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/oauth"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// keyProbeHandle is the account the consent page looks up to check a key:
// a read that changes nothing, answered for any valid key.
const keyProbeHandle = "X"

// newOAuth builds the authorization server of --oauth. With --state its
// refresh tokens and used codes live in the same Redis as the budget, so
// every replica honours them; otherwise in this process.
func (a *app) newOAuth() (*oauth.Server, func(), error) {
	var store oauth.Store = oauth.NewMemoryStore(nil)
	closeStore := func() {}
	if a.cfg.State != "" {
		opts, err := safety.ParseStateURL(a.cfg.State)
		if err != nil {
			return nil, nil, fmt.Errorf("--state %s: %v", config.RedactURL(a.cfg.State), err)
		}
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		opts.MaxRetries = 1
		opts.ContextTimeoutEnabled = true
		opts.DisableIdentity = true
		rdb := redis.NewClient(opts)
		store = oauth.NewRedisStore(rdb)
		closeStore = func() { _ = rdb.Close() }
	}
	s, err := oauth.New(oauth.Options{
		PublicURL: a.cfg.PublicURL,
		Secret:    a.cfg.Secret,
		Store:     store,
		KeyFormat: httpserver.ValidCallerKey,
		CheckKey:  a.checkKey,
		Logger:    a.logger,
	})
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	return s, closeStore, nil
}

// checkKey asks the gateway, with the key, for a public profile. Only a
// refusal of the key (401) makes it wrong; an unknown user or an unlinked
// X account still proves the key is accepted.
func (a *app) checkKey(ctx context.Context, key string) error {
	_, err := a.deps.Client.WithKey(key).UserInfo(ctx, keyProbeHandle)
	var e *aisa.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.Kind == aisa.KindAuthInvalid:
		return oauth.ErrKeyRefused
	case errors.As(err, &e) && (e.Kind == aisa.KindUserNotFound || e.Kind == aisa.KindAccountNotLinked):
		return nil
	}
	return err
}
