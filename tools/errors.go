package tools

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

// The stable error codes a tool result can start with.
const (
	CodeInvalidArgument         = "invalid_argument"
	CodeNotConfigured           = "not_configured"
	CodeAuthInvalid             = "auth_invalid"
	CodeNotLinked               = "x_account_not_linked"
	CodeUserNotFound            = "user_not_found"
	CodeRateLimited             = "rate_limited"
	CodeUnavailable             = "gateway_unavailable"
	CodeTimeout                 = "timeout"
	CodeBadResponse             = "bad_gateway_response"
	CodeNotUnfollowed           = "not_unfollowed"
	CodeNotFollowed             = "not_followed"
	CodeGatewayError            = "gateway_error"
	CodeIdentityMismatch        = "identity_mismatch"
	CodeProtectedAccount        = "protected_account"
	CodeBudgetExhausted         = "budget_exhausted"
	CodeJournalUnavailable      = "journal_unavailable"
	CodeStateUnavailable        = "state_unavailable"
	CodeDeclinedByUser          = "declined_by_user"
	CodeConfirmationUnavailable = "confirmation_unavailable"
	CodeCanceled                = "canceled"
	CodeInternal                = "internal_error"
)

// ToolError is a failure the model should see and act on.
type ToolError struct {
	Code       string
	Msg        string // what happened; what to do
	RequestID  string
	RetryAfter int // seconds, for rate limits and budgets
	// unknown marks a write whose outcome the server did not see: it may
	// have happened.
	unknown bool
}

func (e *ToolError) Error() string {
	s := "[" + e.Code + "] " + e.Msg
	if e.RequestID != "" {
		s += " (request_id " + e.RequestID + ")"
	}
	return s
}

func invalidArg(format string, args ...any) *ToolError {
	return &ToolError{Code: CodeInvalidArgument, Msg: fmt.Sprintf(format, args...)}
}

// errorResult renders any error as an isError tool result with one text
// content and no structuredContent.
func errorResult(err error) *mcp.CallToolResult {
	return mcp.NewToolResultError(asToolError(err, "").Error())
}

// asToolError types err. subject names what the call was about (e.g. "with
// id 2244994945" or "@TwitterDev") for messages that need it.
func asToolError(err error, subject string) *ToolError {
	var te *ToolError
	if errors.As(err, &te) {
		return te
	}
	var ge *aisa.Error
	if errors.As(err, &ge) {
		return fromGateway(ge, subject)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &ToolError{Code: CodeCanceled, Msg: "the call was cancelled before it finished; nothing more will be done for it"}
	}
	return &ToolError{Code: CodeInternal, Msg: "the server failed unexpectedly and did not complete the call; check the state before retrying once"}
}

