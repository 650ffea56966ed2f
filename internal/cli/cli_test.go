package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), IO{
		Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Version: "v9.9.9",
	})
	return code, out.String(), errb.String()
}

func TestVersionNeedsNoKey(t *testing.T) {
	code, out, _ := run(t, nil, "--version")
	if code != 0 || out != "xfollow-mcp v9.9.9\n" {
		t.Fatalf("%d %q", code, out)
	}
}

func TestCallPrintsStructuredResult(t *testing.T) {
	code, out, errOut := run(t, nil, "--sandbox", "call", "unfollow_x_user", `{"target_user_id":"2244994945"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["following"] != false || m["target_user_id"] != "2244994945" {
		t.Fatalf("stdout %q", out)
	}
	if strings.Contains(errOut, "level=INFO") {
		t.Errorf("call printed info logs to stderr by default: %s", errOut)
	}
}

func TestCallErrorGoesToStderr(t *testing.T) {
	code, out, errOut := run(t, nil, "--sandbox", "call", "unfollow_x_user", `{"target_user_id":"@jack"}`)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "[invalid_argument] ") {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
	code, _, errOut = run(t, nil, "--sandbox", "call", "no_such_tool", `{}`)
	if code != 1 || !strings.Contains(errOut, "no tool named") {
		t.Fatalf("%d %q", code, errOut)
	}
	code, _, errOut = run(t, nil, "--sandbox", "call", "get_x_user", `{not json`)
	if code != 1 || !strings.Contains(errOut, "not valid JSON") {
		t.Fatalf("%d %q", code, errOut)
	}
}

func TestToolsListsAllOrReadOnly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		n    int
	}{{[]string{"tools"}, 13}, {[]string{"--read-only", "tools"}, 7}} {
		code, out, errOut := run(t, nil, tc.args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", tc.args, code, errOut)
		}
		var v struct {
			Tools []map[string]any `json:"tools"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Tools) != tc.n {
			t.Fatalf("%v: %d tools, %v", tc.args, len(v.Tools), err)
		}
	}
}

func TestStartupRefusals(t *testing.T) {
	key := "sk-aisa-CLI-LEAK-CHECK"
	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
		says string
	}{
		{map[string]string{"AISA_BASE_URL": "http://api.aisa.one/apis/v1", "AISA_API_KEY": key}, nil, 1, "plain http"},
		{nil, []string{"--timeout", "soon"}, 2, ""},
		{nil, []string{"frobnicate"}, 2, "unknown command"},
		{nil, []string{"undo"}, 2, "--journal"},
		{map[string]string{"XFOLLOW_READ_ONLY": "maybe"}, nil, 2, "XFOLLOW_READ_ONLY"},
	} {
		code, _, errOut := run(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v %v: exit %d, stderr %q", tc.env, tc.args, code, errOut)
		}
		if strings.Contains(errOut, key) {
			t.Errorf("the key was printed: %q", errOut)
		}
	}
}

func TestServeExitsCleanlyOnEOF(t *testing.T) {
	code, out, errOut := run(t, map[string]string{"AISA_API_KEY": "sk-aisa-x"})
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "xfollow-mcp starting") || !strings.Contains(errOut, "api_key_set=true") || strings.Contains(errOut, "sk-aisa-x") {
		t.Fatalf("stderr %s", errOut)
	}
}

func TestHelpPrintsUsageOnceOnStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-help"}, {"--sandbox", "help"}, {"call", "--help"}} {
		code, out, errOut := run(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		if n := strings.Count(out, "Usage:"); n != 1 {
			t.Errorf("%v: usage printed %d times on stdout", args, n)
		}
		for _, f := range config.Flags {
			if !strings.Contains(out, "  --"+f.Name+" ") {
				t.Errorf("%v: usage lacks --%s", args, f.Name)
			}
			if f.Env != "" && !strings.Contains(out, f.Env) {
				t.Errorf("%v: usage lacks %s", args, f.Env)
			}
		}
	}
}

