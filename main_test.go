package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// blockedWriter is a stderr pipe nobody reads: every Write waits forever.
type blockedWriter struct{}

func (blockedWriter) Write(p []byte) (int, error) { select {} }

// A stop that hangs because stderr is full must still end the process: the
// message about it cannot hold up the exit.
func TestGiveUpExitsThoughStderrBlocks(t *testing.T) {
	exited := make(chan int, 1)
	began := time.Now()
	go giveUp(blockedWriter{}, func(code int) { exited <- code })
	select {
	case code := <-exited:
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if d := time.Since(began); d > messageWait+time.Second {
			t.Fatalf("exited after %s", d)
		}
	case <-time.After(messageWait + 5*time.Second):
		t.Fatal("giveUp did not exit while stderr blocked")
	}
}

func TestGiveUpSaysWhy(t *testing.T) {
	var buf bytes.Buffer
	code := -1
	giveUp(&buf, func(c int) { code = c })
	if code != 1 || !strings.Contains(buf.String(), "did not stop within 15s of the signal; exiting") {
		t.Fatalf("exit %d, message %q", code, buf.String())
	}
}

// TestUnstampedBuildSaysItsRelease: a binary built with no -X main.version
// and VCS stamping off reports the VERSION file's release, not a bare
// "devel".
func TestUnstampedBuildSaysItsRelease(t *testing.T) {
	want, err := os.ReadFile("VERSION")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "xfollow-mcp")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, w := strings.TrimSpace(string(out)), "xfollow-mcp "+strings.TrimSpace(string(want))+"-devel"; got != w {
		t.Fatalf("--version says %q, want %q", got, w)
	}
}
