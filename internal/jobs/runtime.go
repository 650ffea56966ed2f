package jobs

import (
	"sort"
	"time"
)

// What the runner reads and sets of a job's state in the store.

type jobView struct {
	ended, paused bool
	wait          string
	until         time.Time
}

func (s *Store) view(id string) jobView {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return jobView{ended: true}
	}
	return jobView{ended: j.ended(), paused: j.Control == StatusPaused, wait: j.wait, until: j.until}
}

// runnable returns the definitions of the jobs that still have work.
func (s *Store) runnable() []Def {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Def
	for _, id := range s.ids {
		j := s.jobs[id]
		if !j.ended() && j.Control == "" {
			out = append(out, j.Def)
		}
	}
	return out
}

// stopped reports whether the job is paused, cancelled or gone.
func (s *Store) stopped(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	return j == nil || j.Control != ""
}

func (s *Store) pendingItems(id string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return nil
	}
	var out []Item
	for _, it := range j.Items {
		if it.pending() {
			out = append(out, it)
		}
	}
	return out
}

// setOutcome records an item's outcome; with shared state it is stored
// there too (an error leaves the intent there, verified before any resend).
func (s *Store) setOutcome(id, target, username, outcome string, t time.Time) error {
	s.mu.Lock()
	var it Item
	if j := s.jobs[id]; j != nil {
		if i, ok := j.index[target]; ok {
			j.Items[i].Outcome, j.Items[i].Time = outcome, t
			if outcome == OutcomeOK || outcome == OutcomeUnknown {
				s.settled[settledKey(j.Def, target)]++
			}
			if username != "" {
				j.Items[i].Username = username
			}
			it = j.Items[i]
		}
	}
	s.mu.Unlock()
	if s.shared != nil && it.TargetUserID != "" {
		return s.shared.outcome(id, it)
	}
	return nil
}

func (s *Store) setWait(id, wait, text string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		j.wait, j.waitText, j.until = wait, text, until
	}
}

func (s *Store) setWaitAll(wait, text string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if !j.ended() {
			j.wait, j.waitText, j.until = wait, text, until
		}
	}
}

func (s *Store) setNext(id string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		j.nextAt = t
	}
}

// setRunning marks the item this process is checking and writing for the
// job ("" when none).
func (s *Store) setRunning(id, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		j.running, j.sending = target != "", target
	}
}

// InFlight returns the job's items whose write may be in flight: the one
// this process is sending, and those another process wrote an intent for
// with no outcome yet (undo takes them too; its own check skips any that
// did not land).
func (s *Store) InFlight(id string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return nil
	}
	var out []Item
	seen := map[string]bool{}
	add := func(target string) {
		if i, ok := j.index[target]; ok && !seen[target] {
			seen[target] = true
			out = append(out, j.Items[i])
		}
	}
	if j.sending != "" {
		add(j.sending)
	}
	for _, o := range s.open {
		if o.job == id {
			add(o.target)
		}
	}
	return out
}

// sendTimes returns when the key's job writes of a kind went out (ok or
// unknown) since a time, oldest first.
func (s *Store) sendTimes(fp, gateway, kind string, since time.Time) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, j := range s.jobs {
		if j.KeyFingerprint != fp || j.Gateway != gateway || j.Kind != kind {
			continue
		}
		for _, it := range j.Items {
			if (it.Outcome == OutcomeOK || it.Outcome == OutcomeUnknown) && it.Time.After(since) {
				out = append(out, it.Time)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Before(out[b]) })
	return out
}

// clearWait ends every job's wait of one kind.
func (s *Store) clearWait(wait string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.wait == wait {
			j.wait, j.waitText, j.until = "", "", time.Time{}
		}
	}
}

// endedIDs returns the jobs that have ended.
func (s *Store) endedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.ids {
		if s.jobs[id].ended() {
			out = append(out, id)
		}
	}
	return out
}

// targetMark is how far the store knows of sends to target by any job of
// d's key, gateway and kind: the outcomes settled, and whether another job's
// write to it is in flight (an intent after since with no outcome yet; one
// older is a writer that died).
func (s *Store) targetMark(d Def, target string, since time.Time) (settled int, inFlight bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.open {
		if o.target != target || o.job == d.ID || o.t.Before(since) {
			continue
		}
		if j := s.jobs[o.job]; j != nil && settledKey(j.Def, target) == settledKey(d, target) {
			inFlight = true
			break
		}
	}
	return s.settled[settledKey(d, target)], inFlight
}
