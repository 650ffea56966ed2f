// Package flatjson reads the small flat JSON objects that make up most of
// the server's traffic, {"target_user_id":"2244994945"} from an agent and
// {"data":{"following":false,"pending_follow":false}} from the gateway,
// without encoding/json's reflection: a fifth of a call's CPU in the remote
// mode went to decoding those two. It reads only objects whose keys are
// plain words (lower-case letters, digits, underscores) and whose values are
// true, false, null or strings of printable ASCII without escapes, and says
// no to anything else, which its callers then decode with encoding/json.
// Their differential tests and fuzz targets hold both paths to
// encoding/json's answer on every input.
package flatjson

// IsSpace reports whether b is white space as JSON defines it.
func IsSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// SkipSpace returns the index of the first byte at or after i that is not
// white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

func plainKey(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' }

// plainString reports whether c may stand in a string read as it is: printable
// ASCII other than the quote and the backslash.
func plainString(c byte) bool { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' }

// Kinds of values Object accepts.
const (
	Literals = 1 << iota // true, false, null
	Strings              // "..." of plain characters
)

// Object reads the object that starts at b[i] (after any white space),
// calling each with every member's key and value as they stand in b (a
// string value with its quotes). It returns the index just past the
// closing brace, and false when the object is not flat in the sense above
// or holds a value of a kind not in kinds; each may have been called for
// members before the one that made it false.
func Object(b []byte, i int, kinds int, each func(key, value []byte)) (int, bool) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		j := i + 1
		for j < len(b) && plainKey(b[j]) {
			j++
		}
		if j >= len(b) || b[j] != '"' {
			return 0, false
		}
		key := b[i+1 : j]
		i = SkipSpace(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = SkipSpace(b, i+1)
		n := valueLen(b[i:], kinds)
		if n == 0 {
			return 0, false
		}
		if each != nil {
			each(key, b[i:i+n:i+n])
		}
		i = SkipSpace(b, i+n)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// valueLen is the length of the value at the start of b, or 0 when it is
// not one of kinds.
func valueLen(b []byte, kinds int) int {
	if kinds&Literals != 0 {
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(b) >= len(lit) && string(b[:len(lit)]) == lit {
				return len(lit)
			}
		}
	}
	if kinds&Strings != 0 && len(b) > 0 && b[0] == '"' {
		for j := 1; j < len(b); j++ {
			if b[j] == '"' {
				return j + 1
			}
			if !plainString(b[j]) {
				return 0
			}
		}
	}
	return 0
}
