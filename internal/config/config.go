// Package config reads xfollow-mcp's configuration from flags and the
// environment. Every flag has an environment twin; a flag given on the
// command line wins over its twin. The AIsa API key is read from the
// environment only.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/lazyre"
	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// Environment variables read besides the flags' twins.
const (
	EnvAPIKey  = "AISA_API_KEY"
	EnvBaseURL = "AISA_BASE_URL"
	// EnvHTTPToken is the bearer token every request to --http must carry.
	// Like the API key it is read from the environment only.
	EnvHTTPToken = "XFOLLOW_HTTP_TOKEN"
	// EnvClockScale speeds every clock of the server, for tests: honoured
	// only with --sandbox or a loopback AISA_BASE_URL.
	EnvClockScale = "XFOLLOW_CLOCK_SCALE"
)

// Config is the whole configuration.
type Config struct {
	APIKey   string
	BaseURL  string
	Timeout  time.Duration
	LogLevel slog.Level
	Sandbox  bool
	Version  bool

	ReadOnly             bool
	DryRun               bool
	Confirm              bool
	Protect              []string
	ProtectFile          string
	Journal              string
	JournalRetention     time.Duration
	MaxUnfollowsPer15m   int
	MaxUnfollowsPerDay   int
	State                string // "" or a redis:// URL shared by replicas; it may hold a password: show RedactURL(State)
	SandboxUnfollowLimit int
	SandboxState         string // the sandbox's state file; "" for the default (beside the journal)
	Workers              int
	// Account is the handle (without @) of the X account linked to the key;
	// with it, unfollows check the relationship first.
	Account string
	// JobMaxPer15m and JobMaxPerDay are the clean-up jobs' ceilings.
	JobMaxPer15m int
	JobMaxPerDay int
	// ClockScale (XFOLLOW_CLOCK_SCALE, 1 when unset) speeds every clock.
	ClockScale float64
	clockRaw   string
	undoSince  time.Duration
	undoJob    string
	undoKey    string

	// Remote mode (--http). HTTPToken is never a flag.
	HTTP           string
	HTTPToken      string
	KeyFromRequest bool
	AllowedOrigins []string

	// Metrics is the address of the Prometheus listener ("" for none).
	Metrics string

	// MCP authorization (--oauth): the server is its own OAuth
	// authorization server; PublicURL is the issuer ("" on loopback: the
	// bound address).
	OAuth     bool
	PublicURL string

	// Secret is XFOLLOW_SECRET, the server's one secret (env only); nil
	// when unset. Each use derives its own key from it: jobs in the
	// many-callers modes seal each job's key, replicas sign confirmations,
	// --oauth seals its clients, codes and tokens.
	Secret *secret.Ring
}

// LogValue keeps the key out of every log line.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.String("base_url", c.BaseURL),
		slog.Duration("timeout", c.Timeout),
		slog.Bool("sandbox", c.Sandbox),
		slog.Bool("read_only", c.ReadOnly),
		slog.Bool("dry_run", c.DryRun),
		slog.Bool("confirm", c.Confirm),
		slog.Int("protected_ids", len(c.Protect)),
		slog.String("journal", c.Journal),
		slog.Duration("journal_retention", c.JournalRetention),
		slog.String("account", c.Account),
		slog.Int("max_unfollows_per_15m", c.MaxUnfollowsPer15m),
		slog.Int("max_unfollows_per_day", c.MaxUnfollowsPerDay),
		slog.String("state", RedactURL(c.State)),
		slog.String("http", c.HTTP),
		slog.Bool("http_token_set", c.HTTPToken != ""),
		slog.Bool("key_from_request", c.KeyFromRequest),
		slog.String("metrics", c.Metrics),
		slog.Bool("oauth", c.OAuth),
		slog.String("public_url", c.PublicURL),
		slog.Bool("secret_set", c.Secret != nil),
	)
}

// Flag describes one flag and its environment twin, for the README table
// and the usage text.
type Flag struct {
	Name, Env, Default, Usage string
}

