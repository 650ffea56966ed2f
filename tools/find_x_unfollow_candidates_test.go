package tools_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// graph is a follow graph for the scripted gateway: the handle "me", the
// ids it follows (most recent first), and who follows it back.
type graph struct {
	following      []string
	followsBack    func(id string) bool
	followers      []string // the followers list as paged; nil: paging it fails the test
	followersCount int64
	rank           map[string]int // each account's place in the followings list, for cursors
	followerRank   map[string]int // and in the followers list
}

func gid(n int) string          { return strconv.Itoa(5_000_000 + n) }
func handleOf(id string) string { return "h" + id }

// newGraph: me follows following (in that order, most recent first); the
// accounts in back follow me, and so do extra others.
func newGraph(following []int, back func(n int) bool, extraFollowers int) graph {
	g := graph{followers: []string{}}
	set := map[string]bool{}
	for _, n := range following {
		g.following = append(g.following, gid(n))
		if back(n) {
			set[gid(n)] = true
			g.followers = append(g.followers, gid(n))
		}
	}
	for i := 1; i <= extraFollowers; i++ {
		id := gid(1_000_000 + i)
		set[id] = true
		g.followers = append(g.followers, id)
	}
	g.followsBack = func(id string) bool { return set[id] }
	g.followersCount = int64(len(g.followers))
	g.rank, g.followerRank = map[string]int{}, map[string]int{}
	for i, id := range g.following {
		g.rank[id] = i
	}
	for i, id := range g.followers {
		g.followerRank[id] = i
	}
	return g
}

func seq(from, to int) []int {
	var out []int
	if from <= to {
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
	} else {
		for i := from; i >= to; i-- {
			out = append(out, i)
		}
	}
	return out
}

// expected is what one uninterrupted scan must find.
func (g graph) expected(protected map[string]bool) []string {
	var ids []string
	for _, id := range g.following {
		if !g.followsBack(id) && !protected[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// scripted is an httptest gateway serving a graph the way AIsa does, that
// counts every read by kind and can inject faults.
type scripted struct {
	t      testing.TB
	g      graph
	mu     sync.Mutex
	counts map[string]int
	// fault, when set, may answer a request instead: kind is info,
	// followings, followers or check; n counts requests of that kind from 1.
	fault    func(kind string, n int, r *http.Request, w http.ResponseWriter) bool
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

// unfollow takes ids out of the followings list, as an unfollow would.
func (s *scripted) unfollow(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.g.following = slices.DeleteFunc(slices.Clone(s.g.following), func(id string) bool { return slices.Contains(ids, id) })
}

func (s *scripted) setFault(f func(kind string, n int, r *http.Request, w http.ResponseWriter) bool) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

func newScripted(t testing.TB, g graph) *scripted {
	return &scripted{t: t, g: g, counts: map[string]int{}}
}

func (s *scripted) count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[kind]
}

func (s *scripted) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.counts {
		n += v
	}
	return n
}

func listCursor(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("gw-after:" + after))
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	left := false
	leave := func() { // before the answer is written, so the client never sees it while it still counts
		if !left {
			left = true
			s.inFlight.Add(-1)
		}
	}
	defer leave()
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	kind := map[string]string{
		"/apis/v1/twitter/unfollow_twitter":               "unfollow",
		"/apis/v1/twitter/user/batch_info_by_ids":         "batch_info",
		"/apis/v1/twitter/user/info":                      "info",
		"/apis/v1/twitter/user/followings":                "followings",
		"/apis/v1/twitter/user/followers":                 "followers",
		"/apis/v1/twitter/user/check_follow_relationship": "check",
	}[r.URL.Path]
	if kind == "" {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		w.WriteHeader(404)
		return
	}
	s.mu.Lock()
	s.counts[kind]++
	nth := s.counts[kind]
	fault := s.fault
	g := s.g
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		s.t.Errorf("%s without the key", kind)
	}
	if fault != nil && fault(kind, nth, r, w) {
		return
	}
	q := r.URL.Query()
	var body bytes.Buffer
	defer func() {
		leave()
		_, _ = w.Write(body.Bytes())
	}()
	enc := json.NewEncoder(&body)
	switch kind {
	case "unfollow":
		_ = enc.Encode(map[string]any{"data": map[string]any{"following": false}})
	case "batch_info":
		users := []map[string]any{}
		for _, id := range strings.Split(q.Get("userIds"), ",") {
			users = append(users, map[string]any{"id": id, "userName": handleOf(id), "name": "User " + id})
		}
		_ = enc.Encode(map[string]any{"users": users, "status": "success"})
	case "info":
		if q.Get("userName") != "me" {
			w.WriteHeader(404)
			body.WriteString(`{"error":{"code":"resource_not_found","message":"User not found"}}`)
			return
		}
		_ = enc.Encode(map[string]any{"data": map[string]any{"id": "42", "userName": "Me", "name": "Me",
			"followers": g.followersCount, "following": len(g.following)}, "status": "success"})
	case "followings", "followers":
		if q.Get("userName") != "me" {
			s.t.Errorf("%s of %q", kind, q.Get("userName"))
		}
		if q.Get("pageSize") != "200" {
			s.t.Errorf("%s pageSize = %q, want the largest, 200", kind, q.Get("pageSize"))
		}
		list, rank := g.following, g.rank
		if kind == "followers" {
			rank = g.followerRank
			if g.followers == nil {
				s.t.Errorf("the followers list was paged; it has %d followers", g.followersCount)
				w.WriteHeader(500)
				return
			}
			list = g.followers
		}
		// Like X's, a cursor marks a place in the list (after this
		// account), not a count, so unfollows before it do not shift it.
		offset := 0
		if c := q.Get("cursor"); c != "" {
			raw, err := base64.RawURLEncoding.DecodeString(c)
			after, ok := strings.CutPrefix(string(raw), "gw-after:")
			if err != nil || !ok {
				s.t.Errorf("cursor %q is not one the gateway gave", c)
			}
			at := rank[after]
			offset = len(list)
			if k := slices.IndexFunc(list, func(id string) bool { return rank[id] > at }); k >= 0 {
				offset = k
			}
		}
		end := min(offset+200, len(list))
		users := []map[string]any{}
		for i, id := range list[offset:end] {
			users = append(users, map[string]any{"id": id, "userName": handleOf(id), "name": "User " + id, "followers": int64(offset+i) * 37 % 5000})
		}
		next := ""
		if end < len(list) {
			next = listCursor(list[end-1])
		}
		_ = enc.Encode(map[string]any{kind: users, "has_next_page": next != "", "next_cursor": next, "status": "success", "message": "success"})
	case "check":
		if q.Get("source_user_name") != "me" {
			s.t.Errorf("check from %q", q.Get("source_user_name"))
		}
		id := strings.TrimPrefix(q.Get("target_user_name"), "h")
		_ = enc.Encode(map[string]any{"data": map[string]any{
			"following": slices.Contains(g.following, id), "followed_by": g.followsBack(id)}, "status": "success"})
	}
}

