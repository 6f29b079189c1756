package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox"
	"github.com/gokvm/gokvm/vmm"
)

var update = flag.Bool("update", false, "rewrite the kvmtool option tables in README.md and docs/kvmtool.md")

// TestLkvmTableMatchesFlags: every option in the table is a flag of
// gokvm run under each of kvmtool's spellings, taking a value exactly
// when kvmtool's does; implemented ones are gokvm's own flags, the
// others the table's.
func TestLkvmTableMatchesFlags(t *testing.T) {
	r := newRunFlags()
	seen := map[string]bool{}
	for _, o := range lkvmOptions {
		for _, name := range o.names() {
			if seen[name] {
				t.Errorf("%s is twice in the table", name)
			}
			seen[name] = true
			fl := r.fs.Lookup(name)
			if fl == nil {
				t.Errorf("%s (%s) is not a flag of gokvm run", name, o.how)
				continue
			}
			if _, isLkvm := fl.Value.(lkvmFlag); isLkvm != (o.how != lkvmImplemented) {
				t.Errorf("%s is %s in the table, but its flag is not", name, o.how)
			}
			if _, takesValue := r.lookup(name); takesValue != (o.arg != "") {
				t.Errorf("%s: takes a value %v, kvmtool's takes %q", name, takesValue, o.arg)
			}
		}
		if o.how != lkvmAccepted && o.note != "" {
			t.Errorf("--%s: a note for an option that is not accepted", o.long)
		}
		if o.doc == "" {
			t.Errorf("--%s has no doc", o.long)
		}
	}
	for name, values := range lkvmRefusedValues {
		o := lkvmOptionNamed(name)
		if o == nil || o.how != lkvmImplemented {
			t.Errorf("refused values of --%s, which is not an implemented option", name)
			continue
		}
		for v := range values {
			if !strings.Contains(o.doc, "`"+v+"`") || !strings.Contains(o.arg, v) {
				t.Errorf("--%s %s is refused, but kvmtool's argument %q or the doc %q does not name it", name, v, o.arg, o.doc)
			}
		}
	}
}

func lkvmOptionNamed(long string) *lkvmOption {
	for i := range lkvmOptions {
		if lkvmOptions[i].long == long {
			return &lkvmOptions[i]
		}
	}
	return nil
}

// lkvmSample is a value of the kind kvmtool's argument names.
func lkvmSample(o lkvmOption) string {
	switch o.arg {
	case "N", "MS", "HZ", "ADDR", "CID":
		return "3"
	case "[DOMAIN:]BUS:DEV.FN":
		return "0000:01:00.0"
	}
	return "x"
}

