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
	"io/fs"
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

// Journal appends records to a journal (see the package doc for its
// layout), syncing each to disk before returning. It is safe for concurrent
// use, and several processes may share one journal.
type Journal struct {
	mu   sync.Mutex
	path string // the active segment
	dir  string // path + ".d": sealed segments, checkpoint, pins, lock
	opts JournalOptions
	now  func() time.Time

	lock *os.File // dir/lock: every process sharing the journal appends under it
	f    *os.File // the active segment, opened for appending
	// active is what this process has read of the active segment: the
	// records it wrote and the ones other processes wrote, all of which it
	// has seen. Everything beyond active.Size that ends in a newline was
	// appended by other processes since; a tail without one is a fragment.
	active segMeta
	sealed []segMeta // oldest first
	// ckptSize is active.Size as the checkpoint on disk has it (-1: the
	// checkpoint does not cover the active segment).
	ckptSize int64
	// slots follows the writes that hold a budget slot, from every record
	// this process appends or reads from others (see Slots).
	slots      *slotState
	legacyGone bool // the checkpoint of earlier versions was removed

	// failed is set after an error: the journal then refuses every record,
	// so that no write goes unrecorded (fail closed). A failed write (a full
	// disk) is retried by the next Exclusive, which first closes off what
	// the write left; a failed sync is final.
	failed error
	final  bool

	// TornLine is the line number of a last line that a crash left
	// incomplete, found and closed off when the journal was opened; 0 if none.
	TornLine int
	// Tightened names the journal's files and folder that other users could
	// read, whose mode was tightened when the journal was opened.
	Tightened []string
	// Skipped are the lines that were not records among those opening the
	// journal read (the records after the checkpoint, or the last day's
	// when the checkpoint could not give its writes), the first 100; lines
	// a repair record names are left out, as reported already.
	Skipped []Warning

	onForeign func([]Record)
	onWarn    func(msg string, args ...any)
	warned    map[string]bool

	// Test hooks: crash is called at the named points of rotation,
	// checkpointing and retention; write replaces f.Write.
	crash func(point string)
	write func(f *os.File, b []byte) (int, error)
}