func ids(out map[string]any) []string {
	var got []string
	for _, c := range out["candidates"].([]any) {
		got = append(got, c.(map[string]any)["id"].(string))
	}
	return got
}

// scanAll calls the finder from the top until complete, and returns every
// candidate in order and the results of each call.
func scanAll(t *testing.T, h *harness, args string) ([]string, []map[string]any) {
	t.Helper()
	var all []string
	var outs []map[string]any
	cursor := ""
	for i := 0; i < 200; i++ {
		a := args
		if cursor != "" {
			a = strings.TrimSuffix(args, "}") + `,"cursor":"` + cursor + `"}`
		}
		out := h.ok("find_x_unfollow_candidates", a)
		outs = append(outs, out)
		all = append(all, ids(out)...)
		if out["complete"] == true {
			if _, has := out["next_cursor"]; has {
				t.Fatalf("a complete result has a cursor: %v", out["next_cursor"])
			}
			return all, outs
		}
		c, _ := out["next_cursor"].(string)
		if c == "" {
			t.Fatalf("an incomplete result has no cursor: %v", out)
		}
		cursor = c
	}
	t.Fatal("the scan never completed")
	return nil, nil
}

func num(v any) int { f, _ := v.(float64); return int(f) }

func TestFindSmallGraph(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(10, 1), func(n int) bool { return n%2 == 0 && n != 10 }, 2)
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"@me"}`)
	want := []string{gid(10), gid(9), gid(7), gid(5), gid(3), gid(1)}
	if got := ids(out); !slices.Equal(got, want) || out["complete"] != true || out["username"] != "Me" {
		t.Fatalf("candidates %v, want %v; %v", got, want, out)
	}
	c := out["candidates"].([]any)[0].(map[string]any)
	if c["username"] != handleOf(gid(10)) || c["name"] != "User "+gid(10) || c["followers_count"] != float64(0) ||
		fmt.Sprint(c["reasons"]) != "[not_following_back]" {
		t.Fatalf("candidate = %v", c)
	}
	// One lookup, one page of each list: the fewest reads there can be.
	if num(out["gateway_calls"]) != 3 || gw.count("info") != 1 || gw.count("followers") != 1 || gw.count("followings") != 1 || gw.count("check") != 0 {
		t.Fatalf("reads: %v; gateway_calls %v", gw.counts, out["gateway_calls"])
	}
	if out["method"] != "followers_list" || num(out["examined_following"]) != 10 || num(out["excluded_protected"]) != 0 {
		t.Fatalf("%v", out)
	}
	h.fail("find_x_unfollow_candidates", `{"username":"nobody_here"}`, "user_not_found")
}

// thousands: me follows 2500 (most recent first: 2500 down to 1); one in
// five does not follow back, unevenly spread; 1000 others follow me too.
func thousands() graph {
	return newGraph(seq(2500, 1), func(n int) bool { return (n*7)%5 != 1 }, 1000)
}

func TestFindThousandsEachWay(t *testing.T) {
	t.Parallel()
	g := thousands()
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":20000,"limit":1000}`)
	want := g.expected(nil)
	if got := ids(out); !slices.Equal(got, want) || len(want) != 500 || out["complete"] != true {
		t.Fatalf("%d candidates, want %d; complete %v", len(got), len(want), out["complete"])
	}
	// 3000 followers in 15 pages cost less than 2500 checks: the lower
	// bound is the 15 + 13 list pages, plus one lookup.
	if gw.count("followers") != 15 || gw.count("followings") != 13 || gw.count("check") != 0 || gw.count("info") != 1 || num(out["gateway_calls"]) != 29 {
		t.Fatalf("reads: %v; gateway_calls %v", gw.counts, out["gateway_calls"])
	}
	if m := gw.maxIn.Load(); m > 8 {
		t.Fatalf("%d reads in flight at once", m)
	}
}

