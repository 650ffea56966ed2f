package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/lazyre"
)

// settingError is one bad setting, named the way the person gave it: as
// --flag=value on the command line or as VARIABLE=value in the environment.
type settingError struct {
	flag   string // the flag's name, even when the value came from its twin
	source string // "--timeout=soon" or "XFOLLOW_TIMEOUT=soon"
	msg    string // what is wrong and what is accepted
}

func (e *settingError) Error() string { return e.source + ": " + e.msg }

// envError reports a bad value in a flag's environment twin.
func (p *Parser) envError(name, msg string) *settingError {
	env := envName(name)
	return &settingError{flag: name, source: env + "=" + showValue(p.getenv(env)), msg: msg}
}

// valueError reports a flag's value that parsed but is not acceptable,
// naming the flag when it was given on the command line and the variable
// when the value came from the environment.
func (p *Parser) valueError(name, msg string) *settingError {
	onCommandLine := false
	p.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			onCommandLine = true
		}
	})
	if env := envName(name); !onCommandLine && env != name && p.getenv(env) != "" {
		return p.envError(name, msg)
	}
	v := ""
	if f := p.fs.Lookup(name); f != nil {
		v = f.Value.String()
	}
	return &settingError{flag: name, source: "--" + name + "=" + showValue(v), msg: msg}
}

// showValue renders a value for an error line: as it is when it is a plain
// token, quoted otherwise, and cut when long.
func showValue(v string) string {
	const max = 60
	if len(v) > max {
		v = v[:max] + "..."
	}
	if v == "" || strings.ContainsAny(v, " \t\r\n\"'`\\") || !isPrintable(v) {
		return fmt.Sprintf("%q", v)
	}
	return v
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

var (
	reUndefined  = lazyre.New(`^flag provided but not defined: -(.*)$`)
	reBadBool    = lazyre.New(`^invalid boolean value "(.*)" for -([^:]+): `)
	reBadValue   = lazyre.New(`^invalid value "(.*)" for flag -([^:]+): (.*)$`)
	reNeedsValue = lazyre.New(`^flag needs an argument: -(.*)$`)
	reBadSyntax  = lazyre.New(`^bad flag syntax: (.*)$`)
)

// explain turns the flag package's errors into one line that names the flag
// and says what it accepts. flag.ErrHelp is returned unchanged.
func (p *Parser) explain(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		return &settingError{flag: m[1], source: "--" + m[1], msg: p.noSuchFlag(m[1])}
	}
	if m := reBadBool.FindStringSubmatch(msg); m != nil {
		return &settingError{flag: m[2], source: "--" + m[2] + "=" + showValue(m[1]), msg: "not a boolean: use true or false (or leave the value out for true)"}
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		what := "not " + p.accepts(m[2])
		if strings.HasSuffix(m[3], "value out of range") {
			what = "out of range: use " + p.accepts(m[2])
		}
		return &settingError{flag: m[2], source: "--" + m[2] + "=" + showValue(m[1]), msg: what}
	}
	if m := reNeedsValue.FindStringSubmatch(msg); m != nil {
		return &settingError{flag: m[1], source: "--" + m[1], msg: "needs a value: " + p.accepts(m[1])}
	}
	if m := reBadSyntax.FindStringSubmatch(msg); m != nil {
		return &settingError{source: showValue(m[1]), msg: "not a flag: flags look like --name or --name=value"}
	}
	return err
}

// accepts says what a flag takes, from its type.
func (p *Parser) accepts(name string) string {
	f := p.fs.Lookup(name)
	if f == nil {
		return "a value"
	}
	if name == "log-level" {
		return "debug, info, warn or error"
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "a value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "a length of time such as 20s or 2m"
	case int, int64, uint, uint64:
		if d := defaultOf(name); d != "" {
			return "a whole number such as " + d
		}
		return "a whole number"
	case bool:
		return "true or false"
	}
	return "a value"
}

// noSuchFlag says that a flag does not exist and, when it looks like a
// setting the server does have, which one.
func (p *Parser) noSuchFlag(name string) string {
	bare := strings.ToLower(strings.TrimLeft(name, "-"))
	if i := strings.IndexByte(bare, '='); i >= 0 {
		bare = bare[:i]
	}
	switch {
	case strings.Contains(bare, "key") || strings.Contains(bare, "token"):
		return "no such flag: the AIsa API key is read from the environment variable " + EnvAPIKey + " only"
	case strings.Contains(bare, "url") || strings.Contains(bare, "gateway"):
		return "no such flag: the gateway's base URL is read from the environment variable " + EnvBaseURL
	}
	if bare == "v" {
		return "no such flag; did you mean --version?"
	}
	if s := p.closest(bare); s != "" {
		return "no such flag; did you mean --" + s + "?"
	}
	return "no such flag"
}

// closest is the flag nearest to name, ignoring case: the same letters once
// dashes and underscores are dropped, or at most two edits away (a swap of
// two neighbouring letters is one edit). help is a candidate too, first, so
// that --hlep or --HELP suggests --help and not --http.
func (p *Parser) closest(name string) string {
	norm := func(s string) string { return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s)) }
	lname := strings.ToLower(name)
	names := []string{"help"}
	p.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	best, bestDist := "", 3
	for _, n := range names {
		if norm(n) == norm(name) {
			return n
		}
		if d := editDistance(strings.ToLower(n), lname); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the edit distance between a and b (optimal string
// alignment): insertions, deletions, substitutions and swaps of two
// neighbouring letters each count one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// PrintFlags writes one entry per flag, in the order of Flags and then any
// other flag by name, with its environment twin and its built-in default
// (not the value the environment gave it).
func (p *Parser) PrintFlags(w io.Writer) {
	var names []string
	seen := map[string]bool{}
	for _, f := range Flags {
		if p.fs.Lookup(f.Name) != nil && !seen[f.Name] {
			names = append(names, f.Name)
			seen[f.Name] = true
		}
	}
	var rest []string
	p.fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			rest = append(rest, f.Name)
		}
	})
	sort.Strings(rest)
	names = append(names, rest...)
	for _, name := range names {
		f := p.fs.Lookup(name)
		typ, text := flag.UnquoteUsage(f)
		head := "  --" + name
		if ph, ok := placeholders[name]; ok {
			typ = ph
		} else if typ == "string" {
			typ = "value"
		}
		if typ != "" {
			head += " " + strings.ToUpper(typ)
		}
		def := defaultOf(name)
		if _, known := flagByName(name); !known {
			def = f.DefValue
		}
		if def != "" && def != "false" && def != "0" && def != "0s" {
			text += " (default " + def + ")"
		}
		if len(head) < 34 {
			fmt.Fprintf(w, "%-34s%s\n", head, text)
		} else {
			fmt.Fprintf(w, "%s\n%34s%s\n", head, "", text)
		}
	}
}

// placeholders name a string flag's value in the usage text.
var placeholders = map[string]string{
	"account":         "handle",
	"key-fingerprint": "hex",
	"log-level":       "level",
	"protect":         "ids",
	"protect-file":    "path",
	"journal":         "path",
	"state":           "url",
}

func flagByName(name string) (Flag, bool) {
	for _, f := range Flags {
		if f.Name == name {
			return f, true
		}
	}
	return Flag{}, false
}
