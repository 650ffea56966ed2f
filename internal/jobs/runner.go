package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/clock"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// ErrStopped is what a Sender's allow function returns when the job was
// paused or cancelled, by this process or another, just before the write.
var ErrStopped = errors.New("job paused or cancelled")

// ErrPaced is what a Sender's allow function returns when, once the journal
// was caught up, the key's sends from every process sharing it leave no room
// in its pace yet: nothing is written, and the runner plans again.
var ErrPaced = fmt.Errorf("%w: the key's pace has no room yet", ErrStopped)

// Result is what became of one attempt at an item.
type Result struct {
	// Outcome is the item's outcome, or "" when it stays to do.
	Outcome string
	// Sent is true when a write went to the gateway (it counts for pacing).
	Sent bool
	Time time.Time // when the write's answer came
	// Username is the account's handle, when the check read it.
	Username string
	// Wait, when set, is the status the job waits in (waiting_budget,
	// waiting_rate_limit, waiting_state, needs_link) for RetryAfter.
	Wait       string
	RetryAfter time.Duration
	Text       string // the wait in words, or the error
	// Later is true when the item's check failed: it is tried again later,
	// after the other items.
	Later bool
	// Stopped is true when allow refused: nothing was journaled or sent.
	Stopped bool
}

// Guard is what a Sender checks just before a write. Allow runs under the
// journal's lock just before the intent is written; an error from it
// (ErrStopped, or a budget reserve refusal) stops the write there. Fence,
// with shared job state, is the lease whose token the budget reserve checks
// in the same step (safety.ErrFenced when another process holds it).
type Guard struct {
	Allow func() error
	Fence *safety.Fence
}

// Sender checks and sends one item through the write gate.
type Sender interface {
	Send(ctx context.Context, d Def, it Item, g Guard) Result
}

// Locker is how a process claims the jobs it advances: file locks beside
// the journal (Locks), or leases in Redis (Redis).
type Locker interface {
	TryLock(id string) (bool, error)
	Unlock(id string)
	Close()
}

// fencer is a Locker whose leases carry fencing tokens (Redis).
type fencer interface {
	Fence(id, target string, now time.Time) *safety.Fence
}

// Runner advances the jobs this process may run (those of the keys it holds)
// one item at a time, at each job's pace.
type Runner struct {
	Store *Store
	Clock clock.Clock
	Locks Locker
	// SenderFor returns the sender for a job, or nil when this process
	// cannot run it (another key, another gateway).
	SenderFor func(d Def) Sender
	Logger    *slog.Logger
	// Vault, in the many-callers modes, holds callers' sealed keys; the
	// runner erases a job's key once the job has ended.
	Vault *Vault
	// Rand draws the gaps; nil uses a random source.
	Rand *rand.Rand
	// LockPoll is the real time between tries at jobs another process holds.
	LockPoll time.Duration
	// SendTimeout bounds one item's check and write (real time).
	SendTimeout time.Duration
	// OnOutcome, when set, is told each outcome the runner stores, just
	// before storing it (the xfollow_job_items_total metric); it observes
	// and never decides.
	OnOutcome func(outcome string)
	// Ceiling, when set, is the pace this server allows jobs of a kind now
	// (its flags, capped by the budget): a job approved under a higher pace
	// keeps to it.
	Ceiling func(kind string) Pace

	wakeOnce sync.Once
	wake     chan struct{}
	mu       sync.Mutex
	pacers   map[string]*pacer // by key fingerprint and kind
	later    map[string]time.Time
	acquired map[string]bool // jobs whose lock this process took and read back
	down     bool            // the last pass could not read job state
	erased   map[string]bool // ended jobs whose sealed key is erased and pin dropped
}

// release gives a job's lock back.
func (r *Runner) release(id string) {
	r.mu.Lock()
	delete(r.acquired, id)
	r.mu.Unlock()
	r.Locks.Unlock(id)
}

func (r *Runner) init() {
	r.wakeOnce.Do(func() {
		r.wake = make(chan struct{}, 1)
		if r.Rand == nil {
			r.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		}
		if r.LockPoll == 0 {
			r.LockPoll = time.Second
		}
		if r.SendTimeout == 0 {
			r.SendTimeout = 2 * time.Minute
		}
		r.pacers = map[string]*pacer{}
		r.later = map[string]time.Time{}
		r.acquired = map[string]bool{}
		r.erased = map[string]bool{}
	})
}

// Wake makes the runner look at its jobs now (a job was started or
// resumed).
func (r *Runner) Wake() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run advances jobs until ctx ends. A send in flight when ctx ends is
// finished; the runner stops at the item boundary after it.
func (r *Runner) Run(ctx context.Context) {
	r.init()
	defer r.Locks.Close()
	for ctx.Err() == nil {
		wait := r.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		r.sleep(ctx, wait)
	}
}

