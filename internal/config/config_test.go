package config

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) (Config, []string, error) {
	t.Helper()
	p := NewParser("x", func(k string) string { return env[k] }, io.Discard)
	pos, err := p.Parse(args)
	if err != nil {
		return Config{}, nil, err
	}
	c, err := p.Config()
	return c, pos, err
}

func TestDefaults(t *testing.T) {
	c, pos, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 0 || c.Timeout != 20*time.Second || c.LogLevel != slog.LevelInfo || c.MaxUnfollowsPer15m != 50 ||
		c.MaxUnfollowsPerDay != 400 || c.ReadOnly || c.DryRun || c.Confirm || c.Workers != 64 {
		t.Fatalf("%+v", c)
	}
}

func TestFlagWinsOverEnv(t *testing.T) {
	env := map[string]string{"XFOLLOW_DRY_RUN": "1", "XFOLLOW_TIMEOUT": "5s", "XFOLLOW_MAX_UNFOLLOWS_PER_15M": "7", "XFOLLOW_READ_ONLY": "true"}
	c, _, err := parse(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DryRun || c.Timeout != 5*time.Second || c.MaxUnfollowsPer15m != 7 || !c.ReadOnly {
		t.Fatalf("env not applied: %+v", c)
	}
	c, _, err = parse(t, env, "--dry-run=false", "--timeout", "9s", "--max-unfollows-per-15m=0", "--read-only=0")
	if err != nil {
		t.Fatal(err)
	}
	if c.DryRun || c.Timeout != 9*time.Second || c.MaxUnfollowsPer15m != 0 || c.ReadOnly {
		t.Fatalf("flags did not win: %+v", c)
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"XFOLLOW_DRY_RUN": "yes"}, nil},
		{map[string]string{"XFOLLOW_TIMEOUT": "20"}, nil},
		{nil, []string{"--log-level", "loud"}},
		{nil, []string{"--protect", "12,@jack"}},
		{nil, []string{"--max-unfollows-per-day", "-1"}},
		{nil, []string{"--timeout", "0s"}},
		{nil, []string{"--workers", "0"}},
		{nil, []string{"--protect-file", "/nonexistent/protect"}},
	} {
		if _, _, err := parse(t, tc.env, tc.args...); err == nil {
			t.Errorf("%v %v: accepted", tc.env, tc.args)
		}
	}
	// A bad env value is forgiven when its flag overrides it.
	if _, _, err := parse(t, map[string]string{"XFOLLOW_DRY_RUN": "yes"}, "--dry-run"); err != nil {
		t.Errorf("flag did not override a bad env value: %v", err)
	}
}

func TestInterleavedPositionals(t *testing.T) {
	c, pos, err := parse(t, nil, "--sandbox", "call", "unfollow_x_user", `{"target_user_id":"1"}`, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sandbox || !c.DryRun || strings.Join(pos, "|") != `call|unfollow_x_user|{"target_user_id":"1"}` {
		t.Fatalf("%+v %q", c, pos)
	}
}

func TestProtectFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "protect")
	if err := os.WriteFile(path, []byte("# family\n12 # jack\n\n783214\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := parse(t, nil, "--protect", "5, 6", "--protect-file", path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Protect, ",") != "5,6,12,783214" {
		t.Fatalf("protect = %v", c.Protect)
	}
	if err := os.WriteFile(path, []byte("12\njack\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := parse(t, nil, "--protect-file", path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v", err)
	}
}

func TestLogValueRedactsKey(t *testing.T) {
	const key = "sk-aisa-SECRET-123"
	c, _, err := parse(t, map[string]string{EnvAPIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), key) || !strings.Contains(buf.String(), "api_key_set=true") {
		t.Fatalf("log = %s", buf.String())
	}
}

// TestClockScaleOnlyOnTheSandboxOrLoopback: XFOLLOW_CLOCK_SCALE is honoured
// with --sandbox or a loopback gateway, and stops the start anywhere else or
// out of range; XFOLLOW_SECRET too short stops it without quoting it; the
// job paces keep to X's limits.
func TestClockScaleOnlyOnTheSandboxOrLoopback(t *testing.T) {
	for _, tc := range []struct {
		env   map[string]string
		args  []string
		scale float64
		bad   string
	}{
		{map[string]string{"XFOLLOW_CLOCK_SCALE": "500"}, []string{"--sandbox"}, 500, ""},
		{map[string]string{"XFOLLOW_CLOCK_SCALE": "500", "AISA_BASE_URL": "http://127.0.0.1:9/apis/v1"}, nil, 500, ""},
		{map[string]string{"XFOLLOW_CLOCK_SCALE": "500", "AISA_BASE_URL": "https://api.aisa.one/apis/v1"}, nil, 0, "XFOLLOW_CLOCK_SCALE"},
		{map[string]string{"XFOLLOW_CLOCK_SCALE": "500"}, nil, 0, "XFOLLOW_CLOCK_SCALE"},
		{map[string]string{"XFOLLOW_CLOCK_SCALE": "200000"}, []string{"--sandbox"}, 0, "XFOLLOW_CLOCK_SCALE"},
		{map[string]string{"XFOLLOW_SECRET": "too-short-secret-value"}, []string{"--sandbox"}, 0, "XFOLLOW_SECRET"},
		{nil, []string{"--sandbox", "--job-max-per-15m", "51"}, 0, "job-max-per-15m"},
		{nil, []string{"--sandbox", "--job-max-per-day", "501"}, 0, "job-max-per-day"},
	} {
		cfg, _, err := parse(t, tc.env, tc.args...)
		switch {
		case tc.bad == "" && (err != nil || cfg.ClockScale != tc.scale):
			t.Errorf("%v %v: scale %v, %v", tc.env, tc.args, cfg.ClockScale, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%v %v: err %v, want one naming %s", tc.env, tc.args, err, tc.bad)
		case err != nil && strings.Contains(err.Error(), "too-short-secret-value"):
			t.Errorf("the secret was quoted: %v", err)
		}
	}
}
