package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// logSink is the process's stderr. When stderr is a pipe or a socket (an
// MCP host reading the server's log), the log's info and debug records are
// handed to a goroutine that formats (see deferred) and writes them after
// the answer to the call that logged them has gone out, in one write for
// all that came within logBatchDelay, instead of being formatted and written on the
// call's path before its answer. Everything else written to it, and every log line at warn or above,
// is written at once, after whatever waits, so the order of lines is kept. On
// a terminal or a file, or in tests, every line is written at once.
type logSink struct {
	w        io.Writer
	wmu      sync.Mutex // held while formatting waiting records and writing to w
	mu       sync.Mutex // guards pending, buf, spare, closed and sends on kick
	pending  []pendingRecord
	dropped  int // records refused because maxPending waited
	buf      []byte
	spare    []byte
	closed   bool
	kick     chan struct{} // nil: not batching
	done     chan struct{}
	stopping chan struct{} // closed by Close: write what waits now
	hurry    chan struct{} // hurryPending records wait: write them now
}

// maxPending is how many records may wait for the goroutine. A host that
// stops reading stderr stops the goroutine's write; the records logged
// after the first maxPending are then dropped and counted, rather than
// kept without bound, and a line says how many once stderr takes lines
// again.
const maxPending = 4096

// hurryPending is how many waiting records end the goroutine's wait
// between two writes (logBatchDelay) at once: a burst of records faster
// than that delay would otherwise reach maxPending and be dropped while
// stderr is being read.
const hurryPending = maxPending / 8

// pendingRecord is a record waiting for the goroutine, with the handler
// (attributes and groups applied) that formats it into buf, or (h nil) a
// line formatted when it was logged.
type pendingRecord struct {
	h    slog.Handler
	r    slog.Record
	text []byte
}

func newLogSink(w io.Writer) *logSink {
	s := &logSink{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
			s.kick, s.done, s.stopping, s.hurry = make(chan struct{}, 1), make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
			go s.loop()
		}
	}
	return s
}

// logBatchDelay is the least time between two writes of the goroutine:
// a record that comes after a quiet moment is written at once, and those
// that come within logBatchDelay of a write gather for the next one. Under
// one call after another that is one write (and one wake-up) for the calls
// of that time instead of one each, which was a tenth of the remote mode's
// CPU per call with a single client. Warnings and errors never wait: they
// are written at once, after what waits.
const logBatchDelay = 20 * time.Millisecond

func (s *logSink) loop() {
	defer close(s.done)
	wait := time.NewTimer(logBatchDelay)
	wait.Stop()
	var last time.Time
	for range s.kick {
		if d := logBatchDelay - time.Since(last); d > 0 {
			wait.Reset(d)
			select {
			case <-wait.C:
			case <-s.stopping: // Close writes what waits
				wait.Stop()
			case <-s.hurry: // a burst: write it before it fills maxPending
				wait.Stop()
			}
		}
		s.wmu.Lock()
		_ = s.flushLocked()
		s.wmu.Unlock()
		last = time.Now()
	}
}

// formatLocked formats the waiting records into buf; wmu is held, so
// records are formatted in the order they came.
func (s *logSink) formatLocked() {
	s.mu.Lock()
	recs, dropped := s.pending, s.dropped
	s.pending, s.dropped = nil, 0
	s.mu.Unlock()
	for _, p := range recs {
		if p.h == nil {
			_, _ = bufWriter{s}.Write(p.text)
			continue
		}
		_ = p.h.Handle(context.Background(), p.r) // into buf, through bufWriter
	}
	if dropped > 0 {
		// The dropped records came after those that waited.
		_, _ = fmt.Fprintf(bufWriter{s}, "xfollow-mcp: %d log lines were dropped while stderr was not being read\n", dropped)
	}
}

