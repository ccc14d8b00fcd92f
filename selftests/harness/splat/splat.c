// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap_splat: a deliberately broken, test-only module.  Loading it with
 * warn=1 makes the kernel log a WARN splat, which the QEMU harness must
 * turn into a failed run.  Never built into memsnap.ko.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/bug.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "log a WARN splat when loaded");

static int __init splat_init(void)
{
	WARN(warn, "memsnap_splat: deliberate warning for the harness test\n");
	return 0;
}

static void __exit splat_exit(void)
{
}

module_init(splat_init);
module_exit(splat_exit);

MODULE_DESCRIPTION("memsnap test harness: deliberate kernel splat");
MODULE_LICENSE("GPL");
