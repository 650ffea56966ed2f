package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// oauthSecret is the XFOLLOW_SECRET of the --oauth servers below.
const oauthSecret = "e2e-oauth-secret-0123456789abcdef-LEAKCHECK-71b2"

// consentKey is the AIsa key person n types on the consent page.
func consentKey(n int) string { return fmt.Sprintf("sk-aisa-E2E-CONSENT-%02d-LEAKCHECK", n) }

// refusedConsentKey is refused by refusingGateway.
const refusedConsentKey = "sk-aisa-E2E-CONSENT-REFUSED-LEAKCHECK"

// startOAuth starts `xfollow-mcp --http 127.0.0.1:0 --oauth` against gw, or
// with --sandbox when gw is nil. Its output must never hold the secret or
// a consent key.
func startOAuth(t *testing.T, gw *gateway, args []string, env ...string) *httpServer {
	t.Helper()
	a := []string{"--oauth"}
	if gw == nil {
		a = append(a, "--sandbox")
	}
	return startHTTP(t, gw, serverOpts{args: append(a, args...), noKey: true, env: append([]string{"XFOLLOW_SECRET=" + oauthSecret}, env...)},
		oauthSecret, consentKey(1), consentKey(2), consentKey(3), refusedConsentKey)
}

var (
	noFollow   = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	formReqRe  = regexp.MustCompile(`name="request" value="([^"]+)"`)
	formActRe  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	pkceRandom = func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
)

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// fillConsent plays the person: it opens the authorization URL, types key
// into the consent form and approves, the way a browser without
// JavaScript would (a program sends Origin instead of Sec-Fetch-Site). It
// returns where the server sent the browser.
func fillConsent(t *testing.T, authURL, key string, hdr ...string) (*url.URL, rawResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, authURL, nil)
	page := do(t, noFollow, req)
	req2, ok := consentPost(t, authURL, page, key, hdr...)
	if !ok {
		return nil, page
	}
	r := do(t, noFollow, req2)
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || r.Header.Get("Location") == "" {
		return nil, r
	}
	return loc, r
}

// consentPost builds the form's POST from a consent page.
func consentPost(t *testing.T, authURL string, page rawResponse, key string, hdr ...string) (*http.Request, bool) {
	t.Helper()
	m, act := formReqRe.FindStringSubmatch(page.Body), formActRe.FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil || act == nil {
		return nil, false
	}
	u, _ := url.Parse(authURL)
	origin := u.Scheme + "://" + u.Host
	form := url.Values{"request": {m[1]}, "aisa_key": {key}, "action": {"approve"}}
	req, _ := http.NewRequest(http.MethodPost, origin+act[1], strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req, true
}

// consentFetcher is the Go SDK's AuthorizationCodeFetcher for a person who
// approves with key.
func consentFetcher(t *testing.T, key string, calls *atomic.Int32) auth.AuthorizationCodeFetcher {
	return func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		calls.Add(1)
		loc, r := fillConsent(t, args.URL, key)
		if loc == nil {
			return nil, fmt.Errorf("consent did not redirect: %d %.300s", r.Status, r.Body)
		}
		q := loc.Query()
		if q.Get("code") == "" {
			return nil, fmt.Errorf("no code: %s", loc)
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}

// TestOAuthGoSDKStrictClient: the official Go SDK's OAuth client (which
// checks the resource, the issuer, PKCE support and the iss parameter)
// discovers the server from its first 401, registers, gets a code through
// the consent page and calls every tool; every gateway call carries the key
// given on the consent page, and the journal records its fingerprint.
func TestOAuthGoSDKStrictClient(t *testing.T) {
	t.Parallel()
	rec := newRecordingGateway(t, sandbox.Options{})
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	s := startOAuth(t, rec.gateway, []string{"--journal", journal, "--log-level", "debug"})
	var fetches atomic.Int32
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{"http://127.0.0.1:1/callback"}, ClientName: "go-sdk e2e",
			GrantTypes: []string{"authorization_code", "refresh_token"},
		}},
		AuthorizationCodeFetcher: consentFetcher(t, consentKey(1), &fetches),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "xfollow-e2e-oauth", Version: "0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.URL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, s.stderr.String())
	}
	defer session.Close()
	p := &proc{t: t, session: session, stderr: s.stderr}
	exerciseEveryTool(t, p, rec.gateway, "2026-07-28")
	if n := fetches.Load(); n != 1 {
		t.Errorf("the person was asked %d times, want once", n)
	}
	calls := rec.Calls()
	if len(calls) < 10 {
		t.Fatalf("only %d gateway calls", len(calls))
	}
	for _, cl := range calls {
		if cl.Auth != "Bearer "+consentKey(1) || (cl.HasBody && cl.BodyKey != consentKey(1)) {
			t.Fatalf("a gateway call to %s carried %q, want the consent key", cl.Path, cl.Auth)
		}
	}
	recs := journalRecords(t, journal)
	raw, _ := os.ReadFile(journal)
	if len(recs) == 0 || recs[0].KeyFingerprint != aisa.KeyFingerprint(consentKey(1)) || strings.Contains(string(raw), consentKey(1)) || strings.Contains(string(raw), "xfat_") {
		t.Errorf("journal: %d records, fingerprint %q; or it holds the key or a token", len(recs), recs[0].KeyFingerprint)
	}
}

