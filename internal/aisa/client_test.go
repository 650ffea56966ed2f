package aisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sk-aisa-TESTKEY-0123456789"

// waits records the backoff waits the client asks for, without sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// gateway is an httptest server answering with a scripted sequence.
type gateway struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []*http.Request
	body  []map[string]any
}

func newGateway(t *testing.T, handler func(n int, w http.ResponseWriter, r *http.Request)) *gateway {
	t.Helper()
	g := &gateway{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(g.calls.Add(1))
		var b map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &b)
		g.mu.Lock()
		g.reqs = append(g.reqs, r)
		g.body = append(g.body, b)
		g.mu.Unlock()
		handler(n, w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func newClient(t *testing.T, base string, w *waits, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: base, APIKey: testKey, UserAgent: "xfollow-mcp/test", Timeout: 2 * time.Second}
	if w != nil {
		o.Sleep = w.sleep
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(status int, body string, hdr ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestUnfollowSendsTheDocumentedRequest(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(200, `{"data":{"following":false}}`))
	c := newClient(t, g.srv.URL+"/apis/v1", nil)
	st, err := c.Unfollow(context.Background(), "2244994945")
	if err != nil {
		t.Fatal(err)
	}
	if st.Following {
		t.Fatal("following = true")
	}
	r := g.reqs[0]
	if r.Method != http.MethodPost || r.URL.Path != "/apis/v1/twitter/unfollow_twitter" {
		t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("User-Agent"); got != "xfollow-mcp/test" {
		t.Errorf("User-Agent = %q", got)
	}
	b := g.body[0]
	if b["target_user_id"] != "2244994945" || b["aisa_api_key"] != testKey || len(b) != 2 {
		t.Errorf("body = %v", b)
	}
}

func TestUnfollowEnvelopes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		kind   Kind // "" means success
		code   int  // expected e.Status
	}{
		{"published", 200, `{"data":{"following":false}}`, "", 0},
		{"client envelope", 200, `{"ok":true,"code":200,"data":{"following":false}}`, "", 0},
		{"code zero", 200, `{"code":0,"data":{"following":false},"msg":"ok"}`, "", 0},
		{"status success", 200, `{"status":"success","data":{"following":false}}`, "", 0},
		{"following true", 200, `{"data":{"following":true}}`, "", 0},
		{"ok false with following", 200, `{"ok":false,"code":403,"message":"not linked","data":{"following":false}}`, KindAccountNotLinked, 403},
		{"ok false no code", 200, `{"ok":false,"message":"boom","data":{"following":false}}`, KindGatewayError, 0},
		{"code 500 in 200", 200, `{"code":500,"msg":"upstream","data":{"following":false}}`, KindUnavailable, 500},
		{"code 401 string", 200, `{"code":"401","msg":"bad key"}`, KindAuthInvalid, 401},
		{"code non-http", 200, `{"code":10001,"msg":"weird","data":{"following":false}}`, KindGatewayError, 0},
		{"status error", 200, `{"status":"error","msg":"failed","data":{"following":false}}`, KindGatewayError, 0},
		{"success false", 200, `{"success":false,"error":{"code":"x","message":"nope"}}`, KindGatewayError, 0},
		{"error object in 200", 200, `{"error":{"type":"api_error","code":"boom","message":"m"},"data":{"following":false}}`, KindGatewayError, 0},
		{"missing following", 200, `{"data":{}}`, KindBadResponse, 0},
		{"following not bool", 200, `{"data":{"following":"false"}}`, KindBadResponse, 0},
		{"following null", 200, `{"data":{"following":null}}`, KindBadResponse, 0},
		{"following other case", 200, `{"Data":{"Following":false}}`, KindBadResponse, 0},
		{"no data", 200, `{"ok":true,"code":200}`, KindBadResponse, 0},
		{"html", 200, `<html>hi</html>`, KindBadResponse, 200},
		{"truncated", 200, `{"data":{"follo`, KindBadResponse, 200},
		{"array", 200, `[1,2]`, KindBadResponse, 200},
		{"204 empty", 204, ``, KindBadResponse, 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, reply(tc.status, tc.body))
			c := newClient(t, g.srv.URL, &waits{})
			st, err := c.Unfollow(context.Background(), "12")
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if tc.name == "following true" != st.Following {
					t.Fatalf("following = %v", st.Following)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != tc.kind || e.Status != tc.code {
				t.Fatalf("kind, status = %s, %d; want %s, %d (%v)", e.Kind, e.Status, tc.kind, tc.code, e)
			}
		})
	}
}

func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		kind     Kind
		attempts int
	}{
		{400, KindGatewayError, 1},
		{401, KindAuthInvalid, 1},
		{403, KindAccountNotLinked, 1},
		{404, KindUserNotFound, 1},
		{409, KindGatewayError, 1},
		{422, KindGatewayError, 1},
		{429, KindRateLimited, 4},
		{500, KindUnavailable, 4},
		{502, KindUnavailable, 4},
		{503, KindUnavailable, 4},
		{504, KindUnavailable, 4},
		{501, KindUnavailable, 1},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			body := `{"error":{"type":"t","code":"c_` + http.StatusText(tc.status) + `","message":"m","request_id":"req_body"}}`
			g := newGateway(t, reply(tc.status, body))
			w := &waits{}
			c := newClient(t, g.srv.URL, w)
			_, err := c.Unfollow(context.Background(), "12")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Kind != tc.kind || e.Status != tc.status {
				t.Errorf("kind, status = %s, %d", e.Kind, e.Status)
			}
			if got := int(g.calls.Load()); got != tc.attempts || e.Attempts != tc.attempts {
				t.Errorf("attempts = %d (reported %d), want %d", got, e.Attempts, tc.attempts)
			}
			if e.RequestID != "req_body" || e.Message != "m" || e.Code != "c_"+http.StatusText(tc.status) {
				t.Errorf("request_id, message, code = %q, %q, %q", e.RequestID, e.Message, e.Code)
			}
		})
	}
}

