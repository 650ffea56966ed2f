// Package sandbox is a simulated AIsa gateway: an http.Handler that serves
// the X endpoints xfollow-mcp uses from one consistent in-memory follow graph.
// It backs the --sandbox mode and the project's tests, so there is one
// simulator, not a second fake.
//
// What it simulates: a linked account (@xfollow_sandbox) that follows a seeded
// set of users; idempotent follow and unfollow; protected accounts that give
// pending follows; X's limit of 50 unfollows per 15 minutes per user,
// answered with 429 and Retry-After; 400 for malformed ids; 401 for a missing
// key; 403 when the account is not linked; 404 for unknown users; both
// response envelopes the real gateway is known to use.
package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/lazyre"
)

// Envelope selects the response shape for write endpoints.
type Envelope string

const (
	// EnvelopeData is the published shape: {"data":{...}}.
	EnvelopeData Envelope = "data"
	// EnvelopeOK is the shape of AIsa's own client: {"ok":true,"code":200,"data":{...}}.
	EnvelopeOK Envelope = "ok"
)

// Defaults matching X's documented limits for unfollows.
const (
	DefaultUnfollowLimit  = 50
	DefaultUnfollowWindow = 15 * time.Minute
)

// Options configure a Sandbox. The zero value is a linked account with X's
// unfollow limit and the published envelope.
type Options struct {
	Envelope Envelope
	// UnfollowLimit is the number of unfollows allowed per UnfollowWindow;
	// 0 means DefaultUnfollowLimit and a negative value turns the limit off.
	UnfollowLimit  int
	UnfollowWindow time.Duration
	// NotLinked starts the simulated key without a linked X account, so that
	// write calls answer 403 until Link is called.
	NotLinked bool
	// Latency delays every answer, to simulate a slow gateway.
	Latency time.Duration
	// Now is the sandbox's clock.
	Now func() time.Time
	// Account is the handle of the simulated linked account, whose
	// followings the write endpoints change: MeUsername when empty, or
	// BigUsername to clean up the big graph (see biggraph.go).
	Account string
	// StatePath, when set, is the state file that keeps the follow graph
	// between processes (state.go); Start loads it.
	StatePath string
}

// Request is one request the sandbox received, for tests to inspect.
type Request struct {
	Time         time.Time
	Method       string
	Path         string
	TargetUserID string // write calls
	Query        url.Values
	HadKey       bool
	Status       int
}

type user struct {
	ID        string
	Username  string
	Name      string
	Protected bool
	Verified  bool
	// ExtraFollowers are followers outside the simulated graph, added to the
	// count profiles show (the graph holds only the accounts tests walk).
	ExtraFollowers int64
	// ExtraFollowing are followings outside the simulated graph.
	ExtraFollowing int64
	Description    string
	Avatar         string // profile picture URL; "" when the gateway says nothing
	CreatedAt      time.Time
}

// Sandbox is the simulated gateway. It is safe for concurrent use.
type Sandbox struct {
	opts Options

	mu        sync.Mutex
	users     map[string]*user  // by id
	byName    map[string]string // lower-case username -> id
	follows   map[string]map[string]int64
	followers map[string]map[string]int64 // the reverse of follows: followers[dst][src]
	pending   map[string]map[string]bool
	seq       int64
	bigSeeded bool // see biggraph.go
	me        string
	linked    bool
	unfollows []time.Time
	requests  []Request
	faults    map[string][]fault
	reqSeq    int64
	state     *os.File // the state file writes go to (state.go), or nil
	stateOff  int64    // how far the state file has been read
	stateLine int      // lines read from it
	stateBy   string   // this process's mark on the lines it writes
}

type fault struct {
	status int
	body   string
	header http.Header
}

// Me is the simulated linked account.
const (
	MeID       = "1000000000000000001"
	MeUsername = "xfollow_sandbox"
)

