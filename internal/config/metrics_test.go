package config

import (
	"strings"
	"testing"
)

func TestMetricsAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"a bare port", nil, []string{"--metrics", ":9464"}, ":9464"},
		{"a port alone", nil, []string{"--metrics", "9464"}, "9464"},
		{"every interface", nil, []string{"--metrics", "0.0.0.0:9464"}, "0.0.0.0:9464"},
		{"beside --http on another port", nil, []string{"--http", "127.0.0.1:8080", "--metrics", "127.0.0.1:9464"}, "127.0.0.1:9464"},
		{"both on port 0", nil, []string{"--http", "127.0.0.1:0", "--metrics", "127.0.0.1:0"}, "127.0.0.1:0"},
		{"from the environment", map[string]string{"XFOLLOW_METRICS": "[::1]:9464"}, nil, "[::1]:9464"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := parse(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Metrics != tc.want {
				t.Fatalf("Metrics = %q, want %q", c.Metrics, tc.want)
			}
		})
	}
}

func TestMetricsAddressRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"no port", []string{"--metrics", "127.0.0.1"}, "HOST:PORT"},
		{"port out of range", []string{"--metrics", "127.0.0.1:70000"}, "0 to 65535"},
		{"a port name", []string{"--metrics", "127.0.0.1:http"}, "0 to 65535"},
		{"the MCP port", []string{"--http", "127.0.0.1:8080", "--metrics", "0.0.0.0:8080"}, "a listener of their own"},
		{"the MCP port, bare", []string{"--http", "127.0.0.1:8080", "--metrics", "8080"}, "a listener of their own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "--metrics") {
				t.Fatalf("err = %v, want one naming --metrics and saying %q", err, tc.says)
			}
		})
	}
}
