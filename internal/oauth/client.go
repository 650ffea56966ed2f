package oauth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what a client may register: the client id carries all of it,
// and it travels in URLs.
const (
	maxRedirectURIs   = 5
	maxRedirectURILen = 512
	maxClientNameLen  = 100
	maxClientIDLen    = 4096 // what openClient accepts
)

// client is what a client id carries, sealed: nothing about clients is
// stored, so registration needs no storage and any replica opens the id.
type client struct {
	RedirectURIs []string `json:"r"`
	Name         string   `json:"n,omitempty"`
	IssuedAt     int64    `json:"t"`
}

var clientAAD = []byte("client")

func (s *Server) sealClient(c client) string {
	b, _ := json.Marshal(c)
	return clientPrefix + s.client.Seal(b, clientAAD)
}

// openClient returns the client an id names, or false for an id this
// server did not issue (or issued under a secret no longer configured).
func (s *Server) openClient(id string) (client, bool) {
	var c client
	rest, ok := strings.CutPrefix(id, clientPrefix)
	if !ok || len(id) > maxClientIDLen {
		return c, false
	}
	b, err := s.client.Open(rest, clientAAD)
	if err != nil || json.Unmarshal(b, &c) != nil || len(c.RedirectURIs) == 0 {
		return client{}, false
	}
	return c, true
}

// checkRedirectURI says why uri cannot be registered: it must be an
// absolute https URL, or an http URL on a loopback host (RFC 8252 7.3),
// without a fragment or credentials.
func checkRedirectURI(uri string) error {
	if len(uri) > maxRedirectURILen {
		return errors.New("a redirect URI is longer than 512 characters")
	}
	for i := 0; i < len(uri); i++ {
		if uri[i] <= ' ' || uri[i] > '~' {
			// A URI is ASCII (RFC 3986); the consent page shows this one,
			// and a host in another script or a bidi control would show
			// one place and send to another.
			return errors.New("a redirect URI must be printable ASCII (a host in punycode, other characters percent-encoded)")
		}
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errors.New("a redirect URI is not an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return errors.New("a redirect URI may not have a fragment")
	}
	if u.User != nil {
		return errors.New("a redirect URI may not carry credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return errors.New("a redirect URI must be https, or http on a loopback host (127.0.0.1, [::1] or localhost)")
	}
	return nil
}

// matchRedirect returns the registered URI that uri matches: exactly, or,
// for an http loopback URI, on everything but the port (RFC 8252 7.3).
func matchRedirect(registered []string, uri string) bool {
	if checkRedirectURI(uri) != nil {
		return false
	}
	for _, r := range registered {
		if r == uri {
			return true
		}
	}
	u, _ := url.Parse(uri)
	if u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return false
	}
	for _, r := range registered {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != "http" {
			continue
		}
		if strings.EqualFold(ru.Hostname(), u.Hostname()) && ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

type registration struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
}

// register is dynamic client registration (RFC 7591). Every client is a
// public client (token_endpoint_auth_method "none"): a client that asked
// for a secret is told so in the answer, as RFC 7591 3.2.1 allows.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if !s.registerLimit.allow(s.o.ClientAddr(r)) {
		tooMany(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client_metadata", "the registration is larger than 16 KiB or could not be read"})
		return
	}
	var reg registration
	if err := json.Unmarshal(body, &reg); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client_metadata", "the registration is not a JSON object of client metadata (RFC 7591)"})
		return
	}
	if len(reg.RedirectURIs) == 0 || len(reg.RedirectURIs) > maxRedirectURIs {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_redirect_uri", "give 1 to 5 redirect_uris"})
		return
	}
	for _, u := range reg.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_redirect_uri", err.Error()})
			return
		}
	}
	for _, g := range reg.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client_metadata", "grant_types may hold only authorization_code and refresh_token"})
			return
		}
	}
	for _, rt := range reg.ResponseTypes {
		if rt != "code" {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client_metadata", "response_types may hold only code"})
			return
		}
	}
	name := strings.TrimSpace(strings.Map(func(r rune) rune {
		// Control and format characters (bidi overrides, zero widths)
		// could reorder or hide the consent page's text around the name.
		if unicode.In(r, unicode.Cc, unicode.Cf) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, reg.ClientName))
	if !utf8.ValidString(name) {
		name = ""
	}
	if utf8.RuneCountInString(name) > maxClientNameLen {
		name = string([]rune(name)[:maxClientNameLen])
	}
	now := s.o.Now()
	c := client{RedirectURIs: reg.RedirectURIs, Name: name, IssuedAt: now.Unix()}
	id := s.sealClient(c)
	if len(id) > maxClientIDLen {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client_metadata", "the redirect URIs and the name are too long together: the client id that carries them would exceed 4096 characters; register fewer or shorter redirect URIs"})
		return
	}
	s.o.Logger.Info("oauth client registered", "client_name", name, "redirect_uris", len(c.RedirectURIs))
	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id":                  id,
		"client_id_issued_at":        now.Unix(),
		"client_name":                name,
		"redirect_uris":              c.RedirectURIs,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})
}

func tooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "60")
	writeJSON(w, http.StatusTooManyRequests, oauthError{"slow_down", "too many requests from this address; retry in a minute"})
}
