package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

func TestCodeExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, code := f.code()
	other, _ := f.register([]string{cb}, "Other")

	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"wrong verifier":   {url.Values{"code_verifier": {strings.Replace(verifier, "v", "w", 1)}}, "invalid_grant"},
		"short verifier":   {url.Values{"code_verifier": {"abc"}}, "invalid_grant"},
		"no verifier":      {url.Values{"code_verifier": {""}}, "invalid_grant"},
		"other client":     {url.Values{"client_id": {other}}, "invalid_grant"},
		"no client":        {url.Values{"client_id": {""}}, "invalid_request"},
		"other redirect":   {url.Values{"redirect_uri": {"http://127.0.0.1:7777/other"}}, "invalid_grant"},
		"foreign resource": {url.Values{"resource": {"https://other.example/mcp"}}, "invalid_target"},
		"tampered code":    {url.Values{"code": {code[:len(code)-4] + "AAAA"}}, "invalid_grant"},
		"access as code":   {url.Values{"code": {"xfat_" + strings.TrimPrefix(code, codePrefix)}}, "invalid_grant"},
		"wrong grant":      {url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
	} {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {id}, "redirect_uri": {cb}, "code_verifier": {verifier}}
		for k, v := range tc.form {
			form[k] = v
		}
		r := f.postForm(PathToken, form)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"error":"`+tc.want+`"`) || strings.Contains(r.body, "access_token") {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// The failed attempts did not use the code up.
	tk, r := f.exchange(id, code, verifier)
	if r.status != http.StatusOK || tk.Type != "Bearer" || tk.Expires != 3600 || tk.Scope != Scope || tk.Access == "" || tk.Refresh == "" {
		t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("token answer is cacheable")
	}
	for _, tok := range []string{tk.Access, tk.Refresh, code, id} {
		if strings.HasPrefix(tok, "sk-aisa-") || strings.Contains(tok, goodKey) {
			t.Errorf("a token begins with sk-aisa- or holds the key: %.20s", tok)
		}
	}
	if key, ok := f.s.Verify(tk.Access); !ok || key != goodKey {
		t.Fatalf("verify: %v", ok)
	}
	// Used once: the second exchange fails and takes the first one's
	// refresh token with it.
	if _, r := f.exchange(id, code, verifier); r.status != http.StatusBadRequest || !strings.Contains(r.body, "already used") {
		t.Errorf("reused code: %d %s", r.status, r.body)
	}
	if _, r := f.refresh(id, tk.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("the refresh token of a reused code still works: %s", r.body)
	}
	// Codes live five minutes.
	id2, code2 := f.code()
	f.clock.Add(CodeTTL + time.Second)
	if _, r := f.exchange(id2, code2, verifier); r.status != http.StatusBadRequest || !strings.Contains(r.body, "expired") {
		t.Errorf("expired code: %d %s", r.status, r.body)
	}
	// Without a resource, and without redirect_uri when the request had
	// none, the exchange works too.
	id3, _ := f.register([]string{cb}, "App")
	r = f.approve(f.consentForm(id3, url.Values{"resource": nil, "redirect_uri": nil}), goodKey)
	loc, _ := url.Parse(r.header.Get("Location"))
	r = f.postForm(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {id3}, "code_verifier": {verifier}})
	if r.status != http.StatusOK {
		t.Errorf("minimal exchange: %d %s", r.status, r.body)
	}
	if strings.Contains(f.logs.String(), goodKey) {
		t.Error("the key was logged")
	}
}

func TestAccessTokenVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, code := f.code()
	tk, _ := f.exchange(id, code, verifier)
	if _, ok := f.s.Verify(tk.Access); !ok {
		t.Fatal("a fresh token does not verify")
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// A server for another resource, with the same secret: its tokens are
	// sealed under the same key but name another audience.
	elsewhere := newFixture(t, nil)
	eid, ecode := elsewhere.code()
	etk, _ := elsewhere.exchange(eid, ecode, verifier)
	// Another secret.
	other := newFixture(t, func(o *Options) { o.Secret, _ = secret.Parse(strings.Repeat("q", 40)) })
	oid, ocode := other.code()
	otk, _ := other.exchange(oid, ocode, verifier)
	for name, bearer := range map[string]string{
		"raw AIsa key":        goodKey,
		"refresh token":       tk.Refresh,
		"code":                code,
		"client id":           id,
		"tampered middle":     flip(tk.Access, len(tk.Access)/2),
		"tampered end":        flip(tk.Access, len(tk.Access)-2), // the last character may hold only padding bits
		"cut":                 tk.Access[:len(tk.Access)-10],
		"no prefix":           strings.TrimPrefix(tk.Access, accessPrefix),
		"wrong audience":      etk.Access,
		"another secret":      otk.Access,
		"sealed for the code": accessPrefix + strings.TrimPrefix(code, codePrefix),
		"empty":               "",
	} {
		if key, ok := f.s.Verify(bearer); ok || key != "" {
			t.Errorf("%s verified", name)
		}
	}
	f.clock.Add(AccessTTL)
	if _, ok := f.s.Verify(tk.Access); ok {
		t.Error("an expired token verified")
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, code := f.code()
	first, _ := f.exchange(id, code, verifier)
	f.clock.Add(2 * time.Hour) // the access token has expired; the refresh token has not
	second, r := f.refresh(id, first.Refresh)
	if r.status != http.StatusOK || second.Refresh == first.Refresh || second.Access == "" {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if key, ok := f.s.Verify(second.Access); !ok || key != goodKey {
		t.Fatal("the refreshed access token does not carry the key")
	}
	third, r := f.refresh("", second.Refresh) // client_id may be left out
	if r.status != http.StatusOK {
		t.Fatalf("second refresh: %s", r.body)
	}
	// The old one comes back: the whole family is revoked, the newest too.
	if _, r := f.refresh(id, first.Refresh); r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid_grant") {
		t.Errorf("reuse: %d %s", r.status, r.body)
	}
	if _, r := f.refresh(id, third.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("the newest token of a revoked family still works: %s", r.body)
	}
	// Another client may not use a client's refresh token.
	id2, code2 := f.code()
	tk2, _ := f.exchange(id2, code2, verifier)
	other, _ := f.register([]string{cb}, "Other")
	if _, r := f.refresh(other, tk2.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("another client's refresh: %s", r.body)
	}
	// After 30 days a refresh token is gone.
	id3, code3 := f.code()
	tk3, _ := f.exchange(id3, code3, verifier)
	f.clock.Add(RefreshTTL + time.Second)
	if _, r := f.refresh(id3, tk3.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("a 30-day-old refresh token worked: %s", r.body)
	}
	for _, bad := range []string{"", "xfrt_nope", goodKey} {
		if _, r := f.refresh(id, bad); r.status != http.StatusBadRequest {
			t.Errorf("%q: %s", bad, r.body)
		}
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id, code := f.code()
	tk, _ := f.exchange(id, code, verifier)
	next, _ := f.refresh(id, tk.Refresh)
	// Revoking the access token answers 200 (it expires within the hour).
	if r := f.postForm(PathRevoke, url.Values{"token": {next.Access}}); r.status != http.StatusOK {
		t.Errorf("revoke access: %d", r.status)
	}
	if r := f.postForm(PathRevoke, url.Values{"token": {"xfrt_unknown"}, "token_type_hint": {"refresh_token"}}); r.status != http.StatusOK {
		t.Errorf("revoke unknown: %d", r.status)
	}
	if r := f.postForm(PathRevoke, url.Values{}); r.status != http.StatusBadRequest {
		t.Errorf("revoke nothing: %d", r.status)
	}
	if r := f.postForm(PathRevoke, url.Values{"token": {next.Refresh}}); r.status != http.StatusOK {
		t.Fatalf("revoke refresh: %d", r.status)
	}
	if _, r := f.refresh(id, next.Refresh); r.status != http.StatusBadRequest {
		t.Errorf("a revoked refresh token worked: %s", r.body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *Options) {
		o.RegisterPerMinute, o.AuthorizePerMinute = 3, 2
		o.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Test-Addr") }
	})
	reg := func(addr string) int {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+PathRegister, strings.NewReader(`{"redirect_uris":["`+cb+`"]}`))
		req.Header.Set("X-Test-Addr", addr)
		return f.do(req).status
	}
	for i := range 3 {
		if s := reg("a"); s != http.StatusCreated {
			t.Fatalf("register %d: %d", i, s)
		}
	}
	if s := reg("a"); s != http.StatusTooManyRequests {
		t.Errorf("4th register: %d", s)
	}
	if s := reg("b"); s != http.StatusCreated {
		t.Errorf("another address: %d", s)
	}
	f.clock.Add(time.Minute)
	if s := reg("a"); s != http.StatusCreated {
		t.Errorf("after a minute: %d", s)
	}
	id, _ := f.register([]string{cb}, "x")
	auth := func() int {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+f.authorizeURL(id, nil), nil)
		req.Header.Set("X-Test-Addr", "c")
		return f.do(req).status
	}
	auth()
	auth()
	if s := auth(); s != http.StatusTooManyRequests {
		t.Errorf("3rd authorize: %d", s)
	}

	// The map of addresses is bounded.
	l := newLimiter(1, time.Minute, 3, f.clock.Now)
	for _, a := range []string{"1", "2", "3"} {
		if !l.allow(a) {
			t.Fatal(a)
		}
	}
	if l.allow("4") || l.size() != 3 {
		t.Errorf("a full limiter took a new address: %d", l.size())
	}
	f.clock.Add(time.Minute)
	if !l.allow("4") || l.size() != 1 {
		t.Errorf("expired windows were not dropped: %d", l.size())
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.7:5000", nil, "203.0.113.7"},
		{"203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"}, // a public peer's header is not believed
		{"127.0.0.1:5000", nil, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"spoofed, 198.51.100.2"}, "198.51.100.2"},
		{"[::1]:5000", []string{"1.1.1.1", "2001:db8::5"}, "2001:db8::/64"},
		{"10.1.2.3:5000", []string{"not an address"}, "10.1.2.3"},
		{"[::ffff:10.0.0.9]:1", []string{"::ffff:198.51.100.3"}, "198.51.100.3"},
		// One IPv6 client holds a whole /64: rotating the low bits must not
		// give it a fresh window (nor fill the limiter's map).
		{"[2001:db8:1:2::7]:5000", nil, "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:5000", nil, "2001:db8:1:2::/64"},
		{"[::1]:5000", []string{"2001:db8:1:2:ffff::9"}, "2001:db8:1:2::/64"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientAddr(r); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// One person who consented once could loop on /token: every refresh leaves
// two entries for 30 days (some 700 bytes), thousands a second. The
// in-memory store is bounded; past the bound /token answers 503 and the
// process keeps serving.
func TestMemoryStoreIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ms := f.store.(*MemoryStore)
	ms.max = 40
	id, code := f.code()
	tk, r := f.exchange(id, code, verifier)
	if r.status != http.StatusOK {
		t.Fatal(r.body)
	}
	refused := false
	for range 100 {
		next, r := f.refresh(id, tk.Refresh)
		if r.status == http.StatusServiceUnavailable && strings.Contains(r.body, "temporarily_unavailable") {
			refused = true
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		tk = next
	}
	ms.mu.Lock()
	n := len(ms.entries)
	ms.mu.Unlock()
	if !refused || n > ms.max {
		t.Fatalf("refused %v, %d entries for a bound of %d", refused, n, ms.max)
	}
	if !strings.Contains(f.logs.String(), "--state") {
		t.Errorf("the log does not say what to do:\n%s", f.logs.String())
	}
	// Once entries expire, the store takes new ones again.
	f.clock.Add(RefreshTTL + 2*time.Hour)
	id, code = f.code()
	if _, r := f.exchange(id, code, verifier); r.status != http.StatusOK {
		t.Errorf("after expiry: %d %s", r.status, r.body)
	}
}
