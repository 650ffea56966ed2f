package tools

import (
	"regexp"
	"strings"
	"testing"
)

// The patterns the hand-written matchers stand for. The fuzz and reference
// tests check accepted arguments against these, not against the matchers.
var (
	idRe           = regexp.MustCompile(idPattern)
	usernameRe     = regexp.MustCompile(usernamePattern)
	handleRe       = regexp.MustCompile(`^@?[A-Za-z0-9_]+$`)
	cursorHandleRe = regexp.MustCompile(`^[a-z0-9_]{1,15}$`)
)

var matcherSeeds = []string{
	"", "0", "1", "12", "2244994945", "9223372036854775807", "12345678901234567890", "1234567890123456789",
	"01", " 1", "1 ", "1\n", "\n1", "١٢", "１２", "+1", "-1", "1.0", "1e3",
	"@", "@@", "@a", "a", "_", "A_b9", "@jack", "jack@", "ja ck", "abcdefghijklmno", "abcdefghijklmnop",
	"@abcdefghijklmno", "@abcdefghijklmnop", "ABCDEFGHIJKLMNO", "jäck", "jack\n", "x.com/jack", "a-b", "a.b",
	"\x00", "a\x00", strings.Repeat("9", 19), strings.Repeat("9", 20), strings.Repeat("a", 40),
}

func checkMatchers(t *testing.T, s string) {
	t.Helper()
	for _, m := range []struct {
		name string
		got  bool
		re   *regexp.Regexp
	}{
		{"isID", isID(s), idRe},
		{"isUsername", isUsername(s), usernameRe},
		{"isHandleShape", isHandleShape(s), handleRe},
		{"isCursorHandle", isCursorHandle(s), cursorHandleRe},
	} {
		if want := m.re.MatchString(s); m.got != want {
			t.Errorf("%s(%q) = %v, but %s gives %v", m.name, s, m.got, m.re, want)
		}
	}
}

func TestMatchersAgreeWithPatterns(t *testing.T) {
	for _, s := range matcherSeeds {
		checkMatchers(t, s)
	}
	// Every string of up to two bytes over an alphabet that covers each
	// class's edges.
	alpha := []byte("@_09aAzZ/`{[:\x00\xff ")
	for _, a := range alpha {
		checkMatchers(t, string(a))
		for _, b := range alpha {
			checkMatchers(t, string([]byte{a, b}))
		}
	}
}

func FuzzMatchers(f *testing.F) {
	for _, s := range matcherSeeds {
		f.Add(s)
	}
	f.Fuzz(checkMatchers)
}