// New builds a Sandbox with the seeded graph.
func New(o Options) *Sandbox {
	if o.Envelope == "" {
		o.Envelope = EnvelopeData
	}
	if o.UnfollowLimit == 0 {
		o.UnfollowLimit = DefaultUnfollowLimit
	}
	if o.UnfollowWindow <= 0 {
		o.UnfollowWindow = DefaultUnfollowWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Sandbox{
		opts:      o,
		users:     map[string]*user{},
		byName:    map[string]string{},
		follows:   map[string]map[string]int64{},
		followers: map[string]map[string]int64{},
		pending:   map[string]map[string]bool{},
		me:        MeID,
		linked:    !o.NotLinked,
		faults:    map[string][]fault{},
	}
	s.seed()
	if o.Account != "" {
		if u, ok := s.lookup(o.Account); ok {
			s.me = u.ID
		}
	}
	return s
}

// Seeded accounts that examples and tests refer to.
var seedUsers = []user{
	{ID: MeID, Username: MeUsername, Name: "xfollow sandbox account", Description: "The simulated linked account.",
		Avatar: DefaultAvatar, CreatedAt: time.Date(2020, 5, 1, 9, 30, 0, 0, time.UTC)},
	{ID: "2244994945", Username: "TwitterDev", Name: "Developers", Verified: true, ExtraFollowers: 500000, ExtraFollowing: 1700,
		Description: "The voice of the X Developer Platform.", Avatar: "https://pbs.twimg.com/profile_images/1445764922474827784/W2zEPN7U_normal.jpg",
		CreatedAt: time.Date(2013, 12, 14, 4, 35, 55, 0, time.UTC)},
	{ID: "783214", Username: "X", Name: "X", Verified: true, ExtraFollowers: 60000000, Description: "what's happening?!",
		Avatar: "https://pbs.twimg.com/profile_images/1683899100922511378/5lY42eHs_normal.jpg", CreatedAt: time.Date(2007, 2, 20, 14, 35, 54, 0, time.UTC)},
	{ID: "11348282", Username: "NASA", Name: "NASA", Verified: true, ExtraFollowers: 80000000, ExtraFollowing: 190,
		Description: "Exploring the universe and our home planet.", Avatar: "https://pbs.twimg.com/profile_images/1321163587679784960/0ZxKlEKB_normal.jpg",
		CreatedAt: time.Date(2007, 12, 19, 20, 20, 32, 0, time.UTC)},
	{ID: "12", Username: "jack", Name: "jack", Verified: true, ExtraFollowers: 6000000, ExtraFollowing: 4000, Description: "no state is the best state",
		Avatar: "https://pbs.twimg.com/profile_images/1661201415899951105/azNjKOSH_normal.jpg", CreatedAt: time.Date(2006, 3, 21, 20, 50, 14, 0, time.UTC)},
	{ID: "1500000000000000001", Username: "quiet_owl", Name: "Quiet Owl", Protected: true, ExtraFollowers: 40, ExtraFollowing: 80,
		Description: "Protected account. Night shift.", Avatar: DefaultAvatar, CreatedAt: time.Date(2019, 10, 31, 23, 59, 0, 0, time.UTC)},
	{ID: "1500000000000000002", Username: "new_friend", Name: "New Friend", ExtraFollowers: 310, ExtraFollowing: 420,
		Description: "Just joined. Say hi!", Avatar: "https://pbs.twimg.com/profile_images/1500000000000000002/newfriend_normal.jpg",
		CreatedAt: time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
}

// SimUserCount is the number of generated users the sandbox account follows
// besides the named seed users, so that lists page and budgets can be hit.
const SimUserCount = 60

func (s *Sandbox) seed() {
	for i := range seedUsers {
		u := seedUsers[i]
		s.addUser(&u)
	}
	// The account follows the named public users, not quiet_owl or new_friend.
	for _, id := range []string{"2244994945", "783214", "11348282", "12"} {
		s.follow(MeID, id)
	}
	for i := 1; i <= SimUserCount; i++ {
		id := fmt.Sprintf("17%017d", i)
		u := &user{ID: id, Username: fmt.Sprintf("sim_user_%02d", i)}
		persona(u, i, false)
		u.ExtraFollowers = int64((i * 7919) % 5000)
		s.addUser(u)
		s.follow(MeID, id)
		if i%3 == 0 {
			s.follow(id, MeID) // a third of them follow back
		}
	}
	s.follow("2244994945", MeID)
	s.follow("1500000000000000002", MeID)
}

func (s *Sandbox) addUser(u *user) {
	s.users[u.ID] = u
	s.byName[strings.ToLower(u.Username)] = u.ID
}

func (s *Sandbox) follow(src, dst string) {
	if s.follows[src] == nil {
		s.follows[src] = map[string]int64{}
	}
	if _, ok := s.follows[src][dst]; !ok {
		s.seq++
		s.follows[src][dst] = s.seq
		if s.followers[dst] == nil {
			s.followers[dst] = map[string]int64{}
		}
		s.followers[dst][src] = s.seq
	}
}

func (s *Sandbox) unfollow(src, dst string) {
	delete(s.follows[src], dst)
	delete(s.followers[dst], src)
}

// Link marks the simulated key as linked to the X account, as finishing the
// OAuth flow would.
func (s *Sandbox) Link() {
	s.mu.Lock()
	s.linked = true
	s.mu.Unlock()
}

// Unlink drops the simulated OAuth session, so write calls answer 403.
func (s *Sandbox) Unlink() {
	s.mu.Lock()
	s.linked = false
	s.mu.Unlock()
}

// Follows reports whether the sandbox account follows id.
func (s *Sandbox) Follows(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.follows[s.me][id]
	return ok
}

// Following returns the ids the sandbox account follows, sorted.
func (s *Sandbox) Following() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.follows[s.me]))
	for id := range s.follows[s.me] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Pending lists the ids the account has asked to follow and that have not
