// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: CRC32C of metadata blocks and data pages.
 *
 * Two implementations give the same value: crc32c() (libcrc32c, through
 * the crypto API's best "crc32c" driver, crc32c-intel with the SSE4.2
 * crc32 instruction where the CPU has it) and __crc32c_le() (lib/crc32.c's
 * slice-by-8 tables).  On hardware the first is several times faster; in
 * an emulator that runs the crc32 instruction bit by bit (QEMU TCG) it is
 * 3-5x slower.  So the module times both on one page at load and keeps
 * the faster, unless the crc32c= parameter names one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crc32.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/prandom.h>
#include <linux/slab.h>

#include "memsnap.h"

/* Written once, at load (msnap_crc_init()), before any filesystem is up. */
bool msnap_crc_tables __ro_after_init;

/* "auto" at load; then the one in use, "tables" or "lib". */
static char *crc32c_param = "auto";
module_param_named(crc32c, crc32c_param, charp, 0444);
MODULE_PARM_DESC(crc32c,
		 "CRC32C implementation: auto (faster at load), tables or lib");

static u32 msnap_crc_lib(const void *p, size_t len)
{
	return crc32c(~0U, p, len);
}

static u32 msnap_crc_table(const void *p, size_t len)
{
	return __crc32c_le(~0U, p, len);
}

/* Best of a few rounds: the fewest ns one @fn of @len bytes took. */
static u64 msnap_crc_time(u32 (*fn)(const void *, size_t), const void *p,
			  size_t len, u32 *crc)
{
	u64 best = U64_MAX, t;
	int round;

	for (round = 0; round < 8; round++) {
		t = ktime_get_ns();
		*crc = fn(p, len);
		t = ktime_get_ns() - t;
		best = min(best, t);
		cond_resched();
	}
	return best;
}

int __init msnap_crc_init(void)
{
	u64 t_lib, t_table;
	u32 c_lib, c_table;
	void *buf;

	if (!strcmp(crc32c_param, "tables") || !strcmp(crc32c_param, "lib")) {
		msnap_crc_tables = !strcmp(crc32c_param, "tables");
		return 0;
	}
	if (strcmp(crc32c_param, "auto")) {
		pr_err("crc32c=%s: expected auto, tables or lib\n",
		       crc32c_param);
		return -EINVAL;
	}
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	get_random_bytes(buf, PAGE_SIZE);
	t_lib = msnap_crc_time(msnap_crc_lib, buf, PAGE_SIZE, &c_lib);
	t_table = msnap_crc_time(msnap_crc_table, buf, PAGE_SIZE, &c_table);
	kfree(buf);
	if (c_lib != c_table) {
		pr_err("crc32c: libcrc32c and the tables disagree (%08x, %08x)\n",
		       c_lib, c_table);
		return -EINVAL;
	}
	msnap_crc_tables = t_table < t_lib;
	crc32c_param = msnap_crc_tables ? "tables" : "lib";
	pr_info("crc32c: %s (a page in %llu ns; %s %llu ns)\n", crc32c_param,
		min(t_lib, t_table), msnap_crc_tables ? "lib" : "tables",
		max(t_lib, t_table));
	return 0;
}
