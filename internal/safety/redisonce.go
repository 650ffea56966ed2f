package safety

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOncePrefix starts the keys UseOnce writes; the rest is the purpose
// and the id (a random nonce): nothing in Redis is a secret.
const RedisOncePrefix = "xfollow:once:"

// UseOnce marks purpose's id used until ttl ends, for every replica on the
// store (SET NX with the expiry): it returns true the first time and false
// while the mark lasts. A store failure wraps ErrStateUnavailable; a
// caller that gave up gets its context's error.
func (b *RedisBudget) UseOnce(ctx context.Context, purpose, id string, ttl time.Duration) (bool, error) {
	opCtx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	// SET ... NX: a reply lost after the store set the key reads as "used"
	// on the retry, so an approval is never counted twice, only (rarely)
	// not at all; the person is then asked again.
	err := b.rdb.SetArgs(opCtx, RedisOncePrefix+purpose+":"+id, "1", redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		b.up()
		return true, nil
	case errors.Is(err, redis.Nil):
		b.up()
		return false, nil
	}
	return false, b.fail(ctx, err)
}
