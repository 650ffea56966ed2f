package tools_test

// Adversarial review of issue 11 (find_x_unfollow_candidates, the scan
// cache, clean_up_following). Every test here demonstrates a failure of the
// contract in `issues show 11` or the README; none is a fix.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

func bigBudget() *tools.Gate {
	return &tools.Gate{Budget: safety.NewBudget(nil, safety.Window{Limit: 100000, Span: 15 * time.Minute})}
}

// mutating wraps a scripted gateway so that unfollow_twitter and
// follow_twitter change its graph, as the real ones do.
func mutating(gw *scripted) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/apis/v1/twitter/unfollow_twitter", "/apis/v1/twitter/follow_twitter":
			b, _ := io.ReadAll(r.Body)
			var body struct {
				ID string `json:"target_user_id"`
			}
			_ = json.Unmarshal(b, &body)
			if strings.HasSuffix(r.URL.Path, "/unfollow_twitter") {
				gw.unfollow(body.ID)
				_, _ = w.Write([]byte(`{"data":{"following":false}}`))
			} else {
				gw.prepend(body.ID)
				_, _ = w.Write([]byte(`{"data":{"following":true}}`))
			}
			return
		}
		gw.ServeHTTP(w, r)
	})
}

// prepend makes id the most recent following.
func (s *scripted) prepend(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rank := make(map[string]int, len(s.g.rank)+1)
	low := 0
	for k, v := range s.g.rank {
		rank[k] = v
		low = min(low, v)
	}
	rank[id] = low - 1
	s.g.rank = rank
	s.g.following = append([]string{id}, slices.Clone(s.g.following)...)
}

func userJSON(id string) map[string]any {
	return map[string]any{"id": id, "userName": handleOf(id), "name": "User " + id}
}

func writePage(w http.ResponseWriter, kind string, list []string, next string) {
	users := []map[string]any{}
	for _, id := range list {
		users = append(users, userJSON(id))
	}
	_ = json.NewEncoder(w).Encode(map[string]any{kind: users, "has_next_page": next != "", "next_cursor": next, "status": "success"})
}

func dupes(list []string) []string {
	seen, out := map[string]bool{}, []string{}
	for _, id := range list {
		if seen[id] {
			out = append(out, id)
		}
		seen[id] = true
	}
	return out
}

// cursorFields decodes a next_cursor (base64url JSON "." checksum).
func cursorFields(t *testing.T, c string) map[string]any {
	t.Helper()
	body, _, _ := strings.Cut(c, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReview11DuplicateAcrossPages: the gateway repeats one account at the
// end of page 1 and the start of page 2 (page overlap). The finder returns
// it twice and counts it twice: "without repeats" and "exactly the accounts
// it follows" both fail.
func TestReview11DuplicateAcrossPages(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(300, 1), func(n int) bool { return n%2 == 0 }, 5)
	gw := newScripted(t, g)
	gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
		if kind != "followings" {
			return false
		}
		if r.URL.Query().Get("cursor") == "" {
			writePage(w, "followings", g.following[:200], "dup-p2")
		} else {
			writePage(w, "followings", g.following[199:], "") // following[199] again
		}
		return true
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000}`)
	got := ids(out)
	if d := dupes(got); len(d) > 0 || num(out["examined_following"]) != 300 {
		t.Errorf("candidates repeat %v; examined_following %v for 300 distinct followings", d, out["examined_following"])
	}
}

// TestReview11EndlessEmptyPages: a list that keeps answering empty pages
// with has_next_page true and a fresh cursor (the loop check only catches a
// repeated cursor). The finder has no bound: it reads every page the gateway
// offers (here the gateway gives up after 300; a real one that never does
// keeps the call reading until the client cancels it).
func TestReview11EndlessEmptyPages(t *testing.T) {
	t.Parallel()
	for _, list := range []string{"followings", "followers"} {
		t.Run(list, func(t *testing.T) {
			t.Parallel()
			g := newGraph(seq(50, 1), func(n int) bool { return n%2 == 0 }, 0) // 25 followers: 1 page, followers_list
			gw := newScripted(t, g)
			gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
				if kind != list {
					return false
				}
				c := r.URL.Query().Get("cursor")
				if c == "" {
					src := g.following
					if list == "followers" {
						src = g.followers
					}
					writePage(w, list, src, "e1")
					return true
				}
				n, _ := strconv.Atoi(strings.TrimPrefix(c, "e"))
				next := ""
				if n < 300 {
					next = "e" + strconv.Itoa(n+1)
				}
				writePage(w, list, nil, next)
				return true
			})
			h := newHarness(t, harnessOpts{gateway: gw})
			out := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000}`)
			if n := gw.count(list); n > 5 {
				t.Errorf("%d %s pages read for a list of %d (one page); gateway_calls %v, complete %v",
					n, list, 50, out["gateway_calls"], out["complete"])
			}
		})
	}
}

