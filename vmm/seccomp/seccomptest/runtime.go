package seccomptest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	asmDefine = regexp.MustCompile(`(?m)^#define\s+(SYS_\w+)\s+(.+?)\s*(?://.*)?$`)
	asmUse    = regexp.MustCompile(`\$(SYS_\w+)`)
	goConst   = regexp.MustCompile(`(?m)^\s*(SYS_[A-Z0-9_]+)\s*=\s*(\d+)\s*$`)
	goUse     = regexp.MustCompile(`\b(SYS_[A-Z0-9_]+)\b`)
)

// runtimeCalls are the system calls the Go runtime at goroot makes on
// linux/goarch, by the filter's names (name gives them by number): those
// its assembly (sys_linux_GOARCH.s) makes, and those its Go code makes
// through internal/runtime/syscall/linux.
func runtimeCalls(goroot, goarch string, name map[uint64]string) (map[string]bool, error) {
	out := map[string]bool{}
	add := func(what string, nr uint64) error {
		n, ok := name[nr]
		if !ok {
			return fmt.Errorf("%s: number %d is no system call x/sys/unix knows", what, nr)
		}
		out[n] = true
		return nil
	}

	asm, err := os.ReadFile(filepath.Join(goroot, "src", "runtime", "sys_linux_"+goarch+".s"))
	if err != nil {
		return nil, err
	}
	defs := map[string]string{}
	for _, m := range asmDefine.FindAllStringSubmatch(string(asm), -1) {
		defs[m[1]] = m[2]
	}
	for _, m := range asmUse.FindAllStringSubmatch(string(asm), -1) {
		nr, err := asmValue(defs, m[1])
		if err != nil {
			return nil, err
		}
		if err := add("runtime "+m[1], nr); err != nil {
			return nil, err
		}
	}

	dir := filepath.Join(goroot, "src", "internal", "runtime", "syscall", "linux")
	b, err := os.ReadFile(filepath.Join(dir, "defs_linux_"+goarch+".go"))
	if err != nil {
		return nil, err
	}
	numbers := map[string]uint64{}
	for _, m := range goConst.FindAllStringSubmatch(string(b), -1) {
		numbers[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
	}
	b, err = os.ReadFile(filepath.Join(dir, "syscall_linux.go"))
	if err != nil {
		return nil, err
	}
	uses := []string{string(b)}
	goFiles, err := filepath.Glob(filepath.Join(goroot, "src", "runtime", "*linux*.go"))
	if err != nil {
		return nil, err
	}
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range regexp.MustCompile(`linux\.(SYS_[A-Z0-9_]+)`).FindAllStringSubmatch(string(b), -1) {
			uses = append(uses, m[1])
		}
	}
	for _, m := range goUse.FindAllStringSubmatch(strings.Join(uses, "\n"), -1) {
		nr, ok := numbers[m[1]]
		if !ok {
			continue // another architecture's, or no call
		}
		if err := add("internal/runtime/syscall/linux."+m[1], nr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// asmValue evaluates a #define of the runtime's assembly: a number, or
// (SYS_BASE + N) on 32-bit ARM.
func asmValue(defs map[string]string, sym string) (uint64, error) {
	v, ok := defs[sym]
	if !ok {
		return 0, fmt.Errorf("runtime assembly: %s is not defined", sym)
	}
	v = strings.TrimSpace(strings.Trim(strings.TrimSpace(v), "()"))
	if base, n, ok := strings.Cut(v, "+"); ok {
		b, err := asmValue(defs, strings.TrimSpace(base))
		if err != nil {
			return 0, err
		}
		m, err := strconv.ParseUint(strings.TrimSpace(n), 0, 64)
		return b + m, err
	}
	return strconv.ParseUint(v, 0, 64)
}
