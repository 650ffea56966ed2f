//go:build unix

package safety

import "syscall"

// openNonBlock keeps an open of a FIFO from waiting for a peer; it has no
// effect on regular files.
const openNonBlock = syscall.O_NONBLOCK
