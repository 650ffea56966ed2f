package aisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

type stubTransport struct {
	status int
	body   []byte
	header http.Header
}

func (s stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h := s.header
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: s.status, Header: h, Body: io.NopCloser(bytes.NewReader(s.body)), Request: r}, nil
}

var knownKinds = map[Kind]bool{
	KindAuthInvalid: true, KindAccountNotLinked: true, KindUserNotFound: true, KindRateLimited: true,
	KindUnavailable: true, KindTimeout: true, KindBadResponse: true, KindGatewayError: true,
}

// FuzzGatewayResponse feeds arbitrary statuses, bodies and Retry-After
// values to every endpoint's decoder: no panic, every failure typed, and no
// success that the body does not support.
func FuzzGatewayResponse(f *testing.F) {
	seeds := []struct {
		status int
		body   string
		ra     string
	}{
		{200, `{"data":{"following":false}}`, ""},
		{200, `{"ok":true,"code":200,"data":{"following":false,"pending_follow":true}}`, ""},
		{200, `{"ok":false,"code":403,"data":{"following":false}}`, ""},
		{200, `{"users":[{"id":"12","userName":"jack"}],"status":"success"}`, ""},
		{200, `{"data":{"id":12,"userName":"jack"}}`, ""},
		{200, `{"followings":[{"id":"1","userName":"a"}],"has_next_page":true,"next_cursor":"c"}`, ""},
		{200, `{"data":{"following":true,"followed_by":false},"status":"success"}`, ""},
		{200, `{"auth_url":"https://twitter.com/i/oauth2/authorize?x=1"}`, ""},
		{429, `{"error":{"code":"rate_limit_exceeded"}}`, "99999999999999999999999"},
		{503, `<html>`, "Wed, 21 Oct 2015 07:28:00 GMT"},
		{302, ``, ""},
		{200, `{"code":"200","status":"error"}`, ""},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body), s.ra)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		if status < 100 || status > 999 {
			return
		}
		timer := time.AfterFunc(3*time.Second, func() {
			panic(fmt.Sprintf("hang on status=%d retryAfter=%q body=%q", status, retryAfter, body))
		})
		defer timer.Stop()
		c, err := New(Options{
			BaseURL: "https://gateway.test/apis/v1", APIKey: "sk-aisa-fuzz", MaxRetries: -1,
			Transport: stubTransport{status: status, body: body, header: http.Header{"Retry-After": {retryAfter}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(what string, err error) {
			if err == nil {
				if status < 200 || status > 299 || !json.Valid(body) {
					t.Fatalf("%s succeeded on status %d with body %q", what, status, body)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !knownKinds[e.Kind] {
				t.Fatalf("%s: untyped failure %v", what, err)
			}
			if e.Kind == KindRateLimited && e.RetryAfterSeconds() < 1 {
				t.Fatalf("%s: rate limited without a wait", what)
			}
		}
		st, err := c.Unfollow(ctx, "12")
		check("unfollow", err)
		if err == nil {
			// The success must rest on a boolean at exactly data.following.
			var top map[string]json.RawMessage
			var data map[string]json.RawMessage
			if json.Unmarshal(body, &top) != nil || json.Unmarshal(top["data"], &data) != nil ||
				string(bytes.TrimSpace(data["following"])) != strconv.FormatBool(st.Following) {
				t.Fatalf("unfollow succeeded without a boolean data.following: %q (%+v)", body, st)
			}
		}
		u, err := c.UserInfo(ctx, "jack")
		check("user info", err)
		if err == nil && !isNumericID(u.ID) {
			t.Fatalf("user info accepted id %q", u.ID)
		}
		p, err := c.Followings(ctx, "jack", "", 20)
		check("followings", err)
		for _, u := range p.Users {
			if !isNumericID(u.ID) {
				t.Fatalf("list accepted id %q", u.ID)
			}
		}
		_, err = c.CheckRelationship(ctx, "a", "b")
		check("check", err)
		l, err := c.StartAuth(ctx, nil)
		check("auth", err)
		if err == nil && !bytes.HasPrefix([]byte(l.AuthURL), []byte("https://")) {
			t.Fatalf("auth accepted %q", l.AuthURL)
		}
	})
}
