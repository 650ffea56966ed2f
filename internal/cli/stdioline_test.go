package cli

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineLimiter(t *testing.T) {
	const limit = 8
	for _, tc := range []struct {
		name, in, want string
		dropped        int
	}{
		{"short lines", "a\nbb\n", "a\nbb\n", 0},
		{"a line at the limit", "12345678\nx\n", "12345678\nx\n", 0},
		{"a line one over", "123456789\nx\n", "x\n", 1},
		{"a long line between short ones", "a\n" + strings.Repeat("z", 100) + "\nb\n", "a\nb\n", 1},
		{"two long lines", strings.Repeat("z", 20) + "\n" + strings.Repeat("y", 9) + "\nok\n", "ok\n", 2},
		{"a long line never ended", "a\n" + strings.Repeat("z", 100), "a\n", 1},
		{"a last line without newline", "a\nbc", "a\nbc\n", 0},
		{"empty lines", "\n\n", "\n\n", 0},
	} {
		for _, split := range []struct {
			name string
			r    func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"byte by byte", iotest.OneByteReader},
			{"half", iotest.HalfReader},
		} {
			t.Run(tc.name+"/"+split.name, func(t *testing.T) {
				dropped := 0
				l := newLineLimiter(split.r(strings.NewReader(tc.in)), limit, func() { dropped++ })
				got, err := io.ReadAll(l)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tc.want || dropped != tc.dropped {
					t.Fatalf("read %q with %d dropped, want %q with %d", got, dropped, tc.want, tc.dropped)
				}
				if len(l.line) > limit {
					t.Fatalf("holds %d bytes of a line, over the limit %d", len(l.line), limit)
				}
			})
		}
	}
}

func TestTooLongAnswerIsJSONRPC(t *testing.T) {
	s := string(tooLongAnswer)
	if !strings.HasPrefix(s, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"[message_too_large] `) || !strings.HasSuffix(s, "}}\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("%q", s)
	}
}
