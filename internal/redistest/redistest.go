// Package redistest starts real redis-server processes for tests, each on a
// free loopback port, with no persistence. Tests that need one skip when the
// binary is missing, except in CI (CI=true), where they fail: CI installs
// the Debian package redis-server.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a server.
type Options struct {
	Password string // requirepass; "" for none
}

// Server is one redis-server the test started.
type Server struct {
	t    testing.TB
	o    Options
	bin  string
	dir  string
	Port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  strings.Builder
}

// Binary returns the path of redis-server, or skips t (fails it in CI).
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed, and CI must run the tests against a real Redis: install the Debian package redis-server (.ci/run does)")
		}
		t.Skip("redis-server is not installed (Debian package redis-server); skipping the tests that need a real Redis")
	}
	return bin
}

// Start starts a redis-server on a free loopback port; it is killed when
// the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, o: o, bin: Binary(t), dir: t.TempDir()}
	var err error
	for range 5 { // the free port may be taken between the probe and the start
		if s.Port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.launch(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", err)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the process on s.Port and waits until it accepts
// connections (it says so on stdout), or it exits, or 10 s pass.
func (s *Server) launch() error {
	args := []string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--logfile", "", "--dir", s.dir}
	if s.o.Password != "" {
		args = append(args, "--requirepass", s.o.Password)
	}
	cmd := exec.Command(s.bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-ready:
		s.mu.Lock()
		s.cmd, s.done = cmd, done
		s.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("redis-server exited at start on port %d:\n%s", s.Port, s.Log())
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("redis-server not ready after 10s on port %d:\n%s", s.Port, s.Log())
	}
}

// Log is what the server printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is a redis:// URL for database db, with the password when there is one.
func (s *Server) URL(db int) string {
	if s.o.Password != "" {
		return fmt.Sprintf("redis://:%s@%s/%d", s.o.Password, s.Addr(), db)
	}
	return fmt.Sprintf("redis://%s/%d", s.Addr(), db)
}

// Stop kills the server (as a crash or an outage would) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port, empty (it keeps
// nothing on disk).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 20 { // the port is free again once the old process is gone; retry briefly if the kernel disagrees
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not restart on port %d: %v", s.Port, err)
}
