package safety

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	recs, skipped, err := ReadJournalFile(path)
	if err != nil || skipped != 0 || len(recs) != 20 {
		t.Fatalf("recs = %d, skipped = %d, err = %v", len(recs), skipped, err)
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
	j, err := OpenJournal("/dev/full")
	if err != nil {
		t.Skip("no /dev/full here")
	}
	if err := j.Append(Record{Phase: PhaseIntent}); err == nil {
		t.Fatal("a write to a full disk succeeded")
	}
	if _, err := OpenJournal(filepath.Join(t.TempDir(), "missing", "j.jsonl")); err == nil {
		t.Fatal("opened a journal in a missing directory")
	}
}

func TestReadJournalSkipsTornLastLine(t *testing.T) {
	in := `{"phase":"intent","tool":"unfollow_x_user","target_user_id":"1","call_id":"a"}` + "\n" + `{"phase":"outc`
	recs, skipped, err := ReadJournal(strings.NewReader(in))
	if err != nil || skipped != 1 || len(recs) != 1 {
		t.Fatalf("recs = %d, skipped = %d, err = %v", len(recs), skipped, err)
	}
	if _, _, err := ReadJournal(strings.NewReader("garbage\n{}\n")); err == nil {
		t.Fatal("a malformed middle line was accepted")
	}
}

func TestUnfollowed(t *testing.T) {
	now := time.Now()
	rec := func(ago time.Duration, tool, id, outcome string, dry bool) Record {
		return Record{Time: now.Add(-ago), Phase: PhaseOutcome, Tool: tool, TargetUserID: id, Outcome: outcome, DryRun: dry}
	}
	recs := []Record{
		rec(3*time.Hour, "unfollow_x_user", "1", OutcomeOK, false), // too old
		rec(time.Hour, "unfollow_x_user", "2", OutcomeOK, false),
		rec(time.Hour, "unfollow_x_users", "3", OutcomeOK, false),
		rec(time.Hour, "unfollow_x_user", "4", OutcomeRefused, false),
		rec(time.Hour, "unfollow_x_user", "5", OutcomeError, false),
		rec(time.Hour, "unfollow_x_user", "6", OutcomeOK, true),
		rec(50*time.Minute, "unfollow_x_user", "7", OutcomeOK, false),
		rec(40*time.Minute, "follow_x_user", "7", OutcomeOK, false), // already restored
		{Time: now, Phase: PhaseIntent, Tool: "unfollow_x_user", TargetUserID: "8"},
	}
	got := Unfollowed(recs, now.Add(-2*time.Hour), []string{"unfollow_x_user", "unfollow_x_users"}, []string{"follow_x_user"})
	if strings.Join(got, ",") != "2,3" {
		t.Fatalf("got %v", got)
	}
}

func TestBudgetSlidingWindows(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := NewBudget(clock, Window{Limit: 3, Span: 15 * time.Minute}, Window{Limit: 5, Span: 24 * time.Hour})
	for i := 0; i < 3; i++ {
		r, err := b.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		r.Commit()
		now = now.Add(time.Minute)
	}
	_, err := b.Reserve()
	ex, ok := err.(*Exhausted)
	if !ok || ex.Window.Limit != 3 || ex.RetryAfter != 12*time.Minute {
		t.Fatalf("err = %v", err)
	}
	rem := b.Remaining()
	if *rem.Per15m != 0 || *rem.Per24h != 2 {
		t.Fatalf("remaining = %d, %d", *rem.Per15m, *rem.Per24h)
	}
	now = now.Add(13 * time.Minute) // events at 0 and 1 min slide out; 2 min stays
	r, err := b.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if *b.Remaining().Per15m != 1 {
		t.Fatalf("with a reservation: %d", *b.Remaining().Per15m)
	}
	r.Release() // released slots are given back
	if *b.Remaining().Per15m != 2 {
		t.Fatalf("after release: %d", *b.Remaining().Per15m)
	}
	for i := 0; i < 2; i++ {
		r, _ := b.Reserve()
		r.Commit()
	}
	now = now.Add(20 * time.Minute) // the 15-minute window is empty again
	_, err = b.Reserve()
	if ex, ok := err.(*Exhausted); !ok || ex.Window.Limit != 5 {
		t.Fatalf("the daily window did not bind: %v", err)
	}
}

func TestBudgetZeroMeansNoLimitAndSeed(t *testing.T) {
	now := time.Now()
	b := NewBudget(func() time.Time { return now }, Window{Limit: 0, Span: 15 * time.Minute}, Window{Limit: 2, Span: 24 * time.Hour})
	b.Seed(now.Add(-time.Hour), now.Add(-2*time.Hour))
	if _, err := b.Reserve(); err == nil {
		t.Fatal("the seeded events were not counted")
	}
	if r := b.Remaining(); r.Per15m != nil || *r.Per24h != 0 {
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
			if r, err := b.Reserve(); err == nil {
				mu.Lock()
				granted++
				mu.Unlock()
				r.Commit()
			}
		}()
	}
	wg.Wait()
	if granted != 10 {
		t.Fatalf("granted %d of a budget of 10", granted)
	}
}
