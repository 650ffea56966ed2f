package safety

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fullReadEvents is what a full read of the journal counts: every segment
// in the folder and the active one, joined and counted, whatever the
// checkpoint says.
func fullReadEvents(t *testing.T, path string, s Scope, since time.Time) map[string][]time.Time {
	t.Helper()
	recs, _, err := ReadJournalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sortedEvents(BudgetEvents(Attempts(recs), s, since, slotTools))
}

// crashAt makes j's next pass through point stop there as a kill -9 would:
// nothing after it runs, the files stay as they are, and j is abandoned.
func crashAt(t *testing.T, j *Journal, point string, do func() error) {
	t.Helper()
	type crashed struct{}
	j.crash = func(p string) {
		if p == point {
			panic(crashed{})
		}
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(crashed); !ok {
					panic(r)
				}
			}
		}()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("never reached %s", point)
	}()
	j.closeFiles()
}

func unfollowAt(id string, at time.Time) Record {
	r := rec(id, at)
	r.CallID, r.Gateway, r.KeyFingerprint = NewCallID(), "api.example", "aaaa"
	return r
}

// A kill just after a seal's retention deleted the segment the checkpoint
// names as its newest sealed one (the server was idle for longer than the
// retention) leaves a journal that opens, keeps its records and takes the
// next.
func TestKillAfterRetentionRemovedTheCheckpointsNewestSealed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	o := JournalOptions{Retention: 48 * time.Hour}
	j := openAt(t, path, c, o)
	for d := range 2 {
		c.set(day0.Add(time.Duration(d) * 24 * time.Hour))
		if err := j.Append(unfollowAt(strconv.Itoa(d), c.now())); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpoint: segment 1 sealed, segment 2 active. Ten days on, the
	// next append seals segment 2 and retention deletes segment 1.
	c.set(day0.Add(11 * 24 * time.Hour))
	crashAt(t, j, "retain-removed", func() error { return j.Append(unfollowAt("11", c.now())) })
	if _, err := os.Stat(segPath(path+".d", 1)); err == nil {
		t.Fatal("retention kept segment 1")
	}
	j, err := OpenJournalWith(path, JournalOptions{Retention: o.Retention, Now: c.now})
	if err != nil {
		t.Fatalf("the journal does not open after the kill: %v", err)
	}
	defer j.Close()
	if err := j.Append(unfollowAt("after", c.now())); err != nil {
		t.Fatal(err)
	}
	recs, _, err := j.Records()
	if err != nil || strings.Join(ids(recs), ",") != "1,after" {
		t.Fatalf("records %v %v", ids(recs), err)
	}
}

// A checkpoint left behind by several seals (it could not be written, or
// a server of the version before it sealed the segments) whose active
// segment retention has deleted since: a start finds every segment sealed
// after it, counts every write of the last day that a full read counts,
// and goes on sealing.
func TestStaleCheckpointWhoseActiveSegmentIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	o := JournalOptions{Retention: 48 * time.Hour}
	j := openAt(t, path, c, o)
	if err := j.Append(unfollowAt("0", c.now())); err != nil {
		t.Fatal(err)
	}
	j.Close()
	ck := filepath.Join(path+".d", checkpointName)
	stale, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	j = openAt(t, path, c, o)
	for d := 1; d <= 4; d++ {
		c.set(day0.Add(time.Duration(d)*24*time.Hour + 6*time.Hour))
		if err := j.Append(unfollowAt(strconv.Itoa(d), c.now())); err != nil {
			t.Fatal(err)
		}
	}
	c.set(day0.Add(5*24*time.Hour - 2*time.Hour))
	if err := j.Append(unfollowAt("5", c.now())); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if _, err := os.Stat(segPath(path+".d", 1)); err == nil {
		t.Fatal("retention kept segment 1")
	}
	if err := os.WriteFile(ck, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	j = openAt(t, path, c, o)
	defer j.Close()
	since := c.now().Add(-24 * time.Hour)
	s := Scope{Gateway: "api.example"}
	want, got := fullReadEvents(t, path, s, since), gotEvents(t, j, s, since)
	if len(want["aaaa"]) != 2 || !sameEvents(want, got) {
		t.Fatalf("a start counts %v; a full read %v", got, want)
	}
	for d := 6; d <= 8; d++ {
		c.set(day0.Add(time.Duration(d) * 24 * time.Hour))
		if err := j.Append(unfollowAt(strconv.Itoa(d), c.now())); err != nil {
			t.Fatalf("day %d: %v", d, err)
		}
	}
}

