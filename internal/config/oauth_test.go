package config

import (
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

const goodSecret = "0123456789abcdef0123456789abcdef-CONFIG-SECRET"

func TestOAuthAccepted(t *testing.T) {
	withSecret := map[string]string{secret.Env: goodSecret}
	c, _, err := parse(t, withSecret, "--http", "127.0.0.1:0", "--oauth")
	if err != nil || !c.OAuth || c.Secret == nil || c.PublicURL != "" {
		t.Fatalf("loopback: %+v %v", c.OAuth, err)
	}
	c, _, err = parse(t, map[string]string{secret.Env: goodSecret, "XFOLLOW_OAUTH": "true", "XFOLLOW_PUBLIC_URL": "https://MCP.example.com/"}, "--http", "0.0.0.0:8080")
	if err != nil || c.PublicURL != "https://mcp.example.com" {
		t.Fatalf("public: %q %v", c.PublicURL, err)
	}
	if strings.Contains(c.Secret.String(), goodSecret) || strings.Contains(c.LogValue().String(), goodSecret) {
		t.Fatal("the secret shows")
	}
}

func TestOAuthRefused(t *testing.T) {
	const key = "sk-aisa-CONFIG-OAUTH-LEAK"
	s := map[string]string{secret.Env: goodSecret}
	with := func(k, v string) map[string]string { return map[string]string{secret.Env: goodSecret, k: v} }
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		says string
	}{
		{"without --http", s, []string{"--oauth"}, "needs --http"},
		{"without a secret", nil, []string{"--http", "127.0.0.1:0", "--oauth"}, "XFOLLOW_SECRET, which is not set"},
		{"short secret", map[string]string{secret.Env: "short"}, []string{"--http", "127.0.0.1:0", "--oauth"}, "at least 32 bytes"},
		{"with a token", with(EnvHTTPToken, goodToken), []string{"--http", "127.0.0.1:0", "--oauth"}, "two ways to authenticate"},
		{"with key from request", s, []string{"--http", "127.0.0.1:0", "--oauth", "--key-from-request"}, "never a raw AIsa key"},
		{"with a server key", with(EnvAPIKey, key), []string{"--http", "127.0.0.1:0", "--oauth"}, "unset AISA_API_KEY"},
		{"with an account", s, []string{"--http", "127.0.0.1:0", "--oauth", "--account", "jack"}, "leave --account out"},
		{"off loopback without a public URL", s, []string{"--http", "0.0.0.0:8080", "--oauth"}, "needs --public-url"},
		{"plain http public URL", s, []string{"--http", "0.0.0.0:8080", "--oauth", "--public-url", "http://mcp.example.com"}, "must be https://"},
		{"public URL with a path", s, []string{"--http", "0.0.0.0:8080", "--oauth", "--public-url", "https://mcp.example.com/mcp"}, "only scheme://host"},
		{"public URL without --oauth", s, []string{"--http", "127.0.0.1:0", "--public-url", "https://mcp.example.com"}, "needs --oauth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want it to say %q", err, tc.says)
			}
			for _, sec := range []string{key, goodToken, goodSecret, "short"} {
				if strings.Contains(err.Error(), sec) {
					t.Fatalf("the error repeats a secret: %v", err)
				}
			}
		})
	}
}
