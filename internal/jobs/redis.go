package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/safety"
)

// RedisKeyPrefix starts every key of the shared job state. Nothing stored
// under it is a secret: job definitions name the key by its fingerprint.
const RedisKeyPrefix = "xfollow:job:"

const redisOpTimeout = 2 * time.Second

// LeaseTTL is how long a job's lease lasts without renewal (real time, less
// under XFOLLOW_CLOCK_SCALE): a replica that dies leaves its jobs to another
// within it and a poll, well inside a minute.
const LeaseTTL = 30 * time.Second

// Redis is job state shared by replicas (--state redis://…): each job's
// definition, control and item outcomes, and a lease per job with a fencing
// token, so that exactly one process advances a job at a time. The lease's
// token is checked by the same script that reserves the budget slot and
// writes the item's intent (safety.RedisBudget.ReserveFenced); a process
// that dies loses its leases when their time runs out, and another takes
// its jobs over.
type Redis struct {
	rdb   *redis.Client
	owner string        // this process, in its tokens
	TTL   time.Duration // a lease's life in real time; renewed every pass

	mu   sync.Mutex
	held map[string]string // job id -> token
	seen map[string]int64  // job id -> version last read
}

// NewRedis keeps job state in the store rdb talks to.
func NewRedis(rdb *redis.Client, ttl time.Duration) *Redis {
	return &Redis{rdb: rdb, owner: NewID()[4:16], TTL: ttl, held: map[string]string{}, seen: map[string]int64{}}
}

func key(id, part string) string { return RedisKeyPrefix + id + ":" + part }

const allJobsKey = "xfollow:jobs"

func (r *Redis) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), redisOpTimeout)
}

func stateErr(err error) error { return fmt.Errorf("%w: %v", safety.ErrStateUnavailable, err) }

// sharedItem is an item's state in the job's items hash.
type sharedItem struct {
	Outcome  string `json:"o"` // an outcome, or "intent" while a write is out
	Time     int64  `json:"t"` // Unix ms
	Username string `json:"u,omitempty"`
}

const intentMark = "intent"

// create stores a new job.
func (r *Redis) create(d Def) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	ctx, cancel := r.ctx()
	defer cancel()
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key(d.ID, "def"), raw, 0)
		p.ZAdd(ctx, allJobsKey, redis.Z{Score: float64(d.ConsentAt.UnixMilli()), Member: d.ID})
		p.Incr(ctx, key(d.ID, "ver"))
		return nil
	})
	if err != nil {
		return stateErr(err)
	}
	return nil
}

// remove takes back a job that was not started after all.
func (r *Redis) remove(id string) {
	ctx, cancel := r.ctx()
	defer cancel()
	_, _ = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, allJobsKey, id)
		p.Del(ctx, key(id, "def"), key(id, "ver"))
		return nil
	})
}

// control stores a pause, resume or cancel.
func (r *Redis) control(id, action string) error {
	ctx, cancel := r.ctx()
	defer cancel()
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key(id, "control"), action)
		p.Incr(ctx, key(id, "ver"))
		return nil
	})
	if err != nil {
		return stateErr(err)
	}
	return nil
}

// outcome stores an item's outcome. An outcome that cannot be stored
// leaves the intent, which another process verifies before any resend.
func (r *Redis) outcome(id string, it Item) error {
	raw, _ := json.Marshal(sharedItem{Outcome: it.Outcome, Time: it.Time.UnixMilli(), Username: it.Username})
	ctx, cancel := r.ctx()
	defer cancel()
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key(id, "items"), it.TargetUserID, raw)
		p.Incr(ctx, key(id, "ver"))
		return nil
	})
	if err != nil {
		return stateErr(err)
	}
	return nil
}

// Fence is what a job's write carries to the fenced budget reserve.
func (r *Redis) Fence(id, target string, now time.Time) *safety.Fence {
	r.mu.Lock()
	tok := r.held[id]
	r.mu.Unlock()
	raw, _ := json.Marshal(sharedItem{Outcome: intentMark, Time: now.UnixMilli()})
	return &safety.Fence{LeaseKey: key(id, "lease"), Token: tok, ItemsKey: key(id, "items"), Target: target,
		Intent: string(raw), VersionKey: key(id, "ver"), ControlKey: key(id, "control")}
}

var leaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and ARGV[3] ~= '' and v == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return v
end
if v then return false end
local n = redis.call('INCR', KEYS[2])
local tok = ARGV[1] .. '/' .. n
redis.call('SET', KEYS[1], tok, 'PX', ARGV[2])
return tok
`)

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// TryLock takes or renews job id's lease: true while this process holds it.
func (r *Redis) TryLock(id string) (bool, error) {
	r.mu.Lock()
	tok := r.held[id]
	r.mu.Unlock()
	ctx, cancel := r.ctx()
	defer cancel()
	v, err := leaseScript.Run(ctx, r.rdb, []string{key(id, "lease"), key(id, "fence")}, r.owner, r.TTL.Milliseconds(), tok).Text()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, redis.Nil):
		delete(r.held, id)
		return false, nil
	case err != nil:
		delete(r.held, id) // it may lapse before the store answers again
		return false, stateErr(err)
	}
	r.held[id] = v
	return true, nil
}

// Unlock gives job id's lease back.
func (r *Redis) Unlock(id string) {
	r.mu.Lock()
	tok := r.held[id]
	delete(r.held, id)
	r.mu.Unlock()
	if tok == "" {
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	_ = unlockScript.Run(ctx, r.rdb, []string{key(id, "lease")}, tok).Err()
}

// Close gives every lease back.
func (r *Redis) Close() {
	r.mu.Lock()
	ids := make([]string, 0, len(r.held))
	for id := range r.held {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		r.Unlock(id)
	}
}

// pull reads every job whose version changed since the last read: new
// jobs, controls, and the items of jobs this process does not advance.
func (r *Redis) pull(s *Store) error {
	ctx, cancel := r.ctx()
	defer cancel()
	ids, err := r.rdb.ZRange(ctx, allJobsKey, 0, -1).Result()
	if err != nil {
		return stateErr(err)
	}
	if len(ids) == 0 {
		return nil
	}
	verKeys := make([]string, len(ids))
	for i, id := range ids {
		verKeys[i] = key(id, "ver")
	}
	vers, err := r.rdb.MGet(ctx, verKeys...).Result()
	if err != nil {
		return stateErr(err)
	}
	for i, id := range ids {
		str, _ := vers[i].(string)
		v, _ := strconv.ParseInt(str, 10, 64)
		r.mu.Lock()
		same := r.seen[id] == v
		r.mu.Unlock()
		if same {
			continue
		}
		if err := r.load(ctx, s, id, v, false); err != nil {
			return err
		}
	}
	return nil
}

// load reads job id into the store: its definition when new, its controls,
// and its items unless this process advances it (then its own view is the
// truth) or all is set (the lease was just taken: intents with no outcome
// read unknown, verified before anything is resent).
func (r *Redis) load(ctx context.Context, s *Store, id string, v int64, all bool) error {
	raw, err := r.rdb.Get(ctx, key(id, "def")).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return stateErr(err)
	}
	controls, err := r.rdb.LRange(ctx, key(id, "control"), 0, -1).Result()
	if err != nil {
		return stateErr(err)
	}
	r.mu.Lock()
	_, owned := r.held[id]
	r.mu.Unlock()
	var items map[string]string
	if all || !owned {
		if items, err = r.rdb.HGetAll(ctx, key(id, "items")).Result(); err != nil {
			return stateErr(err)
		}
	}
	var d Def
	if json.Unmarshal(raw, &d) != nil || !ValidID(d.ID) {
		return nil
	}
	s.applyShared(d, controls, items)
	r.mu.Lock()
	r.seen[id] = v
	r.mu.Unlock()
	return nil
}

// reload reads job id again whole (the lease was just taken).
func (r *Redis) reload(s *Store, id string) error {
	ctx, cancel := r.ctx()
	defer cancel()
	v, err := r.rdb.Get(ctx, key(id, "ver")).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return stateErr(err)
	}
	return r.load(ctx, s, id, v, true)
}