// oauthClient is a registered client driven by hand over HTTP.
type oauthClient struct {
	t        *testing.T
	base     string // where /register, /authorize and /token are reached
	id       string
	redirect string
}

func register(t *testing.T, base, redirect, name string) *oauthClient {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"redirect_uris": []string{redirect}, "client_name": name})
	req, _ := http.NewRequest(http.MethodPost, base+"/register", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	r := do(t, noFollow, req)
	var out struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil || r.Status != http.StatusCreated || out.ClientID == "" {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	return &oauthClient{t: t, base: base, id: out.ClientID, redirect: redirect}
}

func (c *oauthClient) authURL(resource, verifier, state string) string {
	q := url.Values{"client_id": {c.id}, "redirect_uri": {c.redirect}, "response_type": {"code"}, "state": {state},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}, "resource": {resource}}
	return c.base + "/authorize?" + q.Encode()
}

type tokenAnswer struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	Error   string `json:"error"`
}

func tokenRequest(t *testing.T, base string, form url.Values) (tokenAnswer, rawResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := do(t, noFollow, req)
	var tk tokenAnswer
	_ = json.Unmarshal([]byte(r.Body), &tk)
	return tk, r
}

func (c *oauthClient) exchange(base, code, verifier string) (tokenAnswer, rawResponse) {
	return tokenRequest(c.t, base, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {c.id},
		"redirect_uri": {c.redirect}, "code_verifier": {verifier}})
}

func (c *oauthClient) refresh(base, rt string) (tokenAnswer, rawResponse) {
	return tokenRequest(c.t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.id}})
}

// consentCode runs the consent page with key and returns the code.
func (c *oauthClient) consentCode(resource, key, verifier string, hdr ...string) string {
	c.t.Helper()
	loc, r := fillConsent(c.t, c.authURL(resource, verifier, "e2e-state"), key, hdr...)
	if loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "e2e-state" {
		c.t.Fatalf("consent: %v %d %.300s", loc, r.Status, r.Body)
	}
	return loc.Query().Get("code")
}

// TestOAuthRefusalsEndToEnd: the binary's /mcp answers 401 with the
// metadata's address, refuses a raw AIsa key, keeps its Origin rules, and
// the consent flow refuses what it must.
func TestOAuthRefusalsEndToEnd(t *testing.T) {
	t.Parallel()
	s := startOAuth(t, nil, nil)
	body := toolCall("get_x_user", map[string]any{"username": sandbox.MeUsername})
	r := rawPost(t, s.URL, body)
	wantRefusal(t, "no token", r, http.StatusUnauthorized)
	if got := r.Header.Get("WWW-Authenticate"); got != `Bearer resource_metadata="`+s.Base+`/.well-known/oauth-protected-resource/mcp", scope="xfollow"` {
		t.Errorf("challenge %q", got)
	}
	for _, bearer := range []string{consentKey(1), "xfat_k0.forged", httpToken} {
		r := rawPost(t, s.URL, body, "Authorization", "Bearer "+bearer)
		wantRefusal(t, "bearer", r, http.StatusUnauthorized)
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("challenge %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	// The MCP endpoint keeps its Origin rules, token or not.
	wantRefusal(t, "foreign origin", rawPost(t, s.URL, body, "Origin", "https://evil.example"), http.StatusForbidden)

	c := register(t, s.Base, "http://127.0.0.1:9/cb", "e2e")
	v := pkceRandom()
	// A redirect the client did not register: an error page, no Location.
	req, _ := http.NewRequest(http.MethodGet, strings.Replace(c.authURL(s.Base+"/mcp", v, "x"), url.QueryEscape("http://127.0.0.1:9/cb"), url.QueryEscape("https://evil.example/cb"), 1), nil)
	if r := do(t, noFollow, req); r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Errorf("mismatched redirect: %d %q", r.Status, r.Header.Get("Location"))
	}
	// A foreign resource is refused with invalid_target, on a page that
	// links back to the client: never an automatic redirect (anyone can
	// register a client, so that would be an open redirector).
	req, _ = http.NewRequest(http.MethodGet, c.authURL("https://other.example/mcp", v, "x"), nil)
	if r := do(t, noFollow, req); r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.Body, "error=invalid_target") {
		t.Errorf("foreign resource: %d %q", r.Status, r.Header.Get("Location"))
	}
	// A form posted from another site.
	if loc, r := fillConsent(t, c.authURL(s.Base+"/mcp", v, "x"), consentKey(1), "Origin", "https://evil.example"); loc != nil || r.Status != http.StatusForbidden {
		t.Errorf("cross-origin post: %v %d", loc, r.Status)
	}
	code := c.consentCode(s.Base+"/mcp", consentKey(1), v)
	if _, r := c.exchange(s.Base, code, pkceRandom()); r.Status != http.StatusBadRequest {
		t.Errorf("wrong verifier: %d %s", r.Status, r.Body)
	}
	tk, r := c.exchange(s.Base, code, v)
	if r.Status != http.StatusOK || tk.Access == "" {
		t.Fatalf("exchange: %d %s", r.Status, r.Body)
	}
	if _, r := c.exchange(s.Base, code, v); r.Status != http.StatusBadRequest {
		t.Errorf("reused code: %d", r.Status)
	}
	r = rawPost(t, s.URL, body, "Authorization", "Bearer "+tk.Access)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, sandbox.MeUsername) {
		t.Errorf("call with the token: %d %.300s", r.Status, r.Body)
	}
}

