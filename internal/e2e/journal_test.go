package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// Two live servers share one journal, and a fragment (a record cut short
// by a crash or a full disk) is left at its end between their appends. The
// server that appends next closes it off first: no record is swallowed,
// the two together stay within one budget, and undo sees every unfollow.
func TestSharedJournalFragmentBetweenAppends(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	args := []string{"--journal", journal, "--max-unfollows-per-15m", "3"}
	a := start(t, gw, serverOpts{args: args})
	b := start(t, gw, serverOpts{args: args})
	inject := func() {
		f, err := os.OpenFile(journal, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"time":"2026-12-07T10:00:00Z","phase":"intent","tool":"unfollow_x_us`); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	a.ok("unfollow_x_user", id("12"))
	inject()
	b.ok("unfollow_x_user", id("783214"))
	inject()
	a.ok("unfollow_x_user", id("2244994945"))
	inject()
	a.fail("unfollow_x_user", id("11348282"), "budget_exhausted")
	b.fail("unfollow_x_user", id("11348282"), "budget_exhausted")
	if n := len(gw.Writes()); n != 3 {
		t.Fatalf("the gateway saw %d unfollows with a shared limit of 3", n)
	}
	for _, p := range []*proc{a, b} {
		if n := strings.Count(p.stderr.String(), "a journal line was cut short"); n > 2 {
			t.Errorf("a fragment was reported %d times by one server", n)
		}
	}
	if all := a.stderr.String() + b.stderr.String(); strings.Count(all, "a journal line was cut short") != 3 {
		t.Errorf("want each of the 3 fragments reported once:\n%s", all)
	}
	a.stop()
	b.stop()
	cmd := exec.Command(binary, "undo", "--journal", journal, "--since", "1h", "--dry-run")
	cmd.Env = []string{"AISA_API_KEY=" + testKey, "AISA_BASE_URL=" + gw.URL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("undo: %v\n%s", err, out)
	}
	for _, id := range []string{"12", "783214", "2244994945"} {
		if !strings.Contains(string(out), "would re-follow "+id) {
			t.Errorf("undo does not see the unfollow of %s:\n%s", id, out)
		}
	}
	if strings.Contains(string(out), "skipped") {
		t.Errorf("undo skipped a line:\n%s", out)
	}
}

// A journal that others could read is tightened to 0600, and the server
// says so on stderr.
func TestReadableJournalIsTightened(t *testing.T) {
	t.Parallel()
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(journal, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(journal, 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, serverOpts{args: []string{"--sandbox", "--journal", journal}})
	p.stop()
	st, err := os.Stat(journal)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v (%v); want 0600", st.Mode().Perm(), err)
	}
	if !strings.Contains(p.stderr.String(), "the journal was readable by other users; its mode was tightened") {
		t.Fatalf("no notice on stderr:\n%s", p.stderr.String())
	}
}
