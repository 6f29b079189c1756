package results

import (
	"strings"
	"testing"
)

// parseText runs lines through a parser and finishes it.
func parseText(t testing.TB, text string) *Document {
	t.Helper()
	p := NewParser(Options{Clock: fakeClock()})
	p.Write([]byte(strings.TrimPrefix(text, "\n")))
	return p.Finish()
}

type wantProblem struct {
	sig   string
	kind  string
	fatal bool
	lines int    // lines in its report; 0: not checked
	last  string // its report's last line; "": not checked
}

// TestSignatures reads one short report of each kind the brief and syzbot
// name and checks its signature, kind and extent.
func TestSignatures(t *testing.T) {
	for _, c := range []struct {
		name string
		text string
		want []wantProblem
	}{
		{"x86 KASAN, symbolized, unreliable frames", `
==================================================================
BUG: KASAN: slab-out-of-bounds in memcpy+0x20/0x60
Write of size 16 at addr ffff888012345678 by task foo/12

CPU: 0 PID: 12 Comm: foo Not tainted 6.1.0 #1
Call Trace:
 <TASK>
 __dump_stack lib/dump_stack.c:88 [inline]
 dump_stack_lvl+0x48/0x60 lib/dump_stack.c:106
 print_report+0x1a/0x200 mm/kasan/report.c:300
 ? gokvm_unrelated+0x10/0x20
 kasan_report+0xb0/0xe0 mm/kasan/report.c:400
 memcpy+0x20/0x60 mm/kasan/shadow.c:65
 gokvm_copy+0x30/0x50 drivers/misc/gokvm.c:12
 vfs_write+0x100/0x200 fs/read_write.c:582
 </TASK>

Allocated by task 12:
 kasan_save_stack+0x1c/0x40
 gokvm_alloc+0x10/0x20
==================================================================
after`, []wantProblem{{"KASAN: slab-out-of-bounds Write in gokvm_copy", "kasan", false, 21, "=================================================================="}}},
		{"KASAN double free", `
BUG: KASAN: double-free in kfree+0x60/0xc0
Free of addr ffff0000c3f1a000 by task sh/1
Call trace:
 dump_backtrace+0xe4/0x140
 kasan_report_invalid_free+0x50/0x80
 kfree+0x60/0xc0
 gokvm_free_twice+0x30/0x40
 gokvm_write+0x20/0x40
==================================================================`, []wantProblem{{"KASAN: invalid-free in gokvm_free_twice", "kasan", false, 0, ""}}},
		{"KFENCE", `
==================================================================
BUG: KFENCE: use-after-free read in test_use_after_free_read+0xb3/0x143

Use-after-free read at 0x000000004cd9b3b2 (in kfence-#79):
 test_use_after_free_read+0xb3/0x143
 kunit_try_run_case+0x51/0x85
==================================================================`, []wantProblem{{"KFENCE: use-after-free in test_use_after_free_read", "kfence", false, 7, ""}}},
		{"UBSAN", `
================================================================================
UBSAN: array-index-out-of-bounds in drivers/misc/gokvm.c:33:9
index 8 is out of range for type 'int [8]'
CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
Hardware name: linux,dummy-virt (DT)
Call trace:
 dump_backtrace+0xe4/0x140
 show_stack+0x20/0x30
 dump_stack_lvl+0x64/0x80
 dump_stack+0x18/0x34
 ubsan_epilogue+0x10/0x50
 __ubsan_handle_out_of_bounds+0x8c/0xa4
 gokvm_index+0x40/0x50
 gokvm_write+0x20/0x40
================================================================================
after`, []wantProblem{{"UBSAN: array-index-out-of-bounds in gokvm_index", "ubsan", false, 15, ""}}},
		{"sleeping in atomic context", `
BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580
in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 1, name: sh
preempt_count: 1, expected: 0
CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
Call trace:
 dump_backtrace+0xe4/0x140
 show_stack+0x20/0x30
 dump_stack_lvl+0x64/0x80
 __might_resched+0x15c/0x1a0
 __might_sleep+0x54/0xa4
 mutex_lock+0x24/0x70
 gokvm_atomic_sleep+0x2c/0x50
 el0t_64_sync+0x190/0x194
sh: the next thing`, []wantProblem{{"BUG: sleeping function called from invalid context in gokvm_atomic_sleep", "bug", false, 13, " el0t_64_sync+0x190/0x194"}}},
		{"workqueue lockup", `
BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!
Showing busy workqueues and worker pools:
workqueue events: flags=0x0
  pwq 0: cpus=0 node=0 flags=0x0 nice=0 active=1/256 refcnt=2
    pending: gokvm_work [gokvm_test]
Showing backtraces of running workers in stalled CPU-bound worker pools:
random: unrelated`, []wantProblem{{"BUG: workqueue lockup", "workqueue_lockup", false, 6, ""}}},
		{"arm64 BUG()", `
------------[ cut here ]------------
kernel BUG at drivers/misc/gokvm.c:99!
Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP
Modules linked in:
CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
pc : gokvm_bug+0x10/0x14
lr : gokvm_write+0x2c/0x50
Call trace:
 gokvm_bug+0x10/0x14
 gokvm_write+0x2c/0x50
Code: d503233f a9bf7bfd 910003fd d4210000 (d4210000)
---[ end trace 0000000000000000 ]---`, []wantProblem{{"kernel BUG in gokvm_bug", "kernel_bug", false, 12, ""}}},
		{"hard lockup, then its panic", `
watchdog: Watchdog detected hard LOCKUP on cpu 1
Modules linked in:
CPU: 1 PID: 0 Comm: swapper/1 Not tainted 6.1.0 #1
pc : gokvm_irq_spin+0x8/0x10
Call trace:
 gokvm_irq_spin+0x8/0x10
 gokvm_timer_fn+0x20/0x30
 call_timer_fn+0x34/0x1a0
 __run_timers+0x220/0x300
Kernel panic - not syncing: Hard LOCKUP
CPU: 1 PID: 0 Comm: swapper/1 Not tainted 6.1.0 #1
Call trace:
 dump_backtrace+0xe4/0x140
 panic+0x18c/0x394
 watchdog_hardlockup_check+0x100/0x120
---[ end Kernel panic - not syncing: Hard LOCKUP ]---`, []wantProblem{{"BUG: hard lockup in gokvm_timer_fn", "hard_lockup", true, 16, ""}}},
		{"lockdep", `
======================================================
WARNING: possible circular locking dependency detected
6.1.0 #1 Not tainted
------------------------------------------------------
sh/1 is trying to acquire lock:
ffff0000c1a2b3c8 (&gokvm->b){+.+.}-{3:3}, at: gokvm_take_b+0x2c/0x60

but task is already holding lock:
ffff0000c1a2b3a0 (&gokvm->a){+.+.}-{3:3}, at: gokvm_take_a+0x20/0x50

stack backtrace:
CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
Call trace:
 dump_backtrace+0xe4/0x140
 lock_acquire+0x1e0/0x300
 __mutex_lock+0x9c/0x460
 mutex_lock_nested+0x2c/0x40
 gokvm_take_b+0x2c/0x60
 gokvm_write+0x40/0x80
sh: after`, []wantProblem{{"possible deadlock in gokvm_take_b", "lockdep", false, 0, ""}}},
		{"x86 general protection fault", `
general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN
CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
RIP: 0010:gokvm_gpf+0x12/0x30
Code: 48 89 e5 41 54 53 <48> 8b 07
RSP: 0018:ffffc90000abcd00 EFLAGS: 00010246
Call Trace:
 <TASK>
 ? die_addr+0x3c/0x90
 ? exc_general_protection+0x150/0x220
 gokvm_write+0x20/0x40
 </TASK>
---[ end trace 0000000000000000 ]---`, []wantProblem{{"general protection fault in gokvm_gpf", "oops", false, 12, ""}}},
		{"refcount WARNING names the caller", `
------------[ cut here ]------------
refcount_t: underflow; use-after-free.
WARNING: CPU: 0 PID: 1 at lib/refcount.c:28 refcount_warn_saturate+0x13c/0x174
pc : refcount_warn_saturate+0x13c/0x174
Call trace:
 refcount_warn_saturate+0x13c/0x174
 gokvm_put+0x50/0x60
 gokvm_release+0x10/0x20
---[ end trace 0000000000000000 ]---`, []wantProblem{{"WARNING: refcount bug in gokvm_put", "warning", false, 0, ""}}},
		{"panic_on_warn: the panic inside the WARNING", `
WARNING: CPU: 0 PID: 1 at drivers/misc/gokvm.c:7 gokvm_warn+0x8/0x10
Call trace:
 gokvm_warn+0x8/0x10
 gokvm_write+0x20/0x40
Kernel panic - not syncing: kernel: panic_on_warn set ...
Call trace:
 panic+0x18c/0x394
 check_panic_on_warn+0x60/0x7c
---[ end Kernel panic - not syncing: kernel: panic_on_warn set ... ]---`, []wantProblem{{"WARNING in gokvm_warn", "warning", true, 9, ""}}},
		{"a Fatal exception panic alone", `
Kernel panic - not syncing: Oops: Fatal exception
---[ end Kernel panic - not syncing: Oops: Fatal exception ]---`, []wantProblem{{"kernel panic: Oops: Fatal exception", "panic", true, 2, ""}}},
		{"a panic long after an unrelated WARNING is its own", `
WARNING: CPU: 0 PID: 1 at drivers/misc/gokvm.c:7 gokvm_warn+0x8/0x10
---[ end trace 0000000000000000 ]---
` + strings.Repeat("busy\n", foldWindow+1) + `Kernel panic - not syncing: Fatal exception in interrupt`,
			[]wantProblem{{"WARNING in gokvm_warn", "warning", false, 2, ""}, {"kernel panic: Fatal exception in interrupt", "panic", true, 1, ""}}},
		{"panic messages lose what varies", `
Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b
---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b ]---
Kernel panic - not syncing: timer 123456 at 0xffff800008123456 (gokvm_fn+0x10/0x20) expired on CPU#3
---[ end Kernel panic - not syncing: timer ]---
Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)`,
			[]wantProblem{{"kernel panic: Attempted to kill init!", "panic", true, 2, ""},
				{"kernel panic: timer NUM at ADDR (gokvm_fn) expired on CPU", "panic", true, 2, ""},
				{"kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)", "panic", true, 1, ""}}},
		{"headers that are not the kernel's", `
    # BUG: quoted by a test
sh: BUG: echoed
echo "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"
WARNING: something a script says`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := parseText(t, c.text)
			if len(d.Problems) != len(c.want) {
				var sigs []string
				for _, p := range d.Problems {
					sigs = append(sigs, p.Signature)
				}
				t.Fatalf("%d problems %q, want %d", len(d.Problems), sigs, len(c.want))
			}
			for i, w := range c.want {
				p := d.Problems[i]
				if p.Signature != w.sig || p.Kind != w.kind || p.Fatal != w.fatal {
					t.Errorf("problem %d: %q %s fatal=%v, want %q %s fatal=%v", i, p.Signature, p.Kind, p.Fatal, w.sig, w.kind, w.fatal)
				}
				if w.lines != 0 && len(p.Report) != w.lines {
					t.Errorf("problem %d: %d report lines, want %d:\n%s", i, len(p.Report), w.lines, strings.Join(p.Report, "\n"))
				}
				if w.last != "" && p.Report[len(p.Report)-1] != w.last {
					t.Errorf("problem %d: report ends %q, want %q", i, p.Report[len(p.Report)-1], w.last)
				}
			}
		})
	}
}