// fromGateway maps a gateway failure to a code and a corrective sentence.
func fromGateway(e *aisa.Error, subject string) *ToolError {
	te := &ToolError{RequestID: e.RequestID}
	said := ""
	if e.Message != "" {
		said = fmt.Sprintf(" The gateway said: %q.", shorten(e.Message, 200))
	}
	if subject == "" {
		subject = "that user"
	}
	switch e.Kind {
	case aisa.KindNotConfigured:
		te.Code = CodeNotConfigured
		te.Msg = "AISA_API_KEY is not set, so the server cannot call the AIsa gateway; the person must set AISA_API_KEY in this server's environment (the env block of the MCP host's config) and restart the server, or start it with --sandbox to try it without a key"
	case aisa.KindAuthInvalid:
		te.Code = CodeAuthInvalid
		te.Msg = "the AIsa gateway rejected the API key (401: missing, invalid or revoked); the person must put a valid key from console.aisa.one in AISA_API_KEY and restart the server; retrying will not help." + said
		if e.CallerKey {
			te.Msg = "the AIsa gateway rejected the API key this request carried (401: missing, invalid or revoked); the person must use a valid key from console.aisa.one: put it in the Authorization: Bearer header their MCP client sends to this server, or, if they connected the app through this server's consent page (MCP authorization), disconnect it and connect it again with that key; retrying will not help." + said
		}
	case aisa.KindAccountNotLinked:
		te.Code = CodeNotLinked
		te.Msg = "no X account with the follows.write, tweet.read and users.read scopes is linked to this AIsa key (403); call link_x_account, show the person the link it returns, and retry once they have approved it." + said
	case aisa.KindUserNotFound:
		te.Code = CodeUserNotFound
		te.Msg = fmt.Sprintf("X has no user %s, or the account is suspended or not visible (404); check the handle or id (get_x_user resolves a handle) and do not retry unchanged.%s", subject, said)
	case aisa.KindRateLimited:
		te.Code = CodeRateLimited
		te.RetryAfter = e.RetryAfterSeconds()
		te.Msg = fmt.Sprintf("the AIsa key or the X account is rate limited (%s); retry after %d seconds, and do not retry sooner.%s", statusText(e.Status, "429"), te.RetryAfter, said)
	case aisa.KindUnavailable:
		te.Code = CodeUnavailable
		if e.RetryAfter > 0 {
			te.RetryAfter = e.RetryAfterSeconds()
		}
		te.Msg = unavailableSentence(e, te.RetryAfter) + said
	case aisa.KindTimeout:
		te.Code = CodeTimeout
		te.Msg = fmt.Sprintf("the AIsa gateway did not answer in time (%s); the request may or may not have reached X, and repeating it is safe: retry in a minute.", plural(e.Attempts, "attempt"))
	case aisa.KindBadResponse:
		te.Code = CodeBadResponse
		te.Msg = fmt.Sprintf("the gateway's answer could not be trusted (%s), so the outcome is unknown; check the state before retrying once, and report it if it repeats.", e.Detail)
	case aisa.KindCanceled:
		te.Code = CodeCanceled
		te.Msg = "the call was cancelled before it finished; nothing more will be done for it"
	default:
		te.Code = CodeGatewayError
		what := "a failure"
		if e.Status != 0 {
			what = fmt.Sprintf("a failure (status %d)", e.Status)
		}
		if e.Code != "" {
			what += " with code " + e.Code
		}
		te.Msg = fmt.Sprintf("the gateway reported %s; check the arguments and do not retry the same request unchanged.%s", what, said)
	}
	return te
}

// unavailableSentence names why the gateway could not be used (the 5xx
// status, or what stopped the connection) and what to do about it; wait is
// the seconds the gateway asked to wait (Retry-After), 0 if it did not.
func unavailableSentence(e *aisa.Error, wait int) string {
	attempts := plural(e.Attempts, "attempt")
	if e.Status != 0 {
		answered := fmt.Sprintf("the AIsa gateway or X is unavailable: the gateway answered status %d (%s) after %s",
			e.Status, strings.ToLower(http.StatusText(e.Status)), attempts)
		if wait > 0 {
			return fmt.Sprintf("%s and asked to wait %d seconds; retry after that, not sooner.", answered, wait)
		}
		return answered + "; retry in a minute."
	}
	host := e.Host
	if host == "" {
		host = "the gateway"
	}
	var what, todo string
	switch e.Cause {
	case aisa.CauseDNS:
		what = fmt.Sprintf("the host name %s could not be resolved (DNS)", host)
		todo = "the person should check this machine's network connection and AISA_BASE_URL; retry in a minute"
	case aisa.CauseRefused:
		what = fmt.Sprintf("the connection to %s was refused", host)
		todo = "the person should check AISA_BASE_URL and any proxy or firewall; retry in a minute"
	case aisa.CauseUnreachable:
		what = fmt.Sprintf("%s is unreachable from this machine's network", host)
		todo = "the person should check the network connection; retry in a minute"
	case aisa.CauseTLS:
		what = fmt.Sprintf("the TLS handshake with %s failed (its certificate was not trusted, or it did not speak TLS)", host)
		todo = "a proxy or firewall may be intercepting HTTPS, or AISA_BASE_URL points at the wrong host; retrying will not help until the person fixes that"
	case aisa.CauseClosed:
		what = fmt.Sprintf("the connection to %s was closed before a complete answer", host)
		todo = "retry in a minute"
	case aisa.CauseConnect:
		what = fmt.Sprintf("the connection to %s could not be made", host)
		todo = "the person should check the network connection and AISA_BASE_URL; retry in a minute"
	default:
		what = fmt.Sprintf("the connection to %s failed", host)
		todo = "retry in a minute"
	}
	return fmt.Sprintf("the AIsa gateway could not be reached: %s, after %s; %s.", what, attempts, todo)
}

