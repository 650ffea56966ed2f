package viewtest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// A small Chrome DevTools Protocol client over the browser's debugging pipe
// (--remote-debugging-pipe: the browser reads commands from its file
// descriptor 3 and writes answers and events to 4, each message a JSON
// object ended by a NUL byte). It knows the handful of commands the view's
// test needs, needs no WebSocket and no module, and drops events.

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
}

// browserProc is a running chromium and its pipe.
type browserProc struct {
	cmd    *exec.Cmd
	toB    io.WriteCloser
	done   chan struct{} // closed when the reader ends
	stderr *lockedBuffer

	mu      sync.Mutex
	next    int64
	pending map[int64]chan cdpMessage
	readErr error
}

// launch starts chromium headless and off the network: every host name but
// the loopback and X's two image hosts (served by the test) fails to
// resolve, and nothing runs in the background. The
// view's sandboxed frame gets a process of its own (as in a host with site
// isolation), so that the test can attach to it as a target.
func launch(t *testing.T, path string) *browserProc {
	t.Helper()
	args := []string{
		"--headless", "--remote-debugging-pipe", "--user-data-dir=" + t.TempDir(),
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-default-apps", "--disable-extensions",
		// X's image hosts resolve to the test's own picture server (see
		// pictures); every other name but the loopback fails.
		"--host-resolver-rules=MAP pbs.twimg.com:443 " + pictures(t) + ", MAP abs.twimg.com:443 " + pictures(t) + ", MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--ignore-certificate-errors", // the picture server's certificate is the test's own
		"--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
		"--site-per-process", "--enable-features=IsolateSandboxedIframes",
		"--hide-scrollbars", "--mute-audio", "--disable-gpu", "--disable-dev-shm-usage",
		"--window-size=900,1200",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // chromium refuses its sandbox to root (CI runs as root)
	}
	cmd := exec.Command(path, append(args, "about:blank")...)
	cmdR, toB, err := os.Pipe() // the browser reads commands (its fd 3)
	if err != nil {
		t.Fatal(err)
	}
	fromB, cmdW, err := os.Pipe() // the browser writes answers (its fd 4)
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{cmdR, cmdW}
	b := &browserProc{cmd: cmd, toB: toB, done: make(chan struct{}), stderr: &lockedBuffer{}, pending: map[int64]chan cdpMessage{}}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	cmdR.Close()
	cmdW.Close()
	go b.read(fromB)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = b.call(ctx, "", "Browser.close", nil)
		cancel()
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		toB.Close()
		fromB.Close()
		if t.Failed() {
			t.Logf("chromium's log:\n%s", b.stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var v struct {
		Product string `json:"product"`
	}
	if err := b.do(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		t.Fatalf("chromium does not answer on its pipe: %v\n%s", err, b.stderr.String())
	}
	t.Logf("browser: %s", v.Product)
	return b
}

func (b *browserProc) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<20)
	var err error
	for {
		var raw []byte
		raw, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil || m.ID == 0 {
			continue // an event: the test does not follow any
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	b.mu.Lock()
	b.readErr = err
	b.mu.Unlock()
	close(b.done)
}

// call sends one command (to a session when sessionID is set) and waits
// for its answer.
func (b *browserProc) call(ctx context.Context, sessionID, method string, params any) (json.RawMessage, error) {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.next++
	id := b.next
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		Method    string `json:"method"`
		Params    any    `json:"params"`
		SessionID string `json:"sessionId,omitempty"`
	}{id, method, params, sessionID})
	if err != nil {
		return nil, err
	}
	if _, err := b.toB.Write(append(msg, 0)); err != nil {
		return nil, fmt.Errorf("%s: writing to chromium: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-b.done:
		return nil, fmt.Errorf("%s: chromium closed its pipe: %v", method, b.readErr)
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *browserProc) do(ctx context.Context, sessionID, method string, params, out any) error {
	raw, err := b.call(ctx, sessionID, method, params)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// target is a page or frame the client is attached to.
type target struct {
	t       *testing.T
	b       *browserProc
	session string
}

// newTab opens a blank tab of the given size.
func (b *browserProc) newTab(t *testing.T, width, height int) *target {
	t.Helper()
	ctx := context.Background()
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.do(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		t.Fatal(err)
	}
	tab := b.attach(t, created.TargetID)
	tab.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	return tab
}

func (b *browserProc) attach(t *testing.T, targetID string) *target {
	t.Helper()
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.do(context.Background(), "", "Target.attachToTarget", map[string]any{"targetId": targetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	return &target{t: t, b: b, session: att.SessionID}
}

type targetInfo struct {
	TargetID string `json:"targetId"`
	Type     string `json:"type"`
	URL      string `json:"url"`
	Attached bool   `json:"attached"`
}

func (b *browserProc) targets(t *testing.T) []targetInfo {
	t.Helper()
	var out struct {
		TargetInfos []targetInfo `json:"targetInfos"`
	}
	if err := b.do(context.Background(), "", "Target.getTargets", nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.TargetInfos
}

func (tg *target) must(method string, params, out any) {
	tg.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tg.b.do(ctx, tg.session, method, params, out); err != nil {
		tg.t.Fatal(err)
	}
}

// navigate loads url (the test then waits for what it needs on the page).
func (tg *target) navigate(url string) {
	tg.t.Helper()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	tg.must("Page.navigate", map[string]any{"url": url}, &nav)
	if nav.ErrorText != "" {
		tg.t.Fatalf("loading %s: %s", url, nav.ErrorText)
	}
}

// eval runs a JavaScript expression (awaiting a promise) and decodes its
// value into out, which may be nil.
func (tg *target) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := tg.b.do(ctx, tg.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("%s %s", e.Text, e.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(res.Result.Value) == 0 {
		return errors.New("the expression has no value")
	}
	return json.Unmarshal(res.Result.Value, out)
}

// poll waits until expr is truthy.
func (tg *target) poll(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := tg.eval(`!!(`+expr+`)`, &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("still false after %v", timeout)
		}
		time.Sleep(50 * time.Millisecond) // polling the page's state, not timing
	}
}

// clickAt presses and releases the left button at a point of the page
// (with Shift when asked): the browser routes it as a person's click,
// into a frame when one is there.
func (tg *target) clickAt(x, y float64, shift bool) {
	tg.t.Helper()
	mods := 0
	if shift {
		mods = 8
	}
	tg.must("Input.dispatchMouseEvent", map[string]any{"type": "mouseMoved", "x": x, "y": y, "modifiers": mods}, nil)
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		tg.must("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1, "modifiers": mods}, nil)
	}
}

// screenshot returns a PNG of the tab's viewport.
func (tg *target) screenshot() []byte {
	tg.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	tg.must("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		tg.t.Fatal(err)
	}
	return png
}
