package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestStateURL(t *testing.T) {
	c, _, err := parse(t, map[string]string{"XFOLLOW_STATE": "rediss://app:pw-Zq9@redis.internal:6380/2"})
	if err != nil || c.State != "rediss://app:pw-Zq9@redis.internal:6380/2" {
		t.Fatalf("%q %v", c.State, err)
	}
	c, _, err = parse(t, map[string]string{"XFOLLOW_STATE": "redis://a:6379"}, "--state", "redis://127.0.0.1:6379/0")
	if err != nil || c.State != "redis://127.0.0.1:6379/0" {
		t.Fatalf("the flag did not win: %q %v", c.State, err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", Config{State: "redis://u:pw-Zq9@h:1/0"})
	if strings.Contains(logs.String(), "pw-Zq9") || !strings.Contains(logs.String(), "state=redis://u:xxxxx@h:1/0") {
		t.Fatalf("log: %s", logs.String())
	}
}

// TestBadStateURLsNeverShowThePassword: the error names the flag or the
// variable, says what is accepted, and hides the password.
func TestBadStateURLsNeverShowThePassword(t *testing.T) {
	for _, tc := range []struct {
		value, want string
	}{
		{"http://u:pw-Zq9@h:6379/0", "not a redis:// or rediss:// URL"},
		{"redis://u:pw-Zq9@h:port/0", "not a URL"},
		{"redis://:pw-Zq9@/0", "names no host"},
		{"127.0.0.1:6379", "not a"},
	} {
		for _, fromEnv := range []bool{false, true} {
			var err error
			if fromEnv {
				_, _, err = parse(t, map[string]string{"XFOLLOW_STATE": tc.value})
			} else {
				_, _, err = parse(t, nil, "--state="+tc.value)
			}
			if err == nil {
				t.Fatalf("%s accepted", RedactURL(tc.value))
			}
			name := "--state="
			if fromEnv {
				name = "XFOLLOW_STATE="
			}
			msg := err.Error()
			if strings.Contains(msg, "pw-Zq9") || !strings.HasPrefix(msg, name) || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "redis://[user:password@]host:port/db") {
				t.Errorf("%s", msg)
			}
		}
	}
}
