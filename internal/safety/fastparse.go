package safety

import (
	"encoding/json"
)

// parseRecord decodes one journal line. Lines as the journal writes them
// (a flat object of known keys, plain ASCII strings without escapes) take
// a fast path, many times quicker than encoding/json, which matters when a
// start reads a day of records; anything else goes to encoding/json, so
// the result is always what json.Unmarshal gives.
func parseRecord(line []byte) (Record, bool) {
	rec, ok := fastRecord(line)
	if !ok {
		rec = Record{}
		if json.Unmarshal(line, &rec) != nil {
			return Record{}, false
		}
	}
	if rec.Phase == "" {
		return Record{}, false
	}
	return rec, true
}

// fastRecord decodes a line of the journal's own shape; ok is false for
// anything it does not handle exactly as encoding/json would.
func fastRecord(b []byte) (r Record, ok bool) {
	i := 0
	if i >= len(b) || b[i] != '{' {
		return r, false
	}
	i++
	if i < len(b) && b[i] == '}' {
		i++
		return r, onlySpace(b[i:])
	}
	for {
		key, n, ok := plainString(b, i)
		if !ok || n >= len(b) || b[n] != ':' {
			return r, false
		}
		i = n + 1
		if i >= len(b) {
			return r, false
		}
		switch b[i] {
		case '"':
			val, n, ok := plainString(b, i)
			if !ok {
				return r, false
			}
			i = n
			var dst *string
			switch string(key) {
			case "time":
				if err := r.Time.UnmarshalText(val); err != nil {
					return r, false
				}
			case "call_id":
				dst = &r.CallID
			case "phase":
				dst = &r.Phase
			case "tool":
				dst = &r.Tool
			case "target_user_id":
				dst = &r.TargetUserID
			case "expected_username":
				dst = &r.ExpectedUsername
			case "username":
				dst = &r.Username
			case "gateway":
				dst = &r.Gateway
			case "key_fingerprint":
				dst = &r.KeyFingerprint
			case "outcome":
				dst = &r.Outcome
			case "code":
				dst = &r.Code
			case "request_id":
				dst = &r.RequestID
			case "job_id":
				dst = &r.JobID
			default:
				return r, false
			}
			if dst != nil {
				*dst = string(val)
			}
		case 't', 'f':
			var v bool
			switch {
			case hasAt(b, i, "true"):
				v, i = true, i+4
			case hasAt(b, i, "false"):
				v, i = false, i+5
			default:
				return r, false
			}
			switch string(key) {
			case "dry_run":
				r.DryRun = v
			case "was_following":
				r.WasFollowing = &v
			case "following":
				r.Following = &v
			default:
				return r, false
			}
		default:
			if string(key) != "line" {
				return r, false
			}
			n := 0
			start := i
			for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 9 {
				n = n*10 + int(b[i]-'0')
				i++
			}
			if i == start || (b[start] == '0' && i-start > 1) || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
				return r, false
			}
			r.Line = n
		}
		if i >= len(b) {
			return r, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return r, onlySpace(b[i+1:])
		default:
			return r, false
		}
	}
}

// plainString reads a JSON string at b[i] made of printable ASCII without
// escapes; it returns its contents and the index after the closing quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func hasAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
