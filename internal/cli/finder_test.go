package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestSandboxBigGraphEndToEnd: the finder works on @xfollow_big without a
// key, by name or, with --account, by default; an account the sandbox does
// not have cannot be linked.
func TestSandboxBigGraphEndToEnd(t *testing.T) {
	want := sandbox.BigNonFollowers()
	for _, args := range [][]string{
		{"--sandbox", "call", "find_x_unfollow_candidates", `{"username":"xfollow_big"}`},
		{"--sandbox", "--account", "xfollow_big", "call", "find_x_unfollow_candidates", `{"limit":1000,"max_following":3000}`},
	} {
		code, out, errOut := run(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var m struct {
			Candidates []struct {
				ID string `json:"id"`
			} `json:"candidates"`
			Complete bool   `json:"complete"`
			Cursor   string `json:"next_cursor"`
			Username string `json:"username"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil || m.Username != sandbox.BigUsername {
			t.Fatalf("%v: %q", args, out)
		}
		var got []string
		for _, c := range m.Candidates {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, want[:len(got)]) || len(got) == 0 {
			t.Fatalf("%v: %d candidates, not the first of the %d known", args, len(got), len(want))
		}
		if full := len(got) == len(want); full != m.Complete || full == (m.Cursor != "") {
			t.Fatalf("%v: %d of %d, complete %v, cursor %q", args, len(got), len(want), m.Complete, m.Cursor)
		}
	}
	code, _, errOut := run(t, nil, "--sandbox", "--account", "someone_else", "tools")
	if code != 1 || !strings.Contains(errOut, "xfollow_big") {
		t.Fatalf("unknown sandbox account: %d %q", code, errOut)
	}
}
