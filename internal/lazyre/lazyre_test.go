package lazyre

import "testing"

func TestRegexp(t *testing.T) {
	r := New(`^a(b+)$`)
	if !r.MatchString("abb") || r.MatchString("ac") {
		t.Error("MatchString")
	}
	if m := r.FindStringSubmatch("abb"); len(m) != 2 || m[1] != "bb" {
		t.Errorf("FindStringSubmatch: %q", m)
	}
	if r.String() != `^a(b+)$` || r.Regexp().String() != r.String() {
		t.Error("String")
	}
	defer func() {
		if recover() == nil {
			t.Error("a bad pattern did not panic on first use")
		}
	}()
	New(`(`).MatchString("x")
}
