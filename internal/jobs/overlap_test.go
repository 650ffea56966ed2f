package jobs

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/clock"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// account is one followed account at a gateway: the relationship a check
// reads and the unfollows that reached it.
type account struct {
	mu        sync.Mutex
	following bool
	sends     int
}

// stepSender checks and sends as JobSender does (allow, read, allow and
// intent under the journal's lock, the write, the outcome), pausing at the
// points the test names so that two processes interleave as it says.
type stepSender struct {
	j     *safety.Journal
	clk   clock.Clock
	acct  *account
	after map[string]func() // "intent" (before the write lands), "read"
}

func (s stepSender) Send(_ context.Context, d Def, it Item, g Guard) Result {
	if g.Allow() != nil {
		return Result{Stopped: true}
	}
	s.acct.mu.Lock()
	following := s.acct.following
	s.acct.mu.Unlock()
	if f := s.after["read"]; f != nil {
		f()
	}
	if !following {
		return Result{Outcome: OutcomeNotFollowing}
	}
	call := safety.NewCallID()
	base := safety.Record{CallID: call, Tool: d.Tool, TargetUserID: it.TargetUserID, Gateway: d.Gateway,
		KeyFingerprint: d.KeyFingerprint, JobID: d.ID}
	stopped := false
	err := s.j.Exclusive(func(appendRec func(safety.Record) error) error {
		if g.Allow() != nil {
			stopped = true
			return nil
		}
		in := base
		in.Phase, in.Time = safety.PhaseIntent, s.clk.Now().UTC()
		return appendRec(in)
	})
	if err != nil || stopped {
		return Result{Stopped: true}
	}
	if f := s.after["intent"]; f != nil {
		f()
	}
	s.acct.mu.Lock()
	s.acct.following = false
	s.acct.sends++
	s.acct.mu.Unlock()
	at := s.clk.Now().UTC()
	if err := s.j.Append(safety.Record{CallID: call, Phase: safety.PhaseOutcome, Outcome: safety.OutcomeOK, Time: at,
		TargetUserID: it.TargetUserID, Gateway: d.Gateway, KeyFingerprint: d.KeyFingerprint, JobID: d.ID}); err != nil {
		return Result{Outcome: OutcomeUnknown, Sent: true, Time: at}
	}
	return Result{Outcome: OutcomeOK, Sent: true, Time: at}
}

// Two jobs of one key name the same account, and two processes sharing the
// journal run one each. B reads the relationship while A's unfollow is in
// flight (still following), and A's unfollow lands before B writes: B must
// not send on that stale check. Each send of an account has a check of its
// own between it and the one before.
func TestOverlappingJobsInTwoProcessesNeverSendTwiceOnOneCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")
	clk := clock.NewScaled(10000, time.Now())
	acct := &account{following: true}
	aIntent, bRead, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var aOnce, bOnce sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var stores []*Store
	var ids []string
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
		targets := []string{"42"}
		d := Def{ID: NewID(), Kind: KindUnfollow, KeyFingerprint: "fp", Gateway: "gw", Username: "me",
			TargetUserIDs: targets, ListSHA256: ListSHA256(targets), ConsentAt: clk.Now().UTC(), Pace: Pace{Per15m: 10}, Tool: "start_x_unfollow_job"}
		if _, err := s.Create(d); err != nil {
			t.Fatal(err)
		}
		if ok, err := locks.TryLock(d.ID); !ok || err != nil {
			t.Fatalf("lock: %v %v", ok, err)
		}
		stores, ids = append(stores, s), append(ids, d.ID)
		after := map[string]func(){}
		var before func()
		if p == 0 { // A: its write lands only once B has read
			after["intent"] = func() {
				aOnce.Do(func() { close(aIntent); <-bRead })
			}
		} else { // B: reads once A's intent is written, writes once A's outcome is
			before = func() { <-aIntent }
			after["read"] = func() {
				bOnce.Do(func() { close(bRead); <-aDone })
			}
		}
		sender := stepSender{j: j, clk: clk, acct: acct, after: after}
		r := &Runner{Store: s, Clock: clk, Locks: locks, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			LockPoll: 2 * time.Millisecond, SenderFor: func(Def) Sender { return sender }}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if before != nil {
				select {
				case <-before2(before):
				case <-ctx.Done():
					return
				}
			}
			r.Run(ctx)
		}()
	}
	// A's outcome is journaled once its Send returns; give B the go then.
	go func() {
		for ctx.Err() == nil {
			_ = stores[0].Refresh()
			if sum, err := stores[0].Summary(ids[0], "fp", "gw", false); err == nil && sum.Remaining == 0 {
				close(aDone)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for ctx.Err() == nil {
		_ = stores[1].Refresh()
		if sum, err := stores[1].Summary(ids[1], "fp", "gw", false); err == nil && sum.Remaining == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	acct.mu.Lock()
	defer acct.mu.Unlock()
	if acct.sends != 1 {
		t.Fatalf("the account got %d unfollows; the second went on a check made before the first landed", acct.sends)
	}
	sum, _ := stores[1].Summary(ids[1], "fp", "gw", false)
	if sum.Counts[OutcomeNotFollowing] != 1 {
		t.Fatalf("B's item: %v; want not_following after a fresh check", sum.Counts)
	}
}

// before2 runs f and closes the channel it returns.
func before2(f func()) <-chan struct{} {
	c := make(chan struct{})
	go func() { f(); close(c) }()
	return c
}
