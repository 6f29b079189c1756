package kprofile

import (
	"debug/elf"
	"debug/gosym"
	"strconv"

	"github.com/gokvm/gokvm/symbols"
)

// userSymbols names addresses in process pid's executable: from its ELF
// symbol table (kvmtool's static lkvm), or, for a Go program built
// without one (-s -w, as gokvm is), from the function table every Go
// binary keeps for its own tracebacks (.gopclntab). Only a fixed-address
// executable (ET_EXEC, what both are) is named: a position-independent
// one would need its load address. nil when neither works.
func userSymbols(pid int) func(uint64) (string, bool) {
	return exeSymbols("/proc/" + strconv.Itoa(pid) + "/exe")
}

// exeSymbols is userSymbols for the executable at exe.
func exeSymbols(exe string) func(uint64) (string, bool) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		return nil
	}
	if t, err := symbols.Load(exe); err == nil {
		return func(a uint64) (string, bool) {
			s, ok := t.Lookup(a)
			return s.Name, ok
		}
	}
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return nil
	}
	data, err := pcln.Data()
	if err != nil {
		return nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil
	}
	return func(a uint64) (string, bool) {
		// A return address is one past the call: name the call.
		if fn := tab.PCToFunc(a - 1); fn != nil {
			return fn.Name, true
		}
		return "", false
	}
}
