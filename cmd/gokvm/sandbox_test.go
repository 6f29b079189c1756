package main

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/sandbox"
)

func TestSandboxFlags(t *testing.T) {
	o, err := parseSandboxFlags([]string{"-k", "Image", "--root=/srv/root", "--modules", "/lib/modules/6.1", "-c", "2", "--timeout", "20s",
		"--console-log", "c.log", "--stats", "-p", "--init", "--init", "/x/gokvm", "--", "sh", "-c", "exit 7"})
	if err != nil {
		t.Fatal(err)
	}
	if o.root != "/srv/root" || o.modules != "/lib/modules/6.1" || o.init != "/x/gokvm" {
		t.Errorf("sandbox flags: %+v", o)
	}
	// -p's value "--init" is run's, not the sandbox's flag.
	if o.run.spec.Kernel != "Image" || o.run.spec.CPUs != 2 || o.run.spec.Timeout != "20s" || o.run.spec.Cmdline != "--init" || !o.run.stats || o.run.consoleLog != "c.log" {
		t.Errorf("run flags: %+v %+v", o.run, o.run.spec)
	}
	if !reflect.DeepEqual(o.command, []string{"sh", "-c", "exit 7"}) {
		t.Errorf("command %q", o.command)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-k", "Image", "true"}, "no command"},
		{[]string{"-k", "Image", "--"}, "no command after --"},
		{[]string{"-k", "Image", "-i", "initrd", "--", "true"}, "builds its own initramfs"},
		{[]string{"-k", "Image", "--print-config", "--", "true"}, "not gokvm sandbox"},
		{[]string{"-k", "Image", "--modules"}, "no command"},
		{[]string{"-k", "Image", "--root", "--", "true"}, "needs an argument"},
		{[]string{"-k", "Image", "stray", "--", "true"}, "unexpected argument"},
		{[]string{"-k", "Image", "--bogus", "x", "--", "true"}, "bogus"},
	} {
		if _, err := parseSandboxFlags(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

func TestSandboxUsageErrorsAre125(t *testing.T) {
	code, _, stderr := runCLI(t, "sandbox", "-k", "Image", "--bogus", "--", "true")
	if code != sandbox.StatusFailed || !strings.Contains(stderr, "bogus") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestHelpListsSandbox(t *testing.T) {
	_, stdout, _ := runCLI(t, "help")
	for _, want := range []string{"gokvm sandbox", "--root DIR", "--modules DIR", "--init FILE", "--console-log FILE"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %s", want)
		}
	}
	for _, code := range []int{sandbox.StatusTimeout, sandbox.StatusFailed, sandbox.StatusNotRunnable, sandbox.StatusNotFound, sandbox.StatusKernelDown} {
		if !strings.Contains(stdout, "\n  "+itoa(code)+"  ") {
			t.Errorf("help does not explain sandbox status %d", code)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