// TestLkvmAcceptedOptions: each accepted option parses in each spelling
// (with its argument, if it takes one) and changes nothing of the VM.
func TestLkvmAcceptedOptions(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	plain, err := parseRunFlags([]string{"-k", kernel})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range lkvmOptions {
		if o.how != lkvmAccepted {
			continue
		}
		for _, name := range o.names() {
			forms := [][]string{{"--" + name}, {"-" + name}}
			if o.arg != "" {
				v := lkvmSample(o)
				forms = [][]string{{"--" + name, v}, {"--" + name + "=" + v}}
			}
			for _, form := range forms {
				n++
				got, err := parseRunFlags(append([]string{"-k", kernel}, form...))
				if err != nil {
					t.Errorf("%q: %v", form, err)
					continue
				}
				if !reflect.DeepEqual(got.spec, plain.spec) {
					t.Errorf("%q changed the VM: %+v", form, got.spec)
				}
				code, _, stderr := runCLI(t, append([]string{"run", "-k", kernel, "--print-config"}, form...)...)
				if code != 0 || (o.note == "") != (stderr == "") || o.note != "" && !strings.Contains(stderr, o.note) {
					t.Errorf("%q: status %d, stderr %q; want 0 and the note %q", form, code, stderr, o.note)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no accepted options")
	}
	// --restore takes them too: they say nothing of the machine.
	_, err = parseRunFlags([]string{"--restore", "vm.state", "--nodefaults", "--loglevel", "warning", "--dev", "/dev/kvm"})
	if err != nil {
		t.Errorf("--restore with accepted options: %v", err)
	}
}

// TestLkvmRefusedOptions: each refused option, in each spelling, with
// its argument, without it and with =, is a one-line usage error naming
// it, on run and on sandbox.
func TestLkvmRefusedOptions(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	n := 0
	for _, o := range lkvmOptions {
		if o.how != lkvmRefused {
			continue
		}
		for _, name := range o.names() {
			dash := "--"
			want := "--" + name + " is a kvmtool option gokvm does not implement"
			if len(name) == 1 {
				dash = "-"
				want = "-" + name + " (--" + o.long + ") is a kvmtool option gokvm does not implement"
			}
			forms := [][]string{{dash + name}}
			if o.arg != "" {
				v := lkvmSample(o)
				forms = append(forms, []string{dash + name, v}, []string{dash + name + "=" + v})
				if len(name) == 1 {
					forms = append(forms, []string{dash + name + v}) // kvmtool's -fFILE
				}
			}
			for _, form := range forms {
				n++
				code, _, stderr := runCLI(t, append(append([]string{"run", "-k", kernel}, form...), "-c", "2")...)
				if code != machine.ExitUsage || !strings.Contains(stderr, want) || ownLines(stderr) != 1 {
					t.Errorf("run %q: status %d, stderr %q; want %d and %q", form, code, stderr, machine.ExitUsage, want)
				}
				code, _, stderr = runCLI(t, append(append([]string{"sandbox", "-k", kernel}, form...), "--", "true")...)
				if code != sandbox.StatusFailed || !strings.Contains(stderr, want) {
					t.Errorf("sandbox %q: status %d, stderr %q; want %d and %q", form, code, stderr, sandbox.StatusFailed, want)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no refused options")
	}
	for name, values := range lkvmRefusedValues {
		for v := range values {
			want := "--" + name + " " + v + " is a kvmtool option value gokvm does not implement"
			code, _, stderr := runCLI(t, "run", "-k", kernel, "--"+name, v)
			if code != machine.ExitUsage || !strings.Contains(stderr, want) || ownLines(stderr) != 1 {
				t.Errorf("--%s %s: status %d, stderr %q; want %d and %q", name, v, code, stderr, machine.ExitUsage, want)
			}
		}
	}
}

// TestLkvmArgumentForms: kvmtool's ways of writing an option give the VM
// gokvm's spelling gives.
func TestLkvmArgumentForms(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	share := filepath.Join(dir, "share")
	os.Mkdir(share, 0o755)
	for _, tc := range []struct {
		kvmtool, gokvm []string
	}{
		{[]string{"-k", kernel, "-m512", "-c2"}, []string{"-k", kernel, "-m", "512", "-c", "2"}},
		{[]string{"-k" + kernel, "--mem=512M", "--cpus=0x2"}, []string{"-k", kernel, "-m", "512M", "-c", "2"}},
		{[]string{kernel, "-c", "2"}, []string{"-k", kernel, "-c", "2"}},
		{[]string{"-c", "2", kernel, "-m", "512"}, []string{"-k", kernel, "-c", "2", "-m", "512"}},
		{[]string{"-k", kernel, "-n"}, []string{"-k", kernel, "-n", "mode=tap"}},
		{[]string{"-k", kernel, "-n", "-c", "2"}, []string{"-k", kernel, "-n", "mode=tap", "-c", "2"}},
		{[]string{"-k", kernel, "--network", "--rng"}, []string{"-k", kernel, "-n", "mode=tap", "--rng"}},
		{[]string{"-k", kernel, "-nmode=user"}, []string{"-k", kernel, "-n", "mode=user"}},
		{[]string{"-k", kernel, "-p", "-c 3"}, []string{"-k", kernel, "--params=-c 3"}},
		{[]string{"-k", kernel, "-pconsole=ttyS0"}, []string{"-k", kernel, "-p", "console=ttyS0"}},
		{[]string{"-k", kernel, "--dev", "/dev/kvm"}, []string{"-k", kernel, "--kvm-device", "/dev/kvm"}},
		{[]string{"-k", kernel, "--9p", share}, []string{"-k", kernel, "--9p", share + ",kvm_9p"}},
		{[]string{"-k", kernel, "-m", "256@2048"}, []string{"-k", kernel, "-m", "256@2048"}},
		// gokvm's own flags stay themselves: -pmu is --pmu, not -p mu.
		{[]string{"-k", kernel, "-pmu"}, []string{"-k", kernel, "--pmu"}},
		// kvm-unit-tests' command line (scripts/vmm.bash, arm/run).
		{[]string{"--kernel", kernel, "--nodefaults", "--network", "mode=none", "--loglevel=warning", "--cpus", "2", "--params", "setup smp=2 mem=256", "--mem", "256"},
			[]string{"-k", kernel, "-n", "mode=none", "-c", "2", "-p", "setup smp=2 mem=256", "-m", "256"}},
	} {
		want, err := parseRunFlags(tc.gokvm)
		if err != nil {
			t.Errorf("%q: %v", tc.gokvm, err)
			continue
		}
		got, err := parseRunFlags(tc.kvmtool)
		if err != nil || !reflect.DeepEqual(got.spec, want.spec) {
			t.Errorf("%q: %+v, %v; want %+v as %q gives", tc.kvmtool, got, err, want.spec, tc.gokvm)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-k", kernel, kernel}, "unexpected argument"},
		{[]string{kernel, kernel}, "unexpected argument"},
		{[]string{"-k", kernel, "--loglevel", "loud"}, `--loglevel "loud": want error, warning, info or debug`},
		{[]string{"-k", kernel, "-x3"}, "flag provided but not defined: -x3"},
	} {
		code, _, stderr := runCLI(t, append([]string{"run"}, tc.args...)...)
		if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: status %d, stderr %q; want %d and %q", tc.args, code, stderr, machine.ExitUsage, tc.want)
		}
	}
	// The sandbox reads them too.
	so, err := parseSandboxFlags([]string{"-k" + kernel, "-m512", "-n", "--nodefaults", "--", "true"})
	if err != nil || so.run.spec.Memory != "512" || len(so.run.spec.NICs) != 1 || so.run.spec.NICs[0].Mode != "tap" {
		t.Errorf("sandbox in kvmtool's forms: %+v, %v", so, err)
	}
}

// TestLkvmLogLevel: --loglevel error and warning leave out kvmtool's Info
// line; the last of --loglevel and --debug counts, as in kvmtool.
func TestLkvmLogLevel(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, tc := range []struct {
		args   []string
		noInfo bool
	}{
		{nil, false},
		{[]string{"--loglevel", "info"}, false},
		{[]string{"--loglevel=debug"}, false},
		{[]string{"--loglevel", "warning"}, true},
		{[]string{"--loglevel", "error"}, true},
		{[]string{"--loglevel", "error", "--debug"}, false},
		{[]string{"--debug", "--loglevel", "error"}, true},
	} {
		o, err := parseRunFlags(append([]string{"-k", kernel}, tc.args...))
		if err != nil || o.noInfo != tc.noInfo {
			t.Errorf("%q: %+v, %v; want the Info line left out: %v", tc.args, o, err, tc.noInfo)
		}
	}
}

// TestKvmtoolLines: kvmtool's last line on the events kvmtool prints it
// on, and its Fatal line for a missing kernel or initrd.
func TestKvmtoolLines(t *testing.T) {
	for _, tc := range []struct {
		o       vmm.Outcome
		escaped bool
		want    bool
	}{
		{vmm.OutcomePowerOff, false, true},
		{vmm.OutcomeReset, false, true},
		{vmm.OutcomeCrash, false, true},
		{vmm.OutcomeStopped, true, true}, // Ctrl-A x
		{vmm.OutcomeStopped, false, false},
		{vmm.OutcomeTimeout, false, false},
		{vmm.OutcomeError, false, false},
	} {
		if got := kvmtoolSessionEnded(tc.o, tc.escaped); got != tc.want {
			t.Errorf("%v (Ctrl-A x %v): kvmtool's end line %v, want %v", tc.o, tc.escaped, got, tc.want)
		}
	}
	if got := kvmtoolFatal(errors.New("other")); got != "" {
		t.Errorf("kvmtoolFatal of another error: %q", got)
	}
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-k", filepath.Join(dir, "_NO_FILE_4Uhere_")}, "  Fatal: Unable to open kernel " + filepath.Join(dir, "_NO_FILE_4Uhere_") + "\n"},
		{[]string{"run", "-k", kernel, "-i", filepath.Join(dir, "none")}, "  Fatal: Unable to open initrd " + filepath.Join(dir, "none") + "\n"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != machine.ExitUsage || !strings.Contains(stderr, "\n"+tc.want) {
			t.Errorf("%q: status %d, stderr %q; want %d and %q on a line of its own", tc.args, code, stderr, machine.ExitUsage, tc.want)
		}
	}
	// kvm-unit-tests' scripts/arch-run.bash finds a kvmtool by its help.
	if _, stdout, _ := runCLI(t, "--help"); !strings.Contains(stdout, "The most commonly used") {
		t.Errorf("gokvm --help lacks kvmtool's \"The most commonly used\"")
	}
}

// The markers around the generated tables.
const (
	docsBegin = "<!-- lkvm-options: made from cmd/gokvm/lkvmopts.go by go test ./cmd/gokvm -run TestLkvmOptionDocs -update -->\n"
	docsEnd   = "<!-- end of lkvm-options -->\n"
)

// TestLkvmOptionDocs: the README's compact table and docs/kvmtool.md's
// full one are the Go table's; -update writes them.
func TestLkvmOptionDocs(t *testing.T) {
	for _, f := range []struct {
		path  string
		table string
	}{
		{"../../README.md", lkvmCompactTable()},
		{"../../docs/kvmtool.md", lkvmFullTable()},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		begin, end := strings.Index(text, docsBegin), strings.Index(text, docsEnd)
		if begin < 0 || end < begin {
			t.Fatalf("%s lacks the markers %q and %q", f.path, docsBegin, docsEnd)
		}
		begin += len(docsBegin)
		if text[begin:end] == f.table {
			continue
		}
		if !*update {
			t.Errorf("%s's kvmtool option table is stale: go test ./cmd/gokvm -run TestLkvmOptionDocs -update", f.path)
			continue
		}
		if err := os.WriteFile(f.path, []byte(text[:begin]+f.table+text[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lkvmSpelling is an option's kvmtool spellings for the docs: with its
// argument for the full table, short and long in one for the compact one.
func lkvmSpelling(o lkvmOption, full bool) string {
	long := "--" + o.long
	switch {
	case o.short != "" && !full:
		return "`-" + o.short + "`/`" + long + "`"
	case full && o.arg != "":
		long += " " + strings.ReplaceAll(o.arg, "|", `\|`)
	}
	if o.short != "" {
		return "`-" + o.short + "`, `" + long + "`"
	}
	return "`" + long + "`"
}

// lkvmCompactTable is the README's: the options by how gokvm takes them.
func lkvmCompactTable() string {
	var b strings.Builder
	b.WriteString("| gokvm | kvmtool's `lkvm run` options |\n| --- | --- |\n")
	for _, how := range []lkvmHandling{lkvmImplemented, lkvmAccepted, lkvmRefused} {
		var names []string
		for _, o := range lkvmOptions {
			if o.how == how {
				names = append(names, lkvmSpelling(o, false))
			}
		}
		label := how.String()
		if how == lkvmRefused {
			label = "refused, naming it (status 2)"
			for _, o := range lkvmOptions { // in the table's order
				var values []string
				for v := range lkvmRefusedValues[o.long] {
					values = append(values, "`"+v+"`")
				}
				sort.Strings(values)
				if len(values) > 0 {
					names = append(names, "`--"+o.long+"` "+strings.Join(values, "/"))
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %s |\n", label, strings.Join(names, ", "))
	}
	return b.String()
}

// lkvmFullTable is docs/kvmtool.md's: each option, what gokvm does with it.
func lkvmFullTable() string {
	var b strings.Builder
	b.WriteString("| kvmtool's option | gokvm | notes |\n| --- | --- | --- |\n")
	for _, o := range lkvmOptions {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", lkvmSpelling(o, true), o.how, o.doc)
	}
	return b.String()
}
