package safety

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// referenceRecord is parseRecord as it was, on encoding/json alone.
func referenceRecord(line []byte) (Record, bool) {
	var rec Record
	if json.Unmarshal(line, &rec) != nil || rec.Phase == "" {
		return Record{}, false
	}
	return rec, true
}

func randomRecord(rng *rand.Rand) Record {
	strs := []string{"", "a", "unfollow_x_user", "17000000000000000001", "O'Brien", `quo"te`, `back\slash`, "tab\there", "ünïcødé", "\u2028", "<&>", "0123456789abcdef"}
	if rng.IntN(2) == 0 {
		strs = []string{"", "a", "unfollow_x_user", "17000000000000000001", "0123456789abcdef", "O'Brien <&>"}
	}
	s := func() string { return strs[rng.IntN(len(strs))] }
	b := func() *bool {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			v := true
			return &v
		}
		v := false
		return &v
	}
	phases := []string{"", PhaseIntent, PhaseOutcome, PhaseRepair}
	return Record{
		Time:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(1e17))).In(time.FixedZone("", 3600*(rng.IntN(5)-2))),
		CallID: s(), Phase: phases[rng.IntN(len(phases))], Tool: s(), TargetUserID: s(), ExpectedUsername: s(),
		Username: s(), Gateway: s(), KeyFingerprint: s(), DryRun: rng.IntN(2) == 0, WasFollowing: b(),
		Outcome: s(), Code: s(), RequestID: s(), Following: b(), Line: rng.IntN(3) * rng.IntN(1e6), JobID: s(),
	}
}

// The fast path gives exactly what encoding/json gives, for records as the
// journal writes them and for every kind of damage and variation.
func TestParseRecordMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fast := 0
	mutations := []func([]byte) []byte{
		func(b []byte) []byte { return b },
		func(b []byte) []byte { return b[:rng.IntN(len(b))] },
		func(b []byte) []byte {
			c := append([]byte(nil), b...)
			c[rng.IntN(len(c))] = "{}[]\":,tfn0123456789 \\aZ\x00\xff"[rng.IntN(26)]
			return c
		},
		func(b []byte) []byte { return append(append([]byte(nil), b...), " \n"...) },
		func(b []byte) []byte { return append(append([]byte(nil), b...), 'x') },
		func(b []byte) []byte {
			c := append([]byte(nil), b...)
			return append(c[:len(c)-1], []byte(`,"phase":"outcome","Time":"2020-01-01T00:00:00Z","line":-1}`)[rng.IntN(3)*0:]...)
		},
	}
	for n := 0; n < 60000; n++ {
		r := randomRecord(rng)
		line, _ := json.Marshal(r)
		line = mutations[rng.IntN(len(mutations))](line)
		got, gok := parseRecord(line)
		want, wok := referenceRecord(line)
		if gok != wok || !reflect.DeepEqual(got, want) {
			t.Fatalf("line %q:\n got %v %+v\nwant %v %+v", line, gok, got, wok, want)
		}
		if _, ok := fastRecord(line); ok {
			fast++
		}
	}
	for _, line := range []string{
		`{"time":"2026-01-01T00:00:00Z","phase":"intent","line":007}`,
		`{"time":"2026-01-01T00:00:00Z","phase":"intent","line":1e3}`,
		`{"time":"2026-01-01T00:00:00Z","phase":"intent","line":99999999999999999999}`,
		`{"time":"2026-01-01T00:00:00Z","phase":"intent","dry_run":null}`,
		`{"time":"2026-01-01T00:00:00Z","phase":"intent","PHASE":"outcome"}`,
		`{"time":"2026-01-01T00:00:00Z","phase":"intent","extra":{"a":1}}`,
		`{"time":"2026-13-01T00:00:00Z","phase":"intent"}`,
		`{"time":"2026-01-01 00:00:00Z","phase":"intent"}`,
		`{"phase":"intent" , "tool":"x"}`,
		`{}`, `{`, `{"phase":"intent",}`, `{"phase":"intent"}}`, `[]`, ``,
	} {
		got, gok := parseRecord([]byte(line))
		want, wok := referenceRecord([]byte(line))
		if gok != wok || !reflect.DeepEqual(got, want) {
			t.Fatalf("line %q:\n got %v %+v\nwant %v %+v", line, gok, got, wok, want)
		}
	}
	// Records as the server writes them (ASCII) take the fast path.
	r := Record{Time: time.Now().UTC(), CallID: NewCallID(), Phase: PhaseIntent, Tool: "unfollow_x_user", TargetUserID: "12",
		ExpectedUsername: "jack", Gateway: "127.0.0.1:9", KeyFingerprint: "0123456789abcdef", JobID: "j1"}
	line, _ := json.Marshal(r)
	if _, ok := fastRecord(line); !ok {
		t.Fatalf("a record as written is not on the fast path: %s", line)
	}
	if fast < 1000 {
		t.Fatalf("only %d lines took the fast path", fast)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","call_id":"ab","phase":"intent","tool":"unfollow_x_user","target_user_id":"12","expected_username":"jack","dry_run":false,"was_following":true,"line":3}`))
	f.Add([]byte(`{"time":"2026-01-01T00:00:00+01:00","phase":"outcome","following":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		got, gok := parseRecord(line)
		want, wok := referenceRecord(line)
		if gok != wok || !reflect.DeepEqual(got, want) {
			t.Fatalf("line %q:\n got %v %+v\nwant %v %+v", line, gok, got, wok, want)
		}
	})
}

func BenchmarkParseRecord(b *testing.B) {
	r := Record{Time: time.Now().UTC(), CallID: NewCallID(), Phase: PhaseIntent, Tool: "unfollow_x_user", TargetUserID: "1700000000000000001",
		ExpectedUsername: "jack", Gateway: "127.0.0.1:9", KeyFingerprint: "0123456789abcdef"}
	line, _ := json.Marshal(r)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			parseRecord(line)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			referenceRecord(line)
		}
	})
}
