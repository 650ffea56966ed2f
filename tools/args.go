package tools

import (
	"strconv"
	"strings"
	"unicode"
)

// The patterns published in the schemas; the handlers check them again.
const (
	idPattern       = `^[0-9]{1,19}$`
	usernamePattern = `^@?[A-Za-z0-9_]{1,15}$`
)

// The handlers match these by hand rather than with compiled regular
// expressions: compiling them at start was a tenth of a millisecond of every
// start, and a match by hand is a fraction of a regexp's on every call.
// TestMatchersAgreeWithPatterns and FuzzMatchers hold them to the patterns.

// isID reports whether v matches idPattern: 1 to 19 ASCII digits.
func isID(v string) bool { return len(v) <= 19 && allASCIIDigits(v) }

// isUsername reports whether v matches usernamePattern: an optional @, then
// 1 to 15 of A-Z, a-z, 0-9 and _.
func isUsername(v string) bool {
	v = strings.TrimPrefix(v, "@")
	return len(v) <= 15 && isHandleChars(v)
}

// isHandleShape reports whether v is an optional @, then one or more of
// A-Z, a-z, 0-9 and _, of any length: a handle, perhaps too long.
func isHandleShape(v string) bool { return isHandleChars(strings.TrimPrefix(v, "@")) }

// isHandleChars reports whether v is one or more of A-Z, a-z, 0-9 and _.
func isHandleChars(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return v != ""
}

// checkID returns nil when v is a numeric X user id, or an invalid_argument
// error that says what to send instead.
func checkID(field, v string) error {
	if isID(v) {
		return checkCanonicalID(field, v)
	}
	q := quoteArg(v)
	switch {
	case v == "":
		return invalidArg("%s is empty: send %s", field, fieldHelp(field))
	case strings.HasPrefix(v, "@") || (isHandleShape(v) && strings.ContainsFunc(v, isASCIILetterOrUnderscore)):
		return invalidArg("%s %s is a username, not a numeric id: call get_x_user with username %s and pass the id it returns", field, q, quoteArg(strings.TrimPrefix(v, "@")))
	case strings.ContainsFunc(v, unicode.IsSpace):
		return invalidArg("%s %s contains spaces: send the digits only, as a string, e.g. \"2244994945\"", field, q)
	case strings.ContainsFunc(v, func(r rune) bool { return r > unicode.MaxASCII && unicode.IsDigit(r) }):
		return invalidArg("%s %s contains non-ASCII digits: send ASCII digits 0-9 only, as a string", field, q)
	case allASCIIDigits(v):
		return invalidArg("%s has %d digits, but X user ids have 1 to 19: check that the id was copied whole and nothing more", field, len(v))
	default:
		return invalidArg("%s %s is not a numeric X user id: send %s", field, q, fieldHelp(field))
	}
}

// maxXID is the largest X user id: ids are signed 64-bit integers.
const maxXID = "9223372036854775807"

// checkCanonicalID refuses digit strings that are not an id's one written
// form: "0012" would slip past a protected "12" and name the same account.
func checkCanonicalID(field, v string) error {
	switch {
	case v == "0":
		return invalidArg("%s \"0\" is not an X user id: ids start at 1; check the id (get_x_user returns it)", field)
	case v[0] == '0':
		return invalidArg("%s %s has a leading zero, and X user ids never do: send the id exactly as get_x_user returns it", field, quoteArg(v))
	case len(v) == len(maxXID) && v > maxXID:
		return invalidArg("%s %s is above the largest X user id (%s): check that the id was copied whole and nothing more", field, quoteArg(v), maxXID)
	}
	return nil
}

// checkUsername validates an optional or required handle and returns it
// without the leading @.
func checkUsername(field, v string) (string, error) {
	if isUsername(v) {
		return strings.TrimPrefix(v, "@"), nil
	}
	q := quoteArg(v)
	switch {
	case v == "" || v == "@":
		return "", invalidArg("%s is empty: send %s", field, fieldHelp(field))
	case strings.ContainsFunc(v, unicode.IsSpace):
		return "", invalidArg("%s %s contains spaces: send the handle alone, e.g. \"TwitterDev\"", field, q)
	case isHandleShape(v):
		return "", invalidArg("%s %s is longer than X's 15-character limit for handles: check it", field, q)
	case strings.Contains(v, "x.com/") || strings.Contains(v, "twitter.com/"):
		return "", invalidArg("%s %s is a profile URL: send just the handle after the last /", field, q)
	default:
		return "", invalidArg("%s %s is not an X handle: send %s", field, q, fieldHelp(field))
	}
}

// optionalUsername returns a validated optional handle without its @, or ""
// when it was not given.
func optionalUsername(v string) string {
	if v == "" {
		return ""
	}
	name, _ := checkUsername("expected_username", v)
	return name
}

func isASCIILetterOrUnderscore(r rune) bool {
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

func allASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// quoteArg quotes a caller's value for a message, cut to a sane length. A
// value holding what looks like an AIsa key is never repeated: messages
// reach logs and the model's context.
func quoteArg(v string) string {
	if strings.Contains(strings.ToLower(v), "sk-aisa-") {
		return "(a value that looks like an AIsa API key, not repeated here)"
	}
	r := []rune(v)
	if len(r) > 40 {
		q := strconv.Quote(string(r[:40]))
		return q[:len(q)-1] + `..."`
	}
	return strconv.Quote(v)
}
