package safety

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// blockSize is how far apart the index marks a segment: a scan for records
// after some time starts at most this many bytes before the first of them.
const blockSize = 1 << 20

// block is one mark of a segment's index.
type block struct {
	Off  int64     `json:"off"`
	Line int       `json:"line"`         // lines before Off
	Max  time.Time `json:"max,omitzero"` // the latest time of the records starting in this block
	// Jobs is set when a line starting in this block may be a job's record
	// (jobLine): the jobs' scan at start reads only such blocks.
	Jobs bool `json:"jobs,omitempty"`
}

// jobLine reports whether a journal line may belong to a job: its phase is
// a job's, or it carries a job_id. Every such line as the journal writes it
// holds the bytes "job (a key "job_id" or "job", a phase "job" or
// "job_control"), which no line of a direct call does unless a name in it
// starts with job: a false yes costs a block read, never a missed job.
func jobLine(line []byte) bool { return bytes.Contains(line, []byte(`"job`)) }

// segMeta indexes one segment: how much of it is read, and when its records
// were written. Record times are not strictly ordered (processes sharing a
// journal stamp them before taking the lock), so blocks keep their latest
// time and a scan starts at the first block whose latest time is late
// enough: exact whatever the order.
type segMeta struct {
	Seq    int       `json:"seq"`
	Size   int64     `json:"size"`  // bytes indexed, always whole lines
	Lines  int       `json:"lines"` // lines in them
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
	Blocks []block   `json:"blocks,omitempty"`
}

// add indexes the line of n bytes at off (t zero: not a record; job: it
// may be a job's, see jobLine).
func (m *segMeta) add(off, n int64, t time.Time, job bool) {
	if len(m.Blocks) == 0 || off-m.Blocks[len(m.Blocks)-1].Off >= blockSize {
		m.Blocks = append(m.Blocks, block{Off: off, Line: m.Lines})
	}
	if job {
		m.Blocks[len(m.Blocks)-1].Jobs = true
	}
	if !t.IsZero() {
		b := &m.Blocks[len(m.Blocks)-1]
		if t.After(b.Max) {
			b.Max = t
		}
		if m.First.IsZero() || t.Before(m.First) {
			m.First = t
		}
		if t.After(m.Last) {
			m.Last = t
		}
	}
	m.Lines++
	m.Size = off + n
}

// jobRuns returns the runs of consecutive blocks that may hold jobs'
// records at or after since: [from, to) and the lines before from.
func (m *segMeta) jobRuns(since time.Time) (runs []part) {
	for i, b := range m.Blocks {
		if !b.Jobs || (!b.Max.IsZero() && b.Max.Before(since)) {
			continue
		}
		end := m.Size
		if i+1 < len(m.Blocks) {
			end = m.Blocks[i+1].Off
		}
		if n := len(runs); n > 0 && runs[n-1].to == b.Off {
			runs[n-1].to = end
			continue
		}
		runs = append(runs, part{from: b.Off, to: end, line: b.Line})
	}
	return runs
}

// seek returns where records at or after since may start, and the number
// of lines before it.
func (m *segMeta) seek(since time.Time) (int64, int) {
	if since.IsZero() {
		return 0, 0
	}
	for _, b := range m.Blocks {
		if !b.Max.Before(since) {
			return b.Off, b.Line
		}
	}
	return m.Size, m.Lines
}

func segPath(dir string, seq int) string { return filepath.Join(dir, fmt.Sprintf("%08d.jsonl", seq)) }

