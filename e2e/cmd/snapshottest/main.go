// Command snapshottest saves a running guest through gokvm's Go API
// (machine.Snapshot) inside the emulated host, stops it, waits, and
// restores it with `gokvm run --restore`: the guest, which prints a
// counter every 100 ms with its monotonic clock, must go on counting from
// where it was saved (not from 1), its clock must not jump by the time
// the state spent on disk, and it must power off with status 0. A state
// file cut short or edited must be refused with status 2 and nothing of
// the guest run. It prints SNAPSHOTTEST lines saying what it saw and exits
// 0 when every check passed.
//
//	snapshottest GOKVM KERNEL INITRD WORK
//	snapshottest full GOKVM KERNEL INITRD WORK (full.go)
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/vmm"
)

// onDisk is how long the saved state waits before the restore: a guest
// clock that followed the host's would jump by it.
const onDisk = 3 * time.Second

// The disk the first guest reads before its save and after its restore.
const (
	diskSeed = 93
	diskMiB  = 8
)

var failed bool

func check(ok bool, format string, args ...any) {
	status := "ok"
	if !ok {
		status, failed = "FAIL", true
	}
	fmt.Printf("SNAPSHOTTEST %s %s\n", status, fmt.Sprintf(format, args...))
}

var (
	countLine = regexp.MustCompile(`GUEST-COUNT (\d+) mono=(\d+)`)
	firstRun  = regexp.MustCompile(`stats: first KVM_RUN ([0-9.]+) ms after start`)
)

// count is one counter line.
type count struct{ n, mono int }

// counts finds every counter line in text.
func counts(text string) []count {
	var out []count
	for _, m := range countLine.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		mono, _ := strconv.Atoi(m[2])
		out = append(out, count{n, mono})
	}
	return out
}

// goesOn says whether the console bytes a guest wrote before its save,
// then those its restore wrote, make one count from 1 to last with no
// gap and no repeat. A save can cut a line the guest was printing anywhere
// (even "GUE" | "ST-COUNT 16"), so the two are joined before they are
// read, not read apart. It also gives the first count the restored guest
// completed, and the whole counts read.
func goesOn(saved, restored string, last int) (ok bool, why string) {
	cs := counts(saved + restored)
	if len(counts(saved)) == 0 {
		return false, "nothing counted before the save"
	}
	if len(counts(restored)) == 0 {
		return false, "nothing counted after the restore"
	}
	for i, c := range cs {
		if c.n != i+1 {
			return false, fmt.Sprintf("count %d where %d was due", c.n, i+1)
		}
	}
	if cs[len(cs)-1].n != last {
		return false, fmt.Sprintf("the count ended at %d", cs[len(cs)-1].n)
	}
	return true, fmt.Sprintf("saved after %d, restored went on to %d", len(counts(saved)), last)
}