// flushLocked formats the waiting records and writes them, with whatever
// else waits; wmu is held.
func (s *logSink) flushLocked() error {
	s.formatLocked()
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

// later queues r, to be formatted by h, for the goroutine; after Close it
// is formatted and written at once, after the records that wait: one logged
// while Close runs must not overtake one the goroutine has not formatted.
func (s *logSink) later(h slog.Handler, r slog.Record) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.formatLocked()
		_ = h.Handle(context.Background(), r)
		return s.flushLocked()
	}
	if len(s.pending) >= maxPending {
		s.dropped++
	} else {
		s.pending = append(s.pending, pendingRecord{h: h, r: r.Clone()})
	}
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// laterText queues a line formatted when it was logged for the goroutine,
// in its place among the records that wait; after Close it is written at
// once, after them.
func (s *logSink) laterText(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.Write(p)
	}
	if len(s.pending) >= maxPending {
		s.dropped++
	} else {
		s.pending = append(s.pending, pendingRecord{text: bytes.Clone(p)})
	}
	s.kickLocked()
	s.mu.Unlock()
	return len(p), nil
}

// kickLocked tells the goroutine that something waits, and to write it
// without waiting the delay once hurryPending records wait; mu is held.
func (s *logSink) kickLocked() {
	select {
	case s.kick <- struct{}{}:
	default: // a flush is already due
	}
	if len(s.pending) >= hurryPending {
		select {
		case s.hurry <- struct{}{}:
		default: // already told
		}
	}
}

// Close writes whatever waits and stops the writer goroutine.
func (s *logSink) Close() error {
	if s.kick != nil {
		s.mu.Lock()
		stop := !s.closed
		s.closed = true
		if stop {
			if s.stopping != nil {
				close(s.stopping)
			}
			close(s.kick)
		}
		s.mu.Unlock()
		<-s.done
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked()
}

// textWriter queues a line formatted when it was logged.
type textWriter struct{ s *logSink }

func (t textWriter) Write(p []byte) (int, error) { return t.s.laterText(p) }

// bufWriter appends a formatted line to what waits to be written.
type bufWriter struct{ s *logSink }

func (b bufWriter) Write(p []byte) (int, error) {
	b.s.mu.Lock()
	b.s.buf = append(b.s.buf, p...)
	b.s.mu.Unlock()
	return len(p), nil
}

// handler is the log's handler: text lines stamped in UTC; when batching,
// those below warn formatted and written by the goroutine.
func (s *logSink) handler(level slog.Leveler) slog.Handler {
	o := &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime}
	high := slog.NewTextHandler(s, o)
	if s.kick == nil {
		return high
	}
	return levelSplit{low: deferred{s: s, h: slog.NewTextHandler(bufWriter{s}, o), now: slog.NewTextHandler(textWriter{s}, o)}, high: high}
}

// deferred hands records to the sink's goroutine to format later, those
// whose values are all strings, numbers, booleans, durations and times,
// which read the same later as now. Any other record is formatted at once,
// on the caller's path (now), and its line waits in its place: a LogValuer
// is resolved only when a record is formatted, and a slice, a pointer or an
// error may change once the call that logged it returns.
type deferred struct {
	s   *logSink
	h   slog.Handler // formats into buf, by the goroutine
	now slog.Handler // the same, formatting at once into a queued line
}

func (d deferred) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, l) }

func (d deferred) Handle(ctx context.Context, r slog.Record) error {
	if !settled(r) {
		return d.now.Handle(ctx, r)
	}
	return d.s.later(d.h, r)
}

func (d deferred) WithAttrs(as []slog.Attr) slog.Handler {
	return deferred{s: d.s, h: d.h.WithAttrs(as), now: d.now.WithAttrs(as)}
}

func (d deferred) WithGroup(name string) slog.Handler {
	return deferred{s: d.s, h: d.h.WithGroup(name), now: d.now.WithGroup(name)}
}

// settled reports whether every value of r reads the same later as now.
func settled(r slog.Record) bool {
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		ok = settledValue(a.Value)
		return ok
	})
	return ok
}

func settledValue(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindAny, slog.KindLogValuer:
		return false
	case slog.KindGroup:
		for _, a := range v.Group() {
			if !settledValue(a.Value) {
				return false
			}
		}
	}
	return true
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
