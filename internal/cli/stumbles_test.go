package cli

import (
	"strings"
	"testing"
)

// TestCallPrintsLinksAsWritten: call's output is what a person copies; the
// link's ampersands must be ampersands, not \u0026.
func TestCallPrintsLinksAsWritten(t *testing.T) {
	code, out, errOut := run(t, nil, "--sandbox", "call", "link_x_account")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, `\u00`) || !strings.Contains(out, "?client_id=AIsa&code_challenge=") {
		t.Fatalf("stdout %s", out)
	}
}

// TestCallExitCodes: 0 done, 1 error, 2 usage, 3 refused or partly done.
func TestCallExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"done", []string{"--sandbox", "call", "unfollow_x_users", `{"target_user_ids":["1","2"]}`}, 0},
		{"batch refused whole", []string{"--sandbox", "--max-unfollows-per-15m", "1", "--max-unfollows-per-day", "1", "call", "unfollow_x_users", `{"target_user_ids":["1","2","3"]}`}, 3},
		{"protected", []string{"--sandbox", "--protect", "5", "call", "unfollow_x_user", `{"target_user_id":"5"}`}, 3},
		{"read-only", []string{"--sandbox", "--read-only", "call", "unfollow_x_user", `{"target_user_id":"5"}`}, 3},
		{"bad argument", []string{"--sandbox", "call", "unfollow_x_user", `{"target_user_id":"@jack"}`}, 1},
		{"gateway said no", []string{"--sandbox", "call", "get_x_user", `{"username":"nobody_here_at_all"}`}, 1},
		{"no such tool", []string{"--sandbox", "call", "no_such_tool"}, 1},
		{"usage", []string{"--sandbox", "call"}, 2},
	} {
		code, _, errOut := run(t, nil, tc.args...)
		if code != tc.want {
			t.Errorf("%s: exit %d, want %d (%s)", tc.name, code, tc.want, errOut)
		}
	}
}
