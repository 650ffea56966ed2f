package httpserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// junkServer is a --key-from-request server with a journal in front of a
// gateway that accepts only goodKey (serving it from the sandbox) and
// answers 401 to every other key.
type junkServer struct {
	url     string
	journal string
	clock   *clock
	reads   atomic.Int64 // gateway requests with a key other than goodKey
	good    atomic.Int64 // gateway requests with goodKey
	logs    *logBuffer
}

const goodKey = "sk-aisa-GOOD-KEY-0123456789"

func newJunkServer(t *testing.T) *junkServer {
	t.Helper()
	js := &junkServer{journal: filepath.Join(t.TempDir(), "journal.jsonl"), clock: &clock{t: time.Unix(1_800_000_000, 0)}, logs: &logBuffer{}}
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+goodKey {
			js.good.Add(1)
			sb.ServeHTTP(w, r)
			return
		}
		js.reads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key provided is invalid or has been revoked."}}`))
	}))
	t.Cleanup(gw.Close)
	c, err := aisa.New(aisa.Options{BaseURL: gw.URL + sandbox.BasePath})
	if err != nil {
		t.Fatal(err)
	}
	j, err := safety.OpenJournal(js.journal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	logger := slog.New(slog.NewTextHandler(js.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys := tools.NewKeyCheck()
	keys.Now = js.clock.Now
	s := mcpserver.New(mcpserver.Options{Version: "t"}, &tools.Deps{Client: c, Logger: logger, Keys: keys,
		Gate: &tools.Gate{Journal: j, Gateway: c.Gateway(), Budget: safety.NewBudget(nil, safety.Window{Limit: 100000, Span: 24 * time.Hour})}})
	srv := httptest.NewServer(New(s, Options{KeyFromRequest: true, Logger: logger}))
	t.Cleanup(srv.Close)
	js.url = srv.URL + MCPPath
	return js
}

func (js *junkServer) size(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(js.journal)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// unfollow calls unfollow_x_user with key and returns the result's text and
// whether it is an error.
func (js *junkServer) unfollow(t *testing.T, key, target string) (string, bool) {
	t.Helper()
	_, body := post(t, js.url, key, callBody("unfollow_x_user", map[string]any{"target_user_id": target}))
	var m struct {
		Result struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || len(m.Result.Content) == 0 {
		t.Fatalf("not a tool result: %.300s", body)
	}
	return m.Result.Content[0].Text, m.Result.IsError
}

// TestJunkKeysCannotGrowTheJournal: one client floods a --key-from-request
// server with keys the gateway answers 401, over ten (simulated) minutes.
// Not one byte reaches the journal, each client address costs the gateway
// at most newKeysPerAddr reads a minute, and a key the gateway accepts is
// checked once, on its first write, then never again.
func TestJunkKeysCannotGrowTheJournal(t *testing.T) {
	js := newJunkServer(t)
	const minutes, perMinute = 10, 100
	codes := map[string]int{}
	for m := range minutes {
		for i := range perMinute {
			key := fmt.Sprintf("sk-aisa-JUNK-%03d-%03d-padpad", m, i)
			text, isErr := js.unfollow(t, key, "12")
			if !isErr {
				t.Fatalf("a junk key's unfollow succeeded: %s", text)
			}
			code, _, _ := strings.Cut(strings.TrimPrefix(text, "["), "]")
			codes[code]++
			if strings.Contains(text, key) || strings.Contains(js.logs.String(), key) {
				t.Fatal("a caller key reached a result or the log")
			}
		}
		// The same junk key again: refused from memory, no gateway read.
		before := js.reads.Load()
		text, _ := js.unfollow(t, fmt.Sprintf("sk-aisa-JUNK-%03d-%03d-padpad", m, 0), "12")
		if !strings.HasPrefix(text, "[auth_invalid] ") || !strings.Contains(text, "nothing was sent") || js.reads.Load() != before {
			t.Fatalf("a key refused a moment ago: %q, %d gateway reads", text, js.reads.Load()-before)
		}
		js.clock.add(time.Minute)
	}
	grew := js.size(t)
	t.Logf("%d junk-key unfollows from one client over %d minutes: journal grew %d bytes (%.0f bytes a minute); %d gateway reads (%.1f a minute); results %v",
		minutes*perMinute, minutes, grew, float64(grew)/minutes, js.reads.Load(), float64(js.reads.Load())/minutes, codes)
	if grew != 0 {
		t.Fatalf("junk keys grew the journal by %d bytes", grew)
	}
	if max := int64(minutes * 30); js.reads.Load() > max {
		t.Fatalf("%d gateway reads for junk keys in %d minutes, want at most %d", js.reads.Load(), minutes, max)
	}
	if codes["rate_limited"] == 0 || codes["auth_invalid"] == 0 {
		t.Fatalf("want both refusals: %v", codes)
	}

	// A valid key, even right after the flood from the same address (whose
	// allowance for new keys is used up): one check, then straight through.
	js.clock.add(time.Minute)
	for i := range 3 {
		before := js.good.Load()
		text, isErr := js.unfollow(t, goodKey, sandbox.BigUserID(i+1))
		if isErr {
			t.Fatalf("the valid key's unfollow %d: %s", i, text)
		}
		want := int64(1)
		if i == 0 {
			want = 2 // the key check's read, then the unfollow
		}
		if got := js.good.Load() - before; got != want {
			t.Fatalf("the valid key's unfollow %d made %d gateway requests, want %d", i, got, want)
		}
	}
	if js.size(t) == 0 {
		t.Fatal("the valid key's unfollows were not journaled")
	}
}

// TestKeyCheckRateLimitsNewKeysPerAddress: the 31st new key from one address
// within a minute is refused with a time to retry, without a gateway read.
func TestKeyCheckRateLimitsNewKeysPerAddress(t *testing.T) {
	js := newJunkServer(t)
	for i := range 30 {
		text, _ := js.unfollow(t, fmt.Sprintf("sk-aisa-RATE-%03d-padpadpad", i), "12")
		if !strings.HasPrefix(text, "[auth_invalid] ") {
			t.Fatalf("key %d: %s", i, text)
		}
	}
	before := js.reads.Load()
	text, _ := js.unfollow(t, "sk-aisa-RATE-LAST-padpadpad", "12")
	if !strings.HasPrefix(text, "[rate_limited] ") || !strings.Contains(text, "retry after 60 seconds") || js.reads.Load() != before {
		t.Fatalf("the 31st new key: %q (%d reads)", text, js.reads.Load()-before)
	}
	js.clock.add(time.Minute)
	if text, _ := js.unfollow(t, "sk-aisa-RATE-LAST-padpadpad", "12"); !strings.HasPrefix(text, "[auth_invalid] ") {
		t.Fatalf("a minute later: %q", text)
	}
}
