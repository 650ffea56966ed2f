package tools_test

import (
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestCandidatesCarryProfiles: each candidate carries what the followings
// pages gave (picture, bio, counts, verified, creation date) with no read
// of its own, and untrusted text comes through byte for byte.
func TestCandidatesCarryProfiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	out := h.ok("find_x_unfollow_candidates", `{"username":"xfollow_big","limit":20}`)
	cands := out["candidates"].([]any)
	if len(cands) != 20 {
		t.Fatalf("%d candidates", len(cands))
	}
	// One profile read, then whole pages of both lists: nothing per candidate.
	pages := func(n int) int { return (n + 199) / 200 }
	if got := num(out["gateway_calls"]); got > 1+pages(sandbox.BigFollowerCount())+1 {
		t.Fatalf("gateway_calls = %v: the candidates' profiles cost reads", got)
	}
	if h.requestsTo("/twitter/user/batch_info_by_ids")+h.requestsTo("/twitter/user/info") != 1 {
		t.Fatal("profiles were looked up one by one")
	}
	pictures, xss := 0, false
	for _, c := range cands {
		m := c.(map[string]any)
		for _, k := range []string{"followers_count", "following_count", "verified", "created_at"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %s", m["username"], k)
			}
		}
		if ts, _ := m["created_at"].(string); !strings.HasSuffix(ts, "Z") || len(ts) != len("2006-01-02T15:04:05Z") {
			t.Errorf("%s: created_at %q is not RFC 3339 UTC", m["username"], ts)
		}
		if u, ok := m["profile_image_url"].(string); ok {
			pictures++
			if !strings.HasPrefix(u, "https://pbs.twimg.com/") && !strings.HasPrefix(u, "https://abs.twimg.com/") {
				t.Errorf("%s: picture %q", m["username"], u)
			}
		}
		if m["username"] == sandbox.XSSUsername {
			xss = m["description"] == sandbox.XSSBio && m["name"] == "Markup <b>Tester</b>"
		}
	}
	if pictures == 0 || pictures == len(cands) {
		t.Errorf("%d of %d candidates have a picture; the sandbox gives most, not all, one", pictures, len(cands))
	}
	if !xss {
		t.Errorf("@%s is not a candidate with its markup bio intact", sandbox.XSSUsername)
	}
}