// JournalOptions tunes a journal. OpenJournal uses DefaultJournalOptions.
type JournalOptions struct {
	// Retention is how long sealed segments are kept: a segment whose every
	// record is older than Retention, and older than every pin and the
	// budget's 24 hours, is deleted. 0 keeps everything.
	Retention time.Duration
	// RotateSize seals the active segment once it is this large (0: 64 MiB).
	// The active segment is also sealed at the first append of a new day (UTC).
	RotateSize int64
	// CheckpointEvery rewrites the checkpoint once this many bytes were
	// appended after it (0: 1 MiB). Start reads at most about this much of
	// the active segment beyond what the checkpoint covers.
	CheckpointEvery int64
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// DefaultRetention is --journal-retention's default: 400 days.
const DefaultRetention = 400 * 24 * time.Hour

// DefaultJournalOptions are the options OpenJournal uses.
func DefaultJournalOptions() JournalOptions { return JournalOptions{Retention: DefaultRetention} }

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

// OpenJournal opens the journal at path with DefaultJournalOptions.
func OpenJournal(path string) (*Journal, error) {
	return OpenJournalWith(path, DefaultJournalOptions())
}

// OpenJournalWith opens the journal whose active segment is path (a regular
// file, created with mode 0600) and whose other parts live in path+".d"
// (created with mode 0700). A single-file journal of an older version is
// the active segment as it is, and is sealed like any other when it is due.
// If a crash left the last line without its newline, the line is closed off
// and a repair record names it, so the next record starts on a line of its
// own; TornLine tells the caller, who reports it once. Files or the folder
// that group or others could read are tightened (Tightened names them).
func OpenJournalWith(path string, o JournalOptions) (*Journal, error) {
	if o.RotateSize <= 0 {
		o.RotateSize = 64 << 20
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 1 << 20
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	path = followLinks(path)
	j := &Journal{path: path, dir: path + ".d", opts: o, now: now, ckptSize: -1, warned: map[string]bool{}}
	// Refuse what is not a regular file before anything is created beside it.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("journal %s is not a regular file (%s); give the path of a plain file", path, fileKind(st.Mode()))
	}
	if err := os.Mkdir(j.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrNotExist) {
			// The journal is created on first use; its folder is not.
			return nil, fmt.Errorf("journal %s cannot be opened for appending: %v; create the folder %s first", path, causeOf(err), filepath.Dir(path))
		}
		return nil, fmt.Errorf("journal %s: its segment folder %s cannot be created: %v", path, j.dir, causeOf(err))
	}
	if st, err := os.Stat(j.dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("journal %s: %s must be the journal's segment folder, but it is not a folder; move it away", path, j.dir)
	}
	j.tighten(j.dir, 0o700)
	lock, err := openRegular(filepath.Join(j.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s cannot be opened: %v", path, causeOf(err))
	}
	j.lock = lock
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal %s cannot be locked: %v", path, causeOf(err))
	}
	defer unlockFile(lock)
	err = j.load(true)
	if err == nil && j.slots == nil {
		err = j.rebuildSlots()
	}
	if err != nil {
		j.closeFiles()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("journal %s cannot be opened for appending: %v; create the folder %s first", path, causeOf(err), filepath.Dir(path))
		}
		return nil, fmt.Errorf("journal %s cannot be opened: %v", path, causeOf(err))
	}
	j.tighten(path, 0o600)
	for _, name := range []string{"lock", checkpointName, "pins.json"} {
		j.tighten(filepath.Join(j.dir, name), 0o600)
	}
	_ = lockFile(j.f)
	defer func() { unlockFile(j.f) }()
	line, err := j.repair()
	if err != nil {
		j.closeFiles()
		return nil, fmt.Errorf("journal %s: cannot close off its torn last line: %v", path, causeOf(err))
	}
	j.TornLine = line
	if j.rotateDue() {
		if err := j.rotate(); err != nil {
			j.closeFiles()
			return nil, fmt.Errorf("journal %s: cannot seal its active segment: %v", path, causeOf(err))
		}
	} else {
		j.maybeCheckpoint(true)
	}
	return j, nil
}

// followLinks returns the file a journal path names through symbolic links
// (a dotfile linked to a file kept elsewhere), even one not created yet. A
// seal renames the active segment: renaming the link itself would move the
// link into the segment folder, where a link is not read as a segment, and
// put a plain file in its place.
func followLinks(path string) string {
	for range 40 {
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			return path
		}
		to, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(path), to)
		}
		path = to
	}
	return path
}

// tighten takes group and other permissions off path, noting it.
func (j *Journal) tighten(path string, mode os.FileMode) {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(path, mode); err == nil {
		j.Tightened = append(j.Tightened, fmt.Sprintf("%s (was %04o, now %04o)", path, st.Mode().Perm(), mode))
	}
}

func (j *Journal) closeFiles() {
	if j.f != nil {
		_ = j.f.Close()
	}
	if j.lock != nil {
		_ = j.lock.Close()
	}
}

// lockAll takes the journal's lock. The active segment is locked too, so
// that a server of an older version, which locks only its journal file,
// never appends between another's catch-up and append.
func (j *Journal) lockAll() error {
	if err := lockFile(j.lock); err != nil {
		return err
	}
	if err := lockFile(j.f); err != nil {
		unlockFile(j.lock)
		return err
	}
	return nil
}

func (j *Journal) unlockAll() {
	unlockFile(j.f)
	unlockFile(j.lock)
}

// NewCallID returns a fresh id that ties an intent to its outcome.
func NewCallID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// OnForeign sets the function that receives records other processes
// appended, each batch once, before this process appends or scans.
func (j *Journal) OnForeign(fn func([]Record)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.onForeign = fn
}