// A checkpoint that parses and carries a valid checksum but numbers no
// file could have (a negative size, blocks past the end) is not trusted:
// the start indexes the segments again instead of failing or panicking.
func TestCheckpointWithImpossibleNumbersIsIgnored(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *checkpoint)
	}{
		{"negative active size", func(c *checkpoint) { c.Active.Size = -5 }},
		{"negative sealed size", func(c *checkpoint) { c.Sealed[0].Size = -5 }},
		{"block past the end", func(c *checkpoint) { c.Active.Blocks = append(c.Active.Blocks, block{Off: c.Active.Size + 100}) }},
		{"negative block offset", func(c *checkpoint) { c.Sealed[0].Blocks[0].Off = -10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.jsonl")
			c := &clock{t: day0}
			j := openAt(t, path, c, JournalOptions{})
			for d := range 3 {
				c.set(day0.Add(time.Duration(d) * time.Hour * 20))
				if err := j.Append(unfollowAt(strconv.Itoa(d), c.now())); err != nil {
					t.Fatal(err)
				}
			}
			j.Close()
			ck := readCheckpoint(path + ".d")
			if ck == nil || len(ck.Sealed) == 0 {
				t.Fatal("no checkpoint with a sealed segment")
			}
			tc.edit(ck)
			if err := os.WriteFile(filepath.Join(path+".d", checkpointName), ck.encode(), 0o600); err != nil {
				t.Fatal(err)
			}
			var j2 *Journal
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("the start panicked: %v", r)
					}
				}()
				var err error
				j2, err = OpenJournalWith(path, JournalOptions{Now: c.now})
				if err != nil {
					t.Fatalf("the start failed: %v", err)
				}
			}()
			defer j2.Close()
			since := c.now().Add(-48 * time.Hour)
			s := Scope{Gateway: "api.example"}
			if want, got := fullReadEvents(t, path, s, since), gotEvents(t, j2, s, since); len(want["aaaa"]) != 3 || !sameEvents(want, got) {
				t.Fatalf("a start counts %v; a full read %v", got, want)
			}
		})
	}
}

// Every seal rewrites the checkpoint, also when the checkpoint last
// written had the same size as the new, empty active segment (it was
// written when the previous one was still empty): a kill after a quiet
// day's seal then leaves a checkpoint naming the segments as they are.
func TestEverySealRewritesTheCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	defer j.Close()
	for d := range 4 {
		c.set(day0.Add(time.Duration(d) * 24 * time.Hour))
		if err := j.Append(unfollowAt(strconv.Itoa(d), c.now())); err != nil {
			t.Fatal(err)
		}
		ck := readCheckpoint(path + ".d")
		if ck == nil || ck.Active.Seq != d+1 || len(ck.Sealed) != d {
			t.Fatalf("day %d: the checkpoint is %v; want segment %d active and %d sealed", d, ck, d+1, d)
		}
	}
}

