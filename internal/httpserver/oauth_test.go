package httpserver

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// fakeAuthorizer accepts one token, standing for one caller's key.
type fakeAuthorizer struct{ token, key string }

func (f fakeAuthorizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "as:"+r.URL.Path)
}
func (f fakeAuthorizer) Paths() []string {
	return []string{"/authorize", "/.well-known/oauth-authorization-server"}
}
func (f fakeAuthorizer) Listening(net.Addr)             {}
func (f fakeAuthorizer) Verify(b string) (string, bool) { return f.key, b == f.token }
func (f fakeAuthorizer) Challenge(presented bool) string {
	if presented {
		return `Bearer resource_metadata="m", error="invalid_token"`
	}
	return `Bearer resource_metadata="m"`
}

// TestOAuthHook: with an Authorizer, /mcp takes only its tokens (a raw AIsa
// key is refused), answers 401 with its challenge, mounts its paths, and a
// verified token's key reaches the gateway as a --key-from-request key does.
func TestOAuthHook(t *testing.T) {
	const callerKey = "sk-aisa-OAUTH-HOOK-CALLER-1"
	var mu sync.Mutex
	var auths []string
	sb := sandbox.New(sandbox.Options{})
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		sb.ServeHTTP(w, r)
	}))
	defer gw.Close()
	c, err := aisa.New(aisa.Options{BaseURL: gw.URL + sandbox.BasePath})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := mcpserver.New(mcpserver.Options{Version: "t"}, &tools.Deps{Client: c, Logger: logger, Gate: &tools.Gate{}})
	srv := httptest.NewServer(New(s, Options{OAuth: fakeAuthorizer{token: "xfat_good", key: callerKey}, Logger: logger}))
	defer srv.Close()

	body := callBody("get_x_user", map[string]any{"username": sandbox.MeUsername})
	for bearer, challenge := range map[string]string{"": `Bearer resource_metadata="m"`, callerKey: `Bearer resource_metadata="m", error="invalid_token"`, "xfat_bad": `Bearer resource_metadata="m", error="invalid_token"`} {
		res, _ := post(t, srv.URL+MCPPath, bearer, body)
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != challenge {
			t.Errorf("bearer %q: %d %q", bearer, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	}
	mu.Lock()
	if len(auths) != 0 {
		t.Errorf("a refused request reached the gateway: %d", len(auths))
	}
	mu.Unlock()
	res, out := post(t, srv.URL+MCPPath, "xfat_good", body)
	if res.StatusCode != http.StatusOK || !strings.Contains(out, sandbox.MeUsername) {
		t.Fatalf("verified call: %d %s", res.StatusCode, out)
	}
	mu.Lock()
	if len(auths) == 0 || auths[0] != "Bearer "+callerKey {
		t.Errorf("the gateway saw %q, want the token's key", auths)
	}
	mu.Unlock()
	r, err := http.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if string(b) != "as:/.well-known/oauth-authorization-server" {
		t.Errorf("the authorizer's path is not mounted: %s", b)
	}
	if strings.Contains(logs.String(), callerKey) || strings.Contains(out, callerKey) {
		t.Error("the caller's key leaked")
	}
}
