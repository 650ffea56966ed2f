package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeHistory writes a journal of n records (intent and outcome pairs
// of unfollows, as the server writes them) spread evenly over the year
// before now, laid out as the server leaves it: a sealed segment a day
// (UTC) in path.d and today's records in path, with no checkpoint.
func writeHistory(t *testing.T, path string, n int, now time.Time) {
	t.Helper()
	if err := os.MkdirAll(path+".d", 0o700); err != nil {
		t.Fatal(err)
	}
	start := now.Add(-365 * 24 * time.Hour)
	step := (365 * 24 * time.Hour) / time.Duration(n)
	rng := rand.New(rand.NewPCG(7, 8))
	var f *os.File
	var w *bufio.Writer
	seq, day := 0, ""
	flush := func() {
		if f != nil {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	var line []byte
	for i := 0; i < n; i += 2 {
		at := start.Add(time.Duration(i) * step).UTC()
		if d := at.Format("2006-01-02"); d != day {
			flush()
			day = d
			seq++
			name := filepath.Join(path+".d", fmt.Sprintf("%08d.jsonl", seq))
			if d == now.UTC().Format("2006-01-02") {
				name = path
			}
			var err error
			if f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
				t.Fatal(err)
			}
			w = bufio.NewWriterSize(f, 1<<20)
		}
		target := strconv.FormatUint(17e17+rng.Uint64N(1e17), 10)
		call := fmt.Sprintf("%016x", rng.Uint64())
		for k, phase := range []string{"intent", "outcome"} {
			line = append(line[:0], `{"time":"`...)
			line = at.Add(time.Duration(k)*300*time.Millisecond).AppendFormat(line, time.RFC3339Nano)
			line = append(line, `","call_id":"`+call+`","phase":"`+phase+`","tool":"unfollow_x_user","target_user_id":"`+target+
				`","expected_username":"user`+target[12:]+`","gateway":"127.0.0.1:9","key_fingerprint":"0123456789abcdef","dry_run":false`...)
			if k == 0 {
				line = append(line, `,"was_following":true}`+"\n"...)
			} else {
				line = append(line, `,"outcome":"ok","request_id":"req-`+call[:8]+`","following":false}`+"\n"...)
			}
			if _, err := w.Write(line); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush()
}

// startToFirstAnswer starts the server on journal and returns the time from
// exec to its answer to tools/list after initialize, and its peak resident
// memory in bytes.
func startToFirstAnswer(t *testing.T, journal string) (time.Duration, int64) {
	t.Helper()
	begin := time.Now()
	cmd := exec.Command(binary, "--journal", journal)
	cmd.Env = append(os.Environ(), "AISA_API_KEY=e2e", "AISA_BASE_URL=http://127.0.0.1:9/apis/v1", "XFOLLOW_LOG_LEVEL=warn")
	in, out, stderr, stop := startPiped(t, cmd)
	defer stop()
	br := bufio.NewReaderSize(out, 1<<20)
	read := func(id string) {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("the server stopped: %v; stderr: %s", err, stderr.String())
			}
			if strings.Contains(l, `"id":`+id+`,"error"`) {
				t.Fatalf("answer %s: %.300s", id, l)
			}
			if strings.Contains(l, `"id":`+id+`,"result"`) {
				return
			}
		}
	}
	io.WriteString(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`+"\n")
	read("1")
	io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"+`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`+"\n")
	read("2")
	took := time.Since(begin)
	return took, vmHWM(t, cmd.Process.Pid)
}

// A million records of history (a year of a busy shared server, about
// 300 MB) cost a start about what an empty journal costs, and well under
// 40 MiB: the start reads the checkpoint, not the history nor the last
// day's records. Before the checkpoint held the budget's writes and the
// jobs' blocks were marked, it took 37 times as long. The figure to the
// percent is the bench's (go run ./bench -only journal); this bound leaves
// room for a loaded machine.
func TestStartWithAMillionRecordsOfHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 300 MB")
	}
	dir := t.TempDir()
	big, empty := filepath.Join(dir, "year.jsonl"), filepath.Join(dir, "empty.jsonl")
	writeHistory(t, big, 1_000_000, time.Now())
	// The first start indexes the history once and writes the checkpoint.
	startToFirstAnswer(t, big)
	startToFirstAnswer(t, empty)
	var tb, te []time.Duration
	var peak int64
	for i := range 9 {
		order := []string{big, empty}
		if i%2 == 1 {
			order = []string{empty, big}
		}
		for _, j := range order {
			d, hwm := startToFirstAnswer(t, j)
			if j == big {
				tb, peak = append(tb, d), max(peak, hwm)
			} else {
				te = append(te, d)
			}
		}
	}
	slices.Sort(tb)
	slices.Sort(te)
	mb, me := tb[len(tb)/2], te[len(te)/2]
	ratio := float64(mb) / float64(me)
	t.Logf("start to the first answer: %s with a million records, %s empty (%.2fx); peak resident %.1f MiB", mb, me, ratio, float64(peak)/(1<<20))
	if ratio > 1.6 {
		t.Errorf("a start with a million records of history took %.2fx an empty journal's (%s vs %s)", ratio, mb, me)
	}
	if peak >= 40<<20 {
		t.Errorf("a start with a million records of history peaked at %.1f MiB resident; want under 40", float64(peak)/(1<<20))
	}
}
