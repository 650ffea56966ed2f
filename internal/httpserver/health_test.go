package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHealthReportsItsChecks: /healthz answers 200 while every check
// passes and 503 naming the one that fails, with no credentials, no error
// text, and within the checks' timeout when one hangs.
func TestHealthReportsItsChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var down atomic.Bool
	var hang atomic.Bool
	check := func(ctx context.Context) error {
		if hang.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
		if down.Load() {
			return errors.New("dial tcp 10.0.0.7:6379: connection refused; password=hunter2")
		}
		return nil
	}
	srv := httptest.NewServer(f.handler(Options{Token: testToken, Checks: map[string]func(context.Context) error{"state_store": check}}))
	defer srv.Close()
	get := func() (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", res.Header)
		}
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get(); code != 200 || body != `{"status":"ok","checks":{"state_store":"up"}}` {
		t.Fatalf("up: %d %s", code, body)
	}
	down.Store(true)
	if code, body := get(); code != 503 || body != `{"status":"unavailable","checks":{"state_store":"down"}}` {
		t.Fatalf("down: %d %s", code, body)
	}
	// Liveness asks only whether the server serves.
	res, err := http.Get(srv.URL + HealthPath + "?live")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Fatalf("live while the store is down: %d %s", res.StatusCode, b)
	}
	hang.Store(true)
	began := time.Now()
	if code, body := get(); code != 503 || !strings.Contains(body, `"state_store":"down"`) {
		t.Fatalf("hanging: %d %s", code, body)
	}
	if d := time.Since(began); d > HealthCheckTimeout+time.Second {
		t.Fatalf("a hanging check held /healthz for %s", d)
	}
	hang.Store(false)
	down.Store(false)
	if code, _ := get(); code != 200 {
		t.Fatalf("back up: %d", code)
	}
}

// TestHealthSaysUnsafe: a check that answers ErrUnsafe is named unsafe with
// 200 (serving goes on), and a check that is down still makes it 503.
func TestHealthSaysUnsafe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var down atomic.Bool
	checks := map[string]func(context.Context) error{
		"state_store": func(context.Context) error {
			return fmt.Errorf("%w: maxmemory-policy allkeys-lru", ErrUnsafe)
		},
		"other": func(context.Context) error {
			if down.Load() {
				return errors.New("down")
			}
			return nil
		},
	}
	srv := httptest.NewServer(f.handler(Options{Token: testToken, Checks: checks}))
	defer srv.Close()
	get := func() (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get(); code != 200 || body != `{"status":"unsafe","checks":{"other":"up","state_store":"unsafe"}}` {
		t.Fatalf("unsafe: %d %s", code, body)
	}
	down.Store(true)
	if code, body := get(); code != 503 || body != `{"status":"unavailable","checks":{"other":"down","state_store":"unsafe"}}` {
		t.Fatalf("unsafe and down: %d %s", code, body)
	}
}
