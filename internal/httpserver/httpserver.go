// Package httpserver serves xfollow-mcp's MCP server over streamable HTTP
// (the remote mode, --http). It is the only package that knows about HTTP on
// the serving side: it decides who the caller is (a bearer token, or the
// caller's own AIsa key) and hands the key to the tools through the request
// context; nothing below it sees a net/http type.
//
// The MCP endpoint is stateless (no session affinity), so any request may
// reach any replica behind a load balancer.
package httpserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
	"github.com/xfollow-mcp/xfollow-mcp/internal/config"
	"github.com/xfollow-mcp/xfollow-mcp/tools"
)

// Paths served.
const (
	MCPPath    = "/mcp"
	HealthPath = "/healthz"
)

// MaxBodyBytes caps a request body; a larger one is answered 413.
const MaxBodyBytes = 1 << 20

// Timeouts of the HTTP server. They bound what a caller can hold before it
// has proved who it is and sent its whole request; an MCP request that passes
// the checks lifts the read and write deadlines, because a tool call lasts
// as long as the gateway takes: each attempt up to --timeout (20 s), up to 3
// retries with waits up to 10 s, so one gateway call can take about 110 s, an
// unfollow with expected_username makes two, and a batch makes up to 100.
// Cutting the answer to a write that already happened would hide its outcome.
// A client that gives up closes its connection, and that cancels the call.
const (
	ReadHeaderTimeout = 10 * time.Second  // a slow client cannot hold a connection before its headers arrive
	ReadTimeout       = 30 * time.Second  // headers plus a 1 MiB body, even at about 35 KB/s
	WriteTimeout      = 30 * time.Second  // refusals and /healthz; lifted for accepted MCP requests
	IdleTimeout       = 120 * time.Second // keep-alive connections between calls
	DrainTimeout      = 10 * time.Second  // on SIGTERM/SIGINT, how long calls in flight may finish
	cutoffWait        = 3 * time.Second   // after the drain, how long cancelled calls get to record their outcome (main.go ends the process 15 s after the signal)
)

// Options configure the remote mode. Exactly one way to authenticate is in
// force: Token, KeyFromRequest, or neither (config allows neither only on a
// loopback address).
type Options struct {
	Addr           string // host:port; port 0 picks a free port (logged)
	Token          string // every request must carry Authorization: Bearer Token
	KeyFromRequest bool   // the bearer is the caller's AIsa key
	AllowedOrigins []string
	Logger         *slog.Logger
	// Checks are what /healthz asks besides the server being up, by name
	// (the state store, with --state): each within HealthCheckTimeout; one
	// that fails makes /healthz answer 503 naming it down, and one that
	// returns ErrUnsafe (it works, but not safely) is named unsafe, with
	// status "unsafe" and 200. Only names and up, down or unsafe are shown,
	// never an error's text.
	Checks map[string]func(context.Context) error

	// OAuth, with --oauth, is the authorization server: it is mounted at
	// its paths and verifies every /mcp bearer (see Authorizer).
	OAuth Authorizer

	// Tests shorten these (zero means the constants above) and learn the
	// bound address.
	readTimeout  time.Duration
	writeTimeout time.Duration
	drainTimeout time.Duration
	listening    func(net.Addr)
}

type callerKeyCtx struct{}

// Authorizer is the MCP authorization (--oauth) seen from here: an HTTP
// handler for its own paths, and the verifier of the access tokens /mcp
// receives. A verified token's AIsa key takes the same path into the
// request context as a --key-from-request key.
type Authorizer interface {
	http.Handler
	Paths() []string
	// Verify returns the AIsa key a valid access token carries.
	Verify(bearer string) (key string, ok bool)
	// Challenge is the WWW-Authenticate value of a 401.
	Challenge(presented bool) string
	// Listening tells the bound address (the issuer on loopback).
	Listening(net.Addr)
}

// Handler is the remote mode's HTTP handler: /mcp and /healthz.
type Handler struct {
	o        Options
	mcp      *server.StreamableHTTPServer
	mux      *http.ServeMux
	tokenSum [32]byte
	origins  map[string]bool

	streams     context.Context // ends when the server starts to stop
	stopStreams context.CancelFunc
	inFlight    tracker
}

