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