// Flags lists every flag in the order usage shows them.
var Flags = []Flag{
	{"sandbox", "XFOLLOW_SANDBOX", "false", "serve against the built-in simulated gateway (no key, no network)"},
	{"timeout", "XFOLLOW_TIMEOUT", "20s", "per-attempt timeout for gateway calls, such as 20s or 2m"},
	{"log-level", "XFOLLOW_LOG_LEVEL", "info", "log level on stderr: debug, info, warn, error"},
	{"read-only", "XFOLLOW_READ_ONLY", "false", "register only the read-only tools"},
	{"dry-run", "XFOLLOW_DRY_RUN", "false", "write tools run every check but send no write to the gateway"},
	{"protect", "XFOLLOW_PROTECT", "", "comma-separated numeric X ids that must never be unfollowed"},
	{"protect-file", "XFOLLOW_PROTECT_FILE", "", "file of protected ids, one a line, # comments"},
	{"journal", "XFOLLOW_JOURNAL", "", "append a JSON Lines record of every write to this file (mode 0600); sealed segments and the checkpoint live in FILE.d"},
	{"journal-retention", "XFOLLOW_JOURNAL_RETENTION", "9600h", "delete journal segments whose records are all older than this (Go duration; 9600h is 400 days; 0 keeps everything); never what the budget or a running job still needs"},
	{"max-unfollows-per-15m", "XFOLLOW_MAX_UNFOLLOWS_PER_15M", "50", "unfollows allowed in any 15 minutes; 0 means no limit"},
	{"max-unfollows-per-day", "XFOLLOW_MAX_UNFOLLOWS_PER_DAY", "400", "unfollows allowed in any 24 hours; 0 means no limit"},
	{"state", "XFOLLOW_STATE", "", "where the unfollow budget lives: empty for this process (rebuilt from the journal), or redis://[user:password@]host:port/db (rediss:// for TLS) shared by every replica"},
	{"job-max-per-15m", "XFOLLOW_JOB_MAX_PER_15M", "25", "clean-up jobs send at most this many unfollows in any 15 minutes (1-50; also kept under 90% of the budget)"},
	{"job-max-per-day", "XFOLLOW_JOB_MAX_PER_DAY", "300", "clean-up jobs send at most this many unfollows in any 24 hours (1-500; also kept under 90% of the budget)"},
	{"confirm", "XFOLLOW_CONFIRM", "false", "ask the person (MCP elicitation) before every write"},
	{"account", "XFOLLOW_ACCOUNT", "", "handle of the X account linked to the key; unfollows then check the account follows the target first, so undo never re-follows what was not followed"},
	{"workers", "XFOLLOW_WORKERS", "64", "tool calls served at once over stdio (1-100)"},
	{"sandbox-unfollow-limit", "XFOLLOW_SANDBOX_UNFOLLOW_LIMIT", "50", "the simulated gateway's unfollows per 15 minutes; 0 turns it off (with --sandbox)"},
	{"sandbox-state", "XFOLLOW_SANDBOX_STATE", "", "with --sandbox: file that keeps the simulated follow graph between runs (default: xfollow-sandbox-state.jsonl beside --journal; none without a journal)"},
	{"http", "XFOLLOW_HTTP", "", "serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio, e.g. 127.0.0.1:8080"},
	{"key-from-request", "XFOLLOW_KEY_FROM_REQUEST", "false", "with --http: each request's Authorization: Bearer is that caller's AIsa key; the server holds none"},
	{"allowed-origins", "XFOLLOW_ALLOWED_ORIGINS", "", "with --http: comma-separated browser origins accepted besides loopback ones, e.g. https://app.example.com"},
	{"metrics", "XFOLLOW_METRICS", "", "serve Prometheus metrics at http://ADDR/metrics on a listener of its own (never the MCP port); a bare port such as :9464 listens on loopback only, name the host (0.0.0.0:9464) to listen beyond it"},
	{"oauth", "XFOLLOW_OAUTH", "false", "with --http: MCP authorization (OAuth 2.1): hosts connect by URL and each person gives their AIsa key once on a consent page; needs XFOLLOW_SECRET"},
	{"public-url", "XFOLLOW_PUBLIC_URL", "", "with --oauth: the https://host clients reach the server at (the issuer; the MCP endpoint is its /mcp); required unless --http is a loopback address"},
	{"version", "", "false", "print the version and exit"},
}

// Parser binds the flags to a Config.
type Parser struct {
	fs        *flag.FlagSet
	cfg       *Config
	protect   string
	origins   string
	level     string
	envErrs   []*settingError
	secretErr error
	getenv    func(string) string
}

