package tinyguest

// The hello guests are flat payloads (no Image header, no zImage magic)
// that show they were booted as kvmtool boots one: vcpu 0 checks that it
// runs at load (its first byte is the entry point) and that the boot
// protocol's device tree register is fdt, where a device tree's magic
// is; it prints "GOKVM-TINY <tag> vcpu0 ok" on the 16550 UART at uart and
// starts vcpu 1 (MPIDR affinity 1) through PSCI CPU_ON; vcpu 1 prints
// "GOKVM-TINY <tag> vcpu1 up" and powers the machine off (PSCI
// SYSTEM_OFF). A check that fails prints "GOKVM-TINY <tag> FAIL: ..."
// and resets the machine (SYSTEM_RESET), so the run ends with another
// status and says why.

// fdtMagic is a device tree's first word (0xd00dfeed, big-endian) as a
// little-endian load reads it.
const fdtMagic = 0xedfe0dd0

// HelloLine is what the hello guest tagged tag prints from vcpu: "vcpu0
// ok" and "vcpu1 up" when all is well.
func HelloLine(tag, what string) string { return "GOKVM-TINY " + tag + " " + what }

// Hello is the AArch64 hello guest: entered with x0 = the device tree.
func Hello(tag string, uart, load, fdt uint64) ([]byte, error) {
	const (
		base Reg = 19 // the UART
		tmp  Reg = 9
	)
	var a Asm
	a.Label("start").Mov(base, uart).
		Adr(4, "start").Mov(5, load).Word(CmpReg(4, 5)).BCond(NE, "wrongload").
		Mov(5, fdt).Word(CmpReg(0, 5)).BCond(NE, "wrongfdt").
		Word(LdrW(4, 0, 0)).Mov(5, fdtMagic).Word(CmpReg(4, 5)).BCond(NE, "nofdt").
		Print(base, tmp, HelloLine(tag, "vcpu0 ok\n")).
		Mov(1, 1).Adr(2, "secondary").Mov(3, 0).PSCI(PSCICPUOn).
		Cbnz(0, "cpuon").
		Spin(). // vcpu 1 powers the machine off
		Label("secondary").
		Mov(base, uart).Print(base, tmp, HelloLine(tag, "vcpu1 up\n")).
		PSCI(PSCISystemOff).Spin()
	for _, f := range []struct{ label, why string }{
		{"wrongload", "not entered at its load address"},
		{"wrongfdt", "x0 is not the expected device tree address"},
		{"nofdt", "no device tree magic at x0"},
		{"cpuon", "PSCI CPU_ON of vcpu 1 failed"},
	} {
		a.Label(f.label).Print(base, tmp, HelloLine(tag, "FAIL: "+f.why+"\n")).PSCI(PSCISystemReset).Spin()
	}
	return a.Code()
}

// Hello32 is the AArch32 hello guest: entered in SVC mode with r0 = 0,
// r1 = ~0, r2 = the device tree.
func Hello32(tag string, uart, load, fdt uint32) ([]byte, error) {
	const (
		base Reg = 9 // the UART
		tmp  Reg = 8
		at   Reg = 4 // where the code is
	)
	var a Asm32
	// vcpu 1's entry comes second, at a known offset, so that vcpu 0 can
	// compute it without an A32 adr.
	const secondary = 8
	a.Word(A32Here(at)).B(AL, "main").
		Label("secondary").Mov(base, uart).Print(base, tmp, HelloLine(tag, "vcpu1 up\n")).
		PSCI(PSCISystemOff).Spin().
		Label("main").Mov(base, uart).
		Mov(5, load).Word(A32Cmp(at, 5)).B(NE, "wrongload").
		Mov(5, fdt).Word(A32Cmp(2, 5)).B(NE, "wrongfdt").
		Word(A32Ldr(6, 2, 0)).Mov(5, fdtMagic).Word(A32Cmp(6, 5)).B(NE, "nofdt").
		Print(base, tmp, HelloLine(tag, "vcpu0 ok\n")).
		Mov(1, 1).Mov(5, secondary).Word(A32Add(2, at, 5)).Mov(3, 0).PSCI(PSCI32CPUOn).
		Mov(5, 0).Word(A32Cmp(0, 5)).B(NE, "cpuon").
		Spin()
	if a.Offset("secondary") != secondary {
		panic("tinyguest: Hello32's secondary entry moved")
	}
	for _, f := range []struct{ label, why string }{
		{"wrongload", "not entered at its load address"},
		{"wrongfdt", "r2 is not the expected device tree address"},
		{"nofdt", "no device tree magic at r2"},
		{"cpuon", "PSCI CPU_ON of vcpu 1 failed"},
	} {
		a.Label(f.label).Print(base, tmp, HelloLine(tag, "FAIL: "+f.why+"\n")).PSCI(PSCISystemReset).Spin()
	}
	return a.Code()
}
