package viewtest

import (
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/sandbox"
)

// TestReviewViewCallsMeetTheGate: a tick in the view is not consent by
// itself. The view's calls go through the same guards as any other: with
// --confirm and a host that cannot ask the person, and with --read-only,
// starting the job is refused and said; with --dry-run the job is planned,
// said to be a dry run, and nothing is sent.
func TestReviewViewCallsMeetTheGate(t *testing.T) {
	path := chromium(t)
	b := launch(t, path)
	ids := sandbox.BigNonFollowers()[:3]
	cases := []struct {
		name  string
		flags []string
		check func(t *testing.T, p *page)
	}{
		{"confirm", []string{"--confirm"}, func(t *testing.T, p *page) {
			p.wait(`document.getElementById("notice").className === "error"`)
			if !p.visible("#unfollow") || p.visible("#job") {
				t.Error("a refused job shows as started")
			}
			if n := p.int(`document.querySelectorAll("#rows input:checked").length`); n != 3 {
				t.Errorf("%d ticks kept after a refusal; want the 3 to try again", n)
			}
		}},
		{"dry-run", []string{"--dry-run"}, func(t *testing.T, p *page) {
			p.wait(`document.getElementById("notice").textContent.startsWith("Dry run")`)
		}},
		{"read-only", []string{"--read-only"}, func(t *testing.T, p *page) {
			p.wait(`document.getElementById("notice").className === "error"`)
			if p.visible("#job") {
				t.Error("a refused job shows as started")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hostURL := startHost(t, startServer(t, tc.flags...))
			p := open(t, b, hostURL, "theme=light&username=xfollow_big&limit=1000")
			p.wait(`document.querySelectorAll("` + rowSel + `").length > 0`)
			want := len(p.candidateIDs())
			p.click(`#tick-`+ids[0], false)
			p.click(`#tick-`+ids[2], true)
			p.wait(`document.getElementById("ticked").textContent === "3 ticked"`)
			p.click("#unfollow", false)
			tc.check(t, p)
			t.Logf("the view says: %s", p.string(`document.getElementById("notice").textContent`))
			if left := len(p.candidateIDs()); left != want {
				t.Errorf("%d accounts unfollowed; want none", want-left)
			}
		})
	}
}
