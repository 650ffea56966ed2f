package tools

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// The finder's defaults and bounds.
const (
	finderDefaultMaxFollowing = 2000
	finderMaxFollowing        = 20000
	finderDefaultLimit        = 100
	finderMaxLimit            = 1000
	finderPageSize            = 200 // the gateway's largest page
	finderMaxInFlight         = 8   // reads in flight at once, to stay under AIsa's per-key limits
	finderCursorMaxLen        = 2048
	// A list that keeps offering pages with nothing new in them, with
	// has_next_page and a fresh cursor each time, is read this many pages in
	// a row at most; and one is read at most finderPageMargin pages (plus one
	// in 20) beyond what the profile's count needs.
	finderEmptyPagesInARow = 3
	finderPageMargin       = 3
)

// pageBound is how many pages a list of n accounts may take, or 0 (no
// bound) when n is unknown.
func pageBound(n int) int {
	if n < 0 {
		return 0
	}
	pages := (n + finderPageSize - 1) / finderPageSize
	return pages + pages/20 + finderPageMargin
}

// listRunsOnError is a list that went on past its bound: more pages than
// its count needs, or finderEmptyPagesInARow pages with nothing new.
type listRunsOnError struct{ list string }

func (e *listRunsOnError) Error() string {
	return fmt.Sprintf("the %s list kept offering pages beyond what its count needs, or pages with nothing new", e.list)
}

// Why a scan stopped before the end of the followings list.
const (
	stopMaxFollowing = "max_following"
	stopLimit        = "limit"
	stopRateLimited  = "rate_limited"
	stopCanceled     = "canceled"
)

// How a call decided who follows back.
const (
	methodCache     = "cache"
	methodFollowers = "followers_list"
	methodChecks    = "relationship_checks"
)

// reasonNotFollowingBack is every candidate's first reason.
const reasonNotFollowingBack = "not_following_back"

// FindCandidatesArgs is the input of find_x_unfollow_candidates.
type FindCandidatesArgs struct {
	Username     string `json:"username,omitempty" jsonschema:"pattern=^@?[A-Za-z0-9_]{1\\,15}$" jsonschema_description:"Handle of the account to clean up (a leading @ is allowed). Defaults to the server's --account when it has one; required otherwise."`
	MaxFollowing *int   `json:"max_following,omitempty" jsonschema:"minimum=1,maximum=20000" jsonschema_description:"How many of the accounts it follows to examine in this call, most recent first: 1 to 20000 (default 2000)."`
	Limit        *int   `json:"limit,omitempty" jsonschema:"minimum=1,maximum=1000" jsonschema_description:"Stop after this many candidates: 1 to 1000 (default 100)."`
	Cursor       string `json:"cursor,omitempty" jsonschema:"maxLength=2048" jsonschema_description:"next_cursor from the previous call for the same username, to continue exactly where it stopped."`
	Refresh      bool   `json:"refresh,omitempty" jsonschema_description:"Read the lists again instead of using what a scan in the last 10 minutes found."`
}

func (a FindCandidatesArgs) validate() error {
	if a.Username != "" {
		if _, err := checkUsername("username", a.Username); err != nil {
			return err
		}
	}
	if a.MaxFollowing != nil && (*a.MaxFollowing < 1 || *a.MaxFollowing > finderMaxFollowing) {
		return invalidArg("max_following %d is out of range: send %s", *a.MaxFollowing, fieldHelp("max_following"))
	}
	if a.Limit != nil && (*a.Limit < 1 || *a.Limit > finderMaxLimit) {
		return invalidArg("limit %d is out of range: send %s", *a.Limit, fieldHelp("limit"))
	}
	if a.Cursor != "" {
		if _, err := parseScanCursor(a.Cursor); err != nil {
			return err
		}
	}
	return nil
}

// Candidate is one account to consider unfollowing.
type Candidate struct {
	ID             string `json:"id" jsonschema_description:"Numeric X user id, as a string: pass it to unfollow_x_users."`
	Username       string `json:"username" jsonschema_description:"Handle, without @."`
	Name           string `json:"name" jsonschema_description:"Display name."`
	FollowersCount *int64 `json:"followers_count,omitempty" jsonschema_description:"How many accounts follow it; absent when the gateway did not say."`
	FollowingCount *int64 `json:"following_count,omitempty" jsonschema_description:"How many accounts it follows; absent when the gateway did not say."`
	Verified       *bool  `json:"verified,omitempty" jsonschema_description:"Whether X shows it as verified; absent when the gateway did not say."`
	Description    string `json:"description,omitempty" jsonschema_description:"Its bio, as the account wrote it (untrusted text)."`
	// An image URL is only ever an https one.
	ProfileImageURL string     `json:"profile_image_url,omitempty" jsonschema:"format=uri" jsonschema_description:"Its profile picture (https)."`
	CreatedAt       *time.Time `json:"created_at,omitempty" jsonschema_description:"When the account was created (RFC 3339, UTC)."`
	Reasons         []string   `json:"reasons" jsonschema_description:"Why it is a candidate: not_following_back (it does not follow the account)."`
}

