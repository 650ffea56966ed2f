//go:build !unix

package safety

import "os"

// openNonBlock: elsewhere than Unix a FIFO cannot be opened by path.
const openNonBlock = 0

// lockFile is a no-op where flock does not exist: processes sharing one
// journal there do not see each other's budget (use --state).
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}

// syncDir is a no-op where folders cannot be synced.
func syncDir(string) error { return nil }
