package safety

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrFenced is returned by a fenced reserve when the caller no longer holds
// the lease it names (another process took the job over) or the job was
// paused or cancelled: nothing may be sent.
var ErrFenced = errors.New("the job's lease is held by another process")

// Fence names a lease and the token its holder got, and the record to
// write, in the same step, when the lease still holds: the item's intent
// in the shared job state.
type Fence struct {
	LeaseKey   string // the lease's key; its value is the holder's token
	Token      string
	ItemsKey   string // the job's items hash
	Target     string // the item's field in it
	Intent     string // the value written there
	VersionKey string // incremented so that other processes read the job again
	ControlKey string // the job's controls, oldest first: none may stop it
}

// fenceScript checks a lease's token and, when it still holds, reserves an
// unfollow budget slot (as budgetScript does) and writes the item's intent,
// in one step: a process whose lease passed to another can neither take a
// slot nor mark an item as being sent.
//
// KEYS[1] budget sorted set, KEYS[2] lease, KEYS[3] items hash, KEYS[4]
// version counter, KEYS[5] controls. ARGV[1] token, ARGV[2] '1' to reserve a budget slot,
// ARGV[3] the slot's id, ARGV[4] retention in ms, ARGV[5] item field,
// ARGV[6] intent value, ARGV[7…] limit, span in ms per window.
// Returns {3} when fenced, {0, window, wait} when a window is full, {1, now}.
var fenceScript = sync.OnceValue(func() *redis.Script { return redis.NewScript(fenceScriptSource) })

const fenceScriptSource = `
if redis.replicate_commands then redis.replicate_commands() end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {3}
end
-- A pause or cancel answered by any replica stops the write here.
local last = redis.call('LINDEX', KEYS[5], -1)
if last == 'pause' or last == 'cancel' or redis.call('LPOS', KEYS[5], 'cancel') then
  return {3}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '1' then
  local key = KEYS[1]
  local retention = tonumber(ARGV[4])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - retention)
  local worst, worstwait, w = 0, 0, 0
  for i = 7, #ARGV, 2 do
    w = w + 1
    local limit = tonumber(ARGV[i])
    local span = tonumber(ARGV[i + 1])
    local cut = '(' .. (now - span)
    local inwin = redis.call('ZCOUNT', key, cut, '+inf')
    if limit > 0 and inwin + 1 > limit then
      local e = redis.call('ZRANGEBYSCORE', key, cut, '+inf', 'WITHSCORES', 'LIMIT', inwin - limit, 1)
      local wait = tonumber(e[2]) + span - now
      if wait < 1000 then wait = 1000 end
      if worst == 0 or wait > worstwait then worst, worstwait = w, wait end
    end
  end
  if worst > 0 then return {0, worst, worstwait} end
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, retention)
end
redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
redis.call('INCR', KEYS[4])
return {1, now}
`

// Client is the store's connection, for the job state that lives beside
// the budget.
func (b *RedisBudget) Client() *redis.Client { return b.rdb }

// ReserveFenced checks f's lease and, while it holds, takes an unfollow
// budget slot (when budget is true) and writes f's intent, in one script.
// It returns ErrFenced when the lease is another's, *Exhausted when a window
// is full, or an error wrapping ErrStateUnavailable.
func (b *RedisBudget) ReserveFenced(ctx context.Context, fp string, budget bool, f Fence) (Slot, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	member := hex.EncodeToString(id[:])
	reserve := "0"
	if budget && b.limited() {
		reserve = "1"
	}
	args := []any{f.Token, reserve, member, b.ms(b.retention), f.Target, f.Intent}
	for _, w := range b.windows {
		args = append(args, w.Limit, b.ms(w.Span))
	}
	opCtx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	reply, err := fenceScript().Run(opCtx, b.rdb, []string{RedisKeyPrefix + fp, f.LeaseKey, f.ItemsKey, f.VersionKey, f.ControlKey}, args...).Int64Slice()
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	b.up()
	switch {
	case len(reply) == 1 && reply[0] == 3:
		return nil, ErrFenced
	case len(reply) == 3 && reply[0] == 0:
		return nil, b.exhausted(reply)
	case len(reply) == 2 && reply[0] == 1:
		if reserve == "1" {
			return &redisSlot{b: b, key: RedisKeyPrefix + fp, member: member}, nil
		}
		return noSlot{}, nil
	}
	return nil, b.fail(ctx, fmt.Errorf("unexpected script reply %v", reply))
}
