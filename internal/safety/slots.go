package safety

import (
	"fmt"
	"slices"
	"time"
)

// slotKeep is how far back the journal keeps, in memory and in its
// checkpoint, the writes that hold a budget slot: the budget's longest
// window (24 hours) and an hour more, since processes sharing a journal
// stamp their records before they take its lock and clocks differ.
const slotKeep = 25 * time.Hour

// slotKey is what a slot-holding write is counted by.
type slotKey struct{ tool, gateway, fp string }

// slotEntry is one write (an intent, not a dry run) that holds a budget
// slot or may: its outcome was ok or unknown, or has not been read yet.
type slotEntry struct {
	t   time.Time
	key *slotKey
	// state: 'o' ok, 'u' unknown (also an intent without a call id, whose
	// outcome can never be told), 'p' no outcome yet (call names it), 'x'
	// an outcome said it did not happen: dropped at the next prune.
	state byte
	call  string
}

// slotState follows the journal's slot-holding writes at or after from,
// in journal order, as every record read or appended reaches it: a start
// reads it from the checkpoint and the records after the checkpoint
// instead of a day of records. It joins intents and outcomes exactly as
// Attempts does.
type slotState struct {
	from    time.Time
	list    []slotEntry
	pending map[string]int // call id -> index in list
	keys    map[slotKey]*slotKey
	dropped int
}

func newSlotState(from time.Time) *slotState {
	return &slotState{from: from, pending: map[string]int{}, keys: map[slotKey]*slotKey{}}
}

func (s *slotState) intern(k slotKey) *slotKey {
	if p := s.keys[k]; p != nil {
		return p
	}
	p := &k
	s.keys[k] = p
	return p
}

// track takes in one record, in journal order (s nil: nothing).
func (s *slotState) track(r *Record) {
	if s == nil {
		return
	}
	switch r.Phase {
	case PhaseIntent:
		// An intent takes its call id over from any earlier one (Attempts
		// joins an outcome to the latest intent of its call): the earlier
		// one's outcome can no longer be told.
		if i, ok := s.pending[r.CallID]; ok && r.CallID != "" {
			delete(s.pending, r.CallID)
			s.list[i].state, s.list[i].call = 'u', ""
		}
		if r.DryRun || r.Time.Before(s.from) {
			return
		}
		e := slotEntry{t: r.Time, key: s.intern(slotKey{r.Tool, r.Gateway, r.KeyFingerprint}), state: 'u'}
		if r.CallID != "" {
			e.state, e.call = 'p', r.CallID
			s.pending[r.CallID] = len(s.list)
		}
		s.list = append(s.list, e)
	case PhaseOutcome:
		i, ok := s.pending[r.CallID]
		if !ok || r.CallID == "" {
			return
		}
		delete(s.pending, r.CallID) // the first outcome is the one
		e := &s.list[i]
		e.call = ""
		switch r.Outcome {
		case OutcomeOK:
			e.state = 'o'
		case OutcomeUnknown:
			e.state = 'u'
		default: // failed, refused, noop, the legacy error: no slot held
			e.state = 'x'
			s.dropped++
		}
	}
}

// prune drops what is older than from (moved up to at least from) and
// what an outcome released.
func (s *slotState) prune(from time.Time) {
	if from.After(s.from) {
		s.from = from
	}
	keep := s.list[:0]
	clear(s.pending)
	for _, e := range s.list {
		if e.state == 'x' || e.t.Before(s.from) {
			continue
		}
		if e.state == 'p' {
			s.pending[e.call] = len(keep)
		}
		keep = append(keep, e)
	}
	clear(s.list[len(keep):])
	s.list = keep
	s.dropped = 0
}

// SlotWrites are the slot-holding writes of one tool, gateway and key.
type SlotWrites struct {
	Tool, Gateway, KeyFingerprint string
	Times                         []time.Time // of the intents, in journal order
}

// writes returns the entries whose intent is at or after since, grouped
// by tool, gateway and key in the order each first appears.
func (s *slotState) writes(since time.Time) []SlotWrites {
	idx := map[*slotKey]int{}
	var out []SlotWrites
	var count []int
	for pass := range 2 { // count, then fill: no slice grows
		for _, e := range s.list {
			if e.state == 'x' || e.t.Before(since) {
				continue
			}
			i, ok := idx[e.key]
			if !ok {
				i = len(out)
				idx[e.key] = i
				out = append(out, SlotWrites{Tool: e.key.tool, Gateway: e.key.gateway, KeyFingerprint: e.key.fp})
				count = append(count, 0)
			}
			if pass == 0 {
				count[i]++
			} else {
				out[i].Times = append(out[i].Times, e.t)
			}
		}
		if pass == 0 {
			for i := range out {
				out[i].Times = make([]time.Time, 0, count[i])
			}
		}
	}
	return out
}

// Slots returns the writes that hold a budget slot or may (not dry runs;
// outcome ok or unknown, or none yet) whose intent is at or after since:
// what BudgetEvents counts, without reading a day of records. It reads
// what other processes appended first, as Scan does. A since more than a
// day back falls back to scanning the journal.
func (j *Journal) Slots(since time.Time) ([]SlotWrites, error) {
	j.mu.Lock()
	if err := j.lockAll(); err != nil {
		j.mu.Unlock()
		return nil, fmt.Errorf("journal %s: lock failed: %v", j.path, causeOf(err))
	}
	err := j.catchUp()
	j.unlockAll()
	var out []SlotWrites
	ok := err == nil && j.slots != nil
	if ok {
		j.slots.prune(j.now().Add(-slotKeep))
		if ok = !since.Before(j.slots.from); ok {
			out = j.slots.writes(since)
		}
	}
	j.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("journal %s: read failed: %v", j.path, causeOf(err))
	}
	if ok {
		return out, nil
	}
	var recs []Record
	if err := j.Scan(since, func(r Record) bool { recs = append(recs, r); return true }); err != nil {
		return nil, err
	}
	s := newSlotState(since)
	for i := range recs {
		s.track(&recs[i])
	}
	return s.writes(since), nil
}

// SlotEvents returns, per key fingerprint, when the scope's writes of
// the given tools that hold a budget slot happened, at or after since:
// BudgetEvents for what Slots returns. Legacy writes (in scope when
// s.Legacy) are under the empty fingerprint.
func SlotEvents(ws []SlotWrites, s Scope, since time.Time, tools []string) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, w := range ws {
		if !slices.Contains(tools, w.Tool) || !s.has(Attempt{Gateway: w.Gateway, KeyFingerprint: w.KeyFingerprint}) {
			continue
		}
		times := w.Times
		if !slices.ContainsFunc(times, func(t time.Time) bool { return t.Before(since) }) && out[w.KeyFingerprint] == nil {
			out[w.KeyFingerprint] = times[:len(times):len(times)] // the usual case: one group a key, no copy
			continue
		}
		for _, t := range times {
			if !t.Before(since) {
				out[w.KeyFingerprint] = append(out[w.KeyFingerprint], t)
			}
		}
	}
	return out
}

// Latest returns the latest record time the journal's index knows.
func (j *Journal) Latest() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := j.active.Last
	for _, m := range j.sealed {
		if m.Last.After(t) {
			t = m.Last
		}
	}
	return t
}

// tracker returns a record function feeding s, or nil when s is nil or on
// is false.
func (s *slotState) tracker(on bool) func(Record) bool {
	if s == nil || !on {
		return nil
	}
	return func(r Record) bool { s.track(&r); return true }
}
