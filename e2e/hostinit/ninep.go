package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ninepTool prepares and inspects the directories scenarios share with
// the guest over virtio-9p:
//
//	mkdir DIR              make DIR (and its parents)
//	symlink TARGET LINK    make the symlink LINK -> TARGET
//	writefile FILE TEXT    write TEXT to FILE
//	treesha DIR            HOST-TREE DIR SHA256: the names, types, modes,
//	                       symlink targets and contents under DIR
func ninepTool(args []string) error {
	switch args[0] {
	case "mkdir":
		return os.MkdirAll(args[1], 0o755)
	case "symlink":
		return os.Symlink(args[1], args[2])
	case "writefile":
		return os.WriteFile(args[1], []byte(args[2]), 0o644)
	case "treesha":
		h := sha256.New()
		err := filepath.WalkDir(args[1], func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %v\n", p, fi.Mode())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, _ := os.Readlink(p)
				fmt.Fprintf(h, "-> %s\n", t)
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h.Write(b)
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Printf("HOST-TREE %s %x\n", args[1], h.Sum(nil))
	}
	return nil
}