// refusingGateway is the sandbox, except that it refuses refusedConsentKey
// (and, once revoked is set, consentKey(3)) as the real gateway refuses a
// wrong key.
func refusingGateway(t *testing.T, revoked ...*atomic.Bool) *gateway {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "Bearer "+refusedConsentKey || (len(revoked) > 0 && revoked[0].Load() && auth == "Bearer "+consentKey(3)) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"type":"authentication_error","code":"invalid_api_key","message":"Invalid API key."}}`)
			return
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &gateway{Sandbox: sb, URL: srv.URL + sandbox.BasePath}
}

// TestOAuthConsentChecksTheKey: a key the gateway refuses shows the page
// again with the reason and issues no code; the right key then works.
func TestOAuthConsentChecksTheKey(t *testing.T) {
	t.Parallel()
	s := startOAuth(t, refusingGateway(t), nil)
	c := register(t, s.Base, "http://127.0.0.1:9/cb", "e2e")
	v := pkceRandom()
	loc, r := fillConsent(t, c.authURL(s.Base+"/mcp", v, "x"), refusedConsentKey)
	if loc != nil || r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "refused this key") || !formReqRe.MatchString(r.Body) {
		t.Fatalf("refused key: %v %d %.400s", loc, r.Status, r.Body)
	}
	if strings.Contains(r.Body, refusedConsentKey) {
		t.Error("the page shows the key again")
	}
	code := c.consentCode(s.Base+"/mcp", consentKey(2), v)
	if tk, r := c.exchange(s.Base, code, v); r.Status != http.StatusOK || tk.Access == "" {
		t.Fatalf("exchange: %s", r.Body)
	}
}

// TestOAuthKeyRevokedAfterConsent: a key the person revokes at AIsa after
// consenting makes each tool call fail with [auth_invalid], saying to
// connect the app again through the consent page; it is never a success.
func TestOAuthKeyRevokedAfterConsent(t *testing.T) {
	t.Parallel()
	var revoked atomic.Bool
	s := startOAuth(t, refusingGateway(t, &revoked), nil)
	c := register(t, s.Base, "http://127.0.0.1:9/cb", "e2e")
	v := pkceRandom()
	tk, r := c.exchange(s.Base, c.consentCode(s.Base+"/mcp", consentKey(3), v), v)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange: %s", r.Body)
	}
	body := toolCall("get_x_user", map[string]any{"username": sandbox.MeUsername})
	if r := rawPost(t, s.URL, body, "Authorization", "Bearer "+tk.Access); r.Status != http.StatusOK || strings.Contains(r.Body, `"isError":true`) {
		t.Fatalf("before the revocation: %d %.300s", r.Status, r.Body)
	}
	revoked.Store(true)
	r = rawPost(t, s.URL, body, "Authorization", "Bearer "+tk.Access)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"isError":true`) || !strings.Contains(r.Body, "[auth_invalid]") || !strings.Contains(r.Body, "consent page") {
		t.Errorf("after the revocation: %d %.600s", r.Status, r.Body)
	}
}
