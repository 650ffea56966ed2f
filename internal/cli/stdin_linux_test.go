package cli

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func nonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	_ = rc.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		flags = int(r)
		if errno != 0 {
			ferr = errno
		}
	})
	if ferr != nil {
		t.Fatal(ferr)
	}
	return flags&syscall.O_NONBLOCK != 0
}

// pollable reports whether the runtime's poller serves f (only then does it
// take a deadline).
func pollable(f *os.File) bool { return f.SetReadDeadline(time.Time{}) == nil }

func TestPollableStdinPipeLeavesStdinBlocking(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// os.Pipe's ends are pollable; make r an inherited, blocking stdin.
	r = os.NewFile(dupBlocking(t, r), "stdin")
	defer r.Close()
	if nonblocking(t, r) || pollable(r) {
		t.Fatal("setup: the read end should be blocking")
	}
	in, done := pollableStdin(r)
	if in == r {
		t.Fatal("a pipe was served as it is")
	}
	if !pollable(in) {
		t.Fatal("the reopened pipe is not pollable")
	}
	if nonblocking(t, r) {
		t.Fatal("O_NONBLOCK leaked to the inherited stdin")
	}
	go func() {
		_, _ = w.Write([]byte("{\"jsonrpc\":\"2.0\"}\n"))
		w.Close()
	}()
	b, err := io.ReadAll(in)
	if err != nil || string(b) != "{\"jsonrpc\":\"2.0\"}\n" {
		t.Fatalf("read %q, %v", b, err)
	}
	done()
	if nonblocking(t, r) {
		t.Fatal("stdin is non-blocking after the server stopped")
	}
}

func TestPollableStdinSocketIsRestored(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	stdin, peer := os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[1]), "peer")
	defer stdin.Close()
	defer peer.Close()
	in, done := pollableStdin(stdin)
	if in == stdin || !pollable(in) {
		t.Fatal("a socket stdin was not made pollable")
	}
	if _, err := peer.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := in.Read(buf); err != nil || string(buf[:n]) != "x\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	done()
	if nonblocking(t, stdin) {
		t.Fatal("the socket was left non-blocking after the server stopped")
	}
}

func TestPollableStdinLeavesTerminalsAndFilesAlone(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	others := []*os.File{file, devnull}
	// A terminal: the master side of a new pseudo-terminal.
	// os.OpenFile makes it non-blocking; an inherited terminal is not.
	if tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0); err == nil {
		defer tty.Close()
		blocking := os.NewFile(dupBlocking(t, tty), "tty")
		defer blocking.Close()
		others = append(others, blocking)
	}
	for _, f := range others {
		in, done := pollableStdin(f)
		if in != f {
			t.Errorf("%s: replaced; only pipes and sockets are", f.Name())
		}
		done()
		if nonblocking(t, f) {
			t.Errorf("%s: made non-blocking", f.Name())
		}
	}
}

// dupBlocking returns a blocking duplicate of f's descriptor.
func dupBlocking(t *testing.T, f *os.File) uintptr {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nfd int
	var derr error
	_ = rc.Control(func(fd uintptr) {
		nfd, derr = syscall.Dup(int(fd))
		if derr == nil {
			derr = syscall.SetNonblock(nfd, false)
		}
	})
	if derr != nil {
		t.Fatal(derr)
	}
	return uintptr(nfd)
}
