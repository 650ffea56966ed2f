package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
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

// TestSandboxRemembersBetweenProcesses: with a journal the sandbox keeps
// its follow graph beside it, so an unfollow in one process, what a
// second reads, and an undo in a third are one world; --sandbox-state names
// the file without a journal; with neither each process starts afresh.
func TestSandboxRemembersBetweenProcesses(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.jsonl")
	following := func(args ...string) string {
		t.Helper()
		args = append(args, "call", "check_x_follow_relationship", `{"source_username":"xfollow_sandbox","target_username":"jack"}`)
		code, out, errOut := run(t, nil, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s%s", code, out, errOut)
		}
		if strings.Contains(out, `"following":true`) {
			return "following"
		}
		return "not following"
	}
	if code, out, errOut := run(t, nil, "--sandbox", "--journal", journal, "call", "unfollow_x_user", `{"target_user_id":"12"}`); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if got := following("--sandbox", "--journal", journal); got != "not following" {
		t.Fatalf("a second process sees the account %s", got)
	}
	if got := following("--sandbox"); got != "following" {
		t.Fatalf("without a journal or --sandbox-state a process starts afresh; it sees %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "xfollow-sandbox-state.jsonl")); err != nil {
		t.Fatalf("no state beside the journal: %v", err)
	}
	code, out, errOut := run(t, nil, "--sandbox", "undo", "--journal", journal, "--since", "1h")
	if code != 0 || !strings.Contains(out, "refollowed 12") {
		t.Fatalf("undo: exit %d\n%s%s", code, out, errOut)
	}
	if got := following("--sandbox", "--journal", journal); got != "following" {
		t.Fatalf("after undo in another process the account is %s", got)
	}

	state := filepath.Join(t.TempDir(), "world.jsonl")
	if code, out, errOut := run(t, nil, "--sandbox", "--sandbox-state", state, "call", "unfollow_x_users", `{"target_user_ids":["12","783214"]}`); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if got := following("--sandbox", "--sandbox-state", state); got != "not following" {
		t.Fatalf("--sandbox-state: a second process sees the account %s", got)
	}
	// The big account's graph, built on demand, is kept too.
	if code, out, errOut := run(t, nil, "--sandbox", "--account", "xfollow_big", "--sandbox-state", state, "call", "unfollow_x_user", `{"target_user_id":"`+sandbox.BigUserID(1)+`"}`); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "--sandbox", "--sandbox-state", state, "call", "check_x_follow_relationship", `{"source_username":"xfollow_big","target_username":"`+sandbox.BigUsernameOf(1)+`"}`)
	if code != 0 || !strings.Contains(out, `"following":false`) {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// A file that is not a state file is an error, not a fresh world.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, nil, "--sandbox", "--sandbox-state", bad, "call", "get_x_user", `{"username":"jack"}`)
	if code != 1 || !strings.Contains(errOut, "line 1 is not a follow, unfollow or request") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestDidYouMean: a mistyped command or tool name gets the one it is close
// to; a word close to nothing gets no guess.
func TestDidYouMean(t *testing.T) {
	code, _, errOut := run(t, nil, "--sandbox", "tool")
	if code != 2 || !strings.Contains(errOut, `unknown command "tool"; did you mean tools?`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, nil, "--sandbox", "call", "unfolow_x_user", `{"target_user_id":"12"}`)
	if code != 1 || !strings.Contains(errOut, `no tool named "unfolow_x_user" here; did you mean unfollow_x_user?`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, nil, "--sandbox", "frobnicate")
	if code != 2 || strings.Contains(errOut, "did you mean") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := didYouMean("get_x_usr", []string{"get_x_user", "list_x_following"}); got != "get_x_user" {
		t.Fatalf("didYouMean = %q", got)
	}
}

// TestPlainWords: an id sent as a number, or a timeout that is not a
// length of time, is told in words a person uses.
func TestPlainWords(t *testing.T) {
	code, _, errOut := run(t, nil, "--sandbox", "call", "unfollow_x_user", `{"target_user_id":12}`)
	if code != 1 || !strings.Contains(errOut, `target_user_id must be the id in quotes, e.g. "2244994945", not a JSON number`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, nil, "--sandbox", "call", "unfollow_x_users", `{"target_user_ids":[12]}`)
	if code != 1 || !strings.Contains(errOut, `target_user_ids must be a list of ids, each in quotes`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, nil, "--timeout", "soon")
	if code != 2 || strings.Contains(errOut, "Go duration") || !strings.Contains(errOut, "a length of time such as 20s") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestKeyOnTheCommandLineIsNotEchoed: an AIsa key put where a command or a
// tool name goes (a host config's args, say) is not printed back: stderr
// ends up in the host's log files.
func TestKeyOnTheCommandLineIsNotEchoed(t *testing.T) {
	const key = "sk-aisa-Q1w2E3r4T5y6U7i8O9p0"
	for _, args := range [][]string{
		{key},
		{"--sandbox", key},
		{"--sandbox", "call", key},
		{"--sandbox", "call", "SK-AISA-" + key[8:]},
	} {
		code, out, errOut := run(t, nil, args...)
		if code == 0 || strings.Contains(strings.ToLower(out+errOut), strings.ToLower(key[8:])) {
			t.Fatalf("%q: exit %d, the key is echoed: %s%s", args, code, out, errOut)
		}
		if !strings.Contains(errOut, "AISA_API_KEY") {
			t.Fatalf("%q: the refusal does not say where the key goes: %s", args, errOut)
		}
	}
}

// TestUndoNegativeSinceSaysSo: a negative --since was given, so the
// refusal says what is wrong with it rather than asking for it.
func TestUndoNegativeSinceSaysSo(t *testing.T) {
	code, _, errOut := run(t, nil, "--sandbox", "undo", "--journal", filepath.Join(t.TempDir(), "j.jsonl"), "--since", "-1h")
	if code != 2 || !strings.Contains(errOut, "must be positive") || strings.Contains(errOut, "undo needs") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
