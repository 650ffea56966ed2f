// Package secret holds the server's one secret, XFOLLOW_SECRET, and the keys
// derived from it. Each purpose (sealing AIsa keys stored with jobs, OAuth
// tokens, signing confirmations, ...) derives its own key with HKDF-SHA256,
// so a value made for one purpose never opens or verifies for another.
//
// The variable holds either one secret, or several comma-separated
// kid:secret pairs for rotation: the first pair seals and signs, every pair
// opens and verifies. Each secret is at least 32 bytes. The secret comes
// from the environment only and never appears in a log line or an error.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Env is the environment variable that holds the secret.
const Env = "XFOLLOW_SECRET"

// MinLen is the shortest secret accepted, in bytes.
const MinLen = 32

// defaultKID names a secret given without a kid.
const defaultKID = "k0"

// Ring is the parsed secret: one or more keys, the first current.
type Ring struct {
	keys []entry
}

type entry struct {
	kid    string
	secret []byte
}

// Parse reads the variable's value. An empty value gives a nil Ring and no
// error: the secret is optional until a feature needs it. Errors never
// quote the value.
func Parse(v string) (*Ring, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var r Ring
	seen := map[string]bool{}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		kid, sec, found := strings.Cut(p, ":")
		if !found {
			if len(parts) > 1 {
				return nil, fmt.Errorf("%s: item %d has no kid; with several secrets each is kid:secret, the first sealing and all opening", Env, i+1)
			}
			kid, sec = defaultKID, p
		}
		if !validKID(kid) {
			return nil, fmt.Errorf("%s: item %d: a kid is 1 to 32 letters, digits, '-', '_' or '.'", Env, i+1)
		}
		if seen[kid] {
			return nil, fmt.Errorf("%s: kid %q is given twice", Env, kid)
		}
		seen[kid] = true
		if len(sec) < MinLen {
			return nil, fmt.Errorf("%s: item %d is %d bytes; a secret is at least %d bytes (for example: openssl rand -base64 48)", Env, i+1, len(sec), MinLen)
		}
		r.keys = append(r.keys, entry{kid: kid, secret: []byte(sec)})
	}
	return &r, nil
}

func validKID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// String never shows the secret.
func (r *Ring) String() string {
	if r == nil {
		return "secret(unset)"
	}
	return fmt.Sprintf("secret(%d keys, current %s)", len(r.keys), r.keys[0].kid)
}

// GoString never shows the secret either.
func (r *Ring) GoString() string { return r.String() }

// Keys derives purpose's keys. purpose is a fixed string naming what the
// keys are for, e.g. "job-key-seal/v1"; two purposes never share a key.
func (r *Ring) Keys(purpose string) *Keys {
	k := &Keys{}
	for _, e := range r.keys {
		raw, err := hkdf.Key(sha256.New, e.secret, nil, "xfollow-mcp/"+purpose, 32)
		if err != nil {
			panic(err) // only for a length over 255 hash sizes
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			panic(err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			panic(err)
		}
		k.keys = append(k.keys, derived{kid: e.kid, mac: raw, aead: aead})
	}
	return k
}

// Keys are one purpose's derived keys.
type Keys struct {
	keys []derived
}

type derived struct {
	kid  string
	mac  []byte
	aead cipher.AEAD
}

// ErrOpen is returned for a sealed value that does not open: tampered, made
// with an unknown kid or for another purpose, or cut.
var ErrOpen = errors.New("sealed value does not open")

var b64 = base64.RawURLEncoding

// Seal encrypts and authenticates plaintext with the current key (AES-256-GCM,
// random nonce). aad is authenticated but not stored: Open needs the same.
// The result is "kid.base64url(nonce|ciphertext)", safe in a URL or header.
func (k *Keys) Seal(plaintext, aad []byte) string {
	d := k.keys[0]
	nonce := make([]byte, d.aead.NonceSize(), d.aead.NonceSize()+len(plaintext)+d.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return d.kid + "." + b64.EncodeToString(d.aead.Seal(nonce, nonce, plaintext, aad))
}

// Open reverses Seal with whichever key the value names.
func (k *Keys) Open(sealed string, aad []byte) ([]byte, error) {
	kid, body, ok := strings.Cut(sealed, ".")
	if !ok {
		return nil, ErrOpen
	}
	raw, err := b64.DecodeString(body)
	if err != nil {
		return nil, ErrOpen
	}
	for _, d := range k.keys {
		if d.kid != kid {
			continue
		}
		if len(raw) < d.aead.NonceSize()+d.aead.Overhead() {
			return nil, ErrOpen
		}
		pt, err := d.aead.Open(nil, raw[:d.aead.NonceSize()], raw[d.aead.NonceSize():], aad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}

// Sign returns "kid.base64url(HMAC-SHA256(data))" with the current key.
func (k *Keys) Sign(data []byte) string {
	d := k.keys[0]
	return d.kid + "." + b64.EncodeToString(mac(d.mac, data))
}

// Verify reports whether sig is Sign(data) under any of the keys.
func (k *Keys) Verify(data []byte, sig string) bool {
	kid, body, ok := strings.Cut(sig, ".")
	if !ok {
		return false
	}
	got, err := b64.DecodeString(body)
	if err != nil {
		return false
	}
	for _, d := range k.keys {
		if d.kid == kid && hmac.Equal(got, mac(d.mac, data)) {
			return true
		}
	}
	return false
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}
