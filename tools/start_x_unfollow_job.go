package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// maxJobItems is the most ids one job takes.
const maxJobItems = 10000

// churnWindow is how far back a follow through this server makes an
// unfollow of the same account follow churn.
const churnWindow = 30 * 24 * time.Hour

// StartJobArgs is the input of start_x_unfollow_job.
type StartJobArgs struct {
	Username      string   `json:"username" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle of the person's own X account that the unfollows act on (the account linked to the key), with or without @."`
	TargetUserIDs []string `json:"target_user_ids" jsonschema:"minItems=1,maxItems=10000" jsonschema_description:"1 to 10000 numeric X user ids (strings of 1-19 digits) the person approved, one by one: never a rule such as all non-followers. Duplicates are dropped."`
}

func (a StartJobArgs) validate() error {
	if _, err := checkUsername("username", a.Username); err != nil {
		return err
	}
	n := len(a.TargetUserIDs)
	if n == 0 {
		return invalidArg("target_user_ids is empty: send %s", fieldHelp("target_user_ids"))
	}
	if n > maxJobItems {
		return invalidArg("target_user_ids has %d ids, more than %d: start several jobs", n, maxJobItems)
	}
	for i, id := range a.TargetUserIDs {
		if err := checkID(fmt.Sprintf("target_user_ids[%d]", i), id); err != nil {
			return err
		}
	}
	return nil
}

// Skipped counts the ids left out of a job before it was stored.
type Skipped struct {
	Duplicates int `json:"duplicates" jsonschema_description:"Ids listed more than once (kept once)."`
	Protected  int `json:"protected" jsonschema_description:"Ids on this server's protected list: never unfollowed."`
	Churn      int `json:"churn" jsonschema_description:"Ids this server followed in the last 30 days: unfollowing them would be follow churn, which X forbids."`
}

// StartJobResult is the output of start_x_unfollow_job.
type StartJobResult struct {
	Job     jobs.Summary `json:"job" jsonschema_description:"The job as stored: its id, status, pace, next_at and eta."`
	Skipped Skipped      `json:"skipped" jsonschema_description:"What was left out before the job was stored."`
}

func startXUnfollowJob() Tool {
	return define(Spec{
		Name:  "start_x_unfollow_job",
		Title: "Start an unfollow job",
		Description: "Unfollow a list of accounts the person approved, on their real X account, as a job the server runs by itself at a safe pace over hours or days (each account is checked just before: accounts that follow back or are no longer followed are skipped). " +
			"Get the ids from find_x_unfollow_candidates and show them to the person first. Returns the job with its eta: tell the person when it should end rather than polling; get_x_unfollow_jobs shows progress.",
		ReadOnly:    false,
		Destructive: true,
		Idempotent:  false,
		OpenWorld:   true,
	}, runStartJob)
}

