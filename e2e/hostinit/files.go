package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fileTool is what the warm sandbox scenarios do to its directory and
// kernel:
//
//	rmall DIR              remove DIR and everything in it
//	copy SRC DST           copy a file
//	touch FILE             set the file's modification time to now + 2 s
//	cutfiles DIR SUFFIX    cut each file in DIR named *SUFFIX to half its size
//	rmglob PATTERN         remove the files the glob pattern matches
func fileTool(args []string) error {
	need := map[string]int{"rmall": 2, "copy": 3, "touch": 2, "cutfiles": 3, "rmglob": 2}[args[0]]
	if len(args) != need {
		return fmt.Errorf("%d arguments, want %d", len(args)-1, need-1)
	}
	switch args[0] {
	case "rmall":
		return os.RemoveAll(args[1])
	case "rmglob":
		names, err := filepath.Glob(args[1])
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := os.Remove(n); err != nil {
				return err
			}
		}
		return nil
	case "copy":
		in, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(args[2])
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	case "touch":
		// Later than any time the file had, even on a coarse clock.
		t := time.Now().Add(2 * time.Second)
		return os.Chtimes(args[1], t, t)
	case "cutfiles":
		entries, err := os.ReadDir(args[1])
		if err != nil {
			return err
		}
		n := 0
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), args[2]) {
				continue
			}
			p := filepath.Join(args[1], e.Name())
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				return err
			}
			n++
		}
		fmt.Printf("cutfiles: %d files cut\n", n)
		if n == 0 {
			return fmt.Errorf("no file named *%s in %s", args[2], args[1])
		}
		return nil
	}
	return nil
}
