package tools

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/clock"
	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// The tools a job's item writes are journaled as: the tool that approved
// the list (unfollows), and the one that started its undo (follows).
const (
	jobUnfollowTool = "start_x_unfollow_job"
	jobFollowTool   = "control_x_unfollow_job"
)

// Job error codes.
const (
	CodeJobNotFound     = "job_not_found"
	CodeJobsUnavailable = "jobs_unavailable"
	CodeNothingToDo     = "nothing_to_do"
)

// JobDeps is what the job tools need: the store of jobs, the runner to wake,
// the clock and the configured pace. Unavailable, when set, says why this
// server offers no jobs (the tools answer [jobs_unavailable] with it).
type JobDeps struct {
	Store       *jobs.Store
	Runner      *jobs.Runner
	Clock       clock.Clock
	Pace        jobs.Pace // for unfollow jobs, already capped by the budget
	FollowPace  jobs.Pace // for undo jobs
	Unavailable string
	// Vault, with XFOLLOW_SECRET, keeps a calling key sealed with its job
	// (many-callers modes).
	Vault *jobs.Vault
}

// keepCallerKey, when the call came with the caller's own key (the
// many-callers modes), stores it sealed with job id, for the runner to use
// while the caller is away.
func keepCallerKey(ctx context.Context, c *Call, id string) error {
	key, ok := ctx.Value(callerKeyCtx{}).(string)
	if !ok {
		return nil
	}
	if c.Jobs.Vault == nil {
		return &ToolError{Code: CodeJobsUnavailable, Msg: "a job needs your key while you are away, and this server keeps it (sealed) only when the operator sets XFOLLOW_SECRET; use unfollow_x_users in batches"}
	}
	if err := c.Jobs.Vault.Put(id, c.Client.KeyFingerprint(), key); err != nil {
		c.Logger.Error("a job's sealed key could not be stored; the job was not started", "err", err)
		return stateUnavailableJob()
	}
	return nil
}

func stateUnavailableJob() error {
	return &ToolError{Code: CodeStateUnavailable, Msg: "the server could not store what the job needs, so no job was started and nothing was sent; try again in a minute"}
}

// jobsFor returns the job deps, or the [jobs_unavailable] error.
func jobsFor(c *Call) (*JobDeps, error) {
	jd := c.Jobs
	if jd == nil {
		return nil, &ToolError{Code: CodeJobsUnavailable, Msg: "this server keeps no jobs: jobs are rebuilt from the write journal, so the operator must start it with --journal PATH; until then use unfollow_x_users in batches"}
	}
	if jd.Unavailable != "" {
		return nil, &ToolError{Code: CodeJobsUnavailable, Msg: jd.Unavailable}
	}
	if jd.Store == nil {
		return nil, &ToolError{Code: CodeJobsUnavailable, Msg: "this server runs in dry-run mode and stores no jobs; start_x_unfollow_job only plans one"}
	}
	return jd, nil
}

func jobNotFound(id string) error {
	return &ToolError{Code: CodeJobNotFound, Msg: fmt.Sprintf("no job %s of yours is known to this server; list your jobs with get_x_unfollow_jobs and use an id it returns", quoteArg(id))}
}

// JobPace caps a configured pace by the budget so that jobs leave at least a
// tenth of each budget window free for interactive calls.
func JobPace(per15m, perDay int, budget safety.Limiter) jobs.Pace {
	p := jobs.Pace{Per15m: per15m, PerDay: perDay}
	if budget == nil {
		return p
	}
	for _, w := range budget.Windows() {
		if w.Limit <= 0 {
			continue
		}
		room := w.Limit - reserveOf(w.Limit)
		switch w.Span {
		case 15 * time.Minute:
			p.Per15m = min(p.Per15m, room)
		case 24 * time.Hour:
			p.PerDay = min(p.PerDay, room)
		}
	}
	return p
}