// New builds the handler around s.
func New(s *server.MCPServer, o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{o: o, origins: map[string]bool{}, mux: http.NewServeMux()}
	h.streams, h.stopStreams = context.WithCancel(context.Background())
	if o.Token != "" {
		h.tokenSum = sha256.Sum256([]byte(o.Token))
	}
	for _, origin := range o.AllowedOrigins {
		h.origins[origin] = true
	}
	h.mcp = server.NewStreamableHTTPServer(s,
		server.WithStateLess(true),
		server.WithStreamableHTTPLogger(o.Logger),
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			// The key was checked and moved out of the headers by ServeHTTP.
			if key, ok := r.Context().Value(callerKeyCtx{}).(string); ok {
				ctx = tools.WithCallerKey(ctx, key)
				// The peer, not a header a client may write: new keys are
				// counted per client address (tools.KeyCheck).
				if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
					ctx = tools.WithCallerAddr(ctx, host)
				}
				return ctx
			}
			return ctx
		}),
	)
	h.mux.HandleFunc("GET "+HealthPath, h.health)
	h.mux.HandleFunc(MCPPath, h.serveMCP)
	if o.OAuth != nil {
		for _, p := range o.OAuth.Paths() {
			h.mux.Handle(p, o.OAuth)
		}
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// ErrUnsafe is what a check returns (wrapped) when what it checks answers
// but is set up so that a safety control may silently fail: a state store
// that may evict the budget's keys.
var ErrUnsafe = errors.New("unsafe")

// HealthCheckTimeout bounds all of /healthz's checks together: probes
// expect a prompt answer, and a store that takes longer is as good as down.
const HealthCheckTimeout = time.Second

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// ?live is for liveness and startup probes: the server is up and
	// serving. The checks are readiness's business: restarting the server
	// would not bring a state store back.
	if len(h.o.Checks) == 0 || r.URL.Query().Has("live") {
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), HealthCheckTimeout)
	defer cancel()
	body := struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}{Status: "ok", Checks: map[string]string{}}
	unsafe := false
	for name, check := range h.o.Checks {
		body.Checks[name] = "up"
		err := check(ctx)
		switch {
		case errors.Is(err, ErrUnsafe):
			body.Checks[name] = "unsafe"
			unsafe = true
		case err != nil:
			body.Checks[name] = "down"
			body.Status = "unavailable"
		}
	}
	if unsafe && body.Status == "ok" {
		// Serving goes on (writes do), so the answer stays 200: the body
		// says what is wrong, and the log said how to fix it.
		body.Status = "unsafe"
	}
	if body.Status == "unavailable" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// serveMCP checks the request, in this order: Origin (403), credentials
// (401), body size (413); then hands it to mcp-go.
func (h *Handler) serveMCP(w http.ResponseWriter, r *http.Request) {
	h.inFlight.add()
	defer h.inFlight.done()

	if origins := r.Header.Values("Origin"); len(origins) > 0 && !h.originAllowed(origins) {
		h.refuse(w, r, http.StatusForbidden, -32600, "this Origin may not use the server: it accepts loopback origins and those listed in --allowed-origins", "origin")
		return
	}
	key, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		// A stateless server has no session to tie a GET stream (or a
		// DELETE) to: mcp-go would file every such stream under one shared
		// session and send it other callers' notifications. Clients get
		// their answers and notifications on each POST's own response.
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, -32600, "this stateless server takes POST only: send each request as a POST; notifications come on its response", "method")
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		if r.ContentLength > MaxBodyBytes {
			// Refused before reading: a client that waits for 100 Continue
			// never sends the body.
			h.refuse(w, r, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes), "body_too_large")
			return
		}
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				h.refuse(w, r, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes), "body_too_large")
				return
			}
			h.refuse(w, r, http.StatusBadRequest, -32700, "the request body could not be read", "body_unreadable")
			return
		}
	}

	// The request is complete and allowed: lift the deadlines (see the
	// timeouts above). The connection's own liveness still ends it.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	ctx := r.Context()
	if key != "" {
		ctx = context.WithValue(ctx, callerKeyCtx{}, key)
	}
	if r.Method == http.MethodGet || isListen(body) {
		// A stream the client holds open: it ends when the server stops,
		// so that shutdown waits only for calls.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(h.streams, cancel)()
	}
	// A shallow copy: nothing below changes the request's URL or form.
	r2 := r.WithContext(ctx)
	if _, ok := r.Header["Authorization"]; ok {
		// The credential stays out of everything below: mcp-go copies
		// request headers into each tool call.
		r2.Header = r.Header.Clone()
		r2.Header.Del("Authorization")
	}
	if r.Method == http.MethodPost {
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
	}
	if key != "" {
		h.o.Logger.Debug("mcp request", "method", r.Method, "key_fingerprint", aisa.KeyFingerprint(key))
	}
	h.mcp.ServeHTTP(w, r2)
}

