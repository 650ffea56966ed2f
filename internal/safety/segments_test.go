package safety

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clock is a settable clock for journals under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var day0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func openAt(t *testing.T, path string, c *clock, o JournalOptions) *Journal {
	t.Helper()
	o.Now = c.now
	j, err := OpenJournalWith(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func rec(id string, at time.Time) Record {
	return Record{Time: at, Phase: PhaseIntent, Tool: "unfollow_x_user", TargetUserID: id, ExpectedUsername: "u" + id}
}

func ids(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.TargetUserID)
	}
	return out
}

// A journal written over ten days is sealed daily, and a scan from the last
// day reads only the segments that can hold it: the older segments are
// overwritten with junk of the same size and never reported.
func TestScanReadsOnlyTheSegmentsItNeeds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{Retention: 0})
	var want []string
	for d := range 10 {
		for k := range 3 {
			at := day0.Add(time.Duration(d)*24*time.Hour + time.Duration(k)*time.Hour)
			c.set(at)
			id := fmt.Sprintf("%d%d", d, k)
			want = append(want, id)
			if err := j.Append(rec(id, at)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err := sealedSeqs(path + ".d")
	if err != nil || len(seqs) != 9 {
		t.Fatalf("sealed segments %v (%v); want 9, one a day", seqs, err)
	}
	// Junk of the same size in every segment but the newest sealed one.
	for _, s := range seqs[:8] {
		p := segPath(path+".d", s)
		st, _ := os.Stat(p)
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), int(st.Size())), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	j = openAt(t, path, c, JournalOptions{Retention: 0})
	defer j.Close()
	var got []string
	var warned []Warning
	err = j.ScanWarn(day0.Add(8*24*time.Hour), func(r Record) bool { got = append(got, r.TargetUserID); return true },
		func(w Warning) { warned = append(warned, w) })
	if err != nil || len(warned) != 0 {
		t.Fatalf("scan: %v, warnings %v", err, warned)
	}
	if strings.Join(got, ",") != strings.Join(want[24:], ",") {
		t.Fatalf("scan from day 8 gave %v; want %v", got, want[24:])
	}
	// Within a segment too: from the last hour of day 9.
	got = nil
	if err := j.Scan(day0.Add(9*24*time.Hour+2*time.Hour), func(r Record) bool { got = append(got, r.TargetUserID); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "92" {
		t.Fatalf("got %v", got)
	}
	// The whole history does meet the junk: it was really there.
	_, warnings, err := j.Records()
	if err != nil || len(warnings) != 8 {
		t.Fatalf("records: %v, %d warnings; want 8 (one junk line per damaged segment)", err, len(warnings))
	}
}

// A single-file journal of an older version, torn at its end, is read in
// place: every record is kept, the file becomes a sealed segment byte for
// byte, and the fragment is closed off.
func TestSingleFileJournalMigratesWithoutLoss(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.jsonl")
	var buf bytes.Buffer
	var want []string
	for i := range 500 {
		at := day0.Add(time.Duration(i) * 10 * time.Minute)
		b := fmt.Appendf(nil, `{"time":%q,"phase":"intent","tool":"unfollow_x_user","target_user_id":"%d","expected_username":"u","dry_run":false}`,
			at.Format(time.RFC3339Nano), i)
		buf.Write(append(b, '\n'))
		want = append(want, strconv.Itoa(i))
	}
	buf.WriteString(`{"time":"2026-01-04T12:00:00Z","phase":"int`)
	orig := append([]byte(nil), buf.Bytes()...)
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: day0.Add(10 * 24 * time.Hour)}
	j := openAt(t, path, c, DefaultJournalOptions())
	if j.TornLine != 501 {
		t.Fatalf("torn line %d; want 501", j.TornLine)
	}
	recs, warnings, err := j.Records()
	if err != nil || len(warnings) != 0 || strings.Join(ids(recs), ",") != strings.Join(want, ",") {
		t.Fatalf("records after migration: %v, %v, %d records", err, warnings, len(recs))
	}
	if err := j.Append(rec("new", c.now())); err != nil {
		t.Fatal(err)
	}
	j.Close()
	sealed, err := os.ReadFile(segPath(path+".d", 1))
	if err != nil || !bytes.HasPrefix(sealed, orig) {
		t.Fatalf("the old journal is not the first sealed segment as it was: %v", err)
	}
	recs, warnings, err = ReadJournalFile(path)
	if err != nil || len(warnings) != 0 || len(recs) != 501 || recs[500].TargetUserID != "new" {
		t.Fatalf("after an append: %v, %v, %d records", err, warnings, len(recs))
	}
}

// Retention deletes only sealed segments older than it, never one holding
// a record a pin (a running job) or the budget's day needs, nor the newest
// sealed one; and never one whose times are unknown.
func TestRetentionKeepsWhatIsNeeded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	o := JournalOptions{Retention: 30 * 24 * time.Hour}
	j := openAt(t, path, c, o)
	for d := range 40 {
		at := day0.Add(time.Duration(d) * 24 * time.Hour)
		c.set(at)
		if err := j.Append(rec(strconv.Itoa(d), at)); err != nil {
			t.Fatal(err)
		}
		if d == 2 {
			// Day 2's segment (sealed on day 3) keeps records a job needs.
			if err := j.Pin("job-1", at); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Seal day 39 on day 40, with retention at 30 days: days 0 to 9 are out
	// of it, but the pin holds day 2 onward.
	c.set(day0.Add(40 * 24 * time.Hour))
	if err := j.Append(rec("40", c.now())); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := j.Records()
	if recs[0].TargetUserID != "2" {
		t.Fatalf("with a pin on day 2, the first record kept is %s", recs[0].TargetUserID)
	}
	if err := j.Unpin("job-1"); err != nil {
		t.Fatal(err)
	}
	// Junk in an old segment: its time is unknown, so it stays.
	j.Close()
	junk := segPath(path+".d", 5)
	st, _ := os.Stat(junk)
	os.WriteFile(junk, append(bytes.Repeat([]byte("y"), int(st.Size())-1), '\n'), 0o600)
	os.Remove(filepath.Join(path+".d", checkpointName))
	c.set(day0.Add(41 * 24 * time.Hour))
	j = openAt(t, path, c, o)
	defer j.Close()
	if err := j.Append(rec("41", c.now())); err != nil {
		t.Fatal(err)
	}
	recs, warnings, _ := j.Records()
	if recs[0].TargetUserID != "11" || len(warnings) != 1 {
		t.Fatalf("after unpinning, first record %s (want 11, the 30 days before day 41), %d junk warnings (want 1)", recs[0].TargetUserID, len(warnings))
	}
	if recs[len(recs)-1].TargetUserID != "41" || len(recs) != 31 {
		t.Fatalf("kept %v", ids(recs))
	}
}

// Journal files readable by group or others are tightened at open.
func TestJournalPermissionsTightened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if err := os.Mkdir(path+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(segPath(path+".d", 1), []byte(`{"time":"2026-01-01T00:00:00Z","phase":"intent","expected_username":"x","dry_run":false}`+"\n"), 0o640)
	os.Chmod(segPath(path+".d", 1), 0o640)
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if len(j.Tightened) != 3 {
		t.Fatalf("tightened %v; want the file, the folder and the segment", j.Tightened)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, path + ".d": 0o700, segPath(path+".d", 1): 0o600, filepath.Join(path+".d", checkpointName): 0o600} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v; want %v", p, st.Mode().Perm(), err, want)
		}
	}
	// A new journal is private from the start.
	j2, err := OpenJournal(filepath.Join(dir, "new.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if len(j2.Tightened) != 0 {
		t.Fatalf("a new journal was tightened: %v", j2.Tightened)
	}
	st, _ := os.Stat(filepath.Join(dir, "new.jsonl"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("new journal mode %v", st.Mode().Perm())
	}
}

// Two journals on one path (as two servers): a fragment left between their
// appends is closed off before the next append, so no record is lost, and
// each sees the other's records.
func TestFragmentBetweenTwoWritersIsClosedOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	a := openAt(t, path, c, JournalOptions{})
	defer a.Close()
	b := openAt(t, path, c, JournalOptions{})
	defer b.Close()
	var seenByA []string
	a.OnForeign(func(rs []Record) { seenByA = append(seenByA, ids(rs)...) })
	var warns []string
	b.OnWarn(func(msg string, _ ...any) { warns = append(warns, msg) })
	if err := a.Append(rec("1", c.now())); err != nil {
		t.Fatal(err)
	}
	inject := func() {
		f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		f.WriteString(`{"time":"2026-01-01T12:00:00Z","phase":"inte`)
		f.Close()
	}
	inject()
	if err := b.Append(rec("2", c.now())); err != nil {
		t.Fatal(err)
	}
	inject()
	if err := a.Append(rec("3", c.now())); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seenByA, ",") != "2" {
		t.Fatalf("A saw %v of B's records; want 2", seenByA)
	}
	if len(warns) != 1 {
		t.Fatalf("B reported %v; want one fragment", warns)
	}
	recs, warnings, err := ReadJournalFile(path)
	if err != nil || len(warnings) != 0 || strings.Join(ids(recs), ",") != "1,2,3" {
		t.Fatalf("%v %v %v", ids(recs), warnings, err)
	}
}

// A write that fails half way (a full disk) is refused, and the next write
// closes off what it left and goes on: nothing is merged into a fragment.
func TestFailedWriteIsRepairedByTheNext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	defer j.Close()
	full := true
	j.write = func(f *os.File, b []byte) (int, error) {
		if full {
			n, _ := f.Write(b[:len(b)/2])
			return n, syscall.ENOSPC
		}
		return f.Write(b)
	}
	if err := j.Append(rec("1", c.now())); err == nil {
		t.Fatal("a failed write was reported as written")
	}
	if err := j.Append(rec("2", c.now())); err == nil {
		t.Fatal("a write on a full disk was reported as written")
	}
	full = false
	if err := j.Append(rec("3", c.now())); err != nil {
		t.Fatalf("the journal did not recover once the disk had room: %v", err)
	}
	recs, warnings, err := ReadJournalFile(path)
	if err != nil || len(warnings) != 0 || strings.Join(ids(recs), ",") != "3" {
		t.Fatalf("%v %v %v", ids(recs), warnings, err)
	}
}