// sealedSeqs lists the sealed segments in dir, oldest first.
func sealedSeqs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n, err := strconv.Atoi(name); err == nil && n > 0 {
			seqs = append(seqs, n)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// load rebuilds the index from the folder and the checkpoint, indexing what
// the checkpoint does not cover, and opens the active segment (creating it
// if a crash between sealing it and creating the next left none). The
// caller holds the lock.
//
// When opening, the checkpoint's slot-holding writes are taken too, with
// the records after the checkpoint, if everything up to the checkpoint's
// active segment is as it says (its end fingerprinted); otherwise j.slots
// stays nil and the caller reads them from the records (rebuildSlots).
func (j *Journal) load(opening bool) error {
	ck := readCheckpoint(j.dir)
	// The folder is listed even when the checkpoint names the segments: one
	// it names may have been deleted since (retention here before a kill,
	// or in another process, or several seals ago when the checkpoint could
	// not be written), and every segment sealed after it must be found
	// whatever became of its active one. Listing reads no segment.
	seqs, err := sealedSeqs(j.dir)
	if err != nil {
		return err
	}
	// known points at what the checkpoint or this process knows of each
	// segment; trusted ones were sealed when indexed, and sealed segments
	// do not change: a start with a long history lists them but neither
	// stats nor opens them.
	type knownSeg struct {
		m       *segMeta
		trusted bool
	}
	known := make(map[int]knownSeg, len(seqs)+1)
	var slots *slotState
	snapSeq := 0
	if ck != nil {
		for i := range ck.Sealed {
			// The newest is checked all the same: a server of an older
			// version still holding it open may have appended to it.
			known[ck.Sealed[i].Seq] = knownSeg{&ck.Sealed[i], i < len(ck.Sealed)-1}
		}
		if ck.Active.Seq > 0 {
			known[ck.Active.Seq] = knownSeg{m: &ck.Active}
		}
		if opening && ck.Slots != nil && ck.Active.Seq > 0 {
			slots, snapSeq = ck.Slots, ck.Active.Seq
		}
	}
	// What this process already knows is at least as good.
	for i := range j.sealed {
		m := &j.sealed[i]
		if k, ok := known[m.Seq]; !ok || k.m.Size < m.Size {
			known[m.Seq] = knownSeg{m, true}
		}
	}
	if j.active.Seq > 0 {
		if k, ok := known[j.active.Seq]; !ok || k.m.Size < j.active.Size {
			active := j.active
			known[j.active.Seq] = knownSeg{m: &active}
		}
	}
	snapSeen := false
	// settle decides how much of segment s (open as f when not nil) the
	// index already covers, and whether the checkpoint's slots still hold.
	settle := func(s int, p string, f *os.File, size int64) (segMeta, error) {
		k, ok := known[s]
		var m segMeta
		if ok {
			m = *k.m
		}
		if !ok || m.Size > size {
			m = segMeta{Seq: s}
			if s <= snapSeq {
				slots = nil // the checkpoint does not describe what is there
			}
		}
		if s == snapSeq && slots != nil {
			snapSeen = true
			if f == nil {
				g, err := openRegular(p, os.O_RDONLY, 0)
				if err != nil {
					return m, err
				}
				defer g.Close()
				f = g
			}
			sum, err := tailSum(f, m.Size)
			if err != nil {
				return m, err
			}
			if sum != ck.Tail {
				m, slots = segMeta{Seq: s}, nil
			}
		}
		return m, nil
	}
	indexed := false
	sealed := make([]segMeta, 0, len(seqs))
	for _, s := range seqs {
		if k, ok := known[s]; ok && k.trusted {
			sealed = append(sealed, *k.m)
			continue
		}
		p := segPath(j.dir, s)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o077 != 0 {
			j.tighten(p, 0o600)
		}
		m, err := settle(s, p, nil, st.Size())
		if err != nil {
			return err
		}
		if m.Size < st.Size() {
			indexed = true
			if s < snapSeq {
				slots = nil // records before the checkpoint's end it did not see
			}
			f, err := openRegular(p, os.O_RDONLY, 0)
			if err != nil {
				return err
			}
			err = indexSectionWarn(f, &m, st.Size(), slots.tracker(s >= snapSeq), filepath.Base(p), j.skipped)
			f.Close()
			if err != nil {
				return err
			}
		}
		sealed = append(sealed, m)
	}
	seq := 1
	if len(seqs) > 0 {
		seq = seqs[len(seqs)-1] + 1
	}
	f, err := openRegular(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	m, err := settle(seq, j.path, f, st.Size())
	if err != nil {
		f.Close()
		return err
	}
	ckSize := int64(-1)
	if ck != nil && ck.Active.Seq == seq && ck.Active.Size == m.Size {
		ckSize = ck.Active.Size
	}
	if !snapSeen {
		slots = nil // the checkpoint's active segment is gone
	}
	if err := indexSectionWarn(f, &m, st.Size(), slots.tracker(true), "", j.skipped); err != nil {
		f.Close()
		return err
	}
	if j.f != nil {
		_ = j.f.Close()
	}
	j.f, j.sealed, j.active = f, sealed, m
	j.ckptSize = ckSize
	if indexed {
		j.ckptSize = -1 // the checkpoint missed sealed segments: rewrite it
	}
	if opening {
		// Writes kept only from a time after the budget's window began
		// (the checkpoint was written by a process whose clock ran ahead)
		// would send every Slots to the records: they are read from the
		// records once instead (rebuildSlots).
		if slots != nil && slots.from.After(j.now().Add(-24*time.Hour)) {
			slots = nil
		}
		j.slots = slots
	}
	return nil
}

// maxSkipped bounds Skipped.
const maxSkipped = 100

// skipped notes a line that opening the journal read and skipped.
func (j *Journal) skipped(w Warning) {
	if len(j.Skipped) < maxSkipped {
		j.Skipped = append(j.Skipped, w)
	}
}

// rebuildSlots reads the slot-holding writes of the last slotKeep from the
// records, when the checkpoint could not give them. The caller holds the
// lock.
//
// It reads from the first block that holds a record of the window, and
// from there on every record, whatever its time: a later intent stamped
// before the window (a writer whose clock is behind) still takes its call
// id over, and an outcome stamped so still settles its intent, exactly as
// when the records are followed as they are appended.
func (j *Journal) rebuildSlots() error {
	s := newSlotState(j.now().Add(-slotKeep))
	track := s.tracker(true)
	reading := false
	read := func(f *os.File, m *segMeta) error {
		from, line := int64(0), 0
		if !reading {
			if from, line = m.seek(s.from); from >= m.Size {
				return nil
			}
			reading = true
		}
		seg := ""
		if m != &j.active {
			seg = filepath.Base(segPath(j.dir, m.Seq))
		}
		_, err := readSection(f, from, m.Size, line, seg, time.Time{}, track, j.skipped)
		return err
	}
	for i := range j.sealed {
		m := &j.sealed[i]
		if !reading && !m.Last.IsZero() && m.Last.Before(s.from) {
			continue
		}
		f, err := openRegular(segPath(j.dir, m.Seq), os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since it was listed: no full read sees it either
		}
		if err != nil {
			return err
		}
		err = read(f, m)
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := read(j.f, &j.active); err != nil {
		return err
	}
	j.slots = s
	return nil
}

// indexSection reads m's segment from m.Size up to end, indexing every
// whole line into m and passing each record to fn (nil: index only). A last
// line without its newline is left out: a fragment, or a record still
// being written.
func indexSection(f io.ReaderAt, m *segMeta, end int64, fn func(Record) bool) error {
	return indexSectionWarn(f, m, end, fn, "", nil)
}

// indexSectionWarn is indexSection that, with fn, also reports the lines
// that are not records to warn (nil: none) as readSection does, named by
// seg.
func indexSectionWarn(f io.ReaderAt, m *segMeta, end int64, fn func(Record) bool, seg string, warn func(Warning)) error {
	if end <= m.Size {
		return nil
	}
	repaired := map[int]bool{}
	var bad []Warning
	err := eachLine(f, m.Size, end, func(off int64, line []byte, complete bool) error {
		if !complete {
			return errStop
		}
		var t time.Time
		if fn != nil {
			rec, ok := parseRecord(line)
			switch {
			case ok && rec.Phase == PhaseRepair:
				t = rec.Time
				repaired[rec.Line] = true
			case ok:
				t = rec.Time
				fn(rec)
			case warn != nil && len(bytes.TrimSpace(line)) > 0:
				bad = append(bad, Warning{Segment: seg, Line: m.Lines + 1, Msg: "is not a JSON record and was skipped"})
			}
		} else {
			t, _ = fastTime(line)
		}
		m.add(off, int64(len(line)), t, jobLine(line))
		return nil
	})
	for _, w := range bad {
		if !repaired[w.Line] {
			warn(w)
		}
	}
	return err
}

var errStop = errors.New("stop")

// eachLine calls fn with every line of r between from and to, and its
// offset; complete is false for a last line without its newline.
func eachLine(r io.ReaderAt, from, to int64, fn func(off int64, line []byte, complete bool) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(r, from, to-from), 64<<10)
	off := from
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			if ferr := fn(off, line, err == nil); ferr != nil {
				if ferr == errStop {
					return nil
				}
				return ferr
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fastTime reads a record's time without decoding the rest: records start
// with it. ok is false for a line that does not.
func fastTime(line []byte) (time.Time, bool) {
	const prefix = `{"time":"`
	if !bytes.HasPrefix(line, []byte(prefix)) {
		return time.Time{}, false
	}
	rest := line[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	return t, err == nil
}

// readSection reads the records of one segment between from and to (line
// numbers starting after line), as ReadJournal does, calling fn with those
// at or after since until it returns false (then stop is true). Skipped
// lines that no repair record names reach warn, named by seg.
func readSection(r io.ReaderAt, from, to int64, line int, seg string, since time.Time, fn func(Record) bool, warn func(Warning)) (stop bool, err error) {
	repaired := map[int]bool{}
	var bad []Warning
	n := line
	err = eachLine(r, from, to, func(_ int64, l []byte, complete bool) error {
		n++
		if !since.IsZero() {
			if t, ok := fastTime(l); ok && t.Before(since) && complete {
				return nil
			}
		}
		if len(bytes.TrimSpace(l)) == 0 {
			return nil
		}
		rec, ok := parseRecord(l)
		switch {
		case !ok:
			msg := "is not a JSON record and was skipped"
			if !complete {
				msg = "is incomplete (the server was killed mid-write) and was skipped"
			}
			bad = append(bad, Warning{Segment: seg, Line: n, Msg: msg})
		case rec.Phase == PhaseRepair:
			repaired[rec.Line] = true
		case rec.Time.Before(since):
		case !fn(rec):
			stop = true
			return errStop
		}
		return nil
	})
	if warn != nil {
		for _, w := range bad {
			if !repaired[w.Line] {
				warn(w)
			}
		}
	}
	return stop, err
}

// rotateDue reports whether the active segment should be sealed now: it is
// large enough, or it holds records of an earlier day (UTC).
func (j *Journal) rotateDue() bool {
	m := &j.active
	if m.Size == 0 {
		return false
	}
	if m.Size >= j.opts.RotateSize {
		return true
	}
	if m.First.IsZero() {
		return false
	}
	y1, m1, d1 := m.First.UTC().Date()
	y2, m2, d2 := j.now().UTC().Date()
	return y1 != y2 || m1 != m2 || d1 != d2
}

// rotate seals the active segment: renames it into the segment folder,
// creates the next, applies retention and writes the checkpoint. The caller
// holds j.mu and the lock. A crash at any step loses nothing: until the
// rename the old layout stands; after it the sealed segment holds every
// record, a missing active segment is created by the next opener, and a
// checkpoint behind the folder is caught up from the segments.
func (j *Journal) rotate() error {
	dst := segPath(j.dir, j.active.Seq)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s already exists; the segment folder was changed from outside", dst)
	}
	if err := os.Rename(j.path, dst); err != nil {
		// Nothing changed: go on appending to the active segment.
		j.warn("rotate", "the journal's active segment cannot be sealed; it goes on growing", "journal", j.path, "err", causeOf(err))
		return nil
	}
	j.hook("rotate-renamed")
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		return err
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	nf, err := openRegular(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	j.hook("rotate-created")
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		nf.Close()
		return err
	}
	_ = lockFile(nf)
	_ = j.f.Close()
	j.f = nf
	j.sealed = append(j.sealed, j.active)
	j.active = segMeta{Seq: j.active.Seq + 1}
	// The checkpoint on disk names the segment just sealed as the active
	// one, whatever its size: it is always rewritten now.
	j.ckptSize = -1
	j.retain()
	j.maybeCheckpoint(true)
	return nil
}

// LowWater is the time before which nothing is needed by the budget (24
// hours) or by a pin: retention never deletes a segment holding a record at
// or after it.
func (j *Journal) LowWater() (time.Time, error) {
	pins, err := j.Pins()
	if err != nil {
		return time.Time{}, err
	}
	return lowWater(j.now(), pins), nil
}

func lowWater(now time.Time, pins map[string]time.Time) time.Time {
	low := now.Add(-24 * time.Hour)
	for _, t := range pins {
		if t.Before(low) {
			low = t
		}
	}
	return low
}

// retain deletes sealed segments wholly older than the retention and the
// low-water mark. The newest sealed segment always stays, so segment
// numbers never go back. The caller holds the lock.
func (j *Journal) retain() {
	if j.opts.Retention <= 0 || len(j.sealed) < 2 {
		return
	}
	pins, err := readPins(j.dir)
	if err != nil {
		j.warn("pins", "the journal's pins cannot be read; no old segment is deleted until they can", "journal", j.path, "err", err)
		return
	}
	now := j.now()
	cut := now.Add(-j.opts.Retention)
	if low := lowWater(now, pins); low.Before(cut) {
		cut = low
	}
	keep := j.sealed[:0:0]
	removed := false
	for i, m := range j.sealed {
		// A segment with no record time known (nothing in it parsed) is
		// kept: what it holds cannot be shown to be old.
		if i < len(j.sealed)-1 && !m.Last.IsZero() && m.Last.Before(cut) {
			if err := os.Remove(segPath(j.dir, m.Seq)); err == nil || errors.Is(err, fs.ErrNotExist) {
				removed = true
				j.hook("retain-removed")
				continue
			}
		}
		keep = append(keep, m)
	}
	j.sealed = keep
	if removed {
		_ = syncDir(j.dir)
	}
}

// writeAtomic replaces dir/name with b: a temporary file, synced, renamed
// over it, and the folder synced. A crash leaves the old file or the new.
func (j *Journal) writeAtomic(name string, b []byte) error {
	tmp := filepath.Join(j.dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	j.hook(name + "-written")
	if err := os.Rename(tmp, filepath.Join(j.dir, name)); err != nil {
		return err
	}
	j.hook(name + "-renamed")
	return syncDir(j.dir)
}

func (j *Journal) hook(point string) {
	if j.crash != nil {
		j.crash(point)
	}
}

// Pin keeps every record at or after t from retention, for every process
// sharing the journal and across restarts, until Unpin(name). Pinning an
// existing name moves it.
func (j *Journal) Pin(name string, t time.Time) error {
	return j.editPins(func(p map[string]time.Time) { p[name] = t.UTC() })
}

// Unpin drops a pin; an unknown name is not an error.
func (j *Journal) Unpin(name string) error {
	return j.editPins(func(p map[string]time.Time) { delete(p, name) })
}

// Pins returns the journal's pins.
func (j *Journal) Pins() (map[string]time.Time, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := lockFile(j.lock); err != nil {
		return nil, err
	}
	defer unlockFile(j.lock)
	return readPins(j.dir)
}

func (j *Journal) editPins(edit func(map[string]time.Time)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := lockFile(j.lock); err != nil {
		return fmt.Errorf("journal %s: lock failed: %v", j.path, causeOf(err))
	}
	defer unlockFile(j.lock)
	pins, err := readPins(j.dir)
	if err != nil {
		return err
	}
	edit(pins)
	b, _ := json.Marshal(struct {
		Pins map[string]time.Time `json:"pins"`
	}{pins})
	if err := j.writeAtomic("pins.json", b); err != nil {
		return fmt.Errorf("journal %s: pins cannot be written: %v", j.path, causeOf(err))
	}
	return nil
}

func readPins(dir string) (map[string]time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pins.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, err
	}
	var p struct {
		Pins map[string]time.Time `json:"pins"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", filepath.Join(dir, "pins.json"), err)
	}
	if p.Pins == nil {
		p.Pins = map[string]time.Time{}
	}
	return p.Pins, nil
}

// ReadJournalFile parses the journal whose active segment is path (which
// must be a regular file): its sealed segments, oldest first, then path.
// Warnings name the segment when it is not path.
func ReadJournalFile(path string) ([]Record, []Warning, error) {
	path = followLinks(path)
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var recs []Record
	var warnings []Warning
	collect := func(r Record) bool { recs = append(recs, r); return true }
	warn := func(w Warning) { warnings = append(warnings, w) }
	dir := path + ".d"
	seqs, err := sealedSeqs(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	for _, s := range seqs {
		sf, err := openRegular(segPath(dir, s), os.O_RDONLY, 0)
		if err != nil {
			return nil, nil, err
		}
		st, err := sf.Stat()
		if err == nil {
			_, err = readSection(sf, 0, st.Size(), 0, filepath.Base(sf.Name()), time.Time{}, collect, warn)
		}
		sf.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if _, err := readSection(f, 0, st.Size(), 0, "", time.Time{}, collect, warn); err != nil {
		return nil, nil, err
	}
	return recs, warnings, nil
}
