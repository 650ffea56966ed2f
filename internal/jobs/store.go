package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// Journal is what the store needs of the write journal.
type Journal interface {
	Append(safety.Record) error
	Exclusive(fn func(appendRec func(safety.Record) error) error) error
	Scan(since time.Time, fn func(safety.Record) bool) error
	// ScanJobs is Scan reading only what may hold jobs' records: fn gets
	// all of those, and perhaps others.
	ScanJobs(since time.Time, fn func(safety.Record) bool) error
	// Pin keeps the records from a time on out of the journal's retention
	// while a job runs; Unpin lets them go once it has ended.
	Pin(name string, t time.Time) error
	Unpin(name string) error
	Pins() (map[string]time.Time, error)
}

// pinName is a job's pin in the journal.
func pinName(id string) string { return "job:" + id }

// History is how far back the store looks for jobs at start: a job not
// finished within it is no longer run.
const History = 120 * 24 * time.Hour

// ErrNotFound is returned for a job that does not exist or is not the
// caller's: the two are not told apart.
var ErrNotFound = errors.New("job not found")

// Job is a job's definition and its items' state.
type Job struct {
	Def
	Items   []Item
	index   map[string]int
	Control string // "", "paused" or "cancelled"
	// runtime: how the runner last left it (never journaled).
	wait     string
	waitText string
	until    time.Time
	nextAt   time.Time
	running  bool
	sending  string // the target being written, while running
}

func newJob(d Def) *Job {
	j := &Job{Def: d, Items: make([]Item, len(d.TargetUserIDs)), index: make(map[string]int, len(d.TargetUserIDs))}
	for i, id := range d.TargetUserIDs {
		j.Items[i] = Item{TargetUserID: id, Username: d.Usernames[id]}
		j.index[id] = i
	}
	return j
}

// remaining counts the items still to do.
func (j *Job) remaining() int {
	n := 0
	for _, it := range j.Items {
		if it.pending() {
			n++
		}
	}
	return n
}

// Ended reports whether nothing more will be sent for the job.
func (j *Job) ended() bool { return j.Control == StatusCancelled || j.remaining() == 0 }

type openIntent struct {
	job, target, username string
	t                     time.Time
}

// Store holds every job of the journal, rebuilt from it at start and kept up
// with what this process and others sharing the journal append. It is the
// embedded implementation of job state; it is safe for concurrent use.
//
// Lock order: the journal's lock, then the store's. The store never calls
// the journal while holding its own lock (the journal calls Apply with its
// lock held).
type Store struct {
	j   Journal
	now func() time.Time

	// shared, with --state redis://…, is where job state lives; the journal
	// still records every write.
	shared *Redis

	mu   sync.Mutex
	jobs map[string]*Job
	ids  []string // creation order
	open map[string]openIntent
	// settled counts, by key, gateway, kind and target, the sends whose
	// outcome (ok or unknown) reached this store: a runner that sees the
	// count move between its check and its write does not write.
	settled map[string]int
}

func settledKey(d Def, target string) string {
	return d.KeyFingerprint + "/" + d.Gateway + "/" + d.Kind + "/" + target
}

// Open rebuilds the store from the journal's last History.
func Open(j Journal, now func() time.Time) (*Store, error) {
	s := &Store{j: j, now: now, jobs: map[string]*Job{}, open: map[string]openIntent{}, settled: map[string]int{}}
	// Jobs that have not ended are pinned from their start: read from the
	// oldest of them, or History back, whichever is earlier.
	since := now().Add(-History)
	pins, pinsErr := j.Pins()
	if pinsErr == nil {
		for name, t := range pins {
			if strings.HasPrefix(name, "job:") && t.Before(since) {
				since = t
			}
		}
	}
	var recs []safety.Record
	if err := j.ScanJobs(since, func(r safety.Record) bool {
		if r.JobID != "" || r.Phase == PhaseJob {
			recs = append(recs, r)
		}
		return true
	}); err != nil {
		return nil, err
	}
	s.Apply(recs)
	s.mu.Lock()
	s.closeOpen()
	var unpinned []Def
	for _, id := range s.ids {
		if jb := s.jobs[id]; !jb.ended() && pinsErr == nil {
			if _, ok := pins[pinName(id)]; !ok {
				unpinned = append(unpinned, jb.Def)
			}
		}
	}
	s.mu.Unlock()
	for _, d := range unpinned { // a pin that could not be written at the start
		_ = j.Pin(pinName(d.ID), d.ConsentAt.Add(-time.Minute))
	}
	return s, nil
}

