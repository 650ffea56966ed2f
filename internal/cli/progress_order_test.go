package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/httpserver"
)

// lineRecorder keeps stdout's lines in the order they arrive.
type lineRecorder struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
}

func (r *lineRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(p)
	for {
		i := bytes.IndexByte(r.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		r.lines = append(r.lines, string(r.buf.Next(i+1)))
	}
	return len(p), nil
}

func (r *lineRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

const initLine = `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"order-test","version":"1"}}}`

// progressCall is a call that sends many progress notifications: the
// finder over the big sandbox account, and a batch.
func progressCall(id int) string {
	if id%2 == 0 {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"find_x_unfollow_candidates","arguments":{"username":"xfollow_big","limit":5},"_meta":{"progressToken":"tok-%d"}}}`, id, id)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"unfollow_x_users","arguments":{"target_user_ids":["1","2","3","4","5","6"]},"_meta":{"progressToken":"tok-%d"}}}`, id, id)
}

// checkOrder: for each call, every progress notification of its token came
// before its response, and the response is a result, not a cancellation.
func checkOrder(t *testing.T, transport string, msgs []map[string]any, ids []int) {
	t.Helper()
	answered := map[string]bool{}
	progress := map[string]int{}
	for _, m := range msgs {
		if m["method"] == "notifications/progress" {
			tok, _ := m["params"].(map[string]any)["progressToken"].(string)
			id := strings.TrimPrefix(tok, "tok-")
			if answered[id] {
				t.Fatalf("%s: progress of call %s arrived after its response: %v", transport, id, m)
			}
			progress[id]++
			continue
		}
		if id, ok := m["id"].(float64); ok {
			key := fmt.Sprint(int(id))
			answered[key] = true
			res, _ := m["result"].(map[string]any)
			if res == nil || res["isError"] == true {
				t.Fatalf("%s: call %s did not succeed: %v", transport, key, m)
			}
		}
	}
	for _, id := range ids {
		key := fmt.Sprint(id)
		if !answered[key] || progress[key] == 0 {
			t.Fatalf("%s: call %s: answered %v, %d progress notifications", transport, key, answered[key], progress[key])
		}
	}
}

// TestProgressNeverFollowsTheResponseOverStdio: over stdio, with the input
// closed right after the calls (as a pipe does), each call finishes and
// every one of its progress notifications is on stdout before its response.
func TestProgressNeverFollowsTheResponseOverStdio(t *testing.T) {
	var in strings.Builder
	in.WriteString(initLine + "\n" + `{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")
	var ids []int
	for id := 1; id <= 12; id++ {
		in.WriteString(progressCall(id) + "\n")
		ids = append(ids, id)
	}
	out := &lineRecorder{}
	var errb bytes.Buffer
	code := Run(context.Background(), IO{
		Args: []string{"--sandbox", "--max-unfollows-per-15m", "0", "--max-unfollows-per-day", "0"}, Stdin: strings.NewReader(in.String()), Stdout: out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Version: "v0",
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var msgs []map[string]any
	for _, l := range out.snapshot() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %q", l)
		}
		msgs = append(msgs, m)
	}
	checkOrder(t, "stdio", msgs, ids)
}

// TestPipedCallFinishes: one call piped in, input closed at once: its
// answer, not a cancellation.
func TestPipedCallFinishes(t *testing.T) {
	in := initLine + "\n" + `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_x_user","arguments":{"username":"jack"}}}` + "\n"
	out := &lineRecorder{}
	code := Run(context.Background(), IO{Args: []string{"--sandbox"}, Stdin: strings.NewReader(in), Stdout: out, Stderr: io.Discard,
		Getenv: func(string) string { return "" }, Version: "v0"})
	lines := out.snapshot()
	// initialize and the call are served concurrently: either may come first.
	answer := ""
	for _, l := range lines {
		if strings.HasPrefix(l, `{"jsonrpc":"2.0","id":7,`) {
			answer = l
		}
	}
	if code != 0 || len(lines) != 2 || !strings.Contains(answer, `\"username\":\"jack\"`) {
		t.Fatalf("exit %d, stdout %q", code, lines)
	}
}

// TestProgressNeverFollowsTheResponseOverHTTP: over streamable HTTP each
// call's notifications and its response come on its POST's event stream,
// the response last.
func TestProgressNeverFollowsTheResponseOverHTTP(t *testing.T) {
	parser := config.NewParser("xfollow-mcp", func(string) string { return "" }, io.Discard)
	if _, err := parser.Parse([]string{"--sandbox", "--max-unfollows-per-15m", "0", "--max-unfollows-per-day", "0"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := parser.Config()
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(cfg, "v0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv := httptest.NewServer(httpserver.New(a.server, httpserver.Options{}))
	defer srv.Close()
	post := func(body string) []map[string]any {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var msgs []map[string]any
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Text()
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok && strings.HasPrefix(line, "{") {
				data, ok = line, true
			}
			if !ok {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatalf("event is not JSON: %q", data)
			}
			msgs = append(msgs, m)
		}
		return msgs
	}
	post(initLine)
	var wg sync.WaitGroup
	for id := 1; id <= 8; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := post(progressCall(id))
			if len(msgs) == 0 || msgs[len(msgs)-1]["id"] != float64(id) {
				t.Errorf("http call %d: the response is not the stream's last message: %v", id, len(msgs))
				return
			}
			checkOrder(t, "http", msgs, []int{id})
		}()
	}
	wg.Wait()
}

// TestPipedLastLineWithoutNewline: input that ends without a newline (echo
// -n, printf, a client killed mid-write) still gets an answer: the call
// when its message is whole, a parse error when it was cut short. Neither
// is passed over in silence.
func TestPipedLastLineWithoutNewline(t *testing.T) {
	for _, tc := range []struct{ name, last, want string }{
		{"whole", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_x_user","arguments":{"username":"jack"}}}`, `{"jsonrpc":"2.0","id":7,"result":`},
		{"cut short", `{"jsonrpc":"2.0","id":7,"method":"tools/ca`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &lineRecorder{}
			Run(context.Background(), IO{Args: []string{"--sandbox"}, Stdin: strings.NewReader(initLine + "\n" + tc.last), Stdout: out, Stderr: io.Discard,
				Getenv: func(string) string { return "" }, Version: "v0"})
			lines := out.snapshot()
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l, tc.want)
			}
			if !found {
				t.Fatalf("no answer %s... to the last line; stdout %q", tc.want, lines)
			}
		})
	}
}
