package jobs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Locks are per-job file locks in a folder beside the journal: the process
// holding a job's lock is the only one that advances it. A killed process's
// locks are freed by the operating system, so another takes its jobs over.
type Locks struct {
	dir  string
	mu   sync.Mutex
	held map[string]*os.File
}

// NewLocks keeps job locks in dir, created with mode 0700.
func NewLocks(dir string) (*Locks, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("job locks folder %s: %w", dir, err)
	}
	return &Locks{dir: dir, held: map[string]*os.File{}}, nil
}

// TryLock takes job id's lock if no other process holds it; true when this
// process holds it (now or already).
func (l *Locks) TryLock(id string) (bool, error) {
	if !ValidID(id) {
		return false, fmt.Errorf("not a job id: %q", id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[id] != nil {
		return true, nil
	}
	f, err := os.OpenFile(filepath.Join(l.dir, id+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	ok, err := tryLock(f)
	if !ok || err != nil {
		f.Close()
		return false, err
	}
	l.held[id] = f
	return true, nil
}

// Unlock gives job id's lock back.
func (l *Locks) Unlock(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.held[id]; f != nil {
		f.Close()
		delete(l.held, id)
	}
}

// Close gives every lock back.
func (l *Locks) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, f := range l.held {
		f.Close()
		delete(l.held, id)
	}
}
