// Package oauth is the small authorization server of the remote mode's
// --oauth: MCP authorization (OAuth 2.1) for hosts that add a server by URL
// alone (Claude's and ChatGPT's connectors, VS Code, the MCP Inspector).
//
// It serves the discovery documents (RFC 9728 protected resource metadata,
// RFC 8414 authorization server metadata), stateless dynamic client
// registration (RFC 7591), a consent page where the person gives their AIsa
// key once, the token endpoint (authorization code with PKCE S256, refresh
// tokens rotated on every use) and revocation (RFC 7009). It verifies the
// access tokens the MCP endpoint receives and hands back the AIsa key each
// one carries; the HTTP layer puts that key into the request context exactly
// as --key-from-request does, so nothing below the transport knows how the
// caller proved itself.
//
// Every value the server hands out is sealed under a key derived from
// XFOLLOW_SECRET (one per purpose): client ids, the consent form's request,
// authorization codes and access tokens, so that any replica opens them
// without a lookup. Only refresh tokens and the once-only marks of codes are
// stored (in memory, or in Redis shared by the replicas); a stored refresh
// record holds the AIsa key encrypted under a key derived from the refresh
// token itself, which is stored only as a hash.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// Scope is the one scope the server grants: everything the MCP endpoint
// serves. Requests for other scopes are granted this one (RFC 6749 3.3 lets
// the server choose), because real hosts send their own names or none.
const Scope = "xfollow"

// Lifetimes.
const (
	CodeTTL    = 5 * time.Minute
	AccessTTL  = time.Hour
	RefreshTTL = 30 * 24 * time.Hour
	FormTTL    = 10 * time.Minute // how long a consent page may stay open
)

// Paths served.
const (
	PathResourceMeta     = "/.well-known/oauth-protected-resource"
	PathAuthServerMeta   = "/.well-known/oauth-authorization-server"
	PathAuthorize        = "/authorize"
	PathToken            = "/token"
	PathRegister         = "/register"
	PathRevoke           = "/revoke"
	MCPPath              = "/mcp"
	PathResourceMetaMCP  = PathResourceMeta + MCPPath
	accessPrefix         = "xfat_"
	refreshPrefix        = "xfrt_"
	clientPrefix         = "xfc_"
	codePrefix           = "xfac_"
	maxFormBytes         = 16 << 10
	maxRegistrationBytes = 16 << 10
)

// Purposes of the keys derived from XFOLLOW_SECRET.
const (
	purposeAccess  = "oauth-access/v1"
	purposeClient  = "oauth-client/v1"
	purposeForm    = "oauth-form/v1"
	purposeCode    = "oauth-code/v1"
	purposeRefresh = "oauth-refresh/v1"
)

// ErrKeyRefused is what Options.CheckKey returns when the gateway refused
// the key; any other error means the key could not be checked now.
var ErrKeyRefused = errors.New("the gateway refused this key")

// Options configure the server.
type Options struct {
	// PublicURL is the scheme and host the clients reach the server at,
	// e.g. https://mcp.example.com. It is the issuer, and PublicURL+"/mcp"
	// is the resource. Empty means "the address the server is bound to",
	// filled in by Listening (loopback only; config enforces it).
	PublicURL string
	Secret    *secret.Ring
	// Store keeps refresh tokens and used codes: NewMemoryStore, or
	// NewRedisStore with --state.
	Store Store
	// KeyFormat says whether a string can be an AIsa key at all.
	KeyFormat func(string) bool
	// CheckKey checks a key with a gateway read that changes nothing:
	// nil when the gateway accepted it, ErrKeyRefused (wrapped or not) when
	// it refused it, another error when it could not tell.
	CheckKey func(ctx context.Context, key string) error
	Logger   *slog.Logger
	Now      func() time.Time
	// ClientAddr names the client for rate limiting; default: ClientAddr.
	ClientAddr func(*http.Request) string
	// RegisterPerMinute and AuthorizePerMinute bound each client address
	// (0 means the defaults below).
	RegisterPerMinute  int
	AuthorizePerMinute int
}

// Default rate limits per client address.
const (
	DefaultRegisterPerMinute  = 10
	DefaultAuthorizePerMinute = 30
)

// Server is the authorization server and the MCP endpoint's token verifier.
type Server struct {
	o       Options
	base    atomic.Pointer[string] // issuer, without a trailing slash
	access  *secret.Keys
	client  *secret.Keys
	form    *secret.Keys
	code    *secret.Keys
	refresh *secret.Keys
	mux     *http.ServeMux

	registerLimit  *limiter
	authorizeLimit *limiter
}

