package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestListenAddrKeepsABarePortOnLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"9464":         "127.0.0.1:9464",
		":9464":        "127.0.0.1:9464",
		"0.0.0.0:9464": "0.0.0.0:9464",
		"[::]:9464":    "[::]:9464",
		"[::1]:0":      "[::1]:0",
		"metrics:9464": "metrics:9464",
	} {
		if got := ListenAddr(in); got != want {
			t.Errorf("ListenAddr(%q) = %q, want %q", in, got, want)
		}
	}
	ln, err := Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if host := ln.Addr().String(); !strings.HasPrefix(host, "127.0.0.1:") {
		t.Fatalf("a bare port listens on %s, want loopback", host)
	}
}

// TestNilIsOff: without --metrics every hook is a nil receiver and does
// nothing (no panic, no registry).
func TestNilIsOff(t *testing.T) {
	var m *Metrics
	m.Write("unfollow_x_user", "ok", "")
	m.JobItem("ok")
	m.JobsByStatus(func() map[string]int { return nil })
	m.JournalBytes(func() (int64, error) { return 0, nil })
	m.StateStore(nil)
	m.Operation("tools/call", "x", "", "", time.Second)
	rt := http.DefaultTransport
	if m.RoundTripper(rt) != rt {
		t.Fatal("a nil Metrics wraps the transport")
	}
}

// TestLabelValuesStayInTheirSets: values from outside (a method name, a
// tool name, a code, a status, a protocol version) never become a label
// value of their own.
func TestLabelValuesStayInTheirSets(t *testing.T) {
	m := New(Options{Tools: []string{"unfollow_x_user"}, WriteTools: []string{"unfollow_x_user"}, Transport: "tcp",
		ProtocolVersions: []string{"2025-11-25"}})
	m.Operation("tools/call", "sk-aisa-SECRET", "-32602", "2025-11-25", time.Millisecond)
	m.Operation("x/@jack", "unfollow_x_user", "-1", "1999-01-01", time.Millisecond)
	m.Operation("tools/list", "unfollow_x_user", "12345", "", time.Millisecond)
	m.Write("@jack", "ok", "")
	m.Write("unfollow_x_user", "refused", "Bad Code @jack")
	m.Write("unfollow_x_user", "refused", "budget_exhausted")
	m.JobItem("@jack")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := res.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	body := b.String()
	for _, leak := range []string{"SECRET", "jack", "x/", "12345", "1999", "Bad Code", `error_type="-1"`} {
		if strings.Contains(body, leak) {
			t.Errorf("the scrape holds %q", leak)
		}
	}
	for _, want := range []string{
		`mcp_server_operation_duration_seconds_count{error_type="-32602",gen_ai_tool_name="_OTHER",mcp_method_name="tools/call",mcp_protocol_version="2025-11-25",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="_OTHER",gen_ai_tool_name="",mcp_method_name="_OTHER",mcp_protocol_version="_OTHER",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="_OTHER",gen_ai_tool_name="",mcp_method_name="tools/list",mcp_protocol_version="",network_transport="tcp"} 1`,
		`xfollow_writes_total{outcome="ok",tool="_OTHER"} 1`,
		`xfollow_writes_total{outcome="refused",tool="unfollow_x_user"} 2`,
		`xfollow_writes_total{outcome="unknown",tool="unfollow_x_user"} 0`,
		`xfollow_refusals_total{code="_OTHER"} 1`,
		`xfollow_refusals_total{code="budget_exhausted"} 1`,
		`xfollow_budget_refusals_total 1`,
		`xfollow_job_items_total{outcome="_OTHER"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("the scrape lacks %s", want)
		}
	}
}
