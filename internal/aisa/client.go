// Package aisa is a client for the X (Twitter) endpoints of the AIsa API
// gateway. It knows nothing of MCP: it sends requests, decodes both response
// envelopes the gateway is known to use, types every failure as an *Error and
// retries what is safe to retry.
package aisa

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultBaseURL is the gateway's documented base URL for the Twitter endpoints.
const DefaultBaseURL = "https://api.aisa.one/apis/v1"

// Defaults for Options fields left zero.
const (
	DefaultTimeout      = 20 * time.Second
	DefaultMaxRetryWait = 10 * time.Second
	DefaultBackoff      = time.Second
	DefaultMaxRetries   = 3
	MaxBodyBytes        = 1 << 20
)

// Options configure a Client. Only BaseURL and APIKey matter to most callers.
type Options struct {
	BaseURL      string        // default DefaultBaseURL; http only to a loopback host
	APIKey       string        // sent as a Bearer token and as aisa_api_key in write bodies
	UserAgent    string        // e.g. "xfollow-mcp/1.0.0"
	Timeout      time.Duration // per attempt; default DefaultTimeout
	MaxRetryWait time.Duration // a wait longer than this is returned as rate_limited instead of slept; default DefaultMaxRetryWait
	MaxRetries   int           // retries after the first attempt; default DefaultMaxRetries; negative means none
	Backoff      time.Duration // first backoff step; default DefaultBackoff
	Transport    http.RoundTripper

	// Sleep waits for d or until ctx ends; tests replace it to observe waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock used to read HTTP-date Retry-After values.
	Now func() time.Time
}

// Client calls the AIsa gateway. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	key         string
	fingerprint string // KeyFingerprint(key)
	callerKey   bool   // the key came with the caller's request (WithKey)
	userAgent   string
	timeout     time.Duration
	maxWait     time.Duration
	maxRetries  int
	backoff     time.Duration
	http        *http.Client
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
}

// ValidateBaseURL checks that u is an absolute https URL, or an http URL
// whose host is a loopback address. The key travels with every request, so
// it must never go over plain http across a network.
func ValidateBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("AISA_BASE_URL %q is not a URL: %v", raw, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("AISA_BASE_URL %q has no host; expected something like %s", raw, DefaultBaseURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("AISA_BASE_URL must not carry credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("AISA_BASE_URL %q must not have a query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("AISA_BASE_URL %q uses plain http to a non-loopback host; the API key would travel unencrypted: use https", raw)
		}
	default:
		return nil, fmt.Errorf("AISA_BASE_URL %q must use https (or http to a loopback host)", raw)
	}
	return u, nil
}