// closeOpen marks every intent with no outcome unknown: the process that
// wrote it died before it could say, or (another process sharing the
// journal) is sending it now. The intents stay open: an outcome that comes
// later settles the item, and until then other jobs' writes to the same
// account wait. The caller holds s.mu.
func (s *Store) closeOpen() {
	for _, o := range s.open {
		if j := s.jobs[o.job]; j != nil {
			if i, ok := j.index[o.target]; ok && j.Items[i].Outcome == "" {
				j.Items[i].Outcome, j.Items[i].Time = OutcomeUnknown, o.t
			}
		}
	}
}

// UseRedis makes the store keep job state in Redis, shared by replicas, and
// reads what is there.
func (s *Store) UseRedis(r *Redis) error {
	s.shared = r
	return r.pull(s)
}

// applyShared takes in a job as Redis holds it: its definition (added when
// new), its controls in order, and, when items is not nil, its items.
func (s *Store) applyShared(d Def, controls []string, items map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[d.ID]
	if j == nil {
		j = newJob(d)
		s.jobs[d.ID] = j
		s.ids = append(s.ids, d.ID)
	}
	for target, raw := range items {
		var si sharedItem
		i, ok := j.index[target]
		if !ok || json.Unmarshal([]byte(raw), &si) != nil {
			continue
		}
		it := &j.Items[i]
		if si.Username != "" {
			it.Username = si.Username
		}
		was := it.Outcome
		if si.Outcome == intentMark {
			// A write went out and no outcome came back: verified before
			// anything is resent.
			if it.Outcome == "" || it.Outcome == OutcomeCancelled {
				it.Outcome, it.Time = OutcomeUnknown, time.UnixMilli(si.Time)
			}
		} else {
			it.Outcome, it.Time = si.Outcome, time.UnixMilli(si.Time)
		}
		if it.Outcome != was && (it.Outcome == OutcomeOK || it.Outcome == OutcomeUnknown) {
			s.settled[settledKey(j.Def, target)]++
		}
	}
	j.Control = ""
	for _, c := range controls {
		applyControl(j, c)
	}
}

// Reload reads again, under the journal's lock, every record of job id:
// what another process that advanced it before this one did. Intents with no
// outcome then read unknown (their writer no longer holds the job).
func (s *Store) Reload(id string) error {
	if s.shared != nil {
		return s.shared.reload(s, id)
	}
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		return ErrNotFound
	}
	var recs []safety.Record
	err := s.j.ScanJobs(j.ConsentAt.Add(-time.Minute), func(r safety.Record) bool {
		if r.JobID == id && (r.Phase == safety.PhaseIntent || r.Phase == safety.PhaseOutcome || r.Phase == PhaseControl) {
			recs = append(recs, r)
		}
		return true
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := newJob(j.Def)
	fresh.wait, fresh.waitText, fresh.until, fresh.nextAt = j.wait, j.waitText, j.until, j.nextAt
	s.jobs[id] = fresh
	for k, o := range s.open {
		if o.job == id {
			delete(s.open, k)
		}
	}
	open := map[string]openIntent{}
	for _, r := range recs {
		s.applyLocked(r, open)
	}
	for _, o := range open {
		if i, ok := fresh.index[o.target]; ok && fresh.Items[i].Outcome == "" {
			fresh.Items[i].Outcome, fresh.Items[i].Time = OutcomeUnknown, o.t
		}
	}
	return nil
}

// Refresh takes in what other processes sharing the journal appended.
func (s *Store) Refresh() error {
	if err := s.j.Exclusive(func(func(safety.Record) error) error { return nil }); err != nil {
		return err
	}
	if s.shared != nil {
		return s.shared.pull(s)
	}
	return nil
}

// Apply takes in records (the journal's OnForeign, and the rebuild).
func (s *Store) Apply(recs []safety.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.applyLocked(r, s.open)
	}
}

