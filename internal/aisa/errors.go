package aisa

import (
	"fmt"
	"time"
)

// Kind classifies a failed gateway call. The values are stable strings that
// callers may show as error codes; they say what went wrong, not how to
// present it.
type Kind string

// The kinds of failure the client reports.
const (
	KindNotConfigured    Kind = "not_configured"       // no API key
	KindAuthInvalid      Kind = "auth_invalid"         // 401
	KindAccountNotLinked Kind = "x_account_not_linked" // 403
	KindUserNotFound     Kind = "user_not_found"       // 404
	KindRateLimited      Kind = "rate_limited"         // 429, or a wait longer than the cap
	KindUnavailable      Kind = "gateway_unavailable"  // 5xx or transport failure after retries
	KindTimeout          Kind = "timeout"              // the last attempt timed out
	KindBadResponse      Kind = "bad_gateway_response" // undecodable, oversized, redirect, missing fields
	KindGatewayError     Kind = "gateway_error"        // any other failure the gateway reports
	KindCanceled         Kind = "canceled"             // the caller's context ended
	KindInvalidRequest   Kind = "invalid_request"      // the request could not be built or encoded
)

// Error is a failed gateway call. Message is the gateway's own text (with the
// API key removed, should the gateway ever echo it); Detail is the client's
// description of what it observed.
type Error struct {
	Kind       Kind
	Status     int           // HTTP status, or the status a failure envelope carried; 0 if none
	Code       string        // the gateway's machine-readable code, when it gave one
	Message    string        // the gateway's human-readable text, when it gave one
	RequestID  string        // from the body or the X-Request-Id header
	RetryAfter time.Duration // how long the gateway asked us to wait; 0 if it did not say
	Attempts   int           // how many HTTP attempts were made
	Detail     string        // what the client observed (for bad responses, timeouts, transport errors)
	Cause      Cause         // why no answer came, for transport failures; "" otherwise
	Host       string        // the gateway host, for transport failures
	// MaybeApplied is true when some attempt may have reached the gateway
	// and been acted on without the client seeing a trustworthy answer: a
	// timeout or broken connection after the request was sent, a 5xx, an
	// answer that could not be decoded, a cancellation in flight. A write
	// that fails this way may have happened.
	MaybeApplied bool
	// CallerKey is true when the key was the caller's own, brought with
	// its request (the remote mode's --key-from-request), not the server's.
	CallerKey bool
}

// Cause says why a request got no HTTP answer at all.
type Cause string

// The causes of a transport failure, classified from the error chain.
const (
	CauseDNS         Cause = "name_not_resolved"  // the host name did not resolve
	CauseRefused     Cause = "connection_refused" // nothing listens at the host and port
	CauseUnreachable Cause = "unreachable"        // no route to the host or network
	CauseTLS         Cause = "tls_failure"        // the TLS handshake or the certificate failed
	CauseClosed      Cause = "connection_closed"  // the connection was reset or closed before a full answer
	CauseConnect     Cause = "connect_failed"     // the connection failed for another reason
)

func (e *Error) Error() string {
	s := fmt.Sprintf("aisa: %s", e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.Cause != "" {
		s += " cause=" + string(e.Cause)
	}
	if e.Code != "" {
		s += " code=" + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.RequestID != "" {
		s += " request_id=" + e.RequestID
	}
	return s
}

// RetryAfterSeconds is the wait the caller should observe, rounded up to
// whole seconds; at least 1 for a rate limit.
func (e *Error) RetryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		if e.Kind == KindRateLimited {
			return 1
		}
		return 0
	}
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// kindForStatus maps an HTTP status (or the status carried by a failure
// envelope) to a Kind.
func kindForStatus(status int) Kind {
	switch {
	case status == 401:
		return KindAuthInvalid
	case status == 403:
		return KindAccountNotLinked
	case status == 404:
		return KindUserNotFound
	case status == 429:
		return KindRateLimited
	case status >= 500 && status <= 599:
		return KindUnavailable
	default:
		return KindGatewayError
	}
}

// retryableStatus reports whether an idempotent call may be retried after
// this status.
func retryableStatus(status int) bool {
	switch status {
	case 429, 500, 502, 503, 504:
		return true
	}
	return false
}
