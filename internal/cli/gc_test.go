package cli

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func gcSettings() (percent int, limit int64) {
	percent = debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1) // a negative value reads it
}

func TestServerGCSettings(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	cg := filepath.Join(dir, "memory.max")
	old := cgroupMemoryFiles
	t.Cleanup(func() { cgroupMemoryFiles = old })
	cgroupMemoryFiles = []string{cg}
	p0, l0 := gcSettings()
	for _, c := range []struct {
		name, cgroup string
		env          map[string]string
		percent      int
		limit        int64
	}{
		{"no cgroup limit", "max\n", nil, serverGCPercent, serverGCLimit},
		{"a container of 128 MiB", "134217728\n", nil, serverGCPercent, 64 << 20},
		{"a container of 1 GiB", "1073741824\n", nil, serverGCPercent, serverGCLimit},
		{"GOGC set", "max\n", map[string]string{"GOGC": "50"}, p0, l0},
		{"GOMEMLIMIT set", "max\n", map[string]string{"GOMEMLIMIT": "1GiB"}, p0, l0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(cg, []byte(c.cgroup), 0o600); err != nil {
				t.Fatal(err)
			}
			undo := tuneServerGC(func(k string) string { return c.env[k] }, logger)
			p, l := gcSettings()
			undo()
			if p != c.percent || l != c.limit {
				t.Errorf("GOGC %d, soft limit %d; want %d, %d", p, l, c.percent, c.limit)
			}
			if p, l := gcSettings(); p != p0 || l != l0 {
				t.Errorf("not undone: GOGC %d, soft limit %d; was %d, %d", p, l, p0, l0)
			}
		})
	}
}
