package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	schemacheck "github.com/santhosh-tekuri/jsonschema/v6"
)

// decodeArgsReference is decodeArgs as it was before it parsed the arguments
// once instead of three times: TestDecodeArgsMatchesReference and the fuzz
// target hold the two to the same answers. It validates raw against the tool's schema, with a corrective
// message for each way it can be wrong, then decodes it strictly and runs the
// input's own checks.
func decodeArgsReference[In argsValidator](t *Tool, raw []byte) (In, error) {
	var in In
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		trimmed = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil || fields == nil {
		return in, invalidArg("the arguments must be a JSON object, e.g. %s", exampleArgs(t))
	}
	// Unknown fields, sorted so the message is stable.
	var unknown []string
	for k := range fields {
		if !slices.Contains(t.properties, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return in, invalidArg("unknown argument %s; %s takes only %s", quoteList(unknown), t.Name, quoteList(t.properties))
	}
	for _, k := range t.required {
		if _, ok := fields[k]; !ok {
			return in, invalidArg("missing required argument %q: send %s", k, fieldHelp(k))
		}
	}
	for _, k := range t.properties {
		if v, ok := fields[k]; ok && string(bytes.TrimSpace(v)) == "null" {
			return in, invalidArg("%s is null: send %s, or leave it out if it is optional", k, fieldHelp(k))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := te.Field
			if i := strings.IndexAny(field, ".["); i > 0 {
				field = field[:i]
			}
			if field == "target_user_id" {
				return in, invalidArg("target_user_id must be the id in quotes, e.g. \"2244994945\", not a JSON %s (X ids are too long for JSON numbers to carry exactly)", te.Value)
			}
			if field == "target_user_ids" {
				return in, invalidArg("target_user_ids must be a list of ids, each in quotes, e.g. [\"2244994945\",\"783214\"]; it held a JSON %s (X ids are too long for JSON numbers to carry exactly)", te.Value)
			}
			return in, invalidArg("%s must be %s, not a JSON %s: send %s", field, jsonKind(te.Type.Kind().String()), te.Value, fieldHelp(field))
		}
		return in, invalidArg("the arguments could not be read (%s): send a JSON object such as %s", shorten(err.Error(), 80), exampleArgs(t))
	}
	// The input's own checks give the most specific message; run them first.
	if err := in.validate(); err != nil {
		return in, err
	}
	// Then the published schema itself, as a net for anything the checks
	// above do not cover.
	checker, err := t.checker()
	if err != nil {
		// An uncompilable schema must never silently disable validation.
		panic(fmt.Sprintf("tools: %s input schema does not compile: %v", t.Name, err))
	}
	inst, err := schemacheck.UnmarshalJSON(bytes.NewReader(trimmed))
	if err == nil {
		err = checker.Validate(inst)
	}
	if err != nil {
		return in, invalidArg("the arguments do not match the tool's input schema (%s): send a JSON object such as %s", shorten(oneLine(err.Error()), 160), exampleArgs(t))
	}
	return in, nil
}

// references decode with decodeArgsReference, by input type.
var references = map[reflect.Type]func(t *Tool, raw []byte) (any, error){}

func addReference[In argsValidator]() {
	references[reflect.TypeFor[In]()] = func(t *Tool, raw []byte) (any, error) { return decodeArgsReference[In](t, raw) }
}

func init() {
	addReference[UnfollowArgs]()
	addReference[BatchUnfollowArgs]()
	addReference[FollowArgs]()
	addReference[GetUserArgs]()
	addReference[CheckRelationshipArgs]()
	addReference[ListArgs]()
	addReference[FindCandidatesArgs]()
	addReference[LinkArgs]()
	addReference[StartJobArgs]()
	addReference[GetJobsArgs]()
	addReference[ControlJobArgs]()
	addReference[HistoryArgs]()
}

// sameAsReference fails t unless tl's decode gives for data exactly what
// decodeArgsReference gives: the same value, or the same error text.
func sameAsReference(t *testing.T, tl Tool, data []byte) {
	t.Helper()
	ref, ok := references[tl.inType]
	if !ok {
		t.Fatalf("%s: no reference decoder for %s; add it to references", tl.Name, tl.inType)
	}
	got, gotErr := tl.decode(data)
	want, wantErr := ref(&tl, data)
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("%s %q: decode error %v, reference error %v", tl.Name, data, gotErr, wantErr)
	case gotErr != nil && gotErr.Error() != wantErr.Error():
		t.Fatalf("%s %q: decode says %q, reference says %q", tl.Name, data, gotErr, wantErr)
	case gotErr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%s %q: decode gives %#v, reference %#v", tl.Name, data, got, want)
	}
}

