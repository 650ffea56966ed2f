package aisa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FollowState is the gateway's answer to a follow or unfollow.
type FollowState struct {
	Following     bool
	PendingFollow bool // follow only: a protected account has yet to approve
	RequestID     string
}

// Unfollow makes the linked X account stop following targetUserID
// (POST /twitter/unfollow_twitter). The gateway's answer must carry a boolean
// "following"; a 2xx without one is a KindBadResponse error. The caller
// decides what following=true means.
func (c *Client) Unfollow(ctx context.Context, targetUserID string) (FollowState, error) {
	return c.followCall(ctx, "/twitter/unfollow_twitter", targetUserID)
}

// Follow makes the linked X account follow targetUserID
// (POST /twitter/follow_twitter).
func (c *Client) Follow(ctx context.Context, targetUserID string) (FollowState, error) {
	return c.followCall(ctx, "/twitter/follow_twitter", targetUserID)
}

func (c *Client) followCall(ctx context.Context, path, targetUserID string) (FollowState, error) {
	res, err := c.do(ctx, request{
		method:     http.MethodPost,
		path:       path,
		body:       map[string]any{"target_user_id": targetUserID},
		idempotent: true, // X treats both as idempotent: repeating has no further effect
	})
	if err != nil {
		return FollowState{}, err
	}
	data := exactMembers(res.data)
	following, ok := exactBool(data, "following")
	if !ok {
		return FollowState{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, MaybeApplied: true,
			Detail: `the gateway answered 2xx without a boolean data.following`}
	}
	st := FollowState{Following: following, RequestID: res.requestID}
	st.PendingFollow, _ = exactBool(data, "pending_follow")
	return st, nil
}

// User is a profile as the gateway's user/info endpoint describes it. Pointer
// fields are nil when the gateway did not say.
type User struct {
	ID             string
	Username       string
	Name           string
	Protected      *bool
	Verified       *bool
	FollowersCount *int64
	FollowingCount *int64
	// What list pages carry besides: an https profile picture URL, the bio,
	// and the account's creation time (UTC); empty or nil when the gateway
	// did not say, or said something unusable.
	ProfileImageURL string
	Description     string
	CreatedAt       *time.Time
}

// rawUser accepts the field names of both user shapes the gateway is known
// to use (twitterapi.io's camelCase, and X's own snake_case).
type rawUser struct {
	ID             json.RawMessage `json:"id"`
	IDStr          string          `json:"id_str"`
	UserName       string          `json:"userName"`
	Username       string          `json:"username"`
	ScreenName     string          `json:"screen_name"`
	Name           string          `json:"name"`
	Protected      optBool         `json:"protected"`
	IsBlueVerified optBool         `json:"isBlueVerified"`
	Verified       optBool         `json:"verified"`
	Followers      optInt          `json:"followers"`
	FollowersCount optInt          `json:"followers_count"`
	Following      optInt          `json:"following"`
	FriendsCount   optInt          `json:"friends_count"`
	FollowingCount optInt          `json:"following_count"`
	Unavailable    optBool         `json:"unavailable"`
	// twitterapi.io: profilePicture, createdAt ("Thu Dec 13 08:41:26 +0000
	// 2007"); X v2: profile_image_url, created_at (RFC 3339); X v1.1:
	// profile_image_url_https, created_at (the same form as createdAt).
	ProfilePicture       optString `json:"profilePicture"`
	ProfileImageURL      optString `json:"profile_image_url"`
	ProfileImageURLHTTPS optString `json:"profile_image_url_https"`
	Description          optString `json:"description"`
	CreatedAtCamel       optString `json:"createdAt"`
	CreatedAt            optString `json:"created_at"`
}

// optBool is a boolean that is nil when absent or not a boolean, so that one
// odd field never makes a whole profile unreadable.
type optBool struct{ v *bool }

func (o *optBool) UnmarshalJSON(b []byte) error {
	var v bool
	if string(b) != "null" && json.Unmarshal(b, &v) == nil {
		o.v = &v
	}
	return nil
}

// optInt is an integer that is nil when absent or not an integer.
type optInt struct{ v *int64 }

func (o *optInt) UnmarshalJSON(b []byte) error {
	var v int64
	if string(b) != "null" && json.Unmarshal(b, &v) == nil {
		o.v = &v
	}
	return nil
}