// The same on a real full file system (a 64 KiB tmpfs; needs root).
func TestRealFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k"); err != nil {
		// Mounting needs privileges no install can give (root with
		// CAP_SYS_ADMIN); TestFailedWriteIsRepairedByTheNext covers the
		// same path with a failing writer everywhere.
		t.Skipf("a tmpfs cannot be mounted here (%v)", err)
	}
	defer syscall.Unmount(mnt, 0)
	// Room to make later: a file the test removes once the disk is full.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 8<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mnt, "j.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r := rec("1", time.Now())
	r.Username = strings.Repeat("a", 300)
	var ok []string
	var failed error
	for i := 0; i < 1000 && failed == nil; i++ {
		r.TargetUserID = strconv.Itoa(i)
		r.Time = time.Time{}
		if failed = j.Append(r); failed == nil {
			ok = append(ok, r.TargetUserID)
		}
	}
	if failed == nil || !strings.Contains(failed.Error(), "no space") {
		t.Fatalf("the disk never filled: %v", failed)
	}
	st, _ := os.Stat(path)
	t.Logf("full after %d records, %d bytes", len(ok), st.Size())
	r.TargetUserID, r.Time = "refused", time.Time{}
	if err := j.Append(r); err == nil {
		t.Fatal("a write on a full disk was reported as written")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.TargetUserID, r.Username, r.Time = "after", "", time.Time{}
	if err := j.Append(r); err != nil {
		t.Fatalf("after room was made: %v", err)
	}
	recs, warnings, err := ReadJournalFile(path)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v %v", warnings, err)
	}
	got := ids(recs)
	if strings.Join(got, ",") != strings.Join(append(ok, "after"), ",") {
		t.Fatalf("records %v; want %v then after", got, ok)
	}
}

