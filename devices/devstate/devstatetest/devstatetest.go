// Package devstatetest holds the checks every device's saved state must
// pass, for the devices' tests.
package devstatetest

import (
	"encoding/json"
	"testing"
)

// Restorer is a new device that a saved state is restored onto.
type Restorer interface {
	RestoreState(state []byte) error
}

// RefusesNewer checks that a state saved by a newer gokvm, one with a
// field this one does not know, is refused by a new device from fresh,
// and that the same state without that field is taken: a state is never
// half restored.
func RefusesNewer(t *testing.T, saved []byte, fresh func() Restorer) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(saved, &fields); err != nil {
		t.Fatalf("the saved state is not a JSON object: %v", err)
	}
	if err := fresh().RestoreState(saved); err != nil {
		t.Fatalf("the saved state itself was refused: %v", err)
	}
	fields["FieldOfANewerGokvm"] = json.RawMessage(`1`)
	newer, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh().RestoreState(newer); err == nil {
		t.Error("a state with a field from a newer gokvm was restored")
	}
	if err := fresh().RestoreState(append(append([]byte(nil), saved...), `{}`...)); err == nil {
		t.Error("a state with data after its end was restored")
	}
}
