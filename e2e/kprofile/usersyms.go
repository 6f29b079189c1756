package kprofile

import (
	"debug/elf"
	"debug/gosym"
	"io"
	"strconv"

	"github.com/gokvm/gokvm/symbols"
)

// userSymbols names addresses in process pid's executable: from its ELF
// symbol table (kvmtool's static lkvm), or, for a Go program built
// without one (-s -w, as gokvm is), from the function table every Go
// binary keeps for its own tracebacks (.gopclntab). Only a fixed-address
// executable (ET_EXEC, what both are) is named: a position-independent
// one would need its load address. name is nil when neither works; the
// closer, when not nil, holds a file open until closed.
func userSymbols(pid int) (name func(uint64) (string, bool), _ io.Closer) {
	return exeSymbols("/proc/" + strconv.Itoa(pid) + "/exe")
}

// exeSymbols is userSymbols for the executable at exe.
func exeSymbols(exe string) (func(uint64) (string, bool), io.Closer) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		return nil, nil
	}
	// Each address but the innermost is a return address, one past its
	// call: a-1 names the call's function even when the call is the
	// function's last instruction. The innermost, inside a system call
	// instruction, is named the same either way.
	if t, err := symbols.Load(exe); err == nil {
		return func(a uint64) (string, bool) {
			s, ok := t.Lookup(a - 1)
			return s.Name, ok
		}, t
	}
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return nil, nil
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, nil
	}
	return func(a uint64) (string, bool) {
		if fn := tab.PCToFunc(a - 1); fn != nil {
			return fn.Name, true
		}
		return "", false
	}, nil
}
