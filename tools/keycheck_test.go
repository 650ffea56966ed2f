package tools

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// keyCheckCall is a call carrying key from addr.
func keyCheckCall(t *testing.T, d *Deps, key, addr string) (context.Context, *Call) {
	t.Helper()
	ctx := WithCallerAddr(WithCallerKey(context.Background(), key), addr)
	return ctx, &Call{Deps: depsFor(ctx, d), Tool: "unfollow_x_user"}
}

// fakeProbe accepts the keys in good and answers 401 to any other.
func fakeProbe(good map[string]bool, calls *atomic.Int64) func(context.Context, *aisa.Client) error {
	return func(_ context.Context, c *aisa.Client) error {
		calls.Add(1)
		if good[c.KeyFingerprint()] {
			return &aisa.Error{Kind: aisa.KindUserNotFound, Status: 404}
		}
		return &aisa.Error{Kind: aisa.KindAuthInvalid, Status: 401}
	}
}

// TestKeyCheckValidKeyNeverWaitsAgain: once accepted, a key goes straight
// through, without a gateway read or a rate limit, however many junk keys
// come after it from however many addresses; and a key that succeeded at a
// read needs no check at all.
func TestKeyCheckValidKeyNeverWaitsAgain(t *testing.T) {
	c, err := aisa.New(aisa.Options{APIKey: "sk-aisa-server"})
	if err != nil {
		t.Fatal(err)
	}
	const good, reader = "sk-aisa-GOOD-0123456789", "sk-aisa-READER-0123456789"
	var calls atomic.Int64
	k := NewKeyCheck()
	now := time.Unix(1_800_000_000, 0)
	k.Now = func() time.Time { return now }
	k.Probe = fakeProbe(map[string]bool{aisa.KeyFingerprint(good): true}, &calls)
	d := &Deps{Client: c, Keys: k}

	ctx, call := keyCheckCall(t, d, good, "192.0.2.1")
	if err := k.Admit(ctx, call); err != nil || calls.Load() != 1 {
		t.Fatalf("the valid key's first write: %v, %d probes", err, calls.Load())
	}
	// A read that succeeded proves the key as well as a probe would.
	rctx, rcall := keyCheckCall(t, d, reader, "192.0.2.1")
	k.Settled(rctx, rcall.Client.KeyFingerprint(), nil)
	if err := k.Admit(rctx, rcall); err != nil || calls.Load() != 1 {
		t.Fatalf("a key that read first: %v, %d probes", err, calls.Load())
	}

	// A flood: more junk keys than the refused list keeps, from many
	// addresses (each within its allowance), and a day passes.
	junk := 0
	for a := 0; junk < keysRefused+500; a++ {
		addr := fmt.Sprintf("10.%d.%d.%d", a>>16&255, a>>8&255, a&255)
		for range newKeysPerAddr {
			jctx, jcall := keyCheckCall(t, d, fmt.Sprintf("sk-aisa-JUNK-%07d-pad", junk), addr)
			if err := k.Admit(jctx, jcall); err == nil || !strings.HasPrefix(err.Error(), "[auth_invalid] ") {
				t.Fatalf("junk key %d: %v", junk, err)
			}
			junk++
		}
	}
	now = now.Add(24 * time.Hour)
	before := calls.Load()
	for _, key := range []string{good, reader} {
		// The same address as the flood's first, whose allowance is spent.
		ctx, call := keyCheckCall(t, d, key, "10.0.0.0")
		if err := k.Admit(ctx, call); err != nil {
			t.Fatalf("an accepted key after the flood: %v", err)
		}
	}
	if calls.Load() != before {
		t.Fatalf("accepted keys were checked again after the flood (%d probes)", calls.Load()-before)
	}

	// A key revoked after it was accepted: its next write's 401 stops the
	// writes after it, without a probe.
	k.Settled(ctx, call.Client.KeyFingerprint(), &ToolError{Code: CodeAuthInvalid, Msg: "x"})
	if err := k.Admit(ctx, call); err == nil || !strings.HasPrefix(err.Error(), "[auth_invalid] ") || calls.Load() != before {
		t.Fatalf("a revoked key: %v, %d probes", err, calls.Load()-before)
	}
}

// TestKeyCheckOneProbeForConcurrentFirstWrites: many writes with one new
// key at once make one gateway read between them.
func TestKeyCheckOneProbeForConcurrentFirstWrites(t *testing.T) {
	c, err := aisa.New(aisa.Options{APIKey: "sk-aisa-server"})
	if err != nil {
		t.Fatal(err)
	}
	const good = "sk-aisa-GOOD-0123456789"
	var calls atomic.Int64
	k := NewKeyCheck()
	release := make(chan struct{})
	probe := fakeProbe(map[string]bool{aisa.KeyFingerprint(good): true}, &calls)
	k.Probe = func(ctx context.Context, c *aisa.Client) error { <-release; return probe(ctx, c) }
	d := &Deps{Client: c, Keys: k}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, call := keyCheckCall(t, d, good, "192.0.2.9")
			errs <- k.Admit(ctx, call)
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the calls gather behind the first check
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d probes for one key", calls.Load())
	}
}

// TestKeyCheckUnsettledAnswerIsNotRemembered: a probe that gets no answer
// about the key (the gateway is down) refuses the write, remembers nothing,
// and the next write asks again.
func TestKeyCheckUnsettledAnswerIsNotRemembered(t *testing.T) {
	c, err := aisa.New(aisa.Options{APIKey: "sk-aisa-server"})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	k := NewKeyCheck()
	k.Probe = func(context.Context, *aisa.Client) error {
		calls.Add(1)
		return &aisa.Error{Kind: aisa.KindUnavailable, Status: 503}
	}
	ctx, call := keyCheckCall(t, &Deps{Client: c, Keys: k}, "sk-aisa-SOME-0123456789", "192.0.2.3")
	for i := range 2 {
		err := k.Admit(ctx, call)
		if err == nil || !strings.Contains(err.Error(), "could not check this request's AIsa key") || !strings.Contains(err.Error(), "nothing was sent") {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("%d probes, want 2", calls.Load())
	}
}
