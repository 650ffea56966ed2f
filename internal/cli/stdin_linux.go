package cli

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

// pollableStdin returns a reader of the same stdin that the runtime's poller
// can wait on, and a function that closes it.
//
// os.Stdin is a blocking file: mcp-go's read of the next line holds a thread
// in read(2), and every line that arrives must then win a P back to be
// handed on. A non-blocking file is parked in the poller instead, like a
// socket. O_NONBLOCK belongs to the open file description, which fd 0 may
// share with other processes (the terminal, a parent that kept its copy), so
// stdin itself is never changed:
//   - a pipe is opened again through /proc/self/fd/N, which makes a new open
//     file description of the same pipe, private to this process;
//   - a socket cannot be reopened, so it is duplicated and made non-blocking
//     while the server runs, then put back to blocking (a host that hands its
//     child one end of a socket pair keeps the other end, which is another
//     description);
//   - anything else (a terminal, a file, /dev/null) is served as it is.
func pollableStdin(f *os.File) (*os.File, func()) {
	noop := func() {}
	rc, err := f.SyscallConn()
	if err != nil {
		return f, noop
	}
	fd := -1
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil || fd < 0 {
		return f, noop
	}
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return f, noop
	}
	var nfd int
	restore := noop
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		nfd, err = syscall.Open("/proc/self/fd/"+strconv.Itoa(fd), syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != nil {
			return f, noop
		}
		var nst syscall.Stat_t
		if syscall.Fstat(nfd, &nst) != nil || nst.Dev != st.Dev || nst.Ino != st.Ino {
			_ = syscall.Close(nfd)
			return f, noop
		}
	case syscall.S_IFSOCK:
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			return f, noop
		}
		nfd = int(r)
		if syscall.SetNonblock(nfd, true) != nil {
			_ = syscall.Close(nfd)
			return f, noop
		}
		restore = func() { _ = syscall.SetNonblock(fd, false) }
	default:
		return f, noop
	}
	nf := os.NewFile(uintptr(nfd), f.Name())
	// A non-blocking file the poller did not take would answer EAGAIN
	// instead of waiting: only a pollable file accepts a deadline.
	if nf.SetReadDeadline(time.Time{}) != nil {
		_ = nf.Close()
		restore()
		return f, noop
	}
	return nf, func() {
		_ = nf.Close()
		restore()
	}
}