// A checkpoint far larger than any journal makes (written by something
// else, its checksum right) is not read into memory at start: the start
// ignores it and indexes the segments.
func TestHugeCheckpointIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	if err := j.Append(unfollowAt("1", c.now())); err != nil {
		t.Fatal(err)
	}
	j.Close()
	ck := readCheckpoint(path + ".d")
	body := ck.encode()
	body = body[:bytes.LastIndex(body, []byte("end "))]
	// 40 MB of one-line writes: ten million slots of 56 bytes once parsed.
	var b bytes.Buffer
	b.Write(body)
	if ck.Slots == nil {
		b.WriteString("k 1\n")
	}
	b.WriteString("g \"unfollow_x_user\" \"api.example\" \"aaaa\"\n")
	for b.Len() < 40<<20 {
		b.WriteString("o 1\n")
	}
	fmt.Fprintf(&b, "end %d\n", crc32.ChecksumIEEE(b.Bytes()))
	if _, err := decodeCheckpoint(b.Bytes()); err != nil {
		t.Fatalf("the hostile checkpoint does not parse: %v", err)
	}
	if err := os.WriteFile(filepath.Join(path+".d", checkpointName), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b = bytes.Buffer{}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	j = openAt(t, path, c, JournalOptions{})
	runtime.ReadMemStats(&after)
	defer j.Close()
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Fatalf("the start allocated %d MiB for a 40 MiB checkpoint", n>>20)
	}
	since := c.now().Add(-24 * time.Hour)
	s := Scope{Gateway: "api.example"}
	if want, got := fullReadEvents(t, path, s, since), gotEvents(t, j, s, since); len(want["aaaa"]) != 1 || !sameEvents(want, got) {
		t.Fatalf("a start counts %v; a full read %v", got, want)
	}
}

// BenchmarkListSegmentFolder is what a start pays to list the segment
// folder of a year of daily segments.
func BenchmarkListSegmentFolder(b *testing.B) {
	dir := b.TempDir()
	for s := 1; s <= 365; s++ {
		if err := os.WriteFile(segPath(dir, s), []byte("{}\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []string{checkpointName, "lock", "pins.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if s, err := sealedSeqs(dir); err != nil || len(s) != 365 {
			b.Fatal(len(s), err)
		}
	}
}

// A checkpoint left behind by any number of appends, seals and retention
// (its writes failed: a full disk) is as good as a current one: with two
// processes appending and the checkpoint put back to one of any earlier
// round, a start counts what a full read of the folder counts.
func TestStaleCheckpointsCountWhatAFullReadCounts(t *testing.T) {
	for seed := range 4 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 20))
			path := filepath.Join(t.TempDir(), "j.jsonl")
			c := &clock{t: day0}
			o := JournalOptions{Retention: 48 * time.Hour, RotateSize: 8 << 10, CheckpointEvery: 1 + int64(rng.IntN(6000))}
			a := openAt(t, path, c, o)
			b := openAt(t, path, c, o)
			ck := filepath.Join(path+".d", checkpointName)
			var saved [][]byte
			for round := range 10 {
				randomWrites(t, rng, []*Journal{a, b}, c, 30+rng.IntN(50))
				if data, err := os.ReadFile(ck); err == nil {
					saved = append(saved, data)
				}
				a.Close()
				if len(saved) > 0 && rng.IntN(3) > 0 {
					if err := os.WriteFile(ck, saved[rng.IntN(len(saved))], 0o600); err != nil {
						t.Fatal(err)
					}
				}
				a = openAt(t, path, c, o)
				for _, back := range []time.Duration{24 * time.Hour, 2 * time.Hour} {
					since := c.now().Add(-back)
					for _, s := range slotScopes {
						if want, got := fullReadEvents(t, path, s, since), gotEvents(t, a, s, since); !sameEvents(want, got) {
							t.Fatalf("round %d, scope %+v, since %s: a start counts %v; a full read %v", round, s, back, got, want)
						}
					}
				}
			}
			a.Close()
			b.Close()
		})
	}
}

