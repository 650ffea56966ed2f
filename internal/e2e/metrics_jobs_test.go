package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

var (
	sampleRe = regexp.MustCompile(`^(\w+)(?:\{(.*)\})? (\S+)$`)
	labelRe  = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// sample is one line of a scrape: a metric, its labels and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseScrape reads the samples of a text-format scrape.
func parseScrape(t *testing.T, body string) []sample {
	t.Helper()
	var out []sample
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("the scrape has a line that is not a sample: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("the scrape has a sample with a bad value: %q", line)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelRe.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

// byLabel returns name's samples by the value of label.
func byLabel(samples []sample, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		if s.name == name {
			out[s.labels[label]] = s.value
		}
	}
	return out
}

// TestMetricsCountAJob: the built binary on stdio with --sandbox, --journal
// and --metrics runs a three-account clean-up job to its end (at a fast
// test clock). Before the job the scrape reports no job and no item; once
// get_x_unfollow_jobs says completed, xfollow_jobs{status="completed"} is 1
// and every other status 0, and xfollow_job_items_total counts exactly the
// job's outcomes (3 ok: the sandbox account follows these accounts and none
// follows back). No label value anywhere in the scrape holds the key, the
// job's id, or a target's id or handle.
func TestMetricsCountAJob(t *testing.T) {
	t.Parallel()
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, nil, serverOpts{args: []string{"--sandbox", "--journal", journal, "--metrics", "127.0.0.1:0"},
		env: []string{"XFOLLOW_CLOCK_SCALE=5000"}})
	url := metricsURL(t, p.stderr)

	scrape := func() []sample {
		t.Helper()
		code, body := get(t, url)
		if code != 200 {
			t.Fatalf("GET %s: %d\n%s", url, code, body)
		}
		return parseScrape(t, body)
	}
	before := scrape()
	for s, n := range byLabel(before, metrics.NameJobs, "status") {
		if n != 0 {
			t.Errorf("before any job: xfollow_jobs{status=%q} %v", s, n)
		}
	}
	if got := byLabel(before, metrics.NameJobs, "status"); len(got) != len(metrics.JobStatuses) {
		t.Errorf("before any job the scrape reports xfollow_jobs for %v; want every status in %v", got, metrics.JobStatuses)
	}
	for o, n := range byLabel(before, metrics.NameJobItems, "outcome") {
		if n != 0 {
			t.Errorf("before any job: xfollow_job_items_total{outcome=%q} %v", o, n)
		}
	}

	// Followed by the sandbox account, not following it back.
	targets := map[string]string{"12": "jack", "783214": "X", "11348282": "NASA"}
	ids := []string{"12", "783214", "11348282"}
	started := p.ok("start_x_unfollow_job", map[string]any{"username": sandbox.MeUsername, "target_user_ids": ids})
	jobID, _ := started["job"].(map[string]any)["job_id"].(string)
	if jobID == "" {
		t.Fatalf("start: no job id in %v", started)
	}

	var job map[string]any
	deadline := time.Now().Add(8 * time.Second)
	for {
		job = p.ok("get_x_unfollow_jobs", map[string]any{"job_id": jobID})["job"].(map[string]any)
		if job["status"] == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is still %v (%v) after 8 s", job["status"], job["status_text"])
		}
		time.Sleep(20 * time.Millisecond)
	}

	after := scrape()
	for s, n := range byLabel(after, metrics.NameJobs, "status") {
		want := 0.0
		if s == "completed" {
			want = 1
		}
		if n != want {
			t.Errorf(`after the job: xfollow_jobs{status=%q} %v; want %v`, s, n, want)
		}
	}
	if _, ok := byLabel(after, metrics.NameJobs, "status")["completed"]; !ok {
		t.Error(`the scrape lacks xfollow_jobs{status="completed"}`)
	}

	// The items counted are the job's outcomes, one by one.
	counts := map[string]float64{}
	total := 0.0
	for o, n := range job["counts"].(map[string]any) {
		f, _ := n.(float64)
		if f != 0 {
			counts[o] = f
			total += f
		}
	}
	if total != float64(len(ids)) {
		t.Fatalf("the completed job counts %v; want %d outcomes", job["counts"], len(ids))
	}
	if counts["ok"] != float64(len(ids)) {
		t.Errorf("the job's outcomes are %v; want %d ok (the sandbox account follows them, none follows back)", counts, len(ids))
	}
	items := byLabel(after, metrics.NameJobItems, "outcome")
	sum := 0.0
	for o, n := range items {
		sum += n
		if n != counts[o] {
			t.Errorf("xfollow_job_items_total{outcome=%q} %v; the job counts %v", o, n, counts[o])
		}
	}
	if sum != float64(len(ids)) {
		t.Errorf("xfollow_job_items_total sums to %v over %v; want %d", sum, items, len(ids))
	}
	if items["ok"] != float64(len(ids)) {
		t.Errorf(`xfollow_job_items_total{outcome="ok"} %v; want %d`, items["ok"], len(ids))
	}

	// No label value names the key, the job, an account or the account's
	// handle; the job labels hold their fixed sets only.
	secrets := []string{testKey, jobID, sandbox.MeID, sandbox.MeUsername}
	for id, handle := range targets {
		secrets = append(secrets, id, handle)
	}
	for _, s := range after {
		for l, v := range s.labels {
			for _, x := range secrets {
				if v == x || (len(x) > 2 && strings.Contains(strings.ToLower(v), strings.ToLower(x))) {
					t.Errorf("%s{%s=%q} holds %q", s.name, l, v, x)
				}
			}
		}
		var allowed []string
		switch s.name {
		case metrics.NameJobs:
			allowed = metrics.JobStatuses
		case metrics.NameJobItems:
			allowed = metrics.JobItemOutcomes
		default:
			continue
		}
		v := fmt.Sprint(s.labels["status"], s.labels["outcome"])
		if len(s.labels) != 1 || !(slices.Contains(allowed, v) || v == metrics.Other) {
			t.Errorf("%s has labels %v outside its fixed set", s.name, s.labels)
		}
	}
}
