package viewtest

import (
	"bytes"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The picture server stands in for X's image hosts (pbs.twimg.com,
// abs.twimg.com), which the browser resolves to it: a profile picture is a
// small PNG whose colours come from its path, so that screenshots show
// pictures as a host would, with no network.
var (
	picOnce   sync.Once
	picAddr   string
	picServed atomic.Int64
)

// pictures returns the picture server's host:port, starting it once for
// the whole test binary.
func pictures(t *testing.T) string {
	t.Helper()
	picOnce.Do(func() {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host != "pbs.twimg.com" && r.Host != "abs.twimg.com" || !strings.HasSuffix(r.URL.Path, ".jpg") && !strings.HasSuffix(r.URL.Path, ".png") {
				http.NotFound(w, r)
				return
			}
			picServed.Add(1)
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Cache-Control", "max-age=3600")
			_, _ = w.Write(picture(r.Host + r.URL.Path))
		}))
		// Left running for the test binary's life: it holds no state
		// worth closing, and the browsers of several tests use it.
		picAddr = srv.Listener.Addr().String()
	})
	return picAddr
}

// picture draws a 73-pixel square: a background, and a lighter disc
// standing in for a face, both coloured from the path.
func picture(key string) []byte {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	v := h.Sum32()
	bg := color.RGBA{uint8(60 + v%150), uint8(60 + (v>>8)%150), uint8(60 + (v>>16)%150), 255}
	fg := color.RGBA{uint8(min(255, int(bg.R)+70)), uint8(min(255, int(bg.G)+70)), uint8(min(255, int(bg.B)+70)), 255}
	const n = 73
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := bg
			dx, dy := x-n/2, y-n/2+4
			if dx*dx+dy*dy < 15*15 || (y > n-22 && dx*dx < 26*26) {
				c = fg
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
