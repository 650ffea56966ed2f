package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldSink is a batching sink on w, as newLogSink makes one for a pipe,
// whose goroutine has not been scheduled yet: start lets it run. A goroutine
// may wait for a P for as long as the scheduler likes (stdio serving runs
// at GOMAXPROCS 1), so every state this reaches is one the real sink can be
// in.
func heldSink(w io.Writer) (s *logSink, start func()) {
	s = &logSink{w: w, kick: make(chan struct{}, 1), done: make(chan struct{}), stopping: make(chan struct{}), hurry: make(chan struct{}, 1)}
	return s, func() { go s.loop() }
}

// syncBuf is a writer safe for the sink's goroutine and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// msgs returns the msg= of every line of out, in order.
func msgs(out string) []string {
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if i := strings.Index(line, "msg="); i >= 0 {
			line = strings.Fields(line[i+len("msg="):])[0]
		}
		got = append(got, line)
	}
	return got
}

// A record logged once Close has begun is formatted and written at once;
// one logged before it that still waits must come out first.
func TestLogSinkKeepsOrderForALineLoggedDuringClose(t *testing.T) {
	var out syncBuf
	sink, start := heldSink(&out)
	log := slog.New(sink.handler(slog.LevelInfo))
	log.Info("first") // waits for the goroutine, which has not run yet
	closed := make(chan error)
	go func() { closed <- sink.Close() }()
	for {
		sink.mu.Lock()
		c := sink.closed
		sink.mu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	log.Info("second") // Close has begun: written at once
	start()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(msgs(out.String()), " "); got != "first second" {
		t.Fatalf("lines %q, want first then second:\n%s", got, out.String())
	}
}

// counter is a LogValuer whose value changes after it is logged.
type counter struct{ n *int }

func (c counter) LogValue() slog.Value { return slog.IntValue(*c.n) }

// A waiting record is formatted later, but it must say what it would have
// said had it been formatted when it was logged: a LogValuer is resolved,
// and a slice or pointer read, as they were at the call.
func TestLogSinkFormatsValuesAsTheyWereWhenLogged(t *testing.T) {
	var out syncBuf
	sink, start := heldSink(&out)
	log := slog.New(sink.handler(slog.LevelInfo))
	n := 1
	ids := []string{"1", "2"}
	type state struct{ Step string }
	st := &state{Step: "before"}
	err := &mutableErr{msg: "before"}
	log.Info("logged", "n", counter{&n}, "ids", ids, "state", st, "err", err, slog.Group("g", "n", counter{&n}))
	n, ids[0], st.Step, err.msg = 2, "9", "after", "after"
	start()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	want := `msg=logged n=1 ids="[1 2]" state=&{Step:before} err=before g.n=1`
	if got := out.String(); !strings.Contains(got, want) {
		t.Fatalf("line\n%s\nwant it to hold\n%s", got, want)
	}
}

type mutableErr struct{ msg string }

func (e *mutableErr) Error() string { return e.msg }

// The same calls through a batching sink and through one that writes at
// once give the same text, byte for byte, whatever chain of With and
// WithGroup the logger was built with.
func TestLogSinkBatchedTextEqualsImmediateText(t *testing.T) {
	at := time.Date(2026, 11, 29, 21, 55, 10, 123456789, time.FixedZone("X", 5*3600+1800))
	logAll := func(h slog.Handler) {
		l := slog.New(h)
		chains := []*slog.Logger{
			l,
			l.With("a", 1),
			l.WithGroup("g"),
			l.With("a", "x y").WithGroup("g").With("b", true).WithGroup("h"),
			l.WithGroup("g").WithGroup("h").With(slog.Group("k", "v", 2.5)),
			l.WithGroup(""), // an empty group is no group
			l.With(slog.Group("empty")),
		}
		for i, c := range chains {
			for _, lvl := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
				r := slog.NewRecord(at, lvl, fmt.Sprintf("m%d", i), 0)
				r.AddAttrs(slog.String("s", "q\"uote\n"), slog.Int("i", -3), slog.Duration("d", 1500*time.Millisecond),
					slog.Time("t", at), slog.Any("err", errors.New("boom")), slog.Group("grp", slog.Bool("ok", false)),
					slog.Any("b", []byte("raw")), slog.Group("", slog.Int("inline", 7)))
				_ = c.Handler().Handle(context.Background(), r)
				c.Log(context.Background(), lvl, "plain", "k", "v")
			}
		}
	}
	var want bytes.Buffer
	now := newLogSink(&want)
	logAll(now.handler(slog.LevelDebug))
	_ = now.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); read <- b }()
	sink := newLogSink(w)
	if sink.kick == nil {
		t.Fatal("a pipe stderr is not batched")
	}
	logAll(sink.handler(slog.LevelDebug))
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := <-read
	// The plain lines carry the time of the call: compare them without it.
	strip := func(b []byte) string {
		var lines []string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "msg=plain") {
				line = line[strings.Index(line, " ")+1:]
			}
			lines = append(lines, line)
		}
		return strings.Join(lines, "\n")
	}
	if strip(got) != strip(want.Bytes()) {
		t.Fatalf("batched text differs from immediate text:\n--- batched\n%s\n--- immediate\n%s", got, want.Bytes())
	}
}

