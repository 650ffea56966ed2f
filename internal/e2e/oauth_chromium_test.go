package e2e

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestOAuthConsentInChromium: a real browser (headless Debian chromium)
// opens the consent page, the person types the key and presses Enter, and
// the browser follows the redirect to a loopback callback with code, state
// and iss; the code then buys a token that calls a tool. Chromium's own
// form POST (Origin: null under Referrer-Policy: no-referrer, Sec-Fetch-Site:
// same-origin) is accepted; the same form posted from another origin is
// refused. The browser ends with no cookie, and no URL it visited holds
// the key.
func TestOAuthConsentInChromium(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	s := startOAuth(t, nil, nil)
	callbacks := make(chan *url.URL, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaks.saw("url", "chromium callback", r.URL.String())
		if r.URL.Path == "/cb" {
			callbacks <- r.URL
		}
		_, _ = w.Write([]byte("<!doctype html><title>back in the app</title><p>done</p>"))
	}))
	defer cb.Close()
	const name = `Chromium <b>e2e</b>`
	c := register(t, s.Base, cb.URL+"/cb", name)
	v := pkceRandom()
	p := b.newPage()
	p.navigate(c.authURL(s.Base+"/mcp", v, "chromium-state"))
	page := p.html()
	if !strings.Contains(page, html.EscapeString(name)) || strings.Contains(page, "<b>e2e</b>") || !strings.Contains(page, `type="password"`) {
		t.Fatalf("the consent page as chromium shows it:\n%s", page)
	}
	p.typeInto("#aisa_key", consentKey(2))
	p.pressEnter()
	var got *url.URL
	select {
	case got = <-callbacks:
	case <-time.After(30 * time.Second):
		t.Fatalf("the browser did not come back to the callback; it shows:\n%s\nserver:\n%s", p.html(), s.stderr.String())
	}
	q := got.Query()
	if q.Get("state") != "chromium-state" || q.Get("iss") != s.Base || q.Get("code") == "" || strings.Contains(got.String(), consentKey(2)) {
		t.Fatalf("callback %s", got)
	}
	tk, r := c.exchange(s.Base, q.Get("code"), v)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange: %s", r.Body)
	}
	r = rawPost(t, s.URL, toolCall("get_x_user", map[string]any{"username": sandbox.MeUsername}), "Authorization", "Bearer "+tk.Access)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, sandbox.MeUsername) {
		t.Fatalf("call: %d %.300s", r.Status, r.Body)
	}

	// Another origin's page posts the same form (a fresh sealed request,
	// fetched as an attacker could): the server refuses it and nobody is
	// sent back to the client.
	fresh := rawGet(t, c.authURL(s.Base+"/mcp", v, "attack"))
	m := formReqRe.FindStringSubmatch(fresh.Body)
	if m == nil {
		t.Fatal("no consent form")
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`<!doctype html><form method="post" action="` + s.Base + `/authorize">
<input type="hidden" name="request" value="` + m[1] + `"><input type="hidden" name="aisa_key" value="` + consentKey(2) + `">
<input id="x" name="x"><button type="submit" name="action" value="approve">Go</button></form>`))
	}))
	defer attacker.Close()
	p.navigate(attacker.URL)
	p.typeInto("#x", "a")
	p.pressEnter()
	p.b.waitEvent(p.session, "Page.loadEventFired")
	if out := p.html(); !strings.Contains(out, "own consent page") {
		t.Errorf("the cross-origin post was not refused; the browser shows:\n%s", out)
	}
	select {
	case u := <-callbacks:
		t.Errorf("a cross-origin post sent the browser back with %s", u)
	default:
	}
	visited := p.history()
	if len(visited) < 3 {
		t.Errorf("the tab's history is %v", visited)
	}
	for _, u := range visited {
		leaks.saw("url", "chromium history", u)
	}
	for _, ck := range b.cookies() {
		leaks.saw("cookie", "chromium", fmt.Sprint(ck))
		t.Errorf("the browser holds a cookie: %v", ck)
	}
}
