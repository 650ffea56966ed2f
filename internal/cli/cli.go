// Package cli is xfollow-mcp's command line: serving MCP on stdio, and the
// human entry points (tools, call, undo) over the same server.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/clock"
	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/internal/mcpserver"
	"github.com/xfollow-mcp/xfollow-mcp/internal/metrics"
	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// IO is the process's environment, passed in so that tests can run the
// command line in-process.
type IO struct {
	Args    []string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Getenv  func(string) string
	Version string // from -ldflags; empty means "read the build info"
	// Release is the version in the source tree's VERSION file (embedded
	// by main): what an unstamped build without VCS information reports,
	// as Release-devel, rather than a bare "devel".
	Release string
}

const usageText = `xfollow-mcp: an MCP server that manages who your X account follows, through the AIsa gateway.

Usage:
  xfollow-mcp [flags]                       serve MCP on stdio (what an MCP host runs)
  xfollow-mcp --http 127.0.0.1:8080 [flags] serve MCP over streamable HTTP at /mcp instead
  xfollow-mcp [flags] tools                 print the tool list as JSON
  xfollow-mcp [flags] call TOOL 'JSON'      run one tool call and print its result
  xfollow-mcp [flags] undo --journal PATH --since 2h [--dry-run]
                                            re-follow what the journal shows was unfollowed
                                            (--dry-run lists it and sends nothing)
  xfollow-mcp [flags] undo --journal PATH --job ID
                                            start a paced job re-following what a clean-up job unfollowed
  xfollow-mcp --journal PATH jobs [show|pause|resume|cancel ID]
                                            list or steer the clean-up jobs in the journal
  xfollow-mcp --journal PATH worker         run clean-up jobs without serving MCP (an always-on service)
Environment:
  AISA_API_KEY    your AIsa API key (required outside --sandbox; never a flag)
  AISA_BASE_URL   gateway base URL (default ` + aisa.DefaultBaseURL + `)
  XFOLLOW_HTTP_TOKEN  with --http: the bearer token every request must carry (never a flag)

Flags (each also read from the environment variable named after it; a flag wins over its variable):
`

// usageHint ends every complaint about the command line.
const usageHint = "run xfollow-mcp --help for usage"

