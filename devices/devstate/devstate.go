// Package devstate decodes a device's saved state (vmm.StateDevice) the
// one way every device does: strictly.
package devstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Decode reads a saved state's JSON into v: one value, with no field v
// does not have (a newer gokvm's state is refused, not half restored),
// and nothing after it.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after its end")
	}
	return nil
}
