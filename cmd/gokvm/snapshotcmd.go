package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
)

// snapshotCommand is gokvm snapshot NAME FILE [--stop]: the VM's state
// to FILE and its RAM to FILE.ram. This process creates the files and
// passes them to the VM, whose seccomp filter lets it open none for
// writing.
func snapshotCommand(args []string, env Env) int {
	logger := log.New(env.Stderr, "gokvm snapshot: ", 0)
	fs := flag.NewFlagSet("gokvm snapshot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stop := fs.Bool("stop", false, "")
	name, path, err := parseSnapshotArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	if err != nil {
		logger.Printf("%v (see gokvm help)", err)
		return machine.ExitUsage
	}
	c, err := control.Dial(name)
	if err != nil {
		logger.Print(err)
		return clientErrorStatus(err)
	}
	defer c.Close()
	out, err := createSnapshotFiles(path)
	if err != nil {
		logger.Print(err)
		return machine.ExitFailure
	}
	res, err := c.Snapshot(out.state, out.ram, filepath.Base(path)+machine.RAMFileSuffix, *stop)
	if err != nil {
		out.remove()
		logger.Print(err)
		if errors.Is(err, control.ErrCannotSave) {
			return machine.ExitUsage
		}
		return machine.ExitFailure
	}
	if err := out.commit(); err != nil {
		logger.Print(err)
		return machine.ExitFailure
	}
	if *stop && res.Status == machine.ExitFailure {
		// As gokvm stop says it: the snapshot is saved all the same.
		logger.Printf("%s ended with status %d: its shutdown failed (its log says why); the snapshot is saved", name, res.Status)
		return machine.ExitFailure
	}
	return 0
}

// parseSnapshotArgs takes NAME and FILE, with flags before, between and
// after them, and checks that FILE can be created: its directory exists,
// and neither it nor FILE.ram is a directory.
func parseSnapshotArgs(fs *flag.FlagSet, args []string) (name, path string, err error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) < 2:
		return "", "", errors.New("want NAME FILE: the VM (as gokvm list shows it) and the state file to write (its RAM goes to FILE.ram)")
	case len(pos) > 2:
		return "", "", fmt.Errorf("unexpected argument %q", pos[2])
	}
	name, path = pos[0], pos[1]
	if err := control.CheckName(name); err != nil {
		return "", "", err
	}
	return name, path, checkSnapshotPath(path)
}

// checkSnapshotPath refuses a FILE that cannot be a state file before the
// VM is asked for anything.
func checkSnapshotPath(path string) error {
	base := filepath.Base(path)
	if path == "" || strings.HasSuffix(path, "/") || base == "." || base == ".." {
		return fmt.Errorf("%q is not a file name", path)
	}
	if err := control.CheckRAMFileName(base + machine.RAMFileSuffix); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: the directory %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	for _, p := range []string{path, path + machine.RAMFileSuffix} {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return fmt.Errorf("%s is a directory", p)
		}
	}
	return nil
}

// snapshotFiles are a snapshot's state and RAM files, written under
// names of their own beside FILE and put in place once saved: a snapshot
// that fails leaves an earlier one at FILE whole, and a VM restored from
// FILE.ram (which maps it) never sees it truncated under it.
type snapshotFiles struct {
	path       string // FILE
	state, ram *os.File
}

// createSnapshotFiles creates the two files, mode 0600 (a snapshot holds
// all of the guest's memory), in FILE's directory.
func createSnapshotFiles(path string) (*snapshotFiles, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	state, err := os.CreateTemp(dir, base+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("creating the state file: %w", err)
	}
	ram, err := os.CreateTemp(dir, base+machine.RAMFileSuffix+".*.tmp")
	if err != nil {
		state.Close()
		os.Remove(state.Name())
		return nil, fmt.Errorf("creating the RAM file: %w", err)
	}
	return &snapshotFiles{path: path, state: state, ram: ram}, nil
}

// remove closes and removes both files.
func (s *snapshotFiles) remove() {
	for _, f := range []*os.File{s.state, s.ram} {
		f.Close()
		os.Remove(f.Name())
	}
}

// commit puts the saved files in place: on disk first, then FILE.ram and
// last FILE. An earlier FILE goes before either rename, so that a crash
// between them leaves no state file rather than an old one beside a new
// RAM file.
func (s *snapshotFiles) commit() error {
	for _, f := range []*os.File{s.state, s.ram} {
		if err := f.Sync(); err != nil {
			s.remove()
			return fmt.Errorf("writing %s to disk: %w", f.Name(), err)
		}
		if err := f.Close(); err != nil {
			s.remove()
			return fmt.Errorf("closing %s: %w", f.Name(), err)
		}
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.remove()
		return fmt.Errorf("replacing %s: %w", s.path, err)
	}
	if err := os.Rename(s.ram.Name(), s.path+machine.RAMFileSuffix); err != nil {
		s.remove()
		return fmt.Errorf("putting the RAM file in place: %w", err)
	}
	if err := os.Rename(s.state.Name(), s.path); err != nil {
		s.remove()
		return fmt.Errorf("putting the state file in place: %w", err)
	}
	return nil
}
