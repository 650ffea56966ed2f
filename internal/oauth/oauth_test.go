package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// goodKey is recognisable, so that tests can prove it never leaks.
const (
	goodKey    = "sk-aisa-OAUTH-UNIT-LEAKCHECK-9f2c"
	refusedKey = "sk-aisa-refused-by-the-gateway"
	downKey    = "sk-aisa-gateway-does-not-answer"
	testSecret = "0123456789abcdef0123456789abcdef-oauth-test"
	verifier   = "verifier-0123456789-0123456789-0123456789-abcdef"
)

func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return b64.EncodeToString(sum[:])
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func keyFormat(s string) bool {
	return strings.HasPrefix(s, "sk-aisa-") && len(s) >= 16 && !strings.ContainsAny(s, " \t")
}

func checkKey(_ context.Context, key string) error {
	switch key {
	case refusedKey:
		return ErrKeyRefused
	case downKey:
		return errors.New("gateway_unavailable")
	}
	return nil
}

// fixture is one server on an httptest listener (the issuer is its
// loopback address, as with --http 127.0.0.1:0 and no --public-url).
type fixture struct {
	t     *testing.T
	s     *Server
	srv   *httptest.Server
	clock *clock
	store Store
	logs  *logBuffer
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	ring, err := secret.Parse(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: &clock{t: time.Unix(1_800_000_000, 0)}, logs: &logBuffer{}}
	f.store = NewMemoryStore(f.clock.Now)
	o := Options{Secret: ring, Store: f.store, KeyFormat: keyFormat, CheckKey: checkKey, Now: f.clock.Now,
		Logger: newTestLogger(f.logs)}
	if mod != nil {
		mod(&o)
	}
	f.store = o.Store
	f.s, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.s)
	t.Cleanup(f.srv.Close)
	f.s.Listening(f.srv.Listener.Addr())
	return f
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type resp struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(req *http.Request) resp {
	f.t.Helper()
	res, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

func (f *fixture) get(path string) resp {
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	return f.do(req)
}

func (f *fixture) postForm(path string, v url.Values, hdr ...string) resp {
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(req)
}

func (f *fixture) register(redirects []string, name string) (string, resp) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"redirect_uris": redirects, "client_name": name})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+PathRegister, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	r := f.do(req)
	var out struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal([]byte(r.body), &out)
	return out.ClientID, r
}

const cb = "http://127.0.0.1:7777/callback"

func (f *fixture) authorizeURL(clientID string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {cb}, "response_type": {"code"},
		"code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"}, "state": {"st-1"},
		"resource": {f.s.Resource()}, "scope": {Scope}}
	for k, v := range extra {
		if v == nil {
			delete(q, k)
			continue
		}
		q[k] = v
	}
	return PathAuthorize + "?" + q.Encode()
}

var hiddenRe = regexp.MustCompile(`name="request" value="([^"]+)"`)

// consentForm GETs the consent page and returns its sealed request.
func (f *fixture) consentForm(clientID string, extra url.Values) string {
	f.t.Helper()
	r := f.get(f.authorizeURL(clientID, extra))
	m := hiddenRe.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		f.t.Fatalf("consent page: %d %s", r.status, r.body)
	}
	return m[1]
}

func (f *fixture) approve(request, key string) resp {
	return f.postForm(PathAuthorize, url.Values{"request": {request}, "aisa_key": {key}, "action": {"approve"}}, "Sec-Fetch-Site", "same-origin")
}

// code runs registration and consent and returns the client and the code.
func (f *fixture) code() (string, string) {
	f.t.Helper()
	id, _ := f.register([]string{cb}, "Test Client")
	r := f.approve(f.consentForm(id, nil), goodKey)
	if r.status != http.StatusSeeOther {
		f.t.Fatalf("approve: %d %s", r.status, r.body)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	return id, loc.Query().Get("code")
}

type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	Type    string `json:"token_type"`
	Expires int    `json:"expires_in"`
	Scope   string `json:"scope"`
	Error   string `json:"error"`
}

func (f *fixture) exchange(clientID, code, verifier string) (tokens, resp) {
	r := f.postForm(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {cb}, "code_verifier": {verifier}, "resource": {f.s.Resource()}})
	var tk tokens
	_ = json.Unmarshal([]byte(r.body), &tk)
	return tk, r
}

func (f *fixture) refresh(clientID, rt string) (tokens, resp) {
	r := f.postForm(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}})
	var tk tokens
	_ = json.Unmarshal([]byte(r.body), &tk)
	return tk, r
}
