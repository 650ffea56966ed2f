package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
// succeeded, or every unfollow in reach was already followed again; 3 when
// the journal holds no unfollow of that gateway and key.
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
	switch {
	case keyFP == own:
	case a.cfg.Sandbox:
		// The sandbox checks no key: a remote caller's sandbox unfollows
		// (--sandbox --key-from-request) are re-followed on the sandbox and
		// journaled under that caller's fingerprint, which pairs them with
		// the unfollows.
		a.deps.Client = a.deps.Client.WithFingerprint(keyFP)
	case !a.cfg.DryRun:
		fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: --key-fingerprint %s names another key than AISA_API_KEY (fingerprint %s), and the re-follows would go out with AISA_API_KEY; set AISA_API_KEY to the key with fingerprint %s, or add --dry-run to list what would be re-followed\n", keyFP, own, keyFP)
		return 1
	}
	scope := safety.Scope{Gateway: a.deps.Gate.Gateway, KeyFingerprint: keyFP,
		Legacy: a.deps.Gate.Gateway != safety.GatewaySandbox && keyFP == own}
	fmt.Fprintf(p.Stdout, "replaying the journal's records of gateway %s and key fingerprint %s from the last %s\n", scope.Gateway, fingerprintText(keyFP), since)
	items := tools.UndoCandidates(recs, scope, from)
	if len(items) == 0 {
		return a.nothingToUndo(p, recs, scope, from, since)
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
		who := it.ID
		if it.Username != "" {
			who += " (@" + it.Username + ")"
		}
		args, _ := json.Marshal(map[string]string{"target_user_id": it.ID})
		res, err := a.call(ctx, c, "follow_x_user", args)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(p.Stdout, "error      %s: %v\n", who, err)
		case res.IsError:
			failed++
			fmt.Fprintf(p.Stdout, "error      %s: %s\n", who, resultText(res))
		default:
			var out tools.FollowResult
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &out)
			switch {
			case out.DryRun:
				fmt.Fprintf(p.Stdout, "would re-follow %s (dry run; nothing sent)%s\n", who, note)
			case out.PendingFollow:
				fmt.Fprintf(p.Stdout, "requested  %s (protected account: the follow awaits its approval)%s\n", who, note)
			default:
				fmt.Fprintf(p.Stdout, "refollowed %s%s\n", who, note)
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

// exitNothingMatched is undo's exit code when the journal holds no unfollow
// of the gateway and key asked for (the README's table).
const exitNothingMatched = exitRefused

// nothingToUndo explains an undo that found nothing to re-follow: the
// unfollows of this gateway and key were all followed again since (exit 0),
// or the journal holds none of them, in which case it says which gateways
// and keys it does hold unfollows of and how to reach them (exit 3).
func (a *app) nothingToUndo(p IO, recs []safety.Record, scope safety.Scope, from time.Time, since time.Duration) int {
	held := tools.UnfollowScopes(recs, from)
	var others []string
	for _, h := range held {
		legacy := h.Gateway == "" && h.KeyFingerprint == ""
		if (legacy && scope.Legacy) || (safety.NormalGateway(h.Gateway) == safety.NormalGateway(scope.Gateway) && h.KeyFingerprint == scope.KeyFingerprint) {
			fmt.Fprintf(p.Stdout, "nothing to undo: the journal's %d unfollows of that gateway and key in the last %s were all followed again since\n", h.Unfollows, since)
			return exitOK
		}
		others = append(others, "  "+scopeHint(h, scope))
	}
	fmt.Fprintf(p.Stdout, "nothing to undo: the journal shows no unfollow of gateway %s and key fingerprint %s in the last %s\n", scope.Gateway, fingerprintText(scope.KeyFingerprint), since)
	if len(others) == 0 {
		fmt.Fprintf(p.Stdout, "the journal holds no unfollow of any gateway or key in the last %s; a longer --since reaches further back\n", since)
	} else {
		fmt.Fprintf(p.Stdout, "the journal holds unfollows of:\n%s\n", strings.Join(others, "\n"))
	}
	return exitNothingMatched
}

// scopeHint names a gateway and key the journal holds unfollows of, and
// how to undo them.
func scopeHint(h tools.JournalScope, cur safety.Scope) string {
	n := fmt.Sprintf("%d unfollow", h.Unfollows)
	if h.Unfollows != 1 {
		n += "s"
	}
	switch {
	case h.Gateway == "" && h.KeyFingerprint == "":
		return fmt.Sprintf("records that name no gateway or key (%s, journaled by an older version): run undo against the real gateway with the key that made them in AISA_API_KEY", n)
	case h.Gateway == safety.GatewaySandbox && cur.Gateway != safety.GatewaySandbox:
		return fmt.Sprintf("gateway sandbox (%s): add --sandbox to undo them in the sandbox", n)
	case h.Gateway != safety.GatewaySandbox && cur.Gateway == safety.GatewaySandbox:
		return fmt.Sprintf("gateway %s, key fingerprint %s (%s): run undo without --sandbox, with that key in AISA_API_KEY", h.Gateway, fingerprintText(h.KeyFingerprint), n)
	case safety.NormalGateway(h.Gateway) != safety.NormalGateway(cur.Gateway):
		return fmt.Sprintf("gateway %s, key fingerprint %s (%s): set AISA_BASE_URL to that gateway, with that key in AISA_API_KEY", h.Gateway, fingerprintText(h.KeyFingerprint), n)
	case cur.Gateway == safety.GatewaySandbox:
		return fmt.Sprintf("gateway sandbox, key fingerprint %s (%s): add --key-fingerprint %s (the sandbox checks no key, so this needs none of theirs)", fingerprintText(h.KeyFingerprint), n, h.KeyFingerprint)
	}
	return fmt.Sprintf("gateway %s, key fingerprint %s (%s): set AISA_API_KEY to that key, or add --key-fingerprint %s --dry-run to list them", h.Gateway, fingerprintText(h.KeyFingerprint), n, h.KeyFingerprint)
}

// fingerprintText is a key fingerprint as undo prints it: never blank.
func fingerprintText(fp string) string {
	if fp == "" {
		return "(none: no AISA_API_KEY is set)"
	}
	return fp
}