// Many goroutines log at every level, and write raw lines, while the sink
// closes: every line comes out once, each goroutine's in the order it
// logged them, and nothing deadlocks.
func TestLogSinkConcurrentLoggersDuringClose(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); read <- b }()
	sink := newLogSink(w)
	base := slog.New(sink.handler(slog.LevelDebug))
	const loggers, each = 8, 300
	var wg sync.WaitGroup
	var closeOnce sync.Once
	closeErr := make(chan error, 1)
	for g := 0; g < loggers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log := base.With("g", g).WithGroup("x")
			for i := 0; i < each; i++ {
				if g == 0 && i == each/2 {
					go closeOnce.Do(func() { closeErr <- sink.Close() })
				}
				msg := "L" + strconv.Itoa(g) + "." + strconv.Itoa(i)
				switch i % 5 {
				case 0:
					log.Debug(msg)
				case 1, 2:
					log.Info(msg, "i", i)
				case 3:
					log.Warn(msg)
				case 4:
					fmt.Fprintf(sink, "msg=%s raw\n", msg)
				}
			}
		}()
	}
	wg.Wait()
	if err := <-closeErr; err != nil {
		t.Fatal(err)
	}
	base.Info("L-after") // after Close returned
	_ = sink.Close()
	w.Close()
	var got []byte
	select {
	case got = <-read:
	case <-time.After(30 * time.Second):
		t.Fatal("the sink did not finish")
	}
	next := make([]int, loggers)
	lines := msgs(string(got))
	for _, m := range lines {
		if m == "L-after" {
			continue
		}
		var g, i int
		if _, err := fmt.Sscanf(m, "L%d.%d", &g, &i); err != nil {
			t.Fatalf("line %q: %v", m, err)
		}
		if i != next[g] {
			t.Fatalf("logger %d: line %d came when %d was due", g, i, next[g])
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Fatalf("logger %d: %d lines, want %d", g, n, each)
		}
	}
	if lines[len(lines)-1] != "L-after" {
		t.Fatalf("the line logged after Close is not last: %q", lines[len(lines)-1])
	}
}

// gateWriter blocks every Write while closed, and fails those after fail is
// set.
type gateWriter struct {
	mu      sync.Mutex
	open    chan struct{}
	entered chan struct{}
	fail    bool
	b       bytes.Buffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail {
		return 0, errors.New("write failed")
	}
	return g.b.Write(p)
}

// blockedSink starts a sink over a writer that blocks, logs first, and
// returns once the sink's goroutine is blocked writing it.
func blockedSink(t *testing.T, first string) (*gateWriter, *logSink, *slog.Logger) {
	t.Helper()
	gw := &gateWriter{open: make(chan struct{}), entered: make(chan struct{}, 1)}
	sink, start := heldSink(gw)
	start()
	log := slog.New(sink.handler(slog.LevelInfo))
	log.Info(first)
	select {
	case <-gw.entered: // the goroutine is in Write, blocked
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine never wrote")
	}
	return gw, sink, log
}