func TestFindResumesExactlyWithLimitAndMaxFollowing(t *testing.T) {
	t.Parallel()
	g := thousands()
	for _, args := range []string{
		`{"username":"me"}`, // defaults: 2000 followings, 100 candidates a call
		`{"username":"me","limit":7,"max_following":20000}`, // stops after every 7th candidate
		`{"username":"me","max_following":450,"limit":1000}`,
		`{"username":"me","max_following":1,"limit":1000,"refresh":true}`,
	} {
		if strings.Contains(args, `"max_following":1,`) {
			g = newGraph(seq(30, 1), func(n int) bool { return n%3 == 0 }, 5)
		}
		gw := newScripted(t, g)
		h := newHarness(t, harnessOpts{gateway: gw})
		got, outs := scanAll(t, h, args)
		if want := g.expected(nil); !slices.Equal(got, want) {
			t.Fatalf("%s: joined calls found %d candidates, one scan %d (repeats or gaps)", args, len(got), len(want))
		}
		examined := 0
		for i, out := range outs {
			examined += num(out["examined_following"])
			if out["complete"] == true {
				continue
			}
			switch {
			case strings.Contains(args, `"max_following":450`), strings.Contains(args, `"max_following":1,`):
				n := 450
				if strings.Contains(args, `"max_following":1,`) {
					n = 1
				}
				if num(out["examined_following"]) != n || out["stopped"] != "max_following" {
					t.Fatalf("%s call %d: examined %v, stopped %v", args, i, out["examined_following"], out["stopped"])
				}
			case strings.Contains(args, `"limit":7`):
				if len(out["candidates"].([]any)) != 7 || out["stopped"] != "limit" {
					t.Fatalf("%s call %d: %d candidates, stopped %v", args, i, len(out["candidates"].([]any)), out["stopped"])
				}
			default:
				if len(out["candidates"].([]any)) != 100 || out["stopped"] != "limit" {
					t.Fatalf("%s call %d: %d candidates", args, i, len(out["candidates"].([]any)))
				}
			}
		}
		if examined != len(g.following) {
			t.Fatalf("%s: examined %d in all, following %d", args, examined, len(g.following))
		}
		if strings.Contains(args, "refresh") {
			continue
		}
		// The followers list is paged once: later calls reuse it, and
		// read each followings page at most twice (a call that stops
		// inside a page leaves the rest of it to the next).
		if gw.count("followers") != 15 || gw.count("followings") > 2*13 || gw.count("check") != 0 {
			t.Fatalf("%s: reads %v over %d calls", args, gw.counts, len(outs))
		}
	}
}

