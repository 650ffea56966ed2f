package aisa

import (
	"context"
	"testing"
	"time"
)

// TestListProfileFields: a followings page's users carry picture, bio and
// creation date in each shape the gateway is known to use; what is absent
// or unusable (an http picture, a date in no known form) stays absent.
func TestListProfileFields(t *testing.T) {
	t.Parallel()
	created := time.Date(2007, 12, 13, 8, 41, 26, 0, time.UTC)
	body := `{"followings":[
		{"id":"1","userName":"camel","name":"Camel","isBlueVerified":true,"followers":10,"following":3,
		 "profilePicture":"https://pbs.twimg.com/profile_images/1/a_normal.jpg","description":"  bio one ","createdAt":"Thu Dec 13 08:41:26 +0000 2007"},
		{"id":"2","screen_name":"v1","name":"V1","verified":false,"followers_count":5,"friends_count":7,
		 "profile_image_url_https":"https://pbs.twimg.com/profile_images/2/b_normal.jpg","profile_image_url":"http://pbs.twimg.com/x.jpg",
		 "description":"<img src=x onerror=alert(1)>","created_at":"Thu Dec 13 08:41:26 +0000 2007"},
		{"id":"3","username":"v2","name":"V2","profile_image_url":"https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png",
		 "created_at":"2007-12-13T08:41:26.000Z"},
		{"id":"4","userName":"bare","name":"Bare"},
		{"id":"5","userName":"odd","name":"Odd","profilePicture":"http://example.com/a.jpg","description":42,"createdAt":"yesterday"},
		{"id":"6","userName":"js","name":"Js","profilePicture":"javascript:alert(1)","createdAt":null,"description":null}
	],"has_next_page":false,"status":"success"}`
	g := newGateway(t, reply(200, body))
	c := newClient(t, g.srv.URL, &waits{})
	p, err := c.Followings(context.Background(), "me", "", 200)
	if err != nil || len(p.Users) != 6 {
		t.Fatalf("%d users, %v", len(p.Users), err)
	}
	type want struct {
		img, bio string
		created  *time.Time
	}
	for i, w := range []want{
		{"https://pbs.twimg.com/profile_images/1/a_normal.jpg", "bio one", &created},
		{"https://pbs.twimg.com/profile_images/2/b_normal.jpg", "<img src=x onerror=alert(1)>", &created},
		{"https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png", "", &created},
		{"", "", nil},
		{"", "", nil},
		{"", "", nil},
	} {
		u := p.Users[i]
		if u.ProfileImageURL != w.img || u.Description != w.bio || (u.CreatedAt == nil) != (w.created == nil) ||
			(u.CreatedAt != nil && !u.CreatedAt.Equal(*w.created)) {
			t.Errorf("user %s: picture %q bio %q created %v; want %+v", u.ID, u.ProfileImageURL, u.Description, u.CreatedAt, w)
		}
	}
	if u := p.Users[1]; u.Verified == nil || *u.Verified || *u.FollowingCount != 7 || *u.FollowersCount != 5 {
		t.Errorf("v1 counts: %+v", u)
	}
	if u := p.Users[3]; u.Verified != nil || u.FollowersCount != nil || u.FollowingCount != nil {
		t.Errorf("absent fields were filled in: %+v", u)
	}
}
