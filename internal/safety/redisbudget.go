package safety

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrStateUnavailable wraps every failure of the shared state store: the
// budget could not be checked, so the write must not go out.
var ErrStateUnavailable = errors.New("the shared state store is unavailable")

// RedisKeyPrefix starts every key the shared budget writes; the rest of the
// key is the caller's key fingerprint. Members are random ids, scores are
// times: nothing in Redis is a secret.
const RedisKeyPrefix = "xfollow:budget:"

// redisOpTimeout bounds each call to the store, so that a store that hangs
// refuses writes promptly instead of holding them.
const redisOpTimeout = 2 * time.Second

// budgetScript checks the windows of one fingerprint and, in reserve mode,
// adds one event, atomically: Redis runs a script without interleaving
// another client's commands, so two replicas cannot both take the last slot.
//
// Times are milliseconds on the Redis server's clock (TIME), never a
// replica's: replicas' clocks differ, and a replica whose clock runs ahead
// would otherwise drop events that still count for the others. Millisecond
// numbers (13 digits) also survive Lua's number-to-string conversions exactly.
//
// KEYS[1]  the fingerprint's sorted set: member an event id, score its time
// ARGV[1]  mode: check, reserve or remaining
// ARGV[2]  n: events that must fit (check, reserve)
// ARGV[3]  the new event's id (reserve)
// ARGV[4]  retention in ms: events older than the longest window are dropped
// ARGV[5…] limit, span in ms: one pair per window, in the configured order
//
// Returns {1, now} when n fits (and the event was added in reserve mode),
// {0, window number from 1, wait in ms} naming the full window that frees
// room last (as Budget.check does), and
// {2, count in window 1, count in window 2, …} in remaining mode.
//
// It is made on first use: hashing it at start cost every process tens of
// microseconds, with or without --state.
var budgetScript = sync.OnceValue(func() *redis.Script { return redis.NewScript(budgetScriptSource) })

const budgetScriptSource = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local mode = ARGV[1]
local n = tonumber(ARGV[2])
local retention = tonumber(ARGV[4])
-- probe (the health check) takes exactly the reserve path, on a key of its
-- own with n = 0, and takes its event out again at the end.
--
-- Redis refuses a script's write that may grow memory when the store was
-- over maxmemory as the script began (with noeviction), unless the script
-- already wrote something: so the ZADD comes before any other write, and
-- old events are trimmed at the end. Under maxmemory every reserve and
-- every probe is then refused alike, whatever a key holds; trimming first
-- let a reserve through on a key with old events while the probe, on its
-- empty key, was refused.
local reserving = mode == 'reserve' or mode == 'probe'
if reserving then
  -- The retry of a reserve whose reply was lost: the event is already in.
  local at = redis.call('ZSCORE', key, ARGV[3])
  if at then return {1, tonumber(at)} end
end
local counts = {2}
local worst, worstwait = 0, 0
local w = 0
for i = 5, #ARGV, 2 do
  w = w + 1
  local limit = tonumber(ARGV[i])
  local span = tonumber(ARGV[i + 1])
  local cut = '(' .. (now - span)
  local inwin = redis.call('ZCOUNT', key, cut, '+inf')
  counts[#counts + 1] = inwin
  if mode ~= 'remaining' and limit > 0 and inwin + n > limit then
    -- This window frees room for n when enough events have left it: the
    -- k-th oldest, later than the oldest when the window holds more events
    -- than its limit. The call waits for the slowest full window.
    local wait = span
    local k = inwin + n - limit
    if k <= inwin then
      local e = redis.call('ZRANGEBYSCORE', key, cut, '+inf', 'WITHSCORES', 'LIMIT', k - 1, 1)
      wait = tonumber(e[2]) + span - now
    end
    if wait < 1000 then wait = 1000 end
    if worst == 0 or wait > worstwait then
      worst, worstwait = w, wait
    end
  end
end
local result = {1, now}
if worst > 0 then
  result = {0, worst, worstwait}
elseif mode == 'remaining' then
  result = counts
elseif reserving then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, retention)
  if mode == 'probe' then
    redis.call('ZREM', key, ARGV[3])
  end
