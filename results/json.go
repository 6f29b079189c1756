package results

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes the document as indented JSON, fields in the order of
// the types' declarations. encoding/json makes any invalid UTF-8 the
// console had U+FFFD.
func (d *Document) WriteJSON(w io.Writer) error {
	doc := *d
	// Empty lists as [], not null, whether or not the document came from
	// a Parser.
	if doc.Tests == nil {
		doc.Tests = []*Test{}
	}
	if doc.Problems == nil {
		doc.Problems = []*Problem{}
	}
	if doc.Signatures == nil {
		doc.Signatures = []*Signature{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("results: writing JSON: %w", err)
	}
	return nil
}
