package cli

import (
	"strings"
	"testing"
)

// TestStateSettingsNeverShowThePassword: a bad --state is refused at start
// (exit 2 for what the flag check sees, exit 1 for what the store setup
// sees), naming the URL with its password hidden.
func TestStateSettingsNeverShowThePassword(t *testing.T) {
	for _, tc := range []struct {
		env        map[string]string
		args       []string
		code       int
		want, hide string
	}{
		{map[string]string{"XFOLLOW_STATE": "http://u:pw-Hq8@h:6379/0"}, []string{"tools"}, 2,
			"xfollow-mcp: XFOLLOW_STATE=http://u:xxxxx@h:6379/0: not a redis:// or rediss:// URL", "pw-Hq8"},
		{nil, []string{"--state", "redis://:pw-Hq8@h:6379/notadb", "tools"}, 1,
			`xfollow-mcp: --state redis://:xxxxx@h:6379/notadb: redis: invalid database number: "notadb"`, "pw-Hq8"},
	} {
		code, _, errOut := run(t, tc.env, tc.args...)
		if code != tc.code || !strings.HasPrefix(errOut, tc.want) || strings.Contains(errOut, tc.hide) {
			t.Errorf("%v %v: exit %d, stderr:\n%s\nwant exit %d and:\n%s", tc.env, tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestUnreachableStateStore: the command starts anyway and says so; reads
// work, unfollows are refused with [state_unavailable].
func TestUnreachableStateStore(t *testing.T) {
	state := "redis://:pw-Hq8@127.0.0.1:1/0" // nothing listens on port 1
	code, out, errOut := run(t, nil, "--sandbox", "--state", state, "call", "get_x_user", `{"username":"jack"}`)
	if code != 0 || !strings.Contains(out, `"username":"jack"`) ||
		!strings.Contains(errOut, "the state store does not answer; every write is refused until it does") ||
		!strings.Contains(errOut, "redis://:xxxxx@127.0.0.1:1/0") || strings.Contains(errOut, "pw-Hq8") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "--sandbox", "--state", state, "call", "unfollow_x_user", `{"target_user_id":"12"}`)
	if code != 3 || out != "" || !strings.Contains(errOut, "[state_unavailable] the unfollow budget cannot be checked") || strings.Contains(errOut, "pw-Hq8") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
