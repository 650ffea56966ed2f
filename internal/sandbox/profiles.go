package sandbox

import (
	"fmt"
	"time"
)

// Profiles: what the sandbox's list pages say about each account besides
// its handle (display name, bio, picture, creation date, verified flag,
// counts), so that the candidate finder and the review view have something
// to show. Every value is derived from the account's number, the same on
// every start.

// XSSUsername is the big-graph account whose bio is markup, for tests that
// check untrusted text never becomes markup. It is a candidate of
// @xfollow_big: it does not follow it back.
const (
	XSSUsername = "big_user_2994"
	XSSBio      = `<img src=x onerror=alert(1)> I review everything`
	xssNumber   = 2994
)

// DefaultAvatar is X's picture for an account that set none.
const DefaultAvatar = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"

var (
	firstNames = []string{"Ada", "Bram", "Chiara", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas",
		"Kemal", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tomas", "Uma", "Viktor", "Wen", "Yara"}
	lastNames = []string{"Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski", "Haddad", "Novak", "Silva", "Brennan",
		"Castillo", "Dubois", "Eriksen", "Fischer", "Gupta", "Ivanova", "Jensen", "Kim", "Larsen", "Mendes", "Nakamura"}
	bioTopics = []string{"Coffee, code and long walks.", "Photographer. Mostly birds.", "Building tiny tools for big teams.",
		"Runner, reader, occasional baker.", "Climate data nerd.", "Tabletop games and terrible puns.",
		"Product design @ a startup you have not heard of.", "Jazz, synths, and the odd podcast.",
		"Teaching kids to code on weekends.", "Open source maintainer. Please file an issue.", "Plants > people.",
		"Travel notes from 40+ countries.", "Former chef, current SRE.", "Writing a novel, slowly.", ""}
)

// persona fills in the profile of generated account n (of the big graph
// when big is set, else of the sandbox account's simulated followings).
func persona(u *user, n int, big bool) {
	h := uint32(n)*2654435761 + 12345
	if !big {
		h ^= 0x9e3779b9
	}
	pick := func(list []string, salt uint32) string { return list[(h>>salt)%uint32(len(list))] }
	u.Name = pick(firstNames, 3) + " " + pick(lastNames, 11)
	u.Description = pick(bioTopics, 7)
	switch h % 10 {
	case 0:
		// No picture set: X's default.
		u.Avatar = DefaultAvatar
	case 1:
		// The gateway said nothing about a picture.
		u.Avatar = ""
	default:
		u.Avatar = fmt.Sprintf("https://pbs.twimg.com/profile_images/%d/%08x_normal.jpg", 1600000000000000000+int64(n), h)
	}
	u.Verified = h%7 == 0
	u.ExtraFollowing = int64(h%2400) + 12
	u.CreatedAt = time.Date(2008, 1, 1, 0, 0, 0, 0, time.UTC).
		Add(time.Duration(h%(16*365)) * 24 * time.Hour).Add(time.Duration(h%86400) * time.Second)
	if big && n == xssNumber {
		u.Name = "Markup <b>Tester</b>"
		u.Description = XSSBio
	}
}
