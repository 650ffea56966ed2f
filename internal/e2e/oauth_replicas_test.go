package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestOAuthReplicasOnRedis: two --oauth replicas with one XFOLLOW_SECRET,
// one --public-url and one Redis (--state). The person consents on one;
// the client exchanges the code and refreshes on the other, and its access
// token works on both. A code or refresh token used on one is refused by
// the other, and an old refresh token revokes its family everywhere.
// Afterwards Redis holds neither the AIsa key nor any token.
func TestOAuthReplicasOnRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	gw := newRecordingGateway(t, sandbox.Options{})
	const public = "https://mcp.example.test"
	args := []string{"--state", rs.URL(0), "--public-url", public}
	a, b := startOAuth(t, gw.gateway, args), startOAuth(t, gw.gateway, args)

	r := rawGet(t, b.Base+"/.well-known/oauth-protected-resource/mcp")
	if !strings.Contains(r.Body, `"resource":"`+public+`/mcp"`) || !strings.Contains(r.Body, `"authorization_servers":["`+public+`"]`) {
		t.Fatalf("metadata: %s", r.Body)
	}
	c := register(t, a.Base, "https://client.example/cb", "replicas e2e")
	v := pkceRandom()
	// The browser reaches the public URL; the test reaches the replica, so
	// the form's POST proves its origin with Sec-Fetch-Site.
	code := c.consentCode(public+"/mcp", consentKey(1), v, "Sec-Fetch-Site", "same-origin")
	tk, r := c.exchange(b.Base, code, v)
	if r.Status != http.StatusOK || tk.Access == "" {
		t.Fatalf("exchange on the other replica: %d %s", r.Status, r.Body)
	}
	body := toolCall("get_x_user", map[string]any{"username": sandbox.MeUsername})
	for _, s := range []*httpServer{a, b} {
		if r := rawPost(t, s.URL, body, "Authorization", "Bearer "+tk.Access); r.Status != http.StatusOK || !strings.Contains(r.Body, sandbox.MeUsername) {
			t.Errorf("call on %s: %d %.200s", s.Base, r.Status, r.Body)
		}
	}
	next, r := c.refresh(b.Base, tk.Refresh)
	if r.Status != http.StatusOK || next.Access == "" {
		t.Fatalf("refresh: %s", r.Body)
	}
	if r := rawPost(t, a.URL, body, "Authorization", "Bearer "+next.Access); r.Status != http.StatusOK {
		t.Errorf("refreshed token on the other replica: %d", r.Status)
	}
	if _, r := c.refresh(a.Base, tk.Refresh); r.Status != http.StatusBadRequest {
		t.Errorf("an old refresh token worked on the other replica: %d", r.Status)
	}
	if _, r := c.refresh(b.Base, next.Refresh); r.Status != http.StatusBadRequest {
		t.Errorf("the family survived the reuse: %d", r.Status)
	}
	// Reusing the code (which also revokes what it gave) fails everywhere.
	if _, r := c.exchange(a.Base, code, v); r.Status != http.StatusBadRequest {
		t.Errorf("the code was used again on the first replica: %d", r.Status)
	}
	for _, cl := range gw.Calls() {
		if cl.Auth != "Bearer "+consentKey(1) {
			t.Errorf("a gateway call carried %q", cl.Auth)
		}
	}
	assertRedisHoldsNone(t, rs, consentKey(1), tk.Access, tk.Refresh, next.Access, next.Refresh, code, oauthSecret)
}

// assertRedisHoldsNone reads every key and value in the store.
func assertRedisHoldsNone(t *testing.T, rs *redistest.Server, secrets ...string) {
	t.Helper()
	opts, err := redis.ParseURL(rs.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("redis keys: %v %v", keys, err)
	}
	oauthKeys := 0
	for _, k := range keys {
		var v string
		switch typ, _ := rdb.Type(ctx, k).Result(); typ {
		case "string":
			v, _ = rdb.Get(ctx, k).Result()
		case "zset":
			m, _ := rdb.ZRange(ctx, k, 0, -1).Result()
			v = strings.Join(m, " ")
		}
		if strings.HasPrefix(k, "xfollow:oauth:") {
			oauthKeys++
		}
		for _, s := range secrets {
			if strings.Contains(k, s) || strings.Contains(v, s) {
				t.Errorf("Redis key %q or its value holds a secret (%.14s...)", k, s)
			}
		}
	}
	if oauthKeys == 0 {
		t.Error("no OAuth record reached Redis")
	}
}

func rawGet(t *testing.T, u string) rawResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(t, noFollow, req)
}
