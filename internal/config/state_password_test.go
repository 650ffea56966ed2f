package config

import (
	"io"
	"strings"
	"testing"
)

// A password holding an unencoded '/' after leading digits makes the URL
// parse with no user info at all: it must not be shown whole in logs or the
// start error, and the start says to URL-encode it.
func TestRedactURLNeverShowsAPasswordWithASlash(t *testing.T) {
	raw := "redis://default:12/s3cr3tTail@10.0.0.5:6379/0"
	if got := RedactURL(raw); strings.Contains(got, "s3cr3t") {
		t.Errorf("RedactURL(%q) = %q: the password is shown", raw, got)
	}
}

// TestStateNeedsALimit: a replica with no limit would leave no trace in the
// shared windows, so --state without any limit is refused at start.
func TestStateNeedsALimit(t *testing.T) {
	env := map[string]string{}
	p := NewParser("xfollow-mcp", func(k string) string { return env[k] }, io.Discard)
	if _, err := p.Parse([]string{"--state", "redis://127.0.0.1:6379/0", "--max-unfollows-per-15m", "0", "--max-unfollows-per-day", "0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Config(); err == nil || !strings.Contains(err.Error(), "set a limit") {
		t.Fatalf("err = %v", err)
	}
}
