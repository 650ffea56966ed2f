package tools

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// maxPromptUnfollows bounds clean_up_following's max_unfollows.
const maxPromptUnfollows = 10000

func cleanUpFollowing() Prompt {
	return Prompt{
		Name:   "clean_up_following",
		Writes: true,
		args:   []string{"username", "max_unfollows"},
		build: func(d *Deps) mcp.Prompt {
			user := []mcp.ArgumentOption{mcp.ArgumentDescription(
				"Handle of the X account to clean up, e.g. TwitterDev (a leading @ is allowed).")}
			if account := linkedAccount(d); account != "" {
				user = []mcp.ArgumentOption{mcp.ArgumentDescription(fmt.Sprintf(
					"Handle of the X account to clean up (a leading @ is allowed); defaults to @%s, the account linked to this server, and may only be that account.", account))}
			} else {
				user = append(user, mcp.RequiredArgument())
			}
			return mcp.NewPrompt("clean_up_following",
				mcp.WithPromptTitle("Clean up who an X account follows"),
				mcp.WithPromptDescription("Unfollow the accounts that do not follow back, with the person choosing: find them, show them grouped and counted, ask which to keep, unfollow the rest in one paced job (in batches on a server that keeps no jobs), and report how to steer and undo it."),
				mcp.WithArgument("username", user...),
				mcp.WithArgument("max_unfollows", mcp.ArgumentDescription(
					fmt.Sprintf("Most accounts to unfollow this time, 1 to %d; without it, as many as the server's unfollow budget allows.", maxPromptUnfollows))),
			)
		},
		handler: runCleanUpFollowing,
	}
}

// linkedAccount is the server's --account, or "".
func linkedAccount(d *Deps) string {
	if d.Gate == nil {
		return ""
	}
	return d.Gate.Account
}

