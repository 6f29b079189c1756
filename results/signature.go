package results

import (
	"strings"
)

// Signatures follow syzbot's titles (syzkaller's pkg/report), so a
// problem found under gokvm reads like, and can be matched with, the same
// bug on syzbot's dashboard: "WARNING in foo", "KASAN: use-after-free Read
// in foo", "BUG: unable to handle kernel NULL pointer dereference in foo",
// "kernel panic: <message>". The function named is the first frame of the
// call trace that is not the kernel's reporting machinery (genericFrame):
// it is what stays the same across runs and builds, where addresses,
// offsets, timestamps, PIDs and CPU numbers do not.

// frameRe matches a call trace frame: arm64 " foo+0x1c/0x40 [mod]", x86
// " ? foo+0x1c/0x40" (the "?" marks a frame the unwinder only guessed),
// and the older "[<ffff...>] foo+0x1c/0x40".
var frameRe = lazyRegexp(`^(?:\[<?(?:0x)?[0-9a-f]+>?\]\s*)*(\?\s+)?([A-Za-z_$][A-Za-z0-9_.$]*)\+0x[0-9a-f]+/0x[0-9a-f]+`)

// inlineFrameRe matches a symbolized inline frame, " __dump_stack
// lib/dump_stack.c:88 [inline]".
var inlineFrameRe = lazyRegexp(`^([A-Za-z_][A-Za-z0-9_.]*) \S+:\d+ \[inline\]`)

// parseFrame reads the function of a frame line (trimmed); unreliable is
// set for a "?" frame, which names a stale return address on the stack.
func parseFrame(s string) (fn string, unreliable, ok bool) {
	if m := frameRe.FindStringSubmatch(s); m != nil {
		return baseName(m[2]), m[1] != "", true
	}
	if m := inlineFrameRe.FindStringSubmatch(s); m != nil {
		return baseName(m[1]), false, true
	}
	return "", false, false
}

// funcOf reads the function of "foo.isra.0+0x1c/0x40 [mod]".
func funcOf(tok string) string {
	if i := strings.IndexByte(tok, '+'); i > 0 {
		tok = tok[:i]
	}
	if !isIdent(tok) {
		return ""
	}
	return baseName(tok)
}