// New checks the options and builds the server.
func New(o Options) (*Server, error) {
	if o.Secret == nil {
		return nil, errors.New("oauth needs XFOLLOW_SECRET")
	}
	if o.Store == nil {
		return nil, errors.New("oauth needs a store")
	}
	if o.KeyFormat == nil || o.CheckKey == nil {
		return nil, errors.New("oauth needs KeyFormat and CheckKey")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientAddr == nil {
		o.ClientAddr = ClientAddr
	}
	if o.RegisterPerMinute <= 0 {
		o.RegisterPerMinute = DefaultRegisterPerMinute
	}
	if o.AuthorizePerMinute <= 0 {
		o.AuthorizePerMinute = DefaultAuthorizePerMinute
	}
	s := &Server{
		o:       o,
		access:  o.Secret.Keys(purposeAccess),
		client:  o.Secret.Keys(purposeClient),
		form:    o.Secret.Keys(purposeForm),
		code:    o.Secret.Keys(purposeCode),
		refresh: o.Secret.Keys(purposeRefresh),
		mux:     http.NewServeMux(),

		registerLimit:  newLimiter(o.RegisterPerMinute, time.Minute, maxLimiterEntries, o.Now),
		authorizeLimit: newLimiter(o.AuthorizePerMinute, time.Minute, maxLimiterEntries, o.Now),
	}
	if o.PublicURL != "" {
		u, err := ParsePublicURL(o.PublicURL)
		if err != nil {
			return nil, err
		}
		s.base.Store(&u)
	}
	s.mux.HandleFunc(PathResourceMeta, s.cors(s.resourceMeta, http.MethodGet))
	s.mux.HandleFunc(PathResourceMetaMCP, s.cors(s.resourceMeta, http.MethodGet))
	s.mux.HandleFunc(PathAuthServerMeta, s.cors(s.authServerMeta, http.MethodGet))
	s.mux.HandleFunc(PathRegister, s.cors(s.register, http.MethodPost))
	s.mux.HandleFunc(PathToken, s.cors(s.token, http.MethodPost))
	s.mux.HandleFunc(PathRevoke, s.cors(s.revoke, http.MethodPost))
	s.mux.HandleFunc(PathAuthorize, s.authorize)
	return s, nil
}

// ParsePublicURL checks a --public-url value and returns it without a
// trailing slash: https://host[:port], or http:// for a loopback host; no
// path, query, fragment or credentials.
func ParsePublicURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not a URL such as https://mcp.example.com", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%q: give only scheme://host[:port]; the MCP endpoint is always at /mcp under it", raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", fmt.Errorf("%q: the public URL must be https:// (http:// only for a loopback host): the consent page takes the person's AIsa key", raw)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		// Clients compare the resource with the URL they were given,
		// which names no default port.
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host, nil
}

// Listening fills the issuer from the bound address when no public URL was
// given (loopback only).
func (s *Server) Listening(addr net.Addr) {
	if s.base.Load() != nil {
		return
	}
	b := "http://" + addr.String()
	s.base.Store(&b)
}

// Issuer is the authorization server's issuer identifier.
func (s *Server) Issuer() string {
	if p := s.base.Load(); p != nil {
		return *p
	}
	return ""
}

// Resource is the MCP endpoint's URL, the audience of every access token.
func (s *Server) Resource() string { return s.Issuer() + MCPPath }

// Paths are the paths the server answers (the HTTP layer mounts it there).
func (s *Server) Paths() []string {
	return []string{PathResourceMeta, PathResourceMetaMCP, PathAuthServerMeta, PathRegister, PathToken, PathRevoke, PathAuthorize}
}

// ServeHTTP implements http.Handler for Paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Challenge is the WWW-Authenticate value of a 401 from the MCP endpoint.
// presented says whether the request carried a bearer token.
func (s *Server) Challenge(presented bool) string {
	v := fmt.Sprintf(`Bearer resource_metadata="%s", scope="%s"`, s.Issuer()+PathResourceMetaMCP, Scope)
	if presented {
		v += `, error="invalid_token"`
	}
	return v
}

// cors answers preflights for any origin on the endpoints browsers' clients
// call (discovery, registration, token, revocation): they hold no ambient
// authority (no cookie), so an origin proves nothing here. The consent page
// and /mcp do not get these headers.
func (s *Server) cors(h http.HandlerFunc, method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", method+", OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method+", OPTIONS")
			writeJSON(w, http.StatusMethodNotAllowed, oauthError{"invalid_request", "use " + method})
			return
		}
		h(w, r)
	}
}

func (s *Server) resourceMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 s.Resource(),
		"authorization_servers":    []string{s.Issuer()},
		"scopes_supported":         []string{Scope},
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "xfollow-mcp",
	})
}

func (s *Server) authServerMeta(w http.ResponseWriter, r *http.Request) {
	iss := s.Issuer()
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + PathAuthorize,
		"token_endpoint":                                 iss + PathToken,
		"registration_endpoint":                          iss + PathRegister,
		"revocation_endpoint":                            iss + PathRevoke,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none"},
		"revocation_endpoint_auth_methods_supported":     []string{"none"},
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported":                               []string{Scope},
	})
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ClientAddr names the client of r for rate limiting: the connection's IP
// address, or, when that is a loopback or private address (a reverse proxy
// or a load balancer in front of the server), the last address in the last
// X-Forwarded-For header, the one that proxy appended. Without it every
// person behind the proxy would share one limit. The name only selects a
// rate-limit window; it authorizes nothing. An IPv6 address is named by
// its /64: one subscriber holds a whole /64 and could otherwise take a new
// window (and a new entry in the limiter's bounded map) per address.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if !(peer.IsLoopback() || peer.IsPrivate()) {
		return addrName(peer)
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return addrName(peer)
	}
	hops := strings.Split(xff[len(xff)-1], ",")
	if a, err := netip.ParseAddr(strings.TrimSpace(hops[len(hops)-1])); err == nil {
		return addrName(a)
	}
	return addrName(peer)
}

// addrName is an IPv4 address as it is, an IPv6 one as its /64 (loopback
// as it is).
func addrName(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() || a.IsLoopback() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