end
-- Events older than the longest window count nowhere (every window counts
-- from its own cut): dropping them is housekeeping.
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - retention)
return result
`

// RedisBudget is the shared Limiter: every window of every fingerprint is
// a sorted set in Redis, so every replica pointed at the same store sees
// the same budget. Any failure of the store refuses the write
// (ErrStateUnavailable): the budget is never skipped.
type RedisBudget struct {
	rdb       *redis.Client
	windows   []Window
	retention time.Duration
	where     string // the URL without its password, for logs
	logger    *slog.Logger
	down      atomic.Bool

	configDenied atomic.Bool            // CONFIG GET was refused (said once)
	evictionRisk atomic.Pointer[string] // what EvictionRisk last found, to log changes once
	// clockScale (XFOLLOW_CLOCK_SCALE, tests only) shortens every window
	// on the store's clock by its factor; 0 or 1 is real time.
	clockScale float64
}

// SetClockScale makes the windows pass scale times faster on the store's
// clock, as every other clock of a server under XFOLLOW_CLOCK_SCALE does.
func (b *RedisBudget) SetClockScale(scale float64) { b.clockScale = scale }

func (b *RedisBudget) scale() float64 {
	if b.clockScale > 1 {
		return b.clockScale
	}
	return 1
}

// ms is a span on the store's clock, in milliseconds.
func (b *RedisBudget) ms(d time.Duration) int64 {
	return max(int64(float64(d.Milliseconds())/b.scale()), 1)
}

// ParseStateURL checks a redis:// or rediss:// URL. Its errors never repeat
// the URL, which may hold a password.
func ParseStateURL(raw string) (*redis.Options, error) {
	if hidesPassword(raw) {
		return nil, errors.New("the URL does not parse as redis://[user:password@]host:port/db: URL-encode any / ? # @ : in the user name or password (for example / as %2F)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a URL (%v); use redis://[user:password@]host:port/db or rediss:// for TLS", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("scheme %q is not redis or rediss; use redis://[user:password@]host:port/db or rediss:// for TLS", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("the URL names no host; use redis://[user:password@]host:port/db")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		// go-redis's message quotes the part at fault (the path, the port);
		// a password typed without encoding could have ended up there, but
		// hidesPassword refused that case above.
		return nil, err
	}
	return opts, nil
}

// hidesPassword reports whether raw has an @ that the URL parser would not
// read as ending the user info: a password with an unencoded / ? or # in it
// splits the URL elsewhere, so the password would end up in the host, the
// path or the fragment, and then in any message that quotes them.
func hidesPassword(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return strings.Contains(raw, "@")
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 && i < at {
		return true
	}
	u, err := url.Parse(raw)
	return err != nil || u.User == nil
}

// NewRedisBudget makes the shared budget on the store at rawURL. It does not
// contact the store: a store that is down at start refuses writes until it
// answers (see Ping).
func NewRedisBudget(rawURL string, logger *slog.Logger, windows ...Window) (*RedisBudget, error) {
	opts, err := ParseStateURL(rawURL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = redisOpTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = redisOpTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = redisOpTimeout
	}
	// One retry on a broken pooled connection (after a store restart) and
	// one dial a call; more would only hold a write longer before refusing
	// it. The pool keeps redialling in the background, so the store coming
	// back is picked up without a restart.
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true // CLIENT SETINFO is Redis 7.2+; nothing needs it
	quietRedis.Do(func() {
		// go-redis prints its connection errors to stderr itself; this
		// package logs every failure once, with the store named redacted.
		redis.SetLogger(discardRedisLog{})
	})
	u, _ := url.Parse(rawURL) // parsed by ParseStateURL already
	b := &RedisBudget{rdb: redis.NewClient(opts), windows: windows, where: u.Redacted(), logger: logger}
	for _, w := range windows {
		// Every window's span, limited or not: replicas may be started with
		// different limits, and one that has no daily limit must not drop
		// the events another's daily window still counts.
		b.retention = max(b.retention, w.Span)
	}
	return b, nil
}

var quietRedis sync.Once

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}

// Close closes the connections to the store.
func (b *RedisBudget) Close() error { return b.rdb.Close() }

// Where is the store's URL with the password redacted.
func (b *RedisBudget) Where() string { return b.where }

// Windows returns the configured windows.
func (b *RedisBudget) Windows() []Window { return b.windows }

// Ping reports whether the store answers the way a write needs it to: it
// runs the budget script along the very path a reserve takes (on a health
// key of its own, adding and then removing a probe event), so a store that
// answers PING but refuses a reserve (a read-only replica after a failover,
// a user without EVALSHA, maxmemory reached) is down, and one that takes a
// reserve is up.
func (b *RedisBudget) Ping(ctx context.Context) error {
	_, err := b.run(ctx, "healthz", "probe", 0, "healthz-probe")
	return err
}

// ErrEvictionUnknown says the store would not tell its eviction policy
// (CONFIG GET refused, as managed stores and ACL users often do).
var ErrEvictionUnknown = errors.New("the state store's eviction policy cannot be read")

// EvictionRisk returns, when the store may evict the budget's keys, a
// sentence saying so and how to fix it; "" when it may not. Evicting a
// budget key silently refills that caller's budget. Only noeviction is safe,
// or no memory limit at all: the allkeys-* policies evict any key, and the
// volatile-* ones any key with an expiry, which every budget key has. Where
// CONFIG GET is refused it returns ErrEvictionUnknown, says so once in the
// log, and does not ask again. A policy turning unsafe is logged as a
// warning once, and turning safe again once.
func (b *RedisBudget) EvictionRisk(ctx context.Context) (string, error) {
	if b.configDenied.Load() {
		return "", ErrEvictionUnknown
	}
	opCtx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	vals, err := b.rdb.ConfigGet(opCtx, "maxmemory*").Result()
	if err != nil {
		if ctx.Err() == nil && isRedisRefusal(err) {
			b.configDenied.Store(true)
			b.logger.Warn("the state store does not let this server read its eviction policy (CONFIG GET refused), so this server cannot tell whether Redis may evict the budget's keys, which would silently refill that caller's unfollow budget; make sure its maxmemory-policy is noeviction, or that it has no maxmemory",
				"state", b.where)
			return "", ErrEvictionUnknown
		}
		return "", b.fail(ctx, err)
	}
	policy, limit := vals["maxmemory-policy"], vals["maxmemory"]
	risk := ""
	switch {
	case policy == "":
		return "", ErrEvictionUnknown
	case policy == "noeviction" || limit == "0":
	default:
		risk = fmt.Sprintf("the state store's maxmemory-policy is %s with maxmemory %s, so Redis may evict the budget's keys (each has an expiry), which silently refills unfollow budgets; set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf)", policy, limit)
	}
	if old := b.evictionRisk.Swap(&risk); old == nil || *old != risk {
		switch {
		case risk != "":
			b.logger.Warn(risk, "state", b.where)
		case old != nil:
			b.logger.Info("the state store's eviction policy is safe again: it no longer evicts the budget's keys", "state", b.where, "maxmemory_policy", policy)
		}
	}
	return risk, nil
}

// isRedisRefusal tells an error the store answered (NOPERM, an unknown or
// renamed command) from a failure to reach it.
func isRedisRefusal(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func (b *RedisBudget) limited() bool {
	for _, w := range b.windows {
		if w.Limit > 0 {
			return true
		}
	}
	return false
}

// run runs the script for fp and returns its reply as integers.
func (b *RedisBudget) run(ctx context.Context, fp, mode string, n int, member string) ([]int64, error) {
	args := make([]any, 0, 4+2*len(b.windows))
	args = append(args, mode, n, member, b.ms(b.retention))
	for _, w := range b.windows {
		args = append(args, w.Limit, b.ms(w.Span))
	}
	opCtx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	reply, err := budgetScript().Run(opCtx, b.rdb, []string{RedisKeyPrefix + fp}, args...).Int64Slice()
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	if len(reply) < 2 || (reply[0] == 0 && len(reply) != 3) {
		return nil, b.fail(ctx, fmt.Errorf("unexpected script reply %v", reply))
	}
	b.up()
	return reply, nil
}

// fail types a store failure. ctx is the caller's: a caller that gave up
// gets its own context error back, which is a cancellation, not the store's
// fault (and still no write).
func (b *RedisBudget) fail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if b.down.CompareAndSwap(false, true) {
		b.logger.Warn("the state store does not answer; every write is refused until it does",
			"state", b.where, "err", err)
	}
	return fmt.Errorf("%w: %v", ErrStateUnavailable, err)
}

func (b *RedisBudget) up() {
	if b.down.CompareAndSwap(true, false) {
		b.logger.Info("the state store answers again; writes are checked against it", "state", b.where)
	}
}

// exhausted turns a {0, window, wait} reply into an *Exhausted.
func (b *RedisBudget) exhausted(reply []int64) error {
	i := int(reply[1]) - 1
	if i < 0 || i >= len(b.windows) {
		return fmt.Errorf("%w: the script named window %d of %d", ErrStateUnavailable, i+1, len(b.windows))
	}
	wait := time.Duration(float64(time.Duration(reply[2])*time.Millisecond) * b.scale())
	if wait < time.Second {
		wait = time.Second
	}
	return &Exhausted{Window: b.windows[i], RetryAfter: wait}
}

// Check reports whether n more unfollows fit, without reserving them.
func (b *RedisBudget) Check(ctx context.Context, fp string, n int) error {
	if !b.limited() {
		return nil
	}
	reply, err := b.run(ctx, fp, "check", n, "")
	if err != nil {
		return err
	}
	if reply[0] == 0 {
		return b.exhausted(reply)
	}
	return nil
}

// Reserve takes one slot, counted from now on the store's clock, or returns
// *Exhausted, or an error wrapping ErrStateUnavailable. A reply lost after
// the script ran leaves the event counted though nothing is sent: the safe
// side.
func (b *RedisBudget) Reserve(ctx context.Context, fp string) (Slot, error) {
	if !b.limited() {
		return noSlot{}, nil
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	member := hex.EncodeToString(id[:])
	reply, err := b.run(ctx, fp, "reserve", 1, member)
	if err != nil {
		return nil, err
	}
	if reply[0] == 0 {
		return nil, b.exhausted(reply)
	}
	return &redisSlot{b: b, key: RedisKeyPrefix + fp, member: member}, nil
}

// Remaining reports what is left in the first two windows, as Budget does.
func (b *RedisBudget) Remaining(ctx context.Context, fp string) (Remaining, error) {
	var r Remaining
	if !b.limited() {
		return r, nil
	}
	reply, err := b.run(ctx, fp, "remaining", 0, "")
	if err != nil {
		return r, err
	}
	if reply[0] != 2 || len(reply) != 1+len(b.windows) {
		return r, b.fail(ctx, fmt.Errorf("unexpected script reply %v", reply))
	}
	for i, w := range b.windows {
		if w.Limit <= 0 {
			continue
		}
		left := max(w.Limit-int(reply[1+i]), 0)
		if i == 0 {
			r.Per15m = &left
		} else {
			r.Per24h = &left
		}
	}
	return r, nil
}

// noSlot is the slot of a budget with no limit: there is nothing to count.
type noSlot struct{}

func (noSlot) Keep()    {}
func (noSlot) Release() {}

// redisSlot is one event in the store.
type redisSlot struct {
	b      *RedisBudget
	key    string
	member string
	once   sync.Once
}

// Keep leaves the event in its windows; it expires with them.
func (s *redisSlot) Keep() {}

// Release removes the event. If the store cannot be reached the event stays
// counted until its windows pass: the safe side.
func (s *redisSlot) Release() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
		defer cancel()
		if err := s.b.rdb.ZRem(ctx, s.key, s.member).Err(); err != nil {
			s.b.logger.Error("could not give an unfollow budget slot back to the state store; it stays counted until its window passes",
				"state", s.b.where, "err", s.b.fail(context.Background(), err))
			return
		}
		s.b.up()
	})
}

// Events lists the times of fp's unfollows still kept in the store (on the
// store's clock), oldest first: for saying when a number of unfollows could
// all be sent, never for deciding whether one may be.
func (b *RedisBudget) Events(ctx context.Context, fp string) ([]time.Time, error) {
	opCtx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	zs, err := b.rdb.ZRangeWithScores(opCtx, RedisKeyPrefix+fp, 0, -1).Result()
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	out := make([]time.Time, len(zs))
	for i, z := range zs {
		out[i] = time.UnixMilli(int64(z.Score))
	}
	return out, nil
}
