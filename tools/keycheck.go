package tools

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// KeyCheck keeps keys the gateway has not accepted away from the write
// path in the many-callers mode (--key-from-request). Any string shaped like
// a key reaches the server, and a write journals its intent before the
// gateway answers: without this check every junk key would cost two synced
// journal records and open a fresh budget. So a caller key's first write
// waits for proof that the gateway takes the key: a call of any tool with
// the key that succeeded before (a read answered by the gateway), or else
// one cheap read the check makes itself. The answer is remembered by
// fingerprint (never the key): an accepted key goes straight through from
// then on; a refused one is refused without a gateway call for a while.
// Keys not yet known cost a gateway read each, so each client address may
// bring only a few new ones a minute.
//
// A key refused here never reaches the gate: it journals nothing.
//
// The check lives in one place, the tool handler (define.go): every tool
// that is not read-only passes Admit, so a new write tool gets it without
// asking.
type KeyCheck struct {
	// Probe asks the gateway whether it accepts the client's key. nil means
	// ProbeKey.
	Probe func(ctx context.Context, c *aisa.Client) error
	// Now is the clock (tests set it). nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	accepted lru                      // fingerprints the gateway took; value unused
	refused  lru                      // fingerprints it refused; value: until when
	checking map[string]chan struct{} // checks in flight, closed when each ends
	addrs    map[string]*addrWindow
}

// The check's bounds.
const (
	// Accepted keys are kept apart from refused ones, so that a flood of
	// junk keys cannot push a valid key out and make it wait again: an
	// accepted key is forgotten only when this many other keys were
	// accepted since its last use (each is a key the gateway took, which a
	// flood cannot make).
	keysAccepted  = 100_000
	keysRefused   = 10_000           // refused fingerprints remembered (least recently refused dropped first)
	keyRefusedFor = 10 * time.Minute // a refused key is refused without asking this long
	// Each client address may bring this many keys not known to be
	// accepted in this window: each costs the gateway a read.
	newKeysPerAddr = 30
	newKeysWindow  = time.Minute
	addrsKept      = 10_000 // client addresses tracked at once
)

// probeHandle is the account the key check looks up: X's own, which always
// exists, so any answer but 401 says the gateway took the key.
const probeHandle = "X"

// ProbeKey is the check's gateway read: one user lookup. A 401 is never
// retried; a 429 or 5xx is, as for any read.
func ProbeKey(ctx context.Context, c *aisa.Client) error {
	_, err := c.UserInfo(ctx, probeHandle)
	return err
}

type addrWindow struct {
	start time.Time
	n     int
}

// NewKeyCheck returns an empty check.
func NewKeyCheck() *KeyCheck {
	return &KeyCheck{accepted: newLRU(keysAccepted), refused: newLRU(keysRefused),
		checking: map[string]chan struct{}{}, addrs: map[string]*addrWindow{}}
}

func (k *KeyCheck) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Admit lets c's write go ahead, or says why not. Only a call that carries
// its caller's key is checked; the client address is what the transport
// put in the context.
func (k *KeyCheck) Admit(ctx context.Context, c *Call) error {
	if k == nil || !hasCallerKey(ctx) {
		return nil
	}
	fp := c.Client.KeyFingerprint()
	for {
		k.mu.Lock()
		if k.accepted.touch(fp) {
			k.mu.Unlock()
			return nil
		}
		if wait, ok := k.checking[fp]; ok {
			// Another call is asking about this key: wait for its answer.
			k.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return asToolError(&aisa.Error{Kind: aisa.KindCanceled}, "")
			}
		}
		now := k.now()
		if until, ok := k.refused.get(fp); ok {
			if now.Before(until) {
				k.mu.Unlock()
				return keyRefused(until.Sub(now))
			}
			k.refused.remove(fp)
		}
		if wait, ok := k.allowNew(callerAddr(ctx), now); !ok {
			k.mu.Unlock()
			secs := ceilSeconds(wait)
			return &ToolError{Code: CodeRateLimited, RetryAfter: secs, Msg: fmt.Sprintf(
				"this client address brought more than %d AIsa keys the server has not seen accepted within a minute, so this key was not checked and nothing was sent; retry after %d seconds, or use a key this server has already accepted",
				newKeysPerAddr, secs)}
		}
		done := make(chan struct{})
		k.checking[fp] = done
		k.mu.Unlock()
		return k.check(ctx, c, fp, done)
	}
}

