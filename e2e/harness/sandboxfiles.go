package harness

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SandboxApplets are the busybox commands `gokvm sandbox` runs in the
// emulated host's file system (the sandboxed guest's root).
var SandboxApplets = []string{"sh", "true", "false", "sleep", "echo", "cat", "head", "ls"}

// AddSandboxFiles gives the emulated host what `gokvm sandbox` needs of
// it: the Debian kernel's /lib/modules/VERSION tree (9p, overlayfs and
// their dependencies, with modules.dep) and a static busybox with
// SandboxApplets. It returns the modules tree's path for --modules: in
// the emulated host, or here on a direct arm64 host (where nothing is
// added).
func AddSandboxFiles(b *Build) (modules string, err error) {
	kernels := Kernels()
	trees, _ := filepath.Glob(filepath.Join(kernels, "arm64", "lib", "modules", "*", "modules.dep"))
	if len(trees) != 1 {
		return "", fmt.Errorf("no arm64/lib/modules/VERSION/modules.dep in %s: run `make kernels` (testdata/kernels/fetch.sh)", kernels)
	}
	tree := filepath.Dir(trees[0])
	if Direct() {
		return tree, nil
	}
	if b.HostFiles == nil {
		b.HostFiles = map[string]string{}
	}
	if b.HostLinks == nil {
		b.HostLinks = map[string]string{}
	}
	modules = "/lib/modules/" + filepath.Base(tree)
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		b.HostFiles[strings.TrimPrefix(modules, "/")+"/"+rel] = p
		return nil
	})
	if err != nil {
		return "", err
	}
	busybox := filepath.Join(kernels, "arm64", "busybox")
	if _, err := os.Stat(busybox); err != nil {
		return "", fmt.Errorf("no static busybox at %s: run `make kernels` (testdata/kernels/fetch.sh)", busybox)
	}
	b.HostFiles["bin/busybox"] = busybox
	for _, a := range SandboxApplets {
		b.HostLinks["bin/"+a] = "busybox"
	}
	return modules, nil
}
