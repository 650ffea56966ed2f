package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/redistest"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

var metricsListeningRe = regexp.MustCompile(`msg="metrics listening" url=(http://\S+/metrics)`)

// metricsURL waits for the server to log where its metrics listener is.
func metricsURL(t *testing.T, stderr *lockedBuffer) string {
	t.Helper()
	var url string
	waitFor(t, "the metrics listener", func() bool {
		m := metricsListeningRe.FindStringSubmatch(stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return url
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMetricsOverStdio: the built binary with --metrics on stdio serves the
// scrape on a listener of its own, counts a write, labels the transport
// pipe, and holds no key or handle.
func TestMetricsOverStdio(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	p := start(t, gw, serverOpts{args: []string{"--metrics", "127.0.0.1:0"}})
	url := metricsURL(t, p.stderr)
	p.ok("unfollow_x_user", id("12"))
	p.ok("get_x_user", map[string]any{"username": "TwitterDev"})
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	for _, want := range []string{
		`xfollow_writes_total{outcome="ok",tool="unfollow_x_user"} 1`,
		`xfollow_writes_total{outcome="unknown",tool="unfollow_x_user"} 0`,
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="get_x_user",mcp_method_name="tools/call",mcp_protocol_version="2026-07-28",network_transport="pipe"} 1`,
		`process_resident_memory_bytes `,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	for _, leak := range []string{testKey, "TwitterDev", `"12"`} {
		if strings.Contains(body, leak) {
			t.Errorf("the scrape holds %q", leak)
		}
	}
	if code, _ := get(t, strings.TrimSuffix(url, "/metrics")+"/mcp"); code != 404 {
		t.Errorf("the metrics listener answers /mcp with %d, want 404", code)
	}
}

// TestMetricsOverHTTP: with --http the metrics are on their own port, never
// on the MCP one, and label the transport tcp.
func TestMetricsOverHTTP(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, sandbox.Options{})
	s := startHTTP(t, gw, serverOpts{args: []string{"--metrics", "127.0.0.1:0"}})
	url := metricsURL(t, s.stderr)
	if strings.HasPrefix(url, s.Base+"/") {
		t.Fatalf("metrics at %s share the MCP listener %s", url, s.Base)
	}
	s.connect(t, "", "", nil).ok("get_x_user", map[string]any{"username": "TwitterDev"})
	if code, _ := get(t, s.Base+"/metrics"); code == 200 {
		t.Error("the MCP port serves /metrics")
	}
	code, body := get(t, url)
	if code != 200 || !strings.Contains(body, `gen_ai_tool_name="get_x_user",mcp_method_name="tools/call",mcp_protocol_version="2026-07-28",network_transport="tcp"} 1`) {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
}

// TestMetricsStateStoreUp: xfollow_state_store_up follows a real Redis, and
// xfollow_journal_bytes the journal file.
func TestMetricsStateStoreUp(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	gw := newGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	p := start(t, gw, serverOpts{args: []string{"--metrics", "127.0.0.1:0", "--state", rs.URL(0), "--journal", journal}})
	url := metricsURL(t, p.stderr)
	p.ok("unfollow_x_user", id("12"))
	_, body := get(t, url)
	st, err := os.Stat(journal)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"xfollow_state_store_up 1\n", fmt.Sprintf("xfollow_journal_bytes %d\n", st.Size())} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	rs.Stop()
	if _, body := get(t, url); !strings.Contains(body, "xfollow_state_store_up 0\n") {
		t.Errorf("with Redis stopped the scrape says:\n%s", body)
	}
	p.fail("unfollow_x_user", id("783214"), "state_unavailable")
	_, body = get(t, url)
	for _, want := range []string{`xfollow_refusals_total{code="state_unavailable"} 1`, `xfollow_writes_total{outcome="refused",tool="unfollow_x_user"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("the scrape lacks %s", want)
		}
	}
}
