package config

import (
	"os"
	"strings"
	"testing"
)

const goodToken = "0123456789abcdef-token"

func TestRemoteModeAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"loopback v4 without a token", nil, []string{"--http", "127.0.0.1:8080"}},
		{"loopback v6 without a token", nil, []string{"--http", "[::1]:0"}},
		{"localhost without a token", nil, []string{"--http", "localhost:8080"}},
		{"any address with a token", map[string]string{EnvHTTPToken: goodToken}, []string{"--http", "0.0.0.0:8080"}},
		{"any address with key from request", nil, []string{"--http", ":8080", "--key-from-request"}},
		{"from the environment", map[string]string{"XFOLLOW_HTTP": "127.0.0.1:9", "XFOLLOW_KEY_FROM_REQUEST": "1"}, nil},
		{"token without --http is ignored", map[string]string{EnvHTTPToken: "short"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := parse(t, tc.env, tc.args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRemoteModeRefused(t *testing.T) {
	const key = "sk-aisa-CONFIG-LEAK-CHECK"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		says string
	}{
		{"every interface v4", nil, []string{"--http", "0.0.0.0:8080"}, "XFOLLOW_HTTP_TOKEN is not set"},
		{"every interface v6", nil, []string{"--http", "[::]:8080"}, "beyond this machine"},
		{"empty host", nil, []string{"--http", ":8080"}, "every interface"},
		{"a hostname", nil, []string{"--http", "mcp.example.com:8080"}, "listen on 127.0.0.1, [::1] or localhost"},
		{"a LAN address", nil, []string{"--http", "192.168.1.5:8080"}, "XFOLLOW_HTTP_TOKEN"},
		{"no port", nil, []string{"--http", "127.0.0.1"}, "HOST:PORT"},
		{"port out of range", nil, []string{"--http", "127.0.0.1:70000"}, "0 to 65535"},
		{"key from request without --http", nil, []string{"--key-from-request"}, "needs --http"},
		{"key from request with a server key", map[string]string{EnvAPIKey: key}, []string{"--http", "127.0.0.1:0", "--key-from-request"}, "unset AISA_API_KEY"},
		{"key from request with a token", map[string]string{EnvHTTPToken: goodToken}, []string{"--http", "127.0.0.1:0", "--key-from-request"}, "choose one"},
		{"one account for many callers", nil, []string{"--http", "127.0.0.1:0", "--key-from-request", "--account", "jack"}, "leave --account out"},
		{"short token", map[string]string{EnvHTTPToken: "abc123"}, []string{"--http", "0.0.0.0:0"}, "6 characters long"},
		{"token with a space", map[string]string{EnvHTTPToken: "0123456789 abcdef"}, []string{"--http", "127.0.0.1:0"}, "printable ASCII"},
		{"wildcard origin", nil, []string{"--allowed-origins", "*"}, "--allowed-origins"},
		{"origin with a path", nil, []string{"--allowed-origins", "https://app.example.com/x"}, "no path"},
		{"origin without a scheme", nil, []string{"--allowed-origins", "app.example.com"}, "--allowed-origins"},
		{"origin of another scheme", nil, []string{"--allowed-origins", "ftp://app.example.com"}, "http:// or https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want it to say %q", err, tc.says)
			}
			for _, secret := range []string{key, goodToken, "abc123", "0123456789 abcdef"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error repeats a secret: %v", err)
				}
			}
		})
	}
}

func TestAllowedOriginsAreNormalized(t *testing.T) {
	c, _, err := parse(t, nil, "--allowed-origins", " HTTPS://App.Example.com:443/ ,http://tool.example:8080,https://[2001:db8::1]")
	if err != nil {
		t.Fatal(err)
	}
	want := "https://app.example.com,http://tool.example:8080,https://[2001:db8::1]"
	if got := strings.Join(c.AllowedOrigins, ","); got != want {
		t.Fatalf("origins = %s, want %s", got, want)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"": false, "0.0.0.0": false, "::": false, "localhost.example.com": false, "10.0.0.1": false, "example.com": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v", host, got)
		}
	}
}

// TestReadmeDocumentsEveryFlag: the README's configuration table is written
// from Flags; every flag and environment twin must be in it.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, f := range Flags {
		if !strings.Contains(readme, "`--"+f.Name+"`") {
			t.Errorf("README.md does not document --%s", f.Name)
		}
		if f.Env != "" && !strings.Contains(readme, "`"+f.Env+"`") {
			t.Errorf("README.md does not document %s", f.Env)
		}
	}
	for _, env := range []string{EnvAPIKey, EnvBaseURL, EnvHTTPToken} {
		if !strings.Contains(readme, "`"+env+"`") {
			t.Errorf("README.md does not document %s", env)
		}
	}
}