func TestErrorBodiesAndRequestIDHeader(t *testing.T) {
	t.Parallel()
	cases := []struct{ body, msg, code string }{
		{`{"error":{"type":"authentication_error","code":"invalid_api_key","message":"The API key is invalid."}}`, "The API key is invalid.", "invalid_api_key"},
		{`{"message":"plain message","code":"bad"}`, "plain message", "bad"},
		{`{"msg":"client style","code":401,"data":null}`, "client style", "401"},
		{`{"success":false,"error":{"code":"E1","message":"nested"}}`, "nested", "E1"},
		{`{"error":"just a string"}`, "just a string", ""},
		{`not json`, "", ""},
	}
	for _, tc := range cases {
		g := newGateway(t, reply(401, tc.body, "X-Request-Id", "req_hdr"))
		c := newClient(t, g.srv.URL, &waits{})
		_, err := c.Unfollow(context.Background(), "12")
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindAuthInvalid {
			t.Fatalf("%s: err = %v", tc.body, err)
		}
		if e.Message != tc.msg || e.Code != tc.code || e.RequestID != "req_hdr" {
			t.Errorf("%s: message, code, request_id = %q, %q, %q", tc.body, e.Message, e.Code, e.RequestID)
		}
	}
}

func TestRetryThenSuccessAndBackoff(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"following":false}}`)
	})
	w := &waits{}
	c := newClient(t, g.srv.URL, w)
	if _, err := c.Unfollow(context.Background(), "12"); err != nil {
		t.Fatal(err)
	}
	d := w.all()
	if len(d) != 2 {
		t.Fatalf("waits = %v", d)
	}
	// About 1 s then about 2 s, each within +/-25%.
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if d[i] < want*3/4 || d[i] > want*5/4 {
			t.Errorf("wait %d = %s, want %s +/-25%%", i, d[i], want)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"http date", now.Add(5 * time.Second).Format(http.TimeFormat), 6 * time.Second},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.value)
					w.WriteHeader(429)
					return
				}
				_, _ = io.WriteString(w, `{"data":{"following":false}}`)
			})
			w := &waits{}
			c := newClient(t, g.srv.URL, w, func(o *Options) { o.Now = func() time.Time { return now } })
			if _, err := c.Unfollow(context.Background(), "12"); err != nil {
				t.Fatal(err)
			}
			d := w.all()
			if len(d) != 1 {
				t.Fatalf("waits = %v", d)
			}
			if tc.want > 0 && d[0] != tc.want {
				t.Errorf("wait = %s, want exactly %s (never shortened by jitter)", d[0], tc.want)
			}
			if tc.want == 0 && (d[0] < 750*time.Millisecond || d[0] > 1250*time.Millisecond) {
				t.Errorf("wait = %s, want the ~1s backoff", d[0])
			}
		})
	}
}

func TestRetryAfterAboveCapIsNotSlept(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"3600", "99999999999999999999", time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)} {
		g := newGateway(t, reply(429, `{"error":{"code":"upstream_rate_limit","message":"slow down"}}`, "Retry-After", v))
		w := &waits{}
		c := newClient(t, g.srv.URL, w)
		_, err := c.Unfollow(context.Background(), "12")
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindRateLimited {
			t.Fatalf("Retry-After %s: err = %v", v, err)
		}
		if len(w.all()) != 0 || g.calls.Load() != 1 {
			t.Errorf("Retry-After %s: slept %v over %d calls; want no sleep and one call", v, w.all(), g.calls.Load())
		}
		if e.RetryAfterSeconds() < 3600 {
			t.Errorf("Retry-After %s: RetryAfterSeconds = %d", v, e.RetryAfterSeconds())
		}
	}
}

func TestRateLimitExhaustsRetries(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(429, `{}`, "Retry-After", "2"))
	w := &waits{}
	c := newClient(t, g.srv.URL, w)
	_, err := c.Unfollow(context.Background(), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRateLimited || e.RetryAfterSeconds() != 2 {
		t.Fatalf("err = %v", err)
	}
	if g.calls.Load() != 4 || len(w.all()) != 3 {
		t.Errorf("calls = %d, waits = %v; want 4 calls (3 retries)", g.calls.Load(), w.all())
	}
}

func TestCancelMidBackoffStopsAtOnce(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(503, ``))
	c := newClient(t, g.srv.URL, nil, func(o *Options) { o.Backoff = time.Hour; o.MaxRetryWait = 2 * time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Unfollow(ctx, "12")
		done <- err
	}()
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindCanceled {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client kept waiting after cancellation")
	}
	if g.calls.Load() != 1 {
		t.Errorf("calls = %d", g.calls.Load())
	}
}

func TestNonIdempotentIsNotRetried(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(503, ``))
	c := newClient(t, g.srv.URL, &waits{})
	_, err := c.StartAuth(context.Background(), nil)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || g.calls.Load() != 1 {
		t.Fatalf("err = %v, calls = %d", err, g.calls.Load())
	}
}

func TestTimeoutIsRetriedThenReported(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	w := &waits{}
	c := newClient(t, g.srv.URL, w, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	_, err := c.Unfollow(context.Background(), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTimeout {
		t.Fatalf("err = %v", err)
	}
	if e.Attempts != 4 || len(w.all()) != 3 {
		t.Errorf("attempts = %d, waits = %v", e.Attempts, w.all())
	}
}

func TestBodyCap(t *testing.T) {
	t.Parallel()
	big := `{"data":{"following":false},"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	g := newGateway(t, reply(200, big))
	c := newClient(t, g.srv.URL, &waits{})
	_, err := c.Unfollow(context.Background(), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindBadResponse {
		t.Fatalf("err = %v", err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	other := newGateway(t, reply(200, `{"data":{"following":false}}`))
	g := newGateway(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/steal", http.StatusTemporaryRedirect)
	})
	c := newClient(t, g.srv.URL, &waits{})
	_, err := c.Unfollow(context.Background(), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindBadResponse {
		t.Fatalf("err = %v", err)
	}
	if other.calls.Load() != 0 {
		t.Fatal("the redirect was followed: the key reached another host")
	}
}

func TestBaseURLValidation(t *testing.T) {
	t.Parallel()
	ok := []string{"https://api.aisa.one/apis/v1", "http://127.0.0.1:8080/apis/v1", "http://localhost:1", "http://[::1]:9/x"}
	bad := []string{"http://api.aisa.one/apis/v1", "http://10.0.0.1/x", "ftp://x", "api.aisa.one", "https://user:pw@x.com", "https://x.com/?a=1"}
	for _, u := range ok {
		if _, err := ValidateBaseURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range bad {
		if _, err := ValidateBaseURL(u); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
}

func TestNoKeyIsNotConfigured(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(200, `{"data":{"following":false}}`))
	c, err := New(Options{BaseURL: g.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Unfollow(context.Background(), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNotConfigured || g.calls.Load() != 0 {
		t.Fatalf("err = %v, calls = %d", err, g.calls.Load())
	}
}

func TestKeyIsScrubbedFromGatewayText(t *testing.T) {
	t.Parallel()
	g := newGateway(t, reply(401, `{"error":{"code":"`+testKey+`","message":"key `+testKey+` revoked"}}`))
	c := newClient(t, g.srv.URL, &waits{})
	_, err := c.Unfollow(context.Background(), "12")
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Fatalf("err = %v", err)
	}
}

func TestUserInfoShapes(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"users array": `{"users":[{"id":"2244994945","userName":"TwitterDev","name":"Developers","isBlueVerified":true,"followers":10,"following":3,"protected":false}],"status":"success","msg":"ok"}`,
		"data object": `{"data":{"id":"2244994945","userName":"TwitterDev","name":"Developers","isBlueVerified":true,"followers":10,"following":3,"protected":false},"status":"success"}`,
		"snake case":  `{"data":{"id_str":"2244994945","screen_name":"TwitterDev","name":"Developers","verified":true,"followers_count":10,"friends_count":3,"protected":false}}`,
	}
	for name, body := range cases {
		g := newGateway(t, reply(200, body))
		c := newClient(t, g.srv.URL, &waits{})
		u, err := c.UserInfo(context.Background(), "TwitterDev")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if u.ID != "2244994945" || u.Username != "TwitterDev" || u.Name != "Developers" ||
			u.Verified == nil || !*u.Verified || *u.FollowersCount != 10 || *u.FollowingCount != 3 || *u.Protected {
			t.Errorf("%s: %+v", name, u)
		}
		if q := g.reqs[0].URL.Query().Get("userName"); q != "TwitterDev" || g.reqs[0].Method != http.MethodGet {
			t.Errorf("%s: query userName = %q", name, q)
		}
	}
	for name, body := range map[string]string{
		"empty users":    `{"users":[],"status":"success"}`,
		"status error":   `{"status":"error","msg":"User not found"}`,
		"unavailable":    `{"data":{"id":"1","userName":"x","unavailable":true}}`,
		"null data only": `{"data":null,"status":"success"}`,
	} {
		g := newGateway(t, reply(200, body))
		c := newClient(t, g.srv.URL, &waits{})
		_, err := c.UserInfo(context.Background(), "x")
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindUserNotFound {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestListShapes(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"followings", "followers", "users"} {
		body := `{"` + key + `":[{"id":"1","userName":"a","name":"A"},{"id":"2","userName":"b","name":"B"}],"has_next_page":true,"next_cursor":"abc","status":"success"}`
		g := newGateway(t, reply(200, body))
		c := newClient(t, g.srv.URL, &waits{})
		p, err := c.Followings(context.Background(), "a", "", 20)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if len(p.Users) != 2 || p.Users[1].Username != "b" || !p.HasNextPage || p.NextCursor != "abc" {
			t.Errorf("%s: %+v", key, p)
		}
		if q := g.reqs[0].URL.Query(); q.Get("pageSize") != "20" || q.Get("userName") != "a" {
			t.Errorf("%s: query = %v", key, q)
		}
	}
	g := newGateway(t, reply(200, `{"status":"success"}`))
	c := newClient(t, g.srv.URL, &waits{})
	if _, err := c.Followers(context.Background(), "a", "", 0); err == nil {
		t.Error("a page without a list was accepted")
	}
}

func TestAuthShapes(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"auth_url":"https://twitter.com/i/oauth2/authorize?x=1","state":"s","expires_at":"2026-04-18T07:00:00Z"}`,
		`{"ok":true,"code":200,"data":{"auth_url":"https://twitter.com/i/oauth2/authorize?x=1","expires_at":"2026-04-18T07:00:00Z"}}`,
	} {
		g := newGateway(t, reply(200, body))
		c := newClient(t, g.srv.URL, &waits{})
		l, err := c.StartAuth(context.Background(), []string{"follows.write"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l.AuthURL, "https://twitter.com/") || l.ExpiresAt != "2026-04-18T07:00:00Z" {
			t.Errorf("%+v", l)
		}
		if sc, _ := g.body[0]["scopes"].([]any); len(sc) != 1 || g.body[0]["aisa_api_key"] != testKey {
			t.Errorf("body = %v", g.body[0])
		}
	}
	g := newGateway(t, reply(200, `{"auth_url":"http://evil.example/x"}`))
	c := newClient(t, g.srv.URL, &waits{})
	if _, err := c.StartAuth(context.Background(), nil); err == nil {
		t.Error("a non-https auth_url was accepted")
	}
}

func TestSignIsKeyedAndStable(t *testing.T) {
	a, _ := New(Options{APIKey: "sk-aisa-first-key-000"})
	b, _ := New(Options{APIKey: "sk-aisa-second-key-00"})
	data := []byte("state")
	if !bytes.Equal(a.Sign("p", data), a.WithKey("sk-aisa-first-key-000").Sign("p", data)) {
		t.Fatal("the same key gives another sum")
	}
	if bytes.Equal(a.Sign("p", data), b.Sign("p", data)) || bytes.Equal(a.Sign("p", data), a.Sign("q", data)) {
		t.Fatal("another key or purpose gives the same sum")
	}
	if s := a.Sign("p", data); len(s) != 32 || bytes.Contains(s, []byte("sk-aisa")) {
		t.Fatalf("sum %x", s)
	}
	none, _ := New(Options{})
	if none.Sign("p", data) != nil {
		t.Fatal("a client without a key signs")
	}
}

// TestCheckBeforeResend: a write that may have reached the gateway (a
// timeout) is not sent again; one that cannot have (a 429) still is.
func TestCheckBeforeResend(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c := newClient(t, g.srv.URL, &waits{}, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	_, err := c.Unfollow(CheckBeforeResend(context.Background()), "12")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTimeout || !e.MaybeApplied || g.calls.Load() != 1 {
		t.Fatalf("err = %v, calls = %d; want one attempt, maybe applied", err, g.calls.Load())
	}
	g2 := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(429)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"following":false}}`)
	})
	c2 := newClient(t, g2.srv.URL, &waits{})
	if _, err := c2.Unfollow(CheckBeforeResend(context.Background()), "12"); err != nil || g2.calls.Load() != 2 {
		t.Fatalf("err = %v, calls = %d; a 429 is retried", err, g2.calls.Load())
	}
}

// TestResendGuard: a write whose guard says no after the wait sends nothing
// more and returns the last attempt's error; one whose guard says yes is
// retried.
func TestResendGuard(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		g := newGateway(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.WriteHeader(429)
				return
			}
			_, _ = io.WriteString(w, `{"data":{"following":false}}`)
		})
		c := newClient(t, g.srv.URL, &waits{})
		asked := 0
		ctx := WithResendGuard(CheckBeforeResend(context.Background()), func() bool { asked++; return allow })
		_, err := c.Unfollow(ctx, "12")
		var e *Error
		switch {
		case asked != 1:
			t.Errorf("allow %v: the guard was asked %d times, want once", allow, asked)
		case !allow && (g.calls.Load() != 1 || !errors.As(err, &e) || e.Kind != KindRateLimited):
			t.Errorf("guard says no: err = %v, calls = %d; want the 429 and one attempt", err, g.calls.Load())
		case allow && (err != nil || g.calls.Load() != 2):
			t.Errorf("guard says yes: err = %v, calls = %d; want a retry", err, g.calls.Load())
		}
	}
}

// TestGatewayIsNormal: one gateway spelled several ways is one name in the
// journal (and so one budget).
func TestGatewayIsNormal(t *testing.T) {
	for _, base := range []string{
		"https://api.aisa.one/apis/v1",
		"https://api.aisa.one./apis/v1",
		"https://API.Aisa.One.:443/apis/v1",
		"https://api.aisa.one:443/apis/v1",
		"https://api.aisa.one:0443/apis/v1", // what the dialer takes for 443
		"https://api.aisa.one:/apis/v1",     // an empty port is the default
	} {
		c, err := New(Options{BaseURL: base})
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if got := c.Gateway(); got != "api.aisa.one" {
			t.Errorf("%s: gateway %q, want api.aisa.one", base, got)
		}
	}
}
