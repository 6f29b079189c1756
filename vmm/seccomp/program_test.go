package seccomp

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm/kvm"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData is a struct seccomp_data for x/net/bpf's VM. The VM loads
// words big-endian, so each 32-bit word the program reads is written
// big-endian at the offset where a little-endian kernel keeps it: the
// values the program compares are those the kernel would give it.
func seccompData(arch uint32, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], nr)
	binary.BigEndian.PutUint32(b[offArch:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

// filterVM builds the native program with deny as its forbidden action,
// assembles it, and loads what the kernel would get into x/net/bpf's VM.
func filterVM(t *testing.T, deny uint32) (*bpf.VM, target) {
	return filterVMWith(t, deny, nil)
}

// filterVMWith is filterVM with extra calls merged into the allow-list.
func filterVMWith(t *testing.T, deny uint32, extra []Call) (*bpf.VM, target) {
	t.Helper()
	tg, err := nativeTarget()
	if err != nil {
		t.Skip(err)
	}
	calls, err := merge(tg, Allowed, extra)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := build(tg, calls, deny)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(filter))
	for i, f := range filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("the assembled filter does not disassemble: %v", prog)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("x/net/bpf refuses the filter: %v", err)
	}
	return vm, tg
}

func run(t *testing.T, vm *bpf.VM, data []byte) uint32 {
	t.Helper()
	r, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(r)
}

func nr(t *testing.T, tg target, name string) uint32 {
	t.Helper()
	n, ok := tg.nr[name]
	if !ok {
		t.Fatalf("no system call %q on %s", name, tg.goarch)
	}
	return n
}

// TestAllowListIsExplained: every entry and every argument value says why
// it is there, and names a call this architecture has.
func TestAllowListIsExplained(t *testing.T) {
	tg, err := nativeTarget()
	if err != nil {
		t.Skip(err)
	}
	names := map[string]bool{}
	applicable := 0
	for _, c := range Allowed {
		if c.applies(tg) {
			applicable++
		}
		if strings.TrimSpace(c.Why) == "" {
			t.Errorf("%s: no reason given", c.Name)
		}
		if names[c.Name] {
			t.Errorf("%s is listed twice", c.Name)
		}
		names[c.Name] = true
		if _, ok := tg.nr[c.Name]; !ok && c.applies(tg) {
			t.Errorf("%s: linux/%s has no such system call", c.Name, tg.goarch)
		}
		for _, a := range c.Only {
			if a != "amd64" && a != "arm64" && a != "arm" {
				t.Errorf("%s: unknown architecture %q", c.Name, a)
			}
		}
		for r := c.Args; r != nil; r = r.And {
			for _, v := range r.Values {
				if v.Name == "" || strings.TrimSpace(v.Why) == "" {
					t.Errorf("%s: value %#x lacks a name or a reason", c.Name, v.V)
				}
			}
		}
	}
	for _, forbidden := range []string{"execve", "execveat", "fork", "vfork", "clone3", "socket", "socketpair", "connect", "bind", "ptrace", "process_vm_writev", "mount", "bpf", "kill", "open", "creat", "unlinkat", "memfd_create", "mprotect", "personality", "seccomp"} {
		if names[forbidden] {
			t.Errorf("%s is on the allow-list", forbidden)
		}
	}
	t.Logf("linux/%s: %d system calls allowed (%d ioctl requests)", tg.goarch, applicable, len(Ioctls))
}

// TestFilterAllowsTheList runs the assembled filter in x/net/bpf's VM:
// each listed call is allowed, with the argument values listed.
func TestFilterAllowsTheList(t *testing.T) {
	vm, tg := filterVM(t, unix.SECCOMP_RET_USER_NOTIF)
	for _, c := range Allowed {
		if !c.applies(tg) {
			continue
		}
		n := nr(t, tg, c.Name)
		if c.Args == nil {
			if got := run(t, vm, seccompData(tg.audit, n, 1, 2, 3)); got != unix.SECCOMP_RET_ALLOW {
				t.Errorf("%s: action %#x, want allow", c.Name, got)
			}
			continue
		}
		// Each value of each rule, the other rules' arguments at their
		// first value.
		var rules []*ArgRule
		for r := c.Args; r != nil; r = r.And {
			rules = append(rules, r)
		}
		for i, r := range rules {
			for _, v := range r.Values {
				args := make([]uint64, 6)
				for j, o := range rules {
					ov := o.Values[0]
					if j == i {
						ov = v
					}
					// Bits outside the mask and in the upper half do not
					// matter.
					args[o.Index] = uint64(ov.V) | 0xdead_0000_0000
					if o.Mask != 0 {
						args[o.Index] |= uint64(^o.Mask)
					}
				}
				if got := run(t, vm, seccompData(tg.audit, n, args...)); got != unix.SECCOMP_RET_ALLOW {
					t.Errorf("%s with %s: action %#x, want allow", c.Name, v.Name, got)
				}
			}
		}
	}
}

