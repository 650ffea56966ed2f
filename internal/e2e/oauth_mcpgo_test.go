package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/client"
	gomcp "github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestOAuthMcpGoClient: mcp-go's OAuth client (discovery from the 401,
// dynamic registration, PKCE, resource) against `--sandbox --http
// --oauth`: it registers, the person consents, it calls a tool, refreshes
// its token and calls again; the refresh token it gave up is dead.
func TestOAuthMcpGoClient(t *testing.T) {
	t.Parallel()
	s := startOAuth(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := mcpgo.NewMemoryTokenStore()
	c, err := mcpgo.NewOAuthStreamableHttpClient(s.URL, mcpgo.OAuthConfig{
		RedirectURI: "http://127.0.0.1:8085/oauth/callback",
		TokenStore:  store,
		PKCEEnabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var init gomcp.InitializeRequest
	init.Params.ProtocolVersion = gomcp.ProtocolVersion20251125
	init.Params.ClientInfo = gomcp.Implementation{Name: "mcp-go-e2e", Version: "0"}
	_, err = c.Initialize(ctx, init)
	if !mcpgo.IsOAuthAuthorizationRequiredError(err) {
		t.Fatalf("initialize without a token: %v", err)
	}
	h := mcpgo.GetOAuthHandler(err)
	if err := h.RegisterClient(ctx, "mcp-go e2e"); err != nil {
		t.Fatalf("register: %v", err)
	}
	verifier, _ := mcpgo.GenerateCodeVerifier()
	state, _ := mcpgo.GenerateState()
	authURL, err := h.GetAuthorizationURL(ctx, state, mcpgo.GenerateCodeChallenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(authURL); u.Query().Get("resource") != s.URL {
		t.Errorf("mcp-go sent resource %q", u.Query().Get("resource"))
	}
	loc, r := fillConsent(t, authURL, consentKey(3))
	if loc == nil || loc.Query().Get("iss") != s.Base {
		t.Fatalf("consent: %v %d %.300s", loc, r.Status, r.Body)
	}
	if err := h.ProcessAuthorizationResponse(ctx, loc.Query().Get("code"), loc.Query().Get("state"), verifier); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize with the token: %v", err)
	}
	call := func() {
		t.Helper()
		var req gomcp.CallToolRequest
		req.Params.Name = "get_x_user"
		req.Params.Arguments = map[string]any{"username": sandbox.MeUsername}
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("call: %v %+v", err, res)
		}
		if tc, ok := res.Content[0].(gomcp.TextContent); !ok || !strings.Contains(tc.Text, sandbox.MeUsername) {
			t.Fatalf("call: %+v", res.Content)
		}
	}
	call()
	first, err := store.GetToken(ctx)
	if err != nil || first.RefreshToken == "" || strings.HasPrefix(first.AccessToken, "sk-aisa-") {
		t.Fatalf("token: %v", err)
	}
	second, err := h.RefreshToken(ctx, first.RefreshToken)
	if err != nil || second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}
	call()
	if _, err := h.RefreshToken(ctx, first.RefreshToken); err == nil {
		t.Fatal("the refresh token given up still works")
	}
	// Its reuse revoked the family: the newest refresh token is dead too.
	if _, err := h.RefreshToken(ctx, second.RefreshToken); err == nil {
		t.Fatal("the family survived the reuse of an old refresh token")
	}
}
