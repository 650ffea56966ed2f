package jobs

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// probeJournal runs, right after every call that appended a job control
// record has let the journal's lock go, what the runner's write guard runs
// under that lock just before an item's intent: the first moment a send
// could follow.
type probeJournal struct {
	*safety.Journal
	probe func()
}

func (p *probeJournal) Append(r safety.Record) error {
	err := p.Journal.Append(r)
	if r.Phase == PhaseControl {
		p.probe()
	}
	return err
}

func (p *probeJournal) Exclusive(fn func(func(safety.Record) error) error) error {
	control := false
	err := p.Journal.Exclusive(func(appendRec func(safety.Record) error) error {
		return fn(func(r safety.Record) error {
			if r.Phase == PhaseControl {
				control = true
			}
			return appendRec(r)
		})
	})
	if control {
		p.probe()
	}
	return err
}

// A pause or cancel is in force for the runner's write guard from the moment
// its record is in the journal: no intent can be written after the control
// record by a runner that still reads the job as running.
func TestControlInForceOnceJournaled(t *testing.T) {
	for _, action := range []string{ActionPause, ActionCancel} {
		t.Run(action, func(t *testing.T) {
			j, err := safety.OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			pj := &probeJournal{Journal: j}
			now := time.Now().UTC()
			s, err := Open(pj, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{"11", "12"}
			d := Def{ID: NewID(), Kind: KindUnfollow, KeyFingerprint: "fp", Gateway: "gw", Username: "me",
				TargetUserIDs: ids, ListSHA256: ListSHA256(ids), ConsentAt: now, Pace: Pace{Per15m: 25, PerDay: 300}, Tool: "start_x_unfollow_job"}
			if _, err := s.Create(d); err != nil {
				t.Fatal(err)
			}
			probed := false
			pj.probe = func() {
				probed = true
				_ = j.Exclusive(func(func(safety.Record) error) error {
					if !s.stopped(d.ID) {
						t.Errorf("after the %s record was journaled, the write guard still let a send through", action)
					}
					return nil
				})
			}
			if err := s.Control(d.ID, "fp", "gw", action); err != nil {
				t.Fatal(err)
			}
			if !probed {
				t.Fatal("the control record was not journaled")
			}
		})
	}
}