// IsLoopbackHost reports whether host is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New builds a Client. It fails when the base URL is not acceptable.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	base, err := ValidateBaseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:        base,
		key:         o.APIKey,
		fingerprint: KeyFingerprint(o.APIKey),
		userAgent:   o.UserAgent,
		timeout:     o.Timeout,
		maxWait:     o.MaxRetryWait,
		maxRetries:  o.MaxRetries,
		backoff:     o.Backoff,
		sleep:       o.Sleep,
		now:         o.Now,
	}
	if c.userAgent == "" {
		c.userAgent = "xfollow-mcp"
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.backoff <= 0 {
		c.backoff = DefaultBackoff
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	rt := o.Transport
	if rt == nil {
		rt = NewTransport()
	}
	c.http = &http.Client{
		Transport: rt,
		// The key travels in the header and the body: never follow a
		// redirect anywhere. A 3xx is reported as a bad response.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// NewTransport is the transport a Client uses when Options.Transport is
// nil; callers that wrap it (to time each attempt) start from it.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Calls arrive concurrently from the MCP worker pool; keep enough idle
	// connections to the one gateway host that they are reused.
	t.MaxIdleConns = 128
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// Configured reports whether the client has an API key.
func (c *Client) Configured() bool { return c.key != "" }

// Host is the gateway host, for logs.
func (c *Client) Host() string { return c.base.Host }

// request describes one gateway call.
type request struct {
	method     string
	path       string     // below the base URL, e.g. "/twitter/unfollow_twitter"
	query      url.Values // for GET
	body       map[string]any
	idempotent bool // safe to retry on 429, 5xx, timeouts and transport errors
}

// response is a decoded 2xx answer whose envelope did not report failure.
type response struct {
	body      map[string]json.RawMessage // the whole top-level object
	data      json.RawMessage            // the "data" member, if any
	requestID string
}

type checkBeforeResendKey struct{}

// CheckBeforeResend marks ctx so that a write is never sent again after an
// attempt that may have reached the gateway (a timeout, a cut connection, a
// 5xx): the caller reads the relationship before anything is resent. Writes
// are still retried when no attempt can have been applied (a refused
// connection, a 429). Clean-up jobs send this way.
func CheckBeforeResend(ctx context.Context) context.Context {
	return context.WithValue(ctx, checkBeforeResendKey{}, true)
}

func checkBeforeResend(ctx context.Context) bool {
	v, _ := ctx.Value(checkBeforeResendKey{}).(bool)
	return v
}

type resendGuardKey struct{}

// WithResendGuard marks ctx so that a request is sent again (a retry after
// an attempt that cannot have been applied, such as a 429) only while ok
// says yes: a job paused or cancelled during the wait sends nothing more.
// When ok says no, the last attempt's error is returned.
func WithResendGuard(ctx context.Context, ok func() bool) context.Context {
	return context.WithValue(ctx, resendGuardKey{}, ok)
}

func resendAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(resendGuardKey{}).(func() bool)
	return ok == nil || ok()
}

// do runs a request with retries and returns the decoded success envelope or
// an *Error.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	if c.key == "" {
		return nil, &Error{Kind: KindNotConfigured, Detail: "AISA_API_KEY is not set"}
	}
	var body []byte
	if r.method == http.MethodPost {
		m := make(map[string]any, len(r.body)+1)
		for k, v := range r.body {
			m[k] = v
		}
		// AIsa's own client sends the key in the body as well as the header,
		// and an unpublished revision of the docs marks it required.
		m["aisa_api_key"] = c.key
		var err error
		if body, err = json.Marshal(m); err != nil {
			return nil, &Error{Kind: KindInvalidRequest, Detail: "cannot encode request body"}
		}
	}
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	target := u.String()

	var last *Error
	maybeApplied := false // some attempt may have been acted on
	for attempt := 0; ; attempt++ {
		resp, err := c.attempt(ctx, r.method, target, body)
		if err == nil {
			return resp, nil
		}
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Kind: KindGatewayError, Detail: err.Error()}
		}
		e.Attempts = attempt + 1
		e.CallerKey = c.callerKey
		maybeApplied = maybeApplied || e.MaybeApplied
		e.MaybeApplied = maybeApplied
		last = e
		if e.Kind == KindCanceled || !r.idempotent || !retryable(e) {
			return nil, e
		}
		if maybeApplied && checkBeforeResend(ctx) {
			return nil, e // the caller checks the relationship before any resend
		}
		if attempt >= c.maxRetries {
			return nil, e
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = c.backoffFor(attempt)
		}
		if wait > c.maxWait {
			if e.RetryAfter > 0 {
				// Too long to wait inside one tool call: let the caller
				// decide. The kind stays what the gateway said (a 503 with
				// a long Retry-After is not a rate limit).
				return nil, e
			}
			wait = c.maxWait
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, &Error{Kind: KindCanceled, Detail: "cancelled while waiting to retry", Attempts: last.Attempts, MaybeApplied: maybeApplied}
		}
		if !resendAllowed(ctx) {
			return nil, e
		}
	}
}

// retryable reports whether a failed attempt may be tried again.
func retryable(e *Error) bool {
	switch e.Kind {
	case KindTimeout:
		return true
	case KindUnavailable, KindRateLimited:
		return e.Status == 0 || retryableStatus(e.Status)
	}
	return false
}

// backoffFor is the wait before retry number attempt+1: base * 2^attempt,
// with +/-25% jitter.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff << attempt
	jitter := 0.75 + rand.Float64()*0.5
	return time.Duration(float64(d) * jitter)
}

