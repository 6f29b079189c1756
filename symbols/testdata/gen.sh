#!/bin/sh
# Rebuilds tiny.elf from tiny.c (any gcc that makes ELF): linked at a
# kernel-like address, with DWARF 5 line tables, no libc.
set -e
cd "$(dirname "$0")"
gcc -g -gdwarf-5 -O1 -fno-pie -no-pie -nostdlib -static -ffreestanding -mcmodel=large \
	-fno-asynchronous-unwind-tables -Wl,--build-id=none \
	-Wl,-Ttext=0xffff800008010000 -fdebug-prefix-map="$PWD"=/build/tiny \
	-o tiny.elf tiny.c
