package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/clock"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// journalSender writes each item's intent and outcome to its process's
// journal, as the write gate does, and records when it sent.
type journalSender struct {
	j     *safety.Journal
	clk   clock.Clock
	mu    *sync.Mutex
	times *[]time.Time
}

func (s journalSender) Send(_ context.Context, d Def, it Item, g Guard) Result {
	var at time.Time
	stopped := false
	err := s.j.Exclusive(func(appendRec func(safety.Record) error) error {
		if g.Allow() != nil {
			stopped = true
			return nil
		}
		at = s.clk.Now().UTC()
		call := safety.NewCallID()
		base := safety.Record{CallID: call, Tool: d.Tool, TargetUserID: it.TargetUserID, Gateway: d.Gateway,
			KeyFingerprint: d.KeyFingerprint, JobID: d.ID, Time: at}
		in, out := base, base
		in.Phase = safety.PhaseIntent
		out.Phase, out.Outcome = safety.PhaseOutcome, safety.OutcomeOK
		if err := appendRec(in); err != nil {
			return err
		}
		return appendRec(out)
	})
	if err != nil || stopped {
		return Result{Stopped: true}
	}
	s.mu.Lock()
	*s.times = append(*s.times, at)
	s.mu.Unlock()
	return Result{Outcome: OutcomeOK, Sent: true, Time: at}
}

// Two processes sharing a journal, each advancing its own job of the same
// key, keep together to the key's pace: it is a ceiling for the key, not for
// each process.
func TestPaceSharedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")
	clk := clock.NewScaled(10000, time.Now())
	pace := Pace{Per15m: 10}
	var mu sync.Mutex
	var times []time.Time
	type proc struct {
		j     *safety.Journal
		s     *Store
		locks *Locks
	}
	var procs []proc
	var defs []Def
	for p := 0; p < 2; p++ {
		j, err := safety.OpenJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		s, err := Open(j, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		j.OnForeign(s.Apply)
		locks, err := NewLocks(filepath.Join(dir, "locks"))
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, 300)
		for i := range ids {
			ids[i] = fmt.Sprint(1000*(p+1) + i)
		}
		d := Def{ID: NewID(), Kind: KindUnfollow, KeyFingerprint: "fp", Gateway: "gw", Username: "me",
			TargetUserIDs: ids, ListSHA256: ListSHA256(ids), ConsentAt: clk.Now().UTC(), Pace: pace, Tool: "start_x_unfollow_job"}
		if _, err := s.Create(d); err != nil {
			t.Fatal(err)
		}
		// Each process takes its own job's lock first, as a process does
		// when the job it started wakes its runner.
		if ok, err := locks.TryLock(d.ID); !ok || err != nil {
			t.Fatalf("lock: %v %v", ok, err)
		}
		procs = append(procs, proc{j, s, locks})
		defs = append(defs, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range procs {
		r := &Runner{Store: p.s, Clock: clk, Locks: p.locks, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			LockPoll: 2 * time.Millisecond,
			SenderFor: func(Def) Sender {
				return journalSender{j: p.j, clk: clk, mu: &mu, times: &times}
			}}
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
	if len(times) < 2*pace.Per15m {
		t.Fatalf("only %d sends: the test ran too short to tell", len(times))
	}
	if n := maxInWindow(times, 15*time.Minute); n > pace.Per15m {
		t.Errorf("%d sends of one key in 15 minutes from two processes, above its pace of %d (%d sends in all)", n, pace.Per15m, len(times))
	}
}

// A job started under a higher pace than the server now runs with (the
// operator lowered --job-max-per-15m and restarted) keeps to the lower one.
func TestPaceCeilingOfTheServerBindsOlderJobs(t *testing.T) {
	dir := t.TempDir()
	j, err := safety.OpenJournal(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	clk := clock.NewScaled(10000, time.Now())
	s, err := Open(j, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	locks, err := NewLocks(filepath.Join(dir, "locks"))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprint(1000 + i)
	}
	d := Def{ID: NewID(), Kind: KindUnfollow, KeyFingerprint: "fp", Gateway: "gw", Username: "me",
		TargetUserIDs: ids, ListSHA256: ListSHA256(ids), ConsentAt: clk.Now().UTC(), Pace: Pace{Per15m: 20}, Tool: "start_x_unfollow_job"}
	if _, err := s.Create(d); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var times []time.Time
	r := &Runner{Store: s, Clock: clk, Locks: locks, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LockPoll: 2 * time.Millisecond, Ceiling: func(string) Pace { return Pace{Per15m: 5} },
		SenderFor: func(Def) Sender { return journalSender{j: j, clk: clk, mu: &mu, times: &times} }}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	r.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 10 {
		t.Fatalf("only %d sends: the test ran too short to tell", len(times))
	}
	if n := maxInWindow(times, 15*time.Minute); n > 5 {
		t.Errorf("%d sends in 15 minutes; the server's ceiling is 5", n)
	}
}
