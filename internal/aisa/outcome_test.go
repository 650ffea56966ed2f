package aisa

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestMaybeApplied: an error says whether the write may have happened, so
// that the caller can count it; once any attempt may have applied it, a
// later attempt's clean refusal does not undo that.
func TestMaybeApplied(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handler func(n int, w http.ResponseWriter, r *http.Request)
		kind    Kind
		maybe   bool
	}{
		{"400", reply(400, `{"error":{"code":"invalid_request","message":"no"}}`), KindGatewayError, false},
		{"401", reply(401, `{}`), KindAuthInvalid, false},
		{"403", reply(403, `{}`), KindAccountNotLinked, false},
		{"404", reply(404, `{}`), KindUserNotFound, false},
		{"422", reply(422, `{}`), KindGatewayError, false},
		{"429", reply(429, `{}`, "Retry-After", "3600"), KindRateLimited, false},
		{"2xx failure envelope with a 4xx code", reply(200, `{"success":false,"code":422,"message":"not done"}`), KindGatewayError, false},
		{"2xx failure envelope without a status", reply(200, `{"success":false,"error":{"type":"upstream_error","code":"upstream_timeout","message":"late"}}`), KindGatewayError, true},
		{"2xx envelope with a 5xx code", reply(200, `{"code":502,"message":"upstream"}`), KindUnavailable, true},
		{"500", reply(500, `{}`), KindUnavailable, true},
		{"503 with a long Retry-After", reply(503, `{}`, "Retry-After", "3600"), KindUnavailable, true},
		{"2xx not JSON", reply(200, `<html>`), KindBadResponse, true},
		{"2xx without data.following", reply(200, `{"data":{}}`), KindBadResponse, true},
		{"redirect", reply(302, ``, "Location", "http://127.0.0.1:1/"), KindBadResponse, true},
		{"5xx then 429", func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.WriteHeader(502)
				return
			}
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
		}, KindRateLimited, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, tc.handler)
			c := newClient(t, g.srv.URL, &waits{})
			_, err := c.Unfollow(context.Background(), "12")
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.kind || e.MaybeApplied != tc.maybe {
				t.Fatalf("err = %v (maybe applied %v); want %s, maybe applied %v", err, e != nil && e.MaybeApplied, tc.kind, tc.maybe)
			}
		})
	}
}

// TestA503WithALongRetryAfterStaysA503: it is not a rate limit.
func TestA503WithALongRetryAfterStaysA503(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(503, `{}`, "Retry-After", "600"))
	w := &waits{}
	c := newClient(t, g.srv.URL, w)
	_, err := c.UserInfo(context.Background(), "jack")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.Status != 503 || e.RetryAfterSeconds() != 600 || g.calls.Load() != 1 {
		t.Fatalf("err = %v after %d calls", err, g.calls.Load())
	}
}

// TestTransportFailures: a refused connection never sent the request; a
// connection that dies or a timeout after sending may have applied it; a
// cancellation in flight too.
func TestTransportFailures(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := newClient(t, "http://"+addr, &waits{})
	_, err = c.Unfollow(context.Background(), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.MaybeApplied {
		t.Fatalf("refused connection: %v (maybe applied %v)", err, e != nil && e.MaybeApplied)
	}

	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	g := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	c = newClient(t, g.srv.URL, &waits{}, func(o *Options) { o.Timeout = 50 * time.Millisecond; o.MaxRetries = -1 })
	_, err = c.Unfollow(context.Background(), "12")
	if !errors.As(err, &e) || e.Kind != KindTimeout || !e.MaybeApplied {
		t.Fatalf("timeout: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c = newClient(t, g.srv.URL, &waits{})
	_, err = c.Unfollow(ctx, "12")
	if !errors.As(err, &e) || e.Kind != KindCanceled || !e.MaybeApplied {
		t.Fatalf("cancelled in flight: %v", err)
	}
}
