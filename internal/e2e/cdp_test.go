package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// A minimal Chrome DevTools Protocol client over --remote-debugging-pipe
// (JSON messages separated by NUL on fds 3 and 4). The tests need a handful
// of commands (open a page, type into a field, press Enter, read the DOM
// and the cookies); over a pipe that is a hundred lines and needs neither a
// WebSocket library nor a CDP one.

// chromiumBinary returns Debian's chromium, or skips t (fails it in CI).
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI must submit the consent form in a real browser: install the Debian package chromium (.ci/run does)")
	}
	t.Skip("chromium is not installed (Debian package chromium); skipping the browser tests")
	return ""
}

type cdpMsg struct {
	ID        int64                     `json:"id,omitempty"`
	Method    string                    `json:"method,omitempty"`
	Params    json.RawMessage           `json:"params,omitempty"`
	Result    json.RawMessage           `json:"result,omitempty"`
	Error     *struct{ Message string } `json:"error,omitempty"`
	SessionID string                    `json:"sessionId,omitempty"`
}

type browser struct {
	t        *testing.T
	cmd      *exec.Cmd
	toChrome *os.File
	mu       sync.Mutex
	nextID   int64
	waiting  map[int64]chan cdpMsg
	events   chan cdpMsg
	done     chan struct{}
	stderr   *lockedBuffer
}

// startBrowser starts headless chromium with a fresh profile.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromiumBinary(t)
	inR, inW, err := os.Pipe() // we write, chromium reads (fd 3)
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // chromium writes (fd 4), we read
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-quic", "--no-first-run", "--disable-gpu", "--remote-debugging-pipe",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW}
	b := &browser{t: t, cmd: cmd, toChrome: inW, waiting: map[int64]chan cdpMsg{}, events: make(chan cdpMsg, 1024), done: make(chan struct{}), stderr: &lockedBuffer{}}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = inR.Close()
	_ = outW.Close()
	go b.read(outR)
	t.Cleanup(func() {
		_ = inW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-b.done
	})
	return b
}

func (b *browser) read(r *os.File) {
	defer close(b.done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		var m cdpMsg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.waiting[m.ID]
			delete(b.waiting, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case b.events <- m:
		default:
		}
	}
}

// call sends one command (to a page's session, or the browser when
// session is "") and returns its result.
func (b *browser) call(session, method string, params any, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMsg, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	raw, _ := json.Marshal(params)
	msg, _ := json.Marshal(cdpMsg{ID: id, Method: method, Params: raw, SessionID: session})
	if _, err := b.toChrome.Write(append(msg, 0)); err != nil {
		b.t.Fatalf("%s: %v\nchromium stderr:\n%s", method, err, b.stderr.String())
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			b.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				b.t.Fatalf("%s: %v: %s", method, err, m.Result)
			}
		}
	case <-b.done:
		b.t.Fatalf("%s: chromium exited\n%s", method, b.stderr.String())
	case <-time.After(30 * time.Second):
		b.t.Fatalf("%s: no answer from chromium in 30s", method)
	}
}

// drain forgets the events received so far, so that a wait that follows
// sees only what the next action causes.
func (b *browser) drain() {
	for {
		select {
		case <-b.events:
		default:
			return
		}
	}
}

// waitEvent waits for an event of method in session.
func (b *browser) waitEvent(session, method string) {
	b.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-b.events:
			if m.Method == method && m.SessionID == session {
				return
			}
		case <-deadline:
			b.t.Fatalf("no %s in 30s", method)
		}
	}
}

// page is one tab.
type page struct {
	b       *browser
	session string
}

func (b *browser) newPage() *page {
	var target struct{ TargetID string }
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	p := &page{b: b, session: att.SessionID}
	b.call(p.session, "Page.enable", map[string]any{}, nil)
	return p
}

// navigate opens u and waits for the load event.
func (p *page) navigate(u string) {
	p.b.t.Helper()
	p.b.drain()
	var nav struct{ ErrorText string }
	p.b.call(p.session, "Page.navigate", map[string]any{"url": u}, &nav)
	if nav.ErrorText != "" {
		p.b.t.Fatalf("navigate %s: %s", u, nav.ErrorText)
	}
	p.b.waitEvent(p.session, "Page.loadEventFired")
}

// typeInto focuses the element selector names and types text, as a person
// would (no script runs in the page).
func (p *page) typeInto(selector, text string) {
	p.b.t.Helper()
	var doc struct{ Root struct{ NodeID int64 } }
	p.b.call(p.session, "DOM.getDocument", map[string]any{}, &doc)
	var q struct{ NodeID int64 }
	p.b.call(p.session, "DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &q)
	if q.NodeID == 0 {
		p.b.t.Fatalf("no %s on the page:\n%s", selector, p.html())
	}
	p.b.call(p.session, "DOM.focus", map[string]any{"nodeId": q.NodeID}, nil)
	p.b.call(p.session, "Input.insertText", map[string]any{"text": text}, nil)
}

// pressEnter submits the focused form (its first submit button).
func (p *page) pressEnter() {
	p.b.drain()
	for _, typ := range []string{"keyDown", "keyUp"} {
		ev := map[string]any{"type": typ, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
		if typ == "keyDown" {
			ev["text"] = "\r"
		}
		p.b.call(p.session, "Input.dispatchKeyEvent", ev, nil)
	}
}

// html is the page's DOM as HTML.
func (p *page) html() string {
	var doc struct{ Root struct{ NodeID int64 } }
	p.b.call(p.session, "DOM.getDocument", map[string]any{}, &doc)
	var out struct{ OuterHTML string }
	p.b.call(p.session, "DOM.getOuterHTML", map[string]any{"nodeId": doc.Root.NodeID}, &out)
	return out.OuterHTML
}

// cookies are every cookie the browser holds.
func (b *browser) cookies() []map[string]any {
	var out struct{ Cookies []map[string]any }
	b.call("", "Storage.getCookies", map[string]any{}, &out)
	return out.Cookies
}

// history is every URL the tab has visited, redirects' targets included.
func (p *page) history() []string {
	var out struct{ Entries []struct{ URL string } }
	p.b.call(p.session, "Page.getNavigationHistory", map[string]any{}, &out)
	var urls []string
	for _, e := range out.Entries {
		urls = append(urls, e.URL)
	}
	return urls
}
