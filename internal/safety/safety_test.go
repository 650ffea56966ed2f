package safety

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestJournalAppendsSyncedLinesWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.Append(Record{CallID: NewCallID(), Phase: PhaseIntent, Tool: "unfollow_x_user", TargetUserID: "12"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_ = j.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v", st.Mode().Perm())
	}
	recs, warnings, err := ReadJournalFile(path)
	if err != nil || len(warnings) != 0 || len(recs) != 20 {
		t.Fatalf("recs = %d, warnings = %v, err = %v", len(recs), warnings, err)
	}
	// Reopening appends; it never truncates.
	j, _ = OpenJournal(path)
	_ = j.Append(Record{Phase: PhaseIntent, Tool: "x", TargetUserID: "1"})
	_ = j.Close()
	recs, _, _ = ReadJournalFile(path)
	if len(recs) != 21 {
		t.Fatalf("after reopen: %d records", len(recs))
	}
}

func TestJournalFailsClosed(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_ = j.f.Close() // every later write fails, as on a full or lost disk
	first := j.Append(Record{Phase: PhaseIntent})
	if first == nil {
		t.Fatal("a failed write was reported as written")
	}
	if err := j.Append(Record{Phase: PhaseIntent}); err == nil || err.Error() != first.Error() {
		t.Fatalf("the journal did not stay failed: %v", err)
	}
	if _, err := OpenJournal(filepath.Join(t.TempDir(), "missing", "j.jsonl")); err == nil {
		t.Fatal("opened a journal in a missing directory")
	}
}

func TestJournalRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	for _, path := range []string{fifo, dir, "/dev/null"} {
		done := make(chan error, 2)
		go func() {
			_, err := OpenJournal(path)
			done <- err
			_, _, err = ReadJournalFile(path)
			done <- err
		}()
		for i := 0; i < 2; i++ {
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("%s: err = %v", path, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: opening it blocked", path)
			}
		}
	}
}

func TestTornLastLineIsClosedOffAndReportedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	intent := `{"phase":"intent","tool":"unfollow_x_user","target_user_id":"1","call_id":"a"}` + "\n"
	if err := os.WriteFile(path, []byte(intent+`{"phase":"outc`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Read before any repair: the torn line is skipped and named.
	recs, warnings, err := ReadJournalFile(path)
	if err != nil || len(recs) != 1 || len(warnings) != 1 || warnings[0].Line != 2 || !strings.Contains(warnings[0].Msg, "incomplete") {
		t.Fatalf("recs = %d, warnings = %v, err = %v", len(recs), warnings, err)
	}
	for start := 1; start <= 2; start++ {
		j, err := OpenJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]int{1: 2, 2: 0}[start]; j.TornLine != want {
			t.Fatalf("start %d: TornLine = %d, want %d", start, j.TornLine, want)
		}
		if err := j.Append(Record{CallID: "b", Phase: PhaseIntent, Tool: "unfollow_x_user", TargetUserID: "2"}); err != nil {
			t.Fatal(err)
		}
		_ = j.Close()
		recs, warnings, err := ReadJournalFile(path)
		if err != nil || len(warnings) != 0 {
			t.Fatalf("start %d: the repaired line was reported again: %v %v", start, warnings, err)
		}
		if len(recs) != 1+start || recs[len(recs)-1].TargetUserID != "2" {
			t.Fatalf("start %d: a record was lost or glued to the fragment: %+v", start, recs)
		}
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `{"phase":"outc`+"\n") {
		t.Fatalf("the fragment was not kept on its own line:\n%s", raw)
	}
}

func TestMalformedLinesAnywhereAreSkippedWithTheirNumber(t *testing.T) {
	in := "garbage\n" + `{"phase":"intent","tool":"unfollow_x_user","target_user_id":"1","call_id":"a"}` + "\n{}\n[1,2]\n"
	recs, warnings, err := ReadJournal(strings.NewReader(in))
	if err != nil || len(recs) != 1 {
		t.Fatalf("recs = %d, err = %v", len(recs), err)
	}
	var lines []int
	for _, w := range warnings {
		lines = append(lines, w.Line)
	}
	if fmt.Sprint(lines) != "[1 3 4]" {
		t.Fatalf("warned lines %v, want [1 3 4]", lines)
	}
}