// TestFindFewFollowingsHugeFollowers: 300 followings and a million
// followers: one check each, never a page of the million.
func TestFindFewFollowingsHugeFollowers(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(300, 1), func(n int) bool { return n%4 != 0 }, 0)
	g.followers = nil // paging it fails the test
	g.followersCount = 1_000_000
	gw := newScripted(t, g)
	// One account was unfollowed since the list was read, one renamed: the
	// checks say so, and neither is a candidate.
	gone, renamed := gid(296), gid(292)
	gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
		switch r.URL.Query().Get("target_user_name") {
		case handleOf(gone):
			_, _ = w.Write([]byte(`{"data":{"following":false,"followed_by":false},"status":"success"}`))
			return true
		case handleOf(renamed):
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":{"code":"resource_not_found","message":"User not found"}}`))
			return true
		}
		return false
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000}`)
	var want []string
	for _, id := range g.expected(nil) {
		if id != gone && id != renamed {
			want = append(want, id)
		}
	}
	if got := ids(out); !slices.Equal(got, want) || len(want) != 73 || out["complete"] != true || num(out["examined_following"]) != 300 {
		t.Fatalf("%d candidates, want %d: %v", len(got), len(want), out["complete"])
	}
	if out["method"] != "relationship_checks" || gw.count("check") != 300 || gw.count("followings") != 2 || gw.count("info") != 1 || num(out["gateway_calls"]) != 303 {
		t.Fatalf("reads %v, gateway_calls %v", gw.counts, out["gateway_calls"])
	}
	if m := gw.maxIn.Load(); m > 8 {
		t.Fatalf("%d reads in flight at once", m)
	}
	// max_following is exact for checks too: 45 examines 45, one page.
	gw2 := newScripted(t, g)
	h2 := newHarness(t, harnessOpts{gateway: gw2})
	out = h2.ok("find_x_unfollow_candidates", `{"username":"me","max_following":45,"limit":1000}`)
	if num(out["examined_following"]) != 45 || gw2.count("check") != 45 || gw2.count("followings") != 1 || out["stopped"] != "max_following" {
		t.Fatalf("max_following 45: %v, reads %v", out, gw2.counts)
	}
}

// TestFindEightReadsInFlight: checks run eight at a time, never more. The
// gateway holds each check until eight are waiting, so a finder that sent
// fewer at once would stall (and fail on the guard below).
func TestFindEightReadsInFlight(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(64, 1), func(n int) bool { return n%2 == 0 }, 0)
	g.followers = nil
	g.followersCount = 50_000
	gw := newScripted(t, g)
	var mu sync.Mutex
	waiting := 0
	seen := map[string]bool{}
	release := make(chan struct{})
	gw.setFault(func(kind string, n int, r *http.Request, w http.ResponseWriter) bool {
		if kind != "check" {
			return false
		}
		target := r.URL.Query().Get("target_user_name")
		mu.Lock()
		if seen[target] {
			mu.Unlock()
			// Held checks time out on the client only when it never sent 8.
			t.Errorf("the check of %s was sent twice: fewer than 8 checks were in flight at once", target)
			return false
		}
		seen[target] = true
		waiting++
		if waiting == 8 {
			close(release)
		}
		ch := release
		mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
		}
		return false
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","limit":1000}`)
	if !slices.Equal(ids(out), g.expected(nil)) {
		t.Fatalf("candidates %v", ids(out))
	}
	if m := gw.maxIn.Load(); m != 8 {
		t.Fatalf("%d reads in flight at most; want 8", m)
	}
}

func TestFindProtectedAreLeftOut(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(40, 1), func(n int) bool { return n%2 == 0 }, 3)
	protected := map[string]bool{gid(39): true, gid(1): true, gid(2): true} // two non-followers, one follower
	for _, huge := range []bool{false, true} {
		if huge {
			g.followers, g.followersCount = nil, 900_000
		}
		gw := newScripted(t, g)
		h := newHarness(t, harnessOpts{gateway: gw, gate: &tools.Gate{Protected: protected}})
		out := h.ok("find_x_unfollow_candidates", `{"username":"me"}`)
		got := ids(out)
		if !slices.Equal(got, g.expected(protected)) || len(got) != 18 || num(out["excluded_protected"]) != 2 {
			t.Fatalf("huge=%v: %v, excluded %v", huge, got, out["excluded_protected"])
		}
	}
}

// TestFindRateLimitResumes: a 429 that outlasts the client's retries stops
// the scan with what it found, retry_after_seconds and a cursor; resuming
// gives exactly what one uninterrupted scan gives.
func TestFindRateLimitResumes(t *testing.T) {
	t.Parallel()
	limited := func(w http.ResponseWriter, after string) bool {
		w.Header().Set("Retry-After", after)
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"slow down"}}`))
		return true
	}
	huge := newGraph(seq(500, 1), func(n int) bool { return n%3 != 0 }, 0)
	huge.followers, huge.followersCount = nil, 2_000_000
	for _, tc := range []struct {
		name     string
		g        graph
		fault    func(kind string, n int, r *http.Request, w http.ResponseWriter) bool
		examined int
	}{
		{"followers page", thousands(), func(kind string, n int, _ *http.Request, w http.ResponseWriter) bool {
			return kind == "followers" && n == 9 && limited(w, "60")
		}, 0},
		{"followings page", thousands(), func(kind string, n int, _ *http.Request, w http.ResponseWriter) bool {
			return kind == "followings" && n == 3 && limited(w, "60")
		}, 400},
		{"check", huge, func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
			// The 157th account's first check only; checks run out of order.
			return kind == "check" && r.URL.Query().Get("target_user_name") == handleOf(gid(344)) && limited(w, "120")
		}, 156},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := newScripted(t, tc.g)
			var fired atomic.Bool // once: a resumed scan is not limited again
			gw.setFault(func(kind string, n int, r *http.Request, w http.ResponseWriter) bool {
				return !fired.Load() && tc.fault(kind, n, r, w) && fired.CompareAndSwap(false, true)
			})
			h := newHarness(t, harnessOpts{gateway: gw})
			args := `{"username":"me","max_following":20000,"limit":1000}`
			first := h.ok("find_x_unfollow_candidates", args)
			want := tc.g.expected(nil)
			if first["complete"] != false || first["stopped"] != "rate_limited" || num(first["examined_following"]) != tc.examined {
				t.Fatalf("after the 429: %v", first)
			}
			if ra := num(first["retry_after_seconds"]); ra != 60 && ra != 120 {
				t.Fatalf("retry_after_seconds = %v", first["retry_after_seconds"])
			}
			got := ids(first)
			if !slices.Equal(got, want[:len(got)]) {
				t.Fatal("the partial result is not a prefix of the whole")
			}
			rest, _ := scanAll(t, h, strings.TrimSuffix(args, "}")+`,"cursor":"`+first["next_cursor"].(string)+`"}`)
			if joined := append(got, rest...); !slices.Equal(joined, want) {
				t.Fatalf("joined %d candidates, one scan %d", len(joined), len(want))
			}
		})
	}
	// A short Retry-After is waited out by the client: the scan completes.
	gw := newScripted(t, thousands())
	gw.setFault(func(kind string, n int, _ *http.Request, w http.ResponseWriter) bool {
		return kind == "followings" && n == 2 && limited(w, "1")
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":20000,"limit":1000}`)
	if out["complete"] != true || len(ids(out)) != 500 || gw.count("followings") != 14 || num(out["gateway_calls"]) != 29 {
		t.Fatalf("after a retried 429: complete %v, %d candidates, reads %v, gateway_calls %v", out["complete"], len(ids(out)), gw.counts, out["gateway_calls"])
	}
}

