package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// leaks gathers, over the whole run, every place an AIsa key must never
// reach: each server's log output, each journal, each Redis the servers
// shared (keys and values), every URL a server sent a client or a browser
// to, and every cookie. TestMain looks through all of it after the last
// test, so that a key leaking in a test that does not look for it is still
// caught.
var leaks = &leakWatch{}

// aisaKeyRe matches an AIsa key: the prefix and at least eight key
// characters. Every key the tests use is longer; the server's own hints
// ("Bearer sk-aisa-...") are not keys.
var aisaKeyRe = regexp.MustCompile(`sk-aisa-[A-Za-z0-9_+/~-]{8,}`)

type leakWatch struct {
	mu     sync.Mutex
	counts map[string]int // kind -> items looked through
	found  []string
}

// saw looks through one item of kind (log, journal, redis, url, cookie).
func (l *leakWatch) saw(kind, where, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[kind]++
	if m := aisaKeyRe.FindString(text); m != "" {
		l.found = append(l.found, fmt.Sprintf("%s (%s) holds an AIsa key (%.12s...)", kind, where, m))
	}
}

// sawLines looks through text line by line, counting lines.
func (l *leakWatch) sawLines(kind, where, text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		l.saw(kind, fmt.Sprintf("%s line %d", where, n), sc.Text())
	}
}

// report is a summary of what was looked through, and the findings.
func (l *leakWatch) report() (string, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var kinds []string
	for k, n := range l.counts {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", "), append([]string(nil), l.found...)
}

// watchProcess is called when a server process is launched: once it has
// stopped, its output, its journal and the Redis it used are looked through.
// (The cleanup runs after the test's stop and before the Redis server and
// the temporary directories go.)
func watchProcess(t *testing.T, args []string, out ...*lockedBuffer) {
	t.Cleanup(func() {
		where := t.Name()
		for _, b := range out {
			leaks.sawLines("log", where, b.String())
		}
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--journal":
				sawJournal(where, args[i+1])
			case "--state":
				dumpRedis(t, where, args[i+1])
			}
		}
	})
}

// sawJournal looks through a journal: its active segment at path, and every
// file in its segment folder (sealed segments, checkpoint, pins).
func sawJournal(where, path string) {
	files := []string{path}
	if ents, err := os.ReadDir(path + ".d"); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(path+".d", e.Name()))
			}
		}
	}
	for _, f := range files {
		if raw, err := os.ReadFile(f); err == nil {
			leaks.sawLines("journal record", where+" "+filepath.Base(f), string(raw))
		}
	}
}

// dumpRedis looks through every key and value of the Redis at u.
func dumpRedis(t *testing.T, where, u string) {
	opts, err := redis.ParseURL(u)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		return // already stopped by the test itself
	}
	for _, k := range keys {
		var v string
		switch typ, _ := rdb.Type(ctx, k).Result(); typ {
		case "string":
			v, _ = rdb.Get(ctx, k).Result()
		case "hash":
			m, _ := rdb.HGetAll(ctx, k).Result()
			v = fmt.Sprint(m)
		case "list":
			m, _ := rdb.LRange(ctx, k, 0, -1).Result()
			v = strings.Join(m, " ")
		case "set":
			m, _ := rdb.SMembers(ctx, k).Result()
			v = strings.Join(m, " ")
		case "zset":
			m, _ := rdb.ZRange(ctx, k, 0, -1).Result()
			v = strings.Join(m, " ")
		case "stream":
			m, _ := rdb.XRange(ctx, k, "-", "+").Result()
			v = fmt.Sprint(m)
		}
		leaks.saw("redis entry", where, k+" "+v)
	}
}

// sawResponse records where a response sends the client and what cookie
// it sets.
func sawResponse(where string, h map[string][]string) {
	for _, loc := range h["Location"] {
		leaks.saw("url", where, loc)
	}
	for _, c := range h["Set-Cookie"] {
		leaks.saw("cookie", where, c)
	}
}

// checkLeaks is TestMain's look through everything gathered.
func checkLeaks() bool {
	summary, found := leaks.report()
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "AIsa key leak check FAILED (looked through %s):\n", summary)
		for _, f := range found {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		return false
	}
	if summary != "" {
		fmt.Fprintf(os.Stderr, "AIsa key leak check: no key in %s\n", summary)
	}
	return true
}

// TestLeakWatchFindsAKey: the suite-wide check finds a key wherever it is
// put, and does not mistake the server's hints or fingerprints for one.
func TestLeakWatchFindsAKey(t *testing.T) {
	t.Parallel()
	l := &leakWatch{}
	l.saw("log", "hint", `level=WARN msg="send Authorization: Bearer sk-aisa-..." key_fingerprint=0123456789abcdef`)
	l.sawLines("journal record", "j", "{\"a\":1}\n{\"b\":2}\n")
	if _, found := l.report(); len(found) != 0 {
		t.Fatalf("false finding: %v", found)
	}
	l.sawLines("log", "x", "ok\nlevel=INFO msg=call bearer="+consentKey(9)+"\n")
	l.saw("url", "cb", "http://127.0.0.1:1/cb?key="+testKey)
	summary, found := l.report()
	if len(found) != 2 || !strings.Contains(found[0], "line 2") || !strings.HasPrefix(found[1], "url") {
		t.Fatalf("findings %v", found)
	}
	if summary != "1 url, 2 journal record, 3 log" || strings.Contains(strings.Join(found, " "), consentKey(9)) {
		t.Errorf("summary %q / findings repeat the key: %v", summary, found)
	}
}