// journalChild is the process that the crash tests kill: it appends one
// record a (simulated) day so that every append seals a segment, says
// which records are on disk, and stops at the named point of a seal or a
// checkpoint, where the parent kills it with SIGKILL.
func TestJournalChildProcess(t *testing.T) {
	path := os.Getenv("XF_JOURNAL_CHILD")
	if path == "" {
		t.Skip("run by the crash tests")
	}
	point := os.Getenv("XF_CRASH_AT")
	hit, _ := strconv.Atoi(os.Getenv("XF_CRASH_HIT"))
	start, _ := strconv.Atoi(os.Getenv("XF_START"))
	c := &clock{t: day0.Add(time.Duration(start) * 24 * time.Hour)}
	j, err := OpenJournalWith(path, JournalOptions{Retention: 3 * 24 * time.Hour, CheckpointEvery: 1, Now: c.now})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	n := 0
	j.crash = func(p string) {
		if p == point {
			if n++; n == hit {
				fmt.Println("AT", p)
				time.Sleep(time.Hour)
			}
		}
	}
	for i := start; ; i++ {
		at := day0.Add(time.Duration(i) * 24 * time.Hour)
		c.set(at)
		if err := j.Append(rec(strconv.Itoa(i), at)); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		fmt.Println("OK", i)
	}
}

