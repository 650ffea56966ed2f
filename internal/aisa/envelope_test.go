package aisa

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeEnvelopeReference is decodeEnvelope without its shortcut for the
// published shape: both decodings, always.
func decodeEnvelopeReference(raw []byte) (map[string]json.RawMessage, envelope, error) {
	var env envelope
	var top map[string]json.RawMessage
	err := json.Unmarshal(raw, &top)
	if err == nil {
		err = json.Unmarshal(raw, &env)
	}
	return top, env, err
}

var envelopeSeeds = []string{
	`{"data":{"following":false,"pending_follow":false}}`,
	`{"data":null}`, `{"data":1}`, `{"data":"x"}`, `{"data":[]}`, `{"data":{}}`,
	`{"Data":{"following":true}}`, `{"DATA":{}}`, `{"data":{},"data":{"following":true}}`,
	`{"data":{},"Data":{"following":true}}`, `{"Data":{},"data":{"following":true}}`,
	`{"dat\u0061":{"following":true}}`, `{"data":{"following":true},"ok":false}`,
	`{"ok":true,"code":200,"data":{"following":false}}`, `{"error":"x","data":{}}`,
	`{}`, `null`, `[]`, `"data"`, `{"data":{}} `, ` {"data":{}}`, `{"data":{}}x`, `{"data"`,
	// The shape flat.go reads directly, and its near misses.
	"{\"data\":{\"following\":false,\"pending_follow\":false}}\n",
	` { "data" : { "following" : true , "pending_follow" : null } } `, "{\"data\":{\"following\":true}}\t\r\n",
	`{"data":{"following":true,"following":false}}`, `{"data":{"following":tru}}`, `{"data":{"following":true,}}`,
	`{"data":{"following":true}}}`, `{"data":{"following":true}`, `{"data":{"Following":true}}`,
	`{"data":{"f\u006fllowing":true}}`, `{"data":{"following":nul}}`, `{"data":{"following":"true"}}`,
	`{"data":{"following":true}},`, `{"data":{"following":true} "x"}`, `{"data":{"following":1}}`,
	`{"data":{"following":true},"data":{"following":false}}`, `{"data":{"":true}}`, `{"data":{"following"true}}`,
	`{"data":{"following":true "pending_follow":false}}`, `{"data":{"following":falsey}}`, "{\"data\":{\"following\":true}}\x00",
}

// exactMembersReference is exactMembers without the direct reading of
// flat.go: what it must agree with.
func exactMembersReference(obj []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if len(obj) == 0 || json.Unmarshal(obj, &m) != nil {
		return nil
	}
	return m
}

func checkMembers(t *testing.T, raw []byte) {
	t.Helper()
	if got, want := exactMembers(raw), exactMembersReference(raw); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, reference %#v", raw, got, want)
	}
	// And as the data member of an envelope.
	if _, env, err := decodeEnvelope(raw); err == nil {
		if got, want := exactMembers(env.Data), exactMembersReference(env.Data); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q data: got %#v, reference %#v", raw, got, want)
		}
	}
}

func TestExactMembersMatchesReference(t *testing.T) {
	for _, s := range envelopeSeeds {
		checkMembers(t, []byte(s))
		if _, env, err := decodeEnvelope([]byte(s)); err == nil {
			checkMembers(t, env.Data)
		}
	}
}

func FuzzExactMembers(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkMembers)
}

// The direct reading is what a follow answer takes, so a change that sent
// it the general way again would go unnoticed by the differential tests.
func TestFollowAnswerIsReadDirectly(t *testing.T) {
	for _, s := range []string{`{"data":{"following":false,"pending_follow":false}}`, "{\"data\":{\"following\":true}}\n", `{"data":{}}`} {
		if _, _, ok := flatEnvelope([]byte(s)); !ok {
			t.Errorf("%s: not read directly", s)
		}
	}
	for _, s := range []string{`{"data":{"following":"x"}}`, `{"Data":{"following":true}}`, `{"data":{"following":true},"ok":true}`} {
		if _, _, ok := flatEnvelope([]byte(s)); ok {
			t.Errorf("%s: read directly, but is not the flat shape", s)
		}
	}
}

func checkEnvelope(t *testing.T, raw []byte) {
	t.Helper()
	top, env, err := decodeEnvelope(raw)
	rtop, renv, rerr := decodeEnvelopeReference(raw)
	if (err == nil) != (rerr == nil) || (err != nil && err.Error() != rerr.Error()) {
		t.Fatalf("%q: error %v, reference %v", raw, err, rerr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(top, rtop) || !reflect.DeepEqual(env, renv) {
		t.Fatalf("%q: got %#v %#v, reference %#v %#v", raw, top, env, rtop, renv)
	}
}

func TestDecodeEnvelopeMatchesReference(t *testing.T) {
	for _, s := range envelopeSeeds {
		checkEnvelope(t, []byte(s))
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkEnvelope)
}
