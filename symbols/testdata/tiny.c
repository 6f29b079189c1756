/* tiny.c: the source of tiny.elf, a small linked ELF file with function,
 * object and assembler symbols and a DWARF line table, for the symbols
 * package's tests. Rebuild with testdata/gen.sh. */
int counter;
static int table[16] = {1};

static int __attribute__((noinline)) leaf(int x)
{
	return table[x & 15] + x;
}

int __attribute__((noinline)) middle(int x)
{
	int y = leaf(x);
	counter++;
	return y * 2;
}

__asm__(".text\n"
	".balign 2048\n"
	".globl vectors\n"
	"vectors:\n"
	"\tnop\n"
	"\t.skip 2044\n"
	".size vectors, 2048\n");

void _start(void)
{
	for (;;)
		counter += middle(counter);
}
