package safety

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestJournalBytesCountsEverySegment: after daily rotations Bytes is the
// active segment plus the sealed ones, and follows appends.
func TestJournalBytesCountsEverySegment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{Retention: 0})
	defer j.Close()
	for d := range 3 {
		c.set(day0.Add(time.Duration(d) * 24 * time.Hour))
		if err := j.Append(rec("1", c.now())); err != nil {
			t.Fatal(err)
		}
	}
	var want int64
	files := []string{path}
	seqs, err := sealedSeqs(j.dir)
	if err != nil || len(seqs) == 0 {
		t.Fatalf("no sealed segments after three days: %v %v", seqs, err)
	}
	for _, n := range seqs {
		files = append(files, segPath(j.dir, n))
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		want += st.Size()
	}
	got, err := j.Bytes()
	if err != nil || got != want || got == 0 {
		t.Fatalf("Bytes = %d, %v; the segments hold %d", got, err, want)
	}
	if err := j.Append(rec("2", c.now())); err != nil {
		t.Fatal(err)
	}
	if after, _ := j.Bytes(); after <= got {
		t.Fatalf("Bytes did not grow with an append: %d then %d", got, after)
	}
}
