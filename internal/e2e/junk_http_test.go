package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestHTTPJunkKeysCannotGrowTheJournal: one client floods a
// --key-from-request server with unfollows, each with a new key shaped like
// an AIsa key, against a gateway that answers 401 to all of them (as the
// real one does to keys it never issued). The journal does not grow by one
// byte, and each request is refused with a code the caller can act on;
// then a valid key unfollows, is journaled, and after its first write goes
// straight through (one gateway request per unfollow).
func TestHTTPJunkKeysCannotGrowTheJournal(t *testing.T) {
	t.Parallel()
	const good = "sk-aisa-E2E-GOOD-KEY-LEAKCHECK"
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	var junkRequests, goodRequests atomic.Int64
	gwSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+good {
			goodRequests.Add(1)
			sb.ServeHTTP(w, r)
			return
		}
		junkRequests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key provided is invalid or has been revoked."}}`))
	}))
	t.Cleanup(gwSrv.Close)
	gw := &gateway{Sandbox: sb, URL: gwSrv.URL + sandbox.BasePath}
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	s := startHTTP(t, gw, serverOpts{noKey: true, args: []string{"--key-from-request", "--journal", journal}}, good)
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(journal)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()

	// 8 connections at once, 400 unfollows, every one with a key never seen.
	const workers, perWorker = 8, 50
	var mu sync.Mutex
	codes := map[string]int{}
	began := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				key := fmt.Sprintf("sk-aisa-JUNK-%02d-%04d-LEAKCHECK", w, i)
				r := rawPost(t, s.URL, toolCall("unfollow_x_user", id(simIDs(1, 1)[0])), "Authorization", "Bearer "+key)
				code := "?"
				if i := strings.Index(r.Body, `"text":"[`); i >= 0 {
					code, _, _ = strings.Cut(r.Body[i+len(`"text":"[`):], "]")
				}
				if r.Status != 200 || !strings.Contains(r.Body, `"isError":true`) {
					t.Errorf("junk key %d/%d: %d %s", w, i, r.Status, r.Body)
				}
				if strings.Contains(r.Body, key) {
					t.Error("a caller key came back in a result")
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	grew := size() - before
	t.Logf("%d junk-key unfollows from one client in %s: journal grew %d bytes; gateway requests %d; results %v",
		workers*perWorker, elapsed.Round(time.Millisecond), grew, junkRequests.Load(), codes)
	if grew != 0 {
		t.Fatalf("junk keys grew the journal by %d bytes", grew)
	}
	if codes["auth_invalid"]+codes["rate_limited"] != workers*perWorker || codes["rate_limited"] == 0 {
		t.Fatalf("want every junk write refused [auth_invalid] or [rate_limited], some rate limited: %v", codes)
	}
	if n := junkRequests.Load(); n > 30*(int64(elapsed/time.Minute)+1) {
		t.Fatalf("%d gateway requests for junk keys from one address in %s", n, elapsed)
	}

	// The valid key, from the same address whose allowance for new keys
	// the flood used up, after that minute: a check and the unfollow, then
	// one request per unfollow.
	if elapsed < time.Minute {
		// The allowance resets each minute; waiting for it would make this
		// test a minute long. A key that read first needs no check at all.
		r := rawPost(t, s.URL, toolCall("get_x_user", map[string]any{"username": "jack"}), "Authorization", "Bearer "+good)
		if strings.Contains(r.Body, `"isError":true`) {
			t.Fatalf("the valid key's read: %s", r.Body)
		}
	}
	for i, target := range simIDs(1, 3) {
		n := goodRequests.Load()
		r := rawPost(t, s.URL, toolCall("unfollow_x_user", id(target)), "Authorization", "Bearer "+good)
		if strings.Contains(r.Body, `"isError":true`) {
			t.Fatalf("the valid key's unfollow %d: %s", i, r.Body)
		}
		if got := goodRequests.Load() - n; got != 1 {
			t.Fatalf("the valid key's unfollow %d made %d gateway requests, want 1", i, got)
		}
	}
	if size() == before {
		t.Fatal("the valid key's unfollows were not journaled")
	}
}
