package config

import (
	"errors"
	"net/url"
	"strings"
)

// RedactURL returns a --state URL with its password replaced, for logs and
// error lines; a value that does not parse is not shown at all, since it may
// still hold a password.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || strings.Contains(raw, "@") && u.User == nil || strings.Contains(u.Host+u.Path+u.Fragment+u.RawQuery, "@") {
		return "(not shown: it does not parse as redis://[user:password@]host:port/db, and may hold a password)"
	}
	return u.Redacted()
}

// checkStateURL says what is wrong with a --state value, or "" when it is
// empty or a redis:// or rediss:// URL with a host. The deeper checks
// (database number, options) happen when the store is set up.
func checkStateURL(raw string) string {
	const want = "use redis://[user:password@]host:port/db, rediss:// for TLS, or leave it empty for the in-process budget"
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the wrapper repeats the whole URL, password and all
		}
		return "not a URL (" + err.Error() + "); " + want
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "not a redis:// or rediss:// URL; " + want
	}
	if u.Hostname() == "" {
		return "names no host; " + want
	}
	if strings.Contains(raw, "@") && u.User == nil || strings.Contains(u.Host+u.Path+u.Fragment+u.RawQuery, "@") {
		return "does not parse as a URL with a password: URL-encode any / ? # @ : in the user name or password (for example / as %2F); " + want
	}
	return ""
}

// stateError is valueError for --state, with the URL's password hidden.
func (p *Parser) stateError(msg string) *settingError {
	e := p.valueError("state", msg)
	name, _, _ := strings.Cut(e.source, "=")
	e.source = name + "=" + showValue(RedactURL(p.cfg.State))
	return e
}