// reserveOf is the part of a budget window jobs leave free: a tenth,
// rounded up.
func reserveOf(limit int) int { return int(math.Ceil(float64(limit) / 10)) }

// JobSender sends a job's items through the gate, with the server's key
// (deps.Client). It implements jobs.Sender.
type JobSender struct {
	Deps  *Deps
	Clock clock.Clock
}

// errReserve stops a job's write when what is left of a budget window is
// the reserve kept for interactive calls.
type errReserve struct{ wait time.Duration }

func (e *errReserve) Error() string { return "the budget's reserve for interactive calls is reached" }

// Send checks one item (protected list, handle, relationship) and, when it
// is still to be done, writes it through the gate. A failed check leaves
// the item for later: never an unchecked send.
func (s *JobSender) Send(ctx context.Context, d jobs.Def, ji jobs.Item, guard jobs.Guard) jobs.Result {
	res := s.send(ctx, d, ji, guard)
	if res.Username == "" {
		res.Username = ji.Username
	}
	return res
}

func (s *JobSender) send(ctx context.Context, d jobs.Def, ji jobs.Item, guard jobs.Guard) jobs.Result {
	allow := guard.Allow
	c := &Call{Deps: s.Deps, Tool: d.Tool}
	g := c.Gate
	kind := kindUnfollow
	if d.Kind == jobs.KindFollow {
		kind = kindFollow
	}
	it := &writeItem{ID: ji.TargetUserID, Username: ji.Username, JobID: d.ID}
	skip := func(outcome string) jobs.Result {
		g.settle(c, it, safety.OutcomeNoop, outcome)
		if outcome == jobs.CodeVerified {
			outcome = jobs.OutcomeOK
		}
		return jobs.Result{Outcome: outcome, Username: it.Username}
	}
	later := func(err error) jobs.Result {
		return jobs.Result{Later: true, Text: asToolError(err, "").Error()}
	}
	if kind == kindUnfollow && g.Protected[it.ID] {
		return skip(jobs.OutcomeProtected)
	}
	if err := allow(); err != nil {
		return jobs.Result{Stopped: true}
	}
	if it.Username == "" || kind == kindUnfollow {
		users, err := c.Client.BatchInfoByIDs(ctx, []string{it.ID})
		if err != nil {
			if r, ok := s.waitFor(err); ok {
				return r
			}
			return later(err)
		}
		if len(users) == 0 {
			return skip(jobs.OutcomeGone)
		}
		it.Username = users[0].Username
		if kind == kindUnfollow && users[0].Protected != nil && *users[0].Protected {
			return skip(jobs.OutcomeProtected)
		}
	}
	rel, err := c.Client.CheckRelationship(ctx, d.Username, it.Username)
	if err != nil {
		if te := asToolError(err, ""); te.Code == CodeUserNotFound {
			return skip(jobs.OutcomeGone)
		}
		if r, ok := s.waitFor(err); ok {
			return r
		}
		return later(err)
	}
	following := rel.Following
	it.WasFollowing = &following
	if kind == kindUnfollow {
		switch {
		case !rel.Following && ji.Outcome == jobs.OutcomeUnknown:
			return skip(jobs.CodeVerified) // the earlier unfollow did happen
		case !rel.Following:
			c.Following.Forget(d.Username, it.ID)
			return skip(jobs.OutcomeNotFollowing)
		case rel.FollowedBy:
			return skip(jobs.OutcomeFollowsBack)
		}
	} else if rel.Following {
		return skip(jobs.CodeVerified) // already followed again
	}
	fp := c.Client.KeyFingerprint()
	it.fence = guard.Fence
	it.allow = func() error {
		if err := allow(); err != nil {
			return err
		}
		if kind == kindUnfollow {
			return s.reserve(ctx, fp)
		}
		return nil
	}
	var res jobs.Result
	// A send's time for pacing is when its answer came (or its wait ended):
	// no earlier than the gateway can have acted on it.
	// A retry of the write (after a 429 or a refused connection, which
	// cannot have been applied) goes only while the job may still send: a
	// pause or cancel answered during the wait stops it. The check catches
	// up with the journal first, for a control from another process.
	resend := func() bool {
		if g.Journal == nil {
			return allow() == nil
		}
		var err error
		if jerr := g.Journal.Exclusive(func(func(safety.Record) error) error { err = allow(); return nil }); jerr != nil {
			return false
		}
		return err == nil
	}
	_, err = g.execute(aisa.WithResendGuard(aisa.CheckBeforeResend(ctx), resend), c, kind, it)
	sentAt := s.Clock.Now()
	if err == nil {
		return jobs.Result{Outcome: jobs.OutcomeOK, Sent: true, Time: sentAt, Username: it.Username}
	}
	var rv *errReserve
	switch {
	case errors.Is(err, jobs.ErrStopped), errors.Is(err, safety.ErrFenced):
		return jobs.Result{Stopped: true}
	case errors.As(err, &rv):
		return jobs.Result{Wait: jobs.StatusWaitingBudget, RetryAfter: rv.wait,
			Text: "waiting: the unfollow budget is down to the part kept free for interactive calls"}
	}
	te := asToolError(err, "with id "+it.ID)
	if r, ok := s.waitFor(te); ok {
		return r
	}
	switch {
	case te.unknown:
		res = jobs.Result{Outcome: jobs.OutcomeUnknown, Sent: true, Time: sentAt, Username: it.Username}
	case te.Code == CodeUserNotFound:
		res = jobs.Result{Outcome: jobs.OutcomeGone}
	case te.Code == CodeUnavailable || te.Code == CodeTimeout:
		res = later(te)
	default:
		res = jobs.Result{Outcome: jobs.OutcomeFailed, Text: te.Error()}
	}
	return res
}

