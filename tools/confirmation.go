package tools

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// confirmTTL is how long the person has to answer a confirmation.
const confirmTTL = 5 * time.Minute

// confirmer mints and checks the requestState of confirmation requests. An
// approval counts only when it comes back with a state this process signed
// for this exact write (tool, canonical arguments, ids, caller key), before
// it expires, and only once: a client or a prompt-injected agent cannot
// approve a write the server never asked the person about.
type confirmer struct {
	once   sync.Once
	secret []byte

	mu   sync.Mutex
	used map[string]time.Time // nonce -> expiry
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

func (k *confirmer) init() {
	k.once.Do(func() {
		k.secret = make([]byte, 32)
		if _, err := rand.Read(k.secret); err != nil {
			panic("tools: no randomness for the confirmation secret: " + err.Error())
		}
		k.used = map[string]time.Time{}
		if k.now == nil {
			k.now = time.Now
		}
	})
}

func argsDigest(args []byte) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:])
}

func (k *confirmer) mac(payload string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// mint signs a state for tool, args and items.
func (k *confirmer) mint(tool string, args []byte, keyFP string, items []*writeItem) string {
	k.init()
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	st := confirmState{V: 1, Tool: tool, Args: argsDigest(args), Key: keyFP,
		Nonce: hex.EncodeToString(nonce), Exp: k.now().Add(confirmTTL).Unix()}
	for _, it := range items {
		st.Items = append(st.Items, stateItem{ID: it.ID, Username: it.Username, WasFollowing: it.WasFollowing})
	}
	raw, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + k.mac(payload)
}

// verify returns the state when s is one this process signed for tool, args
// and key, unexpired and not used before; it then counts as used. Anything
// else returns nil.
func (k *confirmer) verify(s, tool string, args []byte, keyFP string) *confirmState {
	k.init()
	payload, sig, ok := strings.Cut(s, ".")
	if !ok || len(s) > 64<<10 || !hmac.Equal([]byte(sig), []byte(k.mac(payload))) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var st confirmState
	if json.Unmarshal(raw, &st) != nil || st.V != 1 || st.Tool != tool || st.Args != argsDigest(args) || st.Key != keyFP {
		return nil
	}
	now := k.now()
	if now.Unix() >= st.Exp {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, exp := range k.used {
		if now.Unix() >= exp.Unix() {
			delete(k.used, n)
		}
	}
	if _, seen := k.used[st.Nonce]; seen {
		return nil
	}
	k.used[st.Nonce] = time.Unix(st.Exp, 0)
	return &st
}
