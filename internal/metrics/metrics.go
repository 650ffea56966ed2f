// Package metrics is xfollow-mcp's Prometheus metrics (--metrics). The
// names follow the OpenTelemetry MCP and HTTP conventions as Prometheus
// spells them, plus the product's own xfollow_* counters; the README's
// Metrics table is the contract, and a test holds the scrape to it.
//
// Metrics observe; they never decide. A nil *Metrics is the "off" state:
// every method is a nil check and nothing else, so a server without
// --metrics registers nothing and pays nothing.
//
// Every label value comes from a fixed set (method names, tool names,
// outcomes, error codes, protocol versions, HTTP statuses): never a key, a
// key fingerprint, a handle, an id or an argument.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Metric names: the contract the README's Metrics table documents.
const (
	NameOperationDuration  = "mcp_server_operation_duration_seconds"
	NameHTTPClientDuration = "http_client_request_duration_seconds"
	NameWrites             = "xfollow_writes_total"
	NameRefusals           = "xfollow_refusals_total"
	NameBudgetRefusals     = "xfollow_budget_refusals_total"
	NameJournalBytes       = "xfollow_journal_bytes"
	NameStateStoreUp       = "xfollow_state_store_up"
	NameJobs               = "xfollow_jobs"
	NameJobItems           = "xfollow_job_items_total"
)

// Other is the label value for anything outside a label's fixed set (an
// unknown tool name a client sent, a method mcp-go added later).
const Other = "_OTHER"

// Buckets of the operation histogram, in seconds: the conventions' 10 ms to
// 300 s (a batch of unfollows with retries can take minutes).
var OperationBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// ClientBuckets are the gateway-call histogram's buckets, in seconds (one
// attempt is bounded by --timeout, 20 s by default).
var ClientBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}

// Write outcomes, as the journal names them.
var Outcomes = []string{"ok", "noop", "refused", "failed", "unknown"}

// JobStatuses are the jobs' statuses (xfollow_jobs{status}).
var JobStatuses = []string{"scheduled", "running", "waiting_budget", "waiting_rate_limit", "waiting_state", "paused", "needs_link", "completed", "cancelled", "failed"}

// JobItemOutcomes are a job item's outcomes (xfollow_job_items_total{outcome}).
var JobItemOutcomes = []string{"ok", "unknown", "follows_back", "not_following", "protected", "gone", "failed", "cancelled"}

// Methods are the MCP methods given their own mcp_method_name value.
var Methods = []string{
	"initialize", "ping", "server/discover", "tools/list", "tools/call",
	"prompts/list", "prompts/get", "resources/list", "resources/templates/list",
	"resources/read", "resources/subscribe", "resources/unsubscribe",
	"logging/setLevel", "completion/complete", "subscriptions/listen",
	"tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
}

