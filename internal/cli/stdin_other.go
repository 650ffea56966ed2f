//go:build !linux

package cli

import "os"

// pollableStdin serves stdin as it is outside Linux (see stdin_linux.go).
func pollableStdin(f *os.File) (*os.File, func()) { return f, func() {} }