// optString is a string that is empty when absent or not a string.
type optString struct{ v string }

func (o *optString) UnmarshalJSON(b []byte) error {
	var v string
	if json.Unmarshal(b, &v) == nil {
		o.v = v
	}
	return nil
}

// maxDescriptionLen bounds a bio as kept (X allows 160 characters; the
// bound is generous and only stops a runaway answer).
const maxDescriptionLen = 1024

// profileImageURL is u when it is an absolute https URL with a host, or "".
func profileImageURL(vs ...string) string {
	for _, v := range vs {
		if v == "" || len(v) > 2048 {
			continue
		}
		p, err := url.Parse(v)
		if err == nil && p.Scheme == "https" && p.Host != "" && p.User == nil {
			return v
		}
	}
	return ""
}

// createdAtLayouts are the forms the gateway's shapes give an account's
// creation time in.
var createdAtLayouts = []string{time.RubyDate, time.RFC3339Nano, time.RFC3339}

func parseCreatedAt(vs ...string) *time.Time {
	for _, v := range vs {
		for _, layout := range createdAtLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				t = t.UTC().Truncate(time.Second)
				return &t
			}
		}
	}
	return nil
}

func (r rawUser) user() (User, bool) {
	id := jsonString(r.ID)
	if id == "" {
		// Some shapes give the id as a number; keep its exact digits.
		var n json.Number
		if len(r.ID) > 0 && json.Unmarshal(r.ID, &n) == nil {
			id = n.String()
		}
	}
	if id == "" {
		id = r.IDStr
	}
	if !isNumericID(id) {
		return User{}, false
	}
	u := User{
		ID:        id,
		Username:  firstNonEmpty(r.UserName, r.Username, r.ScreenName),
		Name:      r.Name,
		Protected: r.Protected.v,
	}
	if r.Verified.v != nil {
		u.Verified = r.Verified.v
	} else {
		u.Verified = r.IsBlueVerified.v
	}
	u.FollowersCount = firstInt(r.Followers.v, r.FollowersCount.v)
	u.FollowingCount = firstInt(r.Following.v, r.FollowingCount.v, r.FriendsCount.v)
	u.ProfileImageURL = profileImageURL(r.ProfilePicture.v, r.ProfileImageURLHTTPS.v, r.ProfileImageURL.v)
	if d := strings.TrimSpace(r.Description.v); d != "" && utf8.ValidString(d) {
		if len(d) > maxDescriptionLen {
			d = strings.ToValidUTF8(d[:maxDescriptionLen], "")
		}
		u.Description = d
	}
	u.CreatedAt = parseCreatedAt(r.CreatedAtCamel.v, r.CreatedAt.v)
	return u, true
}