// TestSignatureStable: one WARNING as two builds and runs print it (other
// timestamps, CPU, PID, line, offsets, addresses, clone suffixes) is one
// signature.
func TestSignatureStable(t *testing.T) {
	a := parseText(t, string(readLog(t, "warning")))
	b := parseText(t, string(readLog(t, "warning-rebuilt")))
	if len(a.Signatures) != 1 || len(b.Signatures) != 1 || a.Signatures[0].Signature != b.Signatures[0].Signature {
		t.Fatalf("signatures %+v and %+v differ", a.Signatures, b.Signatures)
	}
	if a.Problems[0].Title == b.Problems[0].Title {
		t.Fatal("the two logs are the same WARNING line: the test proves nothing")
	}
	both := parseText(t, string(readLog(t, "warning"))+string(readLog(t, "warning-rebuilt")))
	if len(both.Signatures) != 1 || both.Signatures[0].Count != 2 || len(both.Problems) != 2 {
		t.Fatalf("one console with both: %d signatures, %d problems, want 1 counted twice and 2 reports", len(both.Signatures), len(both.Problems))
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"foo+0x1c/0x40 at 0xffff800008123456": "foo at ADDR",
		"pfn:12345678 pid 1234 error -2":      "pfn:ADDR pid NUM error -2",
		"drivers/x.c:123 CPU#1 cafe00112233":  "drivers/x.c:LINE CPU ADDR",
		"facade deadbeef ext4 sda1":           "facade deadbeef ext4 sda1",
		"  spaces   and\ttabs.  ":             "spaces and tabs",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sanitize(strings.Repeat("x", 500)); len(got) != maxSignature {
		t.Errorf("a long message gives %d bytes, want %d", len(got), maxSignature)
	}
}

// TestFrames reads the frame lines of arm64, x86 and symbolized traces.
func TestFrames(t *testing.T) {
	for in, want := range map[string]string{
		"el0_svc_common.constprop.0+0x4c/0xf4":        "el0_svc_common",
		"gokvm_fn+0x1c/0x40 [gokvm_test]":             "gokvm_fn",
		"? unreliable_fn+0x10/0x20":                   "?unreliable_fn",
		"[<ffff800008a1b2c4>] old_style+0x10/0x20":    "old_style",
		"__dump_stack lib/dump_stack.c:88 [inline]":   "__dump_stack",
		"show_stack+0x18/0x24 (C)":                    "show_stack",
		"pc : gokvm_fn+0x1c/0x40":                     "",
		"x29: ffff80000a6a3d30 x28: ffff0000c1b4a600": "",
	} {
		fn, unreliable, ok := parseFrame(in)
		got := fn
		if unreliable {
			got = "?" + fn
		}
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("parseFrame(%q) = %q, want %q", in, got, want)
		}
	}
}
