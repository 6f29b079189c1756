package devstate

import "testing"

func TestDecode(t *testing.T) {
	type state struct {
		A int
		B []byte
	}
	var s state
	if err := Decode([]byte(`{"A":3,"B":"eHk="}`), &s); err != nil || s.A != 3 || string(s.B) != "xy" {
		t.Fatalf("a good state: %+v, %v", s, err)
	}
	for _, bad := range []string{``, `{`, `{"A":1,"C":2}`, `{"A":1}{"A":2}`, `{"A":1} x`, `{"A":"one"}`, `[]`} {
		var s state
		if err := Decode([]byte(bad), &s); err == nil {
			t.Errorf("state %q decoded as %+v", bad, s)
		}
	}
}
