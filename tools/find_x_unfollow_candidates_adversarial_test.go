package tools_test

// find_x_unfollow_candidates, its cache and the clean_up_following prompt
// under a gateway that misbehaves and a graph that changes between calls:
// overlapping and endless pages, follows and unfollows between a call and
// its resume, edited cursors, concurrent calls on one key and a rate limit
// tighter than the followers list.

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

// cursorFields decodes a next_cursor (base64url JSON "." signature).
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

// TestFindExaminesAnAccountRepeatedAcrossPagesOnce: the gateway repeats one
// account at the end of page 1 and the start of page 2 (overlapping pages).
// It is examined, counted and returned once.
func TestFindExaminesAnAccountRepeatedAcrossPagesOnce(t *testing.T) {
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
	if !slices.Equal(got, g.expected(nil)) || num(out["examined_following"]) != 300 || out["complete"] != true {
		t.Errorf("repeated %v; examined_following %v for 300 distinct followings; %d candidates, want %d",
			dupes(got), out["examined_following"], len(got), len(g.expected(nil)))
	}
	// A call that stops right after the repeated account does not examine
	// it again when resumed.
	first := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000,"max_following":200,"refresh":true}`)
	rest := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000,"refresh":true,"cursor":"`+first["next_cursor"].(string)+`"}`)
	if joined := append(ids(first), ids(rest)...); !slices.Equal(joined, g.expected(nil)) || num(rest["examined_following"]) != 100 {
		t.Errorf("resumed after the repeated account: repeated %v, examined %v", dupes(joined), rest["examined_following"])
	}
}

// TestFindBoundsAListThatNeverEnds: a list that keeps answering empty pages
// with has_next_page and a fresh cursor is read at most three empty pages
// in a row. Past the account's following count that ends the scan; before
// it, the call stops with gateway_unavailable and a cursor past the pages
// read; a followers list that runs on gives way to relationship checks, and
// the answer stays exact.
func TestFindBoundsAListThatNeverEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, list string
		firstPage  int // accounts on the first page
	}{
		{"followings past the count", "followings", 50},
		{"followings before the count", "followings", 20},
		{"followers", "followers", 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGraph(seq(50, 1), func(n int) bool { return n%2 == 0 }, 0) // 25 followers: 1 page, followers_list
			gw := newScripted(t, g)
			gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
				if kind != tc.list {
					return false
				}
				c := r.URL.Query().Get("cursor")
				if c == "" {
					src := g.following
					if tc.list == "followers" {
						src = g.followers
					}
					writePage(w, tc.list, src[:tc.firstPage], "e1")
					return true
				}
				n, _ := strconv.Atoi(strings.TrimPrefix(c, "e"))
				next := ""
				if n < 300 {
					next = "e" + strconv.Itoa(n+1)
				}
				writePage(w, tc.list, nil, next)
				return true
			})
			h := newHarness(t, harnessOpts{gateway: gw})
			out := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000}`)
			if n := gw.count(tc.list); n != 4 {
				t.Errorf("%d %s pages read; want the first and three empty ones", n, tc.list)
			}
			want := g.expected(nil)
			switch tc.name {
			case "followings past the count":
				if out["complete"] != true || !slices.Equal(ids(out), want) {
					t.Errorf("complete %v, %d candidates of %d", out["complete"], len(ids(out)), len(want))
				}
			case "followings before the count":
				if out["complete"] != false || out["stopped"] != "gateway_unavailable" || num(out["examined_following"]) != 20 ||
					!slices.Equal(ids(out), want[:10]) || cursorFields(t, out["next_cursor"].(string))["c"] != "e4" {
					t.Errorf("stopped early: %v", out)
				}
			default:
				if out["complete"] != true || out["method"] != "relationship_checks" || !slices.Equal(ids(out), want) || gw.count("check") != 50 {
					t.Errorf("after the followers list ran on: %v; reads %v", out, gw.counts)
				}
			}
		})
	}
}

// TestFindResumeAfterAFollowRepeatsNothing: a call stops at max_following
// 199; the person follows one new account through this server (which drops
// the scan cache, so the resume reads the gateway) and so pushes the next
// account onto page 2. The resume continues right after the last account
// examined.
func TestFindResumeAfterAFollowRepeatsNothing(t *testing.T) {
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

// TestFindResumeWhenTheCursorsAccountLeftSkipsNothing: the agent unfollows
// the 10 candidates of a limit-10 call, and the account at the cursor itself
// leaves the followings meanwhile (unfollowed from the phone, or
// suspended). The resume finds its place by the accounts after it, and no
// candidate is lost.
func TestFindResumeWhenTheCursorsAccountLeftSkipsNothing(t *testing.T) {
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
	if want := g.expected(nil); !slices.Equal(joined, want) {
		t.Errorf("anchor %s gone: joined %d candidates, one scan %d; repeated %v", anchor, len(joined), len(want), dupes(joined))
	}
}

// TestFindResumeWhenEveryAccountAroundTheCursorLeftReExamines: when the
// account at the cursor, the ones after it and the last ones examined have
// all left the followings, the resume starts at the top of the cursor's
// page: accounts may be examined again, none is skipped.
func TestFindResumeWhenEveryAccountAroundTheCursorLeftReExamines(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(300, 1), func(n int) bool { return n%4 != 0 }, 0)
	g.followers, g.followersCount = nil, 1_000_000
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: gw})
	first := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":50,"limit":1000}`)
	f := cursorFields(t, first["next_cursor"].(string))
	var gone []string
	for _, k := range []string{"a", "b"} {
		for _, id := range f[k].([]any) {
			gone = append(gone, id.(string))
		}
	}
	gone = append(gone, f["n"].(string))
	gw.unfollow(gone...)
	rest, _ := scanAll(t, h, `{"username":"me","limit":1000,"refresh":true,"cursor":"`+first["next_cursor"].(string)+`"}`)
	joined := append(ids(first), rest...)
	for _, id := range g.expected(nil) {
		if !slices.Contains(joined, id) && !slices.Contains(gone, id) {
			t.Errorf("candidate %s was skipped", id)
		}
	}
}