func firstInt(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func isNumericID(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// UserInfo resolves a screen name (without @) to a profile
// (GET /twitter/user/info). An unknown or unavailable handle is a
// KindUserNotFound error.
func (c *Client) UserInfo(ctx context.Context, username string) (User, error) {
	res, err := c.do(ctx, request{
		method:     http.MethodGet,
		path:       "/twitter/user/info",
		query:      url.Values{"userName": {username}},
		idempotent: true,
	})
	if err != nil {
		return User{}, notFoundFromEnvelope(err)
	}
	var candidates []rawUser
	if len(res.data) > 0 && res.data[0] == '{' {
		var ru rawUser
		if json.Unmarshal(res.data, &ru) != nil {
			return User{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "data is not a user object"}
		}
		candidates = append(candidates, ru)
	} else if raw, ok := res.body["users"]; ok {
		if json.Unmarshal(raw, &candidates) != nil {
			return User{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "users is not a list of user objects"}
		}
	} else if len(res.data) > 0 && res.data[0] == '[' {
		if json.Unmarshal(res.data, &candidates) != nil {
			return User{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "data is not a list of user objects"}
		}
	}
	for _, ru := range candidates {
		if ru.Unavailable.v != nil && *ru.Unavailable.v {
			continue
		}
		u, ok := ru.user()
		if !ok {
			continue
		}
		// users[] may hold more than the one asked for; take the exact match.
		if len(candidates) > 1 && !strings.EqualFold(u.Username, username) {
			continue
		}
		return u, nil
	}
	if len(candidates) == 0 && len(res.data) > 0 && string(res.data) != "null" {
		return User{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "no user in the answer"}
	}
	return User{}, &Error{Kind: KindUserNotFound, Status: http.StatusNotFound, RequestID: res.requestID,
		Detail: "no such user, or the account is suspended or unavailable"}
}

// MaxBatchInfoIDs is the most ids one BatchInfoByIDs call sends.
const MaxBatchInfoIDs = 100

// BatchInfoByIDs looks up profiles by numeric id in one call
// (GET /twitter/user/batch_info_by_ids?userIds=1,2,3). The answer lists the
// users the gateway knows, in any order; ids it does not know are absent.
func (c *Client) BatchInfoByIDs(ctx context.Context, ids []string) ([]User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxBatchInfoIDs {
		return nil, &Error{Kind: KindInvalidRequest, Detail: fmt.Sprintf("at most %d ids per lookup", MaxBatchInfoIDs)}
	}
	res, err := c.do(ctx, request{
		method:     http.MethodGet,
		path:       "/twitter/user/batch_info_by_ids",
		query:      url.Values{"userIds": {strings.Join(ids, ",")}},
		idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	raw, ok := res.body["users"]
	if !ok && len(res.data) > 0 {
		raw = res.data
		if res.data[0] == '{' {
			var inner map[string]json.RawMessage
			if json.Unmarshal(res.data, &inner) == nil {
				raw = inner["users"]
			}
		}
	}
	var list []rawUser
	if len(raw) > 0 && string(raw) != "null" && json.Unmarshal(raw, &list) != nil {
		return nil, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "users is not a list of user objects"}
	}
	out := make([]User, 0, len(list))
	for _, ru := range list {
		if ru.Unavailable.v != nil && *ru.Unavailable.v {
			continue
		}
		if u, ok := ru.user(); ok {
			out = append(out, u)
		}
	}
	return out, nil
}

// Relationship is the follow relationship between two accounts.
type Relationship struct {
	Following  bool // source follows target
	FollowedBy bool // target follows source
	RequestID  string
}

// CheckRelationship asks whether source follows target and target follows
// source (GET /twitter/user/check_follow_relationship; screen names).
func (c *Client) CheckRelationship(ctx context.Context, source, target string) (Relationship, error) {
	res, err := c.do(ctx, request{
		method:     http.MethodGet,
		path:       "/twitter/user/check_follow_relationship",
		query:      url.Values{"source_user_name": {source}, "target_user_name": {target}},
		idempotent: true,
	})
	if err != nil {
		return Relationship{}, notFoundFromEnvelope(err)
	}
	data := exactMembers(res.data)
	following, ok1 := exactBool(data, "following")
	followedBy, ok2 := exactBool(data, "followed_by")
	if !ok1 || !ok2 {
		return Relationship{}, &Error{Kind: KindBadResponse, RequestID: res.requestID,
			Detail: "the gateway answered 2xx without boolean data.following and data.followed_by"}
	}
	return Relationship{Following: following, FollowedBy: followedBy, RequestID: res.requestID}, nil
}

// Page is one page of a follow list.
type Page struct {
	Users       []User
	HasNextPage bool
	NextCursor  string
	RequestID   string
}

// Followings lists the accounts username follows (GET /twitter/user/followings).
func (c *Client) Followings(ctx context.Context, username, cursor string, pageSize int) (Page, error) {
	return c.listCall(ctx, "/twitter/user/followings", username, cursor, pageSize)
}

// Followers lists the accounts that follow username (GET /twitter/user/followers).
func (c *Client) Followers(ctx context.Context, username, cursor string, pageSize int) (Page, error) {
	return c.listCall(ctx, "/twitter/user/followers", username, cursor, pageSize)
}

func (c *Client) listCall(ctx context.Context, path, username, cursor string, pageSize int) (Page, error) {
	q := url.Values{"userName": {username}, "cursor": {cursor}}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	res, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q, idempotent: true})
	if err != nil {
		return Page{}, notFoundFromEnvelope(err)
	}
	// The list may sit at the top level or inside data, under any of three names.
	fields := res.body
	if len(res.data) > 0 && res.data[0] == '{' {
		var inner map[string]json.RawMessage
		if json.Unmarshal(res.data, &inner) == nil {
			for _, k := range []string{"followings", "followers", "users"} {
				if _, ok := inner[k]; ok {
					fields = inner
					break
				}
			}
		}
	}
	var list json.RawMessage
	found := false
	for _, k := range []string{"followings", "followers", "users"} {
		if v, ok := fields[k]; ok {
			list, found = v, true // a null list is an empty page
			if string(v) != "null" {
				break
			}
		}
	}
	if !found {
		return Page{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "no followings, followers or users list in the answer"}
	}
	var raws []rawUser
	if json.Unmarshal(list, &raws) != nil {
		return Page{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "the user list is not a list of user objects"}
	}
	p := Page{Users: make([]User, 0, len(raws)), RequestID: res.requestID}
	for _, ru := range raws {
		if u, ok := ru.user(); ok {
			p.Users = append(p.Users, u)
		}
	}
	if v, ok := fields["has_next_page"]; ok {
		_ = json.Unmarshal(v, &p.HasNextPage)
	}
	if v, ok := fields["next_cursor"]; ok {
		p.NextCursor = jsonString(v)
	}
	if !p.HasNextPage {
		p.NextCursor = ""
	} else if p.NextCursor == "" {
		// A next page without a cursor cannot be fetched; say so rather than loop.
		p.HasNextPage = false
	}
	return p, nil
}

// AuthLink is the start of the OAuth flow that links an X account to the key.
type AuthLink struct {
	AuthURL   string
	ExpiresAt string // RFC 3339, when the gateway gave one
	RequestID string
}

// StartAuth asks the gateway for an X authorization URL
// (POST /twitter/auth_twitter). Not retried: each call mints a new link.
func (c *Client) StartAuth(ctx context.Context, scopes []string) (AuthLink, error) {
	body := map[string]any{}
	if len(scopes) > 0 {
		body["scopes"] = scopes
	}
	res, err := c.do(ctx, request{method: http.MethodPost, path: "/twitter/auth_twitter", body: body})
	if err != nil {
		return AuthLink{}, err
	}
	var d struct {
		AuthURL   string `json:"auth_url"`
		ExpiresAt string `json:"expires_at"`
	}
	if len(res.data) > 0 && res.data[0] == '{' {
		_ = json.Unmarshal(res.data, &d)
	}
	if d.AuthURL == "" {
		d.AuthURL = jsonString(res.body["auth_url"])
		d.ExpiresAt = jsonString(res.body["expires_at"])
	}
	u, err := url.Parse(d.AuthURL)
	if d.AuthURL == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return AuthLink{}, &Error{Kind: KindBadResponse, RequestID: res.requestID, Detail: "the answer has no https auth_url"}
	}
	return AuthLink{AuthURL: d.AuthURL, ExpiresAt: d.ExpiresAt, RequestID: res.requestID}, nil
}

