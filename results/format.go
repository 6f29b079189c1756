package results

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
// --results-format flag), else by path's extension: .json, .xml or .junit,
// .tap.
func FormatFor(path, name string) (Format, error) {
	if name != "" {
		return ParseFormat(name)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return JSON, nil
	case ".xml", ".junit":
		return JUnit, nil
	case ".tap":
		return TAP, nil
	}
	return "", fmt.Errorf("results: cannot tell the format of %q by its extension: name it .json, .xml (or .junit) or .tap, or give the format", path)
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
func (d *Document) WriteFile(path string, f Format) error {
	o, err := CreateOutput(path, f)
	if err != nil {
		return err
	}
	return o.Commit(d)
}

// Output is a results file made in two steps: CreateOutput creates its
// temporary file beside path (before the run, while files may still be
// opened: gokvm's run phase opens none), Commit writes the document into
// it and renames it over path. After CreateOutput, Commit makes only the
// calls write, close and renameat (and unlinkat on failure), which
// machine's seccomp filter allows a run that has an Output.
type Output struct {
	path   string
	format Format
	tmp    *os.File
}

// CreateOutput creates path's temporary file, readable by all (0644
// before the umask), for a document in format f.
func CreateOutput(path string, f Format) (*Output, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	for try := 0; ; try++ {
		var r [6]byte
		rand.Read(r[:])
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(r[:]))
		tmp, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("results: writing %s: %w", path, err)
		}
		return &Output{path: path, format: f, tmp: tmp}, nil
	}
}

// Path is the file the document goes to.
func (o *Output) Path() string { return o.path }

// Commit writes the document, closes the temporary file and renames it
// over the path; on failure the temporary file is removed. It is done
// once: later calls fail.
func (o *Output) Commit(d *Document) (err error) {
	tmp := o.tmp
	if tmp == nil {
		return fmt.Errorf("results: %s was committed or aborted already", o.path)
	}
	o.tmp = nil
	defer func() {
		if err != nil {
			tmp.Close()
			syscall.Unlink(tmp.Name())
			err = fmt.Errorf("results: writing %s: %w", o.path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := d.Write(bw, o.format); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// syscall.Rename is renameat alone; os.Rename would lstat first.
	return syscall.Rename(tmp.Name(), o.path)
}

// Abort removes the temporary file, for a run that writes no document.
func (o *Output) Abort() {
	if o.tmp != nil {
		o.tmp.Close()
		syscall.Unlink(o.tmp.Name())
		o.tmp = nil
	}
}
