package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// --- 7. HTTP mode ---

// httpServer is a server serving streamable HTTP, as a process.
type httpServer struct {
	name string
	url  string
	cmd  *exec.Cmd
	in   io.WriteCloser
}

// cpu is the process's CPU time so far (user and system), from
// /proc/PID/stat; -1 where that cannot be read.
func (s *httpServer) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 14th and 15th of the whole line.
	_, rest, ok := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(rest))
	if !ok || len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const hz = 100 // USER_HZ, 100 on Linux
	return time.Duration(ut+st) * time.Second / hz
}

func (s *httpServer) stop() {
	_ = s.in.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

var listeningURL = regexp.MustCompile(`url=(http://\S+/mcp)`)

// startHTTP starts bin and waits for the URL it serves: the floor prints it
// on stdout, xfollow-mcp logs it on stderr.
func startHTTP(name, bin string, args, env []string) (*httpServer, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 2)
	scan := func(r io.Reader, match func(string) string) {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u := match(sc.Text()); u != "" {
				found <- u
				break
			}
		}
		// Then only drain, as a host keeps reading the server's log: the
		// driver's own CPU would otherwise grow with our log lines, which
		// the floor does not write.
		_, _ = io.Copy(io.Discard, r)
	}
	go scan(out, func(line string) string {
		if strings.HasPrefix(line, "http://") {
			return strings.TrimSpace(line)
		}
		return ""
	})
	go scan(errPipe, func(line string) string {
		if m := listeningURL.FindStringSubmatch(line); m != nil {
			return m[1]
		}
		return ""
	})
	s := &httpServer{name: name, cmd: cmd, in: in}
	select {
	case s.url = <-found:
		return s, nil
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s: no URL within 10s", name)
	}
}

// mcpHTTPClient sends JSON-RPC requests to a stateless streamable HTTP MCP
// endpoint, as a host would, on keep-alive connections.
type mcpHTTPClient struct {
	hc   *http.Client
	next atomic.Int64
}

func newMCPHTTPClient() *mcpHTTPClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	return &mcpHTTPClient{hc: &http.Client{Transport: t, Timeout: 30 * time.Second}}
}

func (c *mcpHTTPClient) request(url, method string, params any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.next.Add(1), "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %s", method, res.StatusCode, raw)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		// The answer is the last data line of the stream.
		var last []byte
		for _, line := range bytes.Split(raw, []byte("\n")) {
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				last = bytes.TrimSpace(d)
			}
		}
		raw = last
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil || msg.Error != nil {
		return nil, fmt.Errorf("%s: %s", method, raw)
	}
	return msg.Result, nil
}

func (c *mcpHTTPClient) call(url string) error {
	res, err := c.request(url, "tools/call", map[string]any{"name": "unfollow_x_user", "arguments": map[string]any{"target_user_id": "2244994945"}})
	if err != nil {
		return err
	}
	var r struct {
		IsError bool `json:"isError"`
	}
	if json.Unmarshal(res, &r) != nil || r.IsError {
		return fmt.Errorf("tools/call: error result %s", res)
	}
	return nil
}

