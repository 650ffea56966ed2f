package oauth

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

func TestDiscovery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	iss := f.srv.URL
	for _, p := range []string{PathResourceMeta, PathResourceMetaMCP} {
		r := f.get(p)
		var prm struct {
			Resource string   `json:"resource"`
			AS       []string `json:"authorization_servers"`
			Scopes   []string `json:"scopes_supported"`
		}
		if err := json.Unmarshal([]byte(r.body), &prm); err != nil || r.status != 200 {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
		if prm.Resource != iss+"/mcp" || len(prm.AS) != 1 || prm.AS[0] != iss || len(prm.Scopes) != 1 || prm.Scopes[0] != Scope {
			t.Errorf("%s: %+v", p, prm)
		}
	}
	r := f.get(PathAuthServerMeta)
	var asm map[string]any
	if err := json.Unmarshal([]byte(r.body), &asm); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"issuer": `"` + iss + `"`, "authorization_endpoint": `"` + iss + `/authorize"`, "token_endpoint": `"` + iss + `/token"`,
		"registration_endpoint": `"` + iss + `/register"`, "revocation_endpoint": `"` + iss + `/revoke"`,
		"response_types_supported": `["code"]`, "grant_types_supported": `["authorization_code","refresh_token"]`,
		"code_challenge_methods_supported": `["S256"]`, "token_endpoint_auth_methods_supported": `["none"]`,
		"authorization_response_iss_parameter_supported": `true`, "scopes_supported": `["xfollow"]`,
	}
	for k, v := range want {
		got, _ := json.Marshal(asm[k])
		if string(got) != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if c := f.s.Challenge(false); c != `Bearer resource_metadata="`+iss+`/.well-known/oauth-protected-resource/mcp", scope="xfollow"` {
		t.Errorf("challenge %s", c)
	}
	if c := f.s.Challenge(true); !strings.HasSuffix(c, `, error="invalid_token"`) {
		t.Errorf("challenge with a token %s", c)
	}
	// Preflights from any origin on the machine-facing endpoints; none on
	// the consent page.
	for _, p := range []string{PathResourceMeta, PathResourceMetaMCP, PathAuthServerMeta, PathRegister, PathToken, PathRevoke} {
		req, _ := http.NewRequest(http.MethodOptions, f.srv.URL+p, nil)
		req.Header.Set("Origin", "https://somewhere.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		r := f.do(req)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Methods") == "" {
			t.Errorf("preflight %s: %d %v", p, r.status, r.header)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, f.srv.URL+PathAuthorize, nil)
	req.Header.Set("Origin", "https://somewhere.example")
	if r := f.do(req); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the consent page answered a preflight: %v", r.header)
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"https://MCP.example.com": "https://mcp.example.com", "https://h.example:8443/": "https://h.example:8443", "http://127.0.0.1:8080": "http://127.0.0.1:8080",
		// A default port is dropped: clients compare the resource with the
		// URL they were given, https://host/mcp.
		"https://mcp.example.com:443": "https://mcp.example.com", "http://127.0.0.1:80/": "http://127.0.0.1"} {
		if got, err := ParsePublicURL(in); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"http://mcp.example.com", "https://h.example/mcp", "https://h.example?x=1", "https://u:p@h.example", "ftp://h", "h.example", "https://h.example#f"} {
		if _, err := ParsePublicURL(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// The issuer comes from the configuration, never from a request.
	ring, _ := secret.Parse(testSecret)
	s, err := New(Options{PublicURL: "https://mcp.example.com", Secret: ring, Store: NewMemoryStore(nil), KeyFormat: keyFormat, CheckKey: checkKey})
	if err != nil {
		t.Fatal(err)
	}
	s.Listening(fakeAddr("127.0.0.1:9"))
	if s.Issuer() != "https://mcp.example.com" || s.Resource() != "https://mcp.example.com/mcp" {
		t.Fatalf("issuer %s resource %s", s.Issuer(), s.Resource())
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func TestRegister(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) { o.RegisterPerMinute = 1000 })
	ok := [][]string{{"https://claude.ai/api/mcp/auth_callback"}, {"http://127.0.0.1:33418/"}, {"http://localhost:6274/oauth/callback"}, {"http://[::1]:1/cb"}}
	for _, uris := range ok {
		id, r := f.register(uris, "App")
		if r.status != http.StatusCreated || !strings.HasPrefix(id, clientPrefix) || !strings.Contains(r.body, `"token_endpoint_auth_method":"none"`) {
			t.Errorf("%v: %d %s", uris, r.status, r.body)
		}
		if c, ok := f.s.openClient(id); !ok || c.RedirectURIs[0] != uris[0] || c.Name != "App" {
			t.Errorf("%v: the client id does not carry the registration: %+v", uris, c)
		}
	}
	bad := [][]string{{"http://example.com/cb"}, {"https://example.com/cb#frag"}, {"/relative"}, {"javascript:alert(1)"},
		{"https://u:p@example.com/cb"}, {}, {"https://a.example/1", "https://a.example/2", "https://a.example/3", "https://a.example/4", "https://a.example/5", "https://a.example/6"},
		{"https://example.com/" + strings.Repeat("a", 600)},
		// The consent page shows the redirect host: a look-alike in another
		// script, or a bidi control, would show one host and send to another.
		{"https://cl\u0430ude.ai/cb"}, {"https://evil.example\u202e/cb"}, {"http://127.0.0.1.evil.example/cb"}, {"http://localhost@evil.example/cb"},
		{"http://localhost./cb"}, {"http://127.0.0.1./cb"}}
	for _, uris := range bad {
		if id, r := f.register(uris, "App"); r.status != http.StatusBadRequest || id != "" || !strings.Contains(r.body, "invalid_redirect_uri") {
			t.Errorf("%v accepted: %d %s", uris, r.status, r.body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+PathRegister, strings.NewReader(`{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}`))
	if r := f.do(req); r.status != http.StatusBadRequest {
		t.Errorf("client_credentials accepted: %s", r.body)
	}
	// Registration never hands out a client id the server would not open:
	// within the bounds of each field, the whole can still be too long.
	var long []string
	for i := range 5 {
		long = append(long, "https://a.example/"+string(rune('a'+i))+"?"+strings.Repeat("x=1&", 120))
	}
	if id, r := f.register(long, strings.Repeat("\u00e9", 100)); r.status == http.StatusCreated {
		if _, ok := f.s.openClient(id); !ok {
			t.Errorf("registered a client id (%d characters) that does not open", len(id))
		}
	} else if r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid_client_metadata") {
		t.Errorf("too long a registration: %d %s", r.status, r.body)
	}
	// A client name cannot reorder or hide the page's text around it.
	id, _ := f.register([]string{cb}, "Claude\u202e (deifirev) \u200bX\x01")
	if c, _ := f.s.openClient(id); c.Name != "Claude (deifirev) X" {
		t.Errorf("control and format characters kept in the name: %q", c.Name)
	}
	// A tampered client id does not open.
	id, _ = f.register([]string{cb}, "App")
	if _, ok := f.s.openClient(id[:len(id)-2] + "AA"); ok {
		t.Error("a tampered client id opened")
	}
}

func TestAuthorizeNeverRedirectsToAnUnknownPlace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, _ := f.register([]string{cb}, "App")
	two, _ := f.register([]string{cb, "https://app.example/cb"}, "App")
	other := newFixture(t, func(o *Options) { o.Secret, _ = secret.Parse(strings.Repeat("z", 40)) })
	foreign, _ := other.register([]string{cb}, "App")
	cases := map[string]string{
		"unknown client":        f.authorizeURL("xfc_k0.bogus", nil),
		"client of another key": f.authorizeURL(foreign, nil),
		"tampered client":       f.authorizeURL(id[:len(id)-3]+"abc", nil),
		"no client":             f.authorizeURL("", url.Values{"client_id": nil}),
		"other redirect":        f.authorizeURL(id, url.Values{"redirect_uri": {"https://evil.example/cb"}}),
		"other path":            f.authorizeURL(id, url.Values{"redirect_uri": {"http://127.0.0.1:7777/other"}}),
		"other loopback host":   f.authorizeURL(id, url.Values{"redirect_uri": {"http://localhost:7777/callback"}}),
		"fragment":              f.authorizeURL(id, url.Values{"redirect_uri": {cb + "#x"}}),
		"two redirects":         f.authorizeURL(id, url.Values{"redirect_uri": {cb, cb}}),
		"none of several":       f.authorizeURL(two, url.Values{"redirect_uri": nil}),
	}
	for name, u := range cases {
		r := f.get(u)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.Contains(r.body, "Cannot connect") {
			t.Errorf("%s: %d Location=%q", name, r.status, r.header.Get("Location"))
		}
	}
	// RFC 8252 7.3: a loopback redirect matches on any port.
	if r := f.get(f.authorizeURL(id, url.Values{"redirect_uri": {"http://127.0.0.1:40001/callback"}})); r.status != http.StatusOK {
		t.Errorf("loopback on another port: %d", r.status)
	}
	// No redirect_uri with one registered: that one.
	if r := f.get(f.authorizeURL(id, url.Values{"redirect_uri": nil})); r.status != http.StatusOK {
		t.Errorf("no redirect_uri: %d", r.status)
	}
}

func TestAuthorizeRequestErrorsGoBackToTheClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, _ := f.register([]string{cb}, "App")
	cases := map[string]struct {
		extra url.Values
		err   string
	}{
		"plain":            {url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		"no method":        {url.Values{"code_challenge_method": nil}, "invalid_request"},
		"no challenge":     {url.Values{"code_challenge": nil}, "invalid_request"},
		"short challenge":  {url.Values{"code_challenge": {"abc"}}, "invalid_request"},
		"foreign resource": {url.Values{"resource": {"https://other.example/mcp"}}, "invalid_target"},
		"two resources":    {url.Values{"resource": {f.s.Resource(), f.s.Resource()}}, "invalid_target"},
		"token flow":       {url.Values{"response_type": {"token"}}, "unsupported_response_type"},
	}
	// Anyone can register a client with a redirect of their choosing, so
	// an erroneous request is never redirected automatically (that would
	// make this server an open redirector, RFC 9700 4.11.2): the page says
	// what is wrong, names the host, and links back with the error.
	link := regexp.MustCompile(`<a class="back" href="([^"]+)">`)
	for name, c := range cases {
		r := f.get(f.authorizeURL(id, c.extra))
		m := link.FindStringSubmatch(r.body)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || m == nil || !strings.Contains(r.body, "127.0.0.1:7777") {
			t.Errorf("%s: %d Location=%q\n%s", name, r.status, r.header.Get("Location"), r.body)
			continue
		}
		loc, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil || !strings.HasPrefix(loc.String(), cb+"?") {
			t.Errorf("%s: link %q", name, m[1])
			continue
		}
		q := loc.Query()
		if q.Get("error") != c.err || q.Get("state") != "st-1" || q.Get("iss") != f.srv.URL || q.Get("code") != "" {
			t.Errorf("%s: %v", name, q)
		}
	}
	// Some hosts send neither resource nor scope.
	if r := f.get(f.authorizeURL(id, url.Values{"resource": nil, "scope": nil})); r.status != http.StatusOK {
		t.Errorf("no resource or scope: %d %s", r.status, r.body)
	}
	if r := f.get(f.authorizeURL(id, url.Values{"scope": {"claudeai offline_access"}})); r.status != http.StatusOK {
		t.Errorf("another scope: %d", r.status)
	}
}

func TestConsentPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	name := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	id, _ := f.register([]string{cb}, name)
	r := f.get(f.authorizeURL(id, nil))
	h := r.header
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", h)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "form-action") {
		t.Errorf("CSP %q", csp)
	}
	if h.Get("Set-Cookie") != "" {
		t.Error("the consent page set a cookie")
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "<img") || !strings.Contains(r.body, "&lt;script&gt;") {
		t.Errorf("the client name is not escaped:\n%s", r.body)
	}
	if !strings.Contains(r.body, "not verified") || !strings.Contains(r.body, `<p class="host">127.0.0.1:7777</p>`) {
		t.Errorf("the page does not show the name as unverified and the redirect host:\n%s", r.body)
	}
	if strings.Count(r.body, `type="password"`) != 1 || strings.Count(r.body, "<input") != 2 ||
		!strings.Contains(r.body, `value="approve"`) || !strings.Contains(r.body, `value="deny"`) {
		t.Errorf("the form is not one password field with Approve and Deny:\n%s", r.body)
	}
	// Error pages carry the same headers.
	r = f.get(f.authorizeURL("nope", nil))
	if r.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("error page headers %v", r.header)
	}
}

