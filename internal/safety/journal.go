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
	"path/filepath"
	"sync"
	"time"
)

// Journal phases and outcomes. Every write attempt journals an intent before
// the gateway sees it and exactly one outcome after:
//   - ok: the gateway confirmed the write;
//   - noop: nothing needed doing (an unfollow of an account not followed), so
//     nothing was sent;
//   - refused: a safety control stopped it; nothing was sent;
//   - failed: the gateway said no (400/401/403/404/422, or a failure
//     envelope that says it was not done);
//   - unknown: the server did not see a trustworthy answer (timeout, broken
//     connection, cancellation in flight, 5xx, an undecodable answer). The
//     write may have happened.
//
// An intent with no outcome (the process died in between) reads as unknown.
const (
	PhaseIntent  = "intent"
	PhaseOutcome = "outcome"
	PhaseRepair  = "repair" // a note that line Line was torn by a crash

	OutcomeOK      = "ok"
	OutcomeNoop    = "noop"
	OutcomeRefused = "refused"
	OutcomeFailed  = "failed"
	OutcomeUnknown = "unknown"

	// outcomeLegacyError is what journals written before outcomes were split
	// said for any gateway failure.
	outcomeLegacyError = "error"
)

// GatewaySandbox names the built-in simulated gateway in journal records.
const GatewaySandbox = "sandbox"

// Record is one line of the journal. It never holds the API key: the key is
// named by its fingerprint.
type Record struct {
	Time             time.Time `json:"time"`
	CallID           string    `json:"call_id,omitempty"`
	Phase            string    `json:"phase"`
	Tool             string    `json:"tool,omitempty"`
	TargetUserID     string    `json:"target_user_id,omitempty"`
	ExpectedUsername string    `json:"expected_username"`
	Username         string    `json:"username,omitempty"`        // the target's handle, when the server resolved it
	Gateway          string    `json:"gateway,omitempty"`         // "sandbox", or the gateway's host
	KeyFingerprint   string    `json:"key_fingerprint,omitempty"` // first 16 hex characters of the key's SHA-256
	DryRun           bool      `json:"dry_run"`
	WasFollowing     *bool     `json:"was_following,omitempty"` // before an unfollow; absent when not checked
	Outcome          string    `json:"outcome,omitempty"`
	Code             string    `json:"code,omitempty"`
	RequestID        string    `json:"request_id,omitempty"`
	Following        *bool     `json:"following,omitempty"`
	Line             int       `json:"line,omitempty"`   // repair records: the torn line
	JobID            string    `json:"job_id,omitempty"` // the job whose item this write is; "" for a direct call
	// Job is the payload of a job's own records (phases "job" and
	// "job_control", package jobs); readers of writes skip those phases.
	Job json.RawMessage `json:"job,omitempty"`
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
	// TornLine is the line number of a last line that a crash left
	// incomplete, found and closed off when the journal was opened; 0 if none.
	TornLine int

	// offset is how much of the file this process has seen: read, or
	// written itself. What lies beyond it was appended by other processes
	// sharing the journal (one server per host window, say).
	offset int64
	// onForeign receives those records, read under the file lock before
	// every append, so that state rebuilt from the journal (the budget)
	// keeps up with the other processes.
	onForeign func([]Record)
}

// openRegular opens path with flag, refusing anything but a regular file
// before it can block (a FIFO with no peer) or read for ever (a device).
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("journal %s is not a regular file (%s); give the path of a plain file", path, fileKind(st.Mode()))
	}
	f, err := os.OpenFile(path, flag|openNonBlock, perm)
	if err != nil {
		return nil, err
	}
	// Checked again on the open file: the path may have changed in between.
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("journal %s is not a regular file (%s); give the path of a plain file", path, fileKind(st.Mode()))
	}
	return f, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// OpenJournal opens path for appending, creating it with mode 0600. Only a
// regular file is accepted. If a crash left the last line without its
// newline, the line is closed off and a repair record names it, so the next
// record starts on a line of its own; TornLine tells the caller, who reports
// it once.
func OpenJournal(path string) (*Journal, error) {
	f, err := openRegular(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// The file is created on first use; its folder is not.
			return nil, fmt.Errorf("journal %s cannot be opened for appending: %v; create the folder %s first", path, causeOf(err), filepath.Dir(path))
		}
		return nil, fmt.Errorf("journal %s cannot be opened for appending: %v", path, causeOf(err))
	}
	j := &Journal{f: f, path: path, now: time.Now}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s cannot be locked: %v", path, causeOf(err))
	}
	defer unlockFile(f)
	torn, err := tornLastLine(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s cannot be read: %v", path, causeOf(err))
	}
	if torn > 0 {
		j.TornLine = torn
		rec, _ := json.Marshal(Record{Time: j.now().UTC(), Phase: PhaseRepair, Line: torn})
		if _, err := f.Write(append(append([]byte{'\n'}, rec...), '\n')); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal %s: cannot close off its torn last line: %v", path, causeOf(err))
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal %s: sync failed: %v", path, causeOf(err))
		}
	}
	return j, nil
}

