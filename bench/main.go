// Command bench measures xfollow-mcp's start-up, call overhead, concurrency,
// memory, batch speed and the candidate finder's reads against floors taken
// in the same run, prints a table and writes docs/BENCHMARKS.md.
//
//	go run ./bench            # full run, about a minute
//	go run ./bench -quick     # fewer repetitions, for a smoke test
//	go run ./bench -only finder  # one or more measures; printed, not written
//
// Every figure is a median over repeated runs; every comparison is a ratio
// of figures taken in this run, since absolute times move between machines.
// All traffic stays on loopback: the gateway is the project's sandbox.
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

//go:embed notes.md
var notes string

func main() {
	quick := flag.Bool("quick", false, "fewer repetitions (smoke test; figures are noisier)")
	out := flag.String("out", "docs/BENCHMARKS.md", "where to write the report ('' to skip)")
	only := flag.String("only", "", "run only these measures, comma-separated: "+strings.Join(measureNames, ",")+
		" (the report is then only printed, unless -out is given)")
	bin := flag.String("bin", "", "build the binaries into this folder and keep them (to profile them, e.g. with perf, which needs the files); default: a temporary folder")
	flag.Parse()
	if *only != "" {
		outSet := false
		flag.Visit(func(f *flag.Flag) { outSet = outSet || f.Name == "out" })
		if !outSet {
			*out = ""
		}
		for _, m := range strings.Split(*only, ",") {
			if !slices.Contains(measureNames, m) {
				fmt.Fprintf(os.Stderr, "bench: no measure %q; there are %s\n", m, strings.Join(measureNames, ", "))
				os.Exit(2)
			}
		}
	}
	if err := run(*quick, *out, *only, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name, figure, target string
	pass                 bool
	note                 string
}

// measureNames are the measures, in the order they run.
var measureNames = []string{"cold", "calls", "metrics", "conc", "mem", "batch", "finder", "http", "journal", "jobs"}

func run(quick bool, out, only, dir string) error {
	reps := map[string]int{"cold": 201, "calls": 4000, "metrics": 4000, "conc": 11, "mem": 10000, "batch": 7, "finder": 7, "http": 15, "journal": 21}
	if quick {
		reps = map[string]int{"cold": 5, "calls": 300, "metrics": 300, "conc": 3, "mem": 2000, "batch": 3, "finder": 3, "http": 1, "journal": 5}
	}
	want := func(name string) bool { return only == "" || slices.Contains(strings.Split(only, ","), name) }
	if dir == "" {
		tmp, err := os.MkdirTemp("", "xfollow-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ours := filepath.Join(dir, "xfollow-mcp")
	floor := filepath.Join(dir, "floor")
	gatewayBin = filepath.Join(dir, "gateway")
	for bin, pkg := range map[string]string{ours: ".", floor: "./bench/floor", gatewayBin: "./bench/gateway"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", pkg, err)
		}
	}

	loadBefore := loadavg()
	var results []result
	steps := []struct {
		name, title string
		run         func() ([]result, error)
	}{
		{"cold", "cold start", func() ([]result, error) { r, err := coldStart(ours, floor, reps["cold"]); return []result{r}, err }},
		{"calls", "call overhead", func() ([]result, error) { return callOverhead(ours, floor, reps["calls"]) }},
		{"metrics", "metrics on against off", func() ([]result, error) { return metricsOverhead(ours, reps["metrics"]) }},
		{"conc", "concurrency", func() ([]result, error) { r, err := concurrency(ours, floor, reps["conc"]); return []result{r}, err }},
		{"mem", "memory", func() ([]result, error) { return memory(ours, reps["mem"]) }},
		{"batch", "batch", func() ([]result, error) { r, err := batch(ours, reps["batch"]); return []result{r}, err }},
		{"finder", "candidate finder", func() ([]result, error) { return finder(ours, reps["finder"]) }},
		{"http", "HTTP mode", func() ([]result, error) { return httpMode(ours, floor, reps["http"], time.Second) }},
		{"journal", "journal start", func() ([]result, error) { return journalStart(ours, reps["journal"]) }},
		{"jobs", "clean-up jobs", func() ([]result, error) {
			r, err := jobsPace(ours)
			if err != nil {
				return nil, err
			}
			m, err := jobsMemory(ours)
			return append(r, m...), err
		}},
	}
	for i, st := range steps {
		if !want(st.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "%d/%d %s\n", i+1, len(steps), st.title)
		r, err := st.run()
		if err != nil {
			return err
		}
		results = append(results, r...)
	}

	table := renderTable(results)
	load := fmt.Sprintf("load average (1, 5, 15 min) %s at the start, %s at the end", loadBefore, loadavg())
	fmt.Println(table)
	fmt.Println(load)
	if out != "" {
		if err := os.WriteFile(out, []byte(report(table, load, quick)), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "wrote", out)
	}
	return nil
}

// ourArgs lifts the unfollow budget (0 means no limit) so that thousands of
// calls can be measured; everything else is the default configuration.
var ourArgs = []string{"--max-unfollows-per-15m", "0", "--max-unfollows-per-day", "0"}

func gateway(o sandbox.Options) (*httptest.Server, string) {
	o.UnfollowLimit = -1
	srv := httptest.NewServer(sandbox.New(o))
	return srv, srv.URL + sandbox.BasePath
}

// --- a minimal JSON-RPC stdio driver (the same for both servers) ---

type proc struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	mu      sync.Mutex
	wmu     sync.Mutex
	pending map[int64]chan reply
	next    atomic.Int64
	done    chan struct{}
}

// reply is a response's result (nil for a JSON-RPC error) and when its line
// was read, before it was decoded.
type reply struct {
	result  json.RawMessage
	arrived time.Time
}

func spawn(bin string, args, env []string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, in: in, pending: map[int64]chan reply{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(outPipe)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			arrived := time.Now()
			var msg struct {
				ID     *int64          `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if json.Unmarshal(sc.Bytes(), &msg) != nil || msg.ID == nil {
				continue // notifications
			}
			p.mu.Lock()
			ch := p.pending[*msg.ID]
			delete(p.pending, *msg.ID)
			p.mu.Unlock()
			if ch != nil {
				if msg.Error != nil {
					ch <- reply{arrived: arrived}
				} else {
					ch <- reply{result: append(json.RawMessage(nil), msg.Result...), arrived: arrived}
				}
			}
		}
	}()
	return p, nil
}

func (p *proc) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.in.Write(append(b, '\n'))
	return err
}

func (p *proc) request(method string, params any) (json.RawMessage, error) {
	r, err := p.requestReply(method, params)
	return r.result, err
}

// requestReply sends a request and waits for its reply.
func (p *proc) requestReply(method string, params any) (reply, error) {
	id := p.next.Add(1)
	ch := make(chan reply, 1)
	p.mu.Lock()
	p.pending[id] = ch
	p.mu.Unlock()
	if err := p.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}); err != nil {
		return reply{}, err
	}
	select {
	case r := <-ch:
		if r.result == nil {
			return r, fmt.Errorf("%s: JSON-RPC error", method)
		}
		return r, nil
	case <-p.done:
		return reply{}, fmt.Errorf("%s: server exited", method)
	case <-time.After(30 * time.Second):
		return reply{}, fmt.Errorf("%s: no answer in 30s", method)
	}
}

func (p *proc) initialize() error {
	_, err := p.request("initialize", map[string]any{
		"protocolVersion": "2025-11-25",
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "bench", "version": "0"},
	})
	if err != nil {
		return err
	}
	return p.send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
}

// callResult runs a tool call and returns its structuredContent.
func (p *proc) callResult(tool string, args any) (json.RawMessage, error) {
	res, err := p.request("tools/call", map[string]any{"name": tool, "arguments": args})
	if err != nil {
		return nil, err
	}
	var r struct {
		IsError    bool            `json:"isError"`
		Structured json.RawMessage `json:"structuredContent"`
	}
	if json.Unmarshal(res, &r) != nil || r.IsError {
		return nil, fmt.Errorf("%s: error result %s", tool, res)
	}
	return r.Structured, nil
}

func (p *proc) call(tool string, args any) error {
	res, err := p.request("tools/call", map[string]any{"name": tool, "arguments": args})
	if err != nil {
		return err
	}
	var r struct {
		IsError bool `json:"isError"`
	}
	if json.Unmarshal(res, &r) != nil || r.IsError {
		return fmt.Errorf("%s: error result %s", tool, res)
	}
	return nil
}

func (p *proc) close() {
	_ = p.in.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
	}
	_ = p.cmd.Wait()
}

func (p *proc) rssKiB() int { return p.status("VmRSS") }

// status reads a kB figure from the process's /proc status (-1 without it).
func (p *proc) status(field string) int { return procStatus(p.cmd.Process.Pid, field) }

// procStatus reads a field of /proc/PID/status, in kB; -1 where it cannot.
func procStatus(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return -1
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// --- 1. cold start ---

func coldStart(ours, floor string, n int) (result, error) {
	_, url := gateway(sandbox.Options{})
	env := []string{"AISA_API_KEY=bench", "AISA_BASE_URL=" + url}
	// The floor again, listing our tools with their schemas: what the
	// length of the list costs in mcp-go, apart from anything we do.
	list, err := exec.Command(ours, "tools").Output()
	if err != nil {
		return result{}, fmt.Errorf("%s tools: %w", ours, err)
	}
	listFile := filepath.Join(filepath.Dir(ours), "tools.json")
	if err := os.WriteFile(listFile, list, 0o644); err != nil {
		return result{}, err
	}
	once := func(bin string, args []string) (time.Duration, error) {
		start := time.Now()
		p, err := spawn(bin, args, env)
		if err != nil {
			return 0, err
		}
		defer p.close()
		if err := p.initialize(); err != nil {
			return 0, err
		}
		r, err := p.requestReply("tools/list", map[string]any{})
		if err != nil {
			return 0, err
		}
		// Answered when its last byte is read: decoding it is the host's
		// work, at its JSON parser's speed, not the server's.
		return r.arrived.Sub(start), nil
	}
	// Interleaved in random order, so that drift in the machine's load, and
	// whatever the spawn that comes first in a round pays, hit all alike.
	spawns := []struct {
		bin  string
		args []string
	}{{ours, ourArgs}, {floor, nil}, {floor, []string{"-tools", listFile}}}
	samples := make([][]time.Duration, len(spawns))
	rng := rand.New(rand.NewPCG(3, 4))
	order := []int{0, 1, 2}
	for i := 0; i < n; i++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, j := range order {
			d, err := once(spawns[j].bin, spawns[j].args)
			if err != nil {
				return result{}, err
			}
			samples[j] = append(samples[j], d)
		}
	}
	a, b, c := samples[0], samples[1], samples[2]
	ma, mb, mc := median(a), median(b), median(c)
	ratio := float64(ma) / float64(mb)
	lo, hi := spread(5, n, func(i, j int) float64 { return float64(median(a[i:j])) / float64(median(b[i:j])) })
	return result{
		name: "cold start: spawn, initialize, tools/list",
		figure: fmt.Sprintf("%s vs floor %s = **%.2fx** (ratio in 5 blocks of the run: %.2fx to %.2fx); the floor listing our tools %s = %.2fx the floor, and ours is %.2fx that",
			ms(ma), ms(mb), ratio, lo, hi, ms(mc), float64(mc)/float64(mb), float64(ma)/float64(mc)),
		target: "<= 1.05x the bare mcp-go floor",
		pass:   ratio <= 1.05,
		note:   fmt.Sprintf("median of %d spawns each, interleaved in random order", n),
	}, nil
}

// --- 2. call overhead ---

// gatewayBin is bench/gateway, built by run: a trivial gateway that answers
// unfollows, started as a process of its own.
var gatewayBin string

// startGateway starts bench/gateway and returns its base URL and a stop
// function. The gateway exits by itself when its stdin closes.
func startGateway(latency time.Duration) (string, func(), error) {
	cmd := exec.Command(gatewayBin, "-latency", latency.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = in.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("gateway: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// startServer spawns bin against url and initializes it.
func startServer(bin string, args []string, url string) (*proc, error) {
	p, err := spawn(bin, args, []string{"AISA_API_KEY=bench", "AISA_BASE_URL=" + url})
	if err != nil {
		return nil, err
	}
	if err := p.initialize(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// interleave runs each op n times, in a fresh random order every round, so
// that drift in the machine's load hits every op alike, after warm rounds
// that are not timed. It returns each op's samples.
func interleave(ops []func() error, warm, n int) ([][]time.Duration, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	samples := make([][]time.Duration, len(ops))
	for i := 0; i < warm+n; i++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, j := range order {
			start := time.Now()
			if err := ops[j](); err != nil {
				return nil, err
			}
			if i >= warm {
				samples[j] = append(samples[j], time.Since(start))
			}
		}
	}
	return samples, nil
}

// spread splits interleaved samples into blocks of consecutive rounds and
// returns the lowest and highest ratio of block medians f(block) over the
// run: how much the ratio moves within the run.
func spread(blocks int, n int, f func(lo, hi int) float64) (float64, float64) {
	lo, hi := 0.0, 0.0
	for b := 0; b < blocks; b++ {
		r := f(b*n/blocks, (b+1)*n/blocks)
		if b == 0 || r < lo {
			lo = r
		}
		if b == 0 || r > hi {
			hi = r
		}
	}
	return lo, hi
}

func callOverhead(ours, floor string, n int) ([]result, error) {
	gwURL, stopGW, err := startGateway(0)
	if err != nil {
		return nil, err
	}
	defer stopGW()
	srv, url := gateway(sandbox.Options{})
	defer srv.Close()
	// The fair pair: both servers against the gateway process.
	p, err := startServer(ours, ourArgs, gwURL)
	if err != nil {
		return nil, err
	}
	defer p.close()
	f, err := startServer(floor, nil, gwURL)
	if err != nil {
		return nil, err
	}
	defer f.close()
	// The older figure: our server against the sandbox, in this process,
	// and the floor's echo. Each server process serves one kind of call,
	// once a round, so that none is kept warmer than another.
	ps, err := startServer(ours, ourArgs, url)
	if err != nil {
		return nil, err
	}
	defer ps.close()
	fe, err := startServer(floor, nil, url)
	if err != nil {
		return nil, err
	}
	defer fe.close()
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	body := []byte(`{"target_user_id":"2244994945","aisa_api_key":"bench"}`)
	httpPost := func() error {
		req, _ := http.NewRequest(http.MethodPost, url+"/twitter/unfollow_twitter", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench")
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	args := map[string]any{"target_user_id": "2244994945"}
	echo := map[string]any{"text": "2244994945"}
	ops := []func() error{
		func() error { return p.call("unfollow_x_user", args) },
		func() error { return f.call("unfollow_x_user", args) },
		func() error { return ps.call("unfollow_x_user", args) },
		httpPost,
		func() error { return fe.call("echo", echo) },
	}
	samples, err := interleave(ops, 200, n)
	if err != nil {
		return nil, err
	}
	med := func(j, lo, hi int) time.Duration { return median(samples[j][lo:hi]) }
	fair := func(lo, hi int) float64 { return float64(med(0, lo, hi)) / float64(med(1, lo, hi)) }
	old := func(lo, hi int) float64 {
		return float64(med(2, lo, hi)) / float64(med(3, lo, hi)+med(4, lo, hi))
	}
	ratio, oldRatio := fair(0, n), old(0, n)
	flo, fhi := spread(10, n, fair)
	olo, ohi := spread(10, n, old)
	ourMed, floorMed := median(samples[0]), median(samples[1])
	return []result{{
		name: "call: tools/call unfollow_x_user vs a bare mcp-go server making the same POST (gateway in its own process)",
		figure: fmt.Sprintf("%s vs floor %s = **%.2fx** (ratio in 10 blocks of the run: %.2fx to %.2fx)",
			us(ourMed), us(floorMed), ratio, flo, fhi),
		target: "<= 1.0x the bare server making the same POST",
		pass:   ratio <= 1.0,
		note:   fmt.Sprintf("median of %d sequential calls each, interleaved in random order", n),
	}, {
		name: "call overhead (older measure): tools/call unfollow_x_user, sandbox gateway in the driver's process",
		figure: fmt.Sprintf("%s vs HTTP floor %s + mcp-go echo floor %s = %.2fx (10 blocks: %.2fx to %.2fx)",
			us(median(samples[2])), us(median(samples[3])), us(median(samples[4])), oldRatio, olo, ohi),
		target: "<= 1.5x (HTTP floor + mcp-go floor)",
		pass:   oldRatio <= 1.5,
		note:   fmt.Sprintf("the same run, %d calls each", n),
	}}, nil
}

// --- 3. concurrency ---

func concurrency(ours, floor string, reps int) (result, error) {
	const total, inFlight = 200, 50
	const latency = 50 * time.Millisecond
	url, stop, err := startGateway(latency)
	if err != nil {
		return result{}, err
	}
	defer stop()
	p, err := startServer(ours, ourArgs, url)
	if err != nil {
		return result{}, err
	}
	defer p.close()
	// The floor with the same worker pool as ours (mcp-go's default of 5
	// would serve 50 calls in 10 waves).
	f, err := startServer(floor, []string{"-workers", "64"}, url)
	if err != nil {
		return result{}, err
	}
	defer f.close()
	ideal := time.Duration((total+inFlight-1)/inFlight) * latency
	burst := func(p *proc) (time.Duration, error) {
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		var failed atomic.Int32
		start := time.Now()
		for i := 0; i < total; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := p.call("unfollow_x_user", map[string]any{"target_user_id": "2244994945"}); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			return 0, errors.New("concurrency: calls failed")
		}
		return time.Since(start), nil
	}
	// A warm-up burst each, then runs interleaved.
	var runs, floorRuns []time.Duration
	for r := -1; r < reps; r++ {
		a, err := burst(p)
		if err != nil {
			return result{}, err
		}
		b, err := burst(f)
		if err != nil {
			return result{}, err
		}
		if r >= 0 {
			runs, floorRuns = append(runs, a), append(floorRuns, b)
		}
	}
	m, fm := median(runs), median(floorRuns)
	eff, feff := float64(ideal)/float64(m), float64(ideal)/float64(fm)
	worst, best := float64(ideal)/float64(slices.Max(runs)), float64(ideal)/float64(slices.Min(runs))
	return result{
		name: "concurrency: 200 calls, 50 in flight, gateway (its own process) answers in 50 ms",
		figure: fmt.Sprintf("%s vs ideal %s = **%.0f%%** of the ideal rate (%.0f calls/s; runs from %.0f%% to %.0f%%); the bare server with 64 workers %s = %.0f%%",
			ms(m), ms(ideal), eff*100, float64(total)/m.Seconds(), worst*100, best*100, ms(fm), feff*100),
		target: ">= 93% of the ideal rate",
		pass:   eff >= 0.93,
		note:   fmt.Sprintf("median of %d runs each, interleaved; stdio worker pool 64 (--workers)", reps),
	}, nil
}

// --- 4. memory ---

func memory(ours string, n int) ([]result, error) {
	url, stop, err := startGateway(0)
	if err != nil {
		return nil, err
	}
	defer stop()
	p, err := startServer(ours, ourArgs, url)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if _, err := p.request("tools/list", map[string]any{}); err != nil {
		return nil, err
	}
	time.Sleep(200 * time.Millisecond)
	idle := p.rssKiB()
	if idle < 0 {
		return []result{{name: "memory", figure: "not measured: no /proc on this OS", target: "< 20 MiB after 10,000 calls"}}, nil
	}
	const workers = 8
	var samples []int
	step := n / 10
	for done := 0; done < n; done += step {
		var wg sync.WaitGroup
		var failed atomic.Int32
		per := step / workers
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					if err := p.call("unfollow_x_user", map[string]any{"target_user_id": "2244994945"}); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			return nil, errors.New("memory: calls failed")
		}
		samples = append(samples, p.rssKiB())
	}
	final := samples[len(samples)-1]
	anon, file := p.status("RssAnon"), p.status("RssFile")
	// Trend: the least-squares slope of the samples, as growth over the run.
	growth := int(slope(samples) * float64(len(samples)-1))
	flat := growth <= 1024 // under 1 MiB over the whole run
	return []result{
		{
			name:   "memory: resident set idle, then after the calls",
			figure: fmt.Sprintf("idle %s; after %d calls %s (%s anonymous: heap and stacks; %s mapped from the binary and libc)", mib(idle), n, mib(final), mib(anon), mib(file)),
			target: "< 20 MiB after 10,000 calls",
			pass:   final < 20<<10,
			note:   fmt.Sprintf("VmRSS, %d calls from %d concurrent callers", n, workers),
		},
		{
			name:   "memory: growth trend across the run",
			figure: fmt.Sprintf("samples every %d calls (MiB): %s; fitted trend %s over the run", step, mibList(samples), mib(growth)),
			target: "no growth trend (fitted trend under 1 MiB over the run)",
			pass:   flat,
		},
	}, nil
}

// slope is the least-squares slope of ys against their index.
func slope(ys []int) float64 {
	n := float64(len(ys))
	var sx, sy, sxx, sxy float64
	for i, y := range ys {
		x := float64(i)
		sx += x
		sy += float64(y)
		sxx += x * x
		sxy += x * float64(y)
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// --- 5. batch ---

func batch(ours string, reps int) (result, error) {
	srv, url := gateway(sandbox.Options{})
	defer srv.Close()
	p, err := spawn(ours, ourArgs, []string{"AISA_API_KEY=bench", "AISA_BASE_URL=" + url})
	if err != nil {
		return result{}, err
	}
	defer p.close()
	if err := p.initialize(); err != nil {
		return result{}, err
	}
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("17%017d", i+1)
	}
	var one, many []time.Duration
	for r := 0; r < reps; r++ {
		start := time.Now()
		if err := p.call("unfollow_x_users", map[string]any{"target_user_ids": ids}); err != nil {
			return result{}, err
		}
		one = append(one, time.Since(start))
		start = time.Now()
		for _, id := range ids {
			if err := p.call("unfollow_x_user", map[string]any{"target_user_id": id}); err != nil {
				return result{}, err
			}
		}
		many = append(many, time.Since(start))
	}
	mo, mm := median(one), median(many)
	return result{
		name:   "batch: 50 unfollows as one unfollow_x_users vs 50 unfollow_x_user calls",
		figure: fmt.Sprintf("%s vs %s: the batch takes %.2fx the time of single calls", ms(mo), ms(mm), float64(mo)/float64(mm)),
		target: "reported (no target set)",
		pass:   true,
		note:   fmt.Sprintf("median of %d runs; sandbox rate limit off; single calls sent one after another", reps),
	}, nil
}

// --- 6. candidate finder ---

// finder measures find_x_unfollow_candidates on the sandbox's big graph: a
// complete scan, with the reads it makes against the fewest list pages any
// exact answer needs, and the same call again answered from the cache.
func finder(ours string, reps int) ([]result, error) {
	sb := sandbox.New(sandbox.Options{UnfollowLimit: -1})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	p, err := spawn(ours, ourArgs, []string{"AISA_API_KEY=bench", "AISA_BASE_URL=" + srv.URL + sandbox.BasePath})
	if err != nil {
		return nil, err
	}
	defer p.close()
	if err := p.initialize(); err != nil {
		return nil, err
	}
	scan := map[string]any{"username": sandbox.BigUsername, "max_following": 20000, "limit": 1000, "refresh": true}
	cached := map[string]any{"username": sandbox.BigUsername, "max_following": 20000, "limit": 1000}
	want := len(sandbox.BigNonFollowers())
	type outcome struct {
		Candidates   []any `json:"candidates"`
		Complete     bool  `json:"complete"`
		GatewayCalls int   `json:"gateway_calls"`
	}
	once := func(args map[string]any) (time.Duration, outcome, int, error) {
		before := len(sb.Requests())
		start := time.Now()
		raw, err := p.callResult("find_x_unfollow_candidates", args)
		d := time.Since(start)
		var o outcome
		if err == nil {
			err = json.Unmarshal(raw, &o)
		}
		if err == nil && (!o.Complete || len(o.Candidates) != want) {
			err = fmt.Errorf("finder: complete %v with %d candidates; want %d", o.Complete, len(o.Candidates), want)
		}
		return d, o, len(sb.Requests()) - before, err
	}
	var scans, hits []time.Duration
	var reads, sent, cachedReads int
	for r := 0; r < reps; r++ {
		d, o, n, err := once(scan)
		if err != nil {
			return nil, err
		}
		scans, reads, sent = append(scans, d), o.GatewayCalls, n
		d, o, n, err = once(cached)
		if err != nil {
			return nil, err
		}
		hits, cachedReads = append(hits, d), o.GatewayCalls+n
	}
	pages := func(n int) int { return (n + 199) / 200 }
	followingPages, followerPages := pages(sandbox.BigFollowingCount), pages(sandbox.BigFollowerCount())
	floor := followingPages + followerPages
	return []result{{
		name: "candidate finder: complete scan of @xfollow_big (3,000 followings, 3,729 followers, 771 candidates)",
		figure: fmt.Sprintf("%s; %d gateway reads (the gateway saw %d) vs the lower bound of %d list pages (%d followings + %d followers) = %.2fx; the same call again from the cache %s with %d reads",
			ms(median(scans)), reads, sent, floor, followingPages, followerPages, float64(reads)/float64(floor), ms(median(hits)), cachedReads),
		target: "reads within a small constant of the list pages needed",
		pass:   reads == sent && reads <= floor+1 && cachedReads == 0,
		note:   fmt.Sprintf("median of %d scans, each with refresh; the one extra read is the user lookup that chooses the way to read", reps),
	}}, nil
}

// --- output ---

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
func mib(kib int) string        { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func mibList(kibs []int) string {
	var s []string
	for _, k := range kibs {
		s = append(s, fmt.Sprintf("%.1f", float64(k)/1024))
	}
	return strings.Join(s, " ")
}

func renderTable(rs []result) string {
	var b strings.Builder
	b.WriteString("| measure | figure | target | met |\n|---|---|---|---|\n")
	for _, r := range rs {
		met := "yes"
		if !r.pass {
			met = "**no**"
		}
		fig := r.figure
		if r.note != "" {
			fig += " (" + r.note + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.name, fig, r.target, met)
	}
	return b.String()
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				mem = fmt.Sprintf(", %.0f GiB RAM", float64(n)/(1<<20))
			}
		}
	}
	kernel := ""
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kernel = ", " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d cores%s%s, %s %s/%s", cpu, runtime.NumCPU(), mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadavg is the machine's load average, as uptime shows it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func report(table, load string, quick bool) string {
	cmd := "go run ./bench"
	if quick {
		cmd += " -quick"
	}
	return fmt.Sprintf(`# Benchmarks

Written by `+"`%s`"+` on %s.

Machine: %s; %s.

Every figure is a median over repeated runs, and every comparison is a ratio of figures taken in the same run,
interleaved in random order; the spread is the lowest and highest ratio over blocks of consecutive rounds of that run.
The floor is `+"`bench/floor`"+`, a bare mcp-go stdio server built by the benchmark from the same mcp-go version, whose
`+"`unfollow_x_user`"+` makes exactly the request xfollow-mcp makes (same path, headers and JSON body, keep-alive client,
JSON answer decoded and returned as structuredContent) and checks nothing. Call, concurrency, memory and HTTP figures
use `+"`bench/gateway`"+`, a trivial gateway on loopback in a process of its own; the older call measure, batch and finder
use the project's sandbox in the driver's process. The unfollow budget is lifted with its flags
(`+"`--max-unfollows-per-15m 0 --max-unfollows-per-day 0`"+`); everything else is the default configuration, logging
included. Each server is driven by the same minimal JSON-RPC client over its stdin and stdout, at protocol 2025-11-25.

%s
%s`, cmd, time.Now().UTC().Format("2006-01-02"), machine(), load, table, notes)
}
