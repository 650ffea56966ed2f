package tools

import "testing"

// TestFinderReadSlotsAreSharedPerKeyAndDroppedWhenIdle: calls with one key
// share one set of read slots; another key has its own; the entry goes when
// its last call ends.
func TestFinderReadSlotsAreSharedPerKeyAndDroppedWhenIdle(t *testing.T) {
	k := &keyedSlots{m: map[string]*keySlots{}}
	a1, a2, b := k.take("gw a"), k.take("gw a"), k.take("gw b")
	if a1 != a2 || a1 == b || cap(a1) != finderMaxInFlight {
		t.Fatal("one key's calls do not share their slots, or two keys do")
	}
	k.done("gw a")
	if len(k.m) != 2 {
		t.Fatal("a key's slots went while a call still used them")
	}
	k.done("gw a")
	k.done("gw b")
	k.done("gw c") // never taken: no effect
	if len(k.m) != 0 {
		t.Fatalf("%d idle entries kept", len(k.m))
	}
}