// SIGKILL at every step of a seal, of retention and of a checkpoint loses
// no record that was acknowledged and leaves a journal that opens, reads
// without a warning, and takes the next record.
func TestKill9DuringRotationAndCheckpoint(t *testing.T) {
	for _, point := range []string{"rotate-renamed", "rotate-created", "retain-removed", checkpointName + "-written", checkpointName + "-renamed"} {
		for _, hit := range []int{1, 6} {
			t.Run(fmt.Sprintf("%s-%d", point, hit), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "j.jsonl")
				next := 0
				var acked []string
				// Two kills in a row: the second process starts on what
				// the first left.
				for round := range 2 {
					cmd := exec.Command(os.Args[0], "-test.run=^TestJournalChildProcess$")
					cmd.Env = append(os.Environ(), "XF_JOURNAL_CHILD="+path, "XF_CRASH_AT="+point,
						"XF_CRASH_HIT="+strconv.Itoa(hit), "XF_START="+strconv.Itoa(next))
					out, _ := cmd.StdoutPipe()
					cmd.Stderr = os.Stderr
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					sc := bufio.NewScanner(out)
					at := false
					for sc.Scan() {
						f := strings.Fields(sc.Text())
						if len(f) == 2 && f[0] == "OK" {
							acked = append(acked, f[1])
							next, _ = strconv.Atoi(f[1])
							next++
						}
						if len(f) == 2 && f[0] == "AT" {
							at = true
							break
						}
						if len(f) > 0 && f[0] == "ERR" {
							t.Fatalf("round %d: %s", round, sc.Text())
						}
					}
					_ = cmd.Process.Signal(syscall.SIGKILL)
					_ = cmd.Wait()
					if !at {
						t.Fatalf("round %d: the child never reached %s", round, point)
					}
					next++ // the record in flight may or may not be there
				}
				c := &clock{t: day0.Add(time.Duration(next) * 24 * time.Hour)}
				j := openAt(t, path, c, JournalOptions{Retention: 3 * 24 * time.Hour})
				if err := j.Append(rec("last", c.now())); err != nil {
					t.Fatal(err)
				}
				// The budget's writes, from the checkpoint as the kill left
				// it, are the records'.
				for _, back := range []time.Duration{24 * time.Hour, 50 * time.Hour} {
					since := c.now().Add(-back)
					s := Scope{Legacy: true}
					if want, got := wantEvents(t, j, s, since), gotEvents(t, j, s, since); !sameEvents(want, got) || len(want[""]) == 0 {
						t.Fatalf("since %s: slots %v; records %v", back, got, want)
					}
				}
				var got []string
				var warned []Warning
				// Retention may have dropped old days; everything from
				// the low-water mark on must be there.
				from := c.now().Add(-3*24*time.Hour - time.Hour)
				err := j.ScanWarn(from, func(r Record) bool { got = append(got, r.TargetUserID); return true }, func(w Warning) { warned = append(warned, w) })
				j.Close()
				if err != nil || len(warned) != 0 {
					t.Fatalf("scan: %v %v", err, warned)
				}
				have := map[string]bool{}
				for _, g := range got {
					have[g] = true
				}
				for _, a := range acked {
					if d, _ := strconv.Atoi(a); day0.Add(time.Duration(d) * 24 * time.Hour).Before(from) {
						continue
					}
					if !have[a] {
						t.Fatalf("acknowledged record %s lost; have %v", a, got)
					}
				}
				if !have["last"] {
					t.Fatal("no append after the kill")
				}
				all, warnings, err := ReadJournalFile(path)
				if err != nil || len(warnings) != 0 {
					t.Fatalf("whole journal: %v %v", err, warnings)
				}
				// Nothing is read twice.
				seen := map[string]bool{}
				for _, r := range all {
					if seen[r.TargetUserID] {
						t.Fatalf("record %s twice", r.TargetUserID)
					}
					seen[r.TargetUserID] = true
				}
			})
		}
	}
}

// A journal path that is a symbolic link (a dotfile kept elsewhere) keeps
// every record through a seal: the records written through the link stay
// readable after the active segment is sealed.
func TestSymlinkedJournalKeepsItsRecordsWhenSealed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "journal.jsonl")
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "journal.jsonl")
	if err := os.Symlink(target, path); err != nil {
		t.Skip(err)
	}
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	for d := range 3 {
		at := day0.Add(time.Duration(d) * 24 * time.Hour)
		c.set(at)
		if err := j.Append(rec(strconv.Itoa(d), at)); err != nil {
			t.Fatal(err)
		}
	}
	recs, warnings, err := j.Records()
	j.Close()
	if err != nil || len(warnings) != 0 || strings.Join(ids(recs), ",") != "0,1,2" {
		t.Fatalf("records %v, warnings %v, err %v", ids(recs), warnings, err)
	}
	j = openAt(t, path, c, JournalOptions{})
	recs, _, err = j.Records()
	j.Close()
	if err != nil || strings.Join(ids(recs), ",") != "0,1,2" {
		t.Fatalf("after reopening: records %v, err %v", ids(recs), err)
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	if recs, _, err := ReadJournalFile(path); err != nil || len(recs) != 3 {
		t.Fatalf("read through the link: %v %v", ids(recs), err)
	}
}
