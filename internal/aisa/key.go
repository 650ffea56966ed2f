package aisa

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
)

// KeyFingerprint names an API key without revealing it: the first 16 hex
// characters of its SHA-256. Journal records and per-caller state carry this,
// never the key. An empty key has an empty fingerprint.
func KeyFingerprint(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// KeyFingerprint is the fingerprint of the client's key.
func (c *Client) KeyFingerprint() string { return c.fingerprint }

// Sign returns the HMAC-SHA256 of data under the client's key, purpose
// keeping one use's sums apart from another's. State the server hands a
// caller and must recognise later (a scan cursor) is signed with it: the sum
// binds the state to the key, and so to the caller, without revealing the
// key, and every replica that is sent the same key computes the same sum.
// Without a key it returns nil.
func (c *Client) Sign(purpose string, data []byte) []byte {
	if c.key == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(c.key))
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// WithKey returns a client that sends key instead of c's own, sharing c's
// connections and settings. It is cheap: the remote mode makes one for each
// request that brings its caller's key.
func (c *Client) WithKey(key string) *Client {
	cp := *c
	cp.key = key
	cp.fingerprint = KeyFingerprint(key)
	cp.callerKey = true
	return &cp
}

// WithFingerprint returns a client that sends c's key but names itself
// fp in journal records and per-caller state. It exists for the sandbox
// alone, which checks no key: its undo re-follows, on the sandbox, on behalf
// of a remote caller whose key it never had, and journals them as that
// caller's so that they pair with its unfollows. Never use it with a real
// gateway: records would name a key that did not make the request.
func (c *Client) WithFingerprint(fp string) *Client {
	cp := *c
	cp.fingerprint = fp
	return &cp
}

// Gateway names the gateway in journal records: the base URL's host in
// lower case, without a trailing dot (api.aisa.one. is the same host fully
// qualified) and the scheme's default port, every loopback address as
// localhost, so that one gateway spelled two ways keeps one budget.
func (c *Client) Gateway() string {
	host := strings.TrimSuffix(strings.ToLower(c.base.Hostname()), ".")
	if IsLoopbackHost(host) {
		host = "localhost"
	}
	port := c.base.Port()
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10) // 0443 is 443 to the dialer
	}
	if port == "" || (c.base.Scheme == "https" && port == "443") || (c.base.Scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}