// sleep waits d of the runner's clock, a wake, or the end of ctx.
func (r *Runner) sleep(ctx context.Context, d time.Duration) {
	real := time.Duration(float64(d) / r.Clock.Scale())
	if real > r.LockPoll {
		real = r.LockPoll
	}
	if real <= 0 {
		return
	}
	t := time.NewTimer(real)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.wake:
	case <-ctx.Done():
	}
}

// pass looks at every job once, sends what is due, and returns how long
// (clock time) until something is due.
func (r *Runner) pass(ctx context.Context) time.Duration {
	if err := r.Store.Refresh(); err != nil {
		if !r.down {
			r.Logger.Warn("jobs: job state cannot be read (the journal or the state store); jobs wait, and nothing is sent until it can", "err", err)
		}
		r.down = true
		r.Store.setWaitAll(StatusWaitingState, "waiting: the job state (journal or state store) cannot be read; nothing is sent until it can", r.Clock.Now().Add(time.Minute))
		return time.Minute
	}
	if r.down {
		r.Logger.Info("jobs: job state can be read again; jobs go on")
		r.down = false
		r.Store.clearWait(StatusWaitingState)
	}
	// An ended job's sealed key (many-callers modes) is erased, and its
	// records are left to the journal's retention.
	var pinned map[string]time.Time
	read := false
	for _, id := range r.Store.endedIDs() {
		if r.erased[id] {
			continue
		}
		if !read {
			var err error
			if pinned, err = r.Store.j.Pins(); err != nil {
				break
			}
			read = true
		}
		if r.Vault != nil {
			if err := r.Vault.Delete(id); err != nil {
				r.Logger.Warn("jobs: an ended job's sealed key could not be erased yet", "job_id", id, "err", err)
				continue
			}
		}
		if _, ok := pinned[pinName(id)]; !ok {
			r.erased[id] = true
			continue
		}
		if err := r.Store.Unpin(id); err != nil {
			r.Logger.Warn("jobs: an ended job's journal pin could not be dropped yet", "job_id", id, "err", err)
			continue
		}
		r.erased[id] = true
	}
	wait := time.Hour
	for _, d := range r.Store.runnable() {
		if ctx.Err() != nil {
			return 0
		}
		s := r.SenderFor(d)
		if s == nil {
			continue
		}
		held, err := r.Locks.TryLock(d.ID)
		if err != nil {
			r.Logger.Warn("jobs: cannot take a job's lock", "job_id", d.ID, "err", err)
			continue
		}
		if !held {
			r.mu.Lock()
			delete(r.acquired, d.ID) // read it back if it comes to this process again
			r.mu.Unlock()
			continue // another process advances it
		}
		r.mu.Lock()
		fresh := !r.acquired[d.ID]
		r.acquired[d.ID] = true
		r.mu.Unlock()
		if fresh {
			if err := r.Store.Reload(d.ID); err != nil {
				r.Logger.Warn("jobs: cannot read a job back from the journal", "job_id", d.ID, "err", err)
				r.release(d.ID)
				continue
			}
			r.rebuildPacer(d)
		}
		if w := r.advance(ctx, d, s); w < wait {
			wait = w
		}
	}
	return wait
}

// pace is the job's pace within the server's ceiling for its kind.
func (r *Runner) pace(d Def) Pace {
	if r.Ceiling == nil {
		return d.Pace
	}
	c, p := r.Ceiling(d.Kind), d.Pace
	if c.Per15m > 0 && (p.Per15m <= 0 || c.Per15m < p.Per15m) {
		p.Per15m = c.Per15m
	}
	if c.PerDay > 0 && (p.PerDay <= 0 || c.PerDay < p.PerDay) {
		p.PerDay = c.PerDay
	}
	return p
}

func pacerKey(d Def) string { return d.KeyFingerprint + "/" + d.Gateway + "/" + d.Kind }

// rebuildPacer reads the key's recent sends back from the store.
func (r *Runner) rebuildPacer(d Def) {
	d.Pace = r.pace(d)
	now := r.Clock.Now()
	times := r.Store.sendTimes(d.KeyFingerprint, d.Gateway, d.Kind, now.Add(-24*time.Hour))
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pacers[pacerKey(d)]
	if p == nil {
		p = &pacer{}
		r.pacers[pacerKey(d)] = p
	}
	p.sends = times
	if len(times) > 0 && p.next.IsZero() {
		p.next = times[len(times)-1].Add(p.gap(d.Pace, r.Rand))
	}
}

