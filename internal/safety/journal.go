// Package safety holds the state behind xfollow-mcp's safety controls: the
// write journal and the unfollow budget. It knows nothing of MCP.
package safety

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Journal phases and outcomes.
const (
	PhaseIntent  = "intent"
	PhaseOutcome = "outcome"

	OutcomeOK      = "ok"
	OutcomeRefused = "refused"
	OutcomeError   = "error"
)

// Record is one line of the journal. It never holds the API key.
type Record struct {
	Time             time.Time `json:"time"`
	CallID           string    `json:"call_id"`
	Phase            string    `json:"phase"`
	Tool             string    `json:"tool"`
	TargetUserID     string    `json:"target_user_id"`
	ExpectedUsername string    `json:"expected_username"`
	DryRun           bool      `json:"dry_run"`
	Outcome          string    `json:"outcome,omitempty"`
	Code             string    `json:"code,omitempty"`
	RequestID        string    `json:"request_id,omitempty"`
	Following        *bool     `json:"following,omitempty"`
}

// Journal appends records to a JSON Lines file, syncing each to disk before
// returning. It is safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	now  func() time.Time
	// failed is set after a write error: the journal then refuses every
	// later record, so that no write goes unrecorded (fail closed).
	failed error
}

// OpenJournal opens path for appending, creating it with mode 0600.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s cannot be opened for appending: %v", path, causeOf(err))
	}
	return &Journal{f: f, path: path, now: time.Now}, nil
}

// Path is the journal's file name.
func (j *Journal) Path() string { return j.path }

// SetClock replaces the journal's clock (tests).
func (j *Journal) SetClock(now func() time.Time) { j.now = now }

// NewCallID returns a fresh id that ties an intent to its outcome.
func NewCallID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Append writes r as one line and syncs it. The time is set if zero.
func (j *Journal) Append(r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return j.failed
	}
	if r.Time.IsZero() {
		r.Time = j.now().UTC()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := j.f.Write(line); err != nil {
		j.failed = fmt.Errorf("journal %s: write failed: %v", j.path, causeOf(err))
		return j.failed
	}
	if err := j.f.Sync(); err != nil {
		j.failed = fmt.Errorf("journal %s: sync failed: %v", j.path, causeOf(err))
		return j.failed
	}
	return nil
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}

// ReadJournal parses a journal. A last line cut short (the process was killed
// mid-write) is skipped and reported in skipped; a malformed line elsewhere
// is an error.
func ReadJournal(r io.Reader) (recs []Record, skipped int, err error) {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		complete := rerr == nil
		if len(bytes.TrimSpace(line)) > 0 {
			var rec Record
			if err := json.Unmarshal(line, &rec); err != nil {
				if !complete {
					skipped++
				} else {
					return recs, skipped, fmt.Errorf("journal line %d is not a JSON record: %v", n, err)
				}
			} else {
				recs = append(recs, rec)
			}
		}
		if rerr == io.EOF {
			return recs, skipped, nil
		}
		if rerr != nil {
			return recs, skipped, rerr
		}
	}
}

// ReadJournalFile parses the journal at path.
func ReadJournalFile(path string) ([]Record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	return ReadJournal(f)
}

// Unfollowed returns the ids the journal shows were really unfollowed (an ok
// outcome, not a dry run) at or after since, oldest first, each once, and
// leaving out those that a later successful follow already restored.
func Unfollowed(recs []Record, since time.Time, unfollowTools, followTools []string) []string {
	isIn := func(s string, list []string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	}
	state := map[string]bool{} // id -> currently unfollowed by us
	var order []string
	for _, r := range recs {
		if r.Phase != PhaseOutcome || r.Outcome != OutcomeOK || r.DryRun {
			continue
		}
		switch {
		case isIn(r.Tool, unfollowTools) && !r.Time.Before(since):
			if _, seen := state[r.TargetUserID]; !seen {
				order = append(order, r.TargetUserID)
			}
			state[r.TargetUserID] = true
		case isIn(r.Tool, followTools):
			if _, seen := state[r.TargetUserID]; seen {
				state[r.TargetUserID] = false
			}
		}
	}
	var out []string
	for _, id := range order {
		if state[id] {
			out = append(out, id)
		}
	}
	return out
}

// causeOf drops the *PathError wrapper (whose text repeats the path).
func causeOf(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
