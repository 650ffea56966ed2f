package tools

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/secret"
)

// confirmTTL is how long the person has to answer a confirmation.
const confirmTTL = 5 * time.Minute

// ConfirmPurpose names the key XFOLLOW_SECRET derives for signing
// confirmation states.
const ConfirmPurpose = "confirm-state/v1"

// NoncePurpose names the nonces of confirmation states in a OnceStore.
const NoncePurpose = "confirm"

// OnceStore marks an id used, once for every replica that shares it (with
// --state, Redis SET NX with the expiry). UseOnce returns true the first
// time id is used within ttl and false after; an error means the store
// could not say (then the approval does not count and the write is
// refused).
type OnceStore interface {
	UseOnce(ctx context.Context, purpose, id string, ttl time.Duration) (bool, error)
}

// confirmer mints and checks the requestState of confirmation requests. An
// approval counts only when it comes back with a state this server signed
// for this exact write (tool, canonical arguments, ids, caller key), before
// it expires, and only once: a client or a prompt-injected agent cannot
// approve a write the server never asked the person about.
//
// With keys (XFOLLOW_SECRET's key for ConfirmPurpose) every replica that
// shares the secret signs and verifies the same states; without, each
// process signs with a random secret of its own. With nonces (the shared
// store) a state is used once across those replicas; without, once in this
// process.
type confirmer struct {
	once   sync.Once
	secret []byte

	keys   *secret.Keys
	nonces OnceStore

	mu   sync.Mutex
	used map[string]time.Time // nonce -> expiry, without nonces
	now  func() time.Time
}

// confirmState is what a requestState carries, signed. The resolved handles
// and relationships ride along so the retry need not read them again.
type confirmState struct {
	V     int         `json:"v"`
	Tool  string      `json:"tool"`
	Args  string      `json:"args"` // hex SHA-256 of the canonical arguments
	Key   string      `json:"key"`  // the caller's key fingerprint
	Items []stateItem `json:"items"`
	Nonce string      `json:"nonce"`
	Exp   int64       `json:"exp"` // unix seconds
}

type stateItem struct {
	ID           string `json:"id"`
	Username     string `json:"u,omitempty"`
	WasFollowing *bool  `json:"wf,omitempty"`
}

// confirmer returns the gate's confirmer, set up on first use with the
// gate's ConfirmKeys and Nonces.
func (g *Gate) confirmer() *confirmer {
	k := &g.confirm
	k.once.Do(func() {
		k.keys, k.nonces = g.ConfirmKeys, g.Nonces
		if k.keys == nil {
			k.secret = make([]byte, 32)
			if _, err := rand.Read(k.secret); err != nil {
				panic("tools: no randomness for the confirmation secret: " + err.Error())
			}
		}
		k.used = map[string]time.Time{}
		if k.now == nil {
			k.now = time.Now
		}
	})
	return k
}

func argsDigest(args []byte) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:])
}

func (k *confirmer) sign(payload string) string {
	if k.keys != nil {
		return k.keys.Sign([]byte(payload))
	}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k *confirmer) signedBy(payload, sig string) bool {
	if k.keys != nil {
		return k.keys.Verify([]byte(payload), sig)
	}
	return hmac.Equal([]byte(sig), []byte(k.sign(payload)))
}

// mint signs a state for tool, args and items.
func (k *confirmer) mint(tool string, args []byte, keyFP string, items []*writeItem) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	st := confirmState{V: 1, Tool: tool, Args: argsDigest(args), Key: keyFP,
		Nonce: hex.EncodeToString(nonce), Exp: k.now().Add(confirmTTL).Unix()}
	for _, it := range items {
		st.Items = append(st.Items, stateItem{ID: it.ID, Username: it.Username, WasFollowing: it.WasFollowing})
	}
	raw, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + k.sign(payload)
}

// verify returns the state when s is one this server signed for tool, args
// and key, unexpired and not used before; it then counts as used. Anything
// else returns nil. An error (wrapping safety.ErrStateUnavailable) means
// the shared store could not say whether the state was used: the approval
// must not count.
func (k *confirmer) verify(ctx context.Context, s, tool string, args []byte, keyFP string) (*confirmState, error) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok || len(s) > 64<<10 || !k.signedBy(payload, sig) {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, nil
	}
	var st confirmState
	if json.Unmarshal(raw, &st) != nil || st.V != 1 || st.Tool != tool || st.Args != argsDigest(args) || st.Key != keyFP {
		return nil, nil
	}
	now := k.now()
	if now.Unix() >= st.Exp || len(st.Nonce) != 32 {
		return nil, nil
	}
	if k.nonces != nil {
		// Kept until the state expires: after that the state is refused by
		// its expiry alone. A second short of it rounds in favour of
		// keeping the mark.
		ttl := time.Unix(st.Exp, 0).Sub(now) + time.Second
		first, err := k.nonces.UseOnce(ctx, NoncePurpose, st.Nonce, ttl)
		if err != nil || !first {
			return nil, err
		}
		return &st, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, exp := range k.used {
		if now.Unix() >= exp.Unix() {
			delete(k.used, n)
		}
	}
	if _, seen := k.used[st.Nonce]; seen {
		return nil, nil
	}
	k.used[st.Nonce] = time.Unix(st.Exp, 0)
	return &st, nil
}
