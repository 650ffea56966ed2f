package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps what the server must remember: refresh-token records (by the
// token's hash), revoked families, and the once-only marks of codes and
// refresh tokens. No value it is given holds a key in clear.
type Store interface {
	// Once marks name used for ttl and reports whether it was unused: of
	// two callers racing for one name, exactly one gets true.
	Once(ctx context.Context, name string, ttl time.Duration) (bool, error)
	Put(ctx context.Context, name string, value []byte, ttl time.Duration) error
	Get(ctx context.Context, name string) ([]byte, bool, error)
}

// MaxMemoryEntries bounds a MemoryStore. Each refresh leaves two entries
// for 30 days (some 700 bytes together), so without a bound one person
// looping on /token would grow the process by megabytes a second. The
// bound holds some 90 MB; past it, /token answers 503 until entries expire
// (or the server restarts), and the log says to use --state.
const MaxMemoryEntries = 250_000

// ErrStoreFull is what a full MemoryStore returns.
var ErrStoreFull = errors.New("the in-memory token store is full; with many people, keep tokens in Redis with --state")

// MemoryStore is a Store in this process: enough for one replica.
type MemoryStore struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memEntry
	puts    int
	max     int
	swept   time.Time // last sweep forced by a full store
}

type memEntry struct {
	value []byte
	until time.Time
}

// NewMemoryStore makes an empty store; now is its clock (nil: time.Now).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, entries: map[string]memEntry{}, max: MaxMemoryEntries}
}

func (m *MemoryStore) get(name string) (memEntry, bool) {
	e, ok := m.entries[name]
	if ok && !m.now().Before(e.until) {
		delete(m.entries, name)
		return memEntry{}, false
	}
	return e, ok
}

// sweep drops expired entries now and then, so that the map does not keep
// what nobody asks for again.
func (m *MemoryStore) sweep() {
	m.puts++
	if m.puts%1024 != 0 {
		return
	}
	m.sweepAll()
}

func (m *MemoryStore) sweepAll() {
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.until) {
			delete(m.entries, k)
		}
	}
}

// room makes room for a new entry: false when the store is full of live
// entries. A full store sweeps at most once a second.
func (m *MemoryStore) room(name string) bool {
	if _, ok := m.entries[name]; ok || len(m.entries) < m.max {
		return true
	}
	if now := m.now(); now.Sub(m.swept) >= time.Second {
		m.swept = now
		m.sweepAll()
	}
	return len(m.entries) < m.max
}

// Once implements Store.
func (m *MemoryStore) Once(_ context.Context, name string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.get(name); ok {
		return false, nil
	}
	m.sweep()
	if !m.room(name) {
		return false, ErrStoreFull
	}
	m.entries[name] = memEntry{value: []byte("1"), until: m.now().Add(ttl)}
	return true, nil
}

// Put implements Store.
func (m *MemoryStore) Put(_ context.Context, name string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	if !m.room(name) {
		return ErrStoreFull
	}
	m.entries[name] = memEntry{value: append([]byte(nil), value...), until: m.now().Add(ttl)}
	return nil
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, name string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.get(name)
	return e.value, ok, nil
}

// RedisPrefix starts the name of every key the Redis store writes.
const RedisPrefix = "xfollow:oauth:"

// RedisStore is a Store in Redis (--state), shared by every replica: a code
// used on one cannot be used on another, and a refresh token issued by one
// is honoured by all.
type RedisStore struct {
	rdb *redis.Client
}

// NewRedisStore uses rdb; the caller closes it.
func NewRedisStore(rdb *redis.Client) *RedisStore { return &RedisStore{rdb: rdb} }

// Once implements Store with SET NX.
func (s *RedisStore) Once(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	return s.rdb.SetNX(ctx, RedisPrefix+name, "1", ttl).Result()
}

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, name string, value []byte, ttl time.Duration) error {
	return s.rdb.Set(ctx, RedisPrefix+name, value, ttl).Err()
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, name string) ([]byte, bool, error) {
	v, err := s.rdb.Get(ctx, RedisPrefix+name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}
