package mcpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// metricsKey is recognisable so that the scrape can be searched for it.
const metricsKey = "sk-aisa-METRICSLEAK-5d1e0b"

// metricsServer is the real server with --metrics wiring (the tracer and
// hooks, the gate's counter, the gateway round tripper) on the sandbox,
// an in-process client, and the metrics listener on a loopback port.
type metricsServer struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	m      *metrics.Metrics
	client *client.Client
	url    string
}

func newMetricsServer(t *testing.T, gate *tools.Gate) *metricsServer {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	gw := httptest.NewServer(sb)
	t.Cleanup(gw.Close)
	m := metrics.New(metrics.Options{
		Tools: mcpserver.ToolNames(false), WriteTools: mcpserver.WriteToolNames(),
		Transport: "pipe", ProtocolVersions: mcp.ValidProtocolVersions,
	})
	c, err := aisa.New(aisa.Options{BaseURL: gw.URL + sandbox.BasePath, APIKey: metricsKey, Timeout: 2 * time.Second,
		MaxRetries: -1, Transport: m.RoundTripper(aisa.NewTransport())})
	if err != nil {
		t.Fatal(err)
	}
	gate.Metrics = m
	s := mcpserver.New(mcpserver.Options{Version: "test", Metrics: m},
		&tools.Deps{Client: c, Logger: slog.New(slog.DiscardHandler), Gate: gate})
	cl, err := client.NewInProcessClientWithOptions(s, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var ir mcp.InitializeRequest
	ir.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	ir.Params.ClientInfo = mcp.Implementation{Name: "metrics-test", Version: "0"}
	if _, err := cl.Initialize(ctx, ir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })

	ln, err := metrics.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- metrics.Serve(sctx, ln, m, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("metrics.Serve: %v", err)
		}
	})
	return &metricsServer{t: t, sb: sb, m: m, client: cl, url: "http://" + ln.Addr().String() + metrics.Path}
}

func (s *metricsServer) call(name, args string) (*mcp.CallToolResult, error) {
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = json.RawMessage(args)
	return s.client.CallTool(context.Background(), req)
}

// scrape GETs /metrics and returns the body and its parsed families.
func (s *metricsServer) scrape() (string, map[string]*dto.MetricFamily) {
	s.t.Helper()
	res, err := http.Get(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		s.t.Fatalf("GET /metrics: %d %s", res.StatusCode, raw)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		s.t.Fatalf("the scrape does not parse: %v", err)
	}
	return string(raw), fams
}