// finderHandler calls the tool's handler directly, as the server would,
// so that a cancelled call's result can be read.
func finderHandler(t *testing.T, gw http.Handler, gate *tools.Gate) func(ctx context.Context, args string) map[string]any {
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	c, err := aisa.New(aisa.Options{BaseURL: srv.URL + sandbox.BasePath, APIKey: testKey, Timeout: 5 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if gate == nil {
		gate = &tools.Gate{}
	}
	deps := &tools.Deps{Client: c, Logger: slog.New(slog.DiscardHandler), Gate: gate, Following: tools.NewFollowingCache(nil)}
	var tool tools.Tool
	for _, tl := range tools.All() {
		if tl.Name == "find_x_unfollow_candidates" {
			tool = tl
		}
	}
	return func(ctx context.Context, args string) map[string]any {
		var req mcp.CallToolRequest
		req.Params.Name = tool.Name
		req.Params.Arguments = json.RawMessage(args)
		res, err := tool.Handler(deps)(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("%v %s", err, textOf(res))
		}
		raw, _ := json.Marshal(res.StructuredContent)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
}

// TestFindCancel: a cancel stops the scan between reads: no read starts
// after it, the reads in flight are abandoned, and the result holds what was
// examined, with a cursor that resumes exactly there.
func TestFindCancel(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(100, 1), func(n int) bool { return n%3 == 0 }, 0)
	g.followers, g.followersCount = nil, 10_000_000
	gw := newScripted(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	var blocked atomic.Int32
	cancelled := make(chan struct{})
	// The checks of the first 20 followings (ids 100 down to 81) answer;
	// later ones hang until the client gives up on them.
	gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
		if kind != "check" {
			return false
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("target_user_name"), "h"))
		if n-5_000_000 > 80 {
			return false
		}
		if blocked.Add(1) == 8 {
			cancel()
			close(cancelled)
		}
		<-r.Context().Done()
		return true
	})
	call := finderHandler(t, gw, nil)
	out := call(ctx, `{"username":"me","limit":1000}`)
	<-cancelled
	if out["complete"] != false || out["stopped"] != "canceled" || num(out["examined_following"]) != 20 {
		t.Fatalf("cancelled: %v", out)
	}
	// 1 lookup, 1 page, 20 answered checks and the 8 in flight: nothing after.
	if gw.count("check") != 28 || num(out["gateway_calls"]) != 30 {
		t.Fatalf("reads %v, gateway_calls %v; want 28 checks", gw.counts, out["gateway_calls"])
	}
	first := ids(out)
	gw.setFault(nil)
	rest := call(context.Background(), `{"username":"me","limit":1000,"cursor":"`+out["next_cursor"].(string)+`"}`)
	if joined := append(first, ids(rest)...); !slices.Equal(joined, g.expected(nil)) || rest["complete"] != true {
		t.Fatalf("joined %v", joined)
	}
	// Cancelled before it starts: no read at all.
	before := gw.total()
	done, stop := context.WithCancel(context.Background())
	stop()
	out = call(done, `{"username":"me","refresh":true}`)
	if out["stopped"] != "canceled" || gw.total() != before || num(out["gateway_calls"]) != 0 {
		t.Fatalf("pre-cancelled: %v, %d reads", out, gw.total()-before)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestFindCache(t *testing.T) {
	t.Parallel()
	g := thousands()
	gw := newScripted(t, g)
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cache := tools.NewFollowingCache(clock.now)
	h := newHarness(t, harnessOpts{gateway: gw, following: cache, gate: &tools.Gate{Protected: map[string]bool{gid(8): true}}})
	args := `{"username":"me","max_following":20000,"limit":1000}`
	first := h.ok("find_x_unfollow_candidates", args)
	reads := gw.total()
	if reads != 29 || first["method"] != "followers_list" || num(first["excluded_protected"]) != 1 {
		t.Fatalf("first scan: %d reads", reads)
	}
	// Within 10 minutes: the same answer without a read.
	clock.add(9 * time.Minute)
	again := h.ok("find_x_unfollow_candidates", `{"username":"ME","max_following":20000,"limit":1000}`)
	if gw.total() != reads || again["method"] != "cache" || num(again["gateway_calls"]) != 0 || !slices.Equal(ids(again), ids(first)) ||
		again["complete"] != true || num(again["excluded_protected"]) != num(first["excluded_protected"]) || again["username"] != "Me" {
		t.Fatalf("cached call: %d reads, %v", gw.total()-reads, again["method"])
	}
	// The cache pages too: limit and cursor cut it exactly as a scan would.
	got, outs := scanAll(t, h, `{"username":"me","limit":9,"max_following":20000}`)
	if !slices.Equal(got, ids(first)) || len(outs) < 50 || gw.total() != reads {
		t.Fatalf("paging the cache: %d candidates in %d calls, %d reads", len(got), len(outs), gw.total()-reads)
	}
	// The ids it saw are verified followings of @me, for a while.
	if !cache.Following("me", gid(1)) || !cache.Following("@Me", gid(2500)) || cache.Following("me", gid(1_000_001)) || cache.Following("other", gid(1)) {
		t.Fatal("Following does not match the scan")
	}
	cache.Forget("me", g.expected(nil)[0])
	if cache.Following("me", g.expected(nil)[0]) {
		t.Fatal("Forget did not take")
	}
	after := h.ok("find_x_unfollow_candidates", args)
	if !slices.Equal(ids(after), ids(first)[1:]) || gw.total() != reads {
		t.Fatalf("an unfollowed account is still a candidate: %v", ids(after)[:3])
	}
	// refresh reads again.
	fresh := h.ok("find_x_unfollow_candidates", strings.TrimSuffix(args, "}")+`,"refresh":true}`)
	if num(fresh["gateway_calls"]) != 29 || gw.total() != 2*reads || !slices.Equal(ids(fresh), ids(first)) {
		t.Fatalf("refresh: %v calls", fresh["gateway_calls"])
	}
	// After 10 minutes nothing is trusted.
	clock.add(10 * time.Minute)
	if cache.Following("me", gid(1)) {
		t.Fatal("Following outlived the cache")
	}
	late := h.ok("find_x_unfollow_candidates", args)
	if num(late["gateway_calls"]) != 29 || late["method"] != "followers_list" {
		t.Fatalf("expired cache: %v", late)
	}
}

func TestFollowingCacheIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	var nilCache *tools.FollowingCache
	if nilCache.Following("me", "1") {
		t.Fatal("a nil cache knows something")
	}
	nilCache.Forget("me", "1")
	gw := newScripted(t, newGraph(seq(500, 1), func(n int) bool { return n%2 == 0 }, 10))
	cache := tools.NewFollowingCache(nil)
	h := newHarness(t, harnessOpts{gateway: gw, following: cache})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res := h.call("find_x_unfollow_candidates", `{"username":"me","limit":1000}`)
			if res.IsError {
				t.Error(textOf(res))
			}
		}()
		go func() {
			defer wg.Done()
			for j := 1; j <= 500; j++ {
				cache.Following("me", gid(j))
				if j%50 == 0 {
					cache.Forget("me", gid(j))
				}
			}
		}()
	}
	wg.Wait()
	if !cache.Following("me", gid(7)) {
		t.Fatal("the scans were not cached")
	}
}

func TestFindProgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gateway: newScripted(t, thousands())})
	var mu sync.Mutex
	var progress []float64
	var last string
	h.client.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" && n.Params.AdditionalFields["progressToken"] == "scan-1" {
			mu.Lock()
			progress = append(progress, toFloat(n.Params.AdditionalFields["progress"]))
			last, _ = n.Params.AdditionalFields["message"].(string)
			mu.Unlock()
		}
	})
	var req mcp.CallToolRequest
	req.Params.Name = "find_x_unfollow_candidates"
	req.Params.Arguments = map[string]any{"username": "me", "max_following": 20000, "limit": 1000}
	req.Params.Meta = &mcp.Meta{ProgressToken: "scan-1"}
	res, err := h.client.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatal(err, textOf(res))
	}
	// 28 pages and 2500 accounts: a notification for every page, every 200
	// accounts, and the final count. They are sent before the result.
	const want = 28 + 2500/200 + 1
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) != want || progress[len(progress)-1] != 28+2500 || !slices.IsSorted(progress) {
		t.Fatalf("%d notifications: %v", len(progress), progress)
	}
	if last != "28 list pages read, 2500 accounts examined" {
		t.Fatalf("last message %q", last)
	}
}

func TestFindArguments(t *testing.T) {
	t.Parallel()
	gw := newScripted(t, newGraph(seq(3, 1), func(int) bool { return false }, 0))
	h := newHarness(t, harnessOpts{gateway: gw})
	other := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":1}`)["next_cursor"].(string)
	reads := gw.total()
	tampered := strings.Replace(other, other[3:4], string(rune(other[3]^1)), 1)
	for args, want := range map[string]string{
		`{}`:                                  "username is missing",
		`{"username":"me","max_following":0}`: "max_following 0 is out of range",
		`{"username":"me","max_following":20001}`:         "max_following 20001",
		`{"username":"me","limit":0}`:                     "limit 0 is out of range",
		`{"username":"me","limit":1001}`:                  "an integer from 1 to 1000",
		`{"username":"me","limit":"5"}`:                   "limit must be an integer",
		`{"username":"me","cursor":"abc"}`:                "cursor is not one this tool returned",
		`{"username":"me","cursor":"` + tampered + `"}`:   "cut or changed",
		`{"username":"someone","cursor":"` + other + `"}`: "continues a scan of @me, not @someone",
		`{"username":"me","refresh":"yes"}`:               "refresh must be a boolean",
		`{"username":"me","page_size":20}`:                `unknown argument "page_size"`,
	} {
		if text := h.fail("find_x_unfollow_candidates", args, "invalid_argument"); !strings.Contains(text, want) {
			t.Errorf("%s: %q lacks %q", args, text, want)
		}
	}
	if gw.total() != reads {
		t.Fatal("an invalid call reached the gateway")
	}
	// With --account, username may be left out.
	h2 := newHarness(t, harnessOpts{gateway: newScripted(t, newGraph(seq(3, 1), func(int) bool { return false }, 0)), account: "me"})
	if out := h2.ok("find_x_unfollow_candidates", `{}`); len(ids(out)) != 3 || out["username"] != "Me" {
		t.Fatalf("default username: %v", out)
	}
}

