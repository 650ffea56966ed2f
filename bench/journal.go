package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// journalRecords is the history the journal start is measured with: a year
// of a busy shared server.
const journalRecords = 1_000_000

// writeYearJournal writes a journal of n records spread evenly over the
// year before now, laid out as the server leaves it: one sealed segment a
// day (UTC) in path.d and today's records in path, with no checkpoint, so
// that the first start indexes it as after an upgrade. Records are intent
// and outcome pairs shaped like the server's own.
func writeYearJournal(path string, n int, now time.Time) (int64, error) {
	dir := path + ".d"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	start := now.Add(-365 * 24 * time.Hour)
	step := (365 * 24 * time.Hour) / time.Duration(n)
	var total int64
	var f *os.File
	var w *bufio.Writer
	seq, day := 0, ""
	closeSeg := func() error {
		if f == nil {
			return nil
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < n; i += 2 {
		at := start.Add(time.Duration(i) * step).UTC()
		if d := at.Format("2006-01-02"); d != day {
			if err := closeSeg(); err != nil {
				return 0, err
			}
			day = d
			seq++
			name := filepath.Join(dir, fmt.Sprintf("%08d.jsonl", seq))
			if d == now.UTC().Format("2006-01-02") {
				name = path
			}
			var err error
			if f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
				return 0, err
			}
			w = bufio.NewWriterSize(f, 1<<20)
		}
		target := fmt.Sprintf("17%017d", rng.Uint64N(1e17))
		call := fmt.Sprintf("%016x", rng.Uint64())
		a := fmt.Sprintf(`{"time":%q,"call_id":%q,"phase":"intent","tool":"unfollow_x_user","target_user_id":%q,"expected_username":"user%s","gateway":"127.0.0.1:9","key_fingerprint":"0123456789abcdef","dry_run":false,"was_following":true}`+"\n",
			at.Format(time.RFC3339Nano), call, target, target[12:])
		b := fmt.Sprintf(`{"time":%q,"call_id":%q,"phase":"outcome","tool":"unfollow_x_user","target_user_id":%q,"expected_username":"user%s","gateway":"127.0.0.1:9","key_fingerprint":"0123456789abcdef","dry_run":false,"outcome":"ok","request_id":"req-%s","following":false}`+"\n",
			at.Add(300*time.Millisecond).Format(time.RFC3339Nano), call, target, target[12:], call[:8])
		nw, err := w.WriteString(a + b)
		if err != nil {
			return 0, err
		}
		total += int64(nw)
	}
	return total, closeSeg()
}

// journalStart compares a server's start, from exec to the answer to
// tools/list after initialize, with a journal of a year's history against
// the same with an empty journal, and the peak resident memory of each.
func journalStart(ours string, n int) ([]result, error) {
	_, url := gateway(sandbox.Options{})
	env := []string{"AISA_API_KEY=bench", "AISA_BASE_URL=" + url}
	dir, err := os.MkdirTemp("", "xfollow-journal-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	big := filepath.Join(dir, "year.jsonl")
	empty := filepath.Join(dir, "empty.jsonl")
	t0 := time.Now()
	size, err := writeYearJournal(big, journalRecords, time.Now())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  wrote %d records (%.0f MB) in %s\n", journalRecords, float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
	// The same journal's last two days alone (its newest sealed segment and
	// its active one): what a start must read for the budget's 24 hours,
	// without the history before.
	recent := filepath.Join(dir, "recent.jsonl")
	if err := os.MkdirAll(recent+".d", 0o700); err != nil {
		return nil, err
	}
	seqs, err := filepath.Glob(filepath.Join(big+".d", "*.jsonl"))
	if err != nil || len(seqs) == 0 {
		return nil, fmt.Errorf("no sealed segment in %s.d: %v", big, err)
	}
	for from, to := range map[string]string{seqs[len(seqs)-1]: filepath.Join(recent+".d", "00000001.jsonl"), big: recent} {
		b, err := os.ReadFile(from)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			return nil, err
		}
	}
	// The same last two days with the checkpoint a mebibyte (the most it
	// lags by: CheckpointEvery) behind the records, as a kill -9 just
	// before a checkpoint leaves it: the worst case of what a start reads.
	// Its checkpoint is put back before each start (the start writes a
	// new one).
	behind := filepath.Join(dir, "behind.jsonl")
	if err := os.MkdirAll(behind+".d", 0o700); err != nil {
		return nil, err
	}
	for from, to := range map[string]string{filepath.Join(recent+".d", "00000001.jsonl"): filepath.Join(behind+".d", "00000001.jsonl"), recent: behind} {
		b, err := os.ReadFile(from)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			return nil, err
		}
	}
	var staleCheckpoint []byte
	// cpu is each start's CPU time (user and system, the whole process to
	// its exit): less at the mercy of the machine's load than wall time.
	cpu := map[string][]time.Duration{}
	once := func(journal string) (time.Duration, int, error) {
		if journal == behind && staleCheckpoint != nil {
			if err := os.WriteFile(filepath.Join(behind+".d", "checkpoint"), staleCheckpoint, 0o600); err != nil {
				return 0, 0, err
			}
		}
		start := time.Now()
		p, err := spawn(ours, append(append([]string{}, ourArgs...), "--journal", journal), env)
		if err != nil {
			return 0, 0, err
		}
		if err := p.initialize(); err != nil {
			p.close()
			return 0, 0, err
		}
		r, err := p.requestReply("tools/list", map[string]any{})
		if err != nil {
			p.close()
			return 0, 0, err
		}
		hwm := p.status("VmHWM")
		p.close()
		if st := p.cmd.ProcessState; st != nil {
			cpu[journal] = append(cpu[journal], st.UserTime()+st.SystemTime())
		}
		return r.arrived.Sub(start), hwm, nil
	}
	// The first start indexes the history once and writes the checkpoint.
	first, firstHWM, err := once(big)
	if err != nil {
		return nil, err
	}
	if _, _, err := once(recent); err != nil {
		return nil, err
	}
	if _, _, err := once(behind); err != nil {
		return nil, err
	}
	if staleCheckpoint, err = os.ReadFile(filepath.Join(behind+".d", "checkpoint")); err != nil {
		return nil, err
	}
	tail, err := appendRecent(behind, 1<<20, time.Now())
	if err != nil {
		return nil, err
	}
	journals := []string{big, empty, recent, behind}
	samples := make([][]time.Duration, len(journals))
	hwm := make([]int, len(journals))
	rng := rand.New(rand.NewPCG(5, 6))
	order := []int{0, 1, 2, 3}
	for i := 0; i < n; i++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, j := range order {
			d, kib, err := once(journals[j])
			if err != nil {
				return nil, err
			}
			samples[j] = append(samples[j], d)
			hwm[j] = max(hwm[j], kib)
		}
	}
	cpu[big] = cpu[big][1:] // the first start indexed the history
	cpu[recent] = cpu[recent][1:]
	cpu[behind] = cpu[behind][1:]
	mb, me, mr, mt := median(samples[0]), median(samples[1]), median(samples[2]), median(samples[3])
	cb, ce, cr, ct := median(cpu[big]), median(cpu[empty]), median(cpu[recent]), median(cpu[behind])
	ratio := float64(mb) / float64(me)
	lo, hi := spread(5, n, func(i, j int) float64 {
		return float64(median(samples[0][i:j])) / float64(median(samples[1][i:j]))
	})
	rratio := float64(mb) / float64(mr)
	rlo, rhi := spread(5, n, func(i, j int) float64 {
		return float64(median(samples[0][i:j])) / float64(median(samples[2][i:j]))
	})
	return []result{{
		name: "journal start: the same year's history vs its last two days alone",
		figure: fmt.Sprintf("%s vs %s = **%.2fx** (ratio in 5 blocks of the run: %.2fx to %.2fx); CPU time %s vs %s = %.2fx; peak resident %s vs %s",
			ms(mb), ms(mr), rratio, rlo, rhi, ms(cb), ms(cr), float64(cb)/float64(cr), mib(hwm[0]), mib(hwm[2])),
		target: "<= 1.2x: start cost independent of history",
		pass:   rratio <= 1.2,
		note:   "a start reads the checkpoint (the segments' index and the day's writes that hold a budget slot), not the day's records",
	}, {
		name: fmt.Sprintf("journal start: the checkpoint %d KiB of records behind (a kill -9 just before a checkpoint) vs an empty journal", tail>>10),
		figure: fmt.Sprintf("%s vs %s = **%.2fx**; CPU time %s vs %s = %.2fx; peak resident %s",
			ms(mt), ms(me), float64(mt)/float64(me), ms(ct), ms(ce), float64(ct)/float64(ce), mib(hwm[3])),
		target: "bounded by the checkpoint interval (1 MiB), whatever the history",
		pass:   hwm[3] < 40*1024,
		note:   "the worst case: the records after the checkpoint are read and the checkpoint rewritten (synced) before the first answer",
	}, {
		name: fmt.Sprintf("journal start: %d records of history (%.0f MB) vs an empty journal", journalRecords, float64(size)/1e6),
		figure: fmt.Sprintf("%s vs %s = **%.2fx** (ratio in 5 blocks of the run: %.2fx to %.2fx); CPU time %s vs %s = %.2fx; peak resident %s vs %s; the first start, which indexes the history once, %s and %s",
			ms(mb), ms(me), ratio, lo, hi, ms(cb), ms(ce), float64(cb)/float64(ce), mib(hwm[0]), mib(hwm[1]), ms(first), mib(firstHWM)),
		target: "<= 1.2x the empty journal, < 40 MiB resident",
		pass:   ratio <= 1.2 && hwm[0] < 40*1024,
		note:   fmt.Sprintf("median of %d starts each, interleaved in random order; peak resident is VmHWM, the highest of the run", n),
	}}, nil
}

