// Package viewtest runs the review view (tools/review.html) in a real
// browser: Debian's chromium, driven from Go over its debugging pipe
// (cdp_test.go), loads a minimal
// MCP Apps host page (testdata/host.html) that shows the view in a
// sandboxed frame and forwards its tool calls to a `--sandbox --http`
// server built from this module. The test skips when chromium is missing,
// except in CI (CI=true), where it fails.
package viewtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// clockScale speeds every clock of the server (XFOLLOW_CLOCK_SCALE): at
// the default job pace (300 a day, one send about every 5 minutes) a send
// comes about every second.
const clockScale = "300"

// chromium returns Debian's chromium, or skips (fails in CI) without it.
func chromium(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: CI must install Debian's chromium (.ci/run does)", path)
	}
	t.Skipf("%s is missing (Debian's chromium); the browser test runs in CI", path)
	return ""
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listeningRe = regexp.MustCompile(`msg="xfollow-mcp listening" url=(http://\S+/mcp)`)

// startServer builds the binary and runs it with the sandbox over HTTP,
// linked to @xfollow_big; it returns the MCP endpoint's URL.
func startServer(t *testing.T, extra ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "xfollow-mcp")
	build := exec.Command("go", "build", "-o", bin, "../..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the server: %v\n%s", err, out)
	}
	// Jobs live in the write journal: without one the server keeps none.
	cmd := exec.Command(bin, append([]string{"--sandbox", "--http", "127.0.0.1:0", "--account", sandbox.BigUsername,
		"--journal", filepath.Join(t.TempDir(), "journal.jsonl")}, extra...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AISA_") && !strings.HasPrefix(kv, "XFOLLOW_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "XFOLLOW_CLOCK_SCALE="+clockScale)
	stderr := &lockedBuffer{}
	cmd.Stderr, cmd.Stdout = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRe.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-waited:
			waited <- err
			t.Fatalf("the server exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond): // polling the log for the address, not timing
		}
	}
	t.Fatalf("the server did not report its address:\n%s", stderr.String())
	return ""
}

