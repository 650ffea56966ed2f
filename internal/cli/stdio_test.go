package cli

import (
	"bytes"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestTuneStdioSetsAndRestoresGOMAXPROCS(t *testing.T) {
	prev := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prev)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	getenv := func(env map[string]string) func(string) string { return func(k string) string { return env[k] } }

	_, undo := tuneStdio(IO{Stdin: r, Getenv: getenv(nil)})
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("at start: GOMAXPROCS %d; it should change only after %s", n, stdioProcsAfter)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != stdioProcs && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.GOMAXPROCS(0); n != stdioProcs {
		t.Errorf("serving stdio: GOMAXPROCS %d, want %d", n, stdioProcs)
	}
	undo()
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("after serving: GOMAXPROCS %d, want it restored to 2", n)
	}

	// Stopped before the change: nothing changes, then or later.
	_, undo = tuneStdio(IO{Stdin: r, Getenv: getenv(nil)})
	undo()
	time.Sleep(stdioProcsAfter + 50*time.Millisecond)
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("stopped early: GOMAXPROCS %d, want 2", n)
	}

	// A GOMAXPROCS in the environment is the person's choice.
	_, undo = tuneStdio(IO{Stdin: r, Getenv: getenv(map[string]string{"GOMAXPROCS": "2"})})
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("with GOMAXPROCS=2 set: %d", n)
	}
	undo()

	// A reader that is not a file (tests, the in-process modes) is served
	// as it is, and the process is not tuned.
	var buf bytes.Buffer
	in, undo := tuneStdio(IO{Stdin: &buf, Getenv: getenv(nil)})
	if in != &buf || runtime.GOMAXPROCS(0) != 2 {
		t.Error("a non-file stdin was tuned")
	}
	undo()
}