func runStartJob(ctx context.Context, c *Call, in StartJobArgs) (StartJobResult, error) {
	if c.Jobs == nil || c.Jobs.Unavailable != "" {
		_, err := jobsFor(c)
		return StartJobResult{}, err
	}
	if !c.Client.Configured() {
		return StartJobResult{}, notConfigured()
	}
	g := c.Gate
	username, _ := checkUsername("username", in.Username)
	if g.Account != "" && !strings.EqualFold(username, g.Account) {
		return StartJobResult{}, invalidArg("username @%s is not the account this server acts for (@%s, set by --account): a job acts on the linked account only; send username %s", username, g.Account, quoteArg(g.Account))
	}
	now := c.Jobs.Clock.Now()
	fp := c.Client.KeyFingerprint()
	var sk Skipped
	seen := make(map[string]bool, len(in.TargetUserIDs))
	var ids []string
	for _, id := range in.TargetUserIDs {
		switch {
		case seen[id]:
			sk.Duplicates++
		case g.Protected[id]:
			seen[id] = true
			sk.Protected++
		default:
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if g.Journal != nil {
		followed, err := jobs.Followed(g.Journal, fp, g.Gateway, now.Add(-churnWindow), followTools)
		if err != nil {
			return StartJobResult{}, journalUnavailable()
		}
		kept := ids[:0]
		for _, id := range ids {
			if followed[id] {
				sk.Churn++
			} else {
				kept = append(kept, id)
			}
		}
		ids = kept
	}
	if len(ids) == 0 {
		return StartJobResult{}, &ToolError{Code: CodeNothingToDo, Msg: fmt.Sprintf(
			"no id is left to unfollow (%d duplicates, %d protected, %d followed through this server in the last 30 days, which would be follow churn), so no job was started; tell the person", sk.Duplicates, sk.Protected, sk.Churn)}
	}
	pace := c.Jobs.Pace
	confirmed := false
	if g.Confirm {
		st, answer, err := g.approval(ctx, c)
		if err != nil {
			return StartJobResult{}, err
		}
		if st == nil {
			return StartJobResult{}, g.askJob(ctx, c, jobs.KindUnfollow, username, ids, pace)
		}
		if answer != mcp.ElicitationResponseActionAccept {
			return StartJobResult{}, declined()
		}
		confirmed = true
	}
	d := jobs.Def{ID: jobs.NewID(), Kind: jobs.KindUnfollow, KeyFingerprint: fp, Gateway: g.Gateway, Username: username,
		TargetUserIDs: ids, ListSHA256: jobs.ListSHA256(ids), ConsentAt: now.UTC(), Confirmed: confirmed, Pace: pace, Tool: jobUnfollowTool}
	if g.DryRun || c.Jobs.Store == nil {
		return StartJobResult{Job: jobs.Plan(d, now), Skipped: sk}, nil
	}
	if err := keepCallerKey(ctx, c, d.ID); err != nil {
		return StartJobResult{}, err
	}
	if _, err := c.Jobs.Store.Create(d); err != nil {
		if c.Jobs.Vault != nil {
			_ = c.Jobs.Vault.Delete(d.ID)
		}
		c.Logger.Error("the job could not be stored; it was not started", "err", err)
		if errors.Is(err, safety.ErrStateUnavailable) {
			return StartJobResult{}, stateUnavailableJob()
		}
		return StartJobResult{}, journalUnavailable()
	}
	c.Logger.Info("unfollow job started", "job_id", d.ID, "items", len(ids), "list_sha256", d.ListSHA256)
	if c.Jobs.Runner != nil {
		c.Jobs.Runner.Wake()
	}
	sum, err := c.Jobs.Store.Summary(d.ID, fp, g.Gateway, false)
	if err != nil {
		return StartJobResult{}, err
	}
	return StartJobResult{Job: sum, Skipped: sk}, nil
}

// askJob asks the person once to approve a whole job: the count, the pace
// and the first handles.
func (g *Gate) askJob(ctx context.Context, c *Call, kind, username string, ids []string, pace jobs.Pace) error {
	if !canElicit(ctx) {
		return &ToolError{Code: CodeConfirmationUnavailable, Msg: "this server is set to ask the person before every write (--confirm), but this MCP client cannot ask them (no elicitation support), so no job was started; the person must use a client with elicitation or restart the server without --confirm"}
	}
	first := ids[:min(5, len(ids))]
	names := make([]string, 0, len(first))
	if users, err := c.Client.BatchInfoByIDs(ctx, first); err == nil {
		byID := map[string]string{}
		for _, u := range users {
			byID[u.ID] = u.Username
		}
		for _, id := range first {
			if h := byID[id]; h != "" {
				names = append(names, "@"+h)
			} else {
				names = append(names, "id "+id)
			}
		}
	} else {
		for _, id := range first {
			names = append(names, "id "+id)
		}
	}
	more := ""
	if len(ids) > len(first) {
		more = fmt.Sprintf(" and %d more", len(ids)-len(first))
	}
	days := time.Duration(len(ids)) * pace.DrawnGap()
	verb := "Unfollow these %d accounts from @%s"
	if kind == jobs.KindFollow {
		verb = "Follow again these %d accounts from @%s"
	}
	msg := fmt.Sprintf(verb+", at most %d per 15 minutes and %d a day (about %s in all), checking each first? %s%s",
		len(ids), username, pace.Per15m, pace.PerDay, days.Round(time.Minute), strings.Join(names, ", "), more)
	if g.DryRun {
		msg += " (dry run: nothing will be sent)"
	}
	params := mcp.ElicitationParams{Message: msg, RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}}}
	state := g.confirmer().mint(c.Tool, c.CanonicalArgs(), c.Client.KeyFingerprint(), nil)
	return &needInput{result: server.NewInputRequestBuilder(state).Elicit(confirmKey, params).ToolResult()}
}

// jobError maps the store's errors for a job id.
func jobError(err error, id string) error {
	if errors.Is(err, jobs.ErrNotFound) {
		return jobNotFound(id)
	}
	var te *ToolError
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(err, safety.ErrStateUnavailable) {
		return &ToolError{Code: CodeStateUnavailable, Msg: "the shared state store (--state) does not answer, so the job could not be changed and nothing was sent; try again in a minute"}
	}
	return journalUnavailable()
}