// baseName drops the compiler's clone suffixes (.constprop.0, .isra.0,
// .part.0, .cold, .llvm.123): they change with the compiler and its
// version, the function does not.
func baseName(fn string) string {
	if i := strings.IndexByte(fn, '.'); i > 0 {
		return fn[:i]
	}
	return fn
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '.' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// genericExact, genericPrefix and genericContains are the frames that are
// the kernel reporting a problem, not having it: stack dumping, the
// WARN/BUG trap path, the arm64 fault and debug exception entry, panic,
// the sanitizers' runtime, the lockup and stall detectors with the timer
// interrupt that runs them, printk, and the locking, string and list
// helpers in which a bug shows but does not live. Written after syzbot's
// skip list (pkg/report linux.go) and the arm64 traces of Linux 6.x.
var genericExact = setOf(
	// stack dumps
	"dump_backtrace", "show_stack", "dump_stack", "dump_stack_lvl", "__dump_stack",
	"show_regs", "__show_regs", "show_trace_log_lvl", "show_regs_if_kernel", "sched_show_task",
	"arch_stack_walk", "stack_trace_save", "stack_trace_consume_entry", "walk_stackframe",
	// WARN and BUG traps (arm64 BRK, x86 UD2)
	"__warn", "report_bug", "bug_handler", "bug_brk_handler", "brk_handler", "call_break_hook",
	"call_el1_break_hook", "do_debug_exception", "el1_dbg", "el1_brk64", "do_el1_brk64",
	"handle_bug", "exc_invalid_op", "asm_exc_invalid_op", "invalid_op", "fixup_bug",
	"do_trap", "do_error_trap", "do_undefinstr", "el1_undef", "do_el1_undef",
	// dying
	"die", "__die", "die_kernel_fault", "arm64_notify_die", "oops_end", "make_task_dead",
	"check_panic_on_warn", "__warn_printk",
	// arm64 and x86 fault entry
	"do_mem_abort", "el1_abort", "el1_da", "el1_ia", "el1_pc", "el1_sp_pc", "do_sp_pc_abort",
	"do_page_fault", "do_translation_fault", "__do_kernel_fault", "do_kernel_fault",
	"do_bad_area", "do_sea", "do_alignment_fault", "do_tag_check_fault", "do_el1_fpac",
	"el1h_64_sync", "el1h_64_sync_handler", "el1t_64_sync_handler",
	"page_fault_oops", "kernelmode_fixup_or_oops", "exc_page_fault", "asm_exc_page_fault",
	"do_user_addr_fault", "bad_area_nosemaphore", "__bad_area_nosemaphore", "no_context",
	"exc_general_protection", "asm_exc_general_protection",
	// sleeping in atomic context checks
	"__might_sleep", "___might_sleep", "__might_resched", "__might_fault", "might_fault",
	"might_sleep", "__cant_sleep", "__cant_migrate",
	// the timer interrupt that runs the lockup and stall detectors
	"watchdog_timer_fn", "watchdog_overflow_callback", "watchdog_hardlockup_check",
	"watchdog_buddy_check_hardlockup", "__hrtimer_run_queues", "hrtimer_interrupt",
	"hrtimer_run_queues", "arch_timer_handler_virt", "arch_timer_handler_phys",
	"handle_percpu_devid_irq", "generic_handle_domain_irq", "handle_domain_irq",
	"__handle_domain_irq", "generic_handle_irq", "handle_irq_desc", "gic_handle_irq",
	"call_on_irq_stack", "do_interrupt_handler", "el1_interrupt", "el1h_64_irq_handler",
	"el1h_64_irq", "el0_interrupt", "tick_sched_handle", "tick_sched_timer",
	"tick_nohz_handler", "update_process_times", "irq_exit", "irq_exit_rcu", "__irq_exit_rcu",
	"sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt",
	"__sysvec_apic_timer_interrupt", "apic_timer_interrupt", "smp_apic_timer_interrupt",
	"ipi_handler", "do_handle_IPI", "handle_IPI",
	// the stall and lockup printers
	"rcu_dump_cpu_stacks", "print_cpu_stall", "print_other_cpu_stall", "check_cpu_stall",
	"rcu_pending", "rcu_sched_clock_irq", "rcu_check_gp_kthread_starvation",
	"rcu_print_task_stall", "rcu_check_callbacks", "dump_cpu_task",
	"trigger_single_cpu_backtrace", "nmi_trigger_cpumask_backtrace", "nmi_cpu_backtrace",
	"arch_trigger_cpumask_backtrace", "trigger_all_cpu_backtrace",
	// panic
	"panic", "nmi_panic", "vpanic", "__panic",
	// proc and debugfs file wrappers: the callback they call is the
	// interesting frame
	"proc_reg_write", "proc_reg_read", "proc_reg_read_iter", "proc_reg_unlocked_ioctl",
	"proc_reg_compat_ioctl", "proc_reg_mmap", "full_proxy_write", "full_proxy_read",
	"full_proxy_unlocked_ioctl",
	// string and memory helpers
	"memcpy", "__memcpy", "memmove", "__memmove", "memset", "__memset", "memcmp", "memchr",
	"strlen", "strnlen", "strcmp", "strncmp", "strcpy", "strncpy", "strscpy", "strlcpy",
	"strchr", "strstr", "strnstr", "strdup", "strndup", "kstrdup", "kmemdup",
	// printk
	"printk", "_printk", "vprintk", "vprintk_emit", "vprintk_default", "vprintk_func",
	"console_unlock", "dev_printk_emit", "dev_vprintk_emit",
)

var genericPrefix = []string{
	"dump_backtrace", "dump_stack", "warn_slowpath", "kasan_", "__kasan_", "__asan_", "asan_",
	"kfence_", "__kfence_", "ubsan_", "__ubsan_", "kmsan_", "__msan_", "kcsan_", "__tsan_",
	"print_report", "print_address_description", "print_error_description",
	"lock_acquire", "lock_release", "lockdep_", "__lock_acquire", "mark_lock",
	"_raw_spin_", "__raw_spin_", "_raw_read_", "_raw_write_", "do_raw_spin_",
	"mutex_", "__mutex_", "rt_mutex_", "down_", "up_read", "up_write", "__down", "__up",
	"refcount_", "__refcount_", "kref_", "__list_", "list_add", "list_del",
	"_copy_to_user", "_copy_from_user", "__arch_copy_", "copy_to_user", "copy_from_user",
	"rcu_stall_", "rcu_dump_",
}

var genericContains = []string{
	"spin_lock", "spin_unlock", "spin_trylock", "read_lock", "write_lock",
	"read_unlock", "write_unlock",
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// genericFrame tells a frame of the reporting machinery (see genericExact);
// extra are more substrings to skip for one kind of report.
func genericFrame(fn string, extra []string) bool {
	if fn == "" || genericExact[fn] {
		return true
	}
	for _, p := range genericPrefix {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	for _, c := range genericContains {
		if strings.Contains(fn, c) {
			return true
		}
	}
	for _, c := range extra {
		if strings.HasPrefix(c, "^") {
			if strings.HasPrefix(fn, c[1:]) {
				return true
			}
		} else if strings.Contains(fn, c) {
			return true
		}
	}
	return false
}

// syscallPrefixes are the wrappers' prefixes on a system call's entry
// function; syzbot strips them so "__arm64_sys_write" and
// "__x64_sys_write" are one function.
var syscallPrefixes = []string{
	"__arm64_compat_sys_", "__arm64_sys_", "__x64_sys_", "__ia32_sys_", "__se_sys_",
	"__do_sys_", "____sys_", "___sys_", "__sys_", "ksys_", "sys_", "SyS_", "SYSC_",
}

func stripSyscall(fn string) string {
	for _, p := range syscallPrefixes {
		if strings.HasPrefix(fn, p) && len(fn) > len(p) {
			return fn[len(p):]
		}
	}
	return fn
}

// firstFrame is the first of frames that is not generic.
func firstFrame(frames []string, extra []string) string {
	for _, f := range frames {
		if !genericFrame(f, extra) {
			return stripSyscall(f)
		}
	}
	return ""
}

// irqEntry are the frames where an interrupt entered the code that was
// running: a stall's culprit is below them, the detector above.
var irqEntry = setOf("el1h_64_irq", "el1h_64_irq_handler", "el1_interrupt",
	"apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt")

// stallAnchors are where work is dispatched: syscall entry, kthreads,
// workqueues, softirqs, page faults, the file and socket operations that
// fan out to drivers. A loop that stalls a CPU is caught anywhere inside
// it, so the frame that names it is the one just above the dispatcher
// (syzbot's linuxStallFrameExtractor), not the top.
var stallAnchors = setOf(
	"invoke_syscall", "el0_svc_common", "do_el0_svc", "el0_svc", "do_syscall_64",
	"do_syscall_x64", "do_fast_syscall_32", "ret_from_fork", "kthread", "worker_thread",
	"process_one_work", "smpboot_thread_fn", "run_ksoftirqd", "call_timer_fn", "__run_timers",
	"run_timer_softirq", "tasklet_action", "tasklet_action_common", "tasklet_hi_action",
	"cpu_startup_entry", "do_idle", "secondary_start_kernel", "start_kernel",
	"vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "vfs_ioctl",
	"do_iter_readv_writev", "do_dentry_open", "vfs_open", "mmap_region", "do_mmap",
	"sock_sendmsg", "sock_recvmsg", "__sock_release", "sock_ioctl", "sock_do_ioctl",
	"netif_receive_skb", "handle_mm_fault", "do_page_fault", "__do_fault",
	"task_work_run", "__fput", "exit_to_user_mode", "smp_call_function_single",
)

// stallFrame names a stall or lockup: below the interrupt that caught it,
// the nearest non-generic frame above the first dispatcher.
func stallFrame(frames []string) string {
	for i, f := range frames {
		if irqEntry[f] {
			j := i
			for j < len(frames) && irqEntry[frames[j]] {
				j++
			}
			if j < len(frames) {
				frames = frames[j:]
			}
			break
		}
	}
	for i, f := range frames {
		if !stallAnchors[f] {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if !genericFrame(frames[j], nil) {
				return stripSyscall(frames[j])
			}
		}
		return stripSyscall(f)
	}
	return firstFrame(frames, nil)
}

// hungTaskFrame names a hung task. A task hangs waiting, in a lock,
// completion or RCU grace period somebody else holds up, so the waiting
// primitives say nothing; two waits are common enough to name as such
// (syzbot's linuxHangTaskFrameExtractor).
func hungTaskFrame(frames []string) string {
	for _, f := range frames {
		switch {
		case strings.HasPrefix(f, "rtnl_lock"):
			return "rtnl_lock"
		case strings.HasPrefix(f, "synchronize_rcu"), strings.HasPrefix(f, "synchronize_srcu"),
			strings.HasPrefix(f, "synchronize_net"), strings.HasPrefix(f, "synchronize_sched"):
			return "synchronize_rcu"
		}
	}
	return firstFrame(frames, []string{"sched", "_lock", "_slowlock", "down", "completion",
		"kthread", "wait", "synchronize", "context_switch", "__switch_to", "cancel_delayed_work",
		"^io_schedule", "^rwsem_", "^percpu_", "^folio_wait", "^__folio_lock"})
}

// Patterns of sanitize: what varies between runs in a message.
var (
	offsetRe  = lazyRegexp(`([A-Za-z_][A-Za-z0-9_.]*)\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+`)
	hex0xRe   = lazyRegexp(`0x[0-9a-fA-F]+`)
	hexRunRe  = lazyRegexp(`\b[0-9a-fA-F]*[0-9][0-9a-fA-F]*\b`)
	srcLineRe = lazyRegexp(`(\.[chS]|\.rs)(?::[0-9]+)+`)
	cpuRe     = lazyRegexp(`CPU#?[0-9]+`)
	spacesRe  = lazyRegexp(`\s+`)
)

// maxSignature bounds a signature's length.
const maxSignature = 200

// sanitize takes out of a message what changes from run to run and build
// to build: "func+0x1c/0x40" becomes "func", a 0x number or a run of 8 or
// more hex digits "ADDR", a decimal number of 4 or more digits "NUM",
// "file.c:123" "file.c:LINE", "CPU#3" "CPU". Small numbers stay: they are
// more often an error code or a count that means something.
func sanitize(s string) string {
	s = offsetRe.ReplaceAllString(s, "$1")
	s = srcLineRe.ReplaceAllString(s, "$1:LINE")
	s = hex0xRe.ReplaceAllString(s, "ADDR")
	s = hexRunRe.ReplaceAllStringFunc(s, func(m string) string {
		digits := true
		for i := 0; i < len(m); i++ {
			if m[i] < '0' || m[i] > '9' {
				digits = false
			}
		}
		switch {
		case len(m) >= 8:
			return "ADDR"
		case digits && len(m) >= 4:
			return "NUM"
		}
		return m
	})
	s = cpuRe.ReplaceAllString(s, "CPU")
	s = strings.TrimSpace(spacesRe.ReplaceAllString(s, " "))
	s = strings.TrimRight(s, " .:,;")
	if len(s) > maxSignature {
		s = s[:maxSignature]
	}
	return s
}