// OnWarn sets the function that reports, once each, what the journal
// repaired or could not do in the background (a fragment closed off before
// an append, a checkpoint or retention that failed). The caller logs it.
func (j *Journal) OnWarn(fn func(msg string, args ...any)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.onWarn = fn
}

func (j *Journal) warn(key, msg string, args ...any) {
	if j.warned[key] {
		return
	}
	j.warned[key] = true
	if j.onWarn != nil {
		j.onWarn(msg, args...)
	}
}

// Records reads the whole journal, every segment, and marks it seen: later
// appends by other processes reach OnForeign instead. It reads all history:
// callers that need only recent records use Scan.
func (j *Journal) Records() ([]Record, []Warning, error) {
	var recs []Record
	var warnings []Warning
	err := j.ScanWarn(time.Time{}, func(r Record) bool { recs = append(recs, r); return true },
		func(w Warning) { warnings = append(warnings, w) })
	return recs, warnings, err
}

// Scan calls fn with every record whose time is at or after since, in
// journal order, until fn returns false. It reads what every process sharing
// the journal has appended, and only the segments (and, within a segment,
// the blocks) that can hold such records. Records other processes appended
// since this one last looked reach OnForeign first, as before an append, so
// a caller that rebuilds state from Scan and then follows OnForeign sees
// every record exactly once. fn runs without the journal's locks: it may
// append.
func (j *Journal) Scan(since time.Time, fn func(Record) bool) error {
	return j.ScanWarn(since, fn, nil)
}

// ScanWarn is Scan that also reports the skipped lines it meets (warn may
// be nil).
func (j *Journal) ScanWarn(since time.Time, fn func(Record) bool, warn func(Warning)) error {
	return j.scan(since, false, fn, warn)
}

// ScanJobs is Scan reading only the blocks of the journal that may hold
// jobs' records (records with a job id, and jobs' own phases): fn gets
// every such record at or after since, and perhaps some others. What a
// start reads for its jobs then grows with the jobs, not with the history.
func (j *Journal) ScanJobs(since time.Time, fn func(Record) bool) error {
	return j.scan(since, true, fn, nil)
}

func (j *Journal) scan(since time.Time, jobs bool, fn func(Record) bool, warn func(Warning)) error {
	parts, err := j.snapshot(since, jobs)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range parts {
			_ = p.f.Close()
		}
	}()
	for _, p := range parts {
		stop, err := readSection(p.f, p.from, p.to, p.line, p.name, since, fn, warn)
		if err != nil {
			return fmt.Errorf("journal %s: %s: %v", j.path, p.name, causeOf(err))
		}
		if stop {
			return nil
		}
	}
	return nil
}

// part is a piece of one segment that a scan reads.
type part struct {
	f        *os.File
	name     string
	from, to int64
	line     int // lines before from
}

// snapshot catches up and opens, under the lock, every segment that may
// hold records at or after since (jobs: only its blocks that may hold
// jobs' records).
func (j *Journal) snapshot(since time.Time, jobs bool) ([]part, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.lockAll(); err != nil {
		return nil, fmt.Errorf("journal %s: lock failed: %v", j.path, causeOf(err))
	}
	defer j.unlockAll()
	if err := j.catchUp(); err != nil {
		return nil, fmt.Errorf("journal %s: read failed: %v", j.path, causeOf(err))
	}
	var parts []part
	add := func(m *segMeta) error {
		var runs []part
		if jobs {
			runs = m.jobRuns(since)
		} else if from, line := m.seek(since); from < m.Size {
			runs = []part{{from: from, to: m.Size, line: line}}
		}
		if len(runs) == 0 {
			return nil
		}
		path := j.path
		if m != &j.active {
			path = segPath(j.dir, m.Seq)
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) && m != &j.active {
			return nil // deleted by another process's retention since
		}
		if err != nil {
			for _, p := range parts {
				_ = p.f.Close()
			}
			return err
		}
		// The parts of one segment share its file (closing it again is
		// harmless: *os.File closes its descriptor once).
		for _, r := range runs {
			parts = append(parts, part{f: f, name: filepath.Base(path), from: r.from, to: r.to, line: r.line})
		}
		return nil
	}
	for i := range j.sealed {
		m := &j.sealed[i]
		if !since.IsZero() && m.Last.Before(since) {
			continue
		}
		if err := add(m); err != nil {
			return nil, fmt.Errorf("journal %s: %v", j.path, causeOf(err))
		}
	}
	if err := add(&j.active); err != nil {
		return nil, fmt.Errorf("journal %s: %v", j.path, causeOf(err))
	}
	return parts, nil
}