// Run runs the command line and returns the exit code.
func Run(ctx context.Context, p IO) int {
	sink := newLogSink(p.Stderr)
	defer sink.Close()
	p.Stderr = sink
	version := resolveVersion(p.Version, p.Release)
	parser := config.NewParser("xfollow-mcp", p.Getenv, p.Stderr)
	pos, err := parser.Parse(p.Args)
	if errors.Is(err, flag.ErrHelp) || (err == nil && len(pos) > 0 && (pos[0] == "help")) {
		// Asked for: the usage goes to stdout, once, and it is not an error.
		fmt.Fprint(p.Stdout, usageText)
		parser.PrintFlags(p.Stdout)
		return 0
	}
	if err != nil {
		return usageErr(p, "%v", err)
	}
	cfg, err := parser.Config()
	if cfg.Version {
		fmt.Fprintf(p.Stdout, "xfollow-mcp %s\n", version)
		return 0
	}
	if err != nil {
		// One line per bad setting, each naming the flag or the variable.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(p.Stderr, "xfollow-mcp: %s\n", line)
		}
		fmt.Fprintln(p.Stderr, usageHint)
		return 2
	}
	cfg.Journal = config.ExpandHome(cfg.Journal, os.UserHomeDir)
	cmd := ""
	if len(pos) > 0 {
		cmd = pos[0]
		pos = pos[1:]
	}
	level := cfg.LogLevel
	if cmd != "" && cmd != "serve" && !logLevelSet(parser, p.Getenv) {
		// A person at a terminal wants the result, not the server's info lines.
		level = slog.LevelWarn
	}
	logger := slog.New(sink.handler(level))
	// A key put among the arguments (a host config's args, say) is never
	// printed back in a usage error: stderr ends up in the host's logs.
	for i, a := range append([]string{cmd}, pos...) {
		if looksLikeKey(a) && (cmd != "call" || i != 2) {
			return usageErr(p, "an AIsa API key was given as an argument (not shown here); the key is read from the environment variable AISA_API_KEY only: take it out of the command line (or the host config's args) and set AISA_API_KEY instead")
		}
	}
	switch cmd {
	case "", "serve":
		if len(pos) > 0 {
			return usageErr(p, "unexpected arguments: %s", strings.Join(pos, " "))
		}
	case "tools":
		if len(pos) > 0 {
			return usageErr(p, "tools takes no arguments")
		}
	case "call":
		if len(pos) < 1 || len(pos) > 2 {
			return usageErr(p, "call needs a tool name and, optionally, its arguments as one JSON object: call unfollow_x_user '{\"target_user_id\":\"2244994945\"}'")
		}
	case "jobs", "worker":
		if cfg.Journal == "" {
			return usageErr(p, "%s needs --journal PATH (jobs live in the journal)", cmd)
		}
		if cmd == "worker" && len(pos) > 0 {
			return usageErr(p, "worker takes flags only")
		}
		cfg.Confirm = false // nobody to ask at a terminal or in a service
	case "undo":
		if len(pos) > 0 {
			return usageErr(p, "undo takes flags only: undo --journal PATH --since 2h [--dry-run]")
		}
		if cfg.Journal != "" && parser.UndoJob() != "" {
			cfg.Confirm = false
			break
		}
		if cfg.Journal == "" || parser.UndoSince() == 0 {
			return usageErr(p, "undo needs --journal PATH and --since, how far back to look, such as 2h or 30m")
		}
		if parser.UndoSince() < 0 {
			return usageErr(p, "--since=%s: how far back to look must be positive, such as 2h or 30m", parser.UndoSince())
		}
		// Undo reads an existing journal; a mistyped path must not become a
		// new empty journal and a cheerful "nothing to undo".
		if _, err := os.Stat(cfg.Journal); err != nil {
			fmt.Fprintf(p.Stderr, "xfollow-mcp: undo: journal %s cannot be read: %v; check the path (nothing was created)\n", cfg.Journal, causeOf(err))
			return 1
		}
		// The person runs undo by hand: there is nobody to confirm to.
		cfg.Confirm = false
	case "version":
		return usageErr(p, "unknown command \"version\"; did you mean --version?")
	default:
		if m := didYouMean(cmd, commands); m != "" {
			return usageErr(p, "unknown command %q; did you mean %s?", cmd, m)
		}
		return usageErr(p, "unknown command %q", cmd)
	}

	if cmd != "" && cmd != "serve" {
		// Metrics are served while the server serves; a one-shot command
		// has nothing to be scraped for.
		cfg.Metrics = ""
	}
	app, err := build(cfg, version, logger)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	defer app.close()

	switch cmd {
	case "tools":
		return app.printTools(ctx, p)
	case "call":
		args := "{}"
		if len(pos) == 2 {
			args = pos[1]
		}
		return app.callOnce(ctx, p, pos[0], args)
	case "undo":
		if parser.UndoJob() != "" {
			return app.undoJob(ctx, p, parser.UndoJob())
		}
		return app.undo(ctx, p, parser.UndoSince(), parser.UndoKeyFingerprint())
	case "jobs":
		return app.jobsCmd(p, pos)
	case "worker":
		return app.worker(ctx, p)
	}
	return app.serve(ctx, p, logger)
}

// looksLikeKey reports whether s holds what looks like an AIsa API key.
func looksLikeKey(s string) bool { return strings.Contains(strings.ToLower(s), "sk-aisa-") }

func usageErr(p IO, format string, a ...any) int {
	fmt.Fprintf(p.Stderr, "xfollow-mcp: "+format+"\n"+usageHint+"\n", a...)
	return 2
}

func logLevelSet(p *config.Parser, getenv func(string) string) bool {
	set := getenv("XFOLLOW_LOG_LEVEL") != ""
	p.FlagSet().Visit(func(f *flag.Flag) {
		if f.Name == "log-level" {
			set = true
		}
	})
	return set
}

// resolveVersion is the version stamped at build time (-X main.version) or,
// for an unstamped build, what the Go toolchain recorded in the binary.
func resolveVersion(v, release string) string {
	if v != "" {
		return v
	}
	bi, _ := debug.ReadBuildInfo()
	return versionFromBuildInfo(bi, release)
}