// runEveryOutcome makes writes end in each outcome, a JSON-RPC error, a
// tool error, and calls with unknown tool names.
func runEveryOutcome(t *testing.T) (*metricsServer, string) {
	path := t.TempDir() + "/journal.jsonl"
	j, err := safety.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	gate := &tools.Gate{
		Account:   sandbox.MeUsername,
		Protected: map[string]bool{"12": true},
		Budget:    safety.NewBudget(nil, safety.Window{Limit: 2, Span: 15 * time.Minute}),
		Journal:   j,
	}
	s := newMetricsServer(t, gate)
	unfollow := func(id string) *mcp.CallToolResult {
		t.Helper()
		r, err := s.call("unfollow_x_user", `{"target_user_id":"`+id+`"}`)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := unfollow("2244994945"); r.IsError { // ok (slot 1 of 2)
		t.Fatalf("ok: %v", r.Content)
	}
	s.sb.FailNext("/twitter/unfollow_twitter", 422, `{"error":{"code":"invalid_request","message":"no"}}`, nil)
	if r := unfollow("783214"); !r.IsError { // failed: the gateway said no (slot given back)
		t.Fatal("failed: no error")
	}
	if r := unfollow("1500000000000000002"); r.IsError { // noop: not followed
		t.Fatalf("noop: %v", r.Content)
	}
	if r := unfollow("12"); !r.IsError { // refused: protected
		t.Fatal("refused: no error")
	}
	s.sb.FailNext("/twitter/unfollow_twitter", 502, `{}`, nil)
	if r := unfollow("11348282"); !r.IsError { // unknown: may have happened (slot 2 of 2)
		t.Fatal("unknown: no error")
	}
	if r := unfollow("17" + strings.Repeat("0", 16) + "1"); !r.IsError { // refused: budget
		t.Fatal("budget: no error")
	}
	if r, err := s.call("follow_x_user", `{"target_user_id":"2244994945"}`); err != nil || r.IsError {
		t.Fatalf("follow: %v %v", r, err)
	}
	if r, err := s.call("get_x_user", `{"username":"TwitterDev"}`); err != nil || r.IsError {
		t.Fatalf("get_x_user: %v %v", r, err)
	}
	// A tool name a client made up: a JSON-RPC error, and no new label value.
	if _, err := s.call("unfollow_"+metricsKey, `{}`); err == nil {
		t.Fatal("an unknown tool was called")
	}
	if _, err := s.client.ListTools(context.Background(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestMetricsScrapeAfterEveryOutcome(t *testing.T) {
	s, journal := runEveryOutcome(t)
	s.m.JournalBytes(func() (int64, error) {
		st, err := os.Stat(journal)
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	})
	s.m.StateStore(func(context.Context) error { return nil })
	s.m.JobsByStatus(func() map[string]int { return map[string]int{"running": 2, "made_up": 1} })
	s.m.JobItem("ok")
	s.m.JobItem("made_up")
	_, fams := s.scrape()

	writes := map[string]float64{}
	for _, mt := range family(t, fams, metrics.NameWrites).Metric {
		l := labels(mt)
		if !slices.Contains(mcpserver.WriteToolNames(), l["tool"]) {
			t.Errorf("xfollow_writes_total has tool=%q, not a write tool", l["tool"])
		}
		if !slices.Contains(metrics.Outcomes, l["outcome"]) {
			t.Errorf("xfollow_writes_total has outcome=%q", l["outcome"])
		}
		writes[l["tool"]+"/"+l["outcome"]] = mt.GetCounter().GetValue()
	}
	want := map[string]float64{
		"unfollow_x_user/ok": 1, "unfollow_x_user/failed": 1, "unfollow_x_user/noop": 1,
		"unfollow_x_user/refused": 2, "unfollow_x_user/unknown": 1,
		"follow_x_user/ok": 1, "follow_x_user/failed": 0, "unfollow_x_users/unknown": 0,
	}
	for k, v := range want {
		if got, ok := writes[k]; !ok || got != v {
			t.Errorf("xfollow_writes_total{%s} = %v (present %v), want %v", k, got, ok, v)
		}
	}
	refusals := map[string]float64{}
	for _, mt := range family(t, fams, metrics.NameRefusals).Metric {
		refusals[labels(mt)["code"]] = mt.GetCounter().GetValue()
	}
	if refusals[tools.CodeProtectedAccount] != 1 || refusals[tools.CodeBudgetExhausted] != 1 || len(refusals) != 2 {
		t.Errorf("xfollow_refusals_total = %v", refusals)
	}
	if v := family(t, fams, metrics.NameBudgetRefusals).Metric[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("xfollow_budget_refusals_total = %v", v)
	}

	ops := map[string]uint64{}
	for _, mt := range family(t, fams, metrics.NameOperationDuration).Metric {
		l := labels(mt)
		if len(l) != 5 {
			t.Errorf("operation labels = %v", l)
		}
		if l["network_transport"] != "pipe" || (l["mcp_protocol_version"] != "2025-11-25") {
			t.Errorf("operation labels = %v", l)
		}
		ops[l["mcp_method_name"]+"|"+l["gen_ai_tool_name"]+"|"+l["error_type"]] += mt.GetHistogram().GetSampleCount()
		if b := mt.GetHistogram().GetBucket(); len(b) < len(metrics.OperationBuckets) || b[0].GetUpperBound() != 0.01 || b[len(metrics.OperationBuckets)-1].GetUpperBound() != 300 {
			t.Errorf("operation buckets: %v", b)
		}
	}
	for k, n := range map[string]uint64{
		"initialize||":                          1,
		"tools/list||":                          1,
		"tools/call|unfollow_x_user|":           2, // ok, noop
		"tools/call|unfollow_x_user|tool_error": 4,
		"tools/call|follow_x_user|":             1,
		"tools/call|get_x_user|":                1,
		"tools/call|_OTHER|-32602":              1,
	} {
		if ops[k] != n {
			t.Errorf("operations %q = %d, want %d (all: %v)", k, ops[k], n, ops)
		}
	}

	client := map[string]uint64{}
	for _, mt := range family(t, fams, metrics.NameHTTPClientDuration).Metric {
		l := labels(mt)
		if host, _, err := net.SplitHostPort(l["server_address"]); err != nil || host != "127.0.0.1" {
			t.Errorf("server_address = %q", l["server_address"])
		}
		client[l["http_request_method"]+" "+l["http_response_status_code"]+" "+l["error_type"]] += mt.GetHistogram().GetSampleCount()
	}
	if client["POST 200 "] < 2 || client["POST 422 "] != 1 || client["POST 502 502"] != 1 || client["GET 200 "] < 1 {
		t.Errorf("http client requests = %v", client)
	}

	if v := family(t, fams, metrics.NameJournalBytes).Metric[0].GetGauge().GetValue(); v < 100 {
		t.Errorf("xfollow_journal_bytes = %v", v)
	}
	if v := family(t, fams, metrics.NameStateStoreUp).Metric[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("xfollow_state_store_up = %v", v)
	}
	jobs := map[string]float64{}
	for _, mt := range family(t, fams, metrics.NameJobs).Metric {
		jobs[labels(mt)["status"]] = mt.GetGauge().GetValue()
	}
	if jobs["running"] != 2 || jobs[metrics.Other] != 1 || jobs["paused"] != 0 || len(jobs) != len(metrics.JobStatuses)+1 {
		t.Errorf("xfollow_jobs = %v", jobs)
	}
	items := map[string]float64{}
	for _, mt := range family(t, fams, metrics.NameJobItems).Metric {
		items[labels(mt)["outcome"]] = mt.GetCounter().GetValue()
	}
	if items["ok"] != 1 || items[metrics.Other] != 1 || len(items) != 2 {
		t.Errorf("xfollow_job_items_total = %v", items)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s is missing: the Go and process collectors are registered", name)
		}
	}

	// Every label value of every family is from a fixed set.
	codes := readmeErrorCodes(t)
	for name, f := range fams {
		for _, mt := range f.Metric {
			for k, v := range labels(mt) {
				if !boundedValue(k, v, codes) {
					t.Errorf("%s has %s=%q, outside the label's fixed set", name, k, v)
				}
			}
		}
	}
}

// boundedValue reports whether v is one of label k's documented values.
func boundedValue(k, v string, codes map[string]bool) bool {
	switch k {
	case "mcp_method_name":
		return v == metrics.Other || slices.Contains(metrics.Methods, v)
	case "gen_ai_tool_name", "tool":
		return v == "" || v == metrics.Other || slices.Contains(mcpserver.ToolNames(false), v)
	case "error_type":
		return regexp.MustCompile(`^(|tool_error|timeout|canceled|transport|_OTHER|-32[0-9]{3}|[1-5][0-9]{2})$`).MatchString(v)
	case "mcp_protocol_version":
		return v == "" || v == metrics.Other || slices.Contains(mcp.ValidProtocolVersions, v)
	case "network_transport":
		return v == "pipe" || v == "tcp"
	case "server_address":
		return regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`).MatchString(v)
	case "http_request_method":
		return regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH|HEAD|_OTHER)$`).MatchString(v)
	case "http_response_status_code":
		return regexp.MustCompile(`^(|[1-5][0-9]{2})$`).MatchString(v)
	case "outcome":
		return v == metrics.Other || slices.Contains(metrics.Outcomes, v) || slices.Contains(metrics.JobItemOutcomes, v)
	case "status":
		return v == metrics.Other || slices.Contains(metrics.JobStatuses, v)
	case "code":
		return codes[v] || v == metrics.Other
	case "le", "quantile", "version": // histogram buckets, go_info
		return true
	}
	return false
}

// TestMetricsLeakNothing: no key, key fingerprint, handle or id appears
// anywhere in the scrape, in a label or elsewhere.
func TestMetricsLeakNothing(t *testing.T) {
	s, _ := runEveryOutcome(t)
	body, _ := s.scrape()
	for _, secret := range []string{
		metricsKey, "METRICSLEAK", aisa.KeyFingerprint(metricsKey),
		"TwitterDev", sandbox.MeUsername, "2244994945", "783214", "11348282", "1500000000000000002",
		"/twitter/", "unfollow_twitter",
	} {
		if strings.Contains(body, secret) {
			t.Errorf("the scrape holds %q", secret)
		}
	}
}

// TestMetricsTableMatchesScrape: the README's Metrics table lists exactly
// the metrics the server exposes (besides the Go and process collectors),
// with their labels.
func TestMetricsTableMatchesScrape(t *testing.T) {
	s, _ := runEveryOutcome(t)
	s.m.JournalBytes(func() (int64, error) { return 1, nil })
	s.m.StateStore(func(context.Context) error { return nil })
	s.m.JobsByStatus(func() map[string]int { return nil })
	s.m.JobItem("ok")
	_, fams := s.scrape()
	table := readmeMetrics(t)
	seen := map[string]bool{}
	for name, f := range fams {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		seen[name] = true
		want, ok := table[name]
		if !ok {
			t.Errorf("%s is served but not in the README's Metrics table", name)
			continue
		}
		got := map[string]bool{}
		for _, mt := range f.Metric {
			for k := range labels(mt) {
				if k != "le" {
					got[k] = true
				}
			}
		}
		if g := strings.Join(sortedKeys(got), ","); g != strings.Join(want, ",") {
			t.Errorf("%s labels: served %q, README %q", name, g, strings.Join(want, ","))
		}
	}
	for name := range table {
		if !seen[name] {
			t.Errorf("the README's Metrics table lists %s, which is not served", name)
		}
	}
}

func family(t *testing.T, fams map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.Metric) == 0 {
		t.Fatalf("%s is not in the scrape", name)
	}
	return f
}

func labels(mt *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range mt.Label {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func readme(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// readmeMetrics reads the Metrics table: | `name` | type | `l1`, `l2` | meaning |.
func readmeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	_, sec, ok := strings.Cut(readme(t), "\n### Metrics\n")
	if !ok {
		t.Fatal("README.md has no ### Metrics section")
	}
	sec, _, _ = strings.Cut(sec, "\n#")
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| [a-z]+ \\|([^|]*)\\|")
	name := regexp.MustCompile("`([a-z_]+)`")
	out := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		var ls []string
		for _, l := range name.FindAllStringSubmatch(m[2], -1) {
			ls = append(ls, l[1])
		}
		sort.Strings(ls)
		out[m[1]] = ls
	}
	if len(out) == 0 {
		t.Fatal("README.md's Metrics table has no rows")
	}
	return out
}

// readmeErrorCodes are the codes of the README's Errors table.
func readmeErrorCodes(t *testing.T) map[string]bool {
	t.Helper()
	_, sec, ok := strings.Cut(readme(t), "\n## Errors\n")
	if !ok {
		t.Fatal("README.md has no ## Errors section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	codes := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(sec, -1) {
		codes[m[1]] = true
	}
	return codes
}
