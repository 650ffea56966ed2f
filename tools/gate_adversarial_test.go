package tools_test

// Failure paths of the write gate found by trying to break it: a confirmed
// batch, failure envelopes, TLS failures and how the gateway is named.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// TestConfirmedBatchNeverSendsANotFollowedID: with --confirm and
// --account, a batch whose first round finds one id not followed asks the
// person only about the others; the approved retry must act on exactly
// that: the not-followed id stays a noop (the signed state carries what was
// checked of every id), no budget is spent on it and undo never re-follows
// it.
func TestConfirmedBatchNeverSendsANotFollowedID(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := safety.OpenJournal(path)
	el := &elicitor{action: mcp.ElicitationResponseActionAccept}
	h := newHarness(t, harnessOpts{
		gate:     &tools.Gate{Confirm: true, Journal: j, Account: sandbox.MeUsername, Budget: budgetOf(5), Gateway: "test"},
		clientOp: []client.ClientOption{client.WithElicitationHandler(el)},
	})
	// 1500000000000000002 (new_friend) is not followed; 783214 is.
	b := h.ok("unfollow_x_users", `{"target_user_ids":["1500000000000000002","783214"]}`)
	if len(el.messages) != 1 || strings.Contains(el.messages[0], "1500000000000000002") {
		t.Logf("asked: %v", el.messages)
	}
	res := b["results"].([]any)
	st0 := res[0].(map[string]any)["status"]
	var sentFor []string
	for _, w := range h.sb.Writes() {
		sentFor = append(sentFor, w.Path+" "+w.TargetUserID)
	}
	cands := tools.UndoCandidates(readJournal(t, path), safety.Scope{Gateway: "test"}, time.Now().Add(-time.Hour))
	var undo []string
	for _, c := range cands {
		undo = append(undo, c.ID)
	}
	if st0 != "not_following" || len(h.sb.Writes()) != 1 || strings.Contains(strings.Join(undo, ","), "1500000000000000002") {
		t.Fatalf("person was asked %q;\nresult for the not-followed id: %v (want not_following)\nwrites sent: %d %v\nbudget: %v\nundo would re-follow: %v",
			el.messages, res[0], len(h.sb.Writes()), sentFor, b["budget"], undo)
	}
}

// TestUpstreamTimeoutInA2xxEnvelopeIsUnknown: the gateway applies the
// unfollow, then answers 200 with a failure envelope of a shape AIsa's own
// client handles ({success:false, error:{code,message}}) whose code is the
// documented upstream_timeout. That says nothing about whether it was done,
// so it is unknown: the slot is kept (ten such unfollows cannot pass a
// budget of 2) and undo covers them.
func TestUpstreamTimeoutInA2xxEnvelopeIsUnknown(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	gw := wrapped(sb, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/unfollow_twitter") {
			return false
		}
		sb.ServeHTTP(&discard{header: http.Header{}}, r) // applied...
		_, _ = w.Write([]byte(`{"success":false,"error":{"type":"upstream_error","code":"upstream_timeout","message":"X did not answer in time"}}`))
		return true
	})
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := safety.OpenJournal(path)
	h := newHarness(t, harnessOpts{gateway: gw, gate: &tools.Gate{Budget: budgetOf(2), Journal: j, Gateway: "test"}})
	for _, id := range simIDs(1, 10) {
		if !sb.Follows(id) {
			t.Fatalf("%s is not followed to begin with", id)
		}
	}
	var texts []string
	for _, id := range simIDs(1, 10) {
		texts = append(texts, textOf(h.call("unfollow_x_user", fmt.Sprintf(`{"target_user_id":%q}`, id))))
	}
	applied := 0
	for _, id := range simIDs(1, 10) {
		if !sb.Follows(id) {
			applied++
		}
	}
	var outcomes []string
	for _, a := range safety.Attempts(readJournal(t, path)) {
		outcomes = append(outcomes, a.Outcome)
	}
	undo := tools.UndoCandidates(readJournal(t, path), safety.Scope{Gateway: "test"}, time.Now().Add(-time.Hour))
	if applied > 2 || len(undo) < applied {
		t.Fatalf("%d unfollows applied with a budget of 2; undo covers %d\njournal outcomes %v\nfirst answer: %s", applied, len(undo), outcomes, texts[0])
	}
}

// TestTLSHandshakeFailureIsNotSent: a gateway whose certificate is
// not trusted never receives the request (the handshake fails before a byte
// of it leaves): the write is journaled failed, spends no budget, and undo
// leaves it alone.
func TestTLSHandshakeFailureIsNotSent(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewTLSServer(sb) // self-signed: the client does not trust it
	t.Cleanup(srv.Close)
	c, err := aisa.New(aisa.Options{BaseURL: srv.URL + sandbox.BasePath, APIKey: testKey, MaxRetries: -1,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := safety.OpenJournal(path)
	h := newHarness(t, harnessOpts{gate: &tools.Gate{Budget: budgetOf(2), Journal: j, Gateway: "test"}})
	h.deps.Client = c
	text := textOf(h.call("unfollow_x_user", `{"target_user_id":"783214"}`))
	if n := len(sb.Requests()); n != 0 {
		t.Fatalf("the gateway saw %d requests", n)
	}
	var outcomes []string
	for _, a := range safety.Attempts(readJournal(t, path)) {
		outcomes = append(outcomes, a.Outcome)
	}
	if len(outcomes) != 1 || outcomes[0] != "failed" {
		t.Fatalf("a write that never left the client is journaled %v: %s", outcomes, text)
	}
}