func TestFindOnTheSandboxBigGraph(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	out := h.ok("find_x_unfollow_candidates", `{"username":"xfollow_big","max_following":20000,"limit":1000}`)
	if got := ids(out); !slices.Equal(got, sandbox.BigNonFollowers()) || out["complete"] != true {
		t.Fatalf("%d candidates, want %d", len(got), len(sandbox.BigNonFollowers()))
	}
	pages := func(n int) int { return (n + 199) / 200 }
	if h.requestsTo("/twitter/user/followers") != pages(sandbox.BigFollowerCount()) || h.requestsTo("/twitter/user/followings") != pages(sandbox.BigFollowingCount) ||
		num(out["gateway_calls"]) != 1+pages(sandbox.BigFollowerCount())+pages(sandbox.BigFollowingCount) {
		t.Fatalf("gateway_calls %v", out["gateway_calls"])
	}
}

// TestFinderScanVerifiesFollowingForUnfollows: with --account, an unfollow
// of an account the finder just saw in the account's followings needs no
// relationship check, is journaled as was_following, and leaves the cached
// candidates.
func TestFinderScanVerifiesFollowingForUnfollows(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(30, 1), func(n int) bool { return n%2 == 0 }, 0)
	gw := newScripted(t, g)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := safety.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	h := newHarness(t, harnessOpts{gateway: gw, account: "me", gate: &tools.Gate{Journal: j}})
	found := ids(h.ok("find_x_unfollow_candidates", `{}`))
	if len(found) != 15 {
		t.Fatalf("%d candidates", len(found))
	}
	b, _ := json.Marshal(map[string]any{"target_user_ids": found[:5]})
	out := h.ok("unfollow_x_users", string(b))
	for _, r := range out["results"].([]any) {
		if r.(map[string]any)["status"] != "unfollowed" {
			t.Fatalf("batch: %v", out)
		}
	}
	if gw.count("unfollow") != 5 || gw.count("check") != 0 || gw.count("batch_info") != 0 {
		t.Fatalf("reads before the unfollows: %v; the scan had verified them", gw.counts)
	}
	recs, _, err := safety.ReadJournalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	for _, r := range recs {
		if r.Phase == safety.PhaseOutcome && r.WasFollowing != nil && *r.WasFollowing && slices.Contains(found[:5], r.TargetUserID) {
			verified++
		}
	}
	if verified != 5 {
		t.Fatalf("%d outcome records carry was_following true; want 5", verified)
	}
	reads := gw.total()
	again := h.ok("find_x_unfollow_candidates", `{}`)
	if !slices.Equal(ids(again), found[5:]) || gw.total() != reads || again["method"] != "cache" {
		t.Fatalf("after the unfollows: %v (%d reads)", ids(again), gw.total()-reads)
	}
	// An id no scan saw is still checked before it is unfollowed.
	h.ok("unfollow_x_users", `{"target_user_ids":["`+gid(999)+`"]}`)
	if gw.count("check") != 1 || gw.count("batch_info") != 1 {
		t.Fatalf("an unseen id was not checked: %v", gw.counts)
	}
}

// TestFindCursorSurvivesUnfollowsEarlierInThePage: the agent unfollows the
// candidates it got, then resumes; the accounts before the cursor in its
// page are gone, and the scan still continues at exactly the next account.
func TestFindCursorSurvivesUnfollowsEarlierInThePage(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(600, 1), func(n int) bool { return n%3 != 0 }, 10)
	want := g.expected(nil)
	gw := newScripted(t, g)
	h := newHarness(t, harnessOpts{gateway: gw})
	var got []string
	args := `{"username":"me","limit":30,"refresh":true}`
	for call := 0; call < 20; call++ {
		out := h.ok("find_x_unfollow_candidates", args)
		found := ids(out)
		got = append(got, found...)
		gw.unfollow(found...)
		if out["complete"] == true {
			break
		}
		args = `{"username":"me","limit":30,"refresh":true,"cursor":"` + out["next_cursor"].(string) + `"}`
	}
	if !slices.Equal(got, want) {
		t.Fatalf("found %d of %d across the unfollows", len(got), len(want))
	}
}

