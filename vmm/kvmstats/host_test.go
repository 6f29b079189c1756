package kvmstats

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostTree copies testdata's debugfs and /proc samples into a scratch
// directory and adds what git cannot keep: the read-only modes the kernel
// gives instants in debugfs (histograms stay writable, as the kernel
// makes them), and the /proc/PID/fd links.
//
//	800   gokvm: VM on fd 11 created by its thread 812 (debugfs 812-11);
//	      777-11 is another process's VM on the same fd number
//	901   kvmtool: VM on fd 9 created by its main thread (901-9), served
//	      by the vhost kernel thread vhost-901 (pid 950)
//	1000  a program whose VM (fd 5) was made by thread 1003, since ended
//	1     init, no VM
func hostTree(t *testing.T) (kvmDir, procDir string) {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	kvmDir, procDir = filepath.Join(root, "debugfs", "kvm"), filepath.Join(root, "proc")
	err := filepath.WalkDir(kvmDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == "blocking" || d.Name() == "pid") {
			err = os.Chmod(p, 0o444)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]map[string]string{
		"800":  {"0": "/dev/null", "1": "pipe:[20412]", "3": "/dev/kvm", "11": "anon_inode:kvm-vm", "12": "anon_inode:kvm-vcpu:0", "13": "anon_inode:[eventfd]"},
		"901":  {"0": "/dev/null", "3": "/dev/kvm", "9": "anon_inode:kvm-vm", "10": "anon_inode:kvm-vcpu:0", "16": "/dev/vhost-net"},
		"1000": {"5": "anon_inode:kvm-vm"},
		"1":    {"0": "/dev/console"},
	}
	for pid, fds := range links {
		dir := filepath.Join(procDir, pid, "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for fd, target := range fds {
			if err := os.Symlink(target, filepath.Join(dir, fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return kvmDir, procDir
}

func TestFindVMDir(t *testing.T) {
	kvmDir, procDir := hostTree(t)
	for _, tc := range []struct {
		pid  int
		want string
	}{
		{800, "812-11"},  // a thread of the process made it
		{901, "901-9"},   // the main thread did
		{1000, "1003-5"}, // a thread since ended did: the one directory for fd 5
	} {
		got, err := FindVMDir(kvmDir, procDir, tc.pid)
		if err != nil || got != filepath.Join(kvmDir, tc.want) {
			t.Errorf("process %d: %q, %v; want %s", tc.pid, got, err, tc.want)
		}
	}
	if _, err := FindVMDir(kvmDir, procDir, 1); !errors.Is(err, ErrNoVM) {
		t.Errorf("init: %v, want ErrNoVM", err)
	}
	if _, err := FindVMDir(kvmDir, procDir, 4242); err == nil {
		t.Error("a process that is not there: no error")
	}
	// Two VMs that fd 5 could be, made by no thread of the process: it
	// cannot say which.
	if err := os.Mkdir(filepath.Join(kvmDir, "1004-5"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FindVMDir(kvmDir, procDir, 1000); err == nil || !strings.Contains(err.Error(), "1003-5") || !strings.Contains(err.Error(), "1004-5") {
		t.Errorf("two candidates: %v, want an error naming both", err)
	}
}

func TestDebugfsVMReadsCumulativeStatistics(t *testing.T) {
	kvmDir, _ := hostTree(t)
	vm, err := OpenDebugfsVM(filepath.Join(kvmDir, "812-11"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := vm.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{
		"kvm.remote_tlb_flush": 2, "kvm.remote_tlb_flush_requests": 2,
		"kvm.halt_successful_poll": 120, "kvm.halt_attempted_poll": 180, "kvm.halt_poll_invalid": 0, "kvm.halt_wakeup": 2190,
		"kvm.halt_poll_success_ns": 150000, "kvm.halt_poll_fail_ns": 2400000, "kvm.halt_wait_ns": 1850000000,
		"kvm.hvc_exit_stat": 14, "kvm.wfe_exit_stat": 0, "kvm.wfi_exit_stat": 2205, "kvm.mmio_exit_user": 4310,
		"kvm.mmio_exit_kernel": 640, "kvm.signal_exits": 57, "kvm.exits": 9872,
	}
	if !equalCounters(c, want) {
		t.Errorf("counters %v\nwant %v (no histogram, no instant, nothing from vcpu0/)", c, want)
	}
	// A file that stops being a number is an error naming it.
	if err := os.WriteFile(filepath.Join(kvmDir, "812-11", "exits"), []byte("many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Read(); err == nil || !strings.Contains(err.Error(), "exits") {
		t.Errorf("a garbled file: %v", err)
	}
	if _, err := OpenDebugfsVM(filepath.Join(kvmDir, "812-11", "vcpu0")); err == nil {
		t.Error("a directory without statistics: no error")
	}
}

func TestParseStat(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/800/task/815/stat")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStat(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if st != (ProcStat{Comm: "gokvm-vcpu0", User: 320, System: 65, Guest: 300}) {
		t.Errorf("%+v", st)
	}
	// A command name may hold spaces and parentheses.
	odd := strings.Replace(string(b), "(gokvm-vcpu0)", "(a (b) c)", 1)
	if st, err := ParseStat(odd); err != nil || st.Comm != "a (b) c" || st.User != 320 {
		t.Errorf("command with parentheses: %+v, %v", st, err)
	}
	for _, bad := range []string{"", "815 gokvm S 1", "815 (gokvm) S 1 2 3", strings.Replace(string(b), " 320 ", " x ", 1)} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("%.40q: no error", bad)
		}
	}
}

func TestParseSwitches(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/800/task/815/status")
	if err != nil {
		t.Fatal(err)
	}
	vol, invol, err := ParseSwitches(string(b))
	if err != nil || vol != 2210 || invol != 47 {
		t.Errorf("%d voluntary, %d involuntary, %v; want 2210, 47", vol, invol, err)
	}
	if _, _, err := ParseSwitches("Name:\tx\nvoluntary_ctxt_switches:\t3\n"); err == nil {
		t.Error("a status without nonvoluntary_ctxt_switches: no error")
	}
}

func TestReadProcess(t *testing.T) {
	_, procDir := hostTree(t)
	gokvm, err := ReadProcess(procDir, 800)
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{
		"host.user_us": 4_200_000, "host.system_us": 1_300_000, "host.guest_us": 3_000_000,
		"host.vcpu_user_us": 3_200_000, "host.vcpu_system_us": 650_000, "host.vcpu_guest_us": 3_000_000,
		"host.voluntary_switches": 210 + 1480 + 95 + 2210, "host.involuntary_switches": 9 + 31 + 2 + 47,
		"host.vcpu_voluntary_switches": 2210, "host.vcpu_involuntary_switches": 47,
		"host.vcpu_migrations": 37,
	}
	if !equalCounters(gokvm, want) {
		t.Errorf("gokvm: %v\nwant %v", gokvm, want)
	}
	kvmtool, err := ReadProcess(procDir, 901)
	if err != nil {
		t.Fatal(err)
	}
	// vhost-901 is a kernel thread, no thread of 901: its time is apart.
	if kvmtool["host.vhost_us"] != 570_000 || kvmtool["host.vhost_switches"] != 4125 || kvmtool["host.system_us"] != 900_000 {
		t.Errorf("kvmtool: %v; want vhost 570000 us and 4125 switches, system 900000 us", kvmtool)
	}
	if kvmtool["host.vcpu_guest_us"] != 3_100_000 || kvmtool["host.voluntary_switches"] != 120+1900+800 {
		t.Errorf("kvmtool's threads: %v", kvmtool)
	}
	if _, err := ReadProcess(procDir, 4242); err == nil {
		t.Error("a process that is not there: no error")
	}
}

// TestSampleAt: a sample is the process's counters and its VM's; one
// whose VM cannot be found still has the process's, with an error.
func TestSampleAt(t *testing.T) {
	kvmDir, procDir := hostTree(t)
	c, err := SampleAt(kvmDir, procDir, 901)
	if err != nil {
		t.Fatal(err)
	}
	if c["kvm.exits"] != 8120 || c["kvm.mmio_exit_user"] != 2950 || c["host.user_us"] != 3_800_000 {
		t.Errorf("kvmtool's sample: %v", c)
	}
	c, err = SampleAt(kvmDir, procDir, 1)
	if !errors.Is(err, ErrNoVM) || c["host.system_us"] != 300_000 || len(c.Names("kvm.")) != 0 {
		t.Errorf("init's sample: %v, %v; want its host counters and ErrNoVM", c, err)
	}
}
