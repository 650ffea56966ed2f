package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// undo re-follows every account the journal shows was unfollowed (an ok
// outcome, not a dry run) within the last since, through follow_x_user on
// the same server, so each re-follow is checked and journaled like any
// other write. It exits 0 only when every re-follow succeeded.
func (a *app) undo(ctx context.Context, p IO, since time.Duration) int {
	recs, skipped, err := safety.ReadJournalFile(a.cfg.Journal)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: journal %s cannot be read: %v\n", a.cfg.Journal, err)
		return 1
	}
	if skipped > 0 {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: the journal's last line is incomplete (the server was killed mid-write) and was skipped\n")
	}
	ids := tools.UnfollowedSince(recs, time.Now().Add(-since))
	if len(ids) == 0 {
		fmt.Fprintf(p.Stdout, "nothing to undo: the journal shows no unfollow in the last %s\n", since)
		return 0
	}
	c, err := a.inProcess(ctx)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	defer c.Close()
	failed := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			fmt.Fprintf(p.Stdout, "stopped: interrupted; %s and later ids were not re-followed\n", id)
			return 1
		}
		args, _ := json.Marshal(map[string]string{"target_user_id": id})
		res, err := a.call(ctx, c, "follow_x_user", args)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(p.Stdout, "error      %s: %v\n", id, err)
		case res.IsError:
			failed++
			fmt.Fprintf(p.Stdout, "error      %s: %s\n", id, resultText(res))
		default:
			var out tools.FollowResult
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &out)
			switch {
			case out.DryRun:
				fmt.Fprintf(p.Stdout, "would re-follow %s (dry run; nothing sent)\n", id)
			case out.PendingFollow:
				fmt.Fprintf(p.Stdout, "requested  %s (protected account: the follow awaits its approval)\n", id)
			default:
				fmt.Fprintf(p.Stdout, "refollowed %s\n", id)
			}
		}
	}
	fmt.Fprintf(p.Stdout, "%d of %d re-follows succeeded\n", len(ids)-failed, len(ids))
	if failed > 0 {
		return 1
	}
	return 0
}
