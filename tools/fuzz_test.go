package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	schemacheck "github.com/santhosh-tekuri/jsonschema/v6"
)

// argumentSeeds start FuzzToolArguments and TestDecodeArgsMatchesReference.
var argumentSeeds = []string{
	`{"target_user_id":"2244994945"}`, `{"target_user_id":2244994945}`, `{"target_user_id":"@jack"}`,
	`{"target_user_id":"12","expected_username":"@jack"}`, `{"target_user_ids":["1","2"]}`,
	`{"username":"TwitterDev"}`, `{"username":"x","cursor":"abc","page_size":20}`,
	`{"source_username":"a","target_username":"b"}`, `{"scopes":["follows.write"]}`,
	`{}`, `null`, `[]`, `"x"`, `{"target_user_id":"١٢"}`, `{"target_user_id":"12\u0000"}`,
	`{"target_user_id":"1","target_user_id":"@x"}`, `{"page_size":1e400,"username":"a"}`,
	`{"username":"a","max_following":0,"limit":1001}`, `{"max_following":20000,"limit":1,"refresh":true}`,
	// The flat shape read without encoding/json (parseArgs), and near misses.
	` { "target_user_id" : "2244994945" , "dry_run" : true } `, `{"target_user_id":"2244994945","dry_run":null}`,
	`{"target_user_id":"2244994945","dry_run":false,}`, `{"target_user_id":"22449\u00394945"}`, `{"Target_user_id":"1"}`,
	`{"target_user_id":"2244994945"}x`, `{"target_user_id":"2244994945"`, `{"target_user_id":"2244994945","dry_run":tru}`,
	"{\"target_user_id\":\"22\t44\"}", `{"target_user_id":"é"}`, `{"username":"a","refresh":"true"}`,
}

// FuzzToolArguments feeds arbitrary bytes to every tool's argument
// validation: it must never panic, every refusal must be an
// [invalid_argument], nothing outside the published patterns is ever
// accepted, and the answer is exactly decodeArgsReference's.
func FuzzToolArguments(f *testing.F) {
	for _, s := range argumentSeeds {
		f.Add([]byte(s))
	}
	all := All()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tl := range all {
			// The one-parse decode answers exactly as the three-parse one did.
			sameAsReference(t, tl, data)
			v, err := tl.decode(data)
			if err != nil {
				var te *ToolError
				if !errors.As(err, &te) || te.Code != CodeInvalidArgument {
					t.Fatalf("%s: refusal is not [invalid_argument]: %v", tl.Name, err)
				}
				continue
			}
			raw, _ := json.Marshal(v)
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("%s: %v", tl.Name, err)
			}
			checkAccepted(t, tl.Name, m)
		}
	})
}

func checkAccepted(t *testing.T, tool string, m map[string]any) {
	t.Helper()
	for k, v := range m {
		switch k {
		case "target_user_id":
			if s, _ := v.(string); !idRe.MatchString(s) {
				t.Fatalf("%s accepted target_user_id %q", tool, s)
			}
		case "target_user_ids":
			// A job takes up to maxJobItems ids and drops duplicates itself
			// (counting them); a batch takes up to maxBatch distinct ids.
			most, dupsOK := maxBatch, false
			if tool == "start_x_unfollow_job" {
				most, dupsOK = maxJobItems, true
			}
			list, _ := v.([]any)
			if len(list) < 1 || len(list) > most {
				t.Fatalf("%s accepted %d ids", tool, len(list))
			}
			seen := map[string]bool{}
			for _, x := range list {
				s, _ := x.(string)
				if !idRe.MatchString(s) || (seen[s] && !dupsOK) {
					t.Fatalf("%s accepted id %q in a batch", tool, s)
				}
				seen[s] = true
			}
		case "username", "source_username", "target_username":
			if s, _ := v.(string); !usernameRe.MatchString(s) {
				t.Fatalf("%s accepted %s %q", tool, k, s)
			}
		case "expected_username":
			if s, _ := v.(string); s != "" && !usernameRe.MatchString(s) {
				t.Fatalf("%s accepted expected_username %q", tool, s)
			}
		case "page_size":
			if n, _ := v.(float64); n != 0 && (n < 20 || n > 200) {
				t.Fatalf("%s accepted page_size %v", tool, n)
			}
		case "max_following":
			if n, ok := v.(float64); ok && (n < 1 || n > 20000) {
				t.Fatalf("%s accepted max_following %v", tool, n)
			}
		case "limit":
			if n, ok := v.(float64); ok && (n < 1 || n > 1000) {
				t.Fatalf("%s accepted limit %v", tool, n)
			}
		case "cursor":
			if s, _ := v.(string); len(s) > 2048 {
				t.Fatalf("%s accepted a cursor of %d bytes", tool, len(s))
			}
		case "scopes":
			list, _ := v.([]any)
			for _, x := range list {
				if s, _ := x.(string); !slices.Contains(linkScopes, s) {
					t.Fatalf("%s accepted scope %q", tool, s)
				}
			}
		}
	}
}

// parseArgs reads the usual arguments without the general parser: a change
// that sent them the general way again would pass every differential test
// and cost each call a few microseconds (docs/BENCHMARKS.md, HTTP mode).
func TestUsualArgumentsSkipTheGeneralParser(t *testing.T) {
	for _, s := range []string{`{"target_user_id":"2244994945"}`, `{"target_user_id":"2244994945","dry_run":true}`, `{"username":"TwitterDev","cursor":null}`} {
		raw := []byte(s)
		flat := testing.AllocsPerRun(100, func() { _, _ = parseArgs(raw) })
		general := testing.AllocsPerRun(100, func() { _, _ = schemacheck.UnmarshalJSON(bytes.NewReader(raw)) })
		if flat >= general {
			t.Errorf("%s: parseArgs made %.0f allocations, the general parser %.0f: not read directly", s, flat, general)
		}
	}
}

// FuzzParseArgs holds parseArgs to the schema validator's own parser on
// every input: both refuse it, or both read the same document.
func FuzzParseArgs(f *testing.F) {
	for _, s := range argumentSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`{"a":"x","a":true}`, `{"a":"x","A":true}`, `{"":"x"}`, "{\"a\":\"x\x7f\"}", "{\"a\":\"\x00\"}",
		`{"a":true}}`, `{"a":true}]`, `{"a":true},`, `{"a":true}:`, "{\"a\":true}\v", `{"a":1}`, `{"a":"x"} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotErr := parseArgs(raw)
		want, wantErr := schemacheck.UnmarshalJSON(bytes.NewReader(raw))
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: parseArgs error %v, the validator's parser %v", raw, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseArgs read %#v, the validator's parser %#v", raw, got, want)
		}
	})
}
