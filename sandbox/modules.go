package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gokvm/gokvm/machine"
)

// NeededModules are the kernel modules the sandbox needs where the kernel
// has them as modules: the virtio-mmio transport, 9p over virtio, the 9p
// filesystem and overlayfs. Their dependencies come from modules.dep.
var NeededModules = []string{"virtio_mmio", "9pnet_virtio", "9p", "overlay"}

// neededModules are NeededModules for a machine of transport: with
// virtio-pci, its driver (virtio_pci) in place of virtio_mmio.
func neededModules(transport string) []string {
	if transport != machine.TransportPCI {
		return NeededModules
	}
	mods := append([]string(nil), NeededModules...)
	mods[0] = "virtio_pci"
	return mods
}

// Module is one module file to load in the guest.
type Module struct {
	Name string // as the kernel names it (dashes as underscores)
	Path string // the file on the host
}

// ResolveModules finds names and everything they depend on in dir, a
// /lib/modules/VERSION tree with depmod's modules.dep, and returns the
// module files in an order they can be loaded in. A name that is built
// into the kernel (modules.builtin) needs no file; one that is neither
// built in nor in modules.dep is an error naming it.
func ResolveModules(dir string, names []string) ([]Module, error) {
	deps, err := readModulesDep(dir)
	if err != nil {
		return nil, err
	}
	builtin := readBuiltin(dir)
	byName := map[string]string{} // module name -> its modules.dep key
	for key := range deps {
		byName[modName(key)] = key
	}
	var out []Module
	done := map[string]bool{}
	var visit func(key string, chain []string) error
	visit = func(key string, chain []string) error {
		if done[key] {
			return nil
		}
		for _, c := range chain {
			if c == key {
				return fmt.Errorf("%s/modules.dep: a dependency loop through %s", dir, modName(key))
			}
		}
		for _, d := range deps[key] {
			if _, ok := deps[d]; !ok {
				return fmt.Errorf("module %s needs %s, which is not in %s/modules.dep", modName(key), modName(d), dir)
			}
			if err := visit(d, append(chain, key)); err != nil {
				return err
			}
		}
		done[key] = true
		path := key
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, key)
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("module %s: %w", modName(key), err)
		}
		out = append(out, Module{Name: modName(key), Path: path})
		return nil
	}
	for _, n := range names {
		n = normName(n)
		key, ok := byName[n]
		if !ok {
			if builtin[n] {
				continue
			}
			return nil, fmt.Errorf("module %s: neither in %s/modules.dep nor built into the kernel (modules.builtin)", n, dir)
		}
		if err := visit(key, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readModulesDep reads depmod's modules.dep: "path: dep dep ...".
func readModulesDep(dir string) (map[string][]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(dir); serr != nil {
				return nil, fmt.Errorf("--modules %s: %w", dir, serr)
			}
			return nil, fmt.Errorf("--modules %s: no modules.dep in it (run depmod -b ROOT VERSION for a tree outside /lib/modules)", dir)
		}
		return nil, fmt.Errorf("--modules: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) == "" {
			continue
		}
		deps[strings.TrimSpace(key)] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s/modules.dep: %w", dir, err)
	}
	return deps, nil
}

// readBuiltin reads modules.builtin: the modules built into the kernel.
func readBuiltin(dir string) map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out[modName(line)] = true
		}
	}
	return out
}

// modName is a module's name from its path: the file name without .ko and
// a compression suffix, dashes as underscores.
func modName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return normName(base)
}

func normName(n string) string { return strings.ReplaceAll(n, "-", "_") }