// TestDecodeArgsMatchesReference holds the one-parse decodeArgs to what it
// replaced, on the fuzz seeds, the fuzz corpus and inputs aimed at the
// places where the two parse differently (duplicate and case-variant keys,
// nulls, trailing data, invalid UTF-8, huge numbers, deep nesting).
func TestDecodeArgsMatchesReference(t *testing.T) {
	inputs := slices.Clone(argumentSeeds)
	inputs = append(inputs,
		``, ` `, `null`, ` null `, `nul`, `{`, `}`, `{}{}`, `{} x`, `{}  `, "{}\n\t", `[{}]`, `1`, `true`, `"{}"`,
		`{"target_user_id":null}`, `{"target_user_id":"1","expected_username":null}`, `{"target_user_id":"1","expected_username":""}`,
		`{"Target_User_Id":"1"}`, `{"target_user_id":"1","TARGET_USER_ID":"2"}`, `{"target_user_id":"1","target_user_id":null}`,
		`{"target_user_id":null,"target_user_id":"1"}`, `{"target_user_id":"1\ud800"}`, "{\"target_user_id\":\"1\xff\"}",
		"{\"target_user_id\xff\":\"1\"}", `{"target_user_id":"1"} `, `{"target_user_id":"1"}}`, `{"target_user_id":"1",}`,
		`{"target_user_id":1e999}`, `{"target_user_id":-0}`, `{"target_user_id":["1"]}`, `{"target_user_id":{"a":1}}`,
		`{"target_user_ids":["1","1"]}`, `{"target_user_ids":[]}`, `{"target_user_ids":null}`, `{"target_user_ids":[null]}`,
		`{"target_user_ids":"1"}`, `{"username":"a","page_size":20.0}`, `{"username":"a","page_size":1e1}`, `{"username":"a","page_size":"20"}`,
		`{"username":"a","cursor":""}`, `{"max_following":1.5}`, `{"limit":0}`, `{"refresh":"true"}`, `{"refresh":null}`,
		`{"scopes":[]}`, `{"scopes":null}`, `{"scopes":["follows.write","follows.write"]}`, `{"scopes":["x"]}`,
		`{"source_username":"a","target_username":"b","extra":1}`, `{"":1}`, `{"\u0074arget_user_id":"1"}`,
		// Keys spelled with escapes, or folding to a property's name
		// (ſ folds to s), NUL in a key; a BOM, Unicode spaces around the
		// value, NUL after it; integers past int64; nested values where
		// strings go.
		`{"target\u005fuser_id":"1"}`, `{"target_user_id":"1","target\u005fuser_id":null}`, `{"ſcopes":["follows.write"]}`,
		`{"target_user_id\u0000":"1"}`, "\ufeff{}", "{}\v", "\u00a0{}\u0085", "{}\x00", "\u2028{}",
		`{"username":"a","page_size":9223372036854775808}`, `{"target_user_ids":[["1"]]}`, `{"target_user_ids":[{"a":1}]}`,
		strings.Repeat("[", 10001)+strings.Repeat("]", 10001), `{"target_user_id":`+strings.Repeat("[", 10001)+`"1"`+strings.Repeat("]", 10001)+`}`,
	)
	files, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzToolArguments"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzToolArguments", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 2)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a corpus entry", f.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(lines[1], "[]byte(")), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		inputs = append(inputs, s)
	}
	for _, tl := range All() {
		for _, in := range inputs {
			sameAsReference(t, tl, []byte(in))
		}
	}
}

// TestInputsHaveNoNestedStructs holds up the argument for decoding with
// json.Unmarshal rather than a Decoder with DisallowUnknownFields: members
// are checked by exact name at the top level only, so a struct inside an
// input (a field, an element, an embedded one) would take unknown members
// silently where the strict decoder refused them.
func TestInputsHaveNoNestedStructs(t *testing.T) {
	var nested func(reflect.Type) bool
	nested = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			return nested(ty.Elem())
		case reflect.Map:
			return nested(ty.Key()) || nested(ty.Elem())
		case reflect.Struct, reflect.Interface:
			return true
		}
		return false
	}
	for _, tl := range All() {
		for i := 0; i < tl.inType.NumField(); i++ {
			if f := tl.inType.Field(i); f.Anonymous || nested(f.Type) {
				t.Errorf("%s: input field %s (%s) can hold an object whose members are not checked by name; decode it strictly", tl.Name, f.Name, f.Type)
			}
		}
	}
}
