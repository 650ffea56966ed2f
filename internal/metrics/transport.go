package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
)

// RoundTripper wraps next so that every HTTP attempt to the gateway is
// timed into http_client_request_duration_seconds. server_address is the
// request's host (the one configured gateway); nothing of the request's
// path, query, headers or body is looked at. With m nil it returns next.
func (m *Metrics) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if m == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &roundTripper{m: m, next: next}
}

type roundTripper struct {
	m    *Metrics
	next http.RoundTripper
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	start := rt.m.now()
	res, err := rt.next.RoundTrip(req)
	status, errType := "", ""
	switch {
	case err != nil:
		errType = transportErrorType(req.Context(), err)
	default:
		status = statusLabel(res.StatusCode)
		if res.StatusCode >= 500 {
			errType = status
		}
	}
	method := req.Method
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead:
	default:
		method = Other
	}
	rt.m.client.WithLabelValues(req.URL.Host, method, status, errType).Observe(rt.m.now().Sub(start).Seconds())
	return res, err
}

func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return Other
	}
	return strconv.Itoa(code)
}

func transportErrorType(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return "canceled"
	}
	return "transport"
}