// NewParser makes a FlagSet whose defaults come from the environment. The
// parser prints nothing: Parse and Config return every problem as one line
// that names the flag or the variable, for the caller to print. out is kept
// for callers that pass a writer; nothing is written to it.
func NewParser(name string, getenv func(string) string, out io.Writer) *Parser {
	p := &Parser{fs: flag.NewFlagSet(name, flag.ContinueOnError), cfg: &Config{}, getenv: getenv}
	_ = out
	p.fs.SetOutput(io.Discard)
	p.fs.Usage = func() {}
	c := p.cfg
	c.APIKey = strings.TrimSpace(getenv(EnvAPIKey))
	c.BaseURL = strings.TrimSpace(getenv(EnvBaseURL))
	c.HTTPToken = strings.TrimSpace(getenv(EnvHTTPToken))
	c.Secret, p.secretErr = secret.Parse(getenv(secret.Env))
	c.clockRaw = getenv(EnvClockScale)

	env := func(name, def string) string {
		for _, f := range Flags {
			if f.Name == name && f.Env != "" {
				if v, ok := lookup(getenv, f.Env); ok {
					return v
				}
			}
		}
		return def
	}
	boolVar := func(dst *bool, name string) {
		v, err := parseBool(env(name, "false"))
		if err != nil {
			p.envErrs = append(p.envErrs, p.envError(name, "not a boolean: use true, false, 1 or 0"))
		}
		p.fs.BoolVar(dst, name, v, usage(name))
	}
	intVar := func(dst *int, name string) {
		v, err := strconv.Atoi(env(name, defaultOf(name)))
		if err != nil {
			p.envErrs = append(p.envErrs, p.envError(name, "not a whole number"))
			v, _ = strconv.Atoi(defaultOf(name)) // report the variable once, not its effect too
		}
		p.fs.IntVar(dst, name, v, usage(name))
	}
	durVar := func(dst *time.Duration, name string) {
		v, err := time.ParseDuration(env(name, defaultOf(name)))
		if err != nil {
			p.envErrs = append(p.envErrs, p.envError(name, "not a length of time such as 20s or 2m"))
			v, _ = time.ParseDuration(defaultOf(name)) // report the variable once, not its effect too
		}
		p.fs.DurationVar(dst, name, v, usage(name))
	}
	boolVar(&c.Sandbox, "sandbox")
	durVar(&c.Timeout, "timeout")
	p.fs.StringVar(&p.level, "log-level", env("log-level", "info"), usage("log-level"))
	boolVar(&c.ReadOnly, "read-only")
	boolVar(&c.DryRun, "dry-run")
	p.fs.StringVar(&p.protect, "protect", env("protect", ""), usage("protect"))
	p.fs.StringVar(&c.ProtectFile, "protect-file", env("protect-file", ""), usage("protect-file"))
	p.fs.StringVar(&c.Journal, "journal", env("journal", ""), usage("journal"))
	durVar(&c.JournalRetention, "journal-retention")
	intVar(&c.MaxUnfollowsPer15m, "max-unfollows-per-15m")
	intVar(&c.MaxUnfollowsPerDay, "max-unfollows-per-day")
	p.fs.StringVar(&c.State, "state", env("state", ""), usage("state"))
	intVar(&c.JobMaxPer15m, "job-max-per-15m")
	intVar(&c.JobMaxPerDay, "job-max-per-day")
	boolVar(&c.Confirm, "confirm")
	p.fs.StringVar(&c.Account, "account", env("account", ""), usage("account"))
	intVar(&c.Workers, "workers")
	intVar(&c.SandboxUnfollowLimit, "sandbox-unfollow-limit")
	p.fs.StringVar(&c.SandboxState, "sandbox-state", env("sandbox-state", ""), usage("sandbox-state"))
	p.fs.StringVar(&c.HTTP, "http", env("http", ""), usage("http"))
	boolVar(&c.KeyFromRequest, "key-from-request")
	p.fs.StringVar(&p.origins, "allowed-origins", env("allowed-origins", ""), usage("allowed-origins"))
	p.fs.StringVar(&c.Metrics, "metrics", env("metrics", ""), usage("metrics"))
	boolVar(&c.OAuth, "oauth")
	p.fs.StringVar(&c.PublicURL, "public-url", env("public-url", ""), usage("public-url"))
	p.fs.BoolVar(&c.Version, "version", false, usage("version"))
	p.fs.DurationVar(&c.undoSince, "since", 0, "undo: re-follow what was unfollowed this far back, such as 2h or 30m")
	p.fs.StringVar(&c.undoJob, "job", "", "undo: follow again what this clean-up job unfollowed, as a paced follow job")
	p.fs.StringVar(&c.undoKey, "key-fingerprint", "", "undo: replay the records of this key fingerprint (16 hex characters) instead of AISA_API_KEY's")
	return p
}