// While the writer blocks, info lines queue without blocking their callers;
// once it answers everything is written in order, and Close neither loses
// nor deadlocks. A writer that fails blocks nothing.
func TestLogSinkWithABlockingThenFailingWriter(t *testing.T) {
	gw, sink, log := blockedSink(t, "a")
	infoDone := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			log.Info("b")
		}
		close(infoDone)
	}()
	select {
	case <-infoDone:
	case <-time.After(10 * time.Second):
		t.Fatal("info lines blocked on a writer that blocks")
	}
	warned := make(chan struct{})
	go func() { log.Warn("c"); close(warned) }()
	closed := make(chan error)
	go func() { closed <- sink.Close() }()
	time.Sleep(10 * time.Millisecond)
	select {
	case <-warned:
		t.Fatal("a warn line did not wait for the lines before it")
	default:
	}
	close(gw.open)
	<-warned
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	got := strings.Join(msgs(gw.b.String()), " ")
	if want := "a" + strings.Repeat(" b", 100) + " c"; got != want {
		t.Fatalf("lines %q, want %q", got, want)
	}

	// A writer that fails refuses lines, but nothing blocks, and the
	// failure is reported to whoever writes.
	gw.mu.Lock()
	gw.fail = true
	gw.mu.Unlock()
	log.Info("d") // after Close: formatted and written at once
	log.Warn("e")
	if _, err := sink.Write([]byte("f\n")); err == nil {
		t.Fatal("a failing write reported no error")
	}
}

// chattyErr logs, through the same logger, when it is formatted.
type chattyErr struct{ log *slog.Logger }

func (e chattyErr) Error() string {
	e.log.Warn("inner_warn")
	e.log.Info("inner_info", "n", 1)
	e.log.Info("inner_any", "err", errors.New("x"))
	return "outer"
}

// A value whose formatting logs through the same sink, before or after
// Close, is no deadlock.
func TestLogSinkValueThatLogsIsNoDeadlock(t *testing.T) {
	var out syncBuf
	sink, start := heldSink(&out)
	start()
	log := slog.New(sink.handler(slog.LevelInfo))
	done := make(chan struct{})
	go func() {
		defer close(done)
		log.Info("before", "err", chattyErr{log})
		_ = sink.Close()
		log.Info("after", "err", chattyErr{log})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock")
	}
	if got := strings.Join(msgs(out.String()), " "); got != "inner_warn inner_info inner_any before inner_warn inner_info inner_any after" {
		t.Fatalf("lines %q", got)
	}
}

// A host that stops reading stderr stops the goroutine's write: what waits
// is bounded, the lines beyond it are counted, and once stderr takes lines
// again the count is written after the lines that waited, then new lines.
func TestLogSinkBoundsWhatWaitsWhileStderrIsNotRead(t *testing.T) {
	gw, sink, log := blockedSink(t, "first")
	const extra = 1000
	for i := 0; i < maxPending+extra; i++ {
		log.Info("queued", "n", i)
	}
	sink.mu.Lock()
	waiting, dropped := len(sink.pending), sink.dropped
	sink.mu.Unlock()
	if waiting != maxPending || dropped != extra {
		t.Fatalf("%d records wait and %d were dropped, want %d and %d", waiting, dropped, maxPending, extra)
	}
	close(gw.open)
	// Once the goroutine has taken what waited, there is room again.
	for deadline := time.Now().Add(10 * time.Second); ; {
		sink.mu.Lock()
		drained := len(sink.pending) == 0
		sink.mu.Unlock()
		if drained {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("what waited was never taken")
		}
		time.Sleep(time.Millisecond)
	}
	log.Info("later")
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(gw.b.String()), "\n")
	if len(lines) != 1+maxPending+2 {
		t.Fatalf("%d lines, want %d", len(lines), 1+maxPending+2)
	}
	if want := fmt.Sprintf("n=%d", maxPending-1); !strings.HasSuffix(lines[maxPending], want) {
		t.Fatalf("the last line that waited is %q, want it to end %q", lines[maxPending], want)
	}
	if want := fmt.Sprintf("xfollow-mcp: %d log lines were dropped while stderr was not being read", extra); lines[maxPending+1] != want {
		t.Fatalf("line %q, want %q", lines[maxPending+1], want)
	}
	if !strings.Contains(lines[maxPending+2], "msg=later") {
		t.Fatalf("the last line is %q, want the one logged once stderr took lines again", lines[maxPending+2])
	}
}

