package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// applyThenHangGateway is the big sandbox graph behind a gateway that
// applies every unfollow and then, for one in three, never answers. It
// records, per target, the relationship checks and the unfollows it saw, in
// order.
type applyThenHangGateway struct {
	*gateway
	mu     sync.Mutex
	events map[string][]string // target id -> "check" / "send", in order
	sends  int
}

func newApplyThenHangGateway(t *testing.T) *applyThenHangGateway {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Account: sandbox.BigUsername, UnfollowLimit: -1})
	g := &applyThenHangGateway{events: map[string][]string{}}
	byName := map[string]string{}
	for _, id := range sandbox.BigNonFollowers() {
		n, _ := strconv.Atoi(id[2:])
		byName[strings.ToLower(sandbox.BigUsernameOf(n))] = id
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, sandbox.BasePath)
		switch {
		case path == "/twitter/user/check_follow_relationship":
			if id := byName[strings.ToLower(r.URL.Query().Get("target_user_name"))]; id != "" {
				g.mu.Lock()
				g.events[id] = append(g.events[id], "check "+r.RemoteAddr+" "+time.Now().Format("05.000"))
				g.mu.Unlock()
			}
		case path == "/twitter/unfollow_twitter":
			body, _ := io.ReadAll(r.Body)
			var v struct {
				TargetUserID string `json:"target_user_id"`
			}
			_ = json.Unmarshal(body, &v)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			sb.ServeHTTP(rec, r) // applied
			g.mu.Lock()
			g.events[v.TargetUserID] = append(g.events[v.TargetUserID], "send "+r.RemoteAddr+" "+time.Now().Format("05.000"))
			g.sends++
			hang := g.sends%3 == 0
			g.mu.Unlock()
			if hang {
				<-r.Context().Done() // the client gives up, or is killed
				return
			}
			for k, vs := range rec.Header() {
				w.Header()[k] = vs
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.gateway = &gateway{Sandbox: sb, URL: srv.URL + sandbox.BasePath}
	return g
}

func (g *applyThenHangGateway) eventsOf(id string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.events[id]...)
}

// TestJobKill9AtRandomMoments: a worker advancing a job is killed with
// SIGKILL at random moments, again and again, while the gateway applies
// unfollows and hangs on a third of them; a last worker finishes the job.
// Every target was unfollowed exactly once, each send came after a check of
// that account, and the journal says completed with every item ok.
func TestJobKill9AtRandomMoments(t *testing.T) {
	t.Parallel()
	gw := newApplyThenHangGateway(t)
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	targets := sandbox.BigNonFollowers()[:36]
	common := []string{"--journal", journal, "--account", sandbox.BigUsername, "--timeout", "400ms",
		"--job-max-per-15m", "50", "--job-max-per-day", "500"}
	args, _ := json.Marshal(map[string]any{"username": sandbox.BigUsername, "target_user_ids": targets})
	code, out, errOut := runCmd(t, gw.gateway, append(common, "call", "start_x_unfollow_job", string(args))...)
	if code != 0 {
		t.Fatalf("start: %d %s %s", code, out, errOut)
	}
	var started struct {
		Job struct {
			JobID string `json:"job_id"`
		} `json:"job"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.Job.JobID == "" {
		t.Fatalf("start: %v %s", err, out)
	}
	worker := func() (*exec.Cmd, *lockedBuffer) {
		cmd := exec.Command(binary, append(common, "worker")...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AISA_API_KEY=" + testKey,
			"AISA_BASE_URL=" + gw.URL, "XFOLLOW_CLOCK_SCALE=4000"}
		var errb lockedBuffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &errb
	}
	remaining := func() int {
		n := 0
		for _, id := range targets {
			if gw.Follows(id) {
				n++
			}
		}
		return n
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 21))
	kills := 0
	for kills < 12 && remaining() > 0 {
		cmd, errb := worker()
		time.Sleep(time.Duration(50+rnd.IntN(900)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		if strings.Contains(errb.String(), testKey) {
			t.Fatal("the key was printed")
		}
	}
	t.Logf("%d workers killed; %d of %d targets still followed", kills, remaining(), len(targets))

	// A last worker finishes the job.
	cmd, errb := worker()
	deadline := time.Now().Add(60 * time.Second)
	var status string
	for {
		code, out, _ := runCmd(t, gw.gateway, "--journal", journal, "jobs", "show", started.Job.JobID)
		var v struct {
			Job struct {
				Status string         `json:"status"`
				Counts map[string]int `json:"counts"`
			} `json:"job"`
		}
		if code == 0 && json.Unmarshal([]byte(out), &v) == nil {
			status = v.Job.Status
			if status == "completed" {
				if v.Job.Counts["ok"] != len(targets) {
					t.Fatalf("completed with counts %v; want %d ok", v.Job.Counts, len(targets))
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is %s after a minute\n%s", status, errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	for _, id := range targets {
		ev := gw.eventsOf(id)
		sends := 0
		checked := false
		for _, e := range ev {
			switch strings.Fields(e)[0] {
			case "check":
				checked = true
			case "send":
				if !checked {
					b, _ := os.ReadFile(journal)
					for _, l := range strings.Split(string(b), "\n") {
						if strings.Contains(l, id) {
							t.Log(l)
						}
					}
					t.Fatalf("%s: a send with no check of the account before it: %v", id, ev)
				}
				sends++
				checked = false
			}
		}
		if sends != 1 || gw.Follows(id) {
			t.Fatalf("%s: %d unfollows sent (%v), still followed %v; want exactly one", id, sends, ev, gw.Follows(id))
		}
	}
}

// TestStdinClosedMidJobSend: the host closes stdin while a job's unfollow is
// held at the gateway. The server finishes that send (its outcome is
// journaled ok), sends nothing more, and exits 0; the job goes on at the
// next start.
func TestStdinClosedMidJobSend(t *testing.T) {
	t.Parallel()
	gw, arrived, release := blockingGateway(t)
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw.gateway, serverOpts{args: []string{"--journal", journal}, protocol: "2025-11-25"})
	p.ok("start_x_unfollow_job", map[string]any{"username": sandbox.MeUsername, "target_user_ids": []string{"12", "783214"}})
	<-arrived
	_ = p.stdin.Close()
	select {
	case err := <-p.waited:
		t.Fatalf("the server exited with a send in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-p.waited:
		p.waited <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after the send in flight")
	}
	p.session = nil
	sends := 0
	for _, c := range gw.Calls() {
		if c.Path == "/twitter/unfollow_twitter" {
			sends++
		}
	}
	if sends != 1 {
		t.Fatalf("%d unfollows sent; want the one in flight", sends)
	}
	ok := 0
	for _, r := range journalRecords(t, journal) {
		if r.Phase == "outcome" && r.JobID != "" && r.Outcome == "ok" {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d ok outcomes journaled for the job; want 1", ok)
	}
}