func TestAttemptsAndUndoCandidates(t *testing.T) {
	now := time.Now()
	yes, no := true, false
	var recs []Record
	n := 0
	add := func(ago time.Duration, tool, id, gw, fp string, was *bool, outcome string, dry bool) {
		n++
		call := fmt.Sprint(n)
		recs = append(recs, Record{Time: now.Add(-ago), CallID: call, Phase: PhaseIntent, Tool: tool, TargetUserID: id, Gateway: gw, KeyFingerprint: fp, WasFollowing: was, DryRun: dry})
		if outcome != "" {
			recs = append(recs, Record{Time: now.Add(-ago), CallID: call, Phase: PhaseOutcome, Tool: tool, TargetUserID: id, Gateway: gw, KeyFingerprint: fp, Outcome: outcome, DryRun: dry})
		}
	}
	const gw, fp = "api.example", "00112233aabbccdd"
	add(3*time.Hour, "unfollow_x_user", "1", gw, fp, &yes, OutcomeOK, false) // too old
	add(time.Hour, "unfollow_x_user", "2", gw, fp, &yes, OutcomeOK, false)
	add(time.Hour, "unfollow_x_users", "3", gw, fp, nil, OutcomeUnknown, false) // unverified
	add(time.Hour, "unfollow_x_user", "4", gw, fp, nil, OutcomeRefused, false)
	add(time.Hour, "unfollow_x_user", "5", gw, fp, &yes, OutcomeFailed, false)
	add(time.Hour, "unfollow_x_user", "6", gw, fp, &yes, OutcomeOK, true)   // dry run
	add(time.Hour, "unfollow_x_user", "9", gw, fp, &no, OutcomeNoop, false) // never followed
	add(time.Hour, "unfollow_x_user", "10", gw, fp, &no, OutcomeOK, false)  // checked: not followed
	add(50*time.Minute, "unfollow_x_user", "7", gw, fp, &yes, OutcomeOK, false)
	add(40*time.Minute, "follow_x_user", "7", gw, fp, nil, OutcomeOK, false) // already restored
	add(time.Hour, "unfollow_x_user", "11", GatewaySandbox, fp, &yes, OutcomeOK, false)
	add(time.Hour, "unfollow_x_user", "12", gw, "ffffffffffffffff", &yes, OutcomeOK, false)
	add(30*time.Minute, "unfollow_x_user", "8", gw, fp, &yes, "", false) // intent only: a crash
	atts := Attempts(recs)
	un, fo := []string{"unfollow_x_user", "unfollow_x_users"}, []string{"follow_x_user"}
	var got []string
	for _, it := range UndoCandidates(atts, Scope{Gateway: gw, KeyFingerprint: fp}, now.Add(-2*time.Hour), un, fo) {
		got = append(got, fmt.Sprintf("%s:%v:%s", it.ID, it.Verified, it.Outcome))
	}
	if strings.Join(got, ",") != "2:true:ok,3:false:unknown,8:true:unknown" {
		t.Fatalf("undo candidates %v", got)
	}
	ev := BudgetEvents(atts, Scope{Gateway: gw}, now.Add(-2*time.Hour), un)
	// 2, 3 (unknown), 10 (ok), 7, 8 (intent only) for fp; 12 for the other key; 11 is the sandbox's.
	if len(ev[fp]) != 5 || len(ev["ffffffffffffffff"]) != 1 || len(ev) != 2 {
		t.Fatalf("budget events %v", ev)
	}
	if len(BudgetEvents(atts, Scope{Gateway: GatewaySandbox}, now.Add(-2*time.Hour), un)[fp]) != 1 {
		t.Fatal("sandbox records not kept apart")
	}
}