// notFoundFromEnvelope retypes a read endpoint's 2xx failure envelope whose
// text says the user does not exist (the read endpoints answer with
// {"status":"error","msg":...} rather than a status code).
func notFoundFromEnvelope(err error) error {
	e, ok := err.(*Error)
	if !ok || e.Kind != KindGatewayError || e.Status != 0 {
		return err
	}
	m := strings.ToLower(e.Message)
	if strings.Contains(m, "not found") || strings.Contains(m, "suspended") || strings.Contains(m, "does not exist") {
		e.Kind = KindUserNotFound
	}
	return e
}

// exactMembers reads a JSON object's members by their exact names, once
// for every member a caller reads (a struct would match keys
// case-insensitively, and a success must never rest on a differently-cased
// key); nil when obj is not an object.
func exactMembers(obj json.RawMessage) map[string]json.RawMessage {
	if m, ok := flatMembers(obj); ok {
		return m // the shape of every follow answer, read directly (flat.go)
	}
	var m map[string]json.RawMessage
	if len(obj) == 0 || json.Unmarshal(obj, &m) != nil {
		return nil
	}
	return m
}

// exactBool reads a boolean member of an object from exactMembers.
func exactBool(m map[string]json.RawMessage, key string) (bool, bool) {
	switch string(bytes.TrimSpace(m[key])) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false // absent, null, or not a boolean
}
