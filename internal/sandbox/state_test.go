package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A state line cut short (a full disk, or a process killed mid-write) is a
// write whose change was never made: the world loads without it, and a
// write after it, by this process or another that had the file open, starts
// on a line of its own instead of being swallowed by the fragment.
func TestStateSurvivesATornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	live := New(Options{})
	if err := live.LoadState(path); err != nil {
		t.Fatal(err)
	}
	defer live.CloseState()
	if rec, _ := do(t, live, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true); rec.Code != 200 {
		t.Fatalf("unfollow 12: %d", rec.Code)
	}
	// Another process sharing the file was cut off mid-write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2026-12-07T20:00:00Z","op":"unfollow","src":"10`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A fresh process starts on what it left.
	next := New(Options{})
	if err := next.LoadState(path); err != nil {
		t.Fatalf("a torn last line bricks the sandbox: %v", err)
	}
	next.CloseState()
	// The live process's next write is not lost in the fragment.
	if rec, _ := do(t, live, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"783214"}`, true); rec.Code != 200 {
		t.Fatalf("unfollow 783214: %d", rec.Code)
	}
	after := New(Options{})
	if err := after.LoadState(path); err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("after a write following the fragment: %v\n%s", err, b)
	}
	after.CloseState()
	for _, id := range []string{"12", "783214"} {
		if after.Follows(id) {
			t.Errorf("the unfollow of %s was lost", id)
		}
	}
	// A line that is not a cut-short record is still refused.
	bad := filepath.Join(t.TempDir(), StateFileName)
	if err := os.WriteFile(bad, []byte("{\"op\":\"unfollow\",\"src\":\"x\",\"dst\":\"y\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := New(Options{}).LoadState(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("a damaged line: %v", err)
	}
}

// A state file that is not a plain file is refused at once: a FIFO would
// block the start for ever, a device would swallow the world.
func TestStateMustBeARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "state")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	for _, path := range []string{fifo, os.DevNull} {
		done := make(chan error, 1)
		go func() { done <- New(Options{}).LoadState(path) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("%s: %v", path, err)
			}
		case <-time.After(2 * time.Second):
			if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				f.Close() // ends the blocked read, with the test
			}
			t.Fatalf("%s: the start hung", path)
		}
	}
}

// Two live processes sharing one state file (a sandbox server, and an undo
// run from a terminal meanwhile) see each other's writes, in the order the
// file holds them, without counting their own twice.
func TestStateSharedByTwoLiveProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	a, b := New(Options{}), New(Options{})
	for _, s := range []*Sandbox{a, b} {
		if err := s.LoadState(path); err != nil {
			t.Fatal(err)
		}
		defer s.CloseState()
	}
	if !a.Follows("12") {
		t.Fatal("the seeded graph: @xfollow_sandbox follows 12")
	}
	if rec, _ := do(t, a, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	// b reads after a's unfollow: it sees it.
	if _, m := do(t, b, "GET", "/twitter/user/check_follow_relationship?source_user_name=xfollow_sandbox&target_user_name=jack", "", true); m["data"].(map[string]any)["following"] != false {
		t.Fatalf("b does not see a's unfollow: %v", m)
	}
	// b follows back; a sees it on its next request.
	if rec, _ := do(t, b, "POST", "/twitter/follow_twitter", `{"target_user_id":"12"}`, true); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if _, m := do(t, a, "GET", "/twitter/user/check_follow_relationship?source_user_name=xfollow_sandbox&target_user_name=jack", "", true); m["data"].(map[string]any)["following"] != true {
		t.Fatalf("a does not see b's follow: %v", m)
	}
	a.mu.Lock()
	n := len(a.unfollows)
	a.mu.Unlock()
	if n != 1 {
		t.Fatalf("a counts %d unfollows against the simulated X limit, want 1", n)
	}
}