// authenticate applies the configured way to authenticate. It returns the
// caller's AIsa key (with --key-from-request) and whether to go on; when it
// returns false it has answered 401.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.o.OAuth != nil {
		return h.authenticateOAuth(w, r)
	}
	if h.o.Token == "" && !h.o.KeyFromRequest {
		// Loopback only, enforced at start. A proxy on this machine also
		// connects from loopback, on behalf of whoever reached it: a request
		// that says it was forwarded is not this machine's own.
		if name := forwardedBy(r); name != "" {
			h.unauthorized(w, r, false, "this request came through a proxy (it carries "+name+"), and a server without a token serves only its own machine: set XFOLLOW_HTTP_TOKEN on the server and send Authorization: Bearer TOKEN through the proxy")
			return "", false
		}
		return "", true
	}
	bearer, present := bearerToken(r)
	switch {
	case h.o.KeyFromRequest:
		if !present {
			h.unauthorized(w, r, false, "authorization required: send your AIsa API key as Authorization: Bearer sk-aisa-...")
			return "", false
		}
		if !ValidCallerKey(bearer) {
			h.unauthorized(w, r, true, "the bearer is not an AIsa API key: it must start with sk-aisa- and be 16 to 512 characters of letters, digits and - . _ ~ + / (RFC 6750)")
			return "", false
		}
		return bearer, true
	default:
		if !present {
			h.unauthorized(w, r, false, "authorization required: send Authorization: Bearer TOKEN, with the token set in the server's XFOLLOW_HTTP_TOKEN")
			return "", false
		}
		sum := sha256.Sum256([]byte(bearer))
		if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
			h.unauthorized(w, r, true, "the bearer token is not this server's token")
			return "", false
		}
		return "", true
	}
}

// authenticateOAuth accepts only an access token the authorization server
// issued for this resource; a raw AIsa key is refused like any other string.
func (h *Handler) authenticateOAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	bearer, present := bearerToken(r)
	if !present {
		h.unauthorized(w, r, false, "authorization required: connect through MCP authorization (OAuth); the server's metadata is named in WWW-Authenticate")
		return "", false
	}
	key, ok := h.o.OAuth.Verify(bearer)
	if !ok {
		h.unauthorized(w, r, true, "the access token is not valid, has expired or was issued for another resource; authorize again")
		return "", false
	}
	return key, true
}

// proxyHeaders are the headers a proxy adds to say on whose behalf it
// forwards a request (RFC 7239 and the de facto ones, RFC 9110's Via, and
// the client address that tunnels and CDNs pass on). Any X-Forwarded-*
// header counts too: a proxy may send only X-Forwarded-Proto or -Host.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-IP", "Via",
	"Cf-Connecting-Ip", "True-Client-Ip", "X-Client-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip"}

// proxyHeaderKeys are proxyHeaders as net/http keys request headers.
var proxyHeaderKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range proxyHeaders {
		m[http.CanonicalHeaderKey(name)] = true
	}
	return m
}()

// forwardedBy names the first proxy header r carries, or "".
func forwardedBy(r *http.Request) string {
	// One pass over the request's few headers decides; the look-ups in
	// proxyHeaders' order, which name the header in the message, run only
	// when there is one.
	found := false
	for name, vals := range r.Header {
		if proxyHeaderKeys[name] && len(vals) > 0 || strings.HasPrefix(name, "X-Forwarded-") {
			found = true
			break
		}
	}
	if !found {
		return ""
	}
	for _, name := range proxyHeaders {
		if len(r.Header.Values(name)) > 0 { // canonicalises: X-Real-Ip
			return name
		}
	}
	for name := range r.Header { // keys are canonical: X-Forwarded-Proto
		if strings.HasPrefix(name, "X-Forwarded-") {
			return name
		}
	}
	return ""
}

// bearerToken reads "Authorization: Bearer X". present is false when there
// is no Authorization header or its scheme is not Bearer.
func bearerToken(r *http.Request) (tok string, present bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", len(vals) > 1
	}
	scheme, rest, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(rest, " "), true // RFC 7235: one or more spaces
}

// Caller keys: the gateway's documentation says every key starts with
// sk-aisa-. The other bounds keep anything that is not a key (a stray
// token, a header full of junk) from being forwarded to the gateway.
const (
	callerKeyPrefix = "sk-aisa-"
	callerKeyMin    = 16
	callerKeyMax    = 512
)