// TestFilterForbids: calls off the list, and listed calls with other
// argument values, get the forbidden action; another architecture's calls
// (and x86_64's x32 ABI) kill the process.
func TestFilterForbids(t *testing.T) {
	const deny = unix.SECCOMP_RET_USER_NOTIF
	vm, tg := filterVM(t, deny)
	cases := []struct {
		name string
		nr   string
		args []uint64
	}{
		{"socket", "socket", []uint64{unix.AF_INET, unix.SOCK_DGRAM}},
		{"connect", "connect", nil},
		{"clone3", "clone3", nil},
		{"ptrace", "ptrace", nil},
		{"kill", "kill", nil},
		{"mprotect", "mprotect", nil},
		{"a clone that makes a process", "clone", []uint64{uint64(unix.SIGCHLD)}},
		{"a vfork-style clone", "clone", []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}},
		{"ioctl TUNSETIFF", "ioctl", []uint64{3, unix.TUNSETIFF}},
		{"ioctl SIOCSIFFLAGS", "ioctl", []uint64{3, unix.SIOCSIFFLAGS}},
		{"ioctl KVM_CREATE_VM", "ioctl", []uint64{3, 0xae01}},
		{"ioctl KVM_SET_USER_MEMORY_REGION", "ioctl", []uint64{3, 0x4020ae46}},
		{"ioctl TIOCSTI", "ioctl", []uint64{0, unix.TIOCSTI}},
		{"ioctl KVM_RUN in the upper half only", "ioctl", []uint64{3, uint64(kvm.RequestRun) << 32}},
		{"openat for writing", "openat", []uint64{uint64(0xffffff9c), 0, unix.O_WRONLY}},
		{"openat creating", "openat", []uint64{uint64(0xffffff9c), 0, unix.O_RDONLY | unix.O_CREAT}},
		{"openat read-write", "openat", []uint64{uint64(0xffffff9c), 0, unix.O_RDWR | unix.O_CLOEXEC}},
		{"executable mmap", "mmap", []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC}},
		{"fcntl F_DUPFD", "fcntl", []uint64{0, unix.F_DUPFD}},
		{"prctl PR_SET_SECCOMP", "prctl", []uint64{unix.PR_SET_SECCOMP}},
		{"prctl PR_SET_DUMPABLE", "prctl", []uint64{unix.PR_SET_DUMPABLE}},
		{"sched_setaffinity on another thread", "sched_setaffinity", []uint64{1}},
		{"sched_setscheduler on another thread", "sched_setscheduler", []uint64{1, unix.SCHED_NORMAL}},
		{"sched_setscheduler to SCHED_FIFO", "sched_setscheduler", []uint64{0, unix.SCHED_FIFO}},
		{"sched_setscheduler to SCHED_BATCH", "sched_setscheduler", []uint64{0, unix.SCHED_BATCH}},
		{"sched_setscheduler to SCHED_OTHER with reset-on-fork", "sched_setscheduler", []uint64{0, unix.SCHED_NORMAL | unix.SCHED_RESET_ON_FORK}},
		{"openat read-only (only --stats and 9p shares open files)", "openat", []uint64{uint64(0xffffff9c), 0, unix.O_RDONLY | unix.O_CLOEXEC}},
		{"openat2", "openat2", nil},
		{"tgkill to another process", "tgkill", []uint64{uint64(pid) + 1, uint64(pid) + 1, uint64(unix.SIGURG)}},
		{"tgkill to init", "tgkill", []uint64{1, 1, uint64(unix.SIGKILL)}},
	}
	for _, c := range cases {
		if c.nr == "mmap" && tg.goarch == "arm" {
			c.nr = "mmap2"
		}
		if got := run(t, vm, seccompData(tg.audit, nr(t, tg, c.nr), c.args...)); got != deny {
			t.Errorf("%s: action %#x, want %#x", c.name, got, uint32(deny))
		}
	}
	// An exec is trapped, never notified (see program).
	for _, c := range trappedCalls {
		if got := run(t, vm, seccompData(tg.audit, nr(t, tg, c))); got != unix.SECCOMP_RET_TRAP {
			t.Errorf("%s: action %#x, want SECCOMP_RET_TRAP", c, got)
		}
	}
	// Allowed ones, for contrast.
	for _, c := range []struct {
		name string
		nr   string
		args []uint64
	}{
		{"a thread", "clone", []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD}},
		{"ioctl KVM_RUN", "ioctl", []uint64{5, uint64(kvm.RequestRun)}},
		{"tgkill to a thread of this process", "tgkill", []uint64{uint64(unix.Getpid()), uint64(unix.Gettid()), uint64(unix.SIGURG)}},
		{"the runtime naming its memory", "prctl", []uint64{unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, 0x7f0000000000, 1 << 26}},
	} {
		if got := run(t, vm, seccompData(tg.audit, nr(t, tg, c.nr), c.args...)); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("%s: action %#x, want allow", c.name, got)
		}
	}

	read := nr(t, tg, "read")
	for _, arch := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, 0} {
		if arch == tg.audit {
			continue
		}
		if got := run(t, vm, seccompData(arch, read)); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("read of arch %#x: action %#x, want kill-process", arch, got)
		}
	}
	if tg.audit == unix.AUDIT_ARCH_X86_64 {
		if got := run(t, vm, seccompData(tg.audit, x32Bit|read)); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("x32 read: action %#x, want kill-process", got)
		}
	}
}