func main() {
	if len(os.Args) == 5 && os.Args[1] == "save" {
		// The saving machine runs in a process of its own: its system
		// call filter, on as in any gokvm run, stays on the process.
		save(os.Args[2], os.Args[3], os.Args[4])
		if failed {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 6 && os.Args[1] == "full" {
		full(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
		if failed {
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 5 {
		fmt.Println("usage: snapshottest GOKVM KERNEL INITRD WORK")
		os.Exit(2)
	}
	gokvm, kernel, initrd, work := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	state := filepath.Join(work, "counter.state")

	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	out, status := run(self, "save", kernel, initrd, state)
	if status != 0 {
		failed = true
	}
	// The save process keeps the guest's console bytes as written, lines
	// cut by the save and all.
	console, err := os.ReadFile(state + ".console")
	if err != nil {
		log.Fatal(err)
	}
	before := counts(string(console))
	if len(before) == 0 {
		check(false, "the guest counted nothing before the save")
		os.Exit(1)
	}
	last := before[len(before)-1]
	check(last.n >= 20, "the guest was saved while counting, at %d", last.n)
	time.Sleep(onDisk)

	guest, out, status := runGuest(gokvm, "run", "--restore", state, "--timeout", "60s", "--stats")
	after := counts(guest)
	if m := firstRun.FindStringSubmatch(out); m != nil {
		fmt.Printf("SNAPSHOTTEST figure: the restored machine's first KVM_RUN came %s ms after gokvm started\n", m[1])
	}
	check(status == 0, "the restored guest powered off with status 0 (status %d)", status)
	ok, why := goesOn(string(console), guest, 60)
	check(ok, "the restored guest went on counting from where it was saved to the end, 60 (%s)", why)
	want := pattern.SHA256(pattern.Bytes(diskSeed, diskMiB<<20))
	check(strings.Contains(guest, "GUEST-SHA vda "+want), "the restored guest read its virtio-blk disk whole (sha256 %s)", want[:12])
	if len(after) > 0 {
		gap := after[0].mono - last.mono
		fmt.Printf("SNAPSHOTTEST figure: %d ms of guest time between the last count saved and the first restored\n", gap)
		check(gap < int(onDisk/time.Millisecond)-500, "the guest's clock went on from where it was saved: %d ms from the last count saved to the first restored, with %v on disk", gap, onDisk)
	}

	// A state file cut short, and one edited, are refused before the
	// guest runs.
	whole, err := os.ReadFile(state)
	if err != nil {
		log.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		data []byte
		want string
	}{
		{"cut", whole[:len(whole)-100], "truncated"},
		{"edited", flip(whole, len(whole)-50), "SHA-256"},
	} {
		p := filepath.Join(work, bad.name+".state")
		os.WriteFile(p, bad.data, 0o600)
		os.Link(state+machine.RAMFileSuffix, p+machine.RAMFileSuffix)
		out, status := run(gokvm, "run", "--restore", p)
		check(status == 2 && strings.Contains(out, bad.want) && !strings.Contains(out, "GUEST-COUNT"),
			"a state file %s is refused with status 2 naming it (status %d: %s)", bad.name, status, lastLine(out))
	}
	viaControl(gokvm, kernel, initrd, work)
	if failed {
		os.Exit(1)
	}
}

// viaControl saves a gokvm run through its control socket (gokvm
// snapshot NAME FILE --stop) while it counts, under gokvm's own filter,
// and restores it with gokvm run --restore: the count goes on.
func viaControl(gokvm, kernel, initrd, work string) {
	state := filepath.Join(work, "control.state")
	cmd := exec.Command(gokvm, "run", "--name", "snapvm", "-k", kernel, "-i", initrd, "-c", "2", "--timeout", "100s",
		"-p", "console=ttyS0 quiet panic=-1 gokvm.do=marker,counter:60,poweroff")
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stdout
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	// The bytes as the guest wrote them: the save may cut a line.
	var console bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(out, &console))
	for sc.Scan() {
		fmt.Println(sc.Text())
		if c := counts(sc.Text()); len(c) == 1 && c[0].n >= 15 {
			break
		}
	}
	snapOut, status := run(gokvm, "snapshot", "snapvm", state, "--stop")
	check(status == 0, "gokvm snapshot NAME FILE --stop saved the running VM (status %d: %s)", status, lastLine(snapOut))
	for sc.Scan() {
		fmt.Println(sc.Text())
	}
	cmd.Wait()
	check(cmd.ProcessState.ExitCode() == 6, "the VM saved with --stop ended as stopped (status %d)", cmd.ProcessState.ExitCode())
	guest, _, status := runGuest(gokvm, "run", "--restore", state, "--timeout", "60s")
	ok, why := goesOn(console.String(), guest, 60)
	check(status == 0 && ok, "the VM saved through its control socket went on counting to 60 and powered off (status %d, %s)", status, why)
}

// save boots the counting guest with two vcpus, saves it once it has
// counted past 20 (through machine.Snapshot, under the run phase's system
// call filter), stops it, and prints what the guest printed.
func save(kernel, initrd, state string) {
	pr, pw := io.Pipe()
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Println(sc.Text())
			lines <- sc.Text()
		}
		close(lines)
	}()
	// A virtio-blk disk, read after the restore: the restored transport
	// and queue carry on with the guest's driver.
	disk := state + ".disk"
	if err := os.WriteFile(disk, pattern.Bytes(diskSeed, diskMiB<<20), 0o644); err != nil {
		log.Fatal(err)
	}
	spec := machine.Spec{
		Kernel: kernel, Initrd: initrd, CPUs: 2, Timeout: "100s",
		Cmdline: "console=ttyS0 quiet panic=-1 gokvm.do=marker,modules,sha:vda,counter:60,sha:vda,poweroff",
		Disks:   []machine.Disk{{Path: disk, ReadOnly: true}},
	}
	console, err := os.Create(state + ".console")
	if err != nil {
		log.Fatal(err)
	}
	defer console.Close()
	m, err := machine.Build(spec, machine.Options{Stdout: io.MultiWriter(console, pw), Log: log.New(os.Stderr, "gokvm: ", 0)})
	if err != nil {
		log.Fatalf("building the machine: %v", err)
	}
	// Opened before Run: the run phase's system call filter lets gokvm
	// open no file for writing.
	sf, err := os.Create(state)
	if err != nil {
		log.Fatal(err)
	}
	ram, err := os.Create(state + machine.RAMFileSuffix)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan vmm.Outcome, 1)
	go func() {
		o, _ := m.Run(ctx)
		done <- o
	}()
	var text strings.Builder
	deadline := time.After(90 * time.Second)
	for {
		select {
		case l := <-lines:
			text.WriteString(l + "\n")
			if c := counts(l); len(c) == 1 && c[0].n >= 20 {
				goto counted
			}
			continue
		case <-deadline:
			check(false, "the guest's counter never reached 20")
			os.Exit(1)
		}
	}
counted:
	err = m.Snapshot(sf, ram, filepath.Base(ram.Name()), true)
	check(err == nil, "machine.Snapshot saved the running guest (%v)", err)
	sf.Close()
	ram.Close()
	// Paused: what it printed up to here is all there is; a line in
	// the pipe may still be on its way.
	time.Sleep(200 * time.Millisecond)
	for drained := false; !drained; {
		select {
		case l := <-lines:
			text.WriteString(l + "\n")
		default:
			drained = true
		}
	}
	stop()
	o := <-done
	check(o == vmm.OutcomeStopped, "the saved machine stopped (%v)", o)
}

// runGuest runs gokvm and returns the guest's console (gokvm's stdout),
// everything gokvm wrote (stdout and stderr), and its status.
func runGuest(gokvm string, args ...string) (guest, all string, status int) {
	cmd := exec.Command(gokvm, args...)
	var stdout, both bytes.Buffer
	cmd.Stdout = io.MultiWriter(&stdout, &both, os.Stdout)
	cmd.Stderr = io.MultiWriter(&both, os.Stdout)
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		log.Fatal(err)
	}
	return stdout.String(), both.String(), cmd.ProcessState.ExitCode()
}

// run runs gokvm and returns its output, stdout and stderr, and status.
func run(gokvm string, args ...string) (string, int) {
	cmd := exec.Command(gokvm, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, os.Stdout), io.MultiWriter(&out, os.Stdout)
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		log.Fatal(err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