// advance sends the job's next item if it is due, and returns how long until
// the job has something due.
func (r *Runner) advance(ctx context.Context, d Def, s Sender) time.Duration {
	d.Pace = r.pace(d)
	now := r.Clock.Now()
	st := r.Store.view(d.ID)
	if st.ended || st.paused {
		if st.ended {
			r.release(d.ID)
		}
		return time.Hour
	}
	if st.wait != "" && st.until.After(now) {
		r.Store.setNext(d.ID, st.until)
		return st.until.Sub(now)
	}
	it, ok, retryAt := r.nextItem(d.ID, now)
	if !ok {
		r.Store.setNext(d.ID, retryAt)
		return retryAt.Sub(now)
	}
	// The key's sends by other processes sharing the journal (or the state
	// store) count in its windows too: the pace is the key's ceiling.
	others := func() []time.Time {
		return r.Store.sendTimes(d.KeyFingerprint, d.Gateway, d.Kind, r.Clock.Now().Add(-24*time.Hour))
	}
	r.mu.Lock()
	p := r.pacers[pacerKey(d)]
	if p == nil {
		p = &pacer{}
		r.pacers[pacerKey(d)] = p
	}
	r.mu.Unlock()
	ext := others()
	r.mu.Lock()
	due := p.nextAt(d.Pace, now, ext)
	r.mu.Unlock()
	r.Store.setNext(d.ID, due)
	if due.After(now) {
		return due.Sub(now)
	}
	r.Store.setRunning(d.ID, it.TargetUserID)
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.SendTimeout)
	// The first Allow comes before the item's check; the later ones (under
	// the journal's lock, caught up) refuse when another job of the key
	// wrote to the same account since: its send may have landed after this
	// check read the relationship, and a second send needs a check of its
	// own.
	var mark int
	var marked, busy bool
	guard := Guard{Allow: func() error {
		if r.Store.stopped(d.ID) {
			return ErrStopped
		}
		// A write in flight ends within SendTimeout (real time).
		since := r.Clock.Now().Add(-time.Duration(float64(r.SendTimeout) * r.Clock.Scale()))
		settled, inFlight := r.Store.targetMark(d, it.TargetUserID, since)
		switch {
		case !marked:
			mark, marked = settled, true
		case inFlight || settled != mark:
			busy = true
			return ErrStopped
		}
		// Under the journal's lock, caught up: another process may have
		// sent for the key since this pass planned.
		ext := others()
		now := r.Clock.Now()
		r.mu.Lock()
		free := p.free(d.Pace, now, ext)
		r.mu.Unlock()
		if free.After(now) {
			return ErrPaced
		}
		return nil
	}}
	if f, ok := r.Locks.(fencer); ok {
		guard.Fence = f.Fence(d.ID, it.TargetUserID, now)
	}
	res := s.Send(sendCtx, d, it, guard)
	cancel()
	r.Store.setRunning(d.ID, "")
	now = r.Clock.Now()
	if res.Time.IsZero() {
		res.Time = now
	}
	if res.Stopped {
		if busy {
			// Checked again after a breath, not at once.
			r.mu.Lock()
			r.later[d.ID+"/"+it.TargetUserID] = now.Add(d.Pace.MeanGap())
			r.mu.Unlock()
		}
		return 0
	}
	if res.Outcome != "" {
		// Counted before it is stored, so that whoever sees the item (or
		// the job) settled sees it counted too. The local store always
		// takes the outcome; only the shared copy can fail.
		if r.OnOutcome != nil {
			r.OnOutcome(res.Outcome)
		}
		if err := r.Store.setOutcome(d.ID, it.TargetUserID, res.Username, res.Outcome, res.Time); err != nil {
			r.Logger.Warn("jobs: an outcome could not be stored in the shared state; the item is verified before anything is resent", "job_id", d.ID, "err", err)
		}
	}
	if res.Sent {
		r.mu.Lock()
		p.sent(d.Pace, res.Time, r.Rand)
		r.mu.Unlock()
	}
	if res.Later {
		r.mu.Lock()
		r.later[d.ID+"/"+it.TargetUserID] = now.Add(d.Pace.MeanGap())
		r.mu.Unlock()
	}
	if res.Wait != "" {
		r.Logger.Info("jobs: a job waits", "job_id", d.ID, "status", res.Wait, "for", res.RetryAfter)
		r.Store.setWait(d.ID, res.Wait, res.Text, now.Add(res.RetryAfter))
		return res.RetryAfter
	}
	r.Store.setWait(d.ID, "", "", time.Time{})
	if !res.Sent {
		// A skip sends nothing and spends no pace; the next item's check
		// follows after a short breath, not at once.
		return time.Second
	}
	return 0
}