// FindResult is the output of find_x_unfollow_candidates.
type FindResult struct {
	Username           string      `json:"username" jsonschema_description:"The account scanned, without @."`
	Candidates         []Candidate `json:"candidates" jsonschema_description:"Accounts it follows that do not follow it back, minus the protected list, in the order of its followings list (most recent first)."`
	ExaminedFollowing  int         `json:"examined_following" jsonschema_description:"How many of the accounts it follows this call examined."`
	Complete           bool        `json:"complete" jsonschema_description:"True when the scan reached the end of the followings list; false when it stopped early (see stopped)."`
	NextCursor         string      `json:"next_cursor,omitempty" jsonschema_description:"When complete is false: pass as cursor to continue at the next unexamined account."`
	FollowingCount     *int        `json:"following_count,omitempty" jsonschema_description:"How many accounts it follows, as its profile says (when this call read the profile)."`
	RemainingFollowing *int        `json:"remaining_following,omitempty" jsonschema_description:"When complete is false: about how many of the accounts it follows are not examined yet (from following_count)."`
	RemainingPages     *int        `json:"remaining_pages,omitempty" jsonschema_description:"When complete is false: about how many pages of its followings list (200 accounts each) are left to read."`
	Stopped            string      `json:"stopped,omitempty" jsonschema:"enum=max_following,enum=limit,enum=rate_limited,enum=canceled,enum=gateway_unavailable,enum=timeout" jsonschema_description:"Why the scan stopped early."`
	ExcludedProtected  int         `json:"excluded_protected" jsonschema_description:"Non-followers left out because they are on this server's protected list."`
	GatewayCalls       int         `json:"gateway_calls" jsonschema_description:"Gateway reads this call made (0 when answered from the cache)."`
	RetryAfterSeconds  int         `json:"retry_after_seconds,omitempty" jsonschema_description:"When a rate limit stopped the scan: seconds to wait before continuing with next_cursor."`
	Method             string      `json:"method,omitempty" jsonschema:"enum=cache,enum=followers_list,enum=relationship_checks" jsonschema_description:"How it learned who follows back: cache (a scan in the last 10 minutes), followers_list (paging the followers) or relationship_checks (one check per account, when the followers list is the longer read)."`
}

func findXUnfollowCandidates() Tool {
	return define(Spec{
		Name:  "find_x_unfollow_candidates",
		Title: "Find X accounts to unfollow",
		Description: "Find the accounts an X user follows that do not follow it back, minus this server's protected list, most recent follow first; reads only. " +
			"If complete is false, call again with next_cursor to continue exactly where it stopped (after retry_after_seconds when given). " +
			"A complete scan is cached for 10 minutes. Unfollow chosen ids with unfollow_x_users.",
		ReadOnly:    true,
		Destructive: false,
		Idempotent:  true,
		OpenWorld:   true,
		View:        ReviewViewURI,
	}, runFindCandidates)
}

func runFindCandidates(ctx context.Context, c *Call, in FindCandidatesArgs) (FindResult, error) {
	name := ""
	switch {
	case in.Username != "":
		name, _ = checkUsername("username", in.Username)
	case c.Gate != nil && c.Gate.Account != "":
		name = c.Gate.Account
	default:
		return FindResult{}, invalidArg("username is missing and this server has no --account: send the handle of the account to clean up, e.g. {\"username\":\"TwitterDev\"}")
	}
	readsKey := c.Client.Gateway() + " " + c.Client.KeyFingerprint()
	f := &finder{c: c, name: name, maxFollowing: finderDefaultMaxFollowing, limit: finderDefaultLimit,
		sem: finderReads.take(readsKey)}
	defer finderReads.done(readsKey)
	if in.MaxFollowing != nil {
		f.maxFollowing = *in.MaxFollowing
	}
	if in.Limit != nil {
		f.limit = *in.Limit
	}
	if !c.Client.Configured() {
		return FindResult{}, notConfigured()
	}
	var start scanPos
	if in.Cursor != "" {
		owner, pos, err := decodeScanCursor(c.Client, in.Cursor)
		if err != nil {
			return FindResult{}, err
		}
		if !strings.EqualFold(owner, name) {
			return FindResult{}, invalidArg("cursor continues a scan of @%s, not @%s: send it with username %q, or leave cursor out to start from the top", owner, name, owner)
		}
		start = pos
	}
	if c.Gate != nil {
		f.protected = c.Gate.Protected
	}
	f.progress = newScanProgress(ctx, c)
	return f.run(ctx, start, in.Refresh)
}

