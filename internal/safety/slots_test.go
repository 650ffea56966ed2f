package safety

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var slotTools = []string{"unfollow_x_user", "unfollow_x_users", "unfollow_job"}

// randomWrites appends n writes of random shape from day0 on, advancing
// the clock: intents and outcomes of several tools, gateways and keys,
// dry runs, every outcome, outcomes that never come, intents without a
// call id, call ids used twice, jobs' records, and times stamped a little
// out of order as processes sharing a journal do.
func randomWrites(t *testing.T, rng *rand.Rand, js []*Journal, c *clock, n int) {
	t.Helper()
	tools := []string{"unfollow_x_user", "unfollow_x_users", "follow_x_user", "unfollow_job"}
	gateways := []string{"api.example", "API.example.", "sandbox", ""}
	keys := []string{"aaaa", "bbbb", "cccc", ""}
	outcomes := []string{OutcomeOK, OutcomeOK, OutcomeUnknown, OutcomeFailed, OutcomeRefused, OutcomeNoop, outcomeLegacyError, "", "weird"}
	var lastCall string
	for i := 0; i < n; i++ {
		c.set(c.now().Add(time.Duration(rng.IntN(40)) * time.Minute))
		j := js[rng.IntN(len(js))]
		at := c.now().Add(-time.Duration(rng.IntN(3)) * time.Second)
		call := NewCallID()
		switch rng.IntN(10) {
		case 0:
			call = ""
		case 1:
			if lastCall != "" {
				call = lastCall
			}
		}
		lastCall = call
		gw := gateways[rng.IntN(len(gateways))]
		key := keys[rng.IntN(len(keys))]
		if gw == "" {
			key = ""
		}
		in := Record{Time: at, CallID: call, Phase: PhaseIntent, Tool: tools[rng.IntN(len(tools))], TargetUserID: strconv.Itoa(i),
			Gateway: gw, KeyFingerprint: key, DryRun: rng.IntN(8) == 0}
		if rng.IntN(5) == 0 {
			in.JobID = "job" + strconv.Itoa(rng.IntN(3))
		}
		if err := j.Append(in); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(6) == 0 {
			continue // no outcome: the process died, or it is still out
		}
		out := in
		out.Phase, out.Outcome, out.Time = PhaseOutcome, outcomes[rng.IntN(len(outcomes))], at.Add(time.Duration(rng.IntN(5000))*time.Millisecond)
		if err := js[rng.IntN(len(js))].Append(out); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(20) == 0 {
			if err := j.Append(Record{Time: at, Phase: "job", JobID: "job9", Job: []byte(`{"kind":"unfollow"}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// want is what a start counted before the checkpoint held the slots: the
// records of the window, joined and counted.
func wantEvents(t *testing.T, j *Journal, s Scope, since time.Time) map[string][]time.Time {
	t.Helper()
	var recs []Record
	if err := j.Scan(since, func(r Record) bool { recs = append(recs, r); return true }); err != nil {
		t.Fatal(err)
	}
	return sortedEvents(BudgetEvents(Attempts(recs), s, since, slotTools))
}

func gotEvents(t *testing.T, j *Journal, s Scope, since time.Time) map[string][]time.Time {
	t.Helper()
	ws, err := j.Slots(since)
	if err != nil {
		t.Fatal(err)
	}
	return sortedEvents(SlotEvents(ws, s, since, slotTools))
}

func sortedEvents(m map[string][]time.Time) map[string][]time.Time {
	for k, v := range m {
		slices.SortFunc(v, func(a, b time.Time) int { return a.Compare(b) })
		m[k] = v
	}
	return m
}

func sameEvents(a, b map[string][]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || len(v) != len(w) {
			return false
		}
		for i := range v {
			if !v[i].Equal(w[i]) {
				return false
			}
		}
	}
	return true
}

var slotScopes = []Scope{
	{Gateway: "api.example", Legacy: true},
	{Gateway: "api.example"},
	{Gateway: GatewaySandbox},
	{Gateway: "other"},
}

func checkSlots(t *testing.T, what string, j *Journal, c *clock) {
	t.Helper()
	for _, back := range []time.Duration{24 * time.Hour, 15 * time.Minute, 3 * time.Hour} {
		since := c.now().Add(-back)
		for _, s := range slotScopes {
			want, got := wantEvents(t, j, s, since), gotEvents(t, j, s, since)
			if !sameEvents(want, got) {
				t.Fatalf("%s, scope %+v, since %s: the slots give %v; the records %v", what, s, back, got, want)
			}
		}
	}
}

// The slot-holding writes a start takes from the checkpoint and the
// records after it count exactly what the records of the last day count,
// through every way a journal is left: reopened with a current
// checkpoint, one behind by records, one deleted, damaged or describing
// another file, and two processes appending to one journal.
func TestSlotsCountWhatTheRecordsCount(t *testing.T) {
	for seed := range 6 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 19))
			path := filepath.Join(t.TempDir(), "j.jsonl")
			c := &clock{t: day0}
			o := JournalOptions{CheckpointEvery: 1 + int64(rng.IntN(4000))}
			a := openAt(t, path, c, o)
			b := openAt(t, path, c, o)
			for round := range 8 {
				randomWrites(t, rng, []*Journal{a, b}, c, 40+rng.IntN(60))
				checkSlots(t, fmt.Sprintf("round %d, live", round), a, c)
				checkSlots(t, fmt.Sprintf("round %d, live, the other process", round), b, c)
				a.Close()
				ck := filepath.Join(path+".d", checkpointName)
				switch round % 4 {
				case 1:
					os.Remove(ck)
				case 2:
					if data, err := os.ReadFile(ck); err == nil && len(data) > 40 {
						data[len(data)/2] ^= 1
						os.WriteFile(ck, data, 0o600)
					}
				case 3:
					if data, err := os.ReadFile(ck); err == nil {
						os.WriteFile(ck, data[:len(data)/2], 0o600)
					}
				}
				a = openAt(t, path, c, o)
				checkSlots(t, fmt.Sprintf("round %d, reopened", round), a, c)
			}
			a.Close()
			b.Close()
		})
	}
}

// A checkpoint describing another active segment than the one there (the
// file replaced from outside by one at least as long) is not trusted: its
// slots are not taken, and the records are read instead.
func TestSlotsOfAReplacedActiveSegmentAreNotTrusted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	for i := range 5 {
		r := rec(strconv.Itoa(i), c.now())
		r.CallID, r.Gateway, r.KeyFingerprint = NewCallID(), "api.example", "aaaa"
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	// The same length, other records: three unfollows, none of the five.
	var b bytes.Buffer
	for i := range 3 {
		fmt.Fprintf(&b, `{"time":%q,"call_id":"c%d","phase":"intent","tool":"unfollow_x_user","target_user_id":"9%d","expected_username":"x","gateway":"api.example","key_fingerprint":"aaaa","dry_run":false}`+"\n",
			c.now().Format(time.RFC3339Nano), i, i)
	}
	st, _ := os.Stat(path)
	for int64(b.Len()) < st.Size() {
		b.WriteString("{}\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	j = openAt(t, path, c, JournalOptions{})
	defer j.Close()
	got := gotEvents(t, j, Scope{Gateway: "api.example"}, c.now().Add(-24*time.Hour))
	if len(got["aaaa"]) != 3 {
		t.Fatalf("after the active segment was replaced, the slots count %d writes; want the 3 it holds", len(got["aaaa"]))
	}
}

// A start with a current checkpoint reads neither the history nor the
// last day's records: with every sealed segment overwritten by junk of the
// same size, it opens without a warning and counts the same slots, and
// the jobs' scan finds the jobs' records without reading the other blocks.
func TestStartReadsNoRecordsBehindTheCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{Retention: 0})
	for d := range 12 {
		for k := range 30 {
			at := day0.Add(time.Duration(d)*24*time.Hour + time.Duration(k)*40*time.Minute)
			c.set(at)
			r := rec(fmt.Sprintf("%d-%d", d, k), at)
			r.CallID, r.Gateway, r.KeyFingerprint = NewCallID(), "api.example", "aaaa"
			if d == 4 && k == 7 {
				r.JobID = "job-1"
			}
			if err := j.Append(r); err != nil {
				t.Fatal(err)
			}
			r.Phase, r.Outcome = PhaseOutcome, OutcomeOK
			if err := j.Append(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	since := c.now().Add(-24 * time.Hour)
	want := wantEvents(t, j, Scope{Gateway: "api.example"}, since)
	j.Close()
	if len(want["aaaa"]) < 30 {
		t.Fatalf("only %d unfollows in the last day", len(want["aaaa"]))
	}
	seqs, err := sealedSeqs(path + ".d")
	if err != nil || len(seqs) < 11 {
		t.Fatalf("sealed %v %v", seqs, err)
	}
	for _, s := range seqs {
		p := segPath(path+".d", s)
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte("job-1")) {
			continue
		}
		os.WriteFile(p, append(bytes.Repeat([]byte("y"), len(data)-1), '\n'), 0o600)
	}
	var warned []string
	j = openAt(t, path, c, JournalOptions{Retention: 0})
	defer j.Close()
	j.OnWarn(func(msg string, args ...any) { warned = append(warned, msg) })
	ws, err := j.Slots(since)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedEvents(SlotEvents(ws, Scope{Gateway: "api.example"}, since, slotTools)); !sameEvents(want, got) {
		t.Fatalf("slots %v; want %v", got, want)
	}
	var jobs []string
	err = j.ScanJobs(day0, func(r Record) bool {
		if r.JobID != "" {
			jobs = append(jobs, r.TargetUserID+"/"+r.Phase)
		}
		return true
	})
	if err != nil || slices.Compare(jobs, []string{"4-7/intent", "4-7/outcome"}) != 0 || len(warned) != 0 {
		t.Fatalf("jobs' scan: %v %v, warned %v", jobs, err, warned)
	}
}

// Every line that belongs to a job is in a block marked for the jobs'
// scan: ScanJobs gives every record Scan gives that has a job id or a
// job's phase, over a journal of many blocks and segments.
func TestScanJobsMissesNoJobRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 19))
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	o := JournalOptions{RotateSize: 300 << 10}
	j := openAt(t, path, c, o)
	randomWrites(t, rng, []*Journal{j}, c, 3000)
	j.Close()
	os.Remove(filepath.Join(path+".d", checkpointName)) // indexed again from the lines
	j = openAt(t, path, c, o)
	defer j.Close()
	for _, since := range []time.Time{day0, c.now().Add(-48 * time.Hour)} {
		var all, jobs []string
		key := func(r Record) string { return r.Time.String() + r.CallID + r.Phase + r.JobID + r.TargetUserID }
		if err := j.Scan(since, func(r Record) bool {
			if r.JobID != "" || r.Phase == "job" {
				all = append(all, key(r))
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if err := j.ScanJobs(since, func(r Record) bool {
			if r.JobID != "" || r.Phase == "job" {
				jobs = append(jobs, key(r))
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(all) < 50 || slices.Compare(all, jobs) != 0 {
			t.Fatalf("since %s: the jobs' scan found %d of the %d jobs' records:\n%v\n%v", since, len(jobs), len(all), jobs, all)
		}
	}
}

// A checkpoint that does not parse whole is ignored.
func TestCheckpointRoundTripAndDamage(t *testing.T) {
	s := newSlotState(day0)
	s.track(&Record{Time: day0.Add(time.Hour), CallID: "c 1", Phase: PhaseIntent, Tool: "unfollow_x_user", Gateway: "g \"q\"", KeyFingerprint: "k"})
	s.track(&Record{Time: day0.Add(2 * time.Hour), CallID: "c2", Phase: PhaseIntent, Tool: "unfollow_x_user", Gateway: "g", KeyFingerprint: "k"})
	s.track(&Record{CallID: "c2", Phase: PhaseOutcome, Outcome: OutcomeOK})
	c := &checkpoint{Sealed: []segMeta{{Seq: 1, Size: 10, Lines: 1, First: day0, Last: day0, Blocks: []block{{Off: 0, Max: day0, Jobs: true}}}},
		Active: segMeta{Seq: 2, Size: 5, Lines: 1, Blocks: []block{{Off: 0}}}, Tail: 77, Slots: s}
	data := c.encode()
	d, err := decodeCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Active.Seq != 2 || d.Tail != 77 || len(d.Sealed) != 1 || !d.Sealed[0].Blocks[0].Jobs || !d.Sealed[0].Last.Equal(day0) {
		t.Fatalf("decoded %s", d)
	}
	if ws := d.Slots.writes(day0); len(ws) != 2 || ws[0].Gateway != "g \"q\"" || d.Slots.pending["c 1"] != 0 {
		t.Fatalf("slots %+v, pending %v", ws, d.Slots.pending)
	}
	for i := range data {
		bad := slices.Clone(data)
		bad[i] ^= 0x20
		if _, err := decodeCheckpoint(bad); err == nil {
			t.Fatalf("a checkpoint with byte %d changed was taken", i)
		}
		if _, err := decodeCheckpoint(data[:i]); err == nil {
			t.Fatalf("a checkpoint cut at byte %d was taken", i)
		}
	}
}

// A start takes the checkpoint's meta of the sealed segments it names and
// finds those sealed after it; one deleted since (another process's
// retention) is passed over.
func TestStartFindsSegmentsSealedAfterTheCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	day := func(j *Journal, d int) {
		at := day0.Add(time.Duration(d) * 24 * time.Hour)
		c.set(at)
		r := rec(strconv.Itoa(d), at)
		r.CallID, r.Gateway, r.KeyFingerprint = NewCallID(), "api.example", "aaaa"
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j := openAt(t, path, c, JournalOptions{})
	for d := range 4 {
		day(j, d)
	}
	j.Close()
	ck := filepath.Join(path+".d", checkpointName)
	old, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	j = openAt(t, path, c, JournalOptions{})
	for d := 4; d < 7; d++ {
		day(j, d)
	}
	j.Close()
	// The checkpoint as it was before days 4 to 6: behind by three seals.
	if err := os.WriteFile(ck, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segPath(path+".d", 1)); err != nil {
		t.Fatal(err)
	}
	j = openAt(t, path, c, JournalOptions{})
	defer j.Close()
	day(j, 7)
	recs, warnings, err := j.Records()
	if err != nil || len(warnings) != 0 || strings.Join(ids(recs), ",") != "1,2,3,4,5,6,7" {
		t.Fatalf("records %v, warnings %v, err %v", ids(recs), warnings, err)
	}
	checkSlots(t, "after a checkpoint behind", j, c)
}

// A line that is not a record among those a start reads (after the
// checkpoint) is reported in Skipped, once: the next start, whose
// checkpoint covers it, does not read it again.
func TestOpenReportsSkippedLinesItReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	if err := j.Append(rec("1", c.now())); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not a record\n")
	f.Close()
	j = openAt(t, path, c, JournalOptions{})
	if len(j.Skipped) != 1 || j.Skipped[0].Line != 2 {
		t.Fatalf("skipped %v; want line 2", j.Skipped)
	}
	if err := j.Append(rec("2", c.now())); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openAt(t, path, c, JournalOptions{})
	defer j.Close()
	if len(j.Skipped) != 0 {
		t.Fatalf("reported again: %v", j.Skipped)
	}
}
