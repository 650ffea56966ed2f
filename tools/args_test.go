package tools

import (
	"strings"
	"testing"
)

// TestArgumentErrorsNeverRepeatAKey: a key pasted where a handle or an id
// goes is refused without being written back into the message.
func TestArgumentErrorsNeverRepeatAKey(t *testing.T) {
	const key = "sk-aisa-0123456789abcdefSECRET"
	for _, v := range []string{key, "SK-AISA-0123456789abcdefSECRET", "@" + key} {
		if q := quoteArg(v); strings.Contains(strings.ToLower(q), "sk-aisa-") || strings.Contains(q, "SECRET") {
			t.Fatalf("quoteArg(%q) = %s", v, q)
		}
	}
	if q := quoteArg("jack"); q != `"jack"` {
		t.Fatalf("an ordinary value: %s", q)
	}
}