// httpLoad runs clients concurrent clients, each sending one tools/call
// after another, for d; it returns the calls completed per second and each
// call's latency.
func httpLoad(c *mcpHTTPClient, url string, clients int, d time.Duration) (float64, []time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := c.call(url); err != nil {
					failed.Store(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, nil, err
	}
	return float64(len(lat)) / time.Since(start).Seconds(), lat, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// httpMode measures tools/call over streamable HTTP at 1, 16 and 64
// concurrent clients, against the floor serving the same way and making
// the same POST, both against the gateway process.
func httpMode(ours, floor string, reps int, d time.Duration) ([]result, error) {
	gwURL, stopGW, err := startGateway(0)
	if err != nil {
		return nil, err
	}
	defer stopGW()
	env := []string{"AISA_API_KEY=bench", "AISA_BASE_URL=" + gwURL}
	o, err := startHTTP("ours", ours, append([]string{"--http", "127.0.0.1:0"}, ourArgs...), env)
	if err != nil {
		return nil, err
	}
	defer o.stop()
	f, err := startHTTP("floor", floor, []string{"-http", "127.0.0.1:0"}, env)
	if err != nil {
		return nil, err
	}
	defer f.stop()
	// Ours again with Go's default garbage collector target, as the floor
	// runs: what the code path alone costs, apart from the collector
	// settings the remote mode ships with (internal/cli/gc.go).
	g, err := startHTTP("ours at GOGC=100", ours, append([]string{"--http", "127.0.0.1:0"}, ourArgs...), append(env, "GOGC=100"))
	if err != nil {
		return nil, err
	}
	defer g.stop()
	c := newMCPHTTPClient()
	servers := []*httpServer{o, f, g}
	for _, s := range servers {
		if _, err := c.request(s.url, "initialize", map[string]any{
			"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
			"clientInfo": map[string]any{"name": "bench", "version": "0"},
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		// Warm up: connections, caches.
		if _, _, err := httpLoad(c, s.url, 64, 300*time.Millisecond); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var results []result
	for _, clients := range []int{1, 16, 64} {
		rps := make([][]float64, len(servers))
		lat := make([][]time.Duration, len(servers))
		// Each server's CPU time and calls over all runs: its CPU per call,
		// less at the mercy of the machine's load than the rate.
		cpu := make([]time.Duration, len(servers))
		calls := make([]float64, len(servers))
		for r := 0; r < reps; r++ {
			order := []int{0, 1, 2}
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			for _, j := range order {
				before := servers[j].cpu()
				n, l, err := httpLoad(c, servers[j].url, clients, d)
				if err != nil {
					return nil, fmt.Errorf("%s at %d clients: %w", servers[j].name, clients, err)
				}
				cpu[j] += servers[j].cpu() - before
				calls[j] += float64(len(l))
				rps[j] = append(rps[j], n)
				lat[j] = append(lat[j], l...)
			}
		}
		med := func(x []float64) float64 { s := slices.Clone(x); slices.Sort(s); return s[len(s)/2] }
		or, fr, gr := med(rps[0]), med(rps[1]), med(rps[2])
		perCall := func(j int) float64 { return float64(cpu[j]) / 1e3 / calls[j] }
		results = append(results, result{
			name: fmt.Sprintf("HTTP mode: tools/call unfollow_x_user, %d concurrent client(s), vs a bare mcp-go streamable HTTP server making the same POST", clients),
			figure: fmt.Sprintf("%.0f calls/s, p50 %s, p99 %s vs floor %.0f calls/s, p50 %s, p99 %s: **%.2fx** the floor's rate (runs: ours %s, floor %s calls/s); server CPU per call %.0f µs vs %.0f µs = %.2fx",
				or, us(percentile(lat[0], 0.5)), us(percentile(lat[0], 0.99)), fr, us(percentile(lat[1], 0.5)), us(percentile(lat[1], 0.99)),
				or/fr, rateList(rps[0]), rateList(rps[1]), perCall(0), perCall(1), perCall(0)/perCall(1)),
			target: ">= 0.95x the floor's rate",
			pass:   or >= 0.95*fr,
			note: fmt.Sprintf("%d runs of %s each, interleaved in random order; stateless; no token (loopback). With Go's default collector target (GOGC=100, as the floor runs): %.0f calls/s = %.2fx the floor's rate, server CPU per call %.0f µs = %.2fx (runs: %s)",
				reps, d, gr, gr/fr, perCall(2), perCall(2)/perCall(1), rateList(rps[2])),
		})
	}
	// The collector's target trades memory for CPU: say what it cost.
	hwm := func(s *httpServer) string {
		if kib := procStatus(s.cmd.Process.Pid, "VmHWM"); kib >= 0 {
			return mib(kib)
		}
		return "?"
	}
	peak := fmt.Sprintf("; peak resident over the whole measure: ours %s, ours at GOGC=100 %s, floor %s", hwm(o), hwm(g), hwm(f))
	for i := range results {
		results[i].note += peak
	}
	return results, nil
}

func rateList(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, "/")
}
