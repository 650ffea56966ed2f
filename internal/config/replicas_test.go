package config

import (
	"strings"
	"testing"
)

func TestConfirmWithAStateStoreNeedsTheSecret(t *testing.T) {
	const state = "redis://127.0.0.1:6379/0"
	const good = "0123456789abcdef0123456789abcdef-REPLICAS"
	_, _, err := parse(t, nil, "--confirm", "--state", state)
	if err == nil || !strings.Contains(err.Error(), "XFOLLOW_SECRET") || !strings.Contains(err.Error(), "another replica") {
		t.Fatalf("--confirm --state without a secret: %v", err)
	}
	c, _, err := parse(t, map[string]string{"XFOLLOW_SECRET": good}, "--confirm", "--state", state)
	if err != nil || c.Secret == nil {
		t.Fatalf("with the secret: %v", err)
	}
	for _, args := range [][]string{{"--confirm"}, {"--state", state}} {
		if _, _, err := parse(t, nil, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// A secret too short is refused for itself, without repeating it.
	_, _, err = parse(t, map[string]string{"XFOLLOW_SECRET": "short-SECRET-VALUE"}, "--confirm", "--state", state)
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") || strings.Contains(err.Error(), "SECRET-VALUE") ||
		strings.Contains(err.Error(), "another replica") {
		t.Fatalf("a short secret: %v", err)
	}
	if _, _, err := parse(t, map[string]string{"XFOLLOW_SECRET": good}); err != nil {
		t.Fatal(err)
	}
}
