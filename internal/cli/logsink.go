package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
)

// logSink is the process's stderr. When stderr is a pipe or a socket (an
// MCP host reading the server's log), the log's info and debug lines are
// handed to a goroutine that writes them after the answer to the call that
// logged them has gone out, in one write for all that are waiting, instead
// of one write(2) per line on the call's path before its answer. Everything
// else written to it, and every log line at warn or above, is written at
// once, after whatever waits, so the order of lines is kept. On a terminal
// or a file, or in tests, every line is written at once.
type logSink struct {
	w      io.Writer
	wmu    sync.Mutex // held while writing to w
	mu     sync.Mutex // guards buf, spare, closed and sends on kick
	buf    []byte
	spare  []byte
	closed bool
	kick   chan struct{} // nil: not batching
	done   chan struct{}
}

func newLogSink(w io.Writer) *logSink {
	s := &logSink{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
			s.kick, s.done = make(chan struct{}, 1), make(chan struct{})
			go s.loop()
		}
	}
	return s
}

func (s *logSink) loop() {
	defer close(s.done)
	for range s.kick {
		s.wmu.Lock()
		_ = s.flushLocked()
		s.wmu.Unlock()
	}
}

// flushLocked writes what waits; wmu is held.
func (s *logSink) flushLocked() error {
	s.mu.Lock()
	out := s.buf
	s.buf, s.spare = s.spare[:0], nil
	s.mu.Unlock()
	if len(out) == 0 {
		s.mu.Lock()
		s.spare = out
		s.mu.Unlock()
		return nil
	}
	_, err := s.w.Write(out)
	if cap(out) <= 64<<10 {
		s.mu.Lock()
		s.spare = out[:0]
		s.mu.Unlock()
	}
	return err
}

// Write writes p at once, after whatever waits.
func (s *logSink) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.flushLocked(); err != nil {
		return 0, err
	}
	return s.w.Write(p)
}

// later queues p for the writer goroutine (or writes it at once when not
// batching).
func (s *logSink) later(p []byte) (int, error) {
	if s.kick == nil {
		return s.Write(p)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.Write(p)
	}
	s.buf = append(s.buf, p...)
	select {
	case s.kick <- struct{}{}:
	default: // a flush is already due
	}
	s.mu.Unlock()
	return len(p), nil
}

// Close writes whatever waits and stops the writer goroutine.
func (s *logSink) Close() error {
	if s.kick != nil {
		s.mu.Lock()
		stop := !s.closed
		s.closed = true
		if stop {
			close(s.kick)
		}
		s.mu.Unlock()
		<-s.done
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked()
}

type laterWriter struct{ s *logSink }

func (l laterWriter) Write(p []byte) (int, error) { return l.s.later(p) }

// handler is the log's handler: text lines, those below warn written by the
// goroutine, stamped in UTC.
func (s *logSink) handler(level slog.Leveler) slog.Handler {
	o := &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime}
	return levelSplit{low: slog.NewTextHandler(laterWriter{s}, o), high: slog.NewTextHandler(s, o)}
}

// levelSplit sends records below warn to low and the rest to high.
type levelSplit struct{ low, high slog.Handler }

func (h levelSplit) Enabled(ctx context.Context, l slog.Level) bool { return h.low.Enabled(ctx, l) }

func (h levelSplit) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return h.high.Handle(ctx, r)
	}
	return h.low.Handle(ctx, r)
}

func (h levelSplit) WithAttrs(as []slog.Attr) slog.Handler {
	return levelSplit{low: h.low.WithAttrs(as), high: h.high.WithAttrs(as)}
}

func (h levelSplit) WithGroup(name string) slog.Handler {
	return levelSplit{low: h.low.WithGroup(name), high: h.high.WithGroup(name)}
}

// utcTime stamps a record in UTC. Local time would have the process load
// the time zone database for the first line it logs, which was 2 to 3
// percent of a cold start; an MCP host adds its own local stamp anyway.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}
