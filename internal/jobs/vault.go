package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// SealPurpose is the XFOLLOW_SECRET purpose that seals callers' AIsa keys
// kept with their jobs.
const SealPurpose = "job-key-seal/v1"

// Vault keeps, in the many-callers modes, the caller's AIsa key sealed with
// its job (AES-256-GCM under a key derived from XFOLLOW_SECRET, bound to the
// job id and the key's fingerprint), so that the job can run while the
// caller is away; the sealed key is erased when the job ends.
type Vault struct {
	keys *secret.Keys
	dir  string        // file store: one file per job, mode 0600
	rdb  *redis.Client // shared store (--state)
}

// NewFileVault keeps sealed keys in dir.
func NewFileVault(ring *secret.Ring, dir string) (*Vault, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("job keys folder %s: %w", dir, err)
	}
	return &Vault{keys: ring.Keys(SealPurpose), dir: dir}, nil
}

// NewRedisVault keeps sealed keys in the shared store.
func NewRedisVault(ring *secret.Ring, rdb *redis.Client) *Vault {
	return &Vault{keys: ring.Keys(SealPurpose), rdb: rdb}
}

func aad(id, fp string) []byte { return []byte("job:" + id + ":" + fp) }

// Put seals key for job id of fingerprint fp and stores it.
func (v *Vault) Put(id, fp, key string) error {
	if !ValidID(id) {
		return fmt.Errorf("not a job id: %q", id)
	}
	sealed := v.keys.Seal([]byte(key), aad(id, fp))
	if v.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
		defer cancel()
		if err := v.rdb.Set(ctx, RedisKeyPrefix+id+":sealed", sealed, 0).Err(); err != nil {
			return stateErr(err)
		}
		return nil
	}
	tmp := filepath.Join(v.dir, id+".key.tmp")
	if err := os.WriteFile(tmp, []byte(sealed), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(v.dir, id+".key"))
}

// ErrNoKey is returned for a job with no sealed key.
var ErrNoKey = errors.New("no sealed key is kept for this job")

// Get opens job id's key; it must have fingerprint fp.
func (v *Vault) Get(id, fp string) (string, error) {
	if !ValidID(id) {
		return "", ErrNoKey
	}
	var sealed string
	if v.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
		defer cancel()
		s, err := v.rdb.Get(ctx, RedisKeyPrefix+id+":sealed").Result()
		if errors.Is(err, redis.Nil) {
			return "", ErrNoKey
		}
		if err != nil {
			return "", stateErr(err)
		}
		sealed = s
	} else {
		b, err := os.ReadFile(filepath.Join(v.dir, id+".key"))
		if errors.Is(err, os.ErrNotExist) {
			return "", ErrNoKey
		}
		if err != nil {
			return "", err
		}
		sealed = string(b)
	}
	key, err := v.keys.Open(sealed, aad(id, fp))
	if err != nil {
		return "", err
	}
	return string(key), nil
}

// Delete erases job id's sealed key.
func (v *Vault) Delete(id string) error {
	if !ValidID(id) {
		return nil
	}
	if v.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), redisOpTimeout)
		defer cancel()
		if err := v.rdb.Del(ctx, RedisKeyPrefix+id+":sealed").Err(); err != nil {
			return stateErr(err)
		}
		return nil
	}
	err := os.Remove(filepath.Join(v.dir, id+".key"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
