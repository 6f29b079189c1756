// Package seccomptest tells tests of system call lists, for each
// architecture gokvm runs on, which system calls exist and which ones
// golang.org/x/sys/unix makes, read from the source of the x/sys module
// gokvm builds with: a list that names a call the architecture lacks, or
// one x/sys/unix makes under another name there (fcntl64, fstat64,
// _llseek on 32-bit ARM), is caught on any host. Only tests may import it.
package seccomptest

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Arches are the architectures gokvm's filter knows.
var Arches = []string{"amd64", "arm64", "arm"}

// Arch is what x/sys/unix's source says of one architecture.
type Arch struct {
	// Names are the system calls linux/GOARCH has, as the filter names
	// them: x/sys/unix's SYS_ constants in lower case, the first name of
	// each number (as gen_sysnames.go writes zsysnames_linux_*.go).
	Names map[string]bool
	// Funcs are, for each function of x/sys/unix, the system calls it
	// makes on this architecture, through the functions it calls.
	Funcs map[string]map[string]bool
	// Runtime are the system calls the Go runtime (this toolchain's)
	// makes on this architecture.
	Runtime map[string]bool
}

// Made reports whether some function of x/sys/unix makes the call.
func (a *Arch) Made(name string) bool {
	for _, calls := range a.Funcs {
		if calls[name] {
			return true
		}
	}
	return false
}

// As is what the functions of x/sys/unix that make name on 64-bit Linux
// (amd64 or arm64) make on this architecture instead: the names a call
// list written for 64-bit Linux must use here.
func As(t testing.TB, goarch, name string) map[string]bool {
	t.Helper()
	arch := Load(t, goarch)
	out := map[string]bool{}
	for _, a64 := range []string{"amd64", "arm64"} {
		for fn, calls := range Load(t, a64).Funcs {
			if calls[name] {
				for c := range arch.Funcs[fn] {
					out[c] = true
				}
			}
		}
	}
	return out
}

var (
	loadMu sync.Mutex
	loaded = map[string]*Arch{}
	dirs   struct {
		once         sync.Once
		xsys, goroot string
		err          error
	}
)

// Load reads linux/goarch from x/sys/unix's source; the test is skipped
// when the source cannot be found (no go command, a vendored build).
func Load(t testing.TB, goarch string) *Arch {
	t.Helper()
	dirs.once.Do(func() {
		var out []byte
		out, dirs.err = exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
		dirs.xsys = filepath.Join(strings.TrimSpace(string(out)), "unix")
		if dirs.err == nil {
			out, dirs.err = exec.Command("go", "env", "GOROOT").Output()
			dirs.goroot = strings.TrimSpace(string(out))
		}
	})
	if dirs.err != nil {
		t.Skipf("cannot find golang.org/x/sys's source: %v", dirs.err)
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	if a := loaded[goarch]; a != nil {
		return a
	}
	a, err := load(dirs.xsys, dirs.goroot, goarch)
	if err != nil {
		t.Fatalf("reading x/sys/unix for linux/%s: %v", goarch, err)
	}
	loaded[goarch] = a
	return a
}

var sysnumLine = regexp.MustCompile(`^\s*(SYS_[A-Z0-9_]+)\s*=\s*(\d+)\s*$`)

// pseudo are SYS_ constants that are not system calls.
var pseudo = map[string]bool{"SYS_SYSCALL_MASK": true, "SYS_SYSCALL_BASE": true, "SYS_OABI_SYSCALL_BASE": true}

// source is x/sys/unix's Go source for one architecture.
type source struct {
	goroot, xsys, goarch string
	nr                   map[string]uint64 // SYS_ constant to number
	name                 map[uint64]string // number to the filter's name
	vars                 map[string]string // variables that hold a SYS_ constant
	bodies               map[string]*ast.FuncDecl
	memo                 map[string]map[string]bool
}

func load(xsys, goroot, goarch string) (*Arch, error) {
	s := &source{goroot: goroot, xsys: xsys, goarch: goarch, nr: map[string]uint64{}, name: map[uint64]string{},
		vars: map[string]string{}, bodies: map[string]*ast.FuncDecl{}, memo: map[string]map[string]bool{}}
	a := &Arch{Names: map[string]bool{}, Funcs: map[string]map[string]bool{}}
	if err := s.readNumbers(a); err != nil {
		return nil, err
	}
	var err error
	if a.Runtime, err = runtimeCalls(goroot, goarch, s.name); err != nil {
		return nil, err
	}
	if err := s.parse(); err != nil {
		return nil, err
	}
	for fn := range s.bodies {
		a.Funcs[fn] = s.calls(fn, map[string]bool{})
	}
	return a, nil
}

// readNumbers reads zsysnum_linux_GOARCH.go as gen_sysnames.go does.
func (s *source) readNumbers(a *Arch) error {
	f, err := os.Open(filepath.Join(s.xsys, "zsysnum_linux_"+s.goarch+".go"))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := sysnumLine.FindStringSubmatch(sc.Text())
		if m == nil || pseudo[m[1]] {
			continue
		}
		n, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			return fmt.Errorf("%q: %w", sc.Text(), err)
		}
		s.nr[m[1]] = n
		if _, ok := s.name[n]; !ok {
			s.name[n] = strings.ToLower(strings.TrimPrefix(m[1], "SYS_"))
			a.Names[s.name[n]] = true
		}
	}
	if len(a.Names) < 200 {
		return fmt.Errorf("only %d system calls in zsysnum_linux_%s.go", len(a.Names), s.goarch)
	}
	return sc.Err()
}

