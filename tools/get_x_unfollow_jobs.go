package tools

import (
	"context"

	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
)

// GetJobsArgs is the input of get_x_unfollow_jobs.
type GetJobsArgs struct {
	JobID  string `json:"job_id,omitempty" jsonschema:"minLength=1,maxLength=64" jsonschema_description:"One job's id, from start_x_unfollow_job; leave out to list your jobs."`
	Cursor string `json:"cursor,omitempty" jsonschema:"maxLength=20" jsonschema_description:"With job_id: next_cursor from the previous page of items."`
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=1000" jsonschema_description:"With job_id: items per page, 1-1000 (default 100)."`
}

func (a GetJobsArgs) validate() error {
	if a.JobID != "" && !jobs.ValidID(a.JobID) {
		return invalidArg("job_id %s is not a job id: send an id start_x_unfollow_job or get_x_unfollow_jobs returned (job_ followed by 32 hex digits)", quoteArg(a.JobID))
	}
	if a.JobID == "" && (a.Cursor != "" || a.Limit != 0) {
		return invalidArg("cursor and limit page one job's items: send them with job_id")
	}
	if a.Limit < 0 || a.Limit > 1000 {
		return invalidArg("limit must be 1 to 1000")
	}
	return nil
}

// GetJobsResult is the output of get_x_unfollow_jobs.
type GetJobsResult struct {
	Job        *jobs.Summary  `json:"job,omitempty" jsonschema_description:"With job_id: the job, with its last 20 outcomes."`
	Items      []jobs.Item    `json:"items,omitempty" jsonschema_description:"With job_id: a page of all its accounts, in the order approved."`
	NextCursor string         `json:"next_cursor,omitempty" jsonschema_description:"With job_id: pass as cursor for the next page of items; absent at the end."`
	Jobs       []jobs.Summary `json:"jobs,omitempty" jsonschema_description:"Without job_id: your jobs, newest first."`
}

func getXUnfollowJobs() Tool {
	return define(Spec{
		Name:  "get_x_unfollow_jobs",
		Title: "Get unfollow jobs",
		Description: "Show the person's unfollow jobs: without job_id a list; with job_id one job's status (and why it waits), counts by outcome, next_at, eta, its last 20 outcomes and a page of its accounts. " +
			"Jobs run by themselves: report the eta to the person instead of calling this in a loop.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   false,
	}, runGetJobs)
}

func runGetJobs(_ context.Context, c *Call, in GetJobsArgs) (GetJobsResult, error) {
	jd, err := jobsFor(c)
	if err != nil {
		return GetJobsResult{}, err
	}
	_ = jd.Store.Refresh()
	fp, gw := c.Client.KeyFingerprint(), c.Gate.Gateway
	if in.JobID == "" {
		list := jd.Store.List(fp, gw)
		if list == nil {
			list = []jobs.Summary{}
		}
		return GetJobsResult{Jobs: list}, nil
	}
	sum, err := jd.Store.Summary(in.JobID, fp, gw, true)
	if err != nil {
		return GetJobsResult{}, jobError(err, in.JobID)
	}
	limit := in.Limit
	if limit == 0 {
		limit = 100
	}
	items, next, err := jd.Store.Items(in.JobID, fp, gw, in.Cursor, limit)
	if err != nil {
		if err == jobs.ErrNotFound {
			return GetJobsResult{}, jobNotFound(in.JobID)
		}
		return GetJobsResult{}, invalidArg("%v: send the next_cursor of the previous page, or leave cursor out", err)
	}
	if items == nil {
		items = []jobs.Item{}
	}
	return GetJobsResult{Job: &sum, Items: items, NextCursor: next}, nil
}