// versionFromBuildInfo makes a version from the build information: the
// module version ("v1.2.3" from go install ...@v1.2.3, a pseudo-version
// from go build in a clone) or "devel" (release-devel when the source's
// VERSION is known, so that a build with VCS stamping off still says which
// release it is near), then the VCS revision when the module version does
// not already carry it, then "-dirty" when the checkout had uncommitted
// changes (Go's own "+dirty" is kept as it is).
func versionFromBuildInfo(bi *debug.BuildInfo, release string) string {
	devel := "devel"
	if release != "" {
		devel = release + "-devel"
	}
	if bi == nil {
		return devel
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = devel
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && !strings.Contains(v, rev) {
		v += "-" + rev
	}
	if modified && !strings.HasSuffix(v, "+dirty") {
		v += "-dirty"
	}
	return v
}

// app is a built server and what it holds open.
type app struct {
	cfg     config.Config
	version string
	server  *server.MCPServer
	deps    *tools.Deps
	sandbox *sandbox.Server
	journal *safety.Journal
	state   *safety.RedisBudget // with --state: the shared budget's store
	metrics *metrics.Metrics    // with --metrics; nil otherwise
	logger  *slog.Logger
	clk     clock.Clock
	jobs    *tools.JobDeps // nil without a journal
}

func (a *app) close() {
	if a.journal != nil {
		_ = a.journal.Close()
	}
	if a.sandbox != nil {
		_ = a.sandbox.Close()
	}
	if a.state != nil {
		_ = a.state.Close()
	}
}

// sandboxState is where the sandbox keeps its follow graph between runs:
// --sandbox-state, or beside the journal; "" keeps it in this process only.
func sandboxState(cfg config.Config) string {
	if cfg.SandboxState != "" {
		return config.ExpandHome(cfg.SandboxState, os.UserHomeDir)
	}
	if cfg.Journal != "" {
		return filepath.Join(filepath.Dir(cfg.Journal), sandbox.StateFileName)
	}
	return ""
}

// build turns the configuration into a server, or says why it cannot.
func build(cfg config.Config, version string, logger *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, version: version, logger: logger, clk: clock.Real}
	if cfg.ClockScale > 1 {
		a.clk = scaledClock(cfg, logger)
	}
	key, base := cfg.APIKey, cfg.BaseURL
	if cfg.Sandbox {
		limit := cfg.SandboxUnfollowLimit
		if limit == 0 {
			limit = -1 // off
		}
		// --account picks which sandbox account is the linked one.
		sb, err := sandbox.Start(sandbox.Options{UnfollowLimit: limit, Account: cfg.Account, StatePath: sandboxState(cfg), Now: a.clk.Now})
		if err != nil {
			return nil, err
		}
		a.sandbox = sb
		// The sandbox never sees the person's real key.
		key, base = "sk-aisa-sandbox", sb.URL
	}
	var transport http.RoundTripper
	if cfg.Metrics != "" {
		a.metrics = newMetrics(cfg)
		transport = a.metrics.RoundTripper(aisa.NewTransport())
	}
	c, err := aisa.New(aisa.Options{
		BaseURL:   base,
		APIKey:    key,
		UserAgent: "xfollow-mcp/" + version,
		Timeout:   cfg.Timeout,
		Transport: transport,
	})
	if err != nil {
		a.close()
		return nil, err
	}
	gateway := c.Gateway()
	if cfg.Sandbox {
		gateway = safety.GatewaySandbox
	}
	gate := &tools.Gate{DryRun: cfg.DryRun, Confirm: cfg.Confirm, Account: cfg.Account, Gateway: gateway, Protected: map[string]bool{}, Metrics: a.metrics, Now: a.clk.Now}
	for _, id := range cfg.Protect {
		gate.Protected[id] = true
	}
	limiter, budget, err := a.newBudget()
	if err != nil {
		a.close()
		return nil, err
	}
	gate.Budget = limiter
	if cfg.Secret != nil {
		// Every replica given the same secret signs and verifies the same
		// confirmation states.
		gate.ConfirmKeys = cfg.Secret.Keys(tools.ConfirmPurpose)
	}
	if a.state != nil {
		// An approval is used once across every replica on the store.
		gate.Nonces = a.state
	}
	if cfg.Journal != "" {
		// Open first: it refuses what is not a regular file before anything
		// can block on it, and closes off a line torn by a crash.
		j, err := safety.OpenJournalWith(cfg.Journal, safety.JournalOptions{Retention: cfg.JournalRetention})
		if err != nil {
			a.close()
			return nil, err
		}
		a.journal = j
		gate.Journal = j
		j.OnWarn(logger.Warn)
		for _, t := range j.Tightened {
			logger.Warn("the journal was readable by other users; its mode was tightened", "path", t)
		}
		for _, w := range j.Skipped {
			logger.Warn("journal line skipped", "journal", cfg.Journal, "segment", w.Segment, "line", w.Line, "why", w.Msg)
		}
		if j.TornLine > 0 {
			logger.Warn("the journal's last line was cut short by a crash; it is kept, skipped, and the next record starts on a new line",
				"journal", cfg.Journal, "line", j.TornLine)
		}
		// Rebuild the budget from the journal, so a restart does not reset
		// it: every unfollow of this gateway that happened or may have. The
		// journal keeps the last day's slot-holding writes in its
		// checkpoint: a start reads those and the records after it, not
		// the day's records, let alone the history.
		since := time.Now().Add(-24 * time.Hour)
		// A test clock (XFOLLOW_CLOCK_SCALE) runs ahead of the wall clock;
		// a restart must not take it back behind what it journaled.
		if sc, ok := a.clk.(*clock.Scaled); ok {
			sc.NotBefore(j.Latest())
			since = a.clk.Now().Add(-24 * time.Hour)
		}
		slots, err := j.Slots(since)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("journal %s cannot be read: %v", cfg.Journal, err)
		}
		// A shared store (--state) is the truth for every replica: no
		// journal is replayed into it, at start or later.
		if budget != nil {
			scope := safety.Scope{Gateway: gateway, Legacy: !cfg.Sandbox}
			for fp, times := range tools.SlotEvents(slots, scope, since) {
				if fp == "" {
					// Written before records named their key: the server's own.
					logger.Warn("the journal has unfollows from an older version that did not record the gateway and key; they count against this key's budget",
						"journal", cfg.Journal, "unfollows", len(times))
					fp = c.KeyFingerprint()
				}
				budget.Seed(fp, times...)
			}
			// Other servers sharing this journal (one per host window, say)
			// spend the same budget: their unfollows are read before each write.
			j.OnForeign(tools.ForeignUnfollows(budget, scope, c.KeyFingerprint()))
		}
	}
	a.deps = &tools.Deps{Client: c, Logger: logger, Gate: gate, Following: tools.NewFollowingCache(a.clk.Now)}
	if cfg.KeyFromRequest {
		// Keys the gateway has not accepted never reach the journal.
		a.deps.Keys = tools.NewKeyCheck()
	}
	if err := a.setupJobs(c, gate, budget); err != nil {
		a.close()
		return nil, err
	}
	a.observe()
	a.server = mcpserver.New(mcpserver.Options{Version: version, ReadOnly: cfg.ReadOnly, Metrics: a.metrics}, a.deps)
	logger.Info("xfollow-mcp starting",
		"version", version,
		"gateway", c.Host(),
		"sandbox", cfg.Sandbox,
		"api_key_set", cfg.APIKey != "",
		"tools", strings.Join(mcpserver.ToolNames(cfg.ReadOnly), ","),
		"read_only", cfg.ReadOnly, "dry_run", cfg.DryRun, "confirm", cfg.Confirm,
		"protected_ids", len(gate.Protected), "journal", cfg.Journal, "account", cfg.Account,
		"state", config.RedactURL(cfg.State),
	)
	return a, nil
}

