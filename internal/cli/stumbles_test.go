package cli

import (
	"strings"
	"testing"
)

// TestCallPrintsLinksAsWritten: call's output is what a person copies; the
// link's ampersands must be ampersands, not \u0026.
func TestCallPrintsLinksAsWritten(t *testing.T) {
	code, out, errOut := run(t, nil, "--sandbox", "call", "link_x_account")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, `\u00`) || !strings.Contains(out, "?client_id=AIsa&code_challenge=") {
		t.Fatalf("stdout %s", out)
	}
}
