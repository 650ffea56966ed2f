package tools

import (
	"strings"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// FollowingCacheTTL is how long what a scan of an account's followings
// found is trusted.
const FollowingCacheTTL = 10 * time.Minute

// FollowingCache remembers, per account and for FollowingCacheTTL from the
// first read, what find_x_unfollow_candidates learned of the account's
// followings: each account examined, whether it follows back, and the
// account's whole followers list when it was paged. A complete scan is
// answered from it without a gateway read; a partial one is resumed from
// where the gateway left off; and an id seen in an account's own followings
// counts as verified following for a later unfollow. Unfollows through this
// server are taken out of it (Forget). It is safe for concurrent use, and a
// nil *FollowingCache caches nothing.
//
// What one caller's key read is kept for that caller alone: a request that
// brings its own key (remote mode, --key-from-request) sees the cache
// through ForKey, scoped to the key's fingerprint.
type FollowingCache struct {
	*followingStore
	scope string // the key fingerprint a caller's view is limited to; "" for the server's own key
}

type followingStore struct {
	mu    sync.Mutex
	now   func() time.Time
	scans map[string]*scanState // by scope and lower-case handle (cacheKey)
	// The followers lists whose paging a rate limit or a cancel stopped,
	// to go on with, by cacheKey.
	partial map[string]*followersPartial
}

// followersPartial is the part of an account's followers list read so far:
// the ids of its first pages, and the cursor of the next.
type followersPartial struct {
	started time.Time // when its first page was read
	set     map[string]struct{}
	cursor  string
	cursors map[string]bool // the page cursors read
	pages   int             // pages read that had a next one
	empty   int             // pages in a row with no new id
}

// NewFollowingCache returns an empty cache on the clock now (time.Now when
// nil).
func NewFollowingCache(now func() time.Time) *FollowingCache {
	if now == nil {
		now = time.Now
	}
	return &FollowingCache{followingStore: &followingStore{now: now, scans: map[string]*scanState{}, partial: map[string]*followersPartial{}}}
}

// ForKey is the part of the cache that belongs to the caller whose key has
// fingerprint fp: it shares the storage, never the entries.
func (c *FollowingCache) ForKey(fp string) *FollowingCache {
	if c == nil {
		return nil
	}
	return &FollowingCache{followingStore: c.followingStore, scope: fp}
}

// cacheKey is where account's scan state is kept for this scope.
func (c *FollowingCache) cacheKey(account string) string {
	return c.scope + "/" + strings.ToLower(strings.TrimPrefix(account, "@"))
}

// Following reports whether a scan of account's followings in the last
// FollowingCacheTTL saw id among them, and no unfollow through this server
// removed it since. False means not known, not "not following".
func (c *FollowingCache) Following(account, id string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.live(account)
	if st == nil || st.removed[id] {
		return false
	}
	i, ok := st.byID[id]
	return ok && st.entries[i].following
}

// Forget records that account no longer follows id, after an unfollow.
func (c *FollowingCache) Forget(account, id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.live(account); st != nil {
		st.removed[id] = true
	}
}

// live returns account's scan state if it has not expired. c.mu is held.
func (c *FollowingCache) live(account string) *scanState {
	key := c.cacheKey(account)
	st := c.scans[key]
	if st != nil && c.now().Sub(st.started) >= FollowingCacheTTL {
		delete(c.scans, key)
		return nil
	}
	return st
}

// scanPos is a position in an account's followings list: the gateway cursor
// of a page and an offset into that page, and the absolute index of the
// account there. End is past the last account.
type scanPos struct {
	Cursor string
	Offset int
	Index  int
	End    bool
	// Next is the id of the account at this position, when known: a call
	// that resumes here looks for it in the page, so that accounts
	// unfollowed earlier in the page since do not shift it.
	Next string
	// Ahead are the ids after Next in the list (at most cursorAhead), to
	// find the place by when Next itself has left the followings.
	Ahead []string
	// Behind are the ids of the accounts examined just before this
	// position, the closest first (at most cursorBehind): the place is
	// right after them, wherever a follow since has pushed them.
	Behind []string
}

// How many ids a position keeps on each side of it, to find its place
// again: enough for the usual changes between two calls, few enough to keep
// a cursor short.
const (
	cursorAhead  = 3
	cursorBehind = 2
)

// scanPlace is where a position is, without the ids that find it again:
// comparable.
type scanPlace struct {
	Cursor string
	Offset int
	Index  int
	End    bool
}

func (p scanPos) place() scanPlace {
	return scanPlace{Cursor: p.Cursor, Offset: p.Offset, Index: p.Index, End: p.End}
}

// anchored reports whether the position names accounts to find it by.
func (p scanPos) anchored() bool { return p.Next != "" || len(p.Ahead) > 0 || len(p.Behind) > 0 }

// scanEntry is one examined following.
type scanEntry struct {
	user       aisa.User
	following  bool // the account still follows it (a check can find it no longer does)
	followedBy bool
}

// pageRef says that entries from index start on came from the page fetched
// with cursor, beginning at offset in it.
type pageRef struct {
	cursor string
	offset int
	start  int
}

// scanState is what is known of one account's followings: a run of
// consecutive entries from index base on.
type scanState struct {
	username  string // as the gateway spells it
	started   time.Time
	base      int
	entries   []scanEntry
	byID      map[string]int
	pages     []pageRef
	end       scanPos             // the position after the last entry
	followers map[string]struct{} // the whole followers list, when it was paged
	removed   map[string]bool     // unfollowed through this server since
}

// positionAt is the position of absolute index i, base <= i <= base+len,
// with the ids on either side of it.
func (st *scanState) positionAt(i int) scanPos {
	k := i - st.base
	var p scanPos
	if k == len(st.entries) {
		p = st.end
	} else {
		p, _ = st.implied(i)
		p.Next = st.entries[k].user.ID
		for j := k + 1; j < len(st.entries) && len(p.Ahead) < cursorAhead; j++ {
			p.Ahead = append(p.Ahead, st.entries[j].user.ID)
		}
	}
	p.Behind = nil
	for j := k - 1; j >= 0 && len(p.Behind) < cursorBehind; j-- {
		p.Behind = append(p.Behind, st.entries[j].user.ID)
	}
	return p
}

// implied is the position of index i as the page references give it.
func (st *scanState) implied(i int) (scanPos, bool) {
	if len(st.pages) == 0 {
		return scanPos{}, false
	}
	p := st.pages[0]
	for _, r := range st.pages {
		if r.start > i {
			break
		}
		p = r
	}
	return scanPos{Cursor: p.cursor, Offset: p.offset + i - p.start, Index: i}, true
}

// covers reports whether the state holds pos: a position it passed through
// or its end, with the same accounts there. The same page, offset and index
// can hold other accounts in a state read after unfollows (a newer scan
// from the top): then the accounts on either side of the place differ from
// the cursor's, and the state does not cover it.
func (st *scanState) covers(pos scanPos) bool {
	if pos.Index < st.base || pos.Index > st.base+len(st.entries) {
		return false
	}
	at := st.positionAt(pos.Index)
	if at.place() != pos.place() {
		return false
	}
	checked := false
	if pos.Next != "" && at.Next != "" {
		if pos.Next != at.Next {
			return false
		}
		checked = true
	}
	if len(pos.Behind) > 0 && len(at.Behind) > 0 {
		if pos.Behind[0] != at.Behind[0] {
			return false
		}
		checked = true
	}
	return checked || !pos.anchored()
}

// cacheView is a consistent copy of an account's scan state, for one call.
type cacheView struct {
	from   *scanState // the state itself, to extend it afterwards
	snap   scanState  // a copy: entries and pages below their lengths never change
	covers bool       // the state holds the call's position
}

// view returns a copy of account's scan state, or nil.
func (c *FollowingCache) view(account string, pos scanPos) *cacheView {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.live(account)
	if st == nil {
		return nil
	}
	v := &cacheView{from: st, snap: *st, covers: st.covers(pos)}
	v.snap.byID = nil
	v.snap.removed = make(map[string]bool, len(st.removed))
	for id := range st.removed {
		v.snap.removed[id] = true
	}
	return v
}

// drop forgets account's scan state (refresh, a follow).
func (c *FollowingCache) drop(account string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.scans, c.cacheKey(account))
}