// approved yet (protected accounts).
func (s *Sandbox) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.pending[s.me] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Requests returns a copy of every request received so far.
func (s *Sandbox) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Writes returns the write requests (follow and unfollow) received so far,
// including those that were refused.
func (s *Sandbox) Writes() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == pathUnfollow || r.Path == pathFollow {
			out = append(out, r)
		}
	}
	return out
}

// FailNext makes the next request to path (e.g. "/twitter/unfollow_twitter")
// answer with status and body instead of being served. Faults queue up.
func (s *Sandbox) FailNext(path string, status int, body string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], fault{status: status, body: body, header: header})
}

// Endpoint paths, relative to the base URL.
const (
	pathUnfollow  = "/twitter/unfollow_twitter"
	pathFollow    = "/twitter/follow_twitter"
	pathAuth      = "/twitter/auth_twitter"
	pathInfo      = "/twitter/user/info"
	pathCheck     = "/twitter/user/check_follow_relationship"
	pathFollowng  = "/twitter/user/followings"
	pathFollowrs  = "/twitter/user/followers"
	pathBatchInfo = "/twitter/user/batch_info_by_ids"
)

// BasePath is the path prefix the sandbox serves, as the real gateway does.
const BasePath = "/apis/v1"

var idRe = lazyre.New(`^[0-9]{1,19}$`)
var nameRe = lazyre.New(`^[A-Za-z0-9_]{1,15}$`)

// ServeHTTP implements http.Handler.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	path := strings.TrimPrefix(r.URL.Path, BasePath)
	rec := Request{Method: r.Method, Path: path, Query: r.URL.Query()}
	rw := &recorder{ResponseWriter: w}
	s.mu.Lock()
	s.reqSeq++
	reqID := fmt.Sprintf("req_sandbox_%06d", s.reqSeq)
	rec.Time = s.opts.Now()
	s.mu.Unlock()
	rw.Header().Set("X-Request-Id", reqID)
	rw.Header().Set("Content-Type", "application/json")
	defer func() {
		rec.Status = rw.status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()

	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	rec.HadKey = key != "" && key != r.Header.Get("Authorization")

	var body map[string]any
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<16)).Decode(&body); err != nil {
			s.fail(rw, http.StatusBadRequest, "invalid_request_error", "json_parse_error", "request body is not valid JSON", reqID)
			return
		}
		if v, ok := body["target_user_id"].(string); ok {
			rec.TargetUserID = v
		}
	}

	s.mu.Lock()
	if q := s.faults[path]; len(q) > 0 {
		f := q[0]
		s.faults[path] = q[1:]
		s.mu.Unlock()
		for k, vs := range f.header {
			for _, v := range vs {
				rw.Header().Add(k, v)
			}
		}
		rw.WriteHeader(f.status)
		_, _ = rw.Write([]byte(f.body))
		return
	}
	s.mu.Unlock()

	// Another process sharing the state file may have written meanwhile.
	s.syncState()

	if !rec.HadKey {
		s.fail(rw, http.StatusUnauthorized, "authentication_error", "missing_api_key", "Missing API key: send Authorization: Bearer <key>.", reqID)
		return
	}

	switch {
	case path == pathUnfollow && r.Method == http.MethodPost:
		s.handleWrite(rw, body, reqID, false)
	case path == pathFollow && r.Method == http.MethodPost:
		s.handleWrite(rw, body, reqID, true)
	case path == pathAuth && r.Method == http.MethodPost:
		s.handleAuth(rw, body, reqID)
	case path == pathInfo && r.Method == http.MethodGet:
		s.handleInfo(rw, r.URL.Query(), reqID)
	case path == pathCheck && r.Method == http.MethodGet:
		s.handleCheck(rw, r.URL.Query(), reqID)
	case path == pathBatchInfo && r.Method == http.MethodGet:
		s.handleBatchInfo(rw, r.URL.Query(), reqID)
	case (path == pathFollowng || path == pathFollowrs) && r.Method == http.MethodGet:
		s.handleList(rw, r.URL.Query(), reqID, path == pathFollowng)
	default:
		s.fail(rw, http.StatusNotFound, "invalid_request_error", "unknown_endpoint", "Unknown endpoint "+r.Method+" "+path, reqID)
	}
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// fail writes the gateway's documented error body.
func (s *Sandbox) fail(w http.ResponseWriter, status int, typ, code, msg, reqID string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"type": typ, "code": code, "message": msg, "request_id": reqID},
	})
}