// Options are what a Metrics needs to know about the server.
type Options struct {
	// Tools are the registered tool names; any other gen_ai_tool_name
	// becomes Other.
	Tools []string
	// WriteTools are the tools that write: their xfollow_writes_total
	// series start at 0.
	WriteTools []string
	// Transport is network_transport: "pipe" (stdio) or "tcp" (--http).
	Transport string
	// ProtocolVersions are the MCP versions the server knows; any other
	// becomes Other.
	ProtocolVersions []string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Metrics holds the registry and every instrument. nil means off.
type Metrics struct {
	reg       *prometheus.Registry
	now       func() time.Time
	transport string
	tools     map[string]bool
	versions  map[string]bool
	methods   map[string]bool

	operation      *prometheus.HistogramVec
	client         *prometheus.HistogramVec
	writes         *prometheus.CounterVec
	refusals       *prometheus.CounterVec
	budgetRefusals prometheus.Counter
	jobItems       *prometheus.CounterVec

	jobsOnce sync.Once
}

// New registers every instrument on a registry of its own, with the Go and
// process collectors.
func New(o Options) *Metrics {
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		now:       o.Now,
		transport: o.Transport,
		tools:     set(o.Tools),
		versions:  set(o.ProtocolVersions),
		methods:   set(Methods),
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.operation = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameOperationDuration,
		Help:    "Duration of MCP requests the server handled (OpenTelemetry mcp.server.operation.duration).",
		Buckets: OperationBuckets,
	}, []string{"mcp_method_name", "gen_ai_tool_name", "error_type", "mcp_protocol_version", "network_transport"})
	m.client = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameHTTPClientDuration,
		Help:    "Duration of each HTTP attempt to the AIsa gateway, retries counted apart (OpenTelemetry http.client.request.duration).",
		Buckets: ClientBuckets,
	}, []string{"server_address", "http_request_method", "http_response_status_code", "error_type"})
	m.writes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameWrites,
		Help: "Writes (follows and unfollows, one per account) by tool and outcome: ok, noop, refused, failed, unknown.",
	}, []string{"tool", "outcome"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameRefusals,
		Help: "Writes a safety control refused, by error code.",
	}, []string{"code"})
	m.budgetRefusals = prometheus.NewCounter(prometheus.CounterOpts{
		Name: NameBudgetRefusals,
		Help: "Unfollows refused because the unfollow budget was used up.",
	})
	m.jobItems = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameJobItems,
		Help: "Job items settled, by outcome.",
	}, []string{"outcome"})
	m.reg.MustRegister(m.operation, m.client, m.writes, m.refusals, m.budgetRefusals, m.jobItems,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Every outcome's series exists from the start at 0, so that an alert
	// on rate(...{outcome="unknown"}) has a series before the first one.
	for _, t := range o.WriteTools {
		if !m.tools[t] {
			continue
		}
		for _, out := range Outcomes {
			m.writes.WithLabelValues(t, out)
		}
	}
	return m
}

func set(list []string) map[string]bool {
	s := make(map[string]bool, len(list))
	for _, v := range list {
		s[v] = true
	}
	return s
}

// Registry is the registry the handler serves (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Write counts one write's outcome and, for a refusal, its code. tool is
// a registered tool's name (Other otherwise); outcome one of Outcomes.
func (m *Metrics) Write(tool, outcome, code string) {
	if m == nil {
		return
	}
	if !m.tools[tool] {
		tool = Other
	}
	if !oneOf(outcome, Outcomes) {
		outcome = Other
	}
	m.writes.WithLabelValues(tool, outcome).Inc()
	if outcome == "refused" {
		m.refusals.WithLabelValues(codeLabel(code)).Inc()
		if code == "budget_exhausted" {
			m.budgetRefusals.Inc()
		}
	}
}

// JobItem counts one job item settled with outcome (one of
// JobItemOutcomes; anything else counts as Other). The jobs runner calls it
// once per item, when the item's outcome is final.
func (m *Metrics) JobItem(outcome string) {
	if m == nil {
		return
	}
	if !oneOf(outcome, JobItemOutcomes) {
		outcome = Other
	}
	m.jobItems.WithLabelValues(outcome).Inc()
}

// JobsByStatus registers xfollow_jobs{status}: at each scrape it calls count,
// which returns how many jobs are in each status (statuses outside
// JobStatuses are summed under Other; every known status is reported, 0
// when absent). The jobs code calls it once at start; later calls are
// ignored. count must be quick and safe for concurrent use.
func (m *Metrics) JobsByStatus(count func() map[string]int) {
	if m == nil || count == nil {
		return
	}
	m.jobsOnce.Do(func() {
		m.reg.MustRegister(&jobsCollector{count: count, desc: prometheus.NewDesc(NameJobs,
			"Jobs by status.", []string{"status"}, nil)})
	})
}

type jobsCollector struct {
	count func() map[string]int
	desc  *prometheus.Desc
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	byStatus := map[string]int{}
	for _, s := range JobStatuses {
		byStatus[s] = 0
	}
	for s, n := range c.count() {
		if !oneOf(s, JobStatuses) {
			s = Other
		}
		byStatus[s] += n
	}
	for s, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), s)
	}
}

