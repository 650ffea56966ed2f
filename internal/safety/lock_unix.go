//go:build unix

package safety

import (
	"os"
	"syscall"
)

const openNonBlock = syscall.O_NONBLOCK

// lockFile takes an exclusive advisory lock on f, waiting for it: every
// xfollow-mcp process sharing a journal appends under it.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// syncDir makes a rename or a new file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
