package machine

import (
	"strings"
	"testing"
)

// TestSeccompField: the filter is on by default, --print-config says so,
// and a bad mode is a configuration error naming the field.
func TestSeccompField(t *testing.T) {
	s := Spec{Kernel: "Image"}.WithDefaults()
	if s.Seccomp != "on" || !strings.Contains(string(s.JSON()), `"seccomp": "on"`) {
		t.Errorf("default seccomp %q; JSON:\n%s", s.Seccomp, s.JSON())
	}
	for _, mode := range []string{"on", "off", "log"} {
		if err := (Spec{Kernel: "Image", Seccomp: mode}).Check(); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
	}
	err := Spec{Kernel: "Image", Seccomp: "strict"}.Check()
	if err == nil || !strings.Contains(err.Error(), `seccomp: "strict": want on, off or log`) {
		t.Errorf("seccomp strict: %v", err)
	}
}