// TestReview11FollowBetweenCallsRepeats: a call stops at max_following 199;
// the person follows one new account through this server (which drops the
// scan cache, so the resume reads the gateway); resuming with next_cursor
// examines the last account of the first call again: its anchor (the 200th
// account) is pushed onto page 2, the search in page 1 misses it, and the
// stale offset 199 is used.
func TestReview11FollowBetweenCallsRepeats(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(600, 1), func(n int) bool { return n%3 != 0 }, 10)
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: mutating(gw), account: "me", gate: bigBudget()})
	first := h.ok("find_x_unfollow_candidates", `{"max_following":199,"limit":1000}`)
	h.ok("follow_x_user", `{"target_user_id":"`+gid(9999)+`"}`)
	rest, _ := scanAll(t, h, `{"username":"me","limit":1000,"max_following":20000,"cursor":"`+first["next_cursor"].(string)+`"}`)
	joined := append(ids(first), rest...)
	if want := g.expected(nil); !slices.Equal(joined, want) {
		t.Errorf("joined %d candidates, one scan %d; repeated: %v", len(joined), len(want), dupes(joined))
	}
}

// TestReview11AnchorGoneLeavesGap: the agent unfollows the 10 candidates of
// a limit-10 call, and the account at the cursor itself leaves the
// followings meanwhile (unfollowed from the phone, or suspended). The anchor
// is not found, the stored offset is used in a page that lost 11 accounts
// before it, and 10 unexamined accounts are skipped: candidates are lost.
func TestReview11AnchorGoneLeavesGap(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(300, 1), func(n int) bool { return n%4 != 0 }, 0)
	g.followers, g.followersCount = nil, 1_000_000 // relationship_checks
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: mutating(gw), gate: bigBudget()})
	first := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":10}`)
	cur := first["next_cursor"].(string)
	anchor, _ := cursorFields(t, cur)["n"].(string)
	b, _ := json.Marshal(map[string]any{"target_user_ids": ids(first)})
	h.ok("unfollow_x_users", string(b))
	gw.unfollow(anchor) // elsewhere; it follows back, so it is no candidate either way
	rest, _ := scanAll(t, h, `{"username":"me","limit":1000,"cursor":"`+cur+`"}`)
	joined := append(ids(first), rest...)
	want := g.expected(nil)
	var missing []string
	for _, id := range want {
		if !slices.Contains(joined, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("anchor %s gone: %d candidates never returned: %v", anchor, len(missing), missing)
	}
}

// TestReview11OldCursorServedFromNewerCache: after unfollowing the first
// call's candidates, the agent looks again from the top with refresh; then
// it resumes the first call's cursor. The cache built by the refresh "covers"
// that cursor by page, offset and index alone (scanState.covers ignores the
// anchor id), so the resume starts 30 accounts too late.
func TestReview11OldCursorServedFromNewerCache(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(600, 1), func(n int) bool { return n%3 != 0 }, 10)
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: mutating(gw), gate: bigBudget()})
	a := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":30}`)
	b, _ := json.Marshal(map[string]any{"target_user_ids": ids(a)})
	h.ok("unfollow_x_users", string(b))
	h.ok("find_x_unfollow_candidates", `{"username":"me","limit":30,"refresh":true}`)
	rest, outs := scanAll(t, h, `{"username":"me","limit":1000,"max_following":20000,"cursor":"`+a["next_cursor"].(string)+`"}`)
	joined := append(ids(a), rest...)
	if want := g.expected(nil); !slices.Equal(joined, want) {
		t.Errorf("resuming the first cursor (method %v) gives %d candidates in all, one scan %d: a gap of %d",
			outs[0]["method"], len(joined), len(want), len(want)-len(joined))
	}
}

// TestReview11CacheStaleAfterUnfollowWithoutAccount: without --account
// (the sandbox's default too), unfollow_x_users never touches the scan
// cache (Gate.followingChanged returns when Account is ""), so the next
// finder call, from the cache, returns the accounts just unfollowed. The
// README says "An unfollow through this server takes the account out of the
// cached results"; an agent that acts on it spends budget on no-ops.
func TestReview11CacheStaleAfterUnfollowWithoutAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gate: bigBudget()})
	first := ids(h.ok("find_x_unfollow_candidates", `{"username":"xfollow_sandbox","limit":1000}`))
	gone := first[:5]
	b, _ := json.Marshal(map[string]any{"target_user_ids": gone})
	for _, r := range h.ok("unfollow_x_users", string(b))["results"].([]any) {
		if r.(map[string]any)["status"] != "unfollowed" {
			t.Fatalf("unfollow: %v", r)
		}
	}
	again := h.ok("find_x_unfollow_candidates", `{"username":"xfollow_sandbox","limit":1000}`)
	var stale []string
	for _, id := range ids(again) {
		if slices.Contains(gone, id) && !h.sb.Follows(id) {
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		t.Errorf("method %v: %d accounts already unfollowed are still candidates: %v", again["method"], len(stale), stale)
	}
}

