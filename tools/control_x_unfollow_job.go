package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
)

// ControlJobArgs is the input of control_x_unfollow_job.
type ControlJobArgs struct {
	JobID  string `json:"job_id" jsonschema:"minLength=1,maxLength=64" jsonschema_description:"The job's id, from start_x_unfollow_job or get_x_unfollow_jobs."`
	Action string `json:"action" jsonschema:"enum=pause,enum=resume,enum=cancel,enum=undo" jsonschema_description:"pause or resume the job; cancel it for good (nothing more is sent); or undo it: a new paced job that follows again every account it unfollowed."`
}

func (a ControlJobArgs) validate() error {
	if !jobs.ValidID(a.JobID) {
		return invalidArg("job_id %s is not a job id: send an id start_x_unfollow_job or get_x_unfollow_jobs returned (job_ followed by 32 hex digits)", quoteArg(a.JobID))
	}
	switch a.Action {
	case jobs.ActionPause, jobs.ActionResume, jobs.ActionCancel, "undo":
		return nil
	}
	return invalidArg("action %s is not one of pause, resume, cancel, undo", quoteArg(a.Action))
}

// ControlJobResult is the output of control_x_unfollow_job.
type ControlJobResult struct {
	Job jobs.Summary `json:"job" jsonschema_description:"The job after the action; for undo, the new follow job (its undo_of names the job undone)."`
}

func controlXUnfollowJob() Tool {
	return define(Spec{
		Name:  "control_x_unfollow_job",
		Title: "Pause, resume, cancel or undo an unfollow job",
		Description: "Steer one of the person's unfollow jobs: pause, resume, cancel (nothing is sent after the answer but a write already in flight) or undo " +
			"(a new paced job that follows again the accounts the job unfollowed, never ones it found not followed). Returns the job; report its eta rather than polling.",
		ReadOnly:    false,
		Destructive: true,
		Idempotent:  false,
		OpenWorld:   true,
	}, runControlJob)
}

func runControlJob(ctx context.Context, c *Call, in ControlJobArgs) (ControlJobResult, error) {
	jd, err := jobsFor(c)
	if err != nil {
		return ControlJobResult{}, err
	}
	_ = jd.Store.Refresh()
	fp, gw := c.Client.KeyFingerprint(), c.Gate.Gateway
	if in.Action != "undo" {
		sum, err := jd.Store.Summary(in.JobID, fp, gw, false)
		if err != nil {
			return ControlJobResult{}, jobError(err, in.JobID)
		}
		if sum.Status == jobs.StatusCancelled || sum.Status == jobs.StatusCompleted {
			return ControlJobResult{}, invalidArg("job %s is %s, so %s does nothing; start a new job with start_x_unfollow_job, or undo this one", in.JobID, sum.Status, in.Action)
		}
		if err := jd.Store.Control(in.JobID, fp, gw, in.Action); err != nil {
			return ControlJobResult{}, jobError(err, in.JobID)
		}
		if in.Action == jobs.ActionResume && jd.Runner != nil {
			jd.Runner.Wake()
		}
		sum, err = jd.Store.Summary(in.JobID, fp, gw, false)
		if err != nil {
			return ControlJobResult{}, jobError(err, in.JobID)
		}
		return ControlJobResult{Job: sum}, nil
	}
	def, err := jd.Store.Def(in.JobID, fp, gw)
	if err != nil {
		return ControlJobResult{}, jobError(err, in.JobID)
	}
	if def.Kind != jobs.KindUnfollow {
		return ControlJobResult{}, invalidArg("job %s is itself a follow job (an undo); only unfollow jobs can be undone", in.JobID)
	}
	// What the job unfollowed, or may have: its ok and unknown items, and
	// those whose write is in flight (the follow job checks each first).
	undoable := func() ([]string, map[string]string) {
		var ids []string
		names := map[string]string{}
		for _, it := range append(jd.Store.Done(in.JobID, jobs.OutcomeOK, jobs.OutcomeUnknown), jd.Store.InFlight(in.JobID)...) {
			if _, dup := names[it.TargetUserID]; dup {
				continue
			}
			ids = append(ids, it.TargetUserID)
			names[it.TargetUserID] = it.Username
		}
		for id, n := range names {
			if n == "" {
				delete(names, id)
			}
		}
		return ids, names
	}
	ids, names := undoable()
	if len(ids) == 0 {
		return ControlJobResult{}, &ToolError{Code: CodeNothingToDo, Msg: fmt.Sprintf("job %s has unfollowed nothing yet, so there is nothing to follow again; to stop it, cancel it", in.JobID)}
	}
	g := c.Gate
	if g.Confirm {
		st, answer, err := g.approval(ctx, c)
		if err != nil {
			return ControlJobResult{}, err
		}
		if st == nil {
			return ControlJobResult{}, g.askJob(ctx, c, jobs.KindFollow, def.Username, ids, jd.FollowPace)
		}
		if answer != mcp.ElicitationResponseActionAccept {
			return ControlJobResult{}, declined()
		}
	}
	now := jd.Clock.Now().UTC()
	d := jobs.Def{ID: jobs.NewID(), Kind: jobs.KindFollow, KeyFingerprint: fp, Gateway: gw, Username: def.Username,
		TargetUserIDs: ids, ListSHA256: jobs.ListSHA256(ids), ConsentAt: now, Confirmed: g.Confirm,
		Pace: jd.FollowPace, UndoOf: in.JobID, Tool: jobFollowTool, Usernames: names}
	if g.DryRun {
		return ControlJobResult{Job: jobs.Plan(d, now)}, nil
	}
	// Stop the job being undone first, so that it does not go on unfollowing
	// what the undo follows again.
	// A completed job stays completed.
	if sum, err := jd.Store.Summary(in.JobID, fp, gw, false); err == nil && sum.Status != jobs.StatusCompleted && sum.Status != jobs.StatusCancelled {
		if err := jd.Store.Control(in.JobID, fp, gw, jobs.ActionCancel); err != nil {
			return ControlJobResult{}, jobError(err, in.JobID)
		}
	}
	// Read once the job is stopped: what settled or went out meanwhile.
	ids, names = undoable()
	d.TargetUserIDs, d.ListSHA256, d.Usernames = ids, jobs.ListSHA256(ids), names
	if err := keepCallerKey(ctx, c, d.ID); err != nil {
		return ControlJobResult{}, err
	}
	if _, err := jd.Store.Create(d); err != nil {
		if jd.Vault != nil {
			_ = jd.Vault.Delete(d.ID)
		}
		return ControlJobResult{}, jobError(err, d.ID)
	}
	if jd.Runner != nil {
		jd.Runner.Wake()
	}
	sum, err := jd.Store.Summary(d.ID, fp, gw, false)
	if err != nil {
		return ControlJobResult{}, jobError(err, d.ID)
	}
	return ControlJobResult{Job: sum}, nil
}