// TestFindGatewayDownMidScan: a gateway that stays down after the client's
// retries ends the scan with what it found and a cursor; down from the first
// read, it is an error.
func TestFindGatewayDownMidScan(t *testing.T) {
	t.Parallel()
	g := thousands()
	gw := newScripted(t, g)
	var down atomic.Bool
	down.Store(true)
	gw.setFault(func(kind string, n int, _ *http.Request, w http.ResponseWriter) bool {
		if kind == "followings" && n >= 4 && down.Load() {
			w.WriteHeader(503)
			return true
		}
		return false
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":20000,"limit":1000}`)
	if out["stopped"] != "gateway_unavailable" || out["complete"] != false || num(out["examined_following"]) != 600 || gw.count("followings") != 3+4 {
		t.Fatalf("503 mid-scan: %v, reads %v", out, gw.counts)
	}
	down.Store(false)
	rest := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":20000,"limit":1000,"cursor":"`+out["next_cursor"].(string)+`"}`)
	if joined := append(ids(out), ids(rest)...); !slices.Equal(joined, g.expected(nil)) {
		t.Fatalf("joined %d of %d", len(joined), len(g.expected(nil)))
	}
}

// TestFindProgressTotalOnlyGrows: when a followers list runs on and the
// scan starts over with relationship checks, the expected work changes; the
// total it reports never goes back, every count stays within it, and the
// last notification reaches it.
func TestFindProgressTotalOnlyGrows(t *testing.T) {
	t.Parallel()
	g := newGraph(seq(50, 1), func(n int) bool { return n%2 == 0 }, 0)
	gw := newScripted(t, g)
	gw.setFault(func(kind string, _ int, r *http.Request, w http.ResponseWriter) bool {
		if kind != "followers" {
			return false
		}
		c := r.URL.Query().Get("cursor")
		if c == "" {
			writePage(w, "followers", g.followers[:25], "e1")
			return true
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(c, "e"))
		writePage(w, "followers", nil, "e"+strconv.Itoa(n+1))
		return true
	})
	h := newHarness(t, harnessOpts{gateway: gw})
	var mu sync.Mutex
	var progress, totals []float64
	h.client.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" && n.Params.AdditionalFields["progressToken"] == "grow" {
			mu.Lock()
			progress = append(progress, toFloat(n.Params.AdditionalFields["progress"]))
			totals = append(totals, toFloat(n.Params.AdditionalFields["total"]))
			mu.Unlock()
		}
	})
	var req mcp.CallToolRequest
	req.Params.Name = "find_x_unfollow_candidates"
	req.Params.Arguments = map[string]any{"username": "me", "limit": 1000}
	req.Params.Meta = &mcp.Meta{ProgressToken: "grow"}
	res, err := h.client.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatal(err, textOf(res))
	}
	// The in-process transport delivers notifications on a goroutine of
	// its own: wait for the last one (the call's final count).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(progress)
		reached := n > 0 && progress[n-1] == totals[n-1]
		mu.Unlock()
		if reached {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(totals) < 3 || !slices.IsSorted(totals) || !slices.IsSorted(progress) {
		t.Fatalf("totals %v, progress %v", totals, progress)
	}
	for i := range totals {
		if progress[i] > totals[i] {
			t.Fatalf("progress %v over its total %v", progress, totals)
		}
	}
	if progress[len(progress)-1] != totals[len(totals)-1] {
		t.Fatalf("the last count %v does not reach its total %v", progress, totals)
	}
}

// TestFindSaysHowFarThereIsToGo: an answer that stops early gives the
// following count, how many accounts are left and about how many pages;
// a complete one gives the count alone.
func TestFindSaysHowFarThereIsToGo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{gateway: newScripted(t, thousands())})
	out := h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":300,"limit":1000}`)
	if out["complete"] != false || num(out["following_count"]) != 2500 || num(out["remaining_following"]) != 2200 || num(out["remaining_pages"]) != 11 {
		t.Fatalf("stopped early: %v", map[string]any{"complete": out["complete"], "following_count": out["following_count"], "remaining_following": out["remaining_following"], "remaining_pages": out["remaining_pages"]})
	}
	out = h.ok("find_x_unfollow_candidates", `{"username":"me","max_following":5000,"limit":1000}`)
	if out["complete"] != true || num(out["following_count"]) != 2500 || out["remaining_following"] != nil || out["remaining_pages"] != nil {
		t.Fatalf("complete: %v %v %v %v", out["complete"], out["following_count"], out["remaining_following"], out["remaining_pages"])
	}
}
