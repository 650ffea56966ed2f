package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vmHWM is a process's peak resident set, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// TestHugeStdioLineIsDropped: one 100 MB line on stdin is answered with a
// JSON-RPC error (id null) and dropped as it arrives; the server's peak
// memory stays far below the line's size (it reached 1.2 GB when the line
// was read whole) and the next request is served.
func TestHugeStdioLineIsDropped(t *testing.T) {
	const size = 100 << 20
	cmd := exec.Command(binary, "--sandbox")
	cmd.Env = append(os.Environ(), "XFOLLOW_LOG_LEVEL=warn")
	stdin, stdout, stderr, stop := startPiped(t, cmd)
	defer stop()

	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout ended; stderr: %s", stderr.String())
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("stdout holds a line that is not JSON: %.200q", l)
			}
			return m
		case <-time.After(60 * time.Second):
			t.Fatalf("no answer; stderr: %s", stderr.String())
			return nil
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := io.WriteString(stdin, s); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n")
	if m := next(); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	before := vmHWM(t, cmd.Process.Pid)

	// A well-formed request whose one string is 100 MB, written 1 MiB at a time.
	write(`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":"`)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for n := 0; n < size; n += len(chunk) {
		if _, err := stdin.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	write(`"}}` + "\n")
	write(`{"jsonrpc":"2.0","id":3,"method":"ping"}` + "\n")

	m := next()
	e, _ := m["error"].(map[string]any)
	if m["id"] != nil || e == nil || e["code"] != float64(-32600) || !strings.HasPrefix(fmt.Sprint(e["message"]), "[message_too_large] ") {
		t.Fatalf("the long line's answer: %v", m)
	}
	if m := next(); m["id"] != float64(3) || m["result"] == nil {
		t.Fatalf("the request after the long line: %v", m)
	}
	peak := vmHWM(t, cmd.Process.Pid)
	t.Logf("peak resident set: %.1f MiB after initialize, %.1f MiB after a %d MiB line", float64(before)/(1<<20), float64(peak)/(1<<20), size>>20)
	if peak > 64<<20 {
		t.Fatalf("peak resident set %.1f MiB for a %d MiB line: the line was held in memory", float64(peak)/(1<<20), size>>20)
	}
	if strings.Contains(stderr.String(), "aaaa") {
		t.Fatal("the line's content reached the log")
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the server did not stop cleanly at end of input: %v; stderr: %s", err, stderr.String())
	}
}