func runCleanUpFollowing(ctx context.Context, d *Deps, args map[string]string) (*mcp.GetPromptResult, error) {
	name := ""
	switch v := args["username"]; {
	case v != "":
		n, err := checkUsername("username", v)
		if err != nil {
			return nil, err
		}
		// unfollow_x_users acts on the linked account only: a clean-up of
		// another account would unfollow its candidates from this one.
		if account := linkedAccount(d); account != "" && !strings.EqualFold(n, account) {
			return nil, invalidArg("username @%s is not @%s, the account this server is linked to (--account), and unfollow_x_users can only unfollow from @%s: send username %q or leave it out", n, account, account, account)
		}
		name = n
	case linkedAccount(d) != "":
		name = linkedAccount(d)
	default:
		return nil, invalidArg("username is missing and this server has no --account: send the handle of the account to clean up, e.g. \"TwitterDev\"")
	}
	maxUnfollows := 0
	if v, ok := args["max_unfollows"]; ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !allASCIIDigits(v) || n < 1 || n > maxPromptUnfollows {
			return nil, invalidArg("max_unfollows %s is not a whole number from 1 to %d: send it as digits, e.g. \"50\", or leave it out", quoteArg(v), maxPromptUnfollows)
		}
		maxUnfollows = n
	}

	budget := "The server's unfollow budget has no limit set."
	left, err := d.Gate.budgetLeft(ctx, &Call{Deps: depsFor(ctx, d)})
	if err != nil {
		budget = "The server's unfollow budget cannot be read right now (its state store does not answer), and every unfollow is refused with state_unavailable until it can; if that happens, stop and tell me."
	} else if left.Remaining15m != nil || left.Remaining24h != nil {
		var parts []string
		if left.Remaining15m != nil {
			parts = append(parts, fmt.Sprintf("%d in the next 15 minutes", *left.Remaining15m))
		}
		if left.Remaining24h != nil {
			parts = append(parts, fmt.Sprintf("%d in 24 hours", *left.Remaining24h))
		}
		budget = "The server's unfollow budget allows " + strings.Join(parts, " and ") + " right now; each unfollow_x_users result shows what is left."
	}
	goal := "as many of them as the unfollow budget allows"
	within := "within the budget"
	if maxUnfollows > 0 {
		goal = fmt.Sprintf("at most %d of them now", maxUnfollows)
		within = fmt.Sprintf("at most %d in total, and within the budget", maxUnfollows)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Clean up who my X account @%s follows: unfollow the accounts that do not follow me back, %s, after I choose which to keep.\n\n", name, goal)
	if d.Gate != nil && d.Gate.DryRun {
		b.WriteString("This server is in dry-run mode: unfollow_x_users runs every check but unfollows nobody. Say so in every report.\n\n")
	}
	fmt.Fprintf(&b, "1. Find them: call find_x_unfollow_candidates with {\"username\": %q, \"limit\": 1000}. While complete is false, call it again with the same username and cursor set to next_cursor, until complete is true or you hold 1000 candidates; if retry_after_seconds is given, tell me it is rate limited and for how long instead of retrying at once. Accounts on the server's protected list are already left out (excluded_protected counts them).\n", name)
	b.WriteString("2. Show them to me grouped by followers_count, with the number in each group and the total: 100,000 or more (large public accounts), 10,000 to 99,999, 1,000 to 9,999, 100 to 999, and under 100 (small or possibly inactive accounts). Name each account as @username (name); for a group of more than 20 show the first 20 and say how many more. Also say how many accounts were examined and how many protected ones were left out.\n")
	b.WriteString("3. Ask me which to keep, by handle or by whole group. Unfollow nothing before I answer, and nothing I did not agree to.\n")
	if jd := d.Jobs; jd != nil && jd.Unavailable == "" && jd.Store != nil {
		fmt.Fprintf(&b, "4. Start one job for the rest: call start_x_unfollow_job once with {\"username\": %q, \"target_user_ids\": [the ids I agreed to]} (ids, not handles; up to 10000%s). The server then unfollows them by itself at a safe pace, at most %d in any 15 minutes and %d a day, checking each account just before (those that follow back by then are skipped). Do not unfollow them with unfollow_x_users as well, and never work around the protected list.\n", name, jobLimit(maxUnfollows), jd.Pace.Per15m, jd.Pace.PerDay)
		b.WriteString("5. Report the job: its job_id, how many accounts it holds, what was skipped and why, and its eta. Tell me when it should end instead of checking on it in a loop; get_x_unfollow_jobs shows its progress when I ask. Then tell me how to steer it: control_x_unfollow_job with action pause, resume or cancel, or undo to follow again everyone it unfollowed, at a safe pace.\n")
		return cleanUpResult(name, maxUnfollows, b.String()), nil
	}
	fmt.Fprintf(&b, "4. Unfollow the rest with unfollow_x_users, passing their ids (not handles), at most 50 ids a call, %s. %s If a batch stops early (stopped, retry_after_seconds, or budget_exhausted), stop there and tell me when it can go on; never work around the budget or the protected list.\n", within, budget)
	b.WriteString("5. Report what was done: how many were unfollowed, refused, failed and not attempted, naming them, and how many candidates are left. Then tell me how to undo it: follow_x_user with an account's id re-follows it (a protected account must approve again), and when this server keeps a journal, `xfollow-mcp undo --journal PATH --since 2h` re-follows everything unfollowed in the last two hours.\n")

	return cleanUpResult(name, maxUnfollows, b.String()), nil
}

func cleanUpResult(name string, maxUnfollows int, text string) *mcp.GetPromptResult {
	desc := fmt.Sprintf("Clean up who @%s follows", name)
	if maxUnfollows > 0 {
		desc += fmt.Sprintf(", at most %d unfollows", maxUnfollows)
	}
	return &mcp.GetPromptResult{
		Description: desc,
		Messages: []mcp.PromptMessage{{
			Role:    mcp.RoleUser,
			Content: mcp.NewTextContent(text),
		}},
	}
}

// jobLimit is the prompt's cap on a job's size, in words.
func jobLimit(maxUnfollows int) string {
	if maxUnfollows > 0 {
		return fmt.Sprintf(", at most %d of them", maxUnfollows)
	}
	return ""
}
