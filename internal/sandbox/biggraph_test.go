package sandbox

import (
	"net/url"
	"slices"
	"testing"
)

// pageAll walks a follow list of name to its end and returns the ids in
// order and the page sizes.
func pageAll(t *testing.T, sb *Sandbox, path, key, name string) ([]string, []int) {
	t.Helper()
	var ids []string
	var sizes []int
	cursor := ""
	for pages := 0; pages < 100; pages++ {
		rec, m := do(t, sb, "GET", path+"?userName="+name+"&pageSize=200&cursor="+url.QueryEscape(cursor), "", true)
		if rec.Code != 200 || m["status"] != "success" {
			t.Fatalf("%s page %d: %d %v", path, pages, rec.Code, m)
		}
		list := m[key].([]any)
		sizes = append(sizes, len(list))
		for _, u := range list {
			ids = append(ids, u.(map[string]any)["id"].(string))
		}
		if m["has_next_page"] != true {
			if m["next_cursor"] != "" {
				t.Fatalf("last page has a cursor: %v", m["next_cursor"])
			}
			return ids, sizes
		}
		cursor = m["next_cursor"].(string)
	}
	t.Fatal("the list never ended")
	return nil, nil
}

func TestBigGraph(t *testing.T) {
	sb := New(Options{})
	if sb.bigSeeded {
		t.Fatal("the big graph was built before anything named it")
	}
	_, m := do(t, sb, "GET", "/twitter/user/info?userName=xfollow_big", "", true)
	u := m["users"].([]any)[0].(map[string]any)
	if u["id"] != BigID || u["following"] != float64(BigFollowingCount) || u["followers"] != float64(BigFollowerCount()) {
		t.Fatalf("profile = %v", u)
	}
	if n := BigFollowerCount(); n < 2000 || n == BigFollowingCount {
		t.Fatalf("followers = %d; want a different few thousand", n)
	}

	following, sizes := pageAll(t, sb, "/twitter/user/followings", "followings", BigUsername)
	if len(following) != BigFollowingCount || sizes[0] != 200 || len(sizes) != (BigFollowingCount+199)/200 {
		t.Fatalf("%d followings in pages of %v", len(following), sizes)
	}
	if following[0] != BigUserID(BigFollowingCount) || following[len(following)-1] != BigUserID(1) {
		t.Fatalf("not most recent first: %s ... %s", following[0], following[len(following)-1])
	}
	followers, _ := pageAll(t, sb, "/twitter/user/followers", "followers", BigUsername)
	if len(followers) != BigFollowerCount() {
		t.Fatalf("%d followers, want %d", len(followers), BigFollowerCount())
	}
	// The known non-followers are exactly the followings missing from the
	// followers list, in list order.
	isFollower := map[string]bool{}
	for _, id := range followers {
		isFollower[id] = true
	}
	var want []string
	for _, id := range following {
		if !isFollower[id] {
			want = append(want, id)
		}
	}
	if got := BigNonFollowers(); !slices.Equal(got, want) || len(got) < 500 {
		t.Fatalf("BigNonFollowers has %d ids, the lists give %d", len(got), len(want))
	}
	// check_follow_relationship agrees with the lists.
	for _, n := range []int{1, 2, 4, 25, 2999, 3000} {
		_, m := do(t, sb, "GET", "/twitter/user/check_follow_relationship?source_user_name=xfollow_big&target_user_name="+BigUsernameOf(n), "", true)
		d := m["data"].(map[string]any)
		if d["following"] != true || d["followed_by"] != isFollower[BigUserID(n)] {
			t.Fatalf("check %d = %v", n, d)
		}
	}
	// The small graph is untouched.
	_, m = do(t, sb, "GET", "/twitter/user/info?userName=xfollow_sandbox", "", true)
	if u := m["users"].([]any)[0].(map[string]any); u["following"] != float64(4+SimUserCount) {
		t.Fatalf("small graph changed: %v", u)
	}
}

func TestBigGraphAsTheLinkedAccount(t *testing.T) {
	sb := New(Options{Account: BigUsername})
	victim := BigNonFollowers()[0]
	if !sb.Follows(victim) {
		t.Fatal("the linked account is not @xfollow_big")
	}
	if rec, _ := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"`+victim+`"}`, true); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	_, m := do(t, sb, "GET", "/twitter/user/info?userName=xfollow_big", "", true)
	if u := m["users"].([]any)[0].(map[string]any); u["following"] != float64(BigFollowingCount-1) || sb.Follows(victim) {
		t.Fatalf("after the unfollow: %v", u)
	}
	if _, err := Start(Options{Account: "nobody_here"}); err == nil {
		t.Fatal("an unknown sandbox account was accepted")
	}
}

// TestCursorsMarkAPlace: as X's do, a cursor continues after the account
// it was made at, whatever was unfollowed before it since.
func TestCursorsMarkAPlace(t *testing.T) {
	sb := New(Options{Account: BigUsername})
	_, p1 := do(t, sb, "GET", "/twitter/user/followings?userName=xfollow_big&pageSize=20", "", true)
	cursor := p1["next_cursor"].(string)
	_, p2 := do(t, sb, "GET", "/twitter/user/followings?userName=xfollow_big&pageSize=20&cursor="+cursor, "", true)
	for _, u := range p1["followings"].([]any)[:10] {
		do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"`+u.(map[string]any)["id"].(string)+`"}`, true)
	}
	_, again := do(t, sb, "GET", "/twitter/user/followings?userName=xfollow_big&pageSize=20&cursor="+cursor, "", true)
	first := func(m map[string]any) any { return m["followings"].([]any)[0].(map[string]any)["id"] }
	if first(again) != first(p2) || len(again["followings"].([]any)) != 20 {
		t.Fatalf("page 2 moved: %v, was %v", first(again), first(p2))
	}
}