// Kills at every step of a seal, of retention and of a checkpoint, torn
// last lines, records appended by a server of an older version that knows
// no checkpoint, and records stamped hours before or after the clock of
// the process appending them: a start still counts what a full read of
// the folder counts.
func TestStartAfterKillsTornLinesAndOldWritersCountsWhatAFullReadCounts(t *testing.T) {
	points := []string{"rotate-renamed", "rotate-created", "retain-removed", checkpointName + "-written", checkpointName + "-renamed"}
	for seed := range 4 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 21))
			path := filepath.Join(t.TempDir(), "j.jsonl")
			c := &clock{t: day0}
			o := JournalOptions{Retention: 48 * time.Hour, RotateSize: 6 << 10, CheckpointEvery: 1 + int64(rng.IntN(3000))}
			a := openAt(t, path, c, o)
			b := openAt(t, path, c, o)
			raw := func(r Record) {
				line, _ := json.Marshal(r)
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				f.Write(append(line, '\n'))
				f.Close()
			}
			for round := range 12 {
				randomWrites(t, rng, []*Journal{a, b}, c, 20+rng.IntN(40))
				// Skewed writers: stamped up to 3 hours either way.
				for range rng.IntN(6) {
					r := unfollowAt("skew", c.now().Add(time.Duration(rng.IntN(6*60)-3*60)*time.Minute))
					if err := b.Append(r); err != nil {
						t.Fatal(err)
					}
					if rng.IntN(2) == 0 {
						r.Phase, r.Outcome = PhaseOutcome, []string{OutcomeOK, OutcomeFailed, OutcomeUnknown}[rng.IntN(3)]
						if err := a.Append(r); err != nil {
							t.Fatal(err)
						}
					}
				}
				switch rng.IntN(4) {
				case 0: // an older server appends, outside the checkpoint
					r := unfollowAt("old", c.now())
					raw(r)
					if rng.IntN(2) == 0 {
						r.Phase, r.Outcome = PhaseOutcome, OutcomeFailed
						raw(r)
					}
				case 1: // a kill mid-write
					f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
					if err != nil {
						t.Fatal(err)
					}
					f.WriteString(`{"time":"` + c.now().Format(time.RFC3339Nano) + `","call_id":"torn","phase":"intent","tool":"unfollow_x_user"`)
					f.Close()
				}
				// a is killed at some step of its next append, one day on
				// (a seal), or closed.
				if rng.IntN(3) > 0 {
					c.set(c.now().Add(time.Duration(20+rng.IntN(10)) * time.Hour))
					point := points[rng.IntN(len(points))]
					func() {
						type crashed struct{}
						a.crash = func(p string) {
							if p == point {
								panic(crashed{})
							}
						}
						defer func() {
							if r := recover(); r != nil {
								if _, ok := r.(crashed); !ok {
									panic(r)
								}
							}
						}()
						if err := a.Append(unfollowAt("k", c.now())); err != nil {
							t.Fatal(err)
						}
						a.crash = nil
						a.Close()
						a.closeFiles()
					}()
					a.closeFiles()
				} else {
					a.Close()
				}
				a = openAt(t, path, c, o)
				for _, back := range []time.Duration{24 * time.Hour, 3 * time.Hour} {
					since := c.now().Add(-back)
					for _, s := range slotScopes {
						if want, got := fullReadEvents(t, path, s, since), gotEvents(t, a, s, since); !sameEvents(want, got) {
							t.Fatalf("round %d, scope %+v, since %s: a start counts %v; a full read %v", round, s, back, got, want)
						}
					}
				}
				// b, live all along, counts the same.
				since := c.now().Add(-24 * time.Hour)
				s := slotScopes[0]
				if want, got := fullReadEvents(t, path, s, since), gotEvents(t, b, s, since); !sameEvents(want, got) {
					t.Fatalf("round %d, the live process counts %v; a full read %v", round, got, want)
				}
			}
			a.Close()
			b.Close()
		})
	}
}