// plural says "1 attempt", "3 attempts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// statusText names an HTTP status for a message, or def when there was none.
func statusText(status int, def string) string {
	if status == 0 {
		return def
	}
	return fmt.Sprint(status)
}

// errorCodeOf extracts the code from an error text, for logs.
func errorCodeOf(text string) string {
	if strings.HasPrefix(text, "[") {
		if i := strings.IndexByte(text, ']'); i > 0 {
			return text[1:i]
		}
	}
	return "error"
}

// fieldHelp says what a parameter should hold, for corrective messages.
func fieldHelp(field string) string {
	switch field {
	case "target_user_id":
		return `the numeric X user id as a string, e.g. "2244994945" (call get_x_user first if you only know the handle)`
	case "target_user_ids":
		return `an array of numeric X user ids as strings, e.g. ["2244994945", "783214"] (unfollow_x_users takes 1 to 50 distinct ones, start_x_unfollow_job 1 to 10000)`
	case "username", "expected_username", "source_username", "target_username":
		return `an X handle such as "TwitterDev" (letters, digits and _, at most 15; a leading @ is allowed)`
	case "cursor":
		return `the next_cursor string from the previous page, or leave it out for the first page`
	case "page_size":
		return `an integer from 20 to 200`
	case "max_following":
		return `an integer from 1 to 20000, or leave it out for 2000`
	case "limit":
		return `an integer from 1 to 1000 (get_x_unfollow_history: 1 to 500), or leave it out for 100`
	case "refresh":
		return `true or false`
	case "scopes":
		return `an array of scopes from: ` + strings.Join(linkScopes, ", ")
	}
	return "a value of the documented type"
}

// exampleArgs is a valid argument object for the tool, for messages.
func exampleArgs(t *Tool) string {
	var parts []string
	for _, k := range t.required {
		switch k {
		case "target_user_id":
			parts = append(parts, `"target_user_id": "2244994945"`)
		case "target_user_ids":
			parts = append(parts, `"target_user_ids": ["2244994945"]`)
		case "username":
			parts = append(parts, `"username": "TwitterDev"`)
		case "source_username":
			parts = append(parts, `"source_username": "xfollow_sandbox"`)
		case "target_username":
			parts = append(parts, `"target_username": "TwitterDev"`)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// notConfigured is the error every gateway tool gives without a key.
func notConfigured() error {
	return fromGateway(&aisa.Error{Kind: aisa.KindNotConfigured}, "")
}

// ErrorCodeOf is the code of an error text ("[budget_exhausted] ..."), or
// "error" when it carries none.
func ErrorCodeOf(text string) string { return errorCodeOf(text) }

// IsRefusal reports whether an error code means that a safety control or a
// limit stopped the call and nothing was sent: the request was sound and
// may succeed later or with the person's approval, unlike an error.
func IsRefusal(code string) bool {
	switch code {
	case CodeProtectedAccount, CodeBudgetExhausted, CodeRateLimited, CodeIdentityMismatch,
		CodeDeclinedByUser, CodeConfirmationUnavailable, CodeJournalUnavailable, CodeStateUnavailable,
		"read_only":
		return true
	}
	return false
}
