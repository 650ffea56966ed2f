package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/clock"
	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// followPace is the pace of undo jobs: well under X's 400 follows a day.
var followPace = jobs.Pace{Per15m: 20, PerDay: 200}

// scaledClock is the test clock XFOLLOW_CLOCK_SCALE asks for (config has
// checked it is allowed here). build moves it past the journal's last
// record once the journal is open (see clock.Scaled.NotBefore).
func scaledClock(cfg config.Config, logger *slog.Logger) clock.Clock {
	logger.Warn("XFOLLOW_CLOCK_SCALE is set: every clock of this server runs faster than real time (tests only)", "scale", cfg.ClockScale)
	return clock.NewScaled(cfg.ClockScale, time.Now())
}

// setupJobs builds the job store from the journal, and the runner that
// advances the jobs of the server's own key. Without a journal there are no
// jobs (the tools say why).
func (a *app) setupJobs(c *aisa.Client, gate *tools.Gate, budget *safety.Budget) error {
	jd := &tools.JobDeps{Clock: a.clk, FollowPace: followPace,
		Pace: tools.JobPace(a.cfg.JobMaxPer15m, a.cfg.JobMaxPerDay, gate.Budget)}
	switch {
	case a.journal == nil:
		a.deps.Jobs = &tools.JobDeps{Unavailable: "this server keeps no jobs: a job is rebuilt from the write journal after a restart, so the operator must start the server with --journal PATH; until then use unfollow_x_users in batches"}
		return nil
	case a.cfg.KeyFromRequest && a.cfg.Secret == nil:
		a.deps.Jobs = &tools.JobDeps{Unavailable: "this server serves many callers, each with their own key (--key-from-request), and a job needs the caller's key while the caller is away, which this server keeps (sealed, erased when the job ends) only when the operator sets XFOLLOW_SECRET; until then use unfollow_x_users in batches"}
		return nil
	}
	store, err := jobs.Open(a.journal, a.clk.Now)
	if err != nil {
		return fmt.Errorf("journal %s: the jobs in it cannot be read: %v", a.cfg.Journal, err)
	}
	jd.Store = store
	// Records other processes append reach the budget and the job store.
	var budgetFn func([]safety.Record)
	if budget != nil {
		scope := safety.Scope{Gateway: gate.Gateway, Legacy: !a.cfg.Sandbox}
		budgetFn = tools.ForeignUnfollows(budget, scope, c.KeyFingerprint())
	}
	a.journal.OnForeign(func(recs []safety.Record) {
		if budgetFn != nil {
			budgetFn(recs)
		}
		store.Apply(recs)
	})
	var shared *jobs.Redis
	poll := time.Second
	if a.state != nil {
		// Job state lives in the shared store, beside the budget, with a
		// lease per job: a dead runner's jobs pass to another replica once
		// its lease runs out (LeaseTTL, plus a poll).
		ttl := max(time.Duration(float64(jobs.LeaseTTL)/a.clk.Scale()), time.Second)
		shared = jobs.NewRedis(a.state.Client(), ttl)
		poll = min(poll, ttl/3)
		if err := store.UseRedis(shared); err != nil {
			a.logger.Warn("jobs: the state store does not answer; jobs wait until it does", "state", a.state.Where(), "err", err)
		}
	}
	// With XFOLLOW_SECRET, callers' keys are kept sealed with their jobs
	// (the many-callers modes), and a worker with the same secret runs them.
	var vault *jobs.Vault
	if a.cfg.Secret != nil {
		if a.state != nil {
			vault = jobs.NewRedisVault(a.cfg.Secret, a.state.Client())
		} else {
			v, err := jobs.NewFileVault(a.cfg.Secret, a.cfg.Journal+".jobs.d")
			if err != nil {
				return err
			}
			vault = v
		}
		jd.Vault = vault
	}
	if !a.cfg.DryRun && !a.cfg.ReadOnly && (c.Configured() || vault != nil) {
		var locks jobs.Locker = shared
		if shared == nil {
			fl, err := jobs.NewLocks(a.cfg.Journal + ".jobs.d")
			if err != nil {
				return err
			}
			locks = fl
		}
		sender := &tools.JobSender{Deps: a.deps, Clock: a.clk}
		jd.Runner = &jobs.Runner{Store: store, Clock: a.clk, Locks: locks, Logger: a.logger, LockPoll: poll,
			Vault: vault, SenderFor: a.senderFor(c, gate, sender, vault), OnOutcome: a.metrics.JobItem,
			Ceiling: func(kind string) jobs.Pace {
				if kind == jobs.KindFollow {
					return jd.FollowPace
				}
				return jd.Pace
			}}
	}
	a.jobs = jd
	a.deps.Jobs = jd
	return nil
}