// A checkpoint written by a process whose clock ran days ahead keeps its
// writes from a time still to come: a start does not take them (every
// start would then read the day's records instead) but reads the day's
// records once, and the checkpoint it writes is usable again.
func TestCheckpointFromTheFutureIsReadOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0}
	j := openAt(t, path, c, JournalOptions{})
	for k := range 5 {
		c.set(day0.Add(time.Duration(k) * time.Hour))
		if err := j.Append(unfollowAt(strconv.Itoa(k), c.now())); err != nil {
			t.Fatal(err)
		}
	}
	c.set(c.now().Add(72 * time.Hour)) // the clock jumps ahead, the checkpoint is written
	j.Close()
	c.set(day0.Add(5 * time.Hour)) // and comes back
	for range 2 {
		j = openAt(t, path, c, JournalOptions{})
		since := c.now().Add(-24 * time.Hour)
		if j.slots.from.After(since) {
			t.Fatalf("the start keeps writes from %s on, after the budget's window (from %s): every start reads the day's records", j.slots.from, since)
		}
		s := Scope{Gateway: "api.example"}
		if want, got := fullReadEvents(t, path, s, since), gotEvents(t, j, s, since); len(want["aaaa"]) != 5 || !sameEvents(want, got) {
			t.Fatalf("a start counts %v; a full read %v", got, want)
		}
		j.Close()
	}
}

// A call id written twice, the second intent stamped before the window
// (a writer whose clock is a day behind), then a failed outcome: the
// outcome belongs to the second intent, as a full read joins them, and
// the first still holds its slot, whether the start reads the writes from
// the checkpoint or, without one, from the records.
func TestReusedCallIDStampedBeforeTheWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	c := &clock{t: day0.Add(72 * time.Hour)}
	j := openAt(t, path, c, JournalOptions{})
	first := unfollowAt("1", c.now().Add(-2*time.Hour))
	second := first
	second.Time = c.now().Add(-30 * time.Hour)
	out := second
	out.Phase, out.Outcome, out.Time = PhaseOutcome, OutcomeFailed, c.now().Add(-time.Hour)
	for _, r := range []Record{first, second, out} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	since := c.now().Add(-24 * time.Hour)
	s := Scope{Gateway: "api.example"}
	want := fullReadEvents(t, path, s, since)
	if len(want["aaaa"]) != 1 {
		t.Fatalf("a full read counts %v", want)
	}
	if got := gotEvents(t, j, s, since); !sameEvents(want, got) {
		t.Fatalf("live: %v; a full read %v", got, want)
	}
	j.Close()
	for _, name := range []string{"with the checkpoint", "without"} {
		if name == "without" {
			os.Remove(filepath.Join(path+".d", checkpointName))
		}
		j = openAt(t, path, c, JournalOptions{})
		got := gotEvents(t, j, s, since)
		j.Close()
		if !sameEvents(want, got) {
			t.Fatalf("%s: a start counts %v; a full read %v", name, got, want)
		}
	}
}

// An intent whose outcome is appended after its writer stopped (by
// another process sharing the journal) is settled by that outcome at the
// next start, from the checkpoint's pending call: a failed one frees the
// slot, an ok one keeps it, none keeps it.
func TestOutcomeAfterARestartSettlesTheCheckpointsIntent(t *testing.T) {
	for _, outcome := range []string{OutcomeFailed, OutcomeOK, ""} {
		t.Run(outcome, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.jsonl")
			c := &clock{t: day0}
			a := openAt(t, path, c, JournalOptions{})
			b := openAt(t, path, c, JournalOptions{})
			in := unfollowAt("1", c.now())
			if err := a.Append(in); err != nil {
				t.Fatal(err)
			}
			a.Close()
			if ck := readCheckpoint(path + ".d"); ck == nil || ck.Slots == nil || len(ck.Slots.pending) != 1 {
				t.Fatalf("the checkpoint does not hold the pending intent: %v", ck)
			}
			if outcome != "" {
				out := in
				out.Phase, out.Outcome = PhaseOutcome, outcome
				if err := b.Append(out); err != nil {
					t.Fatal(err)
				}
			}
			a = openAt(t, path, c, JournalOptions{})
			defer a.Close()
			defer b.Close()
			since := c.now().Add(-24 * time.Hour)
			s := Scope{Gateway: "api.example"}
			want, got := fullReadEvents(t, path, s, since), gotEvents(t, a, s, since)
			if n := len(want["aaaa"]); n != map[string]int{OutcomeFailed: 0, OutcomeOK: 1, "": 1}[outcome] || !sameEvents(want, got) {
				t.Fatalf("a start counts %v; a full read %v", got, want)
			}
		})
	}
}
