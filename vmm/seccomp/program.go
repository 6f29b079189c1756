package seccomp

import (
	"fmt"
	"slices"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (linux/seccomp.h): int nr; u32 arch;
// u64 instruction_pointer; u64 args[6]. gokvm's hosts are little-endian,
// so an argument's low 32 bits come first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// x32Bit marks the x32 ABI's system call numbers on x86_64.
const x32Bit = 0x40000000

// target is the architecture a program is built for.
type target struct {
	goarch string
	audit  uint32            // AUDIT_ARCH_* in seccomp_data.arch
	nr     map[string]uint32 // system call numbers by name
}

// nativeTarget is the architecture gokvm was built for.
func nativeTarget() (target, error) {
	if auditArch == 0 {
		return target{}, fmt.Errorf("seccomp: no filter for GOARCH %s (gokvm's filter knows amd64, arm64 and arm)", goarch)
	}
	t := target{goarch: goarch, audit: auditArch, nr: make(map[string]uint32, len(sysNames))}
	for nr, name := range sysNames {
		t.nr[name] = uint32(nr)
	}
	return t, nil
}

// applies says whether an allow-list entry is for t's architecture.
func (c Call) applies(t target) bool { return c.AppliesTo(t.goarch) }

// program builds the filter: a system call of another architecture (or
// x86_64's x32 ABI) kills the process at once; an allowed call is
// allowed; anything else gets deny (SECCOMP_RET_USER_NOTIF, so gokvm's
// listener names it, or SECCOMP_RET_TRAP where the kernel has no
// listener for a whole process). Each allowed call is a compare and a
// return; a call with an argument rule is a compare that skips a block
// of its own which loads the argument and ends in returns, so no jump is
// longer than classic BPF's 255 instructions however long the list.
func program(t target, calls []Call, deny uint32) ([]bpf.Instruction, error) {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: t.audit, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
	}
	if t.audit == unix.AUDIT_ARCH_X86_64 {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
			bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS})
	}
	seen := map[string]bool{}
	for _, c := range calls {
		if !c.applies(t) {
			continue
		}
		nr, ok := t.nr[c.Name]
		if !ok {
			return nil, fmt.Errorf("seccomp: the allow-list names %q, which linux/%s does not have", c.Name, t.goarch)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("seccomp: the allow-list names %q twice", c.Name)
		}
		seen[c.Name] = true
		if c.Fail > unix.SECCOMP_RET_DATA {
			return nil, fmt.Errorf("seccomp: %s: error %d does not fit SECCOMP_RET_ERRNO", c.Name, c.Fail)
		}
		if c.Args == nil {
			prog = append(prog,
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
				bpf.RetConstant{Val: c.action()})
			continue
		}
		block, err := argBlock(c.Name, c.Args, deny, c.action())
		if err != nil {
			return nil, err
		}
		if len(block) > 255 {
			return nil, fmt.Errorf("seccomp: %s: its argument rules take %d instructions, more than a jump can skip", c.Name, len(block))
		}
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: uint8(len(block))})
		prog = append(prog, block...)
	}
	if deny == unix.SECCOMP_RET_USER_NOTIF {
		// Go's syscall.Exec holds the runtime's exec lock, which stops
		// new threads, across the execve, on a thread that keeps its P:
		// the listener could then find no P and no thread to run on,
		// and the notified call would wait for ever (seen under load).
		// An exec is trapped instead: SIGSYS, and the Go runtime's
		// traceback shows the exec.
		for _, name := range trappedCalls {
			if nr, ok := t.nr[name]; ok {
				prog = append(prog,
					bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
					bpf.RetConstant{Val: unix.SECCOMP_RET_TRAP})
			}
		}
	}
	return append(prog, bpf.RetConstant{Val: deny}), nil
}

// trappedCalls are forbidden calls that are trapped (SIGSYS), never
// handed to the listener, in every mode: see program.
var trappedCalls = []string{"execve", "execveat"}

// action is what the filter answers a call the list lets through:
// allowed, or failed with Fail's error.
func (c Call) action() uint32 {
	if c.Fail != 0 {
		return unix.SECCOMP_RET_ERRNO | uint32(c.Fail)
	}
	return unix.SECCOMP_RET_ALLOW
}

// argBlock checks one argument of a call whose number is matched, and
// the arguments of the rules r.And chains: it returns action when every
// rule's argument has a listed value and deny when one does not.
func argBlock(name string, r *ArgRule, deny, action uint32) ([]bpf.Instruction, error) {
	return argBlockDepth(name, r, deny, action, 0)
}

// maxArgRules bounds a chain of rules (And): a system call has six
// arguments, and a chain that loops must not recurse for ever.
const maxArgRules = 6

