package sandbox

import (
	"fmt"
	"strings"
	"time"
)

// The big graph: a second sandbox account, @xfollow_big, that follows a few
// thousand accounts and is followed by a different few thousand, so that
// scans that page through whole follow lists (find_x_unfollow_candidates)
// can be tried and measured without a key. It is generated, not stored:
// the same on every start. It is built on the first request that names one
// of its accounts (by handle or id), so the many sandboxes tests start do
// not pay for it.
//
// The accounts are @big_user_0001 ... @big_user_4500 (ids 18 followed by the
// number in 17 digits). @xfollow_big follows 1 to BigFollowingCount in that
// order, so the followings list, most recent first, starts at
// @big_user_3000. Of those, the ones bigFollowsBack says no to do not follow
// back; every account from BigFollowingCount+1 to bigUserCount follows
// @xfollow_big without being followed.
const (
	BigID             = "1800000000000000000"
	BigUsername       = "xfollow_big"
	BigFollowingCount = 3000
	bigUserCount      = 4500
)

// BigUserID is the id of @big_user_NNNN.
func BigUserID(n int) string { return fmt.Sprintf("18%017d", n) }

// BigUsernameOf is the handle of account n of the big graph.
func BigUsernameOf(n int) string { return fmt.Sprintf("big_user_%04d", n) }

// bigFollowsBack reports whether followed account n follows @xfollow_big
// back: about three in four do, in an irregular pattern, so that the
// non-followers are spread unevenly across pages.
func bigFollowsBack(n int) bool { return (n*37+n/7)%100 >= 25 }

// BigNonFollowers returns the ids @xfollow_big follows that do not follow it
// back, in the order of its followings list (most recent first): exactly
// what find_x_unfollow_candidates must report for it.
func BigNonFollowers() []string {
	var ids []string
	for n := BigFollowingCount; n >= 1; n-- {
		if !bigFollowsBack(n) {
			ids = append(ids, BigUserID(n))
		}
	}
	return ids
}

// BigFollowerCount is how many accounts follow @xfollow_big.
func BigFollowerCount() int {
	n := bigUserCount - BigFollowingCount
	for i := 1; i <= BigFollowingCount; i++ {
		if bigFollowsBack(i) {
			n++
		}
	}
	return n
}

// ensureBigFor builds the big graph when v, a lower-case handle or an id,
// names one of its accounts. The caller holds s.mu (or owns s).
func (s *Sandbox) ensureBigFor(v string) {
	if s.bigSeeded {
		return
	}
	if v == BigUsername || strings.HasPrefix(v, "big_user_") || (len(v) == 19 && strings.HasPrefix(v, "18")) {
		s.seedBig()
	}
}

func (s *Sandbox) seedBig() {
	s.bigSeeded = true
	s.addUser(&user{ID: BigID, Username: BigUsername, Name: "xfollow big sandbox account", Description: "A generated account that follows thousands.",
		Avatar: DefaultAvatar, CreatedAt: time.Date(2015, 6, 15, 12, 0, 0, 0, time.UTC)})
	for n := 1; n <= bigUserCount; n++ {
		u := &user{
			ID: BigUserID(n), Username: BigUsernameOf(n),
			// A spread of sizes, from a handful of followers to tens of thousands.
			ExtraFollowers: int64((n * 7919) % 40000 / (1 + n%9)),
		}
		persona(u, n, true) // name, bio, picture, date, verified (profiles.go)
		s.addUser(u)
	}
	for n := 1; n <= BigFollowingCount; n++ {
		s.follow(BigID, BigUserID(n))
	}
	for n := 1; n <= bigUserCount; n++ {
		if n > BigFollowingCount || bigFollowsBack(n) {
			s.follow(BigUserID(n), BigID)
		}
	}
}
