package cli

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
)

func TestLogSinkOnAPipeKeepsEveryLineInOrder(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sink := newLogSink(w)
	if sink.kick == nil {
		t.Fatal("a pipe stderr is not batched")
	}
	log := slog.New(sink.handler(slog.LevelInfo))
	log.Info("one")
	log.Debug("hidden")
	log.Info("two")
	log.Warn("three") // at once, after the info lines that wait
	_, _ = sink.Write([]byte("four\n"))
	log.Info("five")
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	log.Info("six") // after Close: written at once, never lost
	_ = sink.Close()
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i := strings.Index(line, "msg="); i >= 0 {
			line = strings.Fields(line[i+len("msg="):])[0]
		}
		got = append(got, line)
	}
	if strings.Join(got, " ") != "one two three four five six" {
		t.Fatalf("lines %q, want one to six in that order:\n%s", got, out)
	}
}

func TestLogSinkElsewhereWritesAtOnce(t *testing.T) {
	var buf bytes.Buffer
	sink := newLogSink(&buf)
	defer sink.Close()
	if sink.kick != nil {
		t.Fatal("a buffer is batched")
	}
	slog.New(sink.handler(slog.LevelInfo)).Info("now")
	if !strings.Contains(buf.String(), "msg=now") {
		t.Fatalf("the line was not written at once: %q", buf.String())
	}
}

func TestLogLinesAreStampedInUTC(t *testing.T) {
	var buf bytes.Buffer
	sink := newLogSink(&buf)
	defer sink.Close()
	slog.New(sink.handler(slog.LevelInfo)).Info("now")
	f := strings.Fields(buf.String())
	if len(f) == 0 || !strings.HasPrefix(f[0], "time=") || !strings.HasSuffix(f[0], "Z") {
		t.Fatalf("not a UTC stamp: %q", buf.String())
	}
}

// A record handed to the goroutine is formatted later: what it says must be
// what was logged, attributes and groups included, and a record logged while
// the sink closes is neither lost nor a deadlock.
func TestLogSinkFormatsWaitingRecordsAsLogged(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sink := newLogSink(w)
	log := slog.New(sink.handler(slog.LevelInfo)).With("server", "x").WithGroup("g")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			log.Info("call", "n", i)
		}
	}()
	<-done
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200:\n%s", len(lines), out)
	}
	for i, line := range lines {
		if want := fmt.Sprintf("msg=call server=x g.n=%d", i); !strings.HasSuffix(line, want) {
			t.Fatalf("line %d is %q, want it to end %q", i, line, want)
		}
	}
}
