package flatjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestObject(t *testing.T) {
	for _, c := range []struct {
		in    string
		kinds int
		want  map[string]string // nil: refused
	}{
		{`{"following":false,"pending_follow":true}`, Literals, map[string]string{"following": "false", "pending_follow": "true"}},
		{` { "a" : null , "b_2" : "x y" } `, Literals | Strings, map[string]string{"a": "null", "b_2": `"x y"`}},
		{`{}`, Literals, map[string]string{}},
		{`{"a":"x"}`, Literals, nil},        // a string where only literals may be
		{`{"a":true}`, Strings, nil},        // and the other way round
		{`{"A":true}`, Literals, nil},       // keys are lower case
		{`{"a\u0062":true}`, Literals, nil}, // no escapes in keys
		{`{"a":"\u0062"}`, Strings, nil},    // nor in strings
		{"{\"a\":\"\xc3\xa9\"}", Strings, nil},
		{`{"a":1}`, Literals | Strings, nil},
		{`{"a":{}}`, Literals | Strings, nil},
		{`{"a":true,}`, Literals, nil},
		{`{"a":true`, Literals, nil},
		{`{"a" true}`, Literals, nil},
		{`{"a":truex}`, Literals, nil},
		{`{"a":"x}`, Strings, nil},
		{`[]`, Literals, nil},
		{``, Literals, nil},
	} {
		got := map[string]string{}
		end, ok := Object([]byte(c.in), 0, c.kinds, func(k, v []byte) { got[string(k)] = string(v) })
		if c.want == nil {
			if ok && SkipSpace([]byte(c.in), end) == len(c.in) {
				t.Errorf("%s: read as %v, want refused", c.in, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v %v, want %v", c.in, got, ok, c.want)
		}
		// Whatever it reads, encoding/json reads alike.
		var ref map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.in), &ref); err != nil || len(ref) != len(got) {
			t.Errorf("%s: encoding/json reads %v (%v)", c.in, ref, err)
		}
		for k, v := range ref {
			if got[k] != string(v) {
				t.Errorf("%s: %s is %s, encoding/json says %s", c.in, k, got[k], v)
			}
		}
	}
}
