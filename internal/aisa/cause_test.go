package aisa

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTransportFailuresNameTheirCause provokes each kind of failure for
// real, on loopback (or with a resolver that cannot resolve), and checks
// that the error says which it was, after the retries an idempotent call
// gets, without the key.
func TestTransportFailuresNameTheirCause(t *testing.T) {
	t.Parallel()

	// A port that was just closed: connecting to it is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	// A TLS server whose certificate nobody trusts.
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(untrusted.Close)
	// A plain HTTP server reached over https.
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(plain.Close)
	// A server that accepts the connection and closes it without answering.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangup.Close() })
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	// A resolver that cannot reach any DNS server: every lookup fails.
	noDNS := func(o *Options) {
		d := &net.Dialer{Resolver: &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no DNS server in this test")
		}}}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = d.DialContext
		o.Transport = tr
	}

	for _, tc := range []struct {
		name  string
		base  string
		mod   []func(*Options)
		cause Cause
	}{
		{"dns", "https://gateway.xfollow-test.invalid/apis/v1", []func(*Options){noDNS}, CauseDNS},
		{"refused", "http://" + closedAddr, nil, CauseRefused},
		{"untrusted certificate", untrusted.URL, nil, CauseTLS},
		{"http spoken on https", strings.Replace(plain.URL, "http://", "https://", 1), nil, CauseTLS},
		{"closed without answer", "http://" + hangup.Addr().String(), nil, CauseClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &waits{}
			c := newClient(t, tc.base, w, tc.mod...)
			_, err := c.UserInfo(context.Background(), "jack")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Kind != KindUnavailable || e.Cause != tc.cause || e.Status != 0 {
				t.Fatalf("kind %s, cause %q, status %d, want %s %q: %v", e.Kind, e.Cause, e.Status, KindUnavailable, tc.cause, err)
			}
			if e.Host == "" || !strings.Contains(tc.base, e.Host) {
				t.Errorf("host %q, base %s", e.Host, tc.base)
			}
			if e.Attempts != 1+DefaultMaxRetries || len(w.all()) != DefaultMaxRetries {
				t.Errorf("attempts %d, waits %v: a transport failure of a read is retried", e.Attempts, w.all())
			}
			if !strings.Contains(err.Error(), "cause="+string(tc.cause)) || strings.Contains(err.Error(), testKey) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestStatusFailuresHaveNoCause: a 5xx is an answer, named by its status.
func TestStatusFailuresHaveNoCause(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(502, `{"error":{"message":"bad gateway"}}`))
	c := newClient(t, g.srv.URL, &waits{}, func(o *Options) { o.Timeout = time.Second })
	_, err := c.UserInfo(context.Background(), "jack")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.Status != 502 || e.Cause != "" {
		t.Fatalf("%+v", e)
	}
}
