package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// callAs runs a tool as a remote caller with its own key.
func callAs(t *testing.T, a *app, key, name string, args any) (map[string]any, string) {
	t.Helper()
	ctx := tools.WithCallerKey(context.Background(), key)
	c, err := a.inProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, _ := json.Marshal(args)
	res, err := a.call(ctx, c, name, raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		return nil, resultText(res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m, ""
}

func callersApp(t *testing.T, journal string, ring *secret.Ring) *app {
	t.Helper()
	cfg := config.Config{Sandbox: true, Account: sandbox.BigUsername, Journal: journal, Timeout: 20 * time.Second,
		MaxUnfollowsPer15m: 50, MaxUnfollowsPerDay: 400, JobMaxPer15m: 25, JobMaxPerDay: 300,
		SandboxUnfollowLimit: -1, Workers: 8, ClockScale: 20000, KeyFromRequest: true, Secret: ring}
	a, err := build(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// TestManyCallersJobsNeedTheSecret: with --key-from-request and no
// XFOLLOW_SECRET the job tools say why they are unavailable; with it, a
// caller's job runs with no caller connected, its key is kept only sealed
// (never in the journal) and erased when the job ends, another caller
// cannot see it, and each caller's history holds its own writes only.
func TestManyCallersJobsNeedTheSecret(t *testing.T) {
	const k1, k2 = "sk-aisa-CALLER-ONE-7f3a", "sk-aisa-CALLER-TWO-91bc"
	ids := sandbox.BigNonFollowers()[:12]
	start := map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids}

	plain := callersApp(t, filepath.Join(t.TempDir(), "j.jsonl"), nil)
	if _, txt := callAs(t, plain, k1, "start_x_unfollow_job", start); !strings.HasPrefix(txt, "[jobs_unavailable]") || !strings.Contains(txt, "XFOLLOW_SECRET") {
		t.Fatalf("without the secret: %q", txt)
	}

	ring, err := secret.Parse(strings.Repeat("s", 40))
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	a := callersApp(t, journal, ring)
	out, txt := callAs(t, a, k1, "start_x_unfollow_job", start)
	if txt != "" {
		t.Fatal(txt)
	}
	id := out["job"].(map[string]any)["job_id"].(string)
	keyFile := filepath.Join(journal+".jobs.d", id+".key")
	sealed, err := os.ReadFile(keyFile)
	if err != nil || len(sealed) == 0 || strings.Contains(string(sealed), k1) {
		t.Fatalf("sealed key file: %v %q", err, sealed)
	}
	if _, txt := callAs(t, a, k2, "get_x_unfollow_jobs", map[string]any{"job_id": id}); !strings.HasPrefix(txt, "[job_not_found]") {
		t.Fatalf("another caller: %q", txt)
	}

	// The journal keeps the job's records from retention while it runs.
	if pins, _ := a.journal.Pins(); pins["job:"+id].IsZero() {
		t.Fatalf("no journal pin for the job: %v", pins)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := a.startRunner(ctx) // no caller is connected
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for {
		got, txt := callAs(t, a, k1, "get_x_unfollow_jobs", map[string]any{"job_id": id})
		if txt != "" {
			t.Fatal(txt)
		}
		if got["job"].(map[string]any)["status"] == jobs.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job: %v", got["job"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if _, err := os.Stat(keyFile); os.IsNotExist(err) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatalf("the sealed key outlived its job: %v", err)
	}
	for {
		pins, _ := a.journal.Pins()
		if pins["job:"+id].IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended job is still pinned: %v", pins)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(journal)
	if strings.Contains(string(b), k1) || strings.Contains(string(b), k2) {
		t.Fatal("a caller's key is in the journal")
	}

	h1, txt := callAs(t, a, k1, "get_x_unfollow_history", map[string]any{"limit": 5})
	if txt != "" {
		t.Fatal(txt)
	}
	entries := h1["entries"].([]any)
	if len(entries) != 5 || h1["next_cursor"] == nil || entries[0].(map[string]any)["job_id"] != id {
		t.Fatalf("caller one's history: %v", h1)
	}
	seen := 0
	cursor := ""
	for {
		args := map[string]any{"limit": 5}
		if cursor != "" {
			args["cursor"] = cursor
		}
		h, txt := callAs(t, a, k1, "get_x_unfollow_history", args)
		if txt != "" {
			t.Fatal(txt)
		}
		seen += len(h["entries"].([]any))
		c, _ := h["next_cursor"].(string)
		if c == "" {
			break
		}
		cursor = c
	}
	if seen != len(ids) {
		t.Fatalf("caller one's history pages hold %d writes; want %d", seen, len(ids))
	}
	h2, txt := callAs(t, a, k2, "get_x_unfollow_history", map[string]any{})
	if txt != "" || len(h2["entries"].([]any)) != 0 {
		t.Fatalf("caller two's history: %v %s", h2, txt)
	}
}