// serve runs the MCP server on stdio until stdin closes or ctx ends, or over
// HTTP (--http) until ctx ends.
func (a *app) serve(ctx context.Context, p IO, logger *slog.Logger) int {
	if a.metrics != nil {
		stop, err := a.serveMetrics(ctx, logger)
		if err != nil {
			fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
			return 1
		}
		defer stop()
	}
	// Every serving process advances the jobs of the key it holds; it stops
	// at an item boundary when serving ends.
	stopJobs := a.startRunner(ctx)
	defer stopJobs()
	if a.cfg.HTTP != "" {
		defer tuneServerGC(p.Getenv, logger)()
		return a.serveHTTP(ctx, logger)
	}
	stdio := server.NewStdioServer(a.server)
	stdio.SetErrorLogger(log.New(p.Stderr, "xfollow-mcp: stdio: ", 0))
	// Tool calls wait on the network; mcp-go's default of 5 workers would
	// queue the sixth concurrent call behind five slow ones.
	server.WithWorkerPoolSize(a.cfg.Workers)(stdio)
	server.WithQueueSize(1000)(stdio)
	stdin, untune := tuneStdio(p)
	defer untune()
	// Progress before the response, and piped calls that finish
	// (stdioorder.go); lines over MaxStdioLine dropped as they arrive
	// (stdioline.go), answered through the same serialised stdout.
	pending := newPendingCalls()
	out := &stdioOut{w: p.Stdout, pending: pending}
	in := newLineLimiter(stdin, MaxStdioLine, func() {
		logger.Warn("a stdio message over the size limit was dropped and answered with an error", "limit_bytes", MaxStdioLine)
		_, _ = out.Write(tooLongAnswer)
	})
	stdio.SetContextFunc(func(ctx context.Context) context.Context { return tools.WithNotifier(ctx, out.notify) })
	err := stdio.Listen(ctx, &stdioIn{ctx: ctx, r: in, pending: pending}, out)
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("stdio server stopped", "err", err)
		return 1
	}
	logger.Info("xfollow-mcp stopped")
	return 0
}