// TestFilterTrapVariant: the fallback program differs only in its
// forbidden action.
func TestFilterTrapVariant(t *testing.T) {
	vm, tg := filterVM(t, unix.SECCOMP_RET_TRAP)
	if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "execve"))); got != unix.SECCOMP_RET_TRAP {
		t.Errorf("execve: action %#x, want trap", got)
	}
	if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "ioctl"), 3, unix.TUNSETIFF)); got != unix.SECCOMP_RET_TRAP {
		t.Errorf("ioctl TUNSETIFF: action %#x, want trap", got)
	}
}

// TestProgramErrors: a name the architecture lacks, or listed twice, or a
// value outside its mask, is refused rather than silently dropped.
func TestProgramErrors(t *testing.T) {
	tg, err := nativeTarget()
	if err != nil {
		t.Skip(err)
	}
	for _, calls := range [][]Call{
		{{Name: "no_such_call", Why: "x"}},
		{{Name: "read", Why: "x"}, {Name: "read", Why: "y"}},
		{{Name: "clone", Why: "x", Args: &ArgRule{Index: 0, Mask: 1, Values: []Value{{2, "two", "x"}}}}},
		{{Name: "ioctl", Why: "x", Args: &ArgRule{Index: 6, Values: []Value{{2, "two", "x"}}}}},
		// A second rule with a bad argument, and one with no values.
		{{Name: "ioctl", Why: "x", Args: &ArgRule{Index: 0, Values: []Value{{2, "two", "x"}}, And: &ArgRule{Index: 7, Values: []Value{{1, "one", "x"}}}}}},
		{{Name: "ioctl", Why: "x", Args: &ArgRule{Index: 0, Values: []Value{{2, "two", "x"}}, And: &ArgRule{Index: 1}}}},
		// Two chained rules that together jump further than 255.
		{{Name: "ioctl", Why: "x", Args: &ArgRule{Index: 0, Values: manyValues(200), And: &ArgRule{Index: 1, Values: manyValues(200)}}}},
		// A chain that loops.
		{{Name: "ioctl", Why: "x", Args: loopingRule()}},
	} {
		if _, err := program(tg, calls, unix.SECCOMP_RET_TRAP); err == nil {
			t.Errorf("%+v: no error", calls)
		}
	}
	// A long list needs no jump past 255 instructions.
	var many []Value
	for i := range 200 {
		many = append(many, Value{uint32(i), "v", "x"})
	}
	var calls []Call
	for i, name := range []string{"read", "write", "ioctl", "close"} {
		c := Call{Name: name, Why: "x"}
		if i%2 == 0 {
			c.Args = &ArgRule{Index: 1, Values: many}
		}
		calls = append(calls, c)
	}
	prog, err := program(tg, calls, unix.SECCOMP_RET_TRAP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assemble(prog); err != nil {
		t.Fatal(err)
	}
}

// TestExtraCalls: a device's extra calls widen the filter only as asked: a
// call without an argument rule is allowed whatever its arguments, one with
// a rule adds its values, and names the architecture lacks are skipped.
func TestExtraCalls(t *testing.T) {
	deny := uint32(unix.SECCOMP_RET_USER_NOTIF)
	base, tg := filterVM(t, deny)
	extra := []Call{
		{Name: "openat", Why: "test: opens for writing"},
		{Name: "fcntl", Why: "test", Args: &ArgRule{Index: 1, Values: []Value{{unix.F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC", "test"}}}},
		{Name: "mkdirat", Why: "test"},
		{Name: "no_such_call", Why: "test: skipped"},
	}
	wide, _ := filterVMWith(t, deny, extra)
	arch := tg.audit
	openW := seccompData(arch, nr(t, tg, "openat"), 0, 0, unix.O_RDWR|unix.O_CREAT)
	dup := seccompData(arch, nr(t, tg, "fcntl"), 3, unix.F_DUPFD_CLOEXEC)
	mkdir := seccompData(arch, nr(t, tg, "mkdirat"), 0, 0, 0o755)
	getfl := seccompData(arch, nr(t, tg, "fcntl"), 3, unix.F_GETFL)
	setown := seccompData(arch, nr(t, tg, "fcntl"), 3, unix.F_SETOWN)
	for _, d := range [][]byte{openW, dup, mkdir} {
		if got := run(t, base, d); got != deny {
			t.Errorf("the base filter allows %x: %#x", d[:8], got)
		}
		if got := run(t, wide, d); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("with the extra calls, %x is refused: %#x", d[:8], got)
		}
	}
	if got := run(t, wide, getfl); got != unix.SECCOMP_RET_ALLOW {
		t.Errorf("the merged fcntl rule lost F_GETFL: %#x", got)
	}
	if got := run(t, wide, setown); got != deny {
		t.Errorf("the merged fcntl rule allows F_SETOWN: %#x", got)
	}
}

// TestReadOnlyOpenat: the read-only openat a machine adds (--stats, 9p
// shares that are all read-only) allows opening for reading only.
func TestReadOnlyOpenat(t *testing.T) {
	deny := uint32(unix.SECCOMP_RET_USER_NOTIF)
	vm, tg := filterVMWith(t, deny, []Call{ReadOnlyOpenat("test: --stats")})
	openat := nr(t, tg, "openat")
	for flags, want := range map[uint64]uint32{
		unix.O_RDONLY | unix.O_CLOEXEC:                   unix.SECCOMP_RET_ALLOW,
		unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC:   unix.SECCOMP_RET_ALLOW,
		unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOCTTY: unix.SECCOMP_RET_ALLOW,
		unix.O_WRONLY:                                   deny,
		unix.O_RDWR | unix.O_CLOEXEC:                    deny,
		unix.O_RDONLY | unix.O_CREAT:                    deny,
		unix.O_RDONLY | unix.O_TRUNC:                    deny,
		unix.O_WRONLY | unix.O_APPEND:                   deny,
		unix.O_RDONLY | unix.O_APPEND | unix.O_NOFOLLOW: deny,
	} {
		if got := run(t, vm, seccompData(tg.audit, openat, uint64(0xffffff9c), 0, flags)); got != want {
			t.Errorf("openat with flags %#x: action %#x, want %#x", flags, got, want)
		}
	}
	// A second read-only rule (--stats and a read-only share) is the
	// same rule; an unlimited openat (a writable share) wins over it.
	twice, _ := filterVMWith(t, deny, []Call{ReadOnlyOpenat("a"), ReadOnlyOpenat("b")})
	if got := run(t, twice, seccompData(tg.audit, openat, 0, 0, unix.O_RDWR)); got != deny {
		t.Errorf("two read-only rules allow O_RDWR: %#x", got)
	}
	for _, extra := range [][]Call{
		{ReadOnlyOpenat("a"), {Name: "openat", Why: "b"}},
		{{Name: "openat", Why: "b"}, ReadOnlyOpenat("a")},
	} {
		wide, _ := filterVMWith(t, deny, extra)
		if got := run(t, wide, seccompData(tg.audit, openat, 0, 0, unix.O_RDWR|unix.O_CREAT)); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("%s then %s: O_RDWR|O_CREAT gets %#x, want allow", extra[0].Why, extra[1].Why, got)
		}
	}
}

// TestFailAction: a call listed with Fail fails with that error, with
// its argument rule when it has one, and never widens or narrows an entry
// that allows the call.
func TestFailAction(t *testing.T) {
	deny := uint32(unix.SECCOMP_RET_USER_NOTIF)
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	erofs := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EROFS))
	vm, tg := filterVMWith(t, deny, []Call{
		{Name: "openat2", Why: "test", Fail: unix.ENOSYS},
		{Name: "fsync", Why: "test", Fail: unix.EROFS, Args: &ArgRule{Index: 0, Values: []Value{{7, "seven", "test"}}}},
	})
	if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "openat2"), 0, 0, 0, 24)); got != enosys {
		t.Errorf("openat2: action %#x, want ENOSYS (%#x)", got, enosys)
	}
	if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "fsync"), 7)); got != erofs {
		t.Errorf("fsync(7): action %#x, want EROFS (%#x)", got, erofs)
	}
	if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "fsync"), 8)); got != deny {
		t.Errorf("fsync(8): action %#x, want deny", got)
	}
	for _, extra := range [][]Call{
		{{Name: "openat2", Why: "fails", Fail: unix.ENOSYS}, {Name: "openat2", Why: "allowed"}},
		{{Name: "openat2", Why: "allowed"}, {Name: "openat2", Why: "fails", Fail: unix.ENOSYS}},
	} {
		vm, _ := filterVMWith(t, deny, extra)
		if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "openat2"))); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("%s then %s: action %#x, want allow", extra[0].Why, extra[1].Why, got)
		}
	}
	// An allowed entry with a rule keeps its rule.
	vm, _ = filterVMWith(t, deny, []Call{{Name: "fcntl", Why: "fails", Fail: unix.ENOSYS}})
	if got := run(t, vm, seccompData(tg.audit, nr(t, tg, "fcntl"), 3, unix.F_SETOWN)); got != deny {
		t.Errorf("fcntl F_SETOWN after a failing extra: %#x, want deny", got)
	}
	if _, err := program(tg, []Call{{Name: "openat2", Why: "x", Fail: 1 << 16}}, deny); err == nil {
		t.Errorf("an error beyond SECCOMP_RET_DATA was accepted")
	}
}

