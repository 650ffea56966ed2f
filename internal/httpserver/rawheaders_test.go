package httpserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// rawCall sends one tools/call as raw HTTP/1.1, with the header lines
// exactly as given (spelling, case and repeats included), and returns the
// status and body.
func rawCall(t *testing.T, url, tool string, headerLines ...string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := callBody(tool, nil)
	var b strings.Builder
	b.WriteString("POST " + MCPPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
	b.WriteString("Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	for _, l := range headerLines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// dumpHeaders is a tool that answers with every request header it sees.
func dumpHeaders(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var lines []string
	for k, vs := range req.Header {
		lines = append(lines, fmt.Sprintf("%s=%q", k, vs))
	}
	sort.Strings(lines)
	return mcp.NewToolResultText("headers: " + strings.Join(lines, " ")), nil
}

// The credential never reaches a tool, however the client spells the
// header that carries it; a second Authorization header is refused.
func TestCredentialNeverReachesToolsWhateverItsSpelling(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name   string
		o      Options
		secret string
	}{
		{"token", Options{Token: testToken}, testToken},
		{"key from request", Options{KeyFromRequest: true}, callerA},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t)
			f.mcp.AddTool(mcp.NewTool("dump_headers"), dumpHeaders)
			url, _ := serve(t, f, mode.o)
			for _, lines := range [][]string{
				{"Authorization: Bearer " + mode.secret},
				{"authorization: Bearer " + mode.secret},
				{"AUTHORIZATION: bearer " + mode.secret},
				{"aUtHoRiZaTiOn:Bearer    " + mode.secret},
				{"authorization: Bearer " + mode.secret, "X-Other: 1"},
			} {
				status, body := rawCall(t, url, "dump_headers", lines...)
				if status != http.StatusOK || !strings.Contains(body, "headers: ") {
					t.Fatalf("%q: %d %s", lines, status, body)
				}
				if strings.Contains(body, mode.secret) || strings.Contains(strings.ToLower(body), "authorization") {
					t.Fatalf("%q: the tool saw the credential: %s", lines, body)
				}
			}
			// Twice: refused, whatever the case of the second.
			for _, lines := range [][]string{
				{"Authorization: Bearer " + mode.secret, "authorization: Bearer " + mode.secret},
				{"Authorization: Bearer " + mode.secret, "Authorization: Bearer x"},
			} {
				if status, body := rawCall(t, url, "dump_headers", lines...); status != http.StatusUnauthorized {
					t.Fatalf("%q: two Authorization headers were not refused: %d %s", lines, status, body)
				}
			}
			// Spelled so that net/http may not take it as Authorization, or
			// folded: refused, or served without reaching the tool.
			for _, lines := range [][]string{
				{"Authorization : Bearer " + mode.secret},
				{"Authorization: Bearer " + mode.secret, "Authorization :Bearer " + mode.secret},
				{"Authorization: Bearer", " " + mode.secret}, // obs-fold
				{"Authorization\t: Bearer " + mode.secret},
			} {
				status, body := rawCall(t, url, "dump_headers", lines...)
				if status == http.StatusOK && (strings.Contains(body, mode.secret) || strings.Contains(strings.ToLower(body), "authorization")) {
					t.Fatalf("%q: the tool saw the credential: %d %s", lines, status, body)
				}
			}
		})
	}
}

// Proxy headers are refused without a token however they are spelled,
// empty values included.
func TestProxyHeadersRefusedWhateverTheirSpelling(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mcp.AddTool(mcp.NewTool("dump_headers"), dumpHeaders)
	url, _ := serve(t, f, Options{})
	for _, line := range []string{
		"x-forwarded-for: 192.0.2.1", "X-FORWARDED-FOR:", "x-forwarded-proto: https", "X-Forwarded-: x",
		"x-forwarded-anything:", "forwarded: for=1.2.3.4", "FORWARDED:", "via: 1.1 p", "Via:",
		"x-real-ip: 1.2.3.4", "X-REAL-IP:", "cf-connecting-ip: 1.2.3.4", "true-client-ip:", "x-client-ip: 1",
		"fastly-client-ip: 1", "x-cluster-client-ip: 1",
	} {
		status, body := rawCall(t, url, "dump_headers", line)
		if status != http.StatusUnauthorized {
			t.Fatalf("%q: %d %s", line, status, body)
		}
	}
	if status, body := rawCall(t, url, "dump_headers", "X-Other: 1"); status != http.StatusOK {
		t.Fatalf("a direct call was refused: %d %s", status, body)
	}
}