// waitFor maps the errors that make the whole job wait.
func (s *JobSender) waitFor(err error) (jobs.Result, bool) {
	te := asToolError(err, "")
	secs := func(def time.Duration) time.Duration {
		if te.RetryAfter > 0 {
			return time.Duration(te.RetryAfter) * time.Second
		}
		return def
	}
	switch te.Code {
	case CodeBudgetExhausted:
		return jobs.Result{Wait: jobs.StatusWaitingBudget, RetryAfter: secs(time.Minute), Text: "waiting: the unfollow budget is used up"}, true
	case CodeRateLimited:
		return jobs.Result{Wait: jobs.StatusWaitingRateLimit, RetryAfter: secs(time.Minute), Text: "waiting: the gateway answered 429 (rate limited) and asked to retry later"}, true
	case CodeAuthInvalid, CodeNotLinked, CodeNotConfigured:
		return jobs.Result{Wait: jobs.StatusNeedsLink, RetryAfter: 15 * time.Minute, Text: te.Error()}, true
	case CodeStateUnavailable, CodeJournalUnavailable:
		return jobs.Result{Wait: jobs.StatusWaitingState, RetryAfter: time.Minute, Text: "waiting: the server's state store or journal does not answer; nothing is sent until it does"}, true
	}
	return jobs.Result{}, false
}

// reserve refuses a job's unfollow when a budget window is down to the
// tenth kept for interactive calls.
func (s *JobSender) reserve(ctx context.Context, fp string) error {
	g := s.Deps.Gate
	if g.Budget == nil || g.DryRun {
		return nil
	}
	left, err := g.Budget.Remaining(ctx, fp)
	if err != nil {
		return nil // the slot's own reservation fails closed just after
	}
	for i, w := range g.Budget.Windows() {
		p := left.Per15m
		if i > 0 {
			p = left.Per24h
		}
		if w.Limit <= 0 || p == nil || i > 1 {
			continue
		}
		if *p <= reserveOf(w.Limit) {
			return &errReserve{wait: w.Span / time.Duration(w.Limit)}
		}
	}
	return nil
}