// senderFor picks how a job's items are sent: with the server's own key,
// or with the caller's key opened from the vault (many-callers modes); nil
// for a job this process cannot run.
func (a *app) senderFor(c *aisa.Client, gate *tools.Gate, own jobs.Sender, vault *jobs.Vault) func(jobs.Def) jobs.Sender {
	var mu sync.Mutex
	byJob := map[string]jobs.Sender{}
	return func(d jobs.Def) jobs.Sender {
		if d.Gateway != gate.Gateway {
			return nil
		}
		if c.Configured() && d.KeyFingerprint == c.KeyFingerprint() {
			return own
		}
		if vault == nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if s := byJob[d.ID]; s != nil {
			return s
		}
		key, err := vault.Get(d.ID, d.KeyFingerprint)
		if err != nil {
			return nil // another server's job, or its key was erased
		}
		cl := c.WithKey(key)
		if cl.KeyFingerprint() != d.KeyFingerprint {
			return nil
		}
		deps := *a.deps
		deps.Client = cl
		deps.Following = a.deps.Following.ForKey(cl.KeyFingerprint())
		s := &tools.JobSender{Deps: &deps, Clock: a.clk}
		byJob[d.ID] = s
		return s
	}
}

// startRunner runs the job runner until the returned stop is called; stop
// waits for a send in flight to finish (the runner stops at an item
// boundary).
func (a *app) startRunner(ctx context.Context) (stop func()) {
	if a.jobs == nil || a.jobs.Runner == nil {
		return func() {}
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.jobs.Runner.Run(rctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// worker runs jobs without serving MCP, until ctx ends (SIGINT, SIGTERM).
func (a *app) worker(ctx context.Context, p IO) int {
	if a.jobs == nil || a.jobs.Runner == nil {
		fmt.Fprintln(p.Stderr, "xfollow-mcp: worker: nothing to run: a worker needs --journal PATH and AISA_API_KEY (or --sandbox, or XFOLLOW_SECRET to run callers' jobs of a many-callers server), and runs no jobs with --dry-run or --read-only")
		return 2
	}
	a.logger.Info("xfollow-mcp worker running jobs", "journal", a.cfg.Journal)
	stop := a.startRunner(ctx)
	<-ctx.Done()
	stop()
	a.logger.Info("xfollow-mcp worker stopped")
	return 0
}

// jobsCmd is `jobs`, `jobs show ID`, `jobs pause|resume|cancel ID`: the
// operator's view of every job in the journal.
func (a *app) jobsCmd(p IO, args []string) int {
	if a.jobs == nil || a.jobs.Store == nil {
		fmt.Fprintln(p.Stderr, "xfollow-mcp: jobs: needs --journal PATH (jobs live in the journal)")
		return 2
	}
	st := a.jobs.Store
	out := func(v any) int {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(p.Stdout, string(b))
		return 0
	}
	if len(args) == 0 {
		list := st.All()
		if list == nil {
			list = []jobs.Summary{}
		}
		return out(map[string]any{"jobs": list})
	}
	if len(args) != 2 {
		return usageErr(p, "jobs takes nothing, or show|pause|resume|cancel and a job id")
	}
	id := args[1]
	fp, gw, ok := st.Owner(id)
	if !ok {
		fmt.Fprintf(p.Stderr, "[job_not_found] no job %q in journal %s\n", id, a.cfg.Journal)
		return 1
	}
	switch args[0] {
	case "show":
	case jobs.ActionPause, jobs.ActionResume, jobs.ActionCancel:
		if err := st.Control(id, fp, gw, args[0]); err != nil {
			fmt.Fprintf(p.Stderr, "xfollow-mcp: jobs %s: %v\n", args[0], err)
			return 1
		}
	default:
		return usageErr(p, "unknown jobs action %q: use show, pause, resume or cancel", args[0])
	}
	sum, err := st.Summary(id, fp, gw, true)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	return out(map[string]any{"job": sum})
}

// undoJob is `undo --job ID`: the same undo the control tool offers, for the
// job's own key, run by whichever server holds it (or a worker).
func (a *app) undoJob(ctx context.Context, p IO, id string) int {
	if a.jobs == nil || a.jobs.Store == nil {
		fmt.Fprintln(p.Stderr, "xfollow-mcp: undo --job: needs --journal PATH")
		return 2
	}
	fp, _, ok := a.jobs.Store.Owner(id)
	if !ok {
		fmt.Fprintf(p.Stderr, "[job_not_found] no job %q in journal %s\n", id, a.cfg.Journal)
		return 1
	}
	if fp != a.deps.Client.KeyFingerprint() {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: undo --job: job %s belongs to key fingerprint %s, not AISA_API_KEY's (%s); set AISA_API_KEY to that key\n", id, fp, a.deps.Client.KeyFingerprint())
		return 1
	}
	c, err := a.inProcess(ctx)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	defer c.Close()
	args, _ := json.Marshal(map[string]string{"job_id": id, "action": "undo"})
	res, err := a.call(ctx, c, "control_x_unfollow_job", args)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	if res.IsError {
		fmt.Fprintln(p.Stderr, resultText(res))
		return 1
	}
	b, _ := json.MarshalIndent(res.StructuredContent, "", "  ")
	fmt.Fprintln(p.Stdout, string(b))
	fmt.Fprintln(p.Stderr, "xfollow-mcp: the follow job runs in the server or worker that holds this key and journal (xfollow-mcp worker)")
	return 0
}
