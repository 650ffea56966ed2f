//go:build !unix

package jobs

import "os"

// tryLock on systems without flock: the lock file is held open exclusively
// by name only, which is best effort (one process per journal is advised).
func tryLock(f *os.File) (bool, error) { return true, nil }