func argBlockDepth(name string, r *ArgRule, deny, action uint32, depth int) ([]bpf.Instruction, error) {
	if depth >= maxArgRules {
		return nil, fmt.Errorf("seccomp: %s: more than %d argument rules in a chain", name, maxArgRules)
	}
	if r.Index < 0 || r.Index > 5 || len(r.Values) == 0 {
		return nil, fmt.Errorf("seccomp: %s: bad argument rule on argument %d with %d values", name, r.Index, len(r.Values))
	}
	block := []bpf.Instruction{bpf.LoadAbsolute{Off: uint32(offArgs + 8*r.Index), Size: 4}}
	if r.Mask != 0 {
		block = append(block, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: r.Mask})
	}
	n := len(r.Values)
	if n > 250 {
		return nil, fmt.Errorf("seccomp: %s: %d values are too many for one block", name, n)
	}
	for i, v := range r.Values {
		if r.Mask != 0 && v.V&^r.Mask != 0 {
			return nil, fmt.Errorf("seccomp: %s: value %s (%#x) has bits outside the mask %#x", name, v.Name, v.V, r.Mask)
		}
		// On a match, skip the other compares and the deny.
		block = append(block, bpf.JumpIf{Cond: bpf.JumpEqual, Val: v.V, SkipTrue: uint8(n - i)})
	}
	block = append(block, bpf.RetConstant{Val: deny})
	if r.And == nil {
		return append(block, bpf.RetConstant{Val: action}), nil
	}
	// A match lands on the next rule's load instead of the action.
	next, err := argBlockDepth(name, r.And, deny, action, depth+1)
	if err != nil {
		return nil, err
	}
	return append(block, next...), nil
}

// assemble turns a program into what seccomp(2) takes.
func assemble(prog []bpf.Instruction) ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assembling the filter: %w", err)
	}
	if len(raw) > bpfMaxInsns {
		return nil, fmt.Errorf("seccomp: the filter has %d instructions; the kernel takes at most %d", len(raw), bpfMaxInsns)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// bpfMaxInsns is BPF_MAXINSNS, the kernel's limit for a classic program.
const bpfMaxInsns = 4096

// merge adds extra calls to base: a call base does not have is appended,
// one it has replaces its entry (no argument rule: allowed whatever the
// arguments) or widens its rule (more values for the same argument, with
// the same mask and the same further conditions, And); rules that differ
// otherwise do not combine into one, and are an error. A call that fails
// (Fail) never widens another entry: it is added only where nothing names
// the call yet, and an entry that allows the call takes its place. Extra
// calls that t's architecture lacks are skipped.
func merge(t target, base, extra []Call) ([]Call, error) {
	out := append([]Call(nil), base...)
	for _, e := range extra {
		if _, ok := t.nr[e.Name]; !ok || !e.applies(t) {
			continue
		}
		i := slices.IndexFunc(out, func(c Call) bool { return c.Name == e.Name && c.applies(t) })
		switch {
		case i < 0:
			out = append(out, e)
		case e.Fail != 0:
		case out[i].Fail != 0:
			out[i] = e
		case e.Args == nil || out[i].Args == nil:
			out[i] = Call{Name: e.Name, Why: out[i].Why + "; " + e.Why, Only: out[i].Only}
		case !sameShape(e.Args, out[i].Args):
			return nil, fmt.Errorf("seccomp: %s: the extra rule (%s) checks other arguments than the allow-list's (%s), and the two do not combine into one rule", e.Name, e.Args.shape(), out[i].Args.shape())
		default:
			rule := *out[i].Args
			rule.Values = append(append([]Value(nil), rule.Values...), e.Args.Values...)
			out[i] = Call{Name: e.Name, Why: out[i].Why + "; " + e.Why, Only: out[i].Only, Args: &rule}
		}
	}
	return out, nil
}

// sameShape reports whether two rules check the same argument with the
// same mask, and have the same further conditions (And, values and all),
// so that the union of their first values is the union of what they
// allow.
func sameShape(a, b *ArgRule) bool {
	if a.Index != b.Index || a.Mask != b.Mask {
		return false
	}
	if a.And == nil || b.And == nil {
		return a.And == nil && b.And == nil
	}
	return sameShape(a.And, b.And) && slices.EqualFunc(a.And.Values, b.And.Values, func(x, y Value) bool { return x.V == y.V })
}

// shape names the arguments a rule checks: "argument 1 & 0x3, then
// argument 0".
func (r *ArgRule) shape() string {
	s := ""
	for ; r != nil; r = r.And {
		if s != "" {
			s += ", then "
		}
		s += fmt.Sprintf("argument %d", r.Index)
		if r.Mask != 0 {
			s += fmt.Sprintf(" & %#x", r.Mask)
		}
	}
	return s
}
