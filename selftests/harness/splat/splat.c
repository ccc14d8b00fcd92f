// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap_splat: a deliberately broken, test-only module.  Loading it with
 * warn=1 makes the kernel log a WARN splat, which the QEMU harness must
 * turn into a failed run; with uaf=1 it reads a freed allocation, which
 * the debug kernel's KASAN reports; with leak=1 it leaks an allocation,
 * which the debug kernel's kmemleak reports.  Never built into memsnap.ko.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/bug.h>
#include <linux/slab.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "log a WARN splat when loaded");

static bool uaf;
module_param(uaf, bool, 0444);
MODULE_PARM_DESC(uaf, "read freed memory when loaded");

static bool leak;
module_param(leak, bool, 0444);
MODULE_PARM_DESC(leak, "leak an allocation when loaded");

static void *leaked;

/* Not in .init.text, so that kmemleak's backtrace names it. */
static noinline void splat_leak(void)
{
	WRITE_ONCE(leaked, kmalloc(128, GFP_KERNEL));
	WRITE_ONCE(leaked, NULL);
}

static int __init splat_init(void)
{
	char *p;

	WARN(warn, "memsnap_splat: deliberate warning for the harness test\n");
	if (uaf) {
		p = kmalloc(64, GFP_KERNEL);
		if (!p)
			return -ENOMEM;
		kfree(p);
		pr_info("read after free: %d\n", READ_ONCE(p[8]));
	}
	if (leak)
		splat_leak();
	return 0;
}

static void __exit splat_exit(void)
{
}

module_init(splat_init);
module_exit(splat_exit);

MODULE_DESCRIPTION("memsnap test harness: deliberate kernel splat");
MODULE_LICENSE("GPL");
