package httpserver

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// TestSameHostProxyIsNotLoopback: a reverse proxy on this machine connects
// over loopback on behalf of anyone who reaches it. Without a token, what
// comes through it is refused with 401 naming the fix, while the machine's
// own clients (no proxy header) are served.
func TestSameHostProxyIsNotLoopback(t *testing.T) {
	f := newFixture(t)
	upstream, _ := serve(t, f, Options{})
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	// httputil.ReverseProxy adds X-Forwarded-For; Rewrite lets each case
	// choose its headers instead.
	for _, tc := range []struct {
		name string
		set  func(r *httputil.ProxyRequest)
	}{
		{"X-Forwarded-For", func(r *httputil.ProxyRequest) { r.SetXForwarded() }},
		{"Forwarded", func(r *httputil.ProxyRequest) { r.Out.Header.Set("Forwarded", "for=192.0.2.60;proto=http") }},
		{"X-Real-IP", func(r *httputil.ProxyRequest) { r.Out.Header.Set("X-Real-IP", "192.0.2.60") }},
		{"Via", func(r *httputil.ProxyRequest) { r.Out.Header.Set("Via", "1.1 proxy") }},
		// Proxies that say less: only the scheme or host they were reached
		// by, or a tunnel's or CDN's client address.
		{"X-Forwarded-Proto", func(r *httputil.ProxyRequest) { r.Out.Header.Set("x-forwarded-proto", "https") }},
		{"X-Forwarded-Host", func(r *httputil.ProxyRequest) { r.Out.Header.Set("X-FORWARDED-HOST", "mcp.example.com") }},
		{"Cf-Connecting-Ip", func(r *httputil.ProxyRequest) { r.Out.Header.Set("CF-Connecting-IP", "192.0.2.60") }},
		{"True-Client-Ip", func(r *httputil.ProxyRequest) { r.Out.Header.Set("True-Client-IP", "192.0.2.60") }},
		{"X-Client-Ip", func(r *httputil.ProxyRequest) { r.Out.Header.Set("X-Client-IP", "192.0.2.60") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = target.Host // a localhost Host, as the README used to ask of proxies
				tc.set(r)
			}})
			defer proxy.Close()
			before := f.probe.calls.Load()
			res, body := post(t, proxy.URL+MCPPath, "", callBody("probe", nil))
			checkRefusal(t, res, body, http.StatusUnauthorized)
			if !strings.Contains(body, "XFOLLOW_HTTP_TOKEN") || !strings.Contains(body, tc.name) {
				t.Fatalf("the refusal does not name the header and the fix: %s", body)
			}
			if f.probe.calls.Load() != before {
				t.Fatal("the proxied call ran")
			}
		})
	}
	// The same server still serves this machine's own clients.
	res, body := post(t, upstream+MCPPath, "", callBody("probe", nil))
	<-f.probe.started
	if res.StatusCode != http.StatusOK || strings.Contains(body, `"error"`) {
		t.Fatalf("a direct loopback call was refused: %d %s", res.StatusCode, body)
	}
}

// TestProxyWithTokenIsServed: with a token the proxy's clients are served
// like any other, proxy headers and all.
func TestProxyWithTokenIsServed(t *testing.T) {
	f := newFixture(t)
	upstream, _ := serve(t, f, Options{Token: testToken})
	target, _ := url.Parse(upstream)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.SetXForwarded()
		r.Out.Header.Set("Via", "1.1 proxy")
	}})
	defer proxy.Close()
	res, body := post(t, proxy.URL+MCPPath, testToken, callBody("probe", nil))
	<-f.probe.started
	if res.StatusCode != http.StatusOK || strings.Contains(body, `"error"`) {
		t.Fatalf("a proxied call with the token was refused: %d %s", res.StatusCode, body)
	}
}
