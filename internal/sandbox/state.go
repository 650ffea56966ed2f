package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
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
}

// LoadState replays the state file at path (when it exists) over s and
// appends every later write to it, creating it (mode 0600) when needed. A
// line it cannot read is an error: a world half-restored would mislead.
func (s *Sandbox) LoadState(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sandbox state %s cannot be opened: %w", path, unwrapPath(err))
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var op stateOp
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil || !idRe.MatchString(op.Src) || !idRe.MatchString(op.Dst) {
			_ = f.Close()
			return fmt.Errorf("sandbox state %s: line %d is not a follow, unfollow or request of two ids; remove the file to start the sandbox afresh", path, line)
		}
		s.apply(op)
	}
	if err := sc.Err(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sandbox state %s cannot be read: %w", path, unwrapPath(err))
	}
	s.state = f
	return nil
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

// record appends op to the state file, when there is one; s.mu is held.
func (s *Sandbox) record(op string, src, dst string) error {
	if s.state == nil {
		return nil
	}
	b, err := json.Marshal(stateOp{Time: s.opts.Now().UTC(), Op: op, Src: src, Dst: dst})
	if err != nil {
		return err
	}
	_, err = s.state.Write(append(b, '\n'))
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
