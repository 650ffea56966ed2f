package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

var b64 = base64.RawURLEncoding

// access is what an access token carries, sealed: any replica verifies it
// without a lookup.
type access struct {
	Key      string `json:"k"`
	Audience string `json:"a"`
	ClientID string `json:"c"`
	Scope    string `json:"s"`
	Expires  int64  `json:"e"`
	ID       string `json:"i"`
}

// refreshRecord is what the store keeps for one refresh token, under the
// token's hash. Key is the AIsa key encrypted under a key derived from the
// refresh token (which the store never sees), then sealed under the
// server's refresh key: neither a dump of the store nor the server secret
// alone opens it.
type refreshRecord struct {
	Family   string `json:"f"`
	ClientID string `json:"c"`
	Scope    string `json:"s"`
	Key      string `json:"k"`
	Expires  int64  `json:"e"`
}

var accessAAD = []byte("access")

// Store names.
func refreshName(hash string) string  { return "rt:" + hash }
func usedRefresh(hash string) string  { return "rtu:" + hash }
func usedCode(id string) string       { return "code:" + id }
func familyName(family string) string { return "fam:" + family }

// Verify checks the bearer an MCP request carried and returns the AIsa key
// its access token holds. A raw AIsa key is never accepted: only a token
// this server sealed, for this resource, not expired.
func (s *Server) Verify(bearer string) (string, bool) {
	rest, ok := strings.CutPrefix(bearer, accessPrefix)
	if !ok {
		return "", false
	}
	raw, err := s.access.Open(rest, accessAAD)
	if err != nil {
		return "", false
	}
	var a access
	if json.Unmarshal(raw, &a) != nil {
		return "", false
	}
	if a.Audience != s.Resource() || s.o.Now().Unix() >= a.Expires || !s.o.KeyFormat(a.Key) {
		return "", false
	}
	return a.Key, true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send the request as application/x-www-form-urlencoded, at most 16 KiB"})
		return
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	if user, _, ok := r.BasicAuth(); ok && clientID == "" {
		clientID = user
	}
	if res := f["resource"]; len(res) > 1 || (len(res) == 1 && res[0] != s.Resource()) {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_target", "this server issues tokens only for the resource " + s.Resource()})
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, r, clientID)
	case "refresh_token":
		s.exchangeRefresh(w, r, clientID)
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "grant_type must be authorization_code or refresh_token"})
	}
}

func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, clientID string) {
	f := r.PostForm
	var cd code
	rest, ok := strings.CutPrefix(f.Get("code"), codePrefix)
	raw, err := s.code.Open(rest, codeAAD)
	if !ok || err != nil || json.Unmarshal(raw, &cd) != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the authorization code is not valid"})
		return
	}
	if s.o.Now().Unix() >= cd.Expires {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the authorization code has expired; authorize again"})
		return
	}
	if clientID == "" {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send client_id"})
		return
	}
	if clientID != cd.ClientID {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the authorization code was issued to another client"})
		return
	}
	if _, ok := s.openClient(clientID); !ok {
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "the client is not registered with this server; register again"})
		return
	}
	if uri := f.Get("redirect_uri"); (cd.RedirectGiven || uri != "") && uri != cd.RedirectURI {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "redirect_uri differs from the one in the authorization request"})
		return
	}
	verifier := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if !validPKCE(verifier) || subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(cd.Challenge)) != 1 {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "code_verifier does not match the code_challenge"})
		return
	}
	first, err := s.o.Store.Once(r.Context(), usedCode(cd.ID), time.Unix(cd.Expires, 0).Sub(s.o.Now())+time.Minute)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	if !first {
		// A code used twice may have been stolen: the tokens issued for
		// it are revoked too (RFC 6749 4.1.2).
		s.revokeFamily(r.Context(), cd.ID)
		s.o.Logger.Warn("oauth authorization code used twice; the tokens issued for it are revoked")
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the authorization code was already used"})
		return
	}
	s.issue(w, r.Context(), cd.Key, clientID, cd.ID)
}