// finderReads holds the read slots of the finder calls in progress, per
// gateway and key fingerprint: AIsa's rate limit is per key, so two calls
// with one key (an agent's parallel calls, two usernames) share
// finderMaxInFlight reads, not each. An entry lives while a call uses it.
var finderReads = &keyedSlots{m: map[string]*keySlots{}}

type keyedSlots struct {
	mu sync.Mutex
	m  map[string]*keySlots
}

type keySlots struct {
	sem   chan struct{}
	calls int
}

// take returns key's read slots, for a call that will give them back with
// done.
func (k *keyedSlots) take(key string) chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.m[key]
	if e == nil {
		e = &keySlots{sem: make(chan struct{}, finderMaxInFlight)}
		k.m[key] = e
	}
	e.calls++
	return e.sem
}

// done ends a call's use of key's slots; the last call drops the entry.
func (k *keyedSlots) done(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.m[key]; e != nil {
		if e.calls--; e.calls == 0 {
			delete(k.m, key)
		}
	}
}

// finder is one find_x_unfollow_candidates call in progress.
type finder struct {
	c            *Call
	name         string
	maxFollowing int
	limit        int
	protected    map[string]bool
	out          FindResult
	calls        atomic.Int64 // gateway reads made
	sem          chan struct{}
	progress     *scanProgress
	// behind are the ids this call examined last, the latest first (at most
	// cursorBehind), for the cursor.
	behind []string
	// seen are the ids of the followings met in this scan so far: one the
	// gateway gives again (pages can overlap) is skipped.
	seen map[string]bool
	// The profile's counts, -1 when the gateway did not give them.
	followingCount, followersCount int
}

// slot is one following on its way from the producer to the examiner.
type slot struct {
	page  *aisa.Page // the page it is on
	fresh []int      // the offsets in page of the accounts not met before in the scan
	user  aisa.User
	pos   scanPos // where it is
	next  scanPos // the position after it
	end   bool    // no account here: the list ended at pos
	done  chan struct{}
	rel   aisa.Relationship // relationship_checks: the check's answer
	err   error
}

func (f *finder) run(ctx context.Context, start scanPos, refresh bool) (FindResult, error) {
	f.out = FindResult{Username: f.name, Candidates: []Candidate{}}
	f.followingCount, f.followersCount = -1, -1 // until the profile is read
	cache := f.c.Following
	if refresh {
		cache.drop(f.name)
		cache.dropFollowers(f.name)
	}
	pos := start
	f.seen = map[string]bool{}
	view := cache.view(f.name, start)
	var followers map[string]struct{}
	var from *scanState
	if view != nil {
		from = view.from
		followers = view.snap.followers
		if view.covers {
			// What a scan in the last 10 minutes found, from this position on.
			st := &view.snap
			f.out.Username = st.username
			f.out.Method = methodCache
			for _, e := range st.entries {
				f.seen[e.user.ID] = true
			}
			i := start.Index
			for ; i < st.base+len(st.entries); i++ {
				if why := f.full(); why != "" {
					return f.result(st.positionAt(i), why), nil
				}
				e := st.entries[i-st.base]
				if st.removed[e.user.ID] {
					e.following = false
				}
				f.examine(e)
			}
			if i > start.Index {
				pos = st.positionAt(i)
			}
			if why := f.full(); pos.End || why != "" {
				return f.result(pos, why), nil
			}
		}
	}
	return f.scan(ctx, pos, from, followers)
}

