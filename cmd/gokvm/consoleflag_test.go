package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
)

func TestConsoleAndRNGFlags(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, dev := range []string{"serial", "pl011", "virtio"} {
		code, stdout, stderr := runCLI(t, "run", "-k", kernel, "--console", dev, "--rng", "--print-config")
		if code != 0 || !strings.Contains(stdout, `"console": "`+dev+`"`) || !strings.Contains(stdout, `"rng": true`) {
			t.Errorf("--console %s --rng: status %d\n%s%s", dev, code, stdout, stderr)
		}
	}
	code, _, stderr := runCLI(t, "run", "-k", kernel, "--console", "ttyAMA0")
	if code != machine.ExitUsage || !strings.Contains(stderr, `--console "ttyAMA0"`) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("bad --console: status %d, stderr %q", code, stderr)
	}
	// The same in a config file names the field.
	cfg := filepath.Join(dir, "vm.json")
	os.WriteFile(cfg, []byte(`{"kernel": "`+kernel+`", "console": "hvc0", "rng": true}`), 0o644)
	code, _, stderr = runCLI(t, "run", "--config", cfg)
	if code != machine.ExitUsage || !strings.Contains(stderr, `console: "hvc0"`) {
		t.Errorf("bad console in a config: status %d, stderr %q", code, stderr)
	}
	// A flag overrides the file.
	o, err := parseRunFlags([]string{"--config", cfg, "--console", "pl011"})
	if err != nil || o.spec.Console != "pl011" || !o.spec.RNG {
		t.Errorf("--console over a config: %+v, %v", o, err)
	}
	// The sandbox takes the run flags.
	so, err := parseSandboxFlags([]string{"-k", kernel, "--console", "pl011", "--rng", "--", "true"})
	if err != nil || so.run.spec.Console != "pl011" || !so.run.spec.RNG {
		t.Errorf("sandbox --console pl011 --rng: %v", err)
	}
	var help bytes.Buffer
	Main([]string{"help"}, Env{Stdout: &help, Stderr: &help})
	for _, want := range []string{"--console DEV", "--rng"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %s", want)
		}
	}
}
