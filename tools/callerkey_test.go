package tools

import (
	"context"
	"testing"

	"github.com/xfollow-mcp/xfollow-mcp/internal/aisa"
)

func TestCallerKeyReplacesTheServersKey(t *testing.T) {
	c, err := aisa.New(aisa.Options{APIKey: "sk-aisa-server"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Deps{Client: c}
	if got := depsFor(context.Background(), d); got != d {
		t.Fatal("without a caller key the server's deps must be used as they are")
	}
	got := depsFor(WithCallerKey(context.Background(), "sk-aisa-caller"), d)
	if got.Client.KeyFingerprint() != aisa.KeyFingerprint("sk-aisa-caller") {
		t.Fatalf("caller key not used: fingerprint %s", got.Client.KeyFingerprint())
	}
	if d.Client.KeyFingerprint() != aisa.KeyFingerprint("sk-aisa-server") {
		t.Fatal("the server's own client was changed")
	}
	if fp := aisa.KeyFingerprint("sk-aisa-caller"); len(fp) != 16 {
		t.Fatalf("fingerprint %q is not 16 hex characters", fp)
	}
}
