package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// The sandbox's state file keeps what the write endpoints changed, so that
// processes started one after another (call, undo, the finder) see one
// world: a JSON Lines log of follows, unfollows and follow requests, each
// with the accounts it joins and its time, replayed over the seeded graph
// at start and appended to as writes happen. Only the follow graph (and
// the simulated X unfollow limit's recent unfollows) is kept; the seeded
// accounts and the big graph are rebuilt as ever, and the link to X is
// always made.

// StateFileName is the state file's name in the journal's directory, where
// it is kept by default when a journal is set.
const StateFileName = "xfollow-sandbox-state.jsonl"

// stateOp is one line of the state file.
type stateOp struct {
	Time time.Time `json:"time"`
	Op   string    `json:"op"` // follow, unfollow, request
	Src  string    `json:"src"`
	Dst  string    `json:"dst"`
	By   string    `json:"by,omitempty"` // the process that wrote it
}

// LoadState replays the state file at path (when it exists) over s and
// appends every later write to it, creating it (mode 0600) when needed. A
// line it cannot read is an error: a world half-restored would mislead. A
// line cut short (a record that stops mid-way: a full disk, or a process
// killed mid-write) is skipped: its write was answered with an error and
// its change never made.
func (s *Sandbox) LoadState(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	notPlain := func(m os.FileMode) error {
		kind := "not a plain file"
		switch {
		case m.IsDir():
			kind = "a directory"
		case m&os.ModeNamedPipe != 0:
			kind = "a named pipe"
		case m&os.ModeDevice != 0:
			kind = "a device"
		case m&os.ModeSocket != 0:
			kind = "a socket"
		}
		return fmt.Errorf("sandbox state %s is not a regular file (%s); give the path of a plain file", path, kind)
	}
	// Refused before the open and again on the open file: a FIFO would
	// block the start for ever, a device would swallow every write.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return notPlain(st.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sandbox state %s cannot be opened: %w", path, unwrapPath(err))
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("sandbox state %s cannot be read: %w", path, unwrapPath(err))
		}
		return notPlain(st.Mode())
	}
	s.state, s.stateOff, s.stateBy = f, 0, randomHex(8)
	if err := s.readState(true); err != nil {
		_ = f.Close()
		s.state = nil
		return fmt.Errorf("sandbox state %s%v", path, err)
	}
	return nil
}

// readState applies the lines other processes appended to the state file
// since this one last read it (at start: every line), in the file's order,
// and moves past them. Only whole lines are read: a line still being
// written is read once it ends. A line cut short is skipped; any other
// line that is not a state record is an error at start and skipped later
// (a running sandbox goes on). s.mu is held.
func (s *Sandbox) readState(start bool) error {
	st, err := s.state.Stat()
	if err != nil || st.Size() <= s.stateOff {
		if err != nil {
			return fmt.Errorf(" cannot be read: %w", unwrapPath(err))
		}
		return nil
	}
	br := bufio.NewReader(io.NewSectionReader(s.state, s.stateOff, st.Size()-s.stateOff))
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err == io.EOF {
			return nil // nothing, or a line not ended yet
		}
		if err != nil {
			return fmt.Errorf(" cannot be read: %w", unwrapPath(err))
		}
		s.stateOff += int64(len(b))
		s.stateLine++
		line := bytes.TrimSpace(b)
		if len(line) == 0 {
			continue
		}
		var op stateOp
		err = json.Unmarshal(line, &op)
		if err != nil && cutShort(line) {
			continue
		}
		if err != nil || !idRe.MatchString(op.Src) || !idRe.MatchString(op.Dst) {
			if start {
				return fmt.Errorf(": line %d is not a follow, unfollow or request of two ids; remove the file to start the sandbox afresh", s.stateLine)
			}
			continue
		}
		if op.By != "" && op.By == s.stateBy {
			continue // this process's own write, made when it was written
		}
		s.apply(op)
	}
}

// syncState catches up with the state file, when there is one.
func (s *Sandbox) syncState() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != nil {
		_ = s.readState(false)
	}
}

// apply makes op's change; s.mu is held.
func (s *Sandbox) apply(op stateOp) {
	s.ensureBigFor(op.Src)
	s.ensureBigFor(op.Dst)
	switch op.Op {
	case "follow":
		delete(s.pending[op.Src], op.Dst)
		s.follow(op.Src, op.Dst)
	case "unfollow":
		s.unfollow(op.Src, op.Dst)
		delete(s.pending[op.Src], op.Dst)
		if op.Src == s.me {
			s.unfollows = append(s.unfollows, op.Time)
		}
	case "request":
		if s.pending[op.Src] == nil {
			s.pending[op.Src] = map[string]bool{}
		}
		s.pending[op.Src][op.Dst] = true
	}
}

// cutShort reports whether line is the start of a JSON value that stops
// before its end: what a write cut short leaves.
func cutShort(line []byte) bool {
	var v any
	return errors.Is(json.NewDecoder(bytes.NewReader(line)).Decode(&v), io.ErrUnexpectedEOF)
}

// record appends op to the state file, when there is one; s.mu is held.
// When the file does not end at a line boundary (a write cut short, by this
// process or another sharing the file), the fragment is closed off first,
// so that this record is a line of its own.
func (s *Sandbox) record(op string, src, dst string) error {
	if s.state == nil {
		return nil
	}
	// What others wrote first comes first, as in the file.
	_ = s.readState(false)
	b, err := json.Marshal(stateOp{Time: s.opts.Now().UTC(), Op: op, Src: src, Dst: dst, By: s.stateBy})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if st, err := s.state.Stat(); err == nil && st.Size() > 0 {
		last := []byte{0}
		if _, err := s.state.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	_, err = s.state.Write(b)
	return err
}

// CloseState closes the state file.
func (s *Sandbox) CloseState() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		return nil
	}
	err := s.state.Close()
	s.state = nil
	return err
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