func (s *Store) applyLocked(r safety.Record, open map[string]openIntent) {
	switch r.Phase {
	case PhaseJob:
		var d Def
		if json.Unmarshal(r.Job, &d) != nil || !ValidID(d.ID) || s.jobs[d.ID] != nil {
			return
		}
		s.jobs[d.ID] = newJob(d)
		s.ids = append(s.ids, d.ID)
	case PhaseControl:
		j := s.jobs[r.JobID]
		var c control
		if j == nil || json.Unmarshal(r.Job, &c) != nil {
			return
		}
		applyControl(j, c.Action)
	case safety.PhaseIntent:
		if r.JobID == "" || r.CallID == "" || s.jobs[r.JobID] == nil {
			return
		}
		open[r.CallID] = openIntent{job: r.JobID, target: r.TargetUserID, username: r.Username, t: r.Time}
	case safety.PhaseOutcome:
		o, ok := open[r.CallID]
		if !ok || r.CallID == "" {
			return
		}
		delete(open, r.CallID)
		j := s.jobs[o.job]
		if j == nil {
			return
		}
		i, ok := j.index[o.target]
		if !ok {
			return
		}
		if o.username != "" {
			j.Items[i].Username = o.username
		}
		if out := itemOutcome(r.Outcome, r.Code); out != "" {
			j.Items[i].Outcome, j.Items[i].Time = out, o.t
			if out == OutcomeOK || out == OutcomeUnknown {
				s.settled[settledKey(j.Def, o.target)]++
			}
		}
	}
}

func applyControl(j *Job, action string) {
	if j.Control == StatusCancelled {
		return // cancel is final
	}
	switch action {
	case ActionPause:
		j.Control = StatusPaused
	case ActionResume:
		j.Control = ""
		j.wait, j.waitText, j.until = "", "", time.Time{}
	case ActionCancel:
		j.Control = StatusCancelled
		for i := range j.Items {
			if j.Items[i].Outcome == "" {
				j.Items[i].Outcome = OutcomeCancelled
			}
		}
	}
}

// Codes the gate journals on a job item's noop outcome: the item's outcome.
const CodeVerified = "verified_unfollowed" // an unknown unfollow found done

// itemOutcome maps a journaled outcome and code to an item outcome, or ""
// when the item stays to do (nothing was sent: a wait, not an answer).
func itemOutcome(outcome, code string) string {
	switch outcome {
	case safety.OutcomeOK:
		return OutcomeOK
	case safety.OutcomeUnknown:
		return OutcomeUnknown
	case safety.OutcomeNoop:
		switch code {
		case OutcomeFollowsBack, OutcomeNotFollowing, OutcomeProtected, OutcomeGone:
			return code
		case CodeVerified:
			return OutcomeOK
		}
		return OutcomeNotFollowing
	case safety.OutcomeRefused:
		if code == "protected_account" {
			return OutcomeProtected
		}
		return ""
	case safety.OutcomeFailed:
		switch code {
		case "user_not_found":
			return OutcomeGone
		case "rate_limited", "auth_invalid", "x_account_not_linked", "gateway_unavailable", "timeout", "not_configured":
			return ""
		}
		return OutcomeFailed
	}
	return ""
}

// Create journals a new job and adds it.
func (s *Store) Create(d Def) (*Job, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	if s.shared != nil {
		if err := s.shared.create(d); err != nil {
			return nil, err
		}
	}
	rec := safety.Record{Time: d.ConsentAt, Phase: PhaseJob, JobID: d.ID, Tool: "", Gateway: d.Gateway,
		KeyFingerprint: d.KeyFingerprint, Job: raw}
	if err := s.j.Append(rec); err != nil {
		if s.shared != nil {
			s.shared.remove(d.ID) // not started: no replica may run it
		}
		return nil, err
	}
	// Retention keeps the job's records until it has ended (the runner
	// unpins it then). The job is journaled, so it is started even if the
	// pin cannot be written now: the store pins it again at its next open.
	_ = s.j.Pin(pinName(d.ID), d.ConsentAt.Add(-time.Minute))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs[d.ID] == nil {
		j := newJob(d)
		j.nextAt = d.ConsentAt
		s.jobs[d.ID] = j
		s.ids = append(s.ids, d.ID)
	}
	return s.jobs[d.ID], nil
}