// TestReview11ForgedCursorAccepted: the cursor's "checksum" is an unkeyed
// SHA-256 over a public prefix, so an edited cursor with its sum recomputed
// is accepted and silently resumes wherever it says (here: skipping 140
// accounts). README: "a cut or edited one ... is [invalid_argument]".
func TestReview11ForgedCursorAccepted(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(600, 1), func(n int) bool { return n%3 != 0 }, 10)
	h := newHarness(t, harnessOpts{gateway: newScripted(t, g)})
	first := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":10}`)
	p := cursorFields(t, first["next_cursor"].(string))
	p["o"], p["i"] = 150, 150
	delete(p, "n")
	raw, _ := json.Marshal(p)
	sum := sha256.Sum256(append([]byte("xfollow find_x_unfollow_candidates cursor\x00"), raw...))
	forged := base64.RawURLEncoding.EncodeToString(raw) + "." + hex.EncodeToString(sum[:6])
	res := h.call("find_x_unfollow_candidates", `{"username":"me","limit":1000,"max_following":20000,"cursor":"`+forged+`"}`)
	if !res.IsError {
		out := structured(t, "find_x_unfollow_candidates", res)
		t.Errorf("an edited cursor was accepted: examined %v of the 590 accounts left, complete %v",
			out["examined_following"], out["complete"])
	}
}

// TestReview11TwoScansSixteenInFlight: the 8-reads cap is per call, not per
// key. Two finder calls at once (an agent's parallel tool calls, or two
// usernames) put 16 reads in flight on the same key. The gateway holds each
// check until 16 are waiting (or 1.5 s pass).
func TestReview11TwoScansSixteenInFlight(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(64, 1), func(n int) bool { return n%2 == 0 }, 0)
	g.followers, g.followersCount = nil, 50_000
	gw := newScripted(t, g)
	var mu sync.Mutex
	waiting := 0
	release := make(chan struct{})
	gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
		if kind != "check" {
			return false
		}
		mu.Lock()
		waiting++
		if waiting == 16 {
			close(release)
		}
		mu.Unlock()
		select {
		case <-release:
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
		}
		return false
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := h.call("find_x_unfollow_candidates", `{"username":"me","limit":1000,"refresh":true}`); res.IsError {
				t.Error(textOf(res))
			}
		}()
	}
	wg.Wait()
	if m := gw.maxIn.Load(); m > 8 {
		t.Errorf("%d reads in flight at once on one key (two scans of 8)", m)
	}
}

// TestReview11PromptForAnotherAccount: with --account xfollow_sandbox, the
// prompt accepts username xfollow_big and tells the agent to "clean up who
// my X account @xfollow_big follows" with unfollow_x_users, which can only
// act on @xfollow_sandbox: the candidates of one account get unfollowed
// (where the linked account follows them too) from another.
func TestReview11PromptForAnotherAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{account: "xfollow_sandbox"})
	res, err := getPrompt(h, map[string]string{"username": "xfollow_big"})
	if err == nil {
		t.Errorf("accepted a username other than --account @xfollow_sandbox:\n%s", promptText(t, res)[:120])
	}
}

// TestReview11FollowersPagingNeverResumes: in followers_list mode nothing is
// examined until the whole followers list is read, and a rate limit throws
// away the pages read so far: the cursor points at the start again and the
// resume re-pages the followers from page 1. Under a per-key allowance
// smaller than the followers pages (here 6 reads per window, 8 follower
// pages; the agent waits retry_after_seconds each time), the scan never
// completes and never examines anything, while relationship checks would
// have made progress on every call.
func TestReview11FollowersPagingNeverResumes(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(450, 1), func(n int) bool { return n%3 != 0 }, 1200) // 1500 followers: 8 pages <= 450
	gw := newScripted(t, g)
	var window atomic.Int32
	gw.setFault(func(kind string, _ int, _ *http.Request, w http.ResponseWriter) bool {
		if window.Add(1) <= 6 {
			return false
		}
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"slow down"}}`))
		return true
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	args := `{"username":"me","limit":1000}`
	examined, calls := 0, 0
	for ; calls < 10; calls++ {
		window.Store(0) // the agent waited retry_after_seconds
		out := h.ok("find_x_unfollow_candidates", args)
		examined += num(out["examined_following"])
		if out["complete"] == true {
			return
		}
		args = `{"username":"me","limit":1000,"cursor":"` + out["next_cursor"].(string) + `"}`
	}
	t.Errorf("%d calls, each after the wait: never complete, %d of 450 examined, %d followers pages read",
		calls, examined, gw.count("followers"))
}
