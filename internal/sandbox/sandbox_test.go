package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, h http.Handler, method, path, body string, auth bool) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, BasePath+path, strings.NewReader(body))
	if auth {
		req.Header.Set("Authorization", "Bearer k")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec, m
}

func TestUnfollowRateLimitAndWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sb := New(Options{Now: func() time.Time { return now }})
	for i := 0; i < DefaultUnfollowLimit; i++ {
		rec, m := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true)
		if rec.Code != 200 || m["data"].(map[string]any)["following"] != false {
			t.Fatalf("unfollow %d: %d %v", i, rec.Code, m)
		}
		now = now.Add(time.Second)
	}
	rec, m := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "850" || m["error"] == nil {
		t.Fatalf("51st: %d Retry-After=%q %v", rec.Code, rec.Header().Get("Retry-After"), m)
	}
	now = now.Add(851 * time.Second)
	if rec, _ := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true); rec.Code != 200 {
		t.Fatalf("after the window: %d", rec.Code)
	}
}

func TestStatusesAndEnvelopes(t *testing.T) {
	sb := New(Options{Envelope: EnvelopeOK})
	if rec, _ := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, false); rec.Code != 401 {
		t.Errorf("no key: %d", rec.Code)
	}
	for _, body := range []string{`{"target_user_id":"@jack"}`, `{"target_user_id":12}`, `{}`, `not json`} {
		if rec, _ := do(t, sb, "POST", "/twitter/unfollow_twitter", body, true); rec.Code != 400 {
			t.Errorf("%s: %d", body, rec.Code)
		}
	}
	rec, m := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true)
	if rec.Code != 200 || m["ok"] != true || m["code"] != float64(200) || rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("ok envelope: %v", m)
	}
	sb.Unlink()
	if rec, _ := do(t, sb, "POST", "/twitter/follow_twitter", `{"target_user_id":"12"}`, true); rec.Code != 403 {
		t.Errorf("unlinked: %d", rec.Code)
	}
	sb.Link()
	if rec, _ := do(t, sb, "POST", "/twitter/follow_twitter", `{"target_user_id":"999"}`, true); rec.Code != 404 {
		t.Errorf("unknown id: %d", rec.Code)
	}
	if rec, _ := do(t, sb, "GET", "/twitter/user/info?userName=nobody_at_all", "", true); rec.Code != 404 {
		t.Errorf("unknown user: %d", rec.Code)
	}
	if rec, _ := do(t, sb, "POST", "/twitter/auth_twitter", `{"scopes":["follows.write","admin"]}`, true); rec.Code != 400 {
		t.Errorf("bad scope: %d", rec.Code)
	}
}

func TestGraphIsConsistent(t *testing.T) {
	sb := New(Options{})
	check := func() (bool, bool) {
		_, m := do(t, sb, "GET", "/twitter/user/check_follow_relationship?source_user_name=xfollow_sandbox&target_user_name=TwitterDev", "", true)
		d := m["data"].(map[string]any)
		return d["following"].(bool), d["followed_by"].(bool)
	}
	if f, fb := check(); !f || !fb {
		t.Fatalf("seed: %v %v", f, fb)
	}
	do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"2244994945"}`, true)
	if f, fb := check(); f || !fb {
		t.Fatalf("after unfollow: %v %v", f, fb)
	}
	_, m := do(t, sb, "POST", "/twitter/follow_twitter", `{"target_user_id":"1500000000000000001"}`, true)
	if d := m["data"].(map[string]any); d["following"] != false || d["pending_follow"] != true {
		t.Fatalf("protected follow: %v", m)
	}
	// Paging walks the whole list once.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		_, m := do(t, sb, "GET", "/twitter/user/followings?userName=xfollow_sandbox&pageSize=20&cursor="+cursor, "", true)
		for _, u := range m["followings"].([]any) {
			id := u.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("id %s on two pages", id)
			}
			seen[id] = true
		}
		if m["has_next_page"] != true {
			break
		}
		cursor = m["next_cursor"].(string)
	}
	if len(seen) != len(sb.Following()) || seen["2244994945"] {
		t.Fatalf("paged %d ids; follows %d", len(seen), len(sb.Following()))
	}
}

func TestFailNext(t *testing.T) {
	sb := New(Options{})
	sb.FailNext("/twitter/unfollow_twitter", 503, `{}`, http.Header{"Retry-After": {"2"}})
	rec, _ := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("%d", rec.Code)
	}
	if rec, _ := do(t, sb, "POST", "/twitter/unfollow_twitter", `{"target_user_id":"12"}`, true); rec.Code != 200 {
		t.Fatalf("the fault repeated: %d", rec.Code)
	}
	if w := sb.Writes(); len(w) != 2 || w[0].TargetUserID != "12" || w[0].Status != 503 {
		t.Fatalf("writes = %+v", w)
	}
}