// scan continues from pos with gateway reads.
func (f *finder) scan(ctx context.Context, pos scanPos, from *scanState, followers map[string]struct{}) (FindResult, error) {
	if err := ctx.Err(); err != nil {
		return f.stopOnError(err, pos)
	}
	if !f.acquire(ctx, nil) {
		return f.stopOnError(ctx.Err(), pos)
	}
	u, err := f.c.Client.UserInfo(ctx, f.name)
	f.release()
	if err != nil {
		return f.stopOnError(err, pos)
	}
	if u.Username != "" {
		f.out.Username = u.Username
	}
	f.followingCount, f.followersCount = -1, -1
	if u.FollowingCount != nil {
		f.followingCount = int(*u.FollowingCount)
	}
	if u.FollowersCount != nil {
		f.followersCount = int(*u.FollowersCount)
	}
	// Choose the cheaper way, counted in reads: the whole followers list,
	// or one relationship check per following still to examine.
	toExamine := f.maxFollowing - f.out.ExaminedFollowing
	if f.followingCount >= 0 {
		toExamine = min(toExamine, max(0, f.followingCount-pos.Index))
	}
	followerPages := -1 // unknown
	if f.followersCount >= 0 {
		followerPages = max(1, (f.followersCount+finderPageSize-1)/finderPageSize)
	}
	useFollowers := followers != nil || (followerPages >= 0 && followerPages <= toExamine)
	var seenBefore map[string]bool
	if useFollowers && followers == nil {
		seenBefore = maps.Clone(f.seen)
	}
	out, err := f.walk(ctx, pos, from, followers, useFollowers, followerPages, toExamine)
	var runsOn *listRunsOnError
	if errors.As(err, &runsOn) && seenBefore != nil {
		// The followers list did not end where its count says: nothing was
		// examined yet, and checking each following keeps the answer exact.
		f.c.Logger.Debug("the followers list runs on; checking each following instead", "username", f.name)
		f.seen = seenBefore
		return f.walk(ctx, pos, from, nil, false, followerPages, toExamine)
	}
	return out, err
}

// walk examines the followings from pos on, by the followers list or by
// relationship checks. A followers list that runs on is returned as a
// *listRunsOnError, with nothing examined.
func (f *finder) walk(ctx context.Context, pos scanPos, from *scanState, followers map[string]struct{}, useFollowers bool, followerPages, toExamine int) (FindResult, error) {
	f.out.Method = methodChecks
	if useFollowers {
		f.out.Method = methodFollowers
	}
	estPages := (pos.Offset + toExamine + finderPageSize - 1) / finderPageSize
	if useFollowers && followers == nil {
		estPages += followerPages
	}
	f.progress.start(estPages + toExamine)

	scanCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	type followersResult struct {
		set   map[string]struct{}
		since time.Time // when its first page was read
		err   error
	}
	var followersCh chan followersResult
	if useFollowers && followers == nil {
		followersCh = make(chan followersResult, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			set, since, err := f.pageFollowers(scanCtx, quit)
			followersCh <- followersResult{set, since, err}
		}()
	}
	slots := make(chan *slot, finderMaxInFlight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.produce(scanCtx, pos, f.maxFollowing-f.out.ExaminedFollowing, !useFollowers, slots, quit, &wg)
	}()

	seg := scanSegment{username: f.out.Username, from: pos}
	var stopErr error
	var last *slot
	why := ""
	for {
		if why = f.full(); why != "" {
			break
		}
		s, ok := <-slots
		if !ok {
			stopErr = ctx.Err() // the producer stops early only when cancelled
			break
		}
		if s.end {
			pos = s.pos
			break
		}
		if followers == nil && followersCh != nil {
			r := <-followersCh
			if r.err != nil {
				stopErr = r.err
				var runsOn *listRunsOnError
				if errors.As(r.err, &runsOn) {
					close(quit)
					cancel()
					wg.Wait()
					return FindResult{}, r.err
				}
				break
			}
			followers, seg.followers, seg.followersSince = r.set, r.set, r.since
		}
		<-s.done
		if s.err != nil {
			stopErr = s.err
			var runsOn *listRunsOnError
			if errors.As(s.err, &runsOn) {
				pos = s.pos // past the pages read: a resume need not read them again
			}
			break
		}
		e := scanEntry{user: s.user, following: true}
		if useFollowers {
			_, e.followedBy = followers[s.user.ID]
		} else {
			e.following, e.followedBy = s.rel.Following, s.rel.FollowedBy
		}
		f.examine(e)
		f.progress.examined()
		seg.entries = append(seg.entries, e)
		seg.positions = append(seg.positions, s.pos)
		pos, last = s.next, s
		if pos.End {
			break
		}
	}
	// Stop every read still in flight: their answers are not needed.
	close(quit)
	cancel()
	wg.Wait()
	f.progress.finish()
	seg.end = pos
	if why != "" && useFollowers && last != nil && pos.Cursor == last.pos.Cursor && !pos.End {
		// The rest of the page is read and the followers are known: keep it
		// for the next call, which then starts without a read.
		pg, idx := last.page, pos.Index
		for _, o := range last.fresh {
			if o < pos.Offset {
				continue
			}
			_, back := followers[pg.Users[o].ID]
			seg.entries = append(seg.entries, scanEntry{user: pg.Users[o], following: true, followedBy: back})
			seg.positions = append(seg.positions, scanPos{Cursor: pos.Cursor, Offset: o, Index: idx, Next: pg.Users[o].ID})
			idx++
		}
		seg.end = scanPos{End: true, Index: idx}
		if pg.HasNextPage {
			seg.end = scanPos{Cursor: pg.NextCursor, Index: idx}
		}
	}
	f.c.Following.record(f.name, from, seg)
	if stopErr != nil {
		return f.stopOnError(stopErr, pos)
	}
	return f.result(pos, why), nil
}

