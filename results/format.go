package results

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format is a document's file format.
type Format string

// The formats.
const (
	JSON  Format = "json"  // the Document as indented JSON
	JUnit Format = "junit" // JUnit XML, as GitLab and GitHub read it
	TAP   Format = "tap"   // TAP version 14
)

// ParseFormat reads a format's name, as --results-format takes it.
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "json":
		return JSON, nil
	case "junit", "xml":
		return JUnit, nil
	case "tap":
		return TAP, nil
	}
	return "", fmt.Errorf("results: unknown format %q: want json, junit or tap", name)
}

// FormatFor is the format to write path in: name when given (the
// --results-format flag), else by path's extension: .json, .xml, .tap.
func FormatFor(path, name string) (Format, error) {
	if name != "" {
		return ParseFormat(name)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return JSON, nil
	case ".xml":
		return JUnit, nil
	case ".tap":
		return TAP, nil
	}
	return "", fmt.Errorf("results: cannot tell the format of %q by its extension: name it .json, .xml or .tap, or give the format", path)
}

// Write writes the document in format f.
func (d *Document) Write(w io.Writer, f Format) error {
	switch f {
	case JSON:
		return d.WriteJSON(w)
	case JUnit:
		return d.WriteJUnit(w)
	case TAP:
		return d.WriteTAP(w)
	}
	return fmt.Errorf("results: unknown format %q", f)
}

// WriteFile writes the document to path in format f, whole or not at all:
// it goes to a temporary file beside path, renamed over it when complete,
// so a CI job never reads half a result.
func (d *Document) WriteFile(path string, f Format) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := d.Write(tmp, f); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a result is for others to read.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	return nil
}
