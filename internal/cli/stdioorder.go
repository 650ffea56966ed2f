package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// mcp-go's stdio server writes a call's response from the worker that ran
// it, and the notifications the call sent from a goroutine of their own that
// reads them off a channel: the last progress of a call could reach stdout
// after the call's response. And at the end of input it cancels the calls
// still running, so `echo '...tools/call...' | xfollow-mcp` got a
// cancellation instead of its answer. stdioOut and stdioIn, wrapped around
// the process's stdout and stdin, fix both from outside the library.

// stdioOut is stdout as the stdio server writes it: one line per Write,
// serialised. Notifications of tool calls are written through it at once,
// by the goroutine that sends them (notify), so that they precede the
// response; and it sees each response go out, so that the end of input can
// wait for the tool calls still running.
type stdioOut struct {
	mu      sync.Mutex
	w       io.Writer
	pending *pendingCalls
}

func (o *stdioOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	n, err := o.w.Write(p)
	o.mu.Unlock()
	if o.pending != nil && bytes.HasPrefix(p, []byte(`{"jsonrpc":"2.0","id":`)) {
		if id, ok := responseID(p); ok {
			o.pending.done(id)
		}
	}
	return n, err
}

// notify writes one notification line and returns when it is written.
func (o *stdioOut) notify(_ context.Context, method string, params map[string]any) error {
	b, err := json.Marshal(mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION,
		Notification: mcp.Notification{Method: method, Params: mcp.NotificationParams{AdditionalFields: params}}})
	if err != nil {
		return err
	}
	_, err = o.Write(append(b, '\n'))
	return err
}

// responseID returns the id of a response line (a message with an id and
// no method), reading only as far as the id.
func responseID(line []byte) (string, bool) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(line, &m) != nil || m.Method != "" || len(m.ID) == 0 {
		return "", false
	}
	return idKey(m.ID), true
}

// idKey is a JSON-RPC id as a key that 1 and 1.0, or a string however it
// was escaped, give alike, as mcp-go reads and writes ids.
func idKey(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// pendingCalls are the ids of tool calls read and not yet answered.
type pendingCalls struct {
	mu   sync.Mutex
	ids  map[string]int
	idle chan struct{} // closed while nothing is pending
}

func newPendingCalls() *pendingCalls {
	p := &pendingCalls{ids: map[string]int{}, idle: make(chan struct{})}
	close(p.idle)
	return p
}

func (p *pendingCalls) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		p.idle = make(chan struct{})
	}
	p.ids[id]++
}

func (p *pendingCalls) done(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.ids[id]
	if !ok {
		return
	}
	if n <= 1 {
		delete(p.ids, id)
	} else {
		p.ids[id] = n - 1
	}
	if len(p.ids) == 0 {
		close(p.idle)
	}
}

func (p *pendingCalls) wait(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// maxTrackedLine is the longest input line whose tool call the end of
// input waits for; a longer one (megabytes of arguments) is served as
// before, and cancelled if the input ends while it runs.
const maxTrackedLine = 1 << 20

// stdioIn is stdin as the stdio server reads it. It notes the id of every
// tools/call request that passes, and at the end of input holds back the
// EOF until each has been answered (or ctx ends: a signal), so that a call
// piped in with its input closed right after still finishes. mcp-go reads
// a line and hands it on before it reads again, so by the time the EOF is
// asked for, every call before it has been seen here.
type stdioIn struct {
	ctx     context.Context
	r       io.Reader
	pending *pendingCalls
	line    []byte
	long    bool // the current line outgrew maxTrackedLine
}

func (in *stdioIn) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	in.scan(p[:n])
	if err == io.EOF {
		in.pending.wait(in.ctx)
	}
	return n, err
}

func (in *stdioIn) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		if !in.long {
			if len(in.line)+len(chunk) > maxTrackedLine {
				in.long, in.line = true, in.line[:0]
			} else {
				in.line = append(in.line, chunk...)
			}
		}
		if i < 0 {
			return
		}
		if !in.long {
			in.noteCall(in.line)
		}
		in.line, in.long = in.line[:0], false
		b = b[i+1:]
	}
}

// noteCall records the id of a tools/call request.
func (in *stdioIn) noteCall(line []byte) {
	if !bytes.Contains(line, []byte(`"tools/call"`)) {
		return
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(line, &m) != nil || m.Method != string(mcp.MethodToolsCall) || len(m.ID) == 0 || string(m.ID) == "null" {
		return
	}
	in.pending.add(idKey(m.ID))
}
