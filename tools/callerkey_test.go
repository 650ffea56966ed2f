package tools

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

func TestCallerKeyReplacesTheServersKey(t *testing.T) {
	c, err := aisa.New(aisa.Options{APIKey: "sk-aisa-server"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Deps{Client: c}
	if got := depsFor(context.Background(), d); got != d {
		t.Fatal("without a caller key the server's deps must be used as they are")
	}
	got := depsFor(WithCallerKey(context.Background(), "sk-aisa-caller"), d)
	if got.Client.KeyFingerprint() != aisa.KeyFingerprint("sk-aisa-caller") {
		t.Fatalf("caller key not used: fingerprint %s", got.Client.KeyFingerprint())
	}
	if d.Client.KeyFingerprint() != aisa.KeyFingerprint("sk-aisa-server") {
		t.Fatal("the server's own client was changed")
	}
	if fp := aisa.KeyFingerprint("sk-aisa-caller"); len(fp) != 16 {
		t.Fatalf("fingerprint %q is not 16 hex characters", fp)
	}
}

// TestFollowingCacheIsPerCaller: what a scan read with one caller's key is
// not served to another caller, nor to the server's own key.
func TestFollowingCacheIsPerCaller(t *testing.T) {
	c, err := aisa.New(aisa.Options{APIKey: "sk-aisa-server"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Deps{Client: c, Following: NewFollowingCache(nil)}
	a := depsFor(WithCallerKey(context.Background(), "sk-aisa-caller-a"), d)
	b := depsFor(WithCallerKey(context.Background(), "sk-aisa-caller-b"), d)
	seg := scanSegment{username: "someone", from: scanPos{Index: 0}, end: scanPos{Index: 1, End: true},
		entries: []scanEntry{{user: aisa.User{ID: "12"}, following: true}}, positions: []scanPos{{Index: 0}}}
	a.Following.record("someone", nil, seg)
	if a.Following.view("@Someone", scanPos{}) == nil || !a.Following.Following("someone", "12") {
		t.Fatal("the caller does not see its own scan")
	}
	if b.Following.view("someone", scanPos{}) != nil || b.Following.Following("someone", "12") {
		t.Fatal("another caller sees the scan made with caller A's key")
	}
	if d.Following.view("someone", scanPos{}) != nil {
		t.Fatal("the server's own key sees the scan made with caller A's key")
	}
	again := depsFor(WithCallerKey(context.Background(), "sk-aisa-caller-a"), d)
	if again.Following.view("someone", scanPos{}) == nil {
		t.Fatal("the same caller's next request lost its scan")
	}
}

// TestCallerKeyRejectedTellsTheCallerWhatToFix: with the caller's own key, a
// 401 is about the header the caller sends, not the server's AISA_API_KEY.
func TestCallerKeyRejectedTellsTheCallerWhatToFix(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }))
	defer gw.Close()
	c, err := aisa.New(aisa.Options{BaseURL: gw.URL, APIKey: "sk-aisa-server-key-0001"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client *aisa.Client
		says   string
	}{
		{c, "in AISA_API_KEY and restart the server"},
		{c.WithKey("sk-aisa-caller-key-0002"), "in the Authorization: Bearer header"},
	} {
		_, err := tc.client.UserInfo(context.Background(), "jack")
		te := asToolError(err, "")
		if te.Code != CodeAuthInvalid || !strings.Contains(te.Msg, tc.says) {
			t.Errorf("%s", te)
		}
	}
}