// TestFindOldCursorIsNotServedFromANewerScan: after unfollowing the first
// call's candidates the agent looks again from the top with refresh, then
// resumes the first call's cursor. The newer scan holds other accounts at
// that cursor's page, offset and index, so the resume reads the gateway and
// finds its place there: nothing is skipped.
func TestFindOldCursorIsNotServedFromANewerScan(t *testing.T) {
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
		t.Errorf("resuming the first cursor (method %v) gives %d candidates in all, one scan %d",
			outs[0]["method"], len(joined), len(want))
	}
}

// TestFindUnfollowWithoutAccountDropsTheCachedScans: without --account (the
// sandbox's default too) the server cannot tell which account the key acts
// on, so an unfollow drops every scan cached for the key: the next finder
// call reads again and does not list the accounts just unfollowed.
func TestFindUnfollowWithoutAccountDropsTheCachedScans(t *testing.T) {
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
	if again["method"] == "cache" || !slices.Equal(ids(again), first[5:]) {
		t.Errorf("method %v: %v after unfollowing %v", again["method"], ids(again), gone)
	}
}

// TestFindRefusesAnEditedCursorAndAnotherKeysCursor: the cursor is signed
// with an HMAC under the caller's key. An edited cursor, even with an
// unkeyed checksum recomputed, is [invalid_argument]; so is a cursor made
// with another key, while the same key on another server accepts it.
func TestFindRefusesAnEditedCursorAndAnotherKeysCursor(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(600, 1), func(n int) bool { return n%3 != 0 }, 10)
	h := newHarness(t, harnessOpts{gateway: newScripted(t, g)})
	first := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":10}`)
	cur := first["next_cursor"].(string)
	if strings.Contains(cur, testKey) {
		t.Fatal("the key is in the cursor")
	}
	p := cursorFields(t, cur)
	p["o"], p["i"] = 150, 150
	delete(p, "n")
	raw, _ := json.Marshal(p)
	sum := sha256.Sum256(raw)
	for _, forged := range []string{
		base64.RawURLEncoding.EncodeToString(raw) + "." + hex.EncodeToString(sum[:16]),
		base64.RawURLEncoding.EncodeToString(raw) + "." + strings.SplitN(cur, ".", 2)[1],
	} {
		text := h.fail("find_x_unfollow_candidates", `{"username":"me","limit":1000,"cursor":"`+forged+`"}`, "invalid_argument")
		if !strings.Contains(text, "cut or changed") {
			t.Errorf("%q", text)
		}
	}
	// Another server (a replica) with the same key resumes it.
	other := newHarness(t, harnessOpts{gateway: newScripted(t, g)})
	if out := other.ok("find_x_unfollow_candidates", `{"username":"me","max_following":10,"cursor":"`+cur+`"}`); num(out["examined_following"]) != 10 {
		t.Errorf("the same key on another server: %v", out)
	}
	// Another caller's key does not.
	sb := newHarness(t, harnessOpts{})
	sbCur := sb.ok("find_x_unfollow_candidates", `{"username":"xfollow_big","max_following":10}`)["next_cursor"].(string)
	stranger := newHarness(t, harnessOpts{key: "sk-aisa-another-caller-0123"})
	stranger.fail("find_x_unfollow_candidates", `{"username":"xfollow_big","cursor":"`+sbCur+`"}`, "invalid_argument")
}