// FlagSet exposes the flags, for usage output.
func (p *Parser) FlagSet() *flag.FlagSet { return p.fs }

// Parse reads flags from args, which may be interleaved with positional
// arguments (a subcommand and its operands); it returns the positionals.
func (p *Parser) Parse(args []string) ([]string, error) {
	var pos []string
	rest := args
	for len(rest) > 0 {
		if err := p.fs.Parse(rest); err != nil {
			return nil, p.explain(err)
		}
		rest = p.fs.Args()
		if len(rest) > 0 {
			if rest[0] == "--" {
				pos = append(pos, rest[1:]...)
				break
			}
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	return pos, nil
}

// Config validates and returns the configuration after Parse.
func (p *Parser) Config() (Config, error) {
	c := *p.cfg
	var errs []error
	// An environment value only matters if its flag did not override it.
	set := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, e := range p.envErrs {
		if !set[e.flag] {
			errs = append(errs, e)
		}
	}
	switch strings.ToLower(p.level) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info", "":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, p.valueError("log-level", "not a log level: use debug, info, warn or error"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, p.valueError("timeout", "must be a length of time above zero, such as 20s or 2m"))
	}
	if c.JournalRetention != 0 && c.JournalRetention < 24*time.Hour {
		errs = append(errs, p.valueError("journal-retention", "must be 0 (keep everything) or at least 24h, the budget's window"))
	}
	if c.MaxUnfollowsPer15m < 0 {
		errs = append(errs, p.valueError("max-unfollows-per-15m", "must be 0 (no limit) or more"))
	}
	if c.MaxUnfollowsPerDay < 0 {
		errs = append(errs, p.valueError("max-unfollows-per-day", "must be 0 (no limit) or more"))
	}
	if msg := checkStateURL(c.State); msg != "" {
		errs = append(errs, p.stateError(msg))
	} else if c.State != "" && c.MaxUnfollowsPer15m == 0 && c.MaxUnfollowsPerDay == 0 {
		// A replica with no limit would leave no trace in the shared
		// windows, and the limited replicas would let their whole budget
		// through on top of its unfollows.
		errs = append(errs, p.stateError("keeps the unfollow budget shared, but both --max-unfollows-per-15m and --max-unfollows-per-day are 0 (no limit): set a limit (the same on every replica), or leave --state out"))
	}
	if c.JobMaxPer15m < 1 || c.JobMaxPer15m > 50 {
		errs = append(errs, p.valueError("job-max-per-15m", "must be a whole number from 1 to 50 (X allows 50 unfollows per 15 minutes)"))
	}
	if c.JobMaxPerDay < 1 || c.JobMaxPerDay > 500 {
		errs = append(errs, p.valueError("job-max-per-day", "must be a whole number from 1 to 500 (X allows 500 unfollows a day per app)"))
	}
	c.ClockScale = 1
	if strings.TrimSpace(c.clockRaw) != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(c.clockRaw), 64)
		switch {
		case err != nil || f < 1 || f > 100000:
			errs = append(errs, fmt.Errorf("%s=%q: not a number from 1 to 100000", EnvClockScale, c.clockRaw))
		case !c.Sandbox && !loopbackBase(c.BaseURL):
			errs = append(errs, fmt.Errorf("%s is set, but it speeds every clock of the server (budget windows, job pacing) and is honoured only with --sandbox or a loopback AISA_BASE_URL: unset it", EnvClockScale))
		default:
			c.ClockScale = f
		}
	}
	if c.Workers < 1 || c.Workers > 100 {
		errs = append(errs, p.valueError("workers", "must be a whole number from 1 to 100"))
	}
	if c.Account != "" {
		name := strings.TrimPrefix(c.Account, "@")
		if !handleRe.MatchString(name) {
			errs = append(errs, p.valueError("account", "not an X handle (letters, digits and _, at most 15)"))
		}
		c.Account = name
	}
	if c.undoKey != "" && !fingerprintRe.MatchString(c.undoKey) {
		errs = append(errs, p.valueError("key-fingerprint", "not a key fingerprint (16 hex characters, as journal records show)"))
	}
	ids, err := ParseIDList(p.protect)
	if err != nil {
		errs = append(errs, p.valueError("protect", err.Error()))
	}
	c.Protect = ids
	if c.ProtectFile != "" {
		c.ProtectFile = ExpandHome(c.ProtectFile, os.UserHomeDir)
		fileIDs, err := ReadProtectFile(c.ProtectFile)
		if err != nil {
			errs = append(errs, err)
		}
		c.Protect = append(c.Protect, fileIDs...)
	}
	if p.secretErr != nil {
		errs = append(errs, p.secretErr)
	}
	errs = append(errs, p.remote(&c)...)
	errs = append(errs, p.metrics(&c)...)
	errs = append(errs, p.replicas(&c)...)
	return c, errors.Join(errs...)
}