// inProcess starts an in-process MCP client on the same server.
func (a *app) inProcess(ctx context.Context) (*client.Client, error) {
	c, err := client.NewInProcessClient(a.server)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	var ir mcp.InitializeRequest
	ir.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	ir.Params.ClientInfo = mcp.Implementation{Name: "xfollow-mcp-cli", Version: a.version}
	if _, err := c.Initialize(ctx, ir); err != nil {
		return nil, err
	}
	return c, nil
}

func (a *app) printTools(ctx context.Context, p IO) int {
	c, err := a.inProcess(ctx)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	defer c.Close()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(p.Stdout)
	enc.SetEscapeHTML(false) // descriptions read as written
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"tools": res.Tools}); err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	return 0
}

// callOnce runs one tool call through the in-process server. The structured
// result goes to stdout, an error result's text to stderr; the exit code
// says which, and whether a control or a limit stopped all or part of it
// (exitcode.go).
func (a *app) callOnce(ctx context.Context, p IO, name, args string) int {
	if !json.Valid([]byte(args)) {
		fmt.Fprintf(p.Stderr, "[invalid_argument] the arguments are not valid JSON: pass one JSON object in single quotes, e.g. '{\"target_user_id\":\"2244994945\"}'\n")
		return 1
	}
	c, err := a.inProcess(ctx)
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	defer c.Close()
	res, err := a.call(ctx, c, name, json.RawMessage(args))
	if err != nil {
		if strings.HasPrefix(err.Error(), "[") {
			fmt.Fprintln(p.Stderr, err) // a coded refusal, printed like an error result
			return exitForError(err.Error())
		}
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return exitError
	}
	if res.IsError {
		fmt.Fprintln(p.Stderr, resultText(res))
		return exitForError(resultText(res))
	}
	out, err := tools.MarshalText(res.StructuredContent) // a link's & stays &
	if err != nil {
		fmt.Fprintf(p.Stderr, "xfollow-mcp: %v\n", err)
		return 1
	}
	fmt.Fprintln(p.Stdout, string(out))
	return exitForResult(res)
}

func (a *app) call(ctx context.Context, c *client.Client, name string, args json.RawMessage) (*mcp.CallToolResult, error) {
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		if i := strings.Index(err.Error(), "[read_only]"); i >= 0 {
			// The read-only refusal, without the client's "invalid request:" prefix.
			return nil, errors.New(err.Error()[i:])
		}
		if strings.Contains(err.Error(), "not found") {
			var names []string
			for _, t := range tools.All() {
				names = append(names, t.Name)
			}
			if m := didYouMean(name, names); m != "" {
				return nil, fmt.Errorf("no tool named %q here; did you mean %s? (run 'xfollow-mcp tools' to list them)", name, m)
			}
			return nil, fmt.Errorf("no tool named %q here (run 'xfollow-mcp tools' to list them)", name)
		}
		return nil, err
	}
	return res, nil
}

// causeOf drops the *PathError wrapper (whose text repeats the path).
func causeOf(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// resultText is the first text content of a result.
func resultText(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}