func TestBadFlagsSayWhichAndWhatIsAccepted(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		line string // the whole first line of stderr
	}{
		{nil, []string{"--timeout", "soon"}, "xfollow-mcp: --timeout=soon: not a length of time such as 20s or 2m"},
		{nil, []string{"--timeout"}, "xfollow-mcp: --timeout: needs a value: a length of time such as 20s or 2m"},
		{nil, []string{"--read-only=maybe"}, "xfollow-mcp: --read-only=maybe: not a boolean: use true or false (or leave the value out for true)"},
		{nil, []string{"--readonly"}, "xfollow-mcp: --readonly: no such flag; did you mean --read-only?"},
		{nil, []string{"--jornal", "x"}, "xfollow-mcp: --jornal: no such flag; did you mean --journal?"},
		{nil, []string{"--frobnicate"}, "xfollow-mcp: --frobnicate: no such flag"},
		{nil, []string{"--api-key", "sk-aisa-x"}, "xfollow-mcp: --api-key: no such flag: the AIsa API key is read from the environment variable AISA_API_KEY only"},
		{nil, []string{"--workers", "many"}, "xfollow-mcp: --workers=many: not a whole number such as 64"},
		{nil, []string{"--workers", "0"}, "xfollow-mcp: --workers=0: must be a whole number from 1 to 100"},
		{nil, []string{"--log-level", "loud"}, "xfollow-mcp: --log-level=loud: not a log level: use debug, info, warn or error"},
		{nil, []string{"--protect", "12,@jack"}, `xfollow-mcp: --protect=12,@jack: "@jack" is not a numeric X user id (1-19 digits)`},
		{nil, []string{"frobnicate"}, `xfollow-mcp: unknown command "frobnicate"`},
		// Environment twins are named as the variable, with its value.
		{map[string]string{"XFOLLOW_TIMEOUT": "abc"}, nil, "xfollow-mcp: XFOLLOW_TIMEOUT=abc: not a length of time such as 20s or 2m"},
		{map[string]string{"XFOLLOW_TIMEOUT": "-5s"}, nil, "xfollow-mcp: XFOLLOW_TIMEOUT=-5s: must be a length of time above zero, such as 20s or 2m"},
		{map[string]string{"XFOLLOW_READ_ONLY": "maybe"}, nil, "xfollow-mcp: XFOLLOW_READ_ONLY=maybe: not a boolean: use true, false, 1 or 0"},
		{map[string]string{"XFOLLOW_WORKERS": "500"}, nil, "xfollow-mcp: XFOLLOW_WORKERS=500: must be a whole number from 1 to 100"},
		{map[string]string{"XFOLLOW_MAX_UNFOLLOWS_PER_DAY": "lots"}, nil, "xfollow-mcp: XFOLLOW_MAX_UNFOLLOWS_PER_DAY=lots: not a whole number"},
		{map[string]string{"XFOLLOW_LOG_LEVEL": "very loud"}, nil, `xfollow-mcp: XFOLLOW_LOG_LEVEL="very loud": not a log level: use debug, info, warn or error`},
		{map[string]string{"XFOLLOW_ACCOUNT": "not a handle"}, nil, `xfollow-mcp: XFOLLOW_ACCOUNT="not a handle": not an X handle (letters, digits and _, at most 15)`},
		{nil, []string{"--account", "@@x"}, "xfollow-mcp: --account=@@x: not an X handle (letters, digits and _, at most 15)"},
		// A flag given on the command line is named as the flag even when its twin is set.
		{map[string]string{"XFOLLOW_WORKERS": "8"}, []string{"--workers=500"}, "xfollow-mcp: --workers=500: must be a whole number from 1 to 100"},
	} {
		code, out, errOut := run(t, tc.env, tc.args...)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != 2 || out != "" || len(lines) != 2 || lines[0] != tc.line || lines[1] != "run xfollow-mcp --help for usage" {
			t.Errorf("%v %v: exit %d, stdout %q, stderr:\n%s\nwant first line:\n%s", tc.env, tc.args, code, out, errOut, tc.line)
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, "devel"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		// go install ...@v1.2.3: the module version, no VCS settings.
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		// go build in a clone (Go 1.24+ stamps a pseudo-version that carries the revision).
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129193012-eb44c0ca51f1"},
			Settings: settings("vcs.revision", "eb44c0ca51f11c15b21045894aa9375e2d78657a", "vcs.modified", "false")},
			"v0.0.0-20261129193012-eb44c0ca51f1"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129193012-eb44c0ca51f1+dirty"},
			Settings: settings("vcs.revision", "eb44c0ca51f11c15b21045894aa9375e2d78657a", "vcs.modified", "true")},
			"v0.0.0-20261129193012-eb44c0ca51f1+dirty"},
		// A toolchain that records the revision but no module version.
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "eb44c0ca51f11c15b21045894aa9375e2d78657a", "vcs.modified", "true")},
			"devel-eb44c0ca51f1-dirty"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "eb44c0ca51f11c15b21045894aa9375e2d78657a", "vcs.modified", "false")},
			"devel-eb44c0ca51f1"},
	} {
		if got := versionFromBuildInfo(tc.bi, ""); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.bi, got, tc.want)
		}
	}
	// A build with VCS stamping off (-buildvcs=false, or a source tarball)
	// says which release it is near, from the embedded VERSION file.
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, "0.1.0-devel"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "0.1.0-devel"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "eb44c0ca51f11c15b21045894aa9375e2d78657a", "vcs.modified", "false")},
			"0.1.0-devel-eb44c0ca51f1"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
	} {
		if got := versionFromBuildInfo(tc.bi, "0.1.0"); got != tc.want {
			t.Errorf("with VERSION 0.1.0, %+v: %q, want %q", tc.bi, got, tc.want)
		}
	}
	if got := resolveVersion("1.0.0", "0.9.0"); got != "1.0.0" {
		t.Errorf("a stamped version was not used: %q", got)
	}
}

func TestCallOfWriteToolOnReadOnlyServerSaysReadOnly(t *testing.T) {
	code, out, errOut := run(t, nil, "--sandbox", "--read-only", "call", "unfollow_x_user", `{"target_user_id":"12"}`)
	if code != 3 || out != "" || !strings.HasPrefix(errOut, "[read_only] unfollow_x_user changes the X account, and this server runs read-only") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestExpandHome(t *testing.T) {
	home := func() (string, error) { return "/home/pat", nil }
	for in, want := range map[string]string{
		"${HOME}/.xfollow-journal.jsonl": "/home/pat/.xfollow-journal.jsonl",
		"$HOME/j.jsonl":                  "/home/pat/j.jsonl",
		"~/j.jsonl":                      "/home/pat/j.jsonl",
		"~":                              "/home/pat",
		"/var/j.jsonl":                   "/var/j.jsonl",
		"~pat/j.jsonl":                   "~pat/j.jsonl", // another user's home is not guessed
		"$HOMEWORK/j":                    "$HOMEWORK/j",
		"":                               "",
	} {
		if got := config.ExpandHome(in, home); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	// The whole path through Run: the journal lands in the home folder.
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	code, _, errOut := run(t, map[string]string{"XFOLLOW_JOURNAL": "${HOME}/.xfollow-journal.jsonl"}, "--sandbox", "--dry-run", "call", "unfollow_x_user", `{"target_user_id":"12"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".xfollow-journal.jsonl")); err != nil {
		t.Fatalf("journal not in the home folder: %v", err)
	}
}
