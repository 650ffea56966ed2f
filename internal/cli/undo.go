package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// undo re-follows every account the journal shows was unfollowed within the
// last since (an ok or unknown outcome, not a dry run, and never one the
// relationship check found not followed), through follow_x_user on the same
// server, so each re-follow is checked and journaled like any other write.
// It replays only the records of the gateway in use and of one key: the
// key in AISA_API_KEY, or keyFP. It exits 0 only when every re-follow
// succeeded.
func (a *app) undo(ctx context.Context, p IO, since time.Duration, keyFP string) int {
	from := time.Now().Add(-since)
	var recs []safety.Record
	err := a.journal.ScanWarn(from, func(r safety.Record) bool { recs = append(recs, r); return true },
		func(w safety.Warning) { fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: %s\n", w) })
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: journal %s cannot be read: %v\n", a.cfg.Journal, causeOf(err))
		return 1
	}
	own := a.deps.Client.KeyFingerprint()
	if keyFP == "" {
		keyFP = own
	}
	if keyFP != own && !a.cfg.DryRun {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: --key-fingerprint %s names another key than AISA_API_KEY (fingerprint %s), and the re-follows would go out with AISA_API_KEY; set AISA_API_KEY to the key with fingerprint %s, or add --dry-run to list what would be re-followed\n", keyFP, own, keyFP)
		return 1
	}
	scope := safety.Scope{Gateway: a.deps.Gate.Gateway, KeyFingerprint: keyFP,
		Legacy: a.deps.Gate.Gateway != safety.GatewaySandbox && keyFP == own}
	fmt.Fprintf(p.Stdout, "replaying the journal's records of gateway %s and key fingerprint %s from the last %s\n", scope.Gateway, keyFP, since)
	items := tools.UndoCandidates(recs, scope, from)
	if len(items) == 0 {
		fmt.Fprintf(p.Stdout, "nothing to undo: the journal shows no unfollow of that gateway and key in the last %s\n", since)
		return 0
	}
	c, err := a.inProcess(ctx)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	defer c.Close()
	failed, unverified := 0, 0
	for _, it := range items {
		if ctx.Err() != nil {
			fmt.Fprintf(p.Stdout, "stopped: interrupted; %s and later ids were not re-followed\n", it.ID)
			return 1
		}
		note := ""
		if !it.Verified {
			unverified++
			note = " [unverified: the journal does not show the account was followed before the unfollow]"
		}
		if it.Outcome == safety.OutcomeUnknown {
			note += " [the unfollow's outcome was unknown]"
		}
		if it.Legacy {
			note += " [journaled by an older version, which did not record the gateway: taken to be this one]"
		}
		args, _ := json.Marshal(map[string]string{"target_user_id": it.ID})
		res, err := a.call(ctx, c, "follow_x_user", args)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(p.Stdout, "error      %s: %v\n", it.ID, err)
		case res.IsError:
			failed++
			fmt.Fprintf(p.Stdout, "error      %s: %s\n", it.ID, resultText(res))
		default:
			var out tools.FollowResult
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &out)
			switch {
			case out.DryRun:
				fmt.Fprintf(p.Stdout, "would re-follow %s (dry run; nothing sent)%s\n", it.ID, note)
			case out.PendingFollow:
				fmt.Fprintf(p.Stdout, "requested  %s (protected account: the follow awaits its approval)%s\n", it.ID, note)
			default:
				fmt.Fprintf(p.Stdout, "refollowed %s%s\n", it.ID, note)
			}
		}
	}
	if a.cfg.DryRun {
		fmt.Fprintf(p.Stdout, "dry run: %d of %d would be re-followed; nothing was sent", len(items)-failed, len(items))
	} else {
		fmt.Fprintf(p.Stdout, "%d of %d re-follows succeeded", len(items)-failed, len(items))
	}
	if unverified > 0 {
		fmt.Fprintf(p.Stdout, " (%d unverified: start the server with --account so unfollows record whether the account was followed)", unverified)
	}
	fmt.Fprintln(p.Stdout)
	if failed > 0 {
		return 1
	}
	return 0
}