func TestBudgetSlidingWindows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := NewBudget(clock, Window{Limit: 3, Span: 15 * time.Minute}, Window{Limit: 5, Span: 24 * time.Hour})
	remaining := func(fp string) Remaining {
		r, err := b.Remaining(ctx, fp)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 0; i < 3; i++ {
		r, err := b.Reserve(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		r.Keep()
		now = now.Add(time.Minute)
	}
	_, err := b.Reserve(ctx, "a")
	ex, ok := err.(*Exhausted)
	if !ok || ex.Window.Limit != 3 || ex.RetryAfter != 12*time.Minute {
		t.Fatalf("err = %v", err)
	}
	if rem := remaining("a"); *rem.Per15m != 0 || *rem.Per24h != 2 || rem.Min() != 0 {
		t.Fatalf("remaining = %d, %d", *rem.Per15m, *rem.Per24h)
	}
	// Another key has a budget of its own.
	if rem := remaining("b"); *rem.Per15m != 3 {
		t.Fatalf("key b sees key a's events: %d", *rem.Per15m)
	}
	now = now.Add(13 * time.Minute) // events at 0 and 1 min slide out; 2 min stays
	r, err := b.Reserve(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if *remaining("a").Per15m != 1 {
		t.Fatalf("with a reservation: %d", *remaining("a").Per15m)
	}
	r.Release() // released slots are given back
	r.Release() // once
	if *remaining("a").Per15m != 2 {
		t.Fatalf("after release: %d", *remaining("a").Per15m)
	}
	for i := 0; i < 2; i++ {
		r, _ := b.Reserve(ctx, "a")
		r.Keep()
	}
	now = now.Add(20 * time.Minute) // the 15-minute window is empty again
	_, err = b.Reserve(ctx, "a")
	if ex, ok := err.(*Exhausted); !ok || ex.Window.Limit != 5 {
		t.Fatalf("the daily window did not bind: %v", err)
	}
}

func TestBudgetRetryAfterWithMoreEventsThanTheLimit(t *testing.T) {
	// A restart with a lower limit: 5 events in the window, limit 2. A slot
	// frees only when four of them have left, not when the oldest has.
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	b := NewBudget(func() time.Time { return now }, Window{Limit: 2, Span: 15 * time.Minute})
	for i := 5; i >= 1; i-- {
		b.Seed("a", now.Add(-time.Duration(i)*time.Minute)) // 5..1 minutes ago
	}
	err := b.Check(context.Background(), "a", 1)
	ex, ok := err.(*Exhausted)
	if !ok || ex.RetryAfter != 13*time.Minute {
		t.Fatalf("err = %v; want a slot in 13m0s (when the event of 2 minutes ago leaves)", err)
	}
}

func TestBudgetZeroMeansNoLimitAndSeed(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	b := NewBudget(func() time.Time { return now }, Window{Limit: 0, Span: 15 * time.Minute}, Window{Limit: 2, Span: 24 * time.Hour})
	b.Seed("a", now.Add(-time.Hour), now.Add(-2*time.Hour))
	if _, err := b.Reserve(ctx, "a"); err == nil {
		t.Fatal("the seeded events were not counted")
	}
	if r, _ := b.Remaining(ctx, "a"); r.Per15m != nil || *r.Per24h != 0 {
		t.Fatalf("remaining = %+v", r)
	}
}

func TestBudgetConcurrentReservationsNeverOverrun(t *testing.T) {
	b := NewBudget(nil, Window{Limit: 10, Span: time.Hour})
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := b.Reserve(context.Background(), "a"); err == nil {
				mu.Lock()
				granted++
				mu.Unlock()
				r.Keep()
			}
		}()
	}
	wg.Wait()
	if granted != 10 {
		t.Fatalf("granted %d of a budget of 10", granted)
	}
}

// TestScopeComparesNormalGateways: a record whose gateway was written with
// capitals, a trailing dot or the default port names the same gateway as
// the one in use, so it spends the same budget and undo reaches it.
func TestScopeComparesNormalGateways(t *testing.T) {
	s := Scope{Gateway: "api.aisa.one"}
	for _, g := range []string{"api.aisa.one", "api.aisa.one.", "API.AISA.ONE", "API.aisa.one.:443", "api.aisa.one:80", "api.aisa.one:0443", "api.aisa.one:"} {
		if !s.has(Attempt{Gateway: g, KeyFingerprint: "fp"}) {
			t.Errorf("a record of gateway %q is out of the scope of %q", g, s.Gateway)
		}
		if !(Scope{Gateway: g}).has(Attempt{Gateway: "api.aisa.one", KeyFingerprint: "fp"}) {
			t.Errorf("a record of gateway api.aisa.one is out of the scope of %q", g)
		}
	}
	for _, g := range []string{"api.aisa.one:8443", "other.aisa.one", "sandbox", "api.aisa.one.evil"} {
		if s.has(Attempt{Gateway: g, KeyFingerprint: "fp"}) {
			t.Errorf("a record of gateway %q is in the scope of %q", g, s.Gateway)
		}
	}
	if got := NormalGateway("[::1]:443"); got != "[::1]" {
		t.Errorf("NormalGateway([::1]:443) = %q", got)
	}
	if got := NormalGateway("Gw.Example.:8443"); got != "gw.example:8443" {
		t.Errorf("NormalGateway(Gw.Example.:8443) = %q", got)
	}
}