func TestConsentPost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, _ := f.register([]string{cb}, "App")
	req := f.consentForm(id, nil)
	form := url.Values{"request": {req}, "aisa_key": {goodKey}, "action": {"approve"}}
	// Only the issuer's own page may post the form.
	for name, hdr := range map[string][]string{
		"cross-site":         {"Sec-Fetch-Site", "cross-site"},
		"same-site":          {"Sec-Fetch-Site", "same-site"},
		"foreign origin":     {"Origin", "https://evil.example"},
		"null origin alone":  {"Origin", "null"},
		"no origin, no site": {},
	} {
		r := f.postForm(PathAuthorize, form, hdr...)
		if r.status != http.StatusForbidden || r.header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, r.status, r.header.Get("Location"))
		}
	}
	// Chromium: Origin null (no-referrer) with Sec-Fetch-Site same-origin.
	r := f.postForm(PathAuthorize, form, "Origin", "null", "Sec-Fetch-Site", "same-origin")
	if r.status != http.StatusSeeOther {
		t.Fatalf("same-origin post: %d %s", r.status, r.body)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), cb+"?") || !strings.HasPrefix(q.Get("code"), codePrefix) || q.Get("state") != "st-1" || q.Get("iss") != f.srv.URL {
		t.Errorf("approve redirect %s", loc)
	}
	if strings.Contains(loc.String(), goodKey) || r.header.Get("Set-Cookie") != "" || r.header.Get("X-Frame-Options") != "DENY" {
		t.Error("the redirect carries the key or a cookie, or lacks the page headers")
	}
	// A program without Sec-Fetch-Site: Origin must be the issuer.
	if r := f.postForm(PathAuthorize, form, "Origin", f.srv.URL); r.status != http.StatusSeeOther {
		t.Errorf("issuer origin: %d", r.status)
	}
	// Wrong keys show the page again with the reason, never the key.
	for key, want := range map[string]string{
		"not-a-key":   "not an AIsa API key",
		refusedKey:    "refused this key",
		downKey:       "could not be checked",
		"sk-aisa- x ": "not an AIsa API key",
	} {
		r := f.approve(req, key)
		if r.status == http.StatusSeeOther || r.header.Get("Location") != "" || !strings.Contains(r.body, want) || !hiddenRe.MatchString(r.body) {
			t.Errorf("%q: %d %s", key, r.status, r.body)
		}
		if strings.Contains(r.body, key) {
			t.Errorf("the page echoes the key %q", key)
		}
	}
	// Deny goes back with access_denied.
	r = f.postForm(PathAuthorize, url.Values{"request": {req}, "action": {"deny"}}, "Sec-Fetch-Site", "same-origin")
	loc, _ = url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" || loc.Query().Get("iss") != f.srv.URL {
		t.Errorf("deny: %d %s", r.status, loc)
	}
	// A tampered request, or one past its time, is refused.
	if r := f.approve(req[:len(req)-4]+"AAAA", goodKey); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
		t.Errorf("tampered request: %d", r.status)
	}
	f.clock.Add(FormTTL + time.Second)
	if r := f.approve(req, goodKey); r.status != http.StatusBadRequest || !strings.Contains(r.body, "expired") {
		t.Errorf("expired form: %d %s", r.status, r.body)
	}
	if strings.Contains(f.logs.String(), goodKey) {
		t.Error("the key was logged")
	}
}
