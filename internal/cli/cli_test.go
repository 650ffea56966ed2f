package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
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
	}{{[]string{"tools"}, 9}, {[]string{"--read-only", "tools"}, 5}} {
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