// nextItem is the job's first item to do that is not waiting after a failed
// check; when every one waits, when the first is due again.
func (r *Runner) nextItem(id string, now time.Time) (Item, bool, time.Time) {
	items := r.Store.pendingItems(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	var soonest time.Time
	for _, it := range items {
		k := id + "/" + it.TargetUserID
		if t, ok := r.later[k]; ok && t.After(now) {
			if soonest.IsZero() || t.Before(soonest) {
				soonest = t
			}
			continue
		}
		delete(r.later, k)
		return it, true, time.Time{}
	}
	if soonest.IsZero() {
		soonest = now.Add(time.Minute)
	}
	return Item{}, false, soonest
}

// minGapShare is the least time between two sends, as a share of the mean
// gap (above the quarter the pattern must keep).
const minGapShare = 0.3

// pacer spaces one key's sends: randomized gaps around the pace's mean gap,
// and never more than the pace allows in any 15 minutes or any 24 hours.
type pacer struct {
	sends []time.Time // the last 24 hours', oldest first
	next  time.Time   // not before: the last send plus a drawn gap
	due   time.Time   // the last time nextAt gave
}

// gap draws a gap uniformly from [0.6, 1.4] times the drawn mean: a
// standard deviation of 0.8/sqrt(12), 0.23 of the mean (at least a fifth),
// and never under 0.6 of it (at least a quarter), so the pattern does not
// look robotic.
func (p *pacer) gap(pace Pace, rnd *rand.Rand) time.Duration {
	m := float64(pace.DrawnGap())
	return time.Duration(m * (0.6 + 0.8*rnd.Float64()))
}

// nextAt is the earliest time the next send may go: the planned time (the
// last send's due time plus a drawn gap) once every window has room. A
// runner that wakes late by less than a mean gap (a busy machine) keeps to
// the plan, within the floor sent keeps; after longer downtime the plan
// starts afresh from now: no catch-up.
func (p *pacer) nextAt(pace Pace, now time.Time, others []time.Time) time.Time {
	cut := now.Add(-24 * time.Hour)
	i := sort.Search(len(p.sends), func(i int) bool { return p.sends[i].After(cut) })
	p.sends = p.sends[i:]
	t := p.next
	if t.IsZero() || now.Sub(t) > pace.MeanGap() {
		t = now
	}
	t = p.free(pace, t, others)
	p.due = t
	return t
}

// free is the earliest time from t when every window has room, counting
// this process's sends and others' (the key's sends other processes
// journaled: the same send twice, at the same time, counts once), and that
// is at least minGapShare of the mean gap after the latest of them.
func (p *pacer) free(pace Pace, t time.Time, others []time.Time) time.Time {
	all := mergeTimes(p.sends, others)
	for _, w := range []struct {
		span  time.Duration
		limit int
	}{{15 * time.Minute, pace.Per15m}, {24 * time.Hour, pace.PerDay}} {
		if w.limit <= 0 || len(all) < w.limit {
			continue
		}
		// The window ending at t holds the sends after t-span; room once the
		// limit-th newest has left it.
		free := all[len(all)-w.limit].Add(w.span + time.Millisecond)
		if free.After(t) {
			t = free
		}
	}
	if len(all) > 0 {
		if floor := all[len(all)-1].Add(time.Duration(float64(pace.MeanGap()) * minGapShare)); floor.After(t) {
			t = floor
		}
	}
	return t
}

// mergeTimes is the sorted union of two sorted lists, a time in both once.
func mergeTimes(a, b []time.Time) []time.Time {
	if len(b) == 0 {
		return a
	}
	out := make([]time.Time, 0, len(a)+len(b))
	i, k := 0, 0
	for i < len(a) || k < len(b) {
		switch {
		case k == len(b) || (i < len(a) && a[i].Before(b[k])):
			out = append(out, a[i])
			i++
		case i == len(a) || b[k].Before(a[i]):
			out = append(out, b[k])
			k++
		default:
			out = append(out, a[i])
			i, k = i+1, k+1
		}
	}
	return out
}

func (p *pacer) sent(pace Pace, t time.Time, rnd *rand.Rand) {
	i := sort.Search(len(p.sends), func(i int) bool { return p.sends[i].After(t) })
	p.sends = append(p.sends, time.Time{})
	copy(p.sends[i+1:], p.sends[i:])
	p.sends[i] = t
	// The next gap runs from when this send was due (nextAt's answer in the
	// pass that sent it: after downtime that is the moment it resumed, so
	// nothing catches up), not from when its check and write ended, so that
	// their time does not pile up on every gap. Whatever they took, two sends
	// are never closer than minGapShare of the mean gap.
	base := p.due
	if base.IsZero() || base.After(t) {
		base = t
	}
	p.next = base.Add(p.gap(pace, rnd))
	if floor := t.Add(time.Duration(float64(pace.MeanGap()) * minGapShare)); floor.After(p.next) {
		p.next = floor
	}
	p.due = time.Time{}
}
