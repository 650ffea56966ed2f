package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// checkKeyTimeout bounds the gateway read that checks a key on the consent
// page: the person is waiting for the page.
const checkKeyTimeout = 15 * time.Second

// authRequest is a checked authorization request. The consent form carries
// it sealed (and expiring); the code carries it too, with the key.
type authRequest struct {
	ClientID      string `json:"c"`
	RedirectURI   string `json:"r"`
	RedirectGiven bool   `json:"rg,omitempty"` // the request named redirect_uri (so /token must repeat it)
	State         string `json:"s,omitempty"`
	Challenge     string `json:"pc"`
	Expires       int64  `json:"e"`
}

// code is what an authorization code carries, sealed: any replica can
// exchange it; the store only remembers that its ID was used.
type code struct {
	authRequest
	ID  string `json:"i"`
	Key string `json:"k"`
}

var (
	formAAD = []byte("form")
	codeAAD = []byte("code")
)

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, http.StatusMethodNotAllowed, "This address takes GET (the consent page) and POST (its form) only.")
		return
	}
	if !s.authorizeLimit.allow(s.o.ClientAddr(r)) {
		w.Header().Set("Retry-After", "60")
		s.errorPage(w, http.StatusTooManyRequests, "Too many requests from your address. Wait a minute, then start again from your app.")
		return
	}
	if r.Method == http.MethodPost {
		s.consent(w, r)
		return
	}
	q := r.URL.Query()
	c, clientID, ok := s.requestClient(w, q)
	if !ok {
		return
	}
	redirect, given, ok := s.requestRedirect(w, q, c)
	if !ok {
		return
	}
	// From here on the client and its redirect are known: errors go back
	// to the client (RFC 6749 4.1.2.1), but only when the person follows a
	// link. Anyone can register a client with a redirect of their choosing,
	// so redirecting an erroneous request automatically would make this
	// server an open redirector for any site (RFC 9700 4.11.2).
	state := q.Get("state")
	fail := func(code, desc string) {
		s.errorBackPage(w, redirect, desc, url.Values{"error": {code}, "error_description": {desc}, "state": {state}})
	}
	switch {
	case len(q["state"]) > 1 || len(state) > 2048:
		fail("invalid_request", "state must be given at most once and be at most 2048 characters")
	case q.Get("response_type") != "code" || len(q["response_type"]) != 1:
		fail("unsupported_response_type", "only response_type=code is supported")
	case q.Get("code_challenge") == "":
		fail("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256")
	case q.Get("code_challenge_method") != "S256" || len(q["code_challenge_method"]) != 1:
		fail("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
	case !validPKCE(q.Get("code_challenge")) || len(q["code_challenge"]) != 1:
		fail("invalid_request", "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	case len(q["resource"]) > 1 || (len(q["resource"]) == 1 && q.Get("resource") != s.Resource()):
		fail("invalid_target", "this server issues tokens only for the resource "+s.Resource())
	default:
		req := authRequest{ClientID: clientID, RedirectURI: redirect, RedirectGiven: given, State: state,
			Challenge: q.Get("code_challenge"), Expires: s.o.Now().Add(FormTTL).Unix()}
		s.consentPage(w, http.StatusOK, c, req, "")
	}
}

// requestClient opens the client_id; an unknown one gets an error page.
func (s *Server) requestClient(w http.ResponseWriter, q url.Values) (client, string, bool) {
	id := q.Get("client_id")
	c, ok := s.openClient(id)
	if len(q["client_id"]) != 1 || !ok {
		s.errorPage(w, http.StatusBadRequest, "The app that sent you here is not registered with this server (its client id is unknown or from an older secret). Go back to the app and connect again.")
		return client{}, "", false
	}
	return c, id, true
}

// requestRedirect picks the redirect URI; one the client did not register
// gets an error page, never a redirect.
func (s *Server) requestRedirect(w http.ResponseWriter, q url.Values, c client) (string, bool, bool) {
	switch len(q["redirect_uri"]) {
	case 0:
		if len(c.RedirectURIs) == 1 {
			return c.RedirectURIs[0], false, true
		}
		s.errorPage(w, http.StatusBadRequest, "The request names no redirect_uri and the app registered several. Go back to the app and connect again.")
		return "", false, false
	case 1:
		if u := q.Get("redirect_uri"); matchRedirect(c.RedirectURIs, u) {
			return u, true, true
		}
	}
	s.errorPage(w, http.StatusBadRequest, "The address this request would send you back to is not one the app registered, so you are not sent there. Go back to the app and connect again.")
	return "", false, false
}

// consent handles the consent form's POST.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		s.errorPage(w, http.StatusForbidden, "This form may only be sent from this server's own consent page. Start again from your app.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The form could not be read. Start again from your app.")
		return
	}
	var req authRequest
	raw, err := s.form.Open(r.PostForm.Get("request"), formAAD)
	if err != nil || json.Unmarshal(raw, &req) != nil {
		s.errorPage(w, http.StatusBadRequest, "This form was not made by this server. Start again from your app.")
		return
	}
	if s.o.Now().Unix() >= req.Expires {
		s.errorPage(w, http.StatusBadRequest, "This consent page has expired. Go back to your app and connect again.")
		return
	}
	c, ok := s.openClient(req.ClientID)
	if !ok {
		s.errorPage(w, http.StatusBadRequest, "The app is no longer registered with this server. Go back to the app and connect again.")
		return
	}
	switch r.PostForm.Get("action") {
	case "deny":
		s.o.Logger.Info("oauth consent denied", "client_name", c.Name)
		s.redirect(w, r, req.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"the person denied access"}, "state": {req.State}})
		return
	case "approve":
	default:
		s.errorPage(w, http.StatusBadRequest, "Choose Approve or Deny.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("aisa_key"))
	if !s.o.KeyFormat(key) {
		s.consentPage(w, http.StatusBadRequest, c, req, "That is not an AIsa API key: a key starts with sk-aisa- and has no spaces. Copy it again from your AIsa dashboard.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), checkKeyTimeout)
	err = s.o.CheckKey(ctx, key)
	cancel()
	switch {
	case errors.Is(err, ErrKeyRefused):
		s.consentPage(w, http.StatusBadRequest, c, req, "The AIsa gateway refused this key. Check that you copied the whole key and that it is still active, then try again.")
		return
	case err != nil:
		s.o.Logger.Warn("oauth consent: the key could not be checked", "err", err)
		s.consentPage(w, http.StatusServiceUnavailable, c, req, "The key could not be checked just now: the AIsa gateway did not answer. Try again in a moment.")
		return
	}
	cd := code{authRequest: req, ID: randomID(), Key: key}
	cd.Expires = s.o.Now().Add(CodeTTL).Unix()
	b, _ := json.Marshal(cd)
	s.o.Logger.Info("oauth consent approved", "client_name", c.Name)
	s.redirect(w, r, req.RedirectURI, url.Values{"code": {codePrefix + s.code.Seal(b, codeAAD)}, "state": {req.State}})
}

// sameOrigin reports whether a form POST came from this server's own page.
// Browsers send Sec-Fetch-Site; Chromium sends Origin: null for a form on a
// page with Referrer-Policy: no-referrer, so Sec-Fetch-Site: same-origin is
// what tells. Without Sec-Fetch-Site (an older browser, or a program), the
// Origin must be the issuer.
func (s *Server) sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Values("Sec-Fetch-Site"); len(sfs) > 0 {
		return len(sfs) == 1 && sfs[0] == "same-origin"
	}
	origins := r.Header.Values("Origin")
	return len(origins) == 1 && strings.EqualFold(origins[0], s.Issuer())
}

// redirect sends the browser back to the client with params and iss
// (RFC 9207): 303 after the form's POST, 302 after a GET.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string, params url.Values) {
	pageHeaders(w)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Location", s.backURL(to, params))
	w.WriteHeader(status)
}