// writeOK writes a successful write-endpoint answer in the configured envelope.
func (s *Sandbox) writeOK(w http.ResponseWriter, data map[string]any) {
	var body map[string]any
	if s.opts.Envelope == EnvelopeOK {
		body = map[string]any{"ok": true, "code": 200, "data": data}
	} else {
		body = map[string]any{"data": data}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Sandbox) handleWrite(w http.ResponseWriter, body map[string]any, reqID string, follow bool) {
	raw, present := body["target_user_id"]
	id, isString := raw.(string)
	if !present || !isString || !idRe.MatchString(id) {
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type",
			"target_user_id is required and must be a string matching ^[0-9]{1,19}$", reqID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.linked {
		s.fail(w, http.StatusForbidden, "invalid_request_error", "client-forbidden",
			"No linked X account with the follows.write scope for this API key. Authorize via POST /apis/v1/twitter/auth_twitter.", reqID)
		return
	}
	if !follow && s.opts.UnfollowLimit > 0 {
		now := s.opts.Now()
		cut := now.Add(-s.opts.UnfollowWindow)
		keep := s.unfollows[:0]
		for _, t := range s.unfollows {
			if t.After(cut) {
				keep = append(keep, t)
			}
		}
		s.unfollows = keep
		if len(s.unfollows) >= s.opts.UnfollowLimit {
			wait := s.unfollows[0].Add(s.opts.UnfollowWindow).Sub(now)
			secs := int((wait + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.fail(w, http.StatusTooManyRequests, "rate_limit_error", "upstream_rate_limit",
				fmt.Sprintf("X allows %d unfollows per %s per user.", s.opts.UnfollowLimit, s.opts.UnfollowWindow), reqID)
			return
		}
		s.unfollows = append(s.unfollows, now)
	}
	if follow {
		s.ensureBigFor(id)
		u, ok := s.users[id]
		if !ok {
			s.fail(w, http.StatusNotFound, "invalid_request_error", "resource-not-found", "No X user with id "+id+".", reqID)
			return
		}
		if _, already := s.follows[s.me][id]; already {
			s.writeOK(w, map[string]any{"following": true, "pending_follow": false})
			return
		}
		if u.Protected {
			if !s.recorded(w, "request", id, reqID) {
				return
			}
			if s.pending[s.me] == nil {
				s.pending[s.me] = map[string]bool{}
			}
			s.pending[s.me][id] = true
			s.writeOK(w, map[string]any{"following": false, "pending_follow": true})
			return
		}
		if !s.recorded(w, "follow", id, reqID) {
			return
		}
		s.follow(s.me, id)
		s.writeOK(w, map[string]any{"following": true, "pending_follow": false})
		return
	}
	// Unfollow is idempotent, and a no-op for an id the account does not follow.
	if !s.recorded(w, "unfollow", id, reqID) {
		return
	}
	s.unfollow(s.me, id)
	delete(s.pending[s.me], id)
	s.writeOK(w, map[string]any{"following": false})
}

// recorded writes op on the account to the state file before it is made;
// when that fails it answers 500 and the write is not made. s.mu is held.
func (s *Sandbox) recorded(w http.ResponseWriter, op, id, reqID string) bool {
	if err := s.record(op, s.me, id); err != nil {
		s.fail(w, http.StatusInternalServerError, "api_error", "internal_error", "the sandbox state file cannot be written: "+err.Error(), reqID)
		return false
	}
	return true
}

// AllowedScopes are the scopes auth_twitter documents.
var AllowedScopes = []string{"follows.write", "tweet.read", "users.read", "tweet.write", "like.write", "dm.read", "dm.write"}

func (s *Sandbox) handleAuth(w http.ResponseWriter, body map[string]any, reqID string) {
	scopes := []string{"follows.write", "tweet.read", "users.read", "tweet.write", "like.write", "dm.read", "dm.write"}
	if raw, ok := body["scopes"]; ok {
		list, ok := raw.([]any)
		if !ok || len(list) == 0 {
			s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type", "scopes must be a non-empty array of strings", reqID)
			return
		}
		scopes = scopes[:0]
		for _, v := range list {
			sc, _ := v.(string)
			if !slices.Contains(AllowedScopes, sc) {
				s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_request", fmt.Sprintf("unsupported scope %q", sc), reqID)
				return
			}
			scopes = append(scopes, sc)
		}
	}
	state := randomHex(16)
	challenge := make([]byte, 32)
	_, _ = rand.Read(challenge)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {"AIsa"},
		"redirect_uri":          {"https://api.aisa.one/apis/v1/twitter/oauth_callback"},
		"scope":                 {strings.Join(scopes, " ")},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge)},
		"code_challenge_method": {"S256"},
	}
	authURL := "https://twitter.com/i/oauth2/authorize?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	expires := s.opts.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	if s.opts.Envelope == EnvelopeOK {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "code": 200, "data": map[string]any{"auth_url": authURL, "expires_at": expires}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"auth_url": authURL, "state": state, "expires_at": expires})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Sandbox) lookup(name string) (*user, bool) {
	key := strings.ToLower(strings.TrimPrefix(name, "@"))
	s.ensureBigFor(key)
	id, ok := s.byName[key]
	if !ok {
		return nil, false
	}
	return s.users[id], true
}

// profile renders a user as the twitterapi.io-style object the read
// endpoints return.
func (s *Sandbox) profile(u *user) map[string]any {
	followers := int64(len(s.followers[u.ID])) + u.ExtraFollowers
	p := map[string]any{
		"type":           "user",
		"id":             u.ID,
		"userName":       u.Username,
		"name":           u.Name,
		"url":            "https://x.com/" + u.Username,
		"isBlueVerified": u.Verified,
		"protected":      u.Protected,
		"followers":      followers,
		"following":      int64(len(s.follows[u.ID])) + u.ExtraFollowing,
		"description":    u.Description,
	}
	if u.Avatar != "" {
		p["profilePicture"] = u.Avatar
	}
	if !u.CreatedAt.IsZero() {
		p["createdAt"] = u.CreatedAt.Format(time.RubyDate) // "Thu Dec 13 08:41:26 +0000 2007", as twitterapi.io gives it
	}
	return p
}

func (s *Sandbox) handleInfo(w http.ResponseWriter, q url.Values, reqID string) {
	name := q.Get("userName")
	if !nameRe.MatchString(name) {
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type", "userName must be an X screen name", reqID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.lookup(name)
	if !ok {
		s.fail(w, http.StatusNotFound, "invalid_request_error", "resource_not_found", "User not found: "+name, reqID)
		return
	}
	if s.opts.Envelope == EnvelopeOK {
		// The shape AIsa's own client reads: a single user under data.
		_ = json.NewEncoder(w).Encode(map[string]any{"data": s.profile(u), "status": "success", "msg": "success"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"users": []any{s.profile(u)}, "status": "success", "msg": "success"})
}

// handleBatchInfo serves GET /twitter/user/batch_info_by_ids: the profiles
// of the known ids among userIds (comma-separated), as BatchUserInfoResponse.
func (s *Sandbox) handleBatchInfo(w http.ResponseWriter, q url.Values, reqID string) {
	raw := q.Get("userIds")
	ids := strings.Split(raw, ",")
	if raw == "" || len(ids) > 100 {
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type", "userIds must list 1 to 100 numeric ids, comma-separated", reqID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	users := []any{}
	for _, id := range ids {
		s.ensureBigFor(strings.TrimSpace(id))
		if u, ok := s.users[strings.TrimSpace(id)]; ok {
			users = append(users, s.profile(u))
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"users": users, "status": "success", "msg": "success"})
}

func (s *Sandbox) handleCheck(w http.ResponseWriter, q url.Values, reqID string) {
	src, dst := q.Get("source_user_name"), q.Get("target_user_name")
	if !nameRe.MatchString(src) || !nameRe.MatchString(dst) {
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "missing_parameter", "source_user_name and target_user_name must be X screen names", reqID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok1 := s.lookup(src)
	b, ok2 := s.lookup(dst)
	if !ok1 || !ok2 {
		missing := src
		if ok1 {
			missing = dst
		}
		s.fail(w, http.StatusNotFound, "invalid_request_error", "resource_not_found", "User not found: "+missing, reqID)
		return
	}
	_, following := s.follows[a.ID][b.ID]
	_, followedBy := s.follows[b.ID][a.ID]
	_ = json.NewEncoder(w).Encode(map[string]any{
		"data":    map[string]any{"following": following, "followed_by": followedBy},
		"status":  "success",
		"message": "success",
	})
}

func (s *Sandbox) handleList(w http.ResponseWriter, q url.Values, reqID string, followings bool) {
	name := q.Get("userName")
	if !nameRe.MatchString(name) {
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type", "userName must be an X screen name", reqID)
		return
	}
	size := 200
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n > 200 {
			s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type", "pageSize must be an integer from 20 to 200", reqID)
			return
		}
		size = n
	}
	var before int64 = -1 // from the top
	if c := q.Get("cursor"); c != "" {
		n, err := decodeCursor(c)
		if err != nil {
			s.fail(w, http.StatusBadRequest, "invalid_request_error", "invalid_parameter_type", "cursor is not one this endpoint issued", reqID)
			return
		}
		before = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.lookup(name)
	if !ok {
		s.fail(w, http.StatusNotFound, "invalid_request_error", "resource_not_found", "User not found: "+name, reqID)
		return
	}
	type edge struct {
		id  string
		seq int64
	}
	var edges []edge
	if followings {
		for id, seq := range s.follows[u.ID] {
			edges = append(edges, edge{id, seq})
		}
	} else {
		for src, seq := range s.followers[u.ID] {
			edges = append(edges, edge{src, seq})
		}
	}
	// Most recent first, as the upstream API sorts them.
	slices.SortFunc(edges, func(a, b edge) int { return int(b.seq - a.seq) })
	// A cursor marks a place in the list, not a count: follows and
	// unfollows elsewhere in the list do not shift the next page (X's
	// cursors behave so too).
	offset := 0
	if before >= 0 {
		offset, _ = slices.BinarySearchFunc(edges, before, func(e edge, seq int64) int { return int(seq - e.seq) })
		if offset < len(edges) && edges[offset].seq == before {
			offset++
		}
	}
	end := min(offset+size, len(edges))
	list := make([]any, 0, end-offset)
	for _, e := range edges[offset:end] {
		list = append(list, s.profile(s.users[e.id]))
	}
	next := ""
	if end < len(edges) {
		next = encodeCursor(edges[end-1].seq)
	}
	key := "followers"
	if followings {
		key = "followings"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		key:             list,
		"has_next_page": next != "",
		"next_cursor":   next,
		"status":        "success",
		"message":       "success",
	})
}

// encodeCursor is the cursor of the page after the edge with sequence seq.
func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("before:" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(string(b), "before:")
	if !ok {
		return 0, fmt.Errorf("bad cursor")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad cursor")
	}
	return n, nil
}

// Server is a Sandbox listening on a loopback port.
type Server struct {
	*Sandbox
	URL string // base URL to give the client, ending in /apis/v1
	srv *http.Server
	ln  net.Listener
}

// Start serves a new Sandbox on 127.0.0.1 on a free port.
func Start(o Options) (*Server, error) {
	sb := New(o)
	if o.Account != "" && !strings.EqualFold(sb.users[sb.me].Username, strings.TrimPrefix(o.Account, "@")) {
		return nil, fmt.Errorf("sandbox: there is no sandbox account @%s to link: use %s or %s", strings.TrimPrefix(o.Account, "@"), MeUsername, BigUsername)
	}
	if o.StatePath != "" {
		if err := sb.LoadState(o.StatePath); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = sb.CloseState()
		return nil, fmt.Errorf("sandbox: listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &Server{Sandbox: sb, URL: "http://" + ln.Addr().String() + BasePath, srv: srv, ln: ln}, nil
}

// Close stops the server and closes the state file.
func (s *Server) Close() error {
	err := s.srv.Close()
	if e := s.CloseState(); err == nil {
		err = e
	}
	return err
}