// startHost serves the host page and, at /mcp, the server's endpoint (a
// host's own back end forwards the view's calls the same way).
func startHost(t *testing.T, mcpURL string) string {
	t.Helper()
	page, err := os.ReadFile("testdata/host.html")
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(mcpURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path = target.Path
		r.Out.Host = target.Host
		r.Out.Header.Del("Origin") // the host's back end calls the server, not the page
	}, ErrorLog: log.New(tlogWriter{t}, "host proxy: ", 0)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.Handle("POST /mcp", proxy)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// page is the host page in a tab, and the view's frame in it.
type page struct {
	t     *testing.T
	host  *target
	frame *target
}

// open loads the host page with the query in a new tab and attaches to
// the view's frame.
func open(t *testing.T, b *browserProc, hostURL, query string) *page {
	t.Helper()
	return openSized(t, b, hostURL, query, 820, 940)
}

// openSized is open in a tab of the given size.
func openSized(t *testing.T, b *browserProc, hostURL, query string, width, height int) *page {
	t.Helper()
	p := &page{t: t, host: b.newTab(t, width, height)}
	p.host.navigate(hostURL + "/?" + query)
	p.waitHost(`window.hostLog && (window.hostLog.initialized || window.hostLog.errors.length)`)
	if errs := p.hostString(`window.hostLog.errors.join("\n")`); errs != "" {
		t.Fatalf("the host page failed: %s", errs)
	}
	if r := p.hostString(`window.hostLog.retries.join("\n")`); r != "" {
		t.Logf("the host page read again after a failed fetch: %s", r)
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.frame == nil {
		infos := b.targets(t)
		for _, info := range infos {
			if info.Type == "iframe" && info.URL == "about:srcdoc" && !info.Attached {
				p.frame = b.attach(t, info.TargetID)
				break
			}
		}
		if p.frame == nil {
			if time.Now().After(deadline) {
				var seen []string
				for _, i := range infos {
					seen = append(seen, fmt.Sprintf("%s %s attached=%v", i.Type, i.URL, i.Attached))
				}
				t.Fatalf("the view's frame is not a target of its own: %v", seen)
			}
			time.Sleep(50 * time.Millisecond) // waiting for the frame's process to start, not timing
		}
	}
	return p
}

func (p *page) waitHost(expr string) {
	p.t.Helper()
	if err := p.host.poll(expr, 60*time.Second); err != nil {
		p.t.Fatalf("waiting in the host page for %s: %v", expr, err)
	}
}

func (p *page) wait(expr string) {
	p.t.Helper()
	if err := p.frame.poll(expr, 90*time.Second); err != nil {
		p.t.Fatalf("waiting in the view for %s: %v (the view says %q)", expr, err, p.string(`document.body.innerText.slice(0, 600)`))
	}
}

func (p *page) string(expr string) string {
	p.t.Helper()
	var s string
	if err := p.frame.eval(expr, &s); err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

func (p *page) int(expr string) int {
	p.t.Helper()
	var n int
	if err := p.frame.eval(expr, &n); err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return n
}

func (p *page) hostString(expr string) string {
	p.t.Helper()
	var s string
	if err := p.host.eval(expr, &s); err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// click clicks the element with a real mouse event (with Shift when
// asked) at its place on the screen: the view scrolls it into its frame
// (a frame taller than the host allows scrolls inside), the host page
// scrolls the frame into view, and the browser routes the click into the
// frame, as a person's would.
func (p *page) click(sel string, shift bool) {
	p.t.Helper()
	type box struct{ X, Y float64 }
	// The frame's own process learns of a new size or scroll position a
	// moment after the host page sets it, and a click in that moment lands
	// beside the frame. So each try scrolls, waits two frames in both
	// documents, clicks, and checks where the click arrived: nowhere in the
	// view means it was lost (and is tried again); another element of the
	// view fails the test.
	// Another tab may have come to the front, and a tab behind draws no
	// frames.
	p.host.must("Page.bringToFront", nil, nil)
	for try := 1; ; try++ {
		var fh int
		if err := p.host.eval(`document.getElementById("view").clientHeight`, &fh); err != nil {
			p.t.Fatal(err)
		}
		if err := p.frame.poll(fmt.Sprintf(`window.innerHeight === %d`, fh), 10*time.Second); err != nil {
			p.t.Fatalf("the view's frame did not take its size %d: %v", fh, err)
		}
		var in, at box
		js := fmt.Sprintf(`(async () => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"});
			await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
			window.__clicked = "";
			document.addEventListener("click", ev => { window.__clicked = ev.target === e ? "target" : (ev.target.id || ev.target.tagName) }, {once: true, capture: true});
			const r = e.getBoundingClientRect(); return {X: r.left + r.width/2, Y: r.top + r.height/2} })()`, sel)
		if err := p.frame.eval(js, &in); err != nil {
			p.t.Fatalf("click %s: %v", sel, err)
		}
		js = fmt.Sprintf(`(async () => { const f = document.getElementById("view"); let r = f.getBoundingClientRect();
			window.scrollTo(0, window.scrollY + r.top + f.clientTop + %f - window.innerHeight / 2);
			await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
			r = f.getBoundingClientRect();
			return {X: r.left + f.clientLeft + %f, Y: r.top + f.clientTop + %f} })()`, in.Y, in.X, in.Y)
		if err := p.host.eval(js, &at); err != nil {
			p.t.Fatalf("click %s: %v", sel, err)
		}
		p.host.clickAt(at.X, at.Y, shift)
		err := p.frame.poll(`window.__clicked !== ""`, 2*time.Second)
		switch got := p.string(`window.__clicked`); {
		case got == "target":
			return
		case got != "":
			p.t.Fatalf("a click on %s reached %s instead", sel, got)
		case try == 5:
			p.t.Fatalf("five clicks on %s never reached the view: %v", sel, err)
		}
		p.t.Logf("a click on %s was lost on its way into the frame; trying again", sel)
	}
}

// calls are the tools/call requests the view sent through the host.
type call struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

func (p *page) calls() []call {
	p.t.Helper()
	var out []call
	if err := json.Unmarshal([]byte(p.hostString(`JSON.stringify(window.hostLog.calls)`)), &out); err != nil {
		p.t.Fatal(err)
	}
	return out
}

// screenshot captures the top of the host page, the view in it.
func (p *page) screenshot(name string) {
	p.t.Helper()
	p.hostEval(`window.scrollTo(0, 0)`)
	png := p.host.screenshot()
	dir := p.t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") == "true" {
		dir = filepath.Join("..", "..", "docs")
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s (%d bytes)", path, len(png))
}

const rowSel = `#rows li.row`

func TestReviewViewInChromium(t *testing.T) {
	path := chromium(t)
	mcpURL := startServer(t)
	hostURL := startHost(t, mcpURL)
	b := launch(t, path)

	p := open(t, b, hostURL, "theme=light&username=xfollow_big&limit=1000")

	// The handshake: ui/initialize with the view's capabilities, then the
	// candidates from the tool result; only one page of rows is in the DOM.
	p.wait(`document.querySelectorAll("` + rowSel + `").length > 0`)
	if v := p.hostString(`window.hostLog.initParams.protocolVersion`); v != "2026-01-26" {
		t.Errorf("ui/initialize protocolVersion = %q", v)
	}
	want := len(sandbox.BigNonFollowers())
	summary := p.string(`document.getElementById("summary").textContent`)
	if !strings.Contains(summary, "@xfollow_big") || !strings.Contains(summary, fmt.Sprintf("%d accounts", want)) && !strings.Contains(summary, fmt.Sprintf("%s accounts", thousands(want))) {
		t.Errorf("summary %q does not count %d candidates", summary, want)
	}
	if n := p.int(`document.querySelectorAll("` + rowSel + `").length`); n != 50 {
		t.Errorf("%d rows in the DOM; want one page of 50 out of %d", n, want)
	}
	if ids := p.string(`Array.from(document.querySelectorAll("` + rowSel + `")).slice(0,3).map(li => li.dataset.id).join(",")`); ids != strings.Join(sandbox.BigNonFollowers()[:3], ",") {
		t.Errorf("first rows %s; want the finder's order", ids)
	}
	// Pictures come from X's image hosts, which the resource's CSP allows
	// (here served by the test): the first rows show theirs.
	p.wait(`document.querySelectorAll("#rows .avatar img.loaded").length >= 5`)
	if bad := p.string(`Array.from(document.querySelectorAll("#rows .avatar img")).map(i => new URL(i.src).host).filter(h => h !== "pbs.twimg.com" && h !== "abs.twimg.com").join(" ")`); bad != "" {
		t.Errorf("pictures from other hosts: %s", bad)
	}
	if picServed.Load() == 0 {
		t.Error("no picture was fetched from the stand-in for X's image hosts")
	}
	// With its rows in, the view reports its new size to the host.
	p.waitHost(`window.hostLog.sizes.length > 0 && window.hostLog.sizes[window.hostLog.sizes.length-1].height > 1000`)

	// Untrusted text stays text: the bio and name that are markup show as
	// typed, and no element comes of them.
	xssID := sandbox.BigUserID(2994)
	xssRow := `#rows li[data-id="` + xssID + `"]`
	if got := p.string(`document.querySelector('` + xssRow + ` .bio').textContent`); got != sandbox.XSSBio {
		t.Errorf("the markup bio shows as %q", got)
	}
	if got := p.string(`document.querySelector('` + xssRow + ` .name').textContent`); got != "Markup <b>Tester</b>" {
		t.Errorf("the markup name shows as %q", got)
	}
	if n := p.int(`document.querySelectorAll('img[src="x"], #rows b:not(.counts b), ` + xssRow + ` .who img').length`); n != 0 {
		t.Errorf("%d elements were made from untrusted text", n)
	}
	// Every tick box is a real checkbox named after its account.
	if label := p.string(`document.getElementById("tick-` + xssID + `").getAttribute("aria-label")`); label != "Unfollow Markup <b>Tester</b> (@"+sandbox.XSSUsername+")" {
		t.Errorf("tick box label %q", label)
	}

	// Sorting and filtering work on all candidates, not the page in view.
	p.setValue("#sort", "followers-desc")
	p.wait(`document.querySelector("#page").textContent.includes("Page 1 of")`)
	top := p.string(`Array.from(document.querySelectorAll("` + rowSel + ` .counts b")).slice(0,4).map(b=>b.textContent.replace(/,/g,"")).join(" ")`)
	var a, b1, c, d int
	if _, err := fmt.Sscan(top, &a, &b1, &c, &d); err != nil || a < c {
		t.Errorf("sorted by followers, most first: %q", top)
	}
	p.setValue("#sort", "list")
	p.setValue("#q", "markup")
	p.wait(`document.querySelectorAll("` + rowSel + `").length === 1`)
	p.setValue("#q", "")
	p.setValue("#fmin", "30000")
	p.wait(`document.getElementById("shown").textContent.includes(" of ")`)
	if n := p.int(`Array.from(document.querySelectorAll("` + rowSel + ` .counts div:first-child b")).filter(b => Number(b.textContent.replace(/,/g,"")) < 30000).length`); n != 0 {
		t.Errorf("%d rows below the followers filter", n)
	}
	p.setValue("#fmin", "")
	p.wait(`document.getElementById("shown").textContent === ""`)

	// Tick three: one, then a Shift-click two rows down takes the range.
	ids := sandbox.BigNonFollowers()[:3]
	p.click(`#tick-`+ids[0], false)
	p.click(`#tick-`+ids[2], true)
	p.wait(`document.getElementById("ticked").textContent === "3 ticked"`)
	if btn := p.string(`document.getElementById("unfollow").textContent`); btn != "Unfollow 3 accounts" {
		t.Errorf("button %q", btn)
	}
	for _, id := range ids {
		if p.string(`String(document.getElementById("tick-`+id+`").checked)`) != "true" {
			t.Errorf("%s is not ticked", id)
		}
	}
	if n := p.int(`document.querySelectorAll("#rows input:checked").length`); n != 3 {
		t.Errorf("%d boxes ticked", n)
	}

	p.screenshot("review-view-light.png")
	p.setHostTheme("dark")
	p.wait(`document.documentElement.dataset.theme === "dark"`)
	if bg := p.string(`getComputedStyle(document.body).backgroundColor`); bg == "rgb(255, 255, 255)" {
		t.Errorf("dark theme kept a white background")
	}
	p.screenshot("review-view-dark.png")
	p.setHostTheme("light")
	p.wait(`document.documentElement.dataset.theme === "light"`)

	if tools := p.hostString(`window.hostLog.tools.join(",")`); !strings.Contains(tools, "start_x_unfollow_job") {
		t.Fatalf("the server offers no start_x_unfollow_job: %s", tools)
	}
	before := len(p.calls())
	p.click("#unfollow", false)
	p.waitHost(fmt.Sprintf(`window.hostLog.calls.slice(%d).some(c => c.name === "start_x_unfollow_job")`, before))
	var starts []call
	for _, c := range p.calls()[before:] {
		if c.Name == "start_x_unfollow_job" {
			starts = append(starts, c)
		}
	}
	if len(starts) != 1 || starts[0].Arguments["username"] != sandbox.BigUsername || !slices.Equal(anyStrings(starts[0].Arguments["target_user_ids"]), ids) {
		t.Fatalf("the view called start_x_unfollow_job %v; want it once with exactly the ticked ids %v", starts, ids)
	}

	// The job runs to completed, watched through get_x_unfollow_jobs.
	p.wait(`document.getElementById("job-status").dataset.status === "completed"`)
	if done := p.string(`document.getElementById("job-done").textContent`); done != "3 of 3" {
		t.Errorf("done %q", done)
	}
	if st := p.string(`document.getElementById("job-status").textContent`); !strings.HasPrefix(st, "Completed") {
		t.Errorf("status in words: %q", st)
	}
	polled := false
	for _, c := range p.calls() {
		polled = polled || c.Name == "get_x_unfollow_jobs"
	}
	if !polled {
		t.Error("the view never asked get_x_unfollow_jobs")
	}
	// The three are unfollowed, and nothing else: a fresh scan lacks exactly them.
	if left := p.candidateIDs(); len(left) != want-3 || slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(left, id) }) {
		t.Errorf("after the job: %d candidates left (want %d), ticked ones among them", len(left), want-3)
	}

	// Pause stops further sends: a second job of ten, paused at once.
	more := sandbox.BigNonFollowers()[3:13]
	p.click(`#tick-`+more[0], false)
	p.click(`#tick-`+more[len(more)-1], true)
	p.wait(`document.getElementById("ticked").textContent === "10 ticked"`)
	p.click("#unfollow", false)
	p.wait(`document.getElementById("job-status").dataset.status && document.getElementById("job-status").dataset.status !== "completed"`)
	p.wait(`!document.getElementById("job-done").textContent.startsWith("0 ")`)
	p.screenshot("review-view-job.png")
	p.click("#job-pause", false)
	p.wait(`document.getElementById("job-status").dataset.status === "paused"`)
	if !p.visible("#job-resume") || p.visible("#job-pause") {
		t.Error("a paused job does not offer Resume (and only Resume)")
	}
	// A send already on its way when the pause came may still land: one
	// refresh later the job stands still. Then three more refreshes (9 s,
	// 45 minutes of the test clock, about nine sends at the job's pace)
	// send nothing: the job's count and the account's followings agree.
	n0 := countCalls(p.calls(), "get_x_unfollow_jobs")
	p.waitHost(fmt.Sprintf(`window.hostLog.calls.filter(c => c.name === "get_x_unfollow_jobs").length >= %d`, n0+1))
	doneAtPause := p.string(`document.getElementById("job-done").textContent`)
	leftAtPause := len(p.candidateIDs())
	n1 := countCalls(p.calls(), "get_x_unfollow_jobs")
	p.waitHost(fmt.Sprintf(`window.hostLog.calls.filter(c => c.name === "get_x_unfollow_jobs").length >= %d`, n1+3))
	if done := p.string(`document.getElementById("job-done").textContent`); done != doneAtPause {
		t.Errorf("done went from %q to %q while paused", doneAtPause, done)
	}
	if left := len(p.candidateIDs()); left != leftAtPause {
		t.Errorf("%d accounts were unfollowed while the job was paused", leftAtPause-left)
	}
	if doneAtPause == "10 of 10" {
		t.Error("the job ended before the pause: the test proves nothing about pausing")
	}
	// The view opened again (another answer of the finder) finds the
	// paused job of the account and shows it, with its accounts marked.
	again := open(t, b, hostURL, "theme=dark&username=xfollow_big&limit=1000")
	again.wait(`document.getElementById("job-status").dataset.status === "paused"`)
	if done := again.string(`document.getElementById("job-done").textContent`); done != doneAtPause {
		t.Errorf("the view opened again shows %q done; want %q", done, doneAtPause)
	}
	// Its accounts still to do are candidates still, each marked as in
	// the job (those done are no longer candidates).
	again.wait(`document.querySelectorAll("#rows .badge.job").length === Number(document.getElementById("job-remaining").textContent)`)
	if n := again.int(`document.querySelectorAll("#rows .badge.job").length`); n == 0 {
		t.Error("no row of the view opened again is marked as in the job")
	}
	again.hostEval(`window.teardown()`)

	p.click("#job-resume", false)
	p.wait(`document.getElementById("job-status").dataset.status === "completed"`)
	if done := p.string(`document.getElementById("job-done").textContent`); done != "10 of 10" {
		t.Errorf("after resume: %q", done)
	}
	if left := p.candidateIDs(); len(left) != want-13 || slices.ContainsFunc(more, func(id string) bool { return slices.Contains(left, id) }) {
		t.Errorf("after the second job: %d candidates left (want %d), ticked ones among them", len(left), want-13)
	}

	// Cancel ends a job for good: a third job of five, cancelled at once.
	third := sandbox.BigNonFollowers()[13:18]
	p.click(`#tick-`+third[0], false)
	p.click(`#tick-`+third[len(third)-1], true)
	p.wait(`document.getElementById("ticked").textContent === "5 ticked"`)
	p.click("#unfollow", false)
	p.wait(`document.getElementById("job-status").dataset.status && document.getElementById("job-status").dataset.status !== "completed"`)
	p.click("#job-cancel", false)
	p.wait(`document.getElementById("job-status").dataset.status === "cancelled"`)
	if st := p.string(`document.getElementById("job-status").textContent`); !strings.HasPrefix(st, "Cancelled") {
		t.Errorf("status in words: %q", st)
	}
	if p.visible("#job-pause") || p.visible("#job-resume") || p.visible("#job-cancel") {
		t.Error("an ended job still offers Pause, Resume or Cancel")
	}
	leftAtCancel := len(p.candidateIDs())
	time.Sleep(2 * time.Second) // a window for a wrong send: 10 minutes of the test clock, about two sends at the job's pace
	if left := len(p.candidateIDs()); left != leftAtCancel {
		t.Errorf("%d accounts were unfollowed after the job was cancelled", leftAtCancel-left)
	}
	if leftAtCancel < want-18 {
		t.Errorf("%d candidates left: more were unfollowed than the three jobs held", leftAtCancel)
	}

	// The view called the job tools and nothing else that writes.
	for _, c := range p.calls() {
		switch c.Name {
		case "start_x_unfollow_job", "get_x_unfollow_jobs", "control_x_unfollow_job", "find_x_unfollow_candidates":
		default:
			t.Errorf("the view called %s", c.Name)
		}
	}

	// Teardown is answered, and the view stops asking.
	p.hostEval(`window.teardown()`)
	p.waitHost(`window.hostLog.teardown !== null`)
	if r := p.hostString(`JSON.stringify(window.hostLog.teardown)`); r != "{}" {
		t.Errorf("teardown answered %s", r)
	}
}

// TestReviewViewLoadMore: a scan that stopped early says so, and "Load
// more candidates" continues it from next_cursor with no repeats.
func TestReviewViewLoadMore(t *testing.T) {
	path := chromium(t)
	hostURL := startHost(t, startServer(t))
	b := launch(t, path)
	p := open(t, b, hostURL, "theme=light&username=xfollow_big&limit=5")
	p.wait(`document.querySelectorAll("` + rowSel + `").length === 5`)
	summary := p.string(`document.getElementById("summary").textContent`)
	if !strings.Contains(summary, "5 accounts") || !strings.Contains(summary, "not examined yet") {
		t.Errorf("summary of a scan stopped early: %q", summary)
	}
	if !p.visible("#more") {
		t.Fatal("no Load more for a scan that stopped early")
	}
	p.click("#more", false)
	p.wait(`document.getElementById("page").textContent !== "Page 1 of 1"`)
	ids := p.string(`Array.from(document.querySelectorAll("` + rowSel + `")).map(li => li.dataset.id).join(",")`)
	want := strings.Join(sandbox.BigNonFollowers()[:50], ",")
	if ids != want {
		t.Errorf("after Load more, the first page is not the finder's first 50 in order:\n%s\nwant\n%s", ids, want)
	}
	var calls []call
	for _, c := range p.calls() {
		if c.Name == "find_x_unfollow_candidates" {
			calls = append(calls, c)
		}
	}
	if len(calls) != 1 || calls[0].Arguments["cursor"] == nil || calls[0].Arguments["cursor"] == "" {
		t.Errorf("Load more called %v; want one find_x_unfollow_candidates with the cursor", calls)
	}
}

// TestReviewViewToolCancelled: a cancelled finder call is said in words.
func TestReviewViewToolCancelled(t *testing.T) {
	path := chromium(t)
	mcpURL := startServer(t)
	hostURL := startHost(t, mcpURL)
	b := launch(t, path)
	p := open(t, b, hostURL, "theme=dark&mode=cancel&limit=5")
	p.wait(`document.getElementById("summary").textContent.includes("cancelled")`)
	if n := p.int(`document.querySelectorAll("` + rowSel + `").length`); n != 0 {
		t.Errorf("%d rows after a cancellation", n)
	}
	if p.string(`document.documentElement.dataset.theme`) != "dark" {
		t.Error("the host's dark theme was not applied at initialize")
	}
}

// TestReviewViewLargeNarrowAccessible: 1,000 candidates in a frame as
// narrow as a phone's stay light (one page of rows in the document, sorting
// and filtering all of them at once), nothing sticks out sideways, every
// control is named, and teardown is answered.
func TestReviewViewLargeNarrowAccessible(t *testing.T) {
	path := chromium(t)
	mcpURL := startServer(t)
	hostURL := startHost(t, mcpURL)
	b := launch(t, path)
	p := openSized(t, b, hostURL, "theme=light&mode=synthetic&limit=1000", 360, 800)
	p.wait(`document.querySelectorAll("` + rowSel + `").length > 0`)
	if n := p.int(`document.querySelectorAll("` + rowSel + `").length`); n != 50 {
		t.Errorf("%d rows in the document; want one page of 50", n)
	}
	if pg := p.string(`document.getElementById("page").textContent`); pg != "Page 1 of 20" {
		t.Errorf("pager %q", pg)
	}
	if w := p.int(`document.documentElement.clientWidth`); w > 340 {
		t.Errorf("the frame is %d pixels wide; the test wants a narrow one", w)
	}

	// Sorting and filtering 1,000 accounts answer at once: well under the
	// half second a person notices as a freeze (it takes a few
	// milliseconds; the bound leaves room for a loaded machine).
	sortMS := p.int(`(() => { const t0 = performance.now(); const s = document.getElementById("sort"); s.value = "followers-desc";
		s.dispatchEvent(new Event("change", {bubbles: true})); return Math.ceil(performance.now() - t0) })()`)
	filterMS := p.int(`(() => { const t0 = performance.now(); const q = document.getElementById("q"); q.value = "number 9";
		q.dispatchEvent(new Event("input", {bubbles: true})); return Math.ceil(performance.now() - t0) })()`)
	t.Logf("1,000 candidates: sort %d ms, filter %d ms (sort, filter and render of one page)", sortMS, filterMS)
	if sortMS > 500 || filterMS > 500 {
		t.Errorf("sort took %d ms and filter %d ms over 1,000 candidates", sortMS, filterMS)
	}
	// "number 9" matches accounts 9, 90-99 and 900-999: 111 of them.
	if shown := p.string(`document.getElementById("shown").textContent`); shown != "111 of 1,000 shown" {
		t.Errorf("filter: %q", shown)
	}
	p.setValue("#q", "")
	p.wait(`document.getElementById("shown").textContent === ""`)
	var first, second int
	first = p.int(`Number(document.querySelector("` + rowSel + ` .counts b").textContent.replace(/,/g, ""))`)
	p.click("#next", false)
	p.wait(`document.getElementById("page").textContent === "Page 2 of 20"`)
	second = p.int(`Number(document.querySelector("` + rowSel + ` .counts b").textContent.replace(/,/g, ""))`)
	if first < second || first < 99000 {
		t.Errorf("sorted by followers, most first, across pages: page 1 starts at %d, page 2 at %d", first, second)
	}

	// A Shift range reaches across pages: tick the last row of page 2,
	// go back, Shift-tick the first row of page 1.
	last := p.string(`Array.from(document.querySelectorAll("` + rowSel + `")).pop().dataset.id`)
	p.click(`#tick-`+last, false)
	p.click("#prev", false)
	p.wait(`document.getElementById("page").textContent === "Page 1 of 20"`)
	firstID := p.string(`document.querySelector("` + rowSel + `").dataset.id`)
	p.click(`#tick-`+firstID, true)
	p.wait(`document.getElementById("ticked").textContent === "100 ticked"`)
	if btn := p.string(`document.getElementById("unfollow").textContent`); btn != "Unfollow 100 accounts" {
		t.Errorf("button %q", btn)
	}
	// Ticks the filters hide stay ticked, and the view says how many.
	p.setValue("#fmax", "0")
	p.wait(`document.getElementById("ticked").textContent.startsWith("100 ticked (")`)
	if got := p.string(`document.getElementById("ticked").textContent`); got != "100 ticked (100 hidden by the filters)" {
		t.Errorf("with every ticked row filtered out: %q", got)
	}
	p.setValue("#fmax", "")
	p.wait(`document.getElementById("ticked").textContent === "100 ticked"`)

	// Nothing sticks out of the narrow frame sideways.
	if over := p.string(`(() => { const w = document.documentElement.clientWidth; return Array.from(document.querySelectorAll("body *"))
		.filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.right > w + 0.5 || r.left < -0.5) && !e.closest(".sr") })
		.map(e => e.tagName + "#" + e.id + "." + e.className).slice(0, 5).join(" ") })()`); over != "" {
		t.Errorf("wider than the frame: %s", over)
	}
	if sw := p.string(`String(document.documentElement.scrollWidth <= document.documentElement.clientWidth)`); sw != "true" {
		t.Error("the view scrolls sideways in a narrow frame")
	}

	// Every control has a name a screen reader says: buttons by their
	// text, tick boxes (real checkboxes) by their account, fields by a
	// label.
	if unnamed := p.string(`Array.from(document.querySelectorAll("button, input, select")).filter(e => {
		if (e.tagName === "BUTTON") return !(e.textContent.trim() || e.getAttribute("aria-label"));
		if (e.type === "checkbox") return !/^Unfollow .*\(@synthetic_\d+\)$/.test(e.getAttribute("aria-label") || "");
		return !(e.getAttribute("aria-label") || e.closest("label"));
	}).map(e => e.outerHTML.slice(0, 80)).join(" | ")`); unnamed != "" {
		t.Errorf("controls without a name: %s", unnamed)
	}

	// Teardown is answered, and the view asks nothing after it.
	before := len(p.calls())
	p.hostEval(`window.teardown()`)
	p.waitHost(`window.hostLog.teardown !== null`)
	if r := p.hostString(`JSON.stringify(window.hostLog.teardown)`); r != "{}" {
		t.Errorf("teardown answered %s", r)
	}
	if after := len(p.calls()); after != before {
		t.Errorf("%d tool calls after teardown", after-before)
	}
}

func (p *page) setValue(sel, v string) {
	p.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event(e.tagName === "SELECT" ? "change" : "input", {bubbles: true})); return true })()`, sel, v)
	if err := p.frame.eval(js, nil); err != nil {
		p.t.Fatalf("set %s: %v", sel, err)
	}
}

// visible reports whether the element is shown.
func (p *page) visible(sel string) bool {
	p.t.Helper()
	var v bool
	if err := p.frame.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.hidden && e.getClientRects().length > 0 })()`, sel), &v); err != nil {
		p.t.Fatalf("%s: %v", sel, err)
	}
	return v
}

