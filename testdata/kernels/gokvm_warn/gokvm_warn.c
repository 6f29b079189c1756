// SPDX-License-Identifier: GPL-2.0
/*
 * gokvm_warn: a module whose only job is to make the kernel print a real
 * "WARNING:" report (with its "------------[ cut here ]------------" and
 * "---[ end trace ... ]---" lines) when it is loaded, so that gokvm's
 * end-to-end tests can check the kernel problem signature gokvm derives
 * from a guest console. Debian's kernel has neither LKDTM nor KUnit.
 *
 * The warning is raised in gokvm_warn_trigger(), kept out of line so the
 * report's "at <file>:<line> gokvm_warn_trigger+0x.../0x... [gokvm_warn]"
 * and "pc :" lines name it, the same in every boot. WARN() returns; the
 * kernel carries on (only the taint flag W is set), and init returns 0 so
 * the module stays loaded and a second insmod fails with EEXIST instead of
 * warning again.
 *
 * Built out of tree against Debian's headers for the exact guest kernel by
 * testdata/kernels/fetch.sh.
 */
#include <linux/bug.h>
#include <linux/init.h>
#include <linux/module.h>

static noinline void gokvm_warn_trigger(void)
{
	WARN(1, "gokvm_warn: warning on purpose\n");
}

static int __init gokvm_warn_init(void)
{
	gokvm_warn_trigger();
	return 0;
}

static void __exit gokvm_warn_exit(void)
{
}

module_init(gokvm_warn_init);
module_exit(gokvm_warn_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokvm test module: raises one kernel WARNING on load");