// attempt makes one HTTP exchange.
func (c *Client) attempt(ctx context.Context, method, target string, body []byte) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Kind: KindCanceled, Detail: "request cancelled"}
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, target, rdr)
	if err != nil {
		return nil, &Error{Kind: KindInvalidRequest, Detail: "cannot build request"}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, actx, err)
	}
	defer res.Body.Close()
	requestID := res.Header.Get("X-Request-Id")
	raw, err := io.ReadAll(io.LimitReader(res.Body, MaxBodyBytes+1))
	if err != nil {
		// The connection broke mid-body: a transport failure, retried like
		// one (the status line alone proves nothing).
		e := c.transportError(ctx, actx, err)
		e.RequestID = requestID
		return nil, e
	}
	if len(raw) > MaxBodyBytes {
		return nil, &Error{Kind: KindBadResponse, Status: res.StatusCode, RequestID: requestID, MaybeApplied: true,
			Detail: fmt.Sprintf("response body larger than %d bytes", MaxBodyBytes)}
	}
	return c.decode(res, raw, requestID)
}

// transportError types an error from the HTTP exchange itself.
func (c *Client) transportError(parent, attempt context.Context, err error) *Error {
	// A request that never got a connection was never sent; anything later
	// may have reached the gateway.
	sent := !isDialError(err)
	if parent.Err() != nil {
		return &Error{Kind: KindCanceled, Detail: "request cancelled", MaybeApplied: sent}
	}
	if attempt.Err() != nil || isTimeout(err) {
		return &Error{Kind: KindTimeout, Detail: fmt.Sprintf("no complete answer within %s", c.timeout), MaybeApplied: sent}
	}
	return &Error{Kind: KindUnavailable, Cause: transportCause(err), Host: c.base.Host,
		Detail: "connection failed: " + c.Scrub(stripURL(err)), MaybeApplied: sent}
}

// transportCause classifies why an HTTP exchange got no answer, from the
// types in the error chain; only net/http's unexported errServerClosedIdle
// (a reused connection the server had closed) is known by its text.
func transportCause(err error) Cause {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var badCert x509.CertificateInvalidError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return CauseDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CauseUnreachable
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr), errors.Is(err, http.ErrSchemeMismatch),
		errors.As(err, &unknownCA), errors.As(err, &badHost), errors.As(err, &badCert):
		return CauseTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "server closed idle connection"):
		return CauseClosed
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return CauseConnect
	}
	return ""
}