// JournalBytes registers xfollow_journal_bytes, read at each scrape from
// size (the journal file's size; an error reports nothing).
func (m *Metrics) JournalBytes(size func() (int64, error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&funcCollector{
		desc: prometheus.NewDesc(NameJournalBytes, "Size of the write journal in bytes.", nil, nil),
		read: func() (float64, bool) {
			n, err := size()
			return float64(n), err == nil
		},
	})
}

// StateStoreTimeout bounds the state store's probe at each scrape.
const StateStoreTimeout = time.Second

// StateStore registers xfollow_state_store_up: 1 when ping answers within
// StateStoreTimeout at the scrape, else 0.
func (m *Metrics) StateStore(ping func(context.Context) error) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&funcCollector{
		desc: prometheus.NewDesc(NameStateStoreUp, "Whether the shared state store (--state) answers the budget's probe: 1 up, 0 down.", nil, nil),
		read: func() (float64, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), StateStoreTimeout)
			defer cancel()
			if ping(ctx) != nil {
				return 0, true
			}
			return 1, true
		},
	})
}

type funcCollector struct {
	desc *prometheus.Desc
	read func() (float64, bool)
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	if v, ok := c.read(); ok {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
	}
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// codeLabel keeps an error code as it is when it has a code's shape
// (lower-case letters and _, at most 40): codes are constants in the
// source, never input. Anything else is Other.
func codeLabel(code string) string {
	if code == "" || len(code) > 40 {
		return Other
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; (c < 'a' || c > 'z') && c != '_' {
			return Other
		}
	}
	return code
}

// Listen opens the metrics listener on addr. A bare port (":9464" or
// "9464") listens on loopback only: another interface must be named
// (0.0.0.0:9464), as in a container whose scraper comes from outside.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", ListenAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %v", addr, err)
	}
	return ln, nil
}

// ListenAddr is the address Listen uses for addr.
func ListenAddr(addr string) string {
	if _, err := strconv.Atoi(addr); err == nil {
		return "127.0.0.1:" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err == nil && host == "" {
		return "127.0.0.1:" + port
	}
	return addr
}

// Serve serves m at Path on ln until ctx ends. It serves nothing else: the
// MCP endpoint is never on this listener.
func Serve(ctx context.Context, ln net.Listener, m *Metrics, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("--metrics: %v", err)
}

// Error types of an MCP operation besides a JSON-RPC error code.
const (
	ErrorTypeTool = "tool_error" // a tools/call answered with isError: true
)

// Operation records one MCP request the server handled: its method, the
// tool (tools/call only), the error type ("" on success, ErrorTypeTool, or
// the JSON-RPC error code), the protocol version in force, and how long it
// took.
func (m *Metrics) Operation(method, tool, errorType, version string, d time.Duration) {
	if m == nil {
		return
	}
	if !m.methods[method] {
		method = Other
	}
	if method != "tools/call" {
		tool = ""
	} else if !m.tools[tool] {
		tool = Other
	}
	if version != "" && !m.versions[version] {
		version = Other
	}
	m.operation.WithLabelValues(method, tool, errorTypeLabel(errorType), version, m.transport).Observe(d.Seconds())
}

// errorTypeLabel keeps "", ErrorTypeTool and a JSON-RPC error code in the
// range the specification reserves (-32768 to -32000); anything else is
// Other.
func errorTypeLabel(s string) string {
	if s == "" || s == ErrorTypeTool {
		return s
	}
	if n, err := strconv.Atoi(s); err == nil && n >= -32768 && n <= -32000 && strconv.Itoa(n) == s {
		return s
	}
	return Other
}

// Since is the time elapsed since start on the metrics' clock.
func (m *Metrics) Since(start time.Time) time.Duration { return m.now().Sub(start) }

// Now is the metrics' clock.
func (m *Metrics) Now() time.Time { return m.now() }
