package tools

import (
	"strings"
	"testing"
	"time"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// TestUnavailableNamesTheCause: every way the gateway can be unavailable
// gets its own sentence, naming the host and what the person can do.
func TestUnavailableNamesTheCause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  aisa.Error
		says []string
	}{
		{aisa.Error{Status: 503, Attempts: 4}, []string{"the gateway answered status 503 (service unavailable) after 4 attempts", "retry in a minute"}},
		{aisa.Error{Status: 500, Attempts: 1}, []string{"status 500 (internal server error) after 1 attempt;"}},
		{aisa.Error{Status: 503, Attempts: 1, RetryAfter: 2 * time.Minute}, []string{"status 503 (service unavailable) after 1 attempt and asked to wait 120 seconds; retry after that, not sooner."}},
		{aisa.Error{Cause: aisa.CauseDNS, Host: "api.aisa.one", Attempts: 4}, []string{"could not be reached: the host name api.aisa.one could not be resolved (DNS), after 4 attempts", "network connection and AISA_BASE_URL"}},
		{aisa.Error{Cause: aisa.CauseRefused, Host: "127.0.0.1:9", Attempts: 4}, []string{"the connection to 127.0.0.1:9 was refused", "AISA_BASE_URL"}},
		{aisa.Error{Cause: aisa.CauseTLS, Host: "api.aisa.one", Attempts: 4}, []string{"the TLS handshake with api.aisa.one failed", "retrying will not help"}},
		{aisa.Error{Cause: aisa.CauseUnreachable, Host: "api.aisa.one", Attempts: 4}, []string{"api.aisa.one is unreachable"}},
		{aisa.Error{Cause: aisa.CauseClosed, Host: "api.aisa.one", Attempts: 4}, []string{"the connection to api.aisa.one was closed before a complete answer"}},
		{aisa.Error{Cause: aisa.CauseConnect, Host: "api.aisa.one", Attempts: 4}, []string{"the connection to api.aisa.one could not be made"}},
		{aisa.Error{Attempts: 4}, []string{"the connection to the gateway failed, after 4 attempts"}},
	} {
		e := tc.err
		e.Kind = aisa.KindUnavailable
		te := fromGateway(&e, "")
		if te.Code != CodeUnavailable || te.RetryAfter != e.RetryAfterSeconds() {
			t.Errorf("%+v: code %s, retry after %d", tc.err, te.Code, te.RetryAfter)
		}
		for _, s := range tc.says {
			if !strings.Contains(te.Msg, s) {
				t.Errorf("%+v: %q lacks %q", tc.err, te.Msg, s)
			}
		}
	}
}
