package secret

import (
	"strings"
	"testing"
)

const s1 = "0123456789abcdef0123456789abcdef-one"
const s2 = "0123456789abcdef0123456789abcdef-two"

func TestParse(t *testing.T) {
	t.Parallel()
	if r, err := Parse("  "); r != nil || err != nil {
		t.Fatalf("empty: %v %v", r, err)
	}
	for _, bad := range []string{"short", "a:" + s1 + ",a:" + s2, s1 + "," + s2, "bad kid:" + s1, "a:short"} {
		_, err := Parse(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		for _, part := range []string{s1, s2, "short"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("error quotes the secret: %v", err)
			}
		}
	}
	r, err := Parse(s1)
	if err != nil || len(r.keys) != 1 || r.keys[0].kid != defaultKID {
		t.Fatalf("single: %v %v", r, err)
	}
	if strings.Contains(r.String(), s1) {
		t.Fatal("String shows the secret")
	}
}

func TestSealOpenAndRotation(t *testing.T) {
	t.Parallel()
	old, _ := Parse("a:" + s1)
	rotated, _ := Parse("b:" + s2 + ",a:" + s1)
	v := old.Keys("p/v1").Seal([]byte("sk-aisa-x"), []byte("aad"))
	if strings.Contains(v, "sk-aisa") {
		t.Fatal("plaintext visible")
	}
	if pt, err := rotated.Keys("p/v1").Open(v, []byte("aad")); err != nil || string(pt) != "sk-aisa-x" {
		t.Fatalf("rotated ring does not open the old value: %q %v", pt, err)
	}
	if _, err := rotated.Keys("p/v1").Open(v, []byte("other")); err == nil {
		t.Fatal("opened with other aad")
	}
	if _, err := rotated.Keys("q/v1").Open(v, []byte("aad")); err == nil {
		t.Fatal("opened under another purpose")
	}
	nv := rotated.Keys("p/v1").Seal([]byte("x"), nil)
	if !strings.HasPrefix(nv, "b.") {
		t.Fatalf("the first kid does not seal: %s", nv)
	}
	if _, err := old.Keys("p/v1").Open(nv, nil); err == nil {
		t.Fatal("a ring without kid b opened its value")
	}
	for _, bad := range []string{"", "a", "a.", "a.!!", v[:len(v)-2], "z" + v[1:]} {
		if _, err := rotated.Keys("p/v1").Open(bad, []byte("aad")); err == nil {
			t.Errorf("%q opened", bad)
		}
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	r, _ := Parse("a:" + s1)
	k := r.Keys("confirm/v1")
	sig := k.Sign([]byte("data"))
	if !k.Verify([]byte("data"), sig) || k.Verify([]byte("datA"), sig) {
		t.Fatal("verify")
	}
	if r.Keys("other/v1").Verify([]byte("data"), sig) {
		t.Fatal("verified under another purpose")
	}
}
