package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/jobs"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// jobsPace runs the 771-account clean-up of the sandbox's @xfollow_big in a
// worker at a clock scale of 10000 and measures, on the gateway's clock,
// how close the sends come to the binding ceiling (the default 300 a day),
// the spread of the gaps, and the closest two sends.
func jobsPace(ours string) ([]result, error) {
	const scale = 10000
	sb := sandbox.New(sandbox.Options{Account: sandbox.BigUsername, UnfollowLimit: -1})
	var mu sync.Mutex
	var times []time.Time
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/twitter/unfollow_twitter") {
			mu.Lock()
			// The job's clock: real time since the start, times the scale.
			times = append(times, start.Add(time.Duration(float64(time.Since(start))*scale)))
			mu.Unlock()
		}
		sb.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + sandbox.BasePath
	dir, err := os.MkdirTemp("", "xfollow-bench-jobs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	journal := filepath.Join(dir, "journal.jsonl")
	env := []string{"PATH=" + os.Getenv("PATH"), "AISA_API_KEY=bench", "AISA_BASE_URL=" + url}
	common := []string{"--journal", journal, "--account", sandbox.BigUsername}
	ids := sandbox.BigNonFollowers()
	args, _ := json.Marshal(map[string]any{"username": sandbox.BigUsername, "target_user_ids": ids})
	call := exec.Command(ours, append(common, "call", "start_x_unfollow_job", string(args))...)
	call.Env = env
	if out, err := call.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("start_x_unfollow_job: %v: %s", err, out)
	}
	worker := exec.Command(ours, append(common, "worker")...)
	worker.Env = append(env, fmt.Sprintf("XFOLLOW_CLOCK_SCALE=%d", scale))
	if err := worker.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		mu.Lock()
		n := len(times)
		mu.Unlock()
		if n >= len(ids) {
			break
		}
		if time.Now().After(deadline) {
			_ = worker.Process.Kill()
			_ = worker.Wait()
			return nil, fmt.Errorf("the job sent %d of %d in 3 minutes", n, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = worker.Process.Signal(os.Interrupt)
	_ = worker.Wait()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(times, func(a, b int) bool { return times[a].Before(times[b]) })
	pace := jobs.Pace{Per15m: 25, PerDay: 300}
	span := times[len(times)-1].Sub(times[0])
	perDay := float64(len(times)-1) / span.Hours() * 24
	eff := perDay / float64(pace.PerDay)
	var s1, s2 float64
	least := time.Duration(math.MaxInt64)
	for i := 1; i < len(times); i++ {
		g := times[i].Sub(times[i-1])
		least = min(least, g)
		s1 += g.Seconds()
		s2 += g.Seconds() * g.Seconds()
	}
	n := float64(len(times) - 1)
	mean := s1 / n
	sd := math.Sqrt(s2/n - mean*mean)
	ceilingGap := pace.MeanGap().Seconds()
	return []result{
		{name: "job pace (771 accounts, scale 10000)", figure: fmt.Sprintf("%.0f a day = %.0f%% of the 300-a-day ceiling", perDay, 100*eff),
			target: ">= 80% of the binding ceiling", pass: eff >= 0.8,
			note: "sends timed at the gateway; the rest is the randomness, the 8% headroom and the process's own time at 10000x"},
		{name: "job gap spread", figure: fmt.Sprintf("mean %.0fs, sd %.0fs (%.2f of the mean), closest %.0fs (%.2f of the ceiling's mean gap)", mean, sd, sd/mean, least.Seconds(), least.Seconds()/ceilingGap),
			target: "sd >= 0.2 of the mean; closest >= 0.25 of the mean gap", pass: sd >= 0.2*mean && least.Seconds() >= 0.25*ceilingGap},
	}, nil
}

// jobsMemory measures a serving process holding 100 jobs of 10,000
// accounts each (a million items), against the same process with none.
func jobsMemory(ours string) ([]result, error) {
	srv := httptest.NewServer(sandbox.New(sandbox.Options{UnfollowLimit: -1}))
	defer srv.Close()
	url := srv.URL + sandbox.BasePath
	c, err := aisa.New(aisa.Options{BaseURL: url, APIKey: "bench", UserAgent: "bench", Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "xfollow-bench-jobs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	empty := filepath.Join(dir, "empty.jsonl")
	full := filepath.Join(dir, "full.jsonl")
	j, err := safety.OpenJournal(full)
	if err != nil {
		return nil, err
	}
	store, err := jobs.Open(j, time.Now)
	if err != nil {
		return nil, err
	}
	const nJobs, nItems = 100, 10000
	for k := 0; k < nJobs; k++ {
		ids := make([]string, nItems)
		for i := range ids {
			ids[i] = fmt.Sprintf("7%03d%015d", k, i)
		}
		// Paused, so that the server holds them without sending.
		d := jobs.Def{ID: jobs.NewID(), Kind: jobs.KindUnfollow, KeyFingerprint: c.KeyFingerprint(), Gateway: c.Gateway(),
			Username: "bench", TargetUserIDs: ids, ListSHA256: jobs.ListSHA256(ids), ConsentAt: time.Now(),
			Pace: jobs.Pace{Per15m: 25, PerDay: 300}, Tool: "start_x_unfollow_job"}
		if _, err := store.Create(d); err != nil {
			return nil, err
		}
		if err := store.Control(d.ID, d.KeyFingerprint, d.Gateway, jobs.ActionPause); err != nil {
			return nil, err
		}
	}
	_ = j.Close()
	measure := func(journal string) (rss, hwm int, took time.Duration, err error) {
		t0 := time.Now()
		p, err := startServer(ours, []string{"--journal", journal}, url)
		if err != nil {
			return 0, 0, 0, err
		}
		defer p.close()
		if _, err := p.request("tools/call", map[string]any{"name": "get_x_unfollow_jobs", "arguments": map[string]any{}}); err != nil {
			return 0, 0, 0, err
		}
		took = time.Since(t0)
		time.Sleep(300 * time.Millisecond)
		return p.rssKiB(), p.status("VmHWM"), took, nil
	}
	rss0, hwm0, t0, err := measure(empty)
	if err != nil {
		return nil, err
	}
	rss1, hwm1, t1, err := measure(full)
	if err != nil {
		return nil, err
	}
	if rss0 < 0 {
		return []result{{name: "memory, 100 jobs x 10,000", figure: "not measured: no /proc on this OS"}}, nil
	}
	per := float64(rss1-rss0) * 1024 / (nJobs * nItems)
	return []result{{name: "memory, 100 jobs x 10,000 accounts",
		figure: fmt.Sprintf("RSS %.1f MiB (peak %.1f) vs %.1f MiB (peak %.1f) with none: %.0f bytes an item; ready and listing in %s vs %s",
			float64(rss1)/1024, float64(hwm1)/1024, float64(rss0)/1024, float64(hwm0)/1024, per, t1.Round(time.Millisecond), t0.Round(time.Millisecond)),
		target: "< 300 bytes an item held", pass: per < 300}}, nil
}