// clock is the cache's time (time.Now without a cache).
func (c *FollowingCache) clock() time.Time {
	if c == nil {
		return time.Now()
	}
	return c.now()
}

// takeFollowers hands account's partly read followers list to one call,
// which owns it from then on, or returns nil. A refresh forgets it
// (dropFollowers); it expires FollowingCacheTTL after its first page.
func (c *FollowingCache) takeFollowers(account string) *followersPartial {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := c.cacheKey(account)
	p := c.partial[key]
	delete(c.partial, key)
	if p == nil || c.now().Sub(p.started) >= FollowingCacheTTL {
		return nil
	}
	return p
}

// keepFollowers keeps a call's partly read followers list for the next.
func (c *FollowingCache) keepFollowers(account string, p *followersPartial) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, q := range c.partial { // expired ones go
		if c.now().Sub(q.started) >= FollowingCacheTTL {
			delete(c.partial, k)
		}
	}
	c.partial[c.cacheKey(account)] = p
}

// dropFollowers forgets account's partly read followers list (refresh).
func (c *FollowingCache) dropFollowers(account string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.partial, c.cacheKey(account))
}

// dropScope forgets every scan state of this scope (this caller's key),
// whatever the account.
func (c *FollowingCache) dropScope() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := c.scope + "/"
	for key := range c.scans {
		if strings.HasPrefix(key, prefix) {
			delete(c.scans, key)
		}
	}
}