// Plan is the summary a job would have, for a dry run that stores nothing.
func Plan(d Def, now time.Time) Summary {
	j := newJob(d)
	j.nextAt = now
	sum := summarize(j, now, false)
	sum.DryRun = true
	sum.StatusText = "dry run: this is the plan; the job was not stored and nothing will be sent"
	return sum
}

// Control journals a pause, resume or cancel of the caller's job and applies
// it. It returns ErrNotFound for another caller's job.
func (s *Store) Control(id, fp, gateway, action string) error {
	if _, err := s.lookup(id, fp, gateway); err != nil {
		return err
	}
	if s.shared != nil {
		if err := s.shared.control(id, action); err != nil {
			return err
		}
	}
	// Applied under the journal's lock, where the runner's write guard
	// reads it: a runner never writes an intent after the control record
	// while it still reads the job as running.
	return s.j.Exclusive(func(appendRec func(safety.Record) error) error {
		err := appendRec(safety.Record{Time: s.now().UTC(), Phase: PhaseControl, JobID: id, Gateway: gateway,
			KeyFingerprint: fp, Job: encodeControl(action)})
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		applyControl(s.jobs[id], action)
		return nil
	})
}

func (s *Store) lookup(id, fp, gateway string) (*Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil || j.KeyFingerprint != fp || j.Gateway != gateway {
		return nil, ErrNotFound
	}
	return j, nil
}

// Def returns the caller's job's definition.
func (s *Store) Def(id, fp, gateway string) (Def, error) {
	j, err := s.lookup(id, fp, gateway)
	if err != nil {
		return Def{}, err
	}
	return j.Def, nil
}

// Summary is the caller's job as the tools show it; recent adds its last
// 20 outcomes.
func (s *Store) Summary(id, fp, gateway string, recent bool) (Summary, error) {
	if _, err := s.lookup(id, fp, gateway); err != nil {
		return Summary{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return summarize(s.jobs[id], s.now(), recent), nil
}

// List returns the caller's jobs, newest first.
func (s *Store) List(fp, gateway string) []Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Summary
	now := s.now()
	for i := len(s.ids) - 1; i >= 0; i-- {
		j := s.jobs[s.ids[i]]
		if j.KeyFingerprint == fp && j.Gateway == gateway {
			out = append(out, summarize(j, now, false))
		}
	}
	return out
}

// All returns every job's summary, newest first (the operator's CLI).
func (s *Store) All() []Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Summary
	now := s.now()
	for i := len(s.ids) - 1; i >= 0; i-- {
		out = append(out, summarize(s.jobs[s.ids[i]], now, false))
	}
	return out
}

// Owner returns a job's key fingerprint and gateway (the operator's CLI).
func (s *Store) Owner(id string) (fp, gateway string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return "", "", false
	}
	return j.KeyFingerprint, j.Gateway, true
}

// Items returns a page of the caller's job's items from cursor (an offset),
// and the next cursor ("" at the end).
func (s *Store) Items(id, fp, gateway, cursor string, limit int) ([]Item, string, error) {
	if _, err := s.lookup(id, fp, gateway); err != nil {
		return nil, "", err
	}
	from := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("cursor %q is not one this server gave", cursor)
		}
		from = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if from > len(j.Items) {
		from = len(j.Items)
	}
	to := min(from+limit, len(j.Items))
	out := append([]Item{}, j.Items[from:to]...)
	next := ""
	if to < len(j.Items) {
		next = strconv.Itoa(to)
	}
	return out, next, nil
}