// backURL is the client's redirect URI with params and iss (RFC 9207).
func (s *Server) backURL(to string, params url.Values) string {
	u, _ := url.Parse(to) // checked at registration
	q := u.Query()
	for k, vs := range params {
		if len(vs) == 1 && vs[0] == "" {
			continue
		}
		q[k] = vs
	}
	q.Set("iss", s.Issuer())
	u.RawQuery = q.Encode()
	return u.String()
}

// errorBackPage says why the client's request was refused, and links back
// to the client with the error for the person to follow.
func (s *Server) errorBackPage(w http.ResponseWriter, to, msg string, params url.Values) {
	host := to
	if u, err := url.Parse(to); err == nil {
		host = u.Host
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorBackTmpl.Execute(w, map[string]string{"Problem": msg, "Host": host, "Back": s.backURL(to, params)})
}

// pageHeaders are sent with every page and redirect of the consent flow:
// no framing, no caching, no referrer; no form-action, which Chrome would
// apply to the redirect back to the client.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (s *Server) consentPage(w http.ResponseWriter, status int, c client, req authRequest, problem string) {
	sealed, _ := json.Marshal(req)
	host := req.RedirectURI
	if u, err := url.Parse(req.RedirectURI); err == nil {
		host = u.Host
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = consentTmpl.Execute(w, map[string]any{
		"Name":     c.Name,
		"Host":     host,
		"Redirect": req.RedirectURI,
		"Request":  s.form.Seal(sealed, formAAD),
		"Problem":  problem,
		"Action":   PathAuthorize,
	})
}

func (s *Server) errorPage(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorTmpl.Execute(w, msg)
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// validPKCE checks a code challenge or verifier: 43 to 128 characters of
// the unreserved set (RFC 7636 4.1).
func validPKCE(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

const pageStyle = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#111}
.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem}.host{font-size:1.35rem;font-weight:700;word-break:break-all}
.warn{color:#8a4b00}.problem{background:#fde8e8;border:1px solid #e0a0a0;padding:.5rem .75rem;border-radius:6px}
input[type=password]{width:100%;font-size:1rem;padding:.4rem;box-sizing:border-box}button{font-size:1rem;padding:.45rem 1.1rem;margin-right:.5rem}`

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Connect an app to xfollow-mcp</title><style>` + pageStyle + `</style></head><body>
<h1>Connect an app to xfollow-mcp</h1>
<div class="box">
<p>An app calling itself <strong>{{if .Name}}{{.Name}}{{else}}(no name){{end}}</strong> <span class="warn">(name given by the app, not verified)</span> asks to manage who your X account follows: read your followings and followers, unfollow and follow, through your AIsa API key.</p>
<p>If you approve, you will be sent back to:</p>
<p class="host">{{.Host}}</p>
<p><small>{{.Redirect}}</small></p>
<p>Only approve if you started this from that app just now.</p>
</div>
{{if .Problem}}<p class="problem" role="alert">{{.Problem}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<p><label for="aisa_key">Your AIsa API key (starts with sk-aisa-)</label><br>
<input type="password" id="aisa_key" name="aisa_key" autocomplete="off" spellcheck="false"></p>
<p>The key is checked with the AIsa gateway, then kept only inside the tokens this server gives the app, encrypted. It is not stored readable and no cookie remembers it.</p>
<p><button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny" formnovalidate>Deny</button></p>
</form>
</body></html>
`))

var errorBackTmpl = template.Must(template.New("error-back").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>xfollow-mcp: cannot connect</title><style>` + pageStyle + `</style></head><body>
<h1>Cannot connect</h1>
<p>The app's request was refused: it would send you back to</p>
<p class="host">{{.Host}}</p>
<p class="problem" role="alert">{{.Problem}}</p>
<p>If you started this from that app just now, <a class="back" href="{{.Back}}">return to it</a> to tell it so. Otherwise close this page.</p>
</body></html>
`))

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>xfollow-mcp: cannot connect</title><style>` + pageStyle + `</style></head><body>
<h1>Cannot connect</h1>
<p class="problem" role="alert">{{.}}</p>
</body></html>
`))