// scanSegment is what one call read from the gateway: entries from
// position from on, and where it stopped.
type scanSegment struct {
	username  string
	from      scanPos
	entries   []scanEntry
	positions []scanPos // of each entry
	end       scanPos
	followers map[string]struct{}
	// followersSince is when the first page of followers was read: the
	// state is trusted for FollowingCacheTTL from then, not from now.
	followersSince time.Time
}

// record keeps what a call read. It extends the state the call was served
// from when the segment begins at that state's end, and otherwise starts a
// new state when there is none (or it expired), or when the segment starts
// at the top of the list, which supersedes a state that starts lower down.
func (c *FollowingCache) record(account string, from *scanState, seg scanSegment) {
	if c == nil || (len(seg.entries) == 0 && seg.followers == nil) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := c.cacheKey(account)
	cur := c.live(account)
	switch {
	case cur != nil && cur == from && cur.end.place() == seg.from.place():
		cur.add(seg)
	case cur == nil || seg.from.Index == 0 && cur.base > 0:
		started := c.now()
		if !seg.followersSince.IsZero() && seg.followersSince.Before(started) {
			started = seg.followersSince
		}
		st := &scanState{username: seg.username, started: started, base: seg.from.Index, end: seg.from,
			byID: map[string]int{}, removed: map[string]bool{}}
		st.add(seg)
		c.scans[key] = st
	}
}

// add appends a segment that starts at st.end.
func (st *scanState) add(seg scanSegment) {
	for i, e := range seg.entries {
		p := seg.positions[i]
		if q, ok := st.implied(p.Index); !ok || q.place() != p.place() {
			st.pages = append(st.pages, pageRef{cursor: p.Cursor, offset: p.Offset, start: p.Index})
		}
		st.byID[e.user.ID] = len(st.entries)
		st.entries = append(st.entries, e)
		delete(st.removed, e.user.ID)
	}
	if len(seg.entries) > 0 {
		st.end = seg.end
	}
	if seg.followers != nil && st.followers == nil {
		st.followers = seg.followers
		if !seg.followersSince.IsZero() && seg.followersSince.Before(st.started) {
			st.started = seg.followersSince
		}
	}
}

// knownFollowing marks the items a scan in the last FollowingCacheTTL saw in
// the account's own followings as followed (no relationship read needed),
// and returns the others.
func (g *Gate) knownFollowing(c *Call, items []*writeItem) []*writeItem {
	var rest []*writeItem
	for _, it := range items {
		if c.Following.Following(g.Account, it.ID) {
			yes := true
			it.WasFollowing = &yes
			continue
		}
		rest = append(rest, it)
	}
	return rest
}

// followingChanged keeps the cache true to a write that happened (or may
// have): an unfollowed id is no longer a verified following nor a
// candidate, and a follow makes the account's cached followings incomplete.
//
// Without --account the server does not know which account the key acts
// on, so every scan cached for this key may be stale: they are all dropped.
func (g *Gate) followingChanged(c *Call, kind writeKind, id string) {
	if g.DryRun {
		return
	}
	switch {
	case g.Account == "":
		c.Following.dropScope()
	case kind == kindUnfollow:
		c.Following.Forget(g.Account, id)
	default:
		c.Following.drop(g.Account)
	}
}