// Done returns the items of a job with one of the outcomes (undo).
func (s *Store) Done(id string, outcomes ...string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return nil
	}
	var out []Item
	for _, it := range j.Items {
		for _, o := range outcomes {
			if it.Outcome == o {
				out = append(out, it)
			}
		}
	}
	return out
}

// Followed returns the ids followed through this server (follow tools and
// follow jobs, ok) of the key and gateway since a time: the churn guard.
func Followed(j Journal, fp, gateway string, since time.Time, followTools []string) (map[string]bool, error) {
	out := map[string]bool{}
	open := map[string]string{}
	err := j.Scan(since, func(r safety.Record) bool {
		if r.KeyFingerprint != fp || r.Gateway != gateway || r.DryRun {
			return true
		}
		switch r.Phase {
		case safety.PhaseIntent:
			for _, t := range followTools {
				if r.Tool == t {
					open[r.CallID] = r.TargetUserID
				}
			}
		case safety.PhaseOutcome:
			if id, ok := open[r.CallID]; ok {
				delete(open, r.CallID)
				if r.Outcome == safety.OutcomeOK || r.Outcome == safety.OutcomeUnknown {
					out[id] = true
				}
			}
		}
		return true
	})
	for _, id := range open {
		out[id] = true // an intent with no outcome may have followed
	}
	return out, err
}

func summarize(j *Job, now time.Time, recent bool) Summary {
	sum := Summary{JobID: j.ID, Kind: j.Kind, Username: j.Username, Total: len(j.Items), Counts: map[string]int{},
		Pace: j.Pace, CreatedAt: j.ConsentAt.UTC().Format(time.RFC3339), UndoOf: j.UndoOf}
	for _, it := range j.Items {
		if it.Outcome != "" {
			sum.Counts[it.Outcome]++
		}
	}
	sum.Remaining = j.remaining()
	sum.Done = sum.Total - sum.Remaining
	sum.Status, sum.StatusText = status(j, now)
	if !j.ended() && j.Control == "" && !j.nextAt.IsZero() {
		next := j.nextAt
		if next.Before(now) {
			next = now
		}
		sum.NextAt = next.UTC().Format(time.RFC3339)
		sum.ETA = next.Add(time.Duration(max(sum.Remaining-1, 0)) * j.Pace.DrawnGap()).UTC().Format(time.RFC3339)
	}
	if recent {
		var done []Item
		for _, it := range j.Items {
			if it.Outcome != "" && !it.Time.IsZero() {
				done = append(done, it)
			}
		}
		sort.SliceStable(done, func(a, b int) bool { return done[a].Time.After(done[b].Time) })
		sum.Recent = done[:min(20, len(done))]
		if sum.Recent == nil {
			sum.Recent = []Item{}
		}
	}
	return sum
}

func status(j *Job, now time.Time) (string, string) {
	verb := "unfollowed"
	if j.Kind == KindFollow {
		verb = "followed again"
	}
	switch {
	case j.Control == StatusCancelled:
		return StatusCancelled, "cancelled: nothing more will be sent; accounts not reached are marked cancelled"
	case j.remaining() == 0:
		return StatusCompleted, "completed: every account has an outcome; counts says how many were " + verb
	case j.Control == StatusPaused:
		return StatusPaused, "paused by the person; nothing is sent until it is resumed"
	case j.wait == StatusNeedsLink:
		return StatusNeedsLink, "waiting for the X account to be linked again (the gateway said: " + j.waitText + "); call link_x_account: the job tries again every 15 minutes, or at once when resumed"
	case j.wait != "" && j.until.After(now):
		return j.wait, fmt.Sprintf("%s until %s", j.waitText, j.until.UTC().Format(time.RFC3339))
	case j.running:
		return StatusRunning, "running: an account is being checked and " + verb + " now"
	}
	return StatusScheduled, fmt.Sprintf("scheduled: one account about every %s, within %d per 15 minutes and %d per day",
		j.Pace.MeanGap().Round(time.Second), j.Pace.Per15m, j.Pace.PerDay)
}

// Unpin lets the journal's retention take an ended job's records in time.
func (s *Store) Unpin(id string) error { return s.j.Unpin(pinName(id)) }
