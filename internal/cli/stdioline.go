package cli

import (
	"bytes"
	"fmt"
	"io"
)

// MaxStdioLine is the longest JSON-RPC message (one line, without its
// newline) the stdio server takes. Arguments are short (ids, a username, at
// most a few hundred ids in a batch: tens of kilobytes), and the remote mode
// caps a body at 1 MiB; 4 MiB leaves room for any client's framing while a
// line's cost in memory stays a few times that (mcp-go copies a line into a
// string, then into the bytes it decodes). Without a limit, mcp-go reads a
// line whole however long it is: one 100 MB line took the server to 1.2 GB.
const MaxStdioLine = 4 << 20

// lineLimiter passes its reader's lines on whole and drops any line longer
// than limit: it answers the line with tooLong and throws its bytes away as
// they come, so it never holds more than limit bytes of one line.
type lineLimiter struct {
	r       io.Reader
	limit   int
	tooLong func()

	chunk    []byte // what one read of r returns
	line     []byte // the current line's bytes so far (no newline yet)
	ready    []byte // whole lines to hand out
	skipping bool   // inside a line already found too long
	err      error  // r's error, handed out once ready is empty
}

func newLineLimiter(r io.Reader, limit int, tooLong func()) *lineLimiter {
	return &lineLimiter{r: r, limit: limit, tooLong: tooLong, chunk: make([]byte, 64<<10)}
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	for len(l.ready) == 0 {
		if l.err != nil {
			if len(l.line) > 0 {
				// A last line without a newline is passed on with one:
				// mcp-go drops a line that ends at end of input, so the
				// message would get no answer at all (not even a parse
				// error when it was cut short).
				l.ready, l.line = append(l.line, '\n'), nil
				break
			}
			return 0, l.err
		}
		n, err := l.r.Read(l.chunk)
		l.take(l.chunk[:n])
		l.err = err
	}
	n := copy(p, l.ready)
	l.ready = l.ready[n:]
	if len(l.ready) == 0 {
		l.ready = nil // a long line's buffer is not kept
	}
	return n, nil
}

// take sorts one read's bytes into whole lines, the current line, and
// bytes of a line too long (dropped).
func (l *lineLimiter) take(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if l.skipping {
			if i < 0 {
				return
			}
			l.skipping = false
			b = b[i+1:]
			continue
		}
		if i < 0 {
			if len(l.line)+len(b) > l.limit {
				l.drop()
				return
			}
			l.line = append(l.line, b...)
			return
		}
		if len(l.line)+i > l.limit {
			l.line = nil
			l.tooLong()
		} else {
			l.ready = append(l.ready, l.line...)
			l.ready = append(l.ready, b[:i+1]...)
			l.line = nil
		}
		b = b[i+1:]
	}
}

// drop starts skipping the current line, which has grown past the limit.
func (l *lineLimiter) drop() {
	l.line = nil
	l.skipping = true
	l.tooLong()
}

// tooLongAnswer is the JSON-RPC error a dropped line gets: Invalid Request,
// with a null id since the line's own id was never read.
var tooLongAnswer = []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"[message_too_large] a message longer than %d bytes (%d MiB) was dropped unread; send each JSON-RPC message as one line of at most %d MiB"}}`+"\n",
	MaxStdioLine, MaxStdioLine>>20, MaxStdioLine>>20))
