//go:build live

package aisa

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestLiveUserInfo calls the real gateway, read-only. It runs only with
//
//	AISA_LIVE_API_KEY=sk-aisa-... go test -tags live -run Live ./internal/aisa/
//
// and never in CI. It deliberately makes no write call: unfollow and follow
// act on a real account.
func TestLiveUserInfo(t *testing.T) {
	key := os.Getenv("AISA_LIVE_API_KEY")
	if key == "" {
		t.Skip("AISA_LIVE_API_KEY is not set")
	}
	c, err := New(Options{APIKey: key, UserAgent: "xfollow-mcp/live-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := c.UserInfo(ctx, "TwitterDev")
	if err != nil {
		t.Fatalf("user info: %v", err)
	}
	if u.ID != "2244994945" {
		t.Fatalf("TwitterDev resolved to %+v", u)
	}
	rel, err := c.CheckRelationship(ctx, "TwitterDev", "X")
	if err != nil {
		t.Fatalf("check relationship: %v", err)
	}
	t.Logf("TwitterDev follows X: %v; followed by X: %v", rel.Following, rel.FollowedBy)
}
