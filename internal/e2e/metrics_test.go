package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

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
