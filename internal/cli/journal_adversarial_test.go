package cli

// Journals shared, inherited from older versions, or reached by another
// spelling of the gateway; files that are not regular.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestLegacyJournalStillCounts: a journal written before records named
// their gateway and key holds three unfollows from a minute ago. With a
// budget of 3 per 15 minutes a fourth is refused, and undo re-follows the
// three: an upgrade neither resets the budget nor forgets what to undo.
func TestLegacyJournalStillCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var b strings.Builder
	for i, id := range []string{"783214", "11348282", "2244994945"} {
		fmt.Fprintf(&b, `{"time":%q,"call_id":"c%d","phase":"intent","tool":"unfollow_x_user","target_user_id":%q,"expected_username":"","dry_run":false}`+"\n", at, i, id)
		fmt.Fprintf(&b, `{"time":%q,"call_id":"c%d","phase":"outcome","tool":"unfollow_x_user","target_user_id":%q,"expected_username":"","dry_run":false,"outcome":"ok","following":false}`+"\n", at, i, id)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// A real (not sandbox) gateway: the legacy records can only be its.
	gw := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer gw.Close()
	env := map[string]string{"AISA_API_KEY": "sk-xfollow-key", "AISA_BASE_URL": gw.URL + sandbox.BasePath}
	code, out, errOut := run(t, env, "--journal", path, "--max-unfollows-per-15m", "3", "call", "unfollow_x_user", `{"target_user_id":"12"}`)
	if code == 0 || !strings.Contains(errOut, "[budget_exhausted]") {
		t.Errorf("a 4th unfollow went through a budget of 3 that the legacy journal had used up: exit %d, %s %s", code, out, errOut)
	}
	code, out, errOut = run(t, env, "--journal", path, "--dry-run", "undo", "--since", "1h")
	if strings.Contains(out, "nothing to undo") || !strings.Contains(out, "783214") {
		t.Errorf("undo ignores the legacy journal's unfollows: exit %d\n%s%s", code, out, errOut)
	}
}

// TestGatewaySpellingKeepsOneBudget: the same gateway written another way
// (localhost for 127.0.0.1 here; API.aisa.one or api.aisa.one:443 for the
// real one) is the same gateway in the journal, with one budget.
func TestGatewaySpellingKeepsOneBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	gw := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer gw.Close()
	env := map[string]string{"AISA_API_KEY": "sk-xfollow-key", "AISA_BASE_URL": gw.URL + sandbox.BasePath}
	if code, out, errOut := run(t, env, "--journal", path, "--max-unfollows-per-15m", "1", "call", "unfollow_x_user", `{"target_user_id":"783214"}`); code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	env["AISA_BASE_URL"] = strings.Replace(gw.URL, "127.0.0.1", "localhost", 1) + sandbox.BasePath
	code, out, errOut := run(t, env, "--journal", path, "--max-unfollows-per-15m", "1", "call", "unfollow_x_user", `{"target_user_id":"11348282"}`)
	if code == 0 {
		t.Errorf("a second unfollow went through a budget of 1 because the same gateway was spelled differently: %s %s", out, errOut)
	}
}

// TestTwoServersOnOneJournalShareOneBudget: hosts may run several servers
// with the same --journal. Each must see the others' unfollows before its
// own (they are read under the journal's lock before each write), so two
// servers with a budget of 1 per 15 minutes unfollow one account, not two.
func TestTwoServersOnOneJournalShareOneBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	gw := httptest.NewServer(sandbox.New(sandbox.Options{}))
	defer gw.Close()
	cfg := config.Config{APIKey: "sk-xfollow-key", BaseURL: gw.URL + sandbox.BasePath, Timeout: 5 * time.Second,
		Journal: path, MaxUnfollowsPer15m: 1, MaxUnfollowsPerDay: 400, Workers: 4}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := build(cfg, "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := build(cfg, "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	var out, errb bytes.Buffer
	p := IO{Stdout: &out, Stderr: &errb}
	ca := a.callOnce(context.Background(), p, "unfollow_x_user", `{"target_user_id":"783214"}`)
	cb := b.callOnce(context.Background(), p, "unfollow_x_user", `{"target_user_id":"11348282"}`)
	if ca == 0 && cb == 0 {
		t.Fatalf("two servers on one journal each spent a budget of 1:\n%s%s", out.String(), errb.String())
	}
}

// TestProtectFileFIFOIsRefusedAtOnce: --protect-file naming a FIFO is
// refused at start instead of blocking it for ever (an open waits for a
// writer).
func TestProtectFileFIFOIsRefusedAtOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "protect")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan int, 1)
	go func() {
		code, _, _ := run(t, nil, "--sandbox", "--protect-file", fifo, "call", "get_x_user", `{"username":"jack"}`)
		done <- code
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		// Unblock the open so the goroutine ends.
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("the start hung on a --protect-file that is a FIFO; want a clear error within a second")
	}
}