// full says why the call must stop before examining another account, or "".
func (f *finder) full() string {
	switch {
	case f.out.ExaminedFollowing >= f.maxFollowing:
		return stopMaxFollowing
	case len(f.out.Candidates) >= f.limit:
		return stopLimit
	}
	return ""
}

// examine counts one following and keeps it when it is a candidate.
func (f *finder) examine(e scanEntry) {
	f.out.ExaminedFollowing++
	f.behind = append([]string{e.user.ID}, f.behind[:min(len(f.behind), cursorBehind-1)]...)
	if !e.following || e.followedBy {
		return
	}
	if f.protected[e.user.ID] {
		f.out.ExcludedProtected++
		return
	}
	// Everything here came with the followings page: no read of its own.
	f.out.Candidates = append(f.out.Candidates, Candidate{
		ID: e.user.ID, Username: e.user.Username, Name: e.user.Name,
		FollowersCount: e.user.FollowersCount, FollowingCount: e.user.FollowingCount, Verified: e.user.Verified,
		Description: e.user.Description, ProfileImageURL: e.user.ProfileImageURL, CreatedAt: e.user.CreatedAt,
		Reasons: []string{reasonNotFollowingBack},
	})
}

// result finishes the call at pos.
func (f *finder) result(pos scanPos, why string) FindResult {
	out := f.out
	out.GatewayCalls = int(f.calls.Load())
	out.Complete = pos.End
	if !pos.End {
		out.NextCursor = f.cursor(pos)
		out.Stopped = why
	}
	f.remaining(&out, pos)
	return out
}

// remaining fills in the total and how much is left, when the profile gave
// the count: a person paging through thousands can see how far there is to go.
func (f *finder) remaining(out *FindResult, pos scanPos) {
	if f.followingCount < 0 {
		return
	}
	total := f.followingCount
	out.FollowingCount = &total
	if pos.End {
		out.RemainingFollowing, out.RemainingPages = nil, nil
		return
	}
	left := max(0, total-pos.Index)
	pages := (left + finderPageSize - 1) / finderPageSize
	out.RemainingFollowing, out.RemainingPages = &left, &pages
}

// cursor is the next_cursor for pos, with the accounts this call examined
// last behind it.
func (f *finder) cursor(pos scanPos) string {
	if len(f.behind) > 0 {
		pos.Behind = f.behind
	}
	return encodeScanCursor(f.c.Client, f.name, pos)
}

// stopOnError ends the call after a failed read: a rate limit or a cancel
// returns what was found with a cursor; so does an unavailable gateway once
// something was examined; anything else is an error.
func (f *finder) stopOnError(err error, pos scanPos) (FindResult, error) {
	var runsOn *listRunsOnError
	if errors.As(err, &runsOn) {
		// The followings list runs on before the account's count is
		// reached: what was found, and a cursor past the pages read.
		f.c.Logger.Debug("the followings list runs on; stopping", "username", f.name, "index", pos.Index)
		out := f.result(pos, CodeUnavailable)
		return out, nil
	}
	te := asToolError(err, "@"+f.name)
	out := f.result(pos, "")
	switch te.Code {
	case CodeRateLimited:
		out.Stopped = stopRateLimited
		out.RetryAfterSeconds = max(1, te.RetryAfter)
	case CodeCanceled:
		out.Stopped = stopCanceled
	case CodeUnavailable, CodeTimeout:
		if f.out.ExaminedFollowing == 0 {
			return FindResult{}, te
		}
		out.Stopped = te.Code
	default:
		return FindResult{}, te
	}
	out.Complete = false
	out.NextCursor = f.cursor(pos)
	f.remaining(&out, pos)
	return out, nil
}

// acquire takes a read slot, unless the call is cancelled or the scan over.
func (f *finder) acquire(ctx context.Context, quit <-chan struct{}) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case f.sem <- struct{}{}:
		if ctx.Err() != nil {
			<-f.sem
			return false
		}
		f.calls.Add(1)
		return true
	case <-ctx.Done():
	case <-quit:
	}
	return false
}

func (f *finder) release() { <-f.sem }