// appendRecent appends about n bytes of unfollow records stamped in the
// hour before now to the active segment path, as a server killed before
// its next checkpoint leaves them, and returns how many bytes it wrote.
func appendRecent(path string, n int64, now time.Time) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(9, 10))
	var total int64
	for i := 0; total < n; i++ {
		at := now.Add(-time.Hour + time.Duration(i)*time.Second).UTC()
		target := fmt.Sprintf("17%017d", rng.Uint64N(1e17))
		call := fmt.Sprintf("%016x", rng.Uint64())
		nw, err := fmt.Fprintf(w, `{"time":%q,"call_id":%q,"phase":"intent","tool":"unfollow_x_user","target_user_id":%q,"expected_username":"user%s","gateway":"127.0.0.1:9","key_fingerprint":"0123456789abcdef","dry_run":false,"was_following":true}`+"\n"+
			`{"time":%q,"call_id":%q,"phase":"outcome","tool":"unfollow_x_user","target_user_id":%q,"expected_username":"user%s","gateway":"127.0.0.1:9","key_fingerprint":"0123456789abcdef","dry_run":false,"outcome":"ok","request_id":"req-%s","following":false}`+"\n",
			at.Format(time.RFC3339Nano), call, target, target[12:], at.Add(300*time.Millisecond).Format(time.RFC3339Nano), call, target, target[12:], call[:8])
		if err != nil {
			f.Close()
			return 0, err
		}
		total += int64(nw)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return total, f.Close()
}