// check asks the gateway about fp's key and remembers the answer.
func (k *KeyCheck) check(ctx context.Context, c *Call, fp string, done chan struct{}) error {
	probe := k.Probe
	if probe == nil {
		probe = ProbeKey
	}
	err := probe(ctx, c.Client)
	var ge *aisa.Error
	accepted, refused := err == nil, false
	if errors.As(err, &ge) {
		switch ge.Kind {
		case aisa.KindUserNotFound, aisa.KindAccountNotLinked:
			accepted = true // the gateway took the key and answered about the account
		case aisa.KindAuthInvalid:
			refused = true
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.checking, fp)
	close(done)
	switch {
	case accepted:
		k.accepted.put(fp, time.Time{})
		return nil
	case refused:
		k.refused.put(fp, k.now().Add(keyRefusedFor))
		return keyRefused(keyRefusedFor)
	}
	// No answer about the key (the gateway is down, rate limited, slow):
	// nothing is remembered, and the write is not sent.
	te := *asToolError(err, "")
	te.Msg = "the server could not check this request's AIsa key with the gateway before its first write, so nothing was sent: " + te.Msg
	return &te
}

// Settled learns from a finished call with a caller key: a call that
// succeeded was answered by the gateway with this key (or from what an
// earlier answer to it left in the cache), so the key is accepted; a 401
// (a key revoked after it was accepted) stops the key's next writes before
// they journal.
func (k *KeyCheck) Settled(ctx context.Context, fp string, err error) {
	if k == nil || !hasCallerKey(ctx) {
		return
	}
	var te *ToolError
	switch {
	case err == nil:
		k.mu.Lock()
		if !k.accepted.touch(fp) {
			k.refused.remove(fp)
			k.accepted.put(fp, time.Time{})
		}
		k.mu.Unlock()
	case errors.As(err, &te) && te.Code == CodeAuthInvalid:
		k.mu.Lock()
		if k.accepted.remove(fp) {
			k.refused.put(fp, k.now().Add(keyRefusedFor))
		}
		k.mu.Unlock()
	}
}

func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func keyRefused(left time.Duration) error {
	return &ToolError{Code: CodeAuthInvalid, Msg: fmt.Sprintf(
		"the AIsa gateway rejected the API key this request carried (401: missing, invalid or revoked), so nothing was sent; put a valid key from console.aisa.one in the Authorization: Bearer header the MCP client sends (this server asks the gateway about this key again in %d seconds at the earliest)", ceilSeconds(left))}
}

// allowNew counts a key not yet known against addr's window. It reports
// how long until the window ends when addr has used its allowance.
func (k *KeyCheck) allowNew(addr string, now time.Time) (time.Duration, bool) {
	w, ok := k.addrs[addr]
	if ok && now.Sub(w.start) >= newKeysWindow {
		w.start, w.n = now, 0
	}
	if !ok {
		if len(k.addrs) >= addrsKept {
			for a, old := range k.addrs {
				if now.Sub(old.start) >= newKeysWindow {
					delete(k.addrs, a)
				}
			}
		}
		if len(k.addrs) >= addrsKept {
			// Every tracked address is busy: the newcomers share one
			// allowance rather than grow the map.
			addr = ""
			if w, ok = k.addrs[addr]; !ok || now.Sub(w.start) >= newKeysWindow {
				w = &addrWindow{start: now}
				k.addrs[addr] = w
			}
		} else {
			w = &addrWindow{start: now}
			k.addrs[addr] = w
		}
	}
	if w.n >= newKeysPerAddr {
		return w.start.Add(newKeysWindow).Sub(now), false
	}
	w.n++
	return 0, true
}

// lru is a bounded set of fingerprints, each with a time, least recently
// used dropped first.
type lru struct {
	max   int
	items map[string]*list.Element
	order *list.List // *lruItem, most recent at the front
}

type lruItem struct {
	fp string
	at time.Time
}

func newLRU(max int) lru { return lru{max: max, items: map[string]*list.Element{}, order: list.New()} }

// touch reports whether fp is in, marking it used.
func (l *lru) touch(fp string) bool {
	el, ok := l.items[fp]
	if ok {
		l.order.MoveToFront(el)
	}
	return ok
}

func (l *lru) get(fp string) (time.Time, bool) {
	el, ok := l.items[fp]
	if !ok {
		return time.Time{}, false
	}
	return el.Value.(*lruItem).at, true
}

func (l *lru) put(fp string, at time.Time) {
	if el, ok := l.items[fp]; ok {
		el.Value.(*lruItem).at = at
		l.order.MoveToFront(el)
		return
	}
	l.items[fp] = l.order.PushFront(&lruItem{fp: fp, at: at})
	for l.order.Len() > l.max {
		l.remove(l.order.Back().Value.(*lruItem).fp)
	}
}

func (l *lru) remove(fp string) bool {
	el, ok := l.items[fp]
	if ok {
		delete(l.items, fp)
		l.order.Remove(el)
	}
	return ok
}

type callerAddrCtx struct{}

// WithCallerAddr returns a context that names the client address a request
// came from: the remote mode's transport sets it beside the caller's key, so
// that new keys can be counted per client.
func WithCallerAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, callerAddrCtx{}, clientBucket(addr))
}

// clientBucket is the unit new keys are counted by: an IPv4 address, or an
// IPv6 address's /64 (what one subscriber is usually given).
func clientBucket(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func callerAddr(ctx context.Context) string {
	a, _ := ctx.Value(callerAddrCtx{}).(string)
	return a
}

func hasCallerKey(ctx context.Context) bool {
	_, ok := ctx.Value(callerKeyCtx{}).(string)
	return ok
}