// produce walks the followings list from pos and sends up to n accounts, in
// order, each with its relationship check under way when check is set. An
// account met before in the scan is skipped: it is neither sent nor counted.
func (f *finder) produce(ctx context.Context, pos scanPos, n int, check bool, slots chan<- *slot, quit <-chan struct{}, wg *sync.WaitGroup) {
	defer close(slots)
	send := func(s *slot) bool {
		select {
		case slots <- s:
			return true
		case <-quit:
			return false
		}
	}
	cursor, offset, idx := pos.Cursor, pos.Offset, pos.Index
	cursors := map[string]bool{} // page cursors read
	maxPages, pages, empty := 0, 0, 0
	if f.followingCount >= 0 {
		maxPages = pageBound(f.followingCount - pos.Index)
	}
	for first, produced := true, 0; produced < n; first = false {
		if !f.acquire(ctx, quit) {
			return
		}
		page, err := f.c.Client.Followings(ctx, f.name, cursor, finderPageSize)
		f.release()
		f.progress.page()
		if err != nil {
			send(&slot{pos: scanPos{Cursor: cursor, Offset: offset, Index: idx}, err: err, done: closed})
			return
		}
		cursors[cursor] = true
		users := page.Users
		if first && pos.anchored() {
			offset = resumeOffset(users, pos)
		}
		offset = min(offset, len(users))
		var fresh []int
		var freshIDs []string
		for o := offset; o < len(users); o++ {
			if id := users[o].ID; !f.seen[id] {
				f.seen[id] = true
				fresh, freshIDs = append(fresh, o), append(freshIDs, id)
			}
		}
		base := idx
		at := func(j int) scanPos { // the position of the j-th fresh account, or after the page
			switch {
			case j < len(fresh):
				return scanPos{Cursor: cursor, Offset: fresh[j], Index: base + j, Next: freshIDs[j],
					Ahead: freshIDs[j+1 : min(j+1+cursorAhead, len(freshIDs))]}
			case page.HasNextPage:
				return scanPos{Cursor: page.NextCursor, Index: base + j}
			default:
				return scanPos{End: true, Index: base + j}
			}
		}
		if len(fresh) == 0 && !page.HasNextPage {
			send(&slot{pos: scanPos{End: true, Index: idx}, end: true})
			return
		}
		pages++
		if empty++; len(fresh) > 0 {
			empty = 0
		}
		switch {
		case empty >= finderEmptyPagesInARow && f.followingCount >= 0 && idx >= f.followingCount:
			// Empty pages once the account's count is reached: the list
			// has ended, whatever has_next_page says.
			send(&slot{pos: scanPos{End: true, Index: idx}, end: true})
			return
		case empty >= finderEmptyPagesInARow || (maxPages > 0 && pages > maxPages):
			// Empty pages before the count, or more pages than it needs:
			// the call stops past the pages read.
			send(&slot{pos: at(0), done: closed, err: &listRunsOnError{list: "followings"}})
			return
		}
		for j := 0; j < len(fresh) && produced < n; j++ {
			o := fresh[j]
			s := &slot{page: &page, fresh: fresh, user: users[o], done: closed}
			s.pos, s.next = at(j), at(j+1)
			if check {
				if !f.acquire(ctx, quit) {
					return
				}
				s.done = make(chan struct{})
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(s.done)
					defer f.release()
					s.rel, s.err = f.check(ctx, s.user)
				}()
			}
			if !send(s) {
				return
			}
			produced++
			idx++
		}
		if !page.HasNextPage {
			return
		}
		cursor, offset = page.NextCursor, 0
		if cursors[cursor] {
			send(&slot{pos: scanPos{Cursor: cursor, Index: idx}, done: closed, err: &aisa.Error{Kind: aisa.KindBadResponse,
				Detail: "the followings list gave a page cursor it had given before"}})
			return
		}
	}
}

// resumeOffset finds where in the page read at a cursor's position the scan
// goes on: at the cursor's account, or the first of the accounts after it
// still there, or right after the last account examined, whichever comes
// first (a follow since can push the accounts onto the next page: then the
// last examined is at the end of this one). When none of them is in the page
// it starts at the top of the page: re-examining an account is better than
// skipping one.
func resumeOffset(users []aisa.User, pos scanPos) int {
	find := func(id string) int {
		return slices.IndexFunc(users, func(u aisa.User) bool { return u.ID == id })
	}
	at := -1
	for _, id := range append([]string{pos.Next}, pos.Ahead...) {
		if id == "" {
			continue
		}
		if k := find(id); k >= 0 {
			at = k
			break
		}
	}
	for _, id := range pos.Behind {
		if k := find(id); k >= 0 {
			if at < 0 || k+1 < at {
				at = k + 1
			}
			break
		}
	}
	return max(at, 0)
}

