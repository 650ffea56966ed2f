package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
)

// TestReplicasShareRedis: two servers with one public URL, one secret and
// one Redis, as two replicas behind a balancer. A client registers and
// consents on one and exchanges and refreshes on the other; a code or a
// refresh token used on one cannot be used again on the other. Afterwards
// no Redis key or value holds the AIsa key or a token.
func TestReplicasShareRedis(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	opts, err := redis.ParseURL(rs.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	store := NewRedisStore(rdb)
	const public = "https://mcp.example.test"
	a := newFixture(t, func(o *Options) { o.Store, o.PublicURL = store, public })
	b := newFixture(t, func(o *Options) { o.Store, o.PublicURL = store, public })
	// b's listener serves b; metadata from either names the one issuer.
	if a.s.Issuer() != public || b.s.Resource() != public+"/mcp" {
		t.Fatalf("issuer %s", a.s.Issuer())
	}

	id, code := a.code()
	tk, r := b.exchange(id, code, verifier)
	if r.status != http.StatusOK {
		t.Fatalf("exchange on the other replica: %d %s", r.status, r.body)
	}
	if key, ok := a.s.Verify(tk.Access); !ok || key != goodKey {
		t.Error("a token from one replica does not verify on the other")
	}
	next, r := b.refresh(id, tk.Refresh)
	if r.status != http.StatusOK {
		t.Fatalf("refresh on b: %s", r.body)
	}
	if _, r := a.refresh(id, tk.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("an old refresh token worked on the other replica: %s", r.body)
	}
	if _, r := b.refresh(id, next.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("the family survived the reuse: %s", r.body)
	}
	// A second family, revoked on one replica, is refused by the other.
	id2, code2 := b.code()
	tk2, _ := a.exchange(id2, code2, verifier)
	if r := b.postForm(PathRevoke, url.Values{"token": {tk2.Refresh}}); r.status != http.StatusOK {
		t.Fatal(r.body)
	}
	if _, r := a.refresh(id2, tk2.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("a revoked family worked on the other replica: %s", r.body)
	}
	// A code used on one replica cannot be used again on the other, and
	// that takes the tokens issued for it with it.
	id4, code4 := b.code()
	tk4, _ := a.exchange(id4, code4, verifier)
	if _, r := b.exchange(id4, code4, verifier); r.status != http.StatusBadRequest {
		t.Errorf("the code was used again on the other replica: %s", r.body)
	}
	if _, r := a.refresh(id4, tk4.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("the tokens of a reused code survived: %s", r.body)
	}
	// And one live family for the dump below.
	id3, code3 := a.code()
	tk3, _ := b.exchange(id3, code3, verifier)

	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	secrets := []string{goodKey, tk4.Refresh, code4, tk.Access, tk.Refresh, next.Refresh, tk2.Refresh, tk3.Refresh, tk3.Access, code, code2, code3}
	for _, k := range keys {
		if !strings.HasPrefix(k, RedisPrefix) {
			t.Errorf("key %q outside %s", k, RedisPrefix)
		}
		v, _ := rdb.Get(ctx, k).Result()
		ttl, _ := rdb.TTL(ctx, k).Result()
		if ttl <= 0 {
			t.Errorf("key %q has no TTL", k)
		}
		for _, s := range secrets {
			if strings.Contains(k, s) || strings.Contains(v, s) || strings.Contains(v, strings.TrimPrefix(s, refreshPrefix)) {
				t.Errorf("Redis holds a secret (%.12s...) in %q", s, k)
			}
		}
	}
	for _, f := range []*fixture{a, b} {
		if strings.Contains(f.logs.String(), goodKey) {
			t.Error("the key was logged")
		}
	}
}

// TestRedisDown: with the store gone, token requests answer 503 and say
// retry; nothing is issued.
func TestRedisDown(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	opts, _ := redis.ParseURL(rs.URL(0))
	opts.MaxRetries = 0
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	f := newFixture(t, func(o *Options) { o.Store = NewRedisStore(rdb) })
	id, code := f.code()
	rs.Stop()
	tk, r := f.exchange(id, code, verifier)
	if r.status != http.StatusServiceUnavailable || tk.Access != "" || r.header.Get("Retry-After") == "" {
		t.Errorf("store down: %d %s", r.status, r.body)
	}
}