// isDialError reports whether err happened while connecting (name lookup,
// refused connection, TLS handshake), before any byte of the request left.
func isDialError(err error) bool {
	switch transportCause(err) {
	case CauseDNS, CauseRefused, CauseUnreachable, CauseTLS, CauseConnect:
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stripURL drops the request URL from a *url.Error so that messages stay short.
func stripURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Scrub removes the API key from text that came from outside.
func (c *Client) Scrub(s string) string {
	if c.key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}

// envelope holds every top-level field the gateway is known to use for
// status and errors.
type envelope struct {
	OK        *bool           `json:"ok"`
	Success   *bool           `json:"success"`
	Code      json.RawMessage `json:"code"`
	Status    json.RawMessage `json:"status"`
	Message   string          `json:"message"`
	Msg       string          `json:"msg"`
	Error     json.RawMessage `json:"error"`
	RequestID string          `json:"request_id"`
	Data      json.RawMessage `json:"data"`
}

type errorObject struct {
	Type      string          `json:"type"`
	Code      json.RawMessage `json:"code"`
	Message   string          `json:"message"`
	Msg       string          `json:"msg"`
	RequestID string          `json:"request_id"`
}

// decodeEnvelope reads a body as its top-level members by their exact
// names, and as an envelope (whose fields encoding/json matches without
// regard to case).
func decodeEnvelope(raw []byte) (map[string]json.RawMessage, envelope, error) {
	var env envelope
	if top, data, ok := flatEnvelope(raw); ok {
		// The answer to every follow and unfollow (see flat.go).
		env.Data = data
		return top, env, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return top, env, err
	}
	if d, ok := top["data"]; ok && len(top) == 1 {
		// The published shape, {"data":...}: decoding it into the envelope
		// sets Data alone, so it is not decoded a second time (a microsecond
		// of every call).
		env.Data = d
		return top, env, nil
	}
	return top, env, json.Unmarshal(raw, &env)
}

// decode turns one HTTP response into a success or an *Error.
func (c *Client) decode(res *http.Response, raw []byte, requestID string) (*response, error) {
	status := res.StatusCode
	top, env, jsonErr := decodeEnvelope(raw)
	var errObj errorObject
	if jsonErr == nil && len(env.Error) > 0 && env.Error[0] == '{' {
		_ = json.Unmarshal(env.Error, &errObj)
	}
	if requestID == "" {
		requestID = firstNonEmpty(errObj.RequestID, env.RequestID)
	}

	if status >= 300 && status < 400 {
		return nil, &Error{Kind: KindBadResponse, Status: status, RequestID: requestID, MaybeApplied: true,
			Detail: fmt.Sprintf("the gateway answered with a redirect (%d); redirects are not followed", status)}
	}
	if status < 200 || status >= 300 {
		e := &Error{Kind: kindForStatus(status), Status: status, RequestID: requestID, MaybeApplied: status >= 500}
		if jsonErr == nil {
			e.Code = c.Scrub(firstNonEmpty(codeString(errObj.Code), codeString(env.Code), errObj.Type))
			e.Message = c.Scrub(firstNonEmpty(errObj.Message, errObj.Msg, env.Message, env.Msg, jsonString(env.Error)))
		}
		if status == 429 || status == 503 {
			e.RetryAfter = c.parseRetryAfter(res.Header.Get("Retry-After"))
		}
		return nil, e
	}

	// 2xx from here on.
	if jsonErr != nil {
		return nil, &Error{Kind: KindBadResponse, Status: status, RequestID: requestID, MaybeApplied: true,
			Detail: "response is not a JSON object"}
	}
	failed := false
	if env.OK != nil && !*env.OK {
		failed = true
	}
	if env.Success != nil && !*env.Success {
		failed = true
	}
	codeNum, codeIsNum := codeNumber(env.Code)
	if codeIsNum && codeNum != 0 && codeNum != 200 {
		failed = true
	}
	if s := jsonString(env.Status); strings.EqualFold(s, "error") || strings.EqualFold(s, "fail") || strings.EqualFold(s, "failed") {
		failed = true
	}
	if len(env.Error) > 0 && string(env.Error) != "null" && string(env.Error) != "false" && string(env.Error) != `""` {
		failed = true
	}
	if failed {
		// A failure envelope proves the request was not acted on only when
		// it carries a 4xx status; without one (an upstream_timeout, say)
		// the write may have happened.
		e := &Error{Kind: KindGatewayError, RequestID: requestID, MaybeApplied: true}
		if codeIsNum && codeNum >= 400 && codeNum <= 599 {
			e.Kind = kindForStatus(codeNum)
			e.Status = codeNum
			e.MaybeApplied = codeNum >= 500
			if codeNum == 429 {
				e.RetryAfter = c.parseRetryAfter(res.Header.Get("Retry-After"))
			}
		} else if n, ok := codeNumber(errObj.Code); ok && n >= 400 && n <= 599 {
			e.Kind = kindForStatus(n)
			e.Status = n
			e.MaybeApplied = n >= 500
		}
		e.Code = c.Scrub(firstNonEmpty(codeString(errObj.Code), codeString(env.Code), errObj.Type))
		e.Message = c.Scrub(firstNonEmpty(errObj.Message, errObj.Msg, env.Message, env.Msg, jsonString(env.Error)))
		if e.Message == "" {
			e.Detail = "the gateway answered 2xx with a failure envelope"
		}
		return nil, e
	}
	// Take data by its exact name: encoding/json matches struct fields
	// case-insensitively, and a success must rest on the documented key.
	return &response{body: top, data: top["data"], requestID: requestID}, nil
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date.
func (c *Client) parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		const maxSecs = int64(1<<62) / int64(time.Second)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxSecs {
			n = maxSecs // absurdly large: far above any cap, so never slept
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(c.now())
		if d < 0 {
			return 0
		}
		// Round up so the wait is never shorter than asked.
		return d.Truncate(time.Second) + time.Second
	}
	return 0
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// codeString renders a code that may be a JSON string or number.
func codeString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if s := jsonString(raw); s != "" {
		return s
	}
	if n, ok := codeNumber(raw); ok {
		return strconv.Itoa(n)
	}
	return ""
}

// codeNumber reads a numeric code (a JSON number, or a string of digits).
func codeNumber(raw json.RawMessage) (int, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if i, err := n.Int64(); err == nil && i >= -1<<31 && i < 1<<31 {
			return int(i), true
		}
		return 0, false
	}
	return 0, false
}

// jsonString returns raw's value if it is a JSON string.
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