func (p *page) setHostTheme(theme string) { p.hostEval(fmt.Sprintf(`window.setTheme(%q)`, theme)) }

func (p *page) hostEval(js string) {
	p.t.Helper()
	if err := p.host.eval(js, nil); err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
}

// candidateIDs runs a fresh scan through the host's endpoint.
func (p *page) candidateIDs() []string {
	p.t.Helper()
	js := `fetch("/mcp", {method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"},
		body: JSON.stringify({jsonrpc: "2.0", id: 99, method: "tools/call", params: {name: "find_x_unfollow_candidates", arguments: {username: "xfollow_big", limit: 1000, max_following: 20000, refresh: true}}})})
		.then(r => r.text()).then(t => { const line = t.split("\n").find(l => l.startsWith("data:")); const m = JSON.parse(line ? line.slice(5) : t);
			const out = m.result.structuredContent; if (!out.complete) throw new Error("the scan stopped early: " + out.stopped); return out.candidates.map(c => c.id) })`
	var ids []string
	if err := p.host.eval(js, &ids); err != nil {
		p.t.Fatal(err)
	}
	return ids
}

func countCalls(calls []call, name string) int {
	n := 0
	for _, c := range calls {
		if c.Name == name {
			n++
		}
	}
	return n
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	if len(s) <= 3 {
		return s
	}
	return s[:len(s)-3] + "," + s[len(s)-3:]
}

// tlogWriter puts the proxy's complaints (an answer cut short) in the
// test's log.
type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }
