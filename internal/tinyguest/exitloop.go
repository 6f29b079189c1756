package tinyguest

// The exit-loop guest times what one MMIO exit to the VMM costs, the same
// way under any VMM that boots a flat payload as kvmtool does: it prints
// "GOKVM-TINY <tag> loop-start", reads the 16550 UART's scratch register
// n times (each read an exit that the VMM's UART answers, with no side
// effect), prints "GOKVM-TINY <tag> loop-end" and powers the machine off.
// The time between the two lines, over n, is one exit's round trip:
// KVM's exit, the VMM's dispatch to its UART, and the return to the guest.

// uartScratch is the 16550's scratch register: reading it changes nothing.
const uartScratch = 7

// ExitLoopLine is what the exit-loop guest tagged tag prints: what is
// "loop-start" or "loop-end".
func ExitLoopLine(tag, what string) string { return HelloLine(tag, what) }

// ExitLoop is the AArch64 exit-loop guest for a UART at uart.
func ExitLoop(tag string, uart uint64, n uint32) ([]byte, error) {
	const (
		base  Reg = 19 // the UART
		count Reg = 20
		tmp   Reg = 9
	)
	var a Asm
	a.Mov(base, uart).Mov(count, uint64(n)).
		Print(base, tmp, ExitLoopLine(tag, "loop-start\n")).
		Cbz(count, "done").
		Label("loop").
		Word(LdrB(4, base, uartScratch), SubImm(count, count, 1)).
		Cbnz(count, "loop").
		Label("done").
		Print(base, tmp, ExitLoopLine(tag, "loop-end\n")).
		PSCI(PSCISystemOff).Spin()
	return a.Code()
}
