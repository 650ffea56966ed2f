package cli

import (
	"os"
	"path/filepath"
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

// TestUndoSaysWhatTheJournalHolds: undo of a sandbox journal without
// --sandbox names the sandbox and how to reach it, never a blank
// fingerprint, and exits 3; with --sandbox it lists handles beside ids.
func TestUndoSaysWhatTheJournalHolds(t *testing.T) {
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	if code, out, errOut := run(t, nil, "--sandbox", "--account", "xfollow_sandbox", "--journal", journal, "call", "unfollow_x_user", `{"target_user_id":"12"}`); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut := run(t, nil, "undo", "--journal", journal, "--since", "1h")
	if code != 3 || !strings.Contains(out, "gateway sandbox (1 unfollow): add --sandbox") || strings.Contains(out, "fingerprint  ") ||
		!strings.Contains(out, "key fingerprint (none: no AISA_API_KEY is set)") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "--sandbox", "--dry-run", "undo", "--journal", journal, "--since", "1h")
	if code != 0 || !strings.Contains(out, "would re-follow 12 (@jack)") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h")
	if code != 0 || !strings.Contains(out, "refollowed 12 (@jack)") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// Every unfollow was followed again: nothing left, and that is done.
	code, out, _ = run(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h")
	if code != 0 || !strings.Contains(out, "were all followed again since") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// An empty window says so and exits 3.
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, nil, "--sandbox", "undo", "--journal", empty, "--since", "1h")
	if code != 3 || !strings.Contains(out, "holds no unfollow of any gateway or key in the last 1h0m0s") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestUndoUsageShowsDryRun: the usage line names --dry-run.
func TestUndoUsageShowsDryRun(t *testing.T) {
	_, out, _ := run(t, nil, "--help")
	if !strings.Contains(out, "undo --journal PATH --since 2h [--dry-run]") {
		t.Fatalf("usage:\n%s", out)
	}
}