// parse reads every file of x/sys/unix that builds for linux/GOARCH: its
// functions, SYS_ aliases (SYS_FSTATAT = SYS_NEWFSTATAT) and variables
// set to a SYS_ constant (fcntl64Syscall, which an init sets again on
// 32-bit systems).
func (s *source) parse() error {
	ctx := build.Context{GOOS: "linux", GOARCH: s.goarch, Compiler: "gc"}
	entries, err := os.ReadDir(s.xsys)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	var inits []*ast.FuncDecl
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(s.xsys, name); err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(s.xsys, name), nil, 0)
		if err != nil {
			return err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				switch {
				case d.Recv != nil:
				case d.Name.Name == "init":
					inits = append(inits, d)
				default:
					s.bodies[d.Name.Name] = d
				}
			case *ast.GenDecl:
				s.valueSpecs(d)
			}
		}
	}
	for _, d := range inits {
		ast.Inspect(d, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
				if v, ok := as.Lhs[0].(*ast.Ident); ok {
					if c, ok := as.Rhs[0].(*ast.Ident); ok && strings.HasPrefix(c.Name, "SYS_") {
						s.vars[v.Name] = c.Name
					}
				}
			}
			return true
		})
	}
	return nil
}

// valueSpecs records SYS_ aliases and variables set to a SYS_ constant.
func (s *source) valueSpecs(d *ast.GenDecl) {
	for _, spec := range d.Specs {
		vs, ok := spec.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			continue
		}
		c, ok := vs.Values[0].(*ast.Ident)
		if !ok || !strings.HasPrefix(c.Name, "SYS_") {
			continue
		}
		name := vs.Names[0].Name
		switch {
		case d.Tok == token.CONST && strings.HasPrefix(name, "SYS_"):
			if n, ok := s.nr[c.Name]; ok {
				s.nr[name] = n
			}
		case d.Tok == token.VAR:
			if _, set := s.vars[name]; !set {
				s.vars[name] = c.Name
			}
		}
	}
}

// calls is what function fn makes, directly or through the package's
// functions it calls.
func (s *source) calls(fn string, visiting map[string]bool) map[string]bool {
	if c, ok := s.memo[fn]; ok {
		return c
	}
	out := map[string]bool{}
	d := s.bodies[fn]
	if d == nil || visiting[fn] {
		return out
	}
	visiting[fn] = true
	defer delete(visiting, fn)
	if d.Body == nil {
		for _, c := range s.asmCalls(fn) {
			s.add(out, c)
		}
	} else {
		ast.Inspect(d.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if strings.HasPrefix(n.Name, "SYS_") {
					s.add(out, n.Name)
				} else if c, ok := s.vars[n.Name]; ok {
					s.add(out, c)
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name != fn {
					for c := range s.calls(id.Name, visiting) {
						out[c] = true
					}
				}
			}
			return true
		})
	}
	s.memo[fn] = out
	return out
}

func (s *source) add(out map[string]bool, sys string) {
	if n, ok := s.nr[sys]; ok {
		out[s.name[n]] = true
	}
}

// asmCalls reads the SYS_ constants of a function written in assembly:
// x/sys/unix's own, or the syscall package's it branches to (Seek on
// 32-bit ARM is syscall.seek, which makes _llseek).
func (s *source) asmCalls(fn string) []string {
	text := asmText(filepath.Join(s.xsys, "asm_linux_"+s.goarch+".s"), fn)
	if strings.Contains(text, "syscall·"+fn+"(SB)") {
		text = asmText(filepath.Join(s.goroot, "src", "syscall", "asm_linux_"+s.goarch+".s"), fn)
	}
	return regexp.MustCompile(`SYS_[A-Z0-9_]+`).FindAllString(text, -1)
}

// asmText is the text of function fn in an assembly file, up to the next
// TEXT.
func asmText(path, fn string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	text := string(b)
	i := strings.Index(text, "TEXT ·"+fn+"(SB)")
	if i < 0 {
		return ""
	}
	text = text[i+len("TEXT"):]
	if j := strings.Index(text, "\nTEXT"); j >= 0 {
		text = text[:j]
	}
	return text
}