func (s *Server) exchangeRefresh(w http.ResponseWriter, r *http.Request, clientID string) {
	ctx := r.Context()
	tok := r.PostForm.Get("refresh_token")
	invalid := func() {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "the refresh token is not valid, was already used, or was revoked; authorize again"})
	}
	if !strings.HasPrefix(tok, refreshPrefix) {
		invalid()
		return
	}
	hash := tokenHash(tok)
	raw, found, err := s.o.Store.Get(ctx, refreshName(hash))
	if err != nil {
		s.unavailable(w, err)
		return
	}
	var rec refreshRecord
	if !found || json.Unmarshal(raw, &rec) != nil || s.o.Now().Unix() >= rec.Expires {
		invalid()
		return
	}
	if clientID != "" && clientID != rec.ClientID {
		invalid()
		return
	}
	if revoked, err := s.familyRevoked(ctx, rec.Family); err != nil {
		s.unavailable(w, err)
		return
	} else if revoked {
		invalid()
		return
	}
	if _, ok := s.openClient(rec.ClientID); !ok {
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "the client is not registered with this server; register again"})
		return
	}
	first, err := s.o.Store.Once(ctx, usedRefresh(hash), time.Unix(rec.Expires, 0).Sub(s.o.Now())+time.Minute)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	if !first {
		// Rotation: an old refresh token came back, so one of its
		// holders is not the client. Every token of the family goes.
		s.revokeFamily(ctx, rec.Family)
		s.o.Logger.Warn("oauth refresh token used twice; its whole family is revoked")
		invalid()
		return
	}
	key, err := s.openRefreshKey(tok, hash, rec.Key)
	if err != nil {
		invalid()
		return
	}
	s.issue(w, ctx, key, rec.ClientID, rec.Family)
}

// issue answers a token request with a new access token and a new refresh
// token of family.
func (s *Server) issue(w http.ResponseWriter, ctx context.Context, key, clientID, family string) {
	now := s.o.Now()
	a, _ := json.Marshal(access{Key: key, Audience: s.Resource(), ClientID: clientID, Scope: Scope,
		Expires: now.Add(AccessTTL).Unix(), ID: randomID()})
	rt := newRefreshToken()
	hash := tokenHash(rt)
	rec, _ := json.Marshal(refreshRecord{Family: family, ClientID: clientID, Scope: Scope,
		Key: s.sealRefreshKey(rt, hash, key), Expires: now.Add(RefreshTTL).Unix()})
	if err := s.o.Store.Put(ctx, refreshName(hash), rec, RefreshTTL); err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  accessPrefix + s.access.Seal(a, accessAAD),
		"token_type":    "Bearer",
		"expires_in":    int(AccessTTL / time.Second),
		"refresh_token": rt,
		"scope":         Scope,
	})
}

// revoke is token revocation (RFC 7009): a refresh token takes its whole
// family with it; an access token expires within the hour (it is verified
// without a lookup), and an unknown token is answered 200 as well.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send token as application/x-www-form-urlencoded"})
		return
	}
	tok := r.PostForm.Get("token")
	if strings.HasPrefix(tok, refreshPrefix) {
		raw, found, err := s.o.Store.Get(r.Context(), refreshName(tokenHash(tok)))
		if err != nil {
			s.unavailable(w, err)
			return
		}
		var rec refreshRecord
		if found && json.Unmarshal(raw, &rec) == nil {
			if err := s.revokeFamily(r.Context(), rec.Family); err != nil {
				s.unavailable(w, err)
				return
			}
			s.o.Logger.Info("oauth refresh token revoked with its family")
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revokeFamily(ctx context.Context, family string) error {
	return s.o.Store.Put(ctx, familyName(family), []byte("revoked"), RefreshTTL+time.Hour)
}

func (s *Server) familyRevoked(ctx context.Context, family string) (bool, error) {
	_, found, err := s.o.Store.Get(ctx, familyName(family))
	return found, err
}

func (s *Server) unavailable(w http.ResponseWriter, err error) {
	s.o.Logger.Warn("oauth store unavailable", "err", err)
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, oauthError{"temporarily_unavailable", "the token store does not answer; retry shortly"})
}

func newRefreshToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return refreshPrefix + b64.EncodeToString(b)
}

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// refreshAEAD is the cipher keyed by the refresh token itself.
func refreshAEAD(tok string) cipher.AEAD {
	k, err := hkdf.Key(sha256.New, []byte(tok), nil, "xfollow-mcp/oauth-refresh-token-key/v1", 32)
	if err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func (s *Server) sealRefreshKey(tok, hash, key string) string {
	aead := refreshAEAD(tok)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	inner := aead.Seal(nonce, nonce, []byte(key), []byte(hash))
	return s.refresh.Seal(inner, []byte(hash))
}

var errRefreshKey = errors.New("refresh record does not open")

func (s *Server) openRefreshKey(tok, hash, sealed string) (string, error) {
	inner, err := s.refresh.Open(sealed, []byte(hash))
	if err != nil {
		return "", errRefreshKey
	}
	aead := refreshAEAD(tok)
	if len(inner) < aead.NonceSize() {
		return "", errRefreshKey
	}
	key, err := aead.Open(nil, inner[:aead.NonceSize()], inner[aead.NonceSize():], []byte(hash))
	if err != nil {
		return "", errRefreshKey
	}
	return string(key), nil
}