// closed is a done channel for slots that need no read.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// check asks whether the account follows u and u follows back. A handle
// that no longer resolves is an account the scan cannot follow back to: it
// is examined and left out.
func (f *finder) check(ctx context.Context, u aisa.User) (aisa.Relationship, error) {
	if u.Username == "" {
		return aisa.Relationship{}, &aisa.Error{Kind: aisa.KindBadResponse,
			Detail: fmt.Sprintf("the followings list gave id %s without a handle, which check_follow_relationship needs", u.ID)}
	}
	rel, err := f.c.Client.CheckRelationship(ctx, f.name, u.Username)
	var ge *aisa.Error
	if errors.As(err, &ge) && ge.Kind == aisa.KindUserNotFound {
		return aisa.Relationship{}, nil
	}
	return rel, err
}

// pageFollowers reads the account's whole followers list. It goes on from
// the pages an earlier call read when a rate limit, a cancel or a failed
// read stopped it (kept in the cache for FollowingCacheTTL), and keeps what
// it read when it stops that way itself, so that under a rate limit tighter
// than the list every call still gets further.
func (f *finder) pageFollowers(ctx context.Context, quit <-chan struct{}) (map[string]struct{}, time.Time, error) {
	p := f.c.Following.takeFollowers(f.name)
	if p == nil {
		p = &followersPartial{set: map[string]struct{}{}, cursors: map[string]bool{}}
	}
	maxPages := pageBound(f.followersCount)
	stop := func(err error) (map[string]struct{}, time.Time, error) {
		if p.pages > 0 {
			f.c.Following.keepFollowers(f.name, p)
		}
		return nil, time.Time{}, err
	}
	for {
		if !f.acquire(ctx, quit) {
			if err := ctx.Err(); err != nil {
				return stop(err)
			}
			return stop(context.Canceled)
		}
		page, err := f.c.Client.Followers(ctx, f.name, p.cursor, finderPageSize)
		f.release()
		f.progress.page()
		if err != nil {
			return stop(err)
		}
		if p.pages == 0 {
			p.started = f.c.Following.clock()
		}
		before := len(p.set)
		for _, u := range page.Users {
			p.set[u.ID] = struct{}{}
		}
		if !page.HasNextPage {
			return p.set, p.started, nil
		}
		p.pages++
		if p.empty++; len(p.set) > before {
			p.empty = 0
		}
		if p.empty >= finderEmptyPagesInARow || (maxPages > 0 && p.pages >= maxPages) {
			return nil, time.Time{}, &listRunsOnError{list: "followers"}
		}
		p.cursors[p.cursor] = true
		p.cursor = page.NextCursor
		if p.cursors[p.cursor] {
			return nil, time.Time{}, &aisa.Error{Kind: aisa.KindBadResponse, Detail: "the followers list gave a page cursor it had given before"}
		}
	}
}

// scanProgress sends notifications/progress (list pages read and accounts
// examined) when the client gave a progress token.
type scanProgress struct {
	send    func(progress, total int, msg string)
	mu      sync.Mutex
	pages   int
	checked int
	total   int
	sent    int // the last progress sent
}

func newScanProgress(ctx context.Context, c *Call) *scanProgress {
	p := &scanProgress{}
	meta := c.Request.Params.Meta
	if meta == nil || meta.ProgressToken == nil {
		return p
	}
	token := meta.ProgressToken
	p.send = func(progress, total int, msg string) {
		err := notify(ctx, "notifications/progress", map[string]any{
			"progressToken": token, "progress": progress, "total": total, "message": msg,
		})
		if err != nil {
			c.Logger.Debug("progress notification not sent", "err", err)
		}
	}
	return p
}

// start sets the expected amount of work: list pages plus accounts, at
// most as many as the call may examine. The total only grows: when the work
// turns out larger than expected (a list longer than its profile says), never
// back.
func (p *scanProgress) start(total int) {
	p.mu.Lock()
	p.total = max(p.total, total)
	p.mu.Unlock()
}

func (p *scanProgress) page() { p.update(1, 0) }

func (p *scanProgress) examined() { p.update(0, 1) }

func (p *scanProgress) update(pages, examined int) {
	if p.send == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages += pages
	p.checked += examined
	// Every page, and every 200 accounts: at most a few hundred a scan.
	if pages > 0 || p.checked%200 == 0 {
		p.notify()
	}
}

