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

// Two servers in one process whose lives overlap (undone in the order
// they started): the settings hold while either serves and are Go's own
// again once both have returned.
func TestServerGCSettingsOverlappingServers(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	old := cgroupMemoryFiles
	t.Cleanup(func() { cgroupMemoryFiles = old })
	cgroupMemoryFiles = nil
	p0, l0 := gcSettings()
	t.Cleanup(func() { debug.SetGCPercent(p0); debug.SetMemoryLimit(l0) })
	env := func(string) string { return "" }
	undoA := tuneServerGC(env, logger)
	undoB := tuneServerGC(env, logger)
	undoA()
	if p, l := gcSettings(); p != serverGCPercent || l != serverGCLimit {
		t.Errorf("while the second server serves: GOGC %d, soft limit %d; want %d, %d", p, l, serverGCPercent, serverGCLimit)
	}
	undoB()
	undoB() // a second undo changes nothing
	if p, l := gcSettings(); p != p0 || l != l0 {
		t.Errorf("both returned: GOGC %d, soft limit %d; want %d, %d as before", p, l, p0, l0)
	}
}