// catchUp hands what other processes appended since this one last looked to
// onForeign, following the active segment through rotations by others. The
// caller holds j.mu and the lock.
func (j *Journal) catchUp() error {
	fst, err := j.f.Stat()
	if err != nil {
		return err
	}
	st, err := os.Stat(j.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var recs []Record
	collect := func(r Record) bool { recs = append(recs, r); return true }
	if err == nil && os.SameFile(st, fst) {
		if fst.Size() > j.active.Size {
			if err := indexSection(j.f, &j.active, fst.Size(), collect); err != nil {
				return err
			}
		}
	} else {
		// Another process sealed the segment this one was appending to (and
		// perhaps more after it). Read it to its end, then what was sealed
		// after it, then the new active segment.
		if err := indexSection(j.f, &j.active, fst.Size(), collect); err != nil {
			return err
		}
		old := j.active.Seq
		if err := j.load(false); err != nil {
			return err
		}
		if err := lockFile(j.f); err != nil {
			return err
		}
		for _, m := range j.sealed {
			if m.Seq <= old {
				continue
			}
			f, err := os.Open(segPath(j.dir, m.Seq))
			if err != nil {
				return err
			}
			_, err = readSection(f, 0, m.Size, 0, "", time.Time{}, collect, nil)
			f.Close()
			if err != nil {
				return err
			}
		}
		if _, err := readSection(j.f, 0, j.active.Size, 0, "", time.Time{}, collect, nil); err != nil {
			return err
		}
	}
	for i := range recs {
		j.slots.track(&recs[i])
	}
	if j.onForeign != nil && len(recs) > 0 {
		j.onForeign(recs)
	}
	return nil
}

// repair closes off a fragment at the end of the active segment (a record
// cut short by a crash or a full disk, whoever wrote it) with a newline and
// a repair record naming its line, so that the next record starts on a line
// of its own. It returns the fragment's line number, or 0 if there was none.
// The caller holds the lock and has caught up.
func (j *Journal) repair() (int, error) {
	st, err := j.f.Stat()
	if err != nil {
		return 0, err
	}
	switch {
	case st.Size() == j.active.Size:
		return 0, nil
	case st.Size() < j.active.Size:
		return 0, fmt.Errorf("the active segment is shorter (%d bytes) than already read (%d bytes): it was truncated from outside", st.Size(), j.active.Size)
	}
	frag := st.Size() - j.active.Size
	line := j.active.Lines + 1
	rec, _ := json.Marshal(Record{Time: j.now().UTC(), Phase: PhaseRepair, Line: line})
	buf := append(append([]byte{'\n'}, rec...), '\n')
	if err := j.writeLine(st.Size(), buf); err != nil {
		return 0, err
	}
	if err := j.f.Sync(); err != nil {
		return 0, err
	}
	j.active.add(j.active.Size, frag+1, time.Time{}, false)
	j.active.add(j.active.Size, int64(len(rec)+1), j.now().UTC(), false)
	return line, nil
}

// writeLine appends b to the active segment, which is size bytes long. A
// write that fails part way (a full disk) is cut back off, so that it
// leaves no fragment; if even that fails, the next append closes off what
// is left. The caller holds the lock: nobody else writes meanwhile.
func (j *Journal) writeLine(size int64, b []byte) error {
	var err error
	if j.write != nil {
		_, err = j.write(j.f, b)
	} else {
		_, err = j.f.Write(b)
	}
	if err != nil {
		if st, serr := j.f.Stat(); serr == nil && st.Size() > size {
			_ = j.f.Truncate(size)
		}
	}
	return err
}

// Append writes r as one line and syncs it. The time is set if zero.
func (j *Journal) Append(r Record) error {
	return j.Exclusive(func(appendRec func(Record) error) error { return appendRec(r) })
}

// Exclusive runs fn with the journal to itself across processes: other
// processes' new records have reached OnForeign first, any fragment at the
// journal's end is closed off, and nobody else appends until fn returns. fn
// appends with appendRec. A budget slot taken and its intent written inside
// one Exclusive are atomic for every process sharing the journal.
func (j *Journal) Exclusive(fn func(appendRec func(Record) error) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil && j.final {
		return j.failed
	}
	if err := j.lockAll(); err != nil {
		return j.fail(fmt.Errorf("journal %s: lock failed: %v", j.path, causeOf(err)), false)
	}
	defer j.unlockAll()
	if err := j.catchUp(); err != nil {
		return j.fail(fmt.Errorf("journal %s: read failed: %v", j.path, causeOf(err)), false)
	}
	line, err := j.repair()
	if err != nil {
		return j.fail(fmt.Errorf("journal %s: cannot close off the cut-short line at its end: %v", j.path, causeOf(err)), false)
	}
	if line > 0 {
		j.warn(fmt.Sprintf("repair %d %d", j.active.Seq, line),
			"a journal line was cut short (a crash or a full disk); it is kept, skipped, and the next record starts on a new line",
			"journal", j.path, "segment", j.active.Seq, "line", line)
	}
	j.failed = nil // what a failed write left is closed off: records may follow
	if j.rotateDue() {
		if err := j.rotate(); err != nil {
			return j.fail(fmt.Errorf("journal %s: cannot seal its active segment: %v", j.path, causeOf(err)), false)
		}
	}
	err = fn(j.appendLocked)
	j.maybeCheckpoint(false)
	return err
}

func (j *Journal) fail(err error, final bool) error {
	j.failed, j.final = err, final
	return err
}

// appendLocked writes one record; the caller holds j.mu and the lock.
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
	if err := j.writeLine(j.active.Size, line); err != nil {
		return j.fail(fmt.Errorf("journal %s: write failed: %v", j.path, causeOf(err)), false)
	}
	if err := j.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the data: what
		// the file holds is no longer known. Final.
		return j.fail(fmt.Errorf("journal %s: sync failed: %v", j.path, causeOf(err)), true)
	}
	j.active.add(j.active.Size, int64(len(line)), r.Time, jobLine(line))
	j.slots.track(&r)
	return nil
}

// Close writes a last checkpoint and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed == nil && j.lockAll() == nil {
		if err := j.catchUp(); err == nil {
			j.maybeCheckpoint(true)
		}
		j.unlockAll()
	}
	err := j.f.Close()
	_ = j.lock.Close()
	return err
}

// Warning is a journal line that was skipped.
type Warning struct {
	Segment string // the sealed segment's file name; "" for the active segment or a single stream
	Line    int
	Msg     string
}

func (w Warning) String() string {
	if w.Segment != "" {
		return fmt.Sprintf("journal segment %s line %d %s", w.Segment, w.Line, w.Msg)
	}
	return fmt.Sprintf("journal line %d %s", w.Line, w.Msg)
}

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

// causeOf drops the *PathError wrapper (whose text repeats the path).
func causeOf(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
