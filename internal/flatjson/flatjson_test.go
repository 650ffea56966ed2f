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

// FuzzObject holds Object to encoding/json on every input: whatever it
// reads as a whole, encoding/json reads alike, member for member, as raw
// values and as Go values (the last of duplicate keys wins in both).
func FuzzObject(f *testing.F) {
	for _, s := range []string{
		`{"following":false,"pending_follow":true}`, ` { "a" : null , "b_2" : "x y" } `, `{}`, `{"a":"x","a":true}`,
		`{"":true}`, `{"a":"\u0062"}`, "{\"a\":\"x\x7f\"}", "{\"a\":\"\x00\"}", `{"a":true}}`, `{"a":true} x`,
		"{\"a\":true}\v", `{"data":{"following":true}}`, `{"a":"é"}`, `{"A":true,"a":false}`, `{"a":true,"b":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kinds := range []int{Literals, Strings, Literals | Strings} {
			got := map[string]string{}
			end, ok := Object(b, 0, kinds, func(k, v []byte) { got[string(k)] = string(v) })
			if !ok || SkipSpace(b, end) != len(b) {
				continue
			}
			var ref map[string]json.RawMessage
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatalf("%q read as %v, encoding/json refuses it: %v", b, got, err)
			}
			if len(ref) != len(got) {
				t.Fatalf("%q read as %v, encoding/json as %v", b, got, ref)
			}
			for k, v := range ref {
				if g, ok := got[k]; !ok || g != string(v) {
					t.Fatalf("%q: %s is %q, encoding/json says %s", b, k, g, v)
				}
				var want any
				if err := json.Unmarshal(v, &want); err != nil {
					t.Fatal(err)
				}
				if s, isString := want.(string); isString && `"`+s+`"` != got[k] {
					t.Fatalf("%q: %s reads as %q, encoding/json says %q", b, k, got[k], s)
				}
			}
		}
	})
}
