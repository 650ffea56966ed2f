package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/xfollow-mcp/xfollow-mcp/internal/oauth"
)

// MinHTTPTokenLen is the shortest XFOLLOW_HTTP_TOKEN accepted: anyone who
// holds the token acts on the person's X account, so it must not be
// guessable.
const MinHTTPTokenLen = 16

// remote validates the remote-mode settings (--http and its companions) and
// fills c.AllowedOrigins.
func (p *Parser) remote(c *Config) []error {
	var errs []error
	for _, o := range strings.Split(p.origins, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("--allowed-origins: %v", err))
			continue
		}
		c.AllowedOrigins = append(c.AllowedOrigins, n)
	}
	if c.PublicURL != "" && !c.OAuth {
		errs = append(errs, fmt.Errorf("--public-url names the issuer of MCP authorization, so it needs --oauth"))
	}
	if c.HTTP == "" {
		if c.OAuth {
			errs = append(errs, fmt.Errorf("--oauth authorizes callers of the remote mode, so it needs --http ADDR"))
		}
		if c.KeyFromRequest {
			errs = append(errs, fmt.Errorf("--key-from-request takes each caller's key from its HTTP request, so it needs --http ADDR"))
		}
		return errs
	}
	host, port, err := net.SplitHostPort(c.HTTP)
	if err != nil {
		return append(errs, fmt.Errorf("--http %q: want HOST:PORT, such as 127.0.0.1:8080", c.HTTP))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("--http %q: the port must be a number from 0 to 65535", c.HTTP))
	}
	if c.OAuth {
		return append(errs, oauthErrors(c, host)...)
	}
	if c.KeyFromRequest {
		if c.APIKey != "" {
			errs = append(errs, fmt.Errorf("%s is set together with --key-from-request: with --key-from-request every caller brings its own key and the server holds none; unset %s", EnvAPIKey, EnvAPIKey))
		}
		if c.HTTPToken != "" {
			errs = append(errs, fmt.Errorf("%s is set together with --key-from-request: these are two ways to authenticate callers; choose one", EnvHTTPToken))
		}
		if c.Account != "" {
			errs = append(errs, fmt.Errorf("--account names one X account, but with --key-from-request every caller's key is linked to its own; leave --account out"))
		}
		return errs
	}
	if c.HTTPToken != "" {
		if err := checkToken(c.HTTPToken); err != nil {
			errs = append(errs, err)
		}
		return errs
	}
	if !IsLoopbackHost(host) {
		where := host
		if where == "" {
			where = "every interface"
		}
		errs = append(errs, fmt.Errorf("--http %s listens on %s, beyond this machine, and %s is not set: anyone who reaches it could act on the X account. Set %s (at least %d random characters; every request must then carry Authorization: Bearer TOKEN), use --key-from-request, or listen on 127.0.0.1, [::1] or localhost",
			c.HTTP, where, EnvHTTPToken, EnvHTTPToken, MinHTTPTokenLen))
	}
	return errs
}

// oauthErrors checks --oauth's companions: it is the one way callers
// authenticate, each bringing their own key through the consent page.
func oauthErrors(c *Config, host string) []error {
	var errs []error
	if c.HTTPToken != "" {
		errs = append(errs, fmt.Errorf("%s is set together with --oauth: these are two ways to authenticate callers; with --oauth every caller gets its token from the consent page; unset %s", EnvHTTPToken, EnvHTTPToken))
	}
	if c.KeyFromRequest {
		errs = append(errs, fmt.Errorf("--key-from-request is set together with --oauth: with --oauth the bearer is an access token, never a raw AIsa key; choose one"))
	}
	if c.APIKey != "" {
		errs = append(errs, fmt.Errorf("%s is set together with --oauth: with --oauth every caller gives its own key on the consent page and the server holds none; unset %s", EnvAPIKey, EnvAPIKey))
	}
	if c.Account != "" {
		errs = append(errs, fmt.Errorf("--account names one X account, but with --oauth every caller's key is linked to its own; leave --account out"))
	}
	if c.Secret == nil {
		errs = append(errs, fmt.Errorf("--oauth seals its client ids, codes and tokens with XFOLLOW_SECRET, which is not set: set it to at least 32 random bytes (for example the output of: openssl rand -base64 48), the same on every replica"))
	}
	if c.PublicURL != "" {
		u, err := oauth.ParsePublicURL(c.PublicURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("--public-url: %v", err))
		}
		c.PublicURL = u
	} else if !IsLoopbackHost(host) {
		errs = append(errs, fmt.Errorf("--oauth with --http %s, beyond this machine, needs --public-url https://HOST: the issuer and the resource clients check are fixed by it, never taken from a request's Host", c.HTTP))
	}
	return errs
}

// checkToken says why a token is unusable, without repeating it.
func checkToken(tok string) error {
	if len(tok) < MinHTTPTokenLen {
		return fmt.Errorf("%s is %d characters long; use at least %d random characters (for example the output of: openssl rand -hex 32)", EnvHTTPToken, len(tok), MinHTTPTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return fmt.Errorf("%s holds a space, a control character or a non-ASCII character; it travels in an HTTP header, so use printable ASCII only (for example the output of: openssl rand -hex 32)", EnvHTTPToken)
		}
	}
	return nil
}

// IsLoopbackHost reports whether host (a name or an IP literal, without a
// port; IPv6 with or without brackets) is localhost or a loopback address.
// Names other than localhost are not resolved: they count as non-loopback.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// NormalizeOrigin turns a web origin into the form browsers send
// (scheme://host[:port], lower case, without a default port), or says why it
// is not one. Only http and https origins are accepted.
func NormalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin such as https://app.example.com", s)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%q: an origin must start with http:// or https://", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q: an origin is only scheme://host[:port], with no path, query or credentials", s)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || strings.Contains(host, "*") {
		return "", fmt.Errorf("%q: an origin names one host; wildcards are not accepted", s)
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port must be a number from 1 to 65535", s)
		}
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	return scheme + "://" + hostport, nil
}