// finish sends the final count, unless it was the last one sent.
func (p *scanProgress) finish() {
	if p.send == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The call is over: the count reaches the total (a call that stops at
	// its limit early does less than the most it might have done).
	done := p.pages + p.checked
	if done > p.sent || p.total > p.sent {
		p.total = max(p.total, done)
		p.sent = p.total
		p.send(p.total, p.total, fmt.Sprintf("%d list pages read, %d accounts examined", p.pages, p.checked))
	}
}

// notify sends the current count; p.mu is held.
func (p *scanProgress) notify() {
	done := p.pages + p.checked
	p.total = max(p.total, done)
	p.sent = done
	p.send(done, p.total, fmt.Sprintf("%d list pages read, %d accounts examined", p.pages, p.checked))
}

// The cursor is opaque to the agent: the gateway's page cursor, the offset
// into that page and the absolute index, the ids that find the place again
// (the account there, a few after it, the last ones examined), and the
// handle it belongs to, signed with an HMAC under the caller's AIsa key
// (aisa.Client.Sign). An edited or cut cursor is refused rather than resuming
// at the wrong place; so is one made with another key, which binds a cursor
// to its caller. Every replica that is sent the same key accepts it, with
// no secret to configure.
type cursorPayload struct {
	V int      `json:"v"`
	U string   `json:"u"`
	C string   `json:"c"`
	O int      `json:"o"`
	I int      `json:"i"`
	N string   `json:"n,omitempty"`
	A []string `json:"a,omitempty"`
	B []string `json:"b,omitempty"`
}

const (
	cursorVersion = 2
	cursorPurpose = "xfollow find_x_unfollow_candidates cursor v2"
	cursorSumLen  = 16 // bytes of the HMAC kept
)

// isCursorHandle reports whether v is a handle as a cursor records it: 1 to
// 15 of a-z, 0-9 and _ (^[a-z0-9_]{1,15}$).
func isCursorHandle(v string) bool {
	return len(v) <= 15 && isHandleChars(v) && strings.ToLower(v) == v
}

func cursorSum(c *aisa.Client, raw []byte) string {
	sum := c.Sign(cursorPurpose, raw)
	if len(sum) < cursorSumLen {
		return ""
	}
	return hex.EncodeToString(sum[:cursorSumLen])
}

func encodeScanCursor(c *aisa.Client, username string, pos scanPos) string {
	raw, _ := json.Marshal(cursorPayload{V: cursorVersion, U: strings.ToLower(username), C: pos.Cursor, O: pos.Offset, I: pos.Index,
		N: pos.Next, A: pos.Ahead, B: pos.Behind})
	return base64.RawURLEncoding.EncodeToString(raw) + "." + cursorSum(c, raw)
}

// scanCursor is a cursor read but not yet checked against the caller's key.
type scanCursor struct {
	raw, sum []byte
	owner    string
	pos      scanPos
}

func errBadCursor() error {
	return invalidArg("cursor is not one this tool returned, or it was cut or changed: pass next_cursor from the previous find_x_unfollow_candidates call unchanged, or leave cursor out to start from the top")
}

// parseScanCursor reads a cursor's fields; decodeScanCursor also checks
// its signature.
func parseScanCursor(s string) (scanCursor, error) {
	if len(s) > finderCursorMaxLen {
		return scanCursor{}, errBadCursor()
	}
	body, sumHex, ok := strings.Cut(s, ".")
	if !ok {
		return scanCursor{}, errBadCursor()
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return scanCursor{}, errBadCursor()
	}
	sum, err := hex.DecodeString(sumHex)
	if err != nil || len(sum) != cursorSumLen {
		return scanCursor{}, errBadCursor()
	}
	var p cursorPayload
	if json.Unmarshal(raw, &p) != nil || p.V != cursorVersion || !isCursorHandle(p.U) ||
		p.O < 0 || p.O > 100_000 || p.I < 0 || p.I > 100_000_000 || len(p.C) > 1024 || (p.N != "" && !isID(p.N)) ||
		len(p.A) > cursorAhead || len(p.B) > cursorBehind {
		return scanCursor{}, errBadCursor()
	}
	for _, id := range append(slices.Clone(p.A), p.B...) {
		if !isID(id) {
			return scanCursor{}, errBadCursor()
		}
	}
	return scanCursor{raw: raw, sum: sum, owner: p.U,
		pos: scanPos{Cursor: p.C, Offset: p.O, Index: p.I, Next: p.N, Ahead: p.A, Behind: p.B}}, nil
}

func decodeScanCursor(c *aisa.Client, s string) (string, scanPos, error) {
	sc, err := parseScanCursor(s)
	if err != nil {
		return "", scanPos{}, err
	}
	want, _ := hex.DecodeString(cursorSum(c, sc.raw))
	if len(want) == 0 || !hmac.Equal(want, sc.sum) {
		return "", scanPos{}, errBadCursor()
	}
	return sc.owner, sc.pos, nil
}