// ValidCallerKey reports whether s looks like an AIsa API key: the sk-aisa-
// prefix, 16 to 512 characters, all of them allowed in a bearer token by
// RFC 6750 (letters, digits, - . _ ~ + /, and = only at the end). Whether
// the gateway accepts it is the gateway's answer ([auth_invalid]).
func ValidCallerKey(s string) bool {
	if len(s) < callerKeyMin || len(s) > callerKeyMax || !strings.HasPrefix(s, callerKeyPrefix) {
		return false
	}
	body := strings.TrimRight(s, "=")
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// originAllowed: a loopback origin (http or https, localhost or a loopback
// IP, any port) or one listed in --allowed-origins. "null" and anything that
// is not an origin are refused.
func (h *Handler) originAllowed(values []string) bool {
	if len(values) != 1 {
		return false
	}
	o, err := config.NormalizeOrigin(values[0])
	if err != nil {
		return false
	}
	if h.origins[o] {
		return true
	}
	_, hostport, _ := strings.Cut(o, "://")
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return config.IsLoopbackHost(host)
}

// isListen reports whether a POST body opens a subscriptions/listen stream.
func isListen(body []byte) bool {
	if !bytes.Contains(body, []byte("subscriptions/listen")) {
		return false
	}
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &msg) == nil && msg.Method == "subscriptions/listen"
}

func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, presented bool, msg string) {
	v := `Bearer realm="xfollow-mcp"`
	if presented {
		v += `, error="invalid_token"`
	}
	if h.o.OAuth != nil {
		v = h.o.OAuth.Challenge(presented)
	}
	w.Header().Set("WWW-Authenticate", v)
	reason := "no_credentials"
	if presented {
		reason = "bad_credentials"
	}
	h.refuse(w, r, http.StatusUnauthorized, -32001, msg, reason)
}

// refuse answers with an HTTP status and a JSON-RPC error body. It never
// echoes anything the request sent.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status, code int, msg, reason string) {
	h.o.Logger.Info("request refused", "status", status, "reason", reason, "method", r.Method, "remote", r.RemoteAddr)
	type rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		JSONRPC string   `json:"jsonrpc"`
		ID      any      `json:"id"`
		Error   rpcError `json:"error"`
	}{"2.0", nil, rpcError{code, msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// Serve listens on o.Addr and serves until ctx ends; then it stops
// accepting, closes the streams clients hold open, lets calls in flight
// finish for up to DrainTimeout and returns nil as soon as they have. Calls
// still running after that are cancelled and Serve returns an error.
func Serve(ctx context.Context, s *server.MCPServer, o Options) error {
	h := New(s, o)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("--http %s: %v", o.Addr, err)
	}
	readTimeout, writeTimeout := ReadTimeout, WriteTimeout
	if o.readTimeout > 0 {
		readTimeout = o.readTimeout
	}
	if o.writeTimeout > 0 {
		writeTimeout = o.writeTimeout
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(ReadHeaderTimeout, readTimeout),
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.o.Logger.Handler(), slog.LevelWarn),
	}
	if o.OAuth != nil {
		o.OAuth.Listening(ln.Addr())
	}
	auth := "none (loopback only)"
	switch {
	case o.OAuth != nil:
		auth = "oauth"
	case o.KeyFromRequest:
		auth = "key-from-request"
	case o.Token != "":
		auth = "token"
	}
	h.o.Logger.Info("xfollow-mcp listening", "url", "http://"+ln.Addr().String()+MCPPath,
		"health", "http://"+ln.Addr().String()+HealthPath, "auth", auth, "allowed_origins", len(o.AllowedOrigins))

	if o.listening != nil {
		o.listening(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	drain := DrainTimeout
	if o.drainTimeout > 0 {
		drain = o.drainTimeout
	}
	h.o.Logger.Info("xfollow-mcp stopping: no new connections; open streams closed; waiting for calls in flight", "up_to", drain)
	h.stopStreams()
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err == nil {
		<-served
		h.o.Logger.Info("xfollow-mcp stopped")
		return nil
	}
	n := h.inFlight.count()
	_ = srv.Close() // cancels the calls' contexts
	wctx, wcancel := context.WithTimeout(context.Background(), cutoffWait)
	defer wcancel()
	_ = h.inFlight.wait(wctx)
	<-served
	return fmt.Errorf("%d request(s) still running %s after the stop signal were cancelled", n, drain)
}

// tracker counts requests in flight and lets shutdown wait for none.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.idle)
	}
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