// UndoSince is the --since window for the undo subcommand.
func (p *Parser) UndoSince() time.Duration { return p.cfg.undoSince }

// UndoJob is the --job of the undo subcommand.
func (p *Parser) UndoJob() string { return p.cfg.undoJob }

// loopbackBase reports whether a gateway base URL is on this machine.
func loopbackBase(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// UndoKeyFingerprint is the --key-fingerprint of the undo subcommand.
func (p *Parser) UndoKeyFingerprint() string { return p.cfg.undoKey }

var (
	idRe          = lazyre.New(`^[0-9]{1,19}$`)
	handleRe      = lazyre.New(`^[A-Za-z0-9_]{1,15}$`)
	fingerprintRe = lazyre.New(`^[0-9a-f]{16}$`)
)

// checkID refuses what is not one X user id in its one written form.
func checkID(s string) error {
	switch {
	case !idRe.MatchString(s):
		return fmt.Errorf("%q is not a numeric X user id (1-19 digits)", s)
	case s == "0" || s[0] == '0':
		return fmt.Errorf("%q is not an X user id: ids never start with 0", s)
	case len(s) == 19 && s > "9223372036854775807":
		return fmt.Errorf("%q is above the largest X user id (9223372036854775807)", s)
	}
	return nil
}

// ParseIDList reads a comma-separated list of numeric X ids.
func ParseIDList(s string) ([]string, error) {
	var ids []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if err := checkID(part); err != nil {
			return nil, err
		}
		ids = append(ids, part)
	}
	return ids, nil
}

// ReadProtectFile reads one numeric id a line; blank lines and text after #
// are ignored.
func ReadProtectFile(path string) ([]string, error) {
	// Only a regular file: a FIFO would block the start, a device never end.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("--protect-file %s is not a regular file; give the path of a plain file of ids", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--protect-file: %v", err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := checkID(line); err != nil {
			return nil, fmt.Errorf("--protect-file %s line %d: %v", path, n, err)
		}
		ids = append(ids, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--protect-file %s: %v", path, err)
	}
	return ids, nil
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return strings.TrimSpace(v), v != ""
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true":
		return true, nil
	case "0", "false", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: use true, false, 1 or 0", s)
}

func envName(name string) string {
	for _, f := range Flags {
		if f.Name == name {
			return f.Env
		}
	}
	return name
}

func defaultOf(name string) string {
	for _, f := range Flags {
		if f.Name == name {
			return f.Default
		}
	}
	return ""
}

func usage(name string) string {
	for _, f := range Flags {
		if f.Name == name {
			if f.Env != "" {
				return f.Usage + " (env " + f.Env + ")"
			}
			return f.Usage
		}
	}
	return ""
}

// ExpandHome replaces a leading ~, $HOME or ${HOME} in a path with the home
// folder. Hosts are meant to substitute ${HOME} in an MCP bundle's default
// values, but the reference implementation (@anthropic-ai/mcpb's
// getMcpConfigForManifest) passes a default such as
// "${HOME}/.xfollow-journal.jsonl" through unchanged, and no shell is there
// to expand it. It serves every path setting: --journal and --protect-file.
func ExpandHome(path string, home func() (string, error)) string {
	for _, prefix := range []string{"${HOME}", "$HOME", "~"} {
		rest, ok := strings.CutPrefix(path, prefix)
		if !ok || (rest != "" && rest[0] != '/' && rest[0] != '\\') {
			continue
		}
		if h, err := home(); err == nil && h != "" {
			return filepath.Join(h, rest)
		}
		return path
	}
	return path
}