// countingBuf counts the writes it takes.
type countingBuf struct {
	syncBuf
	writes int
}

func (c *countingBuf) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.syncBuf.Write(p)
}

// Records logged one after another are written together, not one write
// (and one wake-up of the goroutine) each; a record that comes later still
// goes out without Close.
func TestLogSinkBatchesRecordsThatComeTogether(t *testing.T) {
	var out countingBuf
	sink, start := heldSink(&out)
	start()
	log := slog.New(sink.handler(slog.LevelInfo))
	const n = 300
	for i := 0; i < n; i++ {
		log.Info("call", "i", i)
		time.Sleep(100 * time.Microsecond) // the goroutine may run, as between calls
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	out.mu.Lock()
	writes := out.writes
	out.mu.Unlock()
	if got := strings.Count(out.String(), "\n"); got != n {
		t.Fatalf("%d of %d lines written without Close", got, n)
	}
	if writes > n/10 {
		t.Errorf("%d lines took %d writes: not batched", n, writes)
	}
	log.Info("alone")
	for !strings.Contains(out.String(), "msg=alone") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "msg=alone") {
		t.Fatal("a lone record was not written without Close")
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
}

// Inside the wait between two writes: a warning goes out at once, after
// the records that wait (those formatted later and those formatted when
// logged alike), and Close writes what waits without waiting the delay.
func TestLogSinkWarnAndCloseInsideTheBatchDelay(t *testing.T) {
	var fastest time.Duration = time.Hour
	for round := 0; round < 5; round++ {
		var out syncBuf
		sink, start := heldSink(&out)
		start()
		log := slog.New(sink.handler(slog.LevelInfo))
		log.Info("first") // after a quiet moment: written at once
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), "msg=first") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		// Now within logBatchDelay of a write: these wait.
		log.Info("second")
		log.Info("third", "err", errors.New("formatted when logged"))
		log.Info("fourth")
		log.Warn("warned")
		if got := strings.Join(msgs(out.String()), " "); got != "first second third fourth warned" {
			t.Fatalf("once the warning returned: %q", got)
		}
		log.Info("fifth")
		log.Info("sixth", "err", errors.New("x"))
		begun := time.Now()
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		fastest = min(fastest, time.Since(begun))
		if got := strings.Join(msgs(out.String()), " "); got != "first second third fourth warned fifth sixth" {
			t.Fatalf("once Close returned: %q", got)
		}
	}
	if fastest >= logBatchDelay/2 {
		t.Fatalf("Close took at least %v each time: it waits the batch delay", fastest)
	}
}

// A burst of records within the batch delay: once hurryPending wait, they
// are written without waiting the rest of the delay. Otherwise a burst of
// more than maxPending records in logBatchDelay (one each 5 µs) would be
// dropped while stderr is being read, where the goroutine writing at once
// kept up with anything slower than its formatting (about a microsecond a
// record); dropping is for a host that has stopped reading stderr.
func TestLogSinkWritesABurstWithoutWaitingTheDelay(t *testing.T) {
	fastest := time.Hour
	for round := 0; round < 5; round++ {
		var out syncBuf
		sink, start := heldSink(&out)
		start()
		log := slog.New(sink.handler(slog.LevelInfo))
		log.Info("first") // after a quiet moment: written at once
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), "msg=first") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		begun := time.Now()
		for i := 0; i < hurryPending; i++ {
			log.Info("burst", "i", i)
		}
		for strings.Count(out.String(), "msg=burst") < hurryPending && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		fastest = min(fastest, time.Since(begun))
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out.String(), "msg=burst"); got != hurryPending || strings.Contains(out.String(), "dropped") {
			t.Fatalf("%d of %d lines written", got, hurryPending)
		}
	}
	if fastest >= logBatchDelay/2 {
		t.Fatalf("a burst of %d records took at least %v each time to be written: it waited the batch delay", hurryPending, fastest)
	}
}
