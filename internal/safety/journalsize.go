package safety

import "os"

// Bytes is the journal's size on disk: the active segment and every sealed
// segment (the checkpoint and pins are derived data and left out). It reads
// the folder as it is now, other processes' rotations and deletions
// included, without the journal's lock: a figure for a metric, not for a
// decision.
func (j *Journal) Bytes() (int64, error) {
	st, err := os.Stat(j.path)
	if err != nil {
		return 0, err
	}
	total := st.Size()
	seqs, err := sealedSeqs(j.dir)
	if err != nil {
		if os.IsNotExist(err) {
			return total, nil
		}
		return 0, err
	}
	for _, n := range seqs {
		if st, err := os.Stat(segPath(j.dir, n)); err == nil {
			total += st.Size() // a segment deleted meanwhile counts as gone
		}
	}
	return total, nil
}
