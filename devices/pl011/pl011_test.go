package pl011

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// testUART is a UART whose output and interrupt line the test watches.
type testUART struct {
	*UART
	out   lockedBuffer
	mu    sync.Mutex
	level bool
	edges int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestUART() *testUART {
	t := &testUART{}
	t.UART = New(&t.out, func(level bool) {
		t.mu.Lock()
		if level != t.level {
			t.edges++
		}
		t.level = level
		t.mu.Unlock()
	})
	return t
}

func (t *testUART) line() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.level
}

func (t *testUART) r32(off uint64) uint32 {
	b := make([]byte, 4)
	t.ReadMMIO(off, b)
	return binary.LittleEndian.Uint32(b)
}

func (t *testUART) w32(off uint64, v uint32) {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	t.WriteMMIO(off, b)
}

// enable does what Linux's pl011_startup does: FIFOs on, 8 bits, receive
// and receive-timeout interrupts unmasked, the UART on.
func (t *testUART) enable() {
	t.w32(regICR, intAll)
	t.w32(regIFLS, 0x12)
	t.w32(regLCRH, 0x70) // WLEN 8, FEN
	t.w32(regCR, crUARTEN|crTXE|crRXE)
	t.w32(regIMSC, intRX|intRT)
}

func feed(t *testing.T, u *testUART, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := u.Feed(ctx, []byte(s)); err != nil {
		t.Fatalf("feeding %q: %v", s, err)
	}
}

// Linux's AMBA bus reads the IDs a byte per word from the window's last
// 32 bytes (amba_read_periphid).
func TestIdentification(t *testing.T) {
	u := newTestUART()
	var pid, cid uint32
	for i := uint64(0); i < 4; i++ {
		pid |= (u.r32(Size-0x20+4*i) & 0xff) << (8 * i)
		cid |= (u.r32(Size-0x10+4*i) & 0xff) << (8 * i)
	}
	if pid != 0x00041011 || cid != 0xb105f00d {
		t.Errorf("periphid %#x cellid %#x, want 0x41011 0xb105f00d", pid, cid)
	}
	// amba-pl011's ID table matches this part and mask.
	if pid&0x000fffff != 0x00041011 {
		t.Errorf("periphid %#x does not match the driver's id table", pid)
	}
}

func TestResetValues(t *testing.T) {
	u := newTestUART()
	for _, c := range []struct {
		reg  uint64
		want uint32
	}{
		{regFR, frTXFE | frRXFE}, {regCR, 0x300}, {regIFLS, 0x12}, {regIMSC, 0}, {regRIS, 0}, {regMIS, 0}, {regLCRH, 0},
	} {
		if got := u.r32(c.reg); got != c.want {
			t.Errorf("register %#x = %#x, want %#x", c.reg, got, c.want)
		}
	}
	if u.line() {
		t.Error("interrupt asserted after reset")
	}
}

func TestTransmit(t *testing.T) {
	u := newTestUART()
	u.enable()
	for _, b := range []byte("ok\n") {
		u.w32(regDR, uint32(b))
	}
	if got := u.out.String(); got != "ok\n" {
		t.Errorf("transmitted %q", got)
	}
	if u.r32(regRIS)&intTX == 0 {
		t.Error("no TX interrupt after a transmit")
	}
	if u.line() {
		t.Error("a masked TX interrupt asserted the line")
	}
	u.w32(regIMSC, intTX)
	if !u.line() {
		t.Error("unmasked TX interrupt not asserted")
	}
	if u.r32(regMIS) != intTX {
		t.Errorf("MIS %#x", u.r32(regMIS))
	}
	u.w32(regICR, intTX)
	if u.line() || u.r32(regRIS)&intTX != 0 {
		t.Error("ICR did not clear TX")
	}
	if u.r32(regFR)&frTXFE == 0 {
		t.Error("transmit FIFO not empty")
	}
}

// An earlycon (earlycon=pl011,ADDR) reads FR and writes DR a byte at a
// time.
func TestByteAccess(t *testing.T) {
	u := newTestUART()
	b := []byte{0}
	u.ReadMMIO(regFR, b)
	if b[0] != frTXFE|frRXFE {
		t.Errorf("FR read as a byte: %#x", b[0])
	}
	u.WriteMMIO(regDR, []byte{'E'})
	if u.out.String() != "E" {
		t.Errorf("byte write to DR sent %q", u.out.String())
	}
	// The high byte of CR through a byte read at CR+1.
	u.ReadMMIO(regCR+1, b)
	if b[0] != 0x03 {
		t.Errorf("CR+1 = %#x, want 0x03", b[0])
	}
	// A write inside a register is ignored.
	u.WriteMMIO(regCR+1, []byte{0xff})
	if u.r32(regCR) != 0x300 {
		t.Errorf("unaligned write changed CR to %#x", u.r32(regCR))
	}
}

func TestReceive(t *testing.T) {
	u := newTestUART()
	u.enable()
	feed(t, u, "hello")
	if !u.line() {
		t.Fatal("no interrupt for received bytes")
	}
	// Fewer than the trigger level: a receive timeout, not RX.
	if mis := u.r32(regMIS); mis != intRT {
		t.Errorf("MIS %#x, want RT only", mis)
	}
	var got []byte
	for u.r32(regFR)&frRXFE == 0 {
		got = append(got, byte(u.r32(regDR)))
	}
	if string(got) != "hello" {
		t.Errorf("read %q", got)
	}
	if u.line() {
		t.Error("interrupt still asserted with the FIFO empty")
	}
	feed(t, u, "0123456789abcdefgh") // 18 bytes: over the 1/2 trigger
	if mis := u.r32(regMIS); mis != intRX|intRT {
		t.Errorf("MIS %#x, want RX and RT", mis)
	}
	for range 3 {
		u.r32(regDR)
	}
	if mis := u.r32(regMIS); mis != intRT {
		t.Errorf("MIS %#x below the trigger, want RT", mis)
	}
}

// Input waits while the FIFO is full or the receiver is off; nothing is
// lost.
func TestReceiveWaitsForRoom(t *testing.T) {
	u := newTestUART()
	want := make([]byte, 300)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	done := make(chan error, 1)
	go func() { done <- u.Feed(context.Background(), want) }()
	time.Sleep(20 * time.Millisecond)
	if u.r32(regFR)&frRXFE == 0 {
		t.Fatal("bytes received with the UART off")
	}
	u.enable()
	var got []byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		if u.r32(regFR)&frRXFE != 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		if u.r32(regFR)&frRXFF != 0 && len(u.rxSnapshot()) != fifoDepth {
			t.Fatal("RXFF with room in the FIFO")
		}
		got = append(got, byte(u.r32(regDR)))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("received %d bytes, want %d in order", len(got), len(want))
	}
}

func (u *UART) rxSnapshot() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]byte(nil), u.rx...)
}

// With the FIFOs off the receiver holds one byte; the rest waits.
func TestFIFOsOff(t *testing.T) {
	u := newTestUART()
	u.enable()
	u.w32(regLCRH, 0x60)
	feed(t, u, "ab")
	if fr := u.r32(regFR); fr&frRXFF == 0 {
		t.Errorf("FR %#x: holding register not full", fr)
	}
	if mis := u.r32(regMIS); mis != intRX|intRT {
		t.Errorf("MIS %#x, want RX (trigger 1) and RT", mis)
	}
	if c := u.r32(regDR); c != 'a' {
		t.Errorf("read %q", rune(c))
	}
	if c := u.r32(regDR); c != 'b' {
		t.Errorf("then read %q", rune(c))
	}
}

// Input beyond what waits outside the FIFO makes Feed wait: the host's
// input is not read further.
func TestPendingBounded(t *testing.T) {
	u := newTestUART() // the receiver is off
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := u.Feed(ctx, make([]byte, pendingSize+1)); err == nil {
		t.Fatal("more than pendingSize bytes held with the receiver off")
	}
	if n := len(u.rxSnapshot()); n != 0 {
		t.Errorf("%d bytes in the FIFO of a UART that is off", n)
	}
	u.enable()
	if n := len(u.rxSnapshot()); n != fifoDepth {
		t.Errorf("turning the receiver on moved %d bytes into the FIFO, want %d", n, fifoDepth)
	}
}

func TestLoopbackOverrun(t *testing.T) {
	u := newTestUART()
	u.enable()
	u.w32(regCR, crUARTEN|crTXE|crRXE|crLBE)
	for i := range fifoDepth + 1 {
		u.w32(regDR, uint32('A'+i%26))
	}
	if u.out.String() != "" {
		t.Errorf("loopback bytes went out: %q", u.out.String())
	}
	if u.r32(regRSR)&rsrOE == 0 || u.r32(regRIS)&intOE == 0 {
		t.Error("no overrun")
	}
	u.w32(regRSR, 0)
	u.w32(regICR, intOE)
	if u.r32(regRSR) != 0 || u.r32(regRIS)&intOE != 0 {
		t.Error("overrun not cleared")
	}
	if c := u.r32(regDR); c != 'A' {
		t.Errorf("looped back %q", rune(c))
	}
}

// Vcpus poking registers in any order while input arrives: nothing
// panics or hangs, the line always follows MIS, the FIFO stays bounded,
// and (under -race) nothing races.
func TestHostileConcurrentRegisters(t *testing.T) {
	u := newTestUART()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_ = u.Feed(ctx, []byte("input from the host"))
		}
	}()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			buf := make([]byte, 8)
			for range 20000 {
				off := uint64(r.Intn(Size + 16))
				n := 1 << r.Intn(4)
				if r.Intn(2) == 0 {
					u.ReadMMIO(off, buf[:n])
				} else {
					r.Read(buf[:n])
					u.WriteMMIO(off, buf[:n])
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	u.UART.mu.Lock()
	defer u.UART.mu.Unlock()
	if len(u.rx) > fifoDepth || len(u.pending) > pendingSize {
		t.Errorf("receive FIFO holds %d bytes", len(u.rx))
	}
	if want := u.rawStatus()&u.imsc != 0; u.line() != want {
		t.Errorf("line %v, MIS says %v", u.line(), want)
	}
}
