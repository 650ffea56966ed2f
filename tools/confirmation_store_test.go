package tools_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// onceStore is a OnceStore in memory that can be made to fail.
type onceStore struct {
	mu   sync.Mutex
	used map[string]bool
	down bool
	asks int
}

func (s *onceStore) UseOnce(_ context.Context, purpose, id string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asks++
	if s.down {
		return false, errors.New("dial tcp: connection refused: " + safety.ErrStateUnavailable.Error())
	}
	if ttl <= 0 || ttl > 6*time.Minute {
		return false, errors.New("a mark must last until the approval expires, no longer")
	}
	if s.used[purpose+"/"+id] {
		return false, nil
	}
	if s.used == nil {
		s.used = map[string]bool{}
	}
	s.used[purpose+"/"+id] = true
	return true, nil
}

// TestConfirmationUsesTheSharedStore: with a shared key and a nonce store,
// an accepted approval marks its nonce in the store once; a store that
// does not answer refuses the write (single and batch) instead of counting
// the approval as new.
func TestConfirmationUsesTheSharedStore(t *testing.T) {
	t.Parallel()
	ring, err := secret.Parse("0123456789abcdef0123456789abcdef-CONFIRM-STORE")
	if err != nil {
		t.Fatal(err)
	}
	store := &onceStore{}
	el := &elicitor{action: mcp.ElicitationResponseActionAccept}
	gate := &tools.Gate{Confirm: true, ConfirmKeys: ring.Keys(tools.ConfirmPurpose), Nonces: store}
	h := newHarness(t, harnessOpts{gate: gate, clientOp: []client.ClientOption{client.WithElicitationHandler(el)}})
	if res := h.call("unfollow_x_user", `{"target_user_id":"12"}`); res.IsError || h.sb.Follows("12") {
		t.Fatalf("accepted: %s", textOf(res))
	}
	if store.asks != 1 || len(store.used) != 1 {
		t.Fatalf("the store was asked %d times and holds %v", store.asks, store.used)
	}
	store.down = true
	h.fail("unfollow_x_user", `{"target_user_id":"783214"}`, "state_unavailable")
	res := h.call("unfollow_x_users", `{"target_user_ids":["11348282","2244994945"]}`)
	if !res.IsError || !strings.HasPrefix(textOf(res), "[state_unavailable] ") {
		t.Fatalf("batch with the store down: %s", textOf(res))
	}
	if n := len(h.sb.Writes()); n != 1 {
		t.Fatalf("%d writes, want only the first approved one", n)
	}
}