// TestFindReadsInFlightAreSharedByCallsWithOneKey: two finder calls at once
// with one key (an agent's parallel tool calls) share 8 reads in flight,
// user lookups included. The gateway holds each check until 9 reads are
// waiting or a moment passes.
func TestFindReadsInFlightAreSharedByCallsWithOneKey(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(24, 1), func(n int) bool { return n%2 == 0 }, 0)
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
		if waiting++; waiting == 9 {
			close(release)
		}
		mu.Unlock()
		select {
		case <-release:
		case <-time.After(50 * time.Millisecond):
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
	if m := gw.maxIn.Load(); m != 8 {
		t.Errorf("%d reads in flight at most on one key; want 8", m)
	}
}

// TestCleanUpFollowingPromptRefusesAnotherAccountThanTheLinkedOne: with
// --account, unfollow_x_users acts on that account only, so the prompt
// refuses to clean up another one, naming both.
func TestCleanUpFollowingPromptRefusesAnotherAccountThanTheLinkedOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{account: "xfollow_sandbox"})
	_, err := getPrompt(h, map[string]string{"username": "xfollow_big"})
	if err == nil || !strings.Contains(err.Error(), "[invalid_argument]") ||
		!strings.Contains(err.Error(), "@xfollow_big") || !strings.Contains(err.Error(), "@xfollow_sandbox") {
		t.Errorf("a username other than --account: %v", err)
	}
	if _, err := getPrompt(h, map[string]string{"username": "@XFollow_Sandbox"}); err != nil {
		t.Errorf("the linked account itself, spelled otherwise: %v", err)
	}
}

// TestFindFollowersPagingProgressesUnderATightRateLimit: in followers_list
// mode nothing is examined until the whole followers list is read. Under a
// per-key allowance smaller than the followers pages (here 6 reads a window,
// 8 follower pages; the agent waits retry_after_seconds each time), each
// call continues the followers list where the last stopped, and the scan
// completes with the exact answer, each page read once.
func TestFindFollowersPagingProgressesUnderATightRateLimit(t *testing.T) {
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
	var got []string
	for ; calls < 10; calls++ {
		window.Store(0) // the agent waited retry_after_seconds
		out := h.ok("find_x_unfollow_candidates", args)
		examined += num(out["examined_following"])
		got = append(got, ids(out)...)
		if out["complete"] == true {
			break
		}
		args = `{"username":"me","limit":1000,"cursor":"` + out["next_cursor"].(string) + `"}`
	}
	if calls == 10 || examined != 450 || !slices.Equal(got, g.expected(nil)) {
		t.Errorf("%d calls: %d of 450 examined, %d candidates of %d, %d followers pages read",
			calls, examined, len(got), len(g.expected(nil)), gw.count("followers"))
	}
}