// tornLastLine returns the number of the last line when it has no newline
// (0 when the file is empty or ends with one).
func tornLastLine(f *os.File) (int, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return 0, nil
	}
	n, err := countLines(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return 0, err
	}
	return n + 1, nil
}

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// NewCallID returns a fresh id that ties an intent to its outcome.
func NewCallID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Records reads the whole journal, as ReadJournal does, and marks it seen:
// later appends by other processes reach OnForeign instead.
func (j *Journal) Records() ([]Record, []Warning, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := lockFile(j.f); err != nil {
		return nil, nil, err
	}
	defer unlockFile(j.f)
	st, err := j.f.Stat()
	if err != nil {
		return nil, nil, err
	}
	recs, warnings, err := ReadJournal(io.NewSectionReader(j.f, 0, st.Size()))
	if err == nil {
		j.offset = st.Size()
	}
	return recs, warnings, err
}

// Scan calls fn with every record whose time is at or after since, in
// journal order, until fn returns false. It reads what every process sharing
// the journal has appended. Callers that need only recent history (budget
// windows, undo --since, history, jobs) use it instead of Records, so that
// the journal's layout can keep old history out of their way.
func (j *Journal) Scan(since time.Time, fn func(Record) bool) error {
	recs, _, err := j.Records()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Time.Before(since) {
			continue
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// OnForeign sets the function that receives records other processes
// appended, each batch once, before this process appends.
func (j *Journal) OnForeign(fn func([]Record)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.onForeign = fn
}

// catchUp hands what other processes appended since this one last looked to
// onForeign. The caller holds j.mu and the file lock.
func (j *Journal) catchUp() error {
	st, err := j.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() <= j.offset {
		return nil
	}
	recs, _, err := ReadJournal(io.NewSectionReader(j.f, j.offset, st.Size()-j.offset))
	if err != nil {
		return err
	}
	j.offset = st.Size()
	if j.onForeign != nil && len(recs) > 0 {
		j.onForeign(recs)
	}
	return nil
}

// Append writes r as one line and syncs it. The time is set if zero.
func (j *Journal) Append(r Record) error {
	return j.Exclusive(func(appendRec func(Record) error) error { return appendRec(r) })
}

// Exclusive runs fn with the journal to itself across processes: other
// processes' new records have reached OnForeign first, and nobody else
// appends until fn returns. fn appends with appendRec. A budget slot taken
// and its intent written inside one Exclusive are atomic for every process
// sharing the journal.
func (j *Journal) Exclusive(fn func(appendRec func(Record) error) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return j.failed
	}
	if err := lockFile(j.f); err != nil {
		j.failed = fmt.Errorf("journal %s: lock failed: %v", j.path, causeOf(err))
		return j.failed
	}
	defer unlockFile(j.f)
	if err := j.catchUp(); err != nil {
		j.failed = fmt.Errorf("journal %s: read failed: %v", j.path, causeOf(err))
		return j.failed
	}
	return fn(j.appendLocked)
}

// appendLocked writes one record; the caller holds j.mu and the file lock.
func (j *Journal) appendLocked(r Record) error {
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
	j.offset += int64(len(line))
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

// Warning is a journal line that was skipped.
type Warning struct {
	Line int
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("journal line %d %s", w.Line, w.Msg) }

// ReadJournal parses a journal. A line that is not a record is skipped with
// a warning naming it, never an error: the journal must stay readable
// exactly when a crash has damaged it. Lines that a repair record already
// names were reported when they were repaired and are skipped silently.
func ReadJournal(r io.Reader) (recs []Record, warnings []Warning, err error) {
	br := bufio.NewReader(r)
	repaired := map[int]bool{}
	var bad []Warning
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		complete := rerr == nil
		if len(bytes.TrimSpace(line)) > 0 {
			var rec Record
			if jerr := json.Unmarshal(line, &rec); jerr != nil || rec.Phase == "" {
				msg := "is not a JSON record and was skipped"
				if !complete {
					msg = "is incomplete (the server was killed mid-write) and was skipped"
				}
				bad = append(bad, Warning{Line: n, Msg: msg})
			} else if rec.Phase == PhaseRepair {
				repaired[rec.Line] = true
			} else {
				recs = append(recs, rec)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return recs, nil, rerr
		}
	}
	for _, w := range bad {
		if !repaired[w.Line] {
			warnings = append(warnings, w)
		}
	}
	return recs, warnings, nil
}

// ReadJournalFile parses the journal at path, which must be a regular file.
func ReadJournalFile(path string) ([]Record, []Warning, error) {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return ReadJournal(f)
}

// causeOf drops the *PathError wrapper (whose text repeats the path).
func causeOf(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