// manyValues are n distinct values.
func manyValues(n int) []Value {
	var vs []Value
	for i := range n {
		vs = append(vs, Value{uint32(i), "v", "x"})
	}
	return vs
}

// loopingRule is a rule whose And chain comes back to itself.
func loopingRule() *ArgRule {
	r := &ArgRule{Index: 0, Values: []Value{{1, "one", "x"}}}
	r.And = &ArgRule{Index: 1, Values: []Value{{1, "one", "x"}}, And: r}
	return r
}

// TestMergeKeepsRulesApart: an extra call widens a rule only when both
// check the same argument the same way, with the same further
// conditions; otherwise merging fails rather than drop a condition or
// put values on the wrong argument.
func TestMergeKeepsRulesApart(t *testing.T) {
	tg, err := nativeTarget()
	if err != nil {
		t.Skip(err)
	}
	self := Value{0, "the calling thread", "x"}
	normal := Value{unix.SCHED_NORMAL, "SCHED_OTHER", "x"}
	for _, c := range []struct {
		name  string
		extra *ArgRule
		ok    bool
	}{
		{"the same argument and condition", &ArgRule{Index: 0, Values: []Value{{77, "tid", "x"}}, And: &ArgRule{Index: 1, Values: []Value{normal}}}, true},
		{"no second condition", &ArgRule{Index: 0, Values: []Value{{77, "tid", "x"}}}, false},
		{"another second condition", &ArgRule{Index: 0, Values: []Value{{77, "tid", "x"}}, And: &ArgRule{Index: 1, Values: []Value{{unix.SCHED_FIFO, "SCHED_FIFO", "x"}}}}, false},
		{"another argument", &ArgRule{Index: 1, Values: []Value{{unix.SCHED_FIFO, "SCHED_FIFO", "x"}}, And: &ArgRule{Index: 1, Values: []Value{normal}}}, false},
		{"a mask", &ArgRule{Index: 0, Mask: 0xff, Values: []Value{{77, "tid", "x"}}, And: &ArgRule{Index: 1, Values: []Value{normal}}}, false},
	} {
		base := []Call{{Name: "sched_setscheduler", Why: "x", Args: &ArgRule{Index: 0, Values: []Value{self}, And: &ArgRule{Index: 1, Values: []Value{normal}}}}}
		out, err := merge(tg, base, []Call{{Name: "sched_setscheduler", Why: "y", Args: c.extra}})
		if (err == nil) != c.ok {
			t.Errorf("%s: merge error %v, want error: %v", c.name, err, !c.ok)
			continue
		}
		if c.ok && (len(out) != 1 || len(out[0].Args.Values) != 2 || out[0].Args.And == nil || base[0].Args.Values[0] != self || len(base[0].Args.Values) != 1) {
			t.Errorf("%s: merged into %+v (base now %+v)", c.name, out, base[0].Args)
		}
	}
}
