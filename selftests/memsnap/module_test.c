// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap.ko as a module: the filesystem type is registered while it is
 * loaded and gone after unload, and loading and unloading it repeatedly
 * neither fails, leaks kernel memory, nor leaves the type behind.
 */
#include "kselftest_harness.h"
#include "msnap_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MODNAME		"memsnap"
#define CYCLES		100
/* Unreclaimable slab + vmalloc + percpu growth tolerated over CYCLES. */
#define LEAK_SLACK_KB	512

static long kernel_mem_kb(void)
{
	return msnap_meminfo_kb("SUnreclaim") + msnap_meminfo_kb("VmallocUsed") +
	       msnap_meminfo_kb("Percpu");
}

FIXTURE(module) {
	const char *ko;
};

FIXTURE_SETUP(module)
{
	self->ko = getenv("MEMSNAP_KO");
	if (!self->ko || !*self->ko || geteuid() != 0)
		SKIP(return, "needs root and MEMSNAP_KO (both set by tools/vm/run)");
	if (!msnap_module_loaded(MODNAME))
		ASSERT_EQ(0, msnap_load_module(self->ko));
}

FIXTURE_TEARDOWN(module)
{
	/* Leave the module loaded for the tests that follow. */
	if (self->ko && *self->ko && !msnap_module_loaded(MODNAME))
		msnap_load_module(self->ko);
}

TEST_F(module, fs_type_registered)
{
	int nodev = -1;

	ASSERT_EQ(1, msnap_fs_registered(MODNAME, &nodev));
	/* memsnap lives on a block device: no "nodev" flag. */
	ASSERT_EQ(0, nodev);
}

TEST_F(module, unload_removes_fs_type)
{
	ASSERT_EQ(0, msnap_unload_module(MODNAME));
	EXPECT_EQ(0, msnap_module_loaded(MODNAME));
	EXPECT_EQ(0, msnap_fs_registered(MODNAME, NULL));
	/* A second unload fails cleanly. */
	EXPECT_EQ(-ENOENT, msnap_unload_module(MODNAME));
	ASSERT_EQ(0, msnap_load_module(self->ko));
	EXPECT_EQ(1, msnap_fs_registered(MODNAME, NULL));
	/* Loading it twice is refused; the loaded copy keeps working. */
	EXPECT_EQ(-EEXIST, msnap_load_module(self->ko));
	EXPECT_EQ(1, msnap_fs_registered(MODNAME, NULL));
}

/* The module parameter crc32c, as sysfs reads it back ("" if none). */
static void crc32c_param(char *buf, size_t len)
{
	FILE *f = fopen("/sys/module/" MODNAME "/parameters/crc32c", "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

/*
 * crc32c= picks the CRC32C implementation: a bad value is refused, each
 * named one is used, and auto reads back the one chosen at load.
 */
TEST_F(module, crc32c_parameter)
{
	char buf[32];

	ASSERT_EQ(0, msnap_unload_module(MODNAME));
	EXPECT_EQ(-EINVAL, msnap_load_module_args(self->ko, "crc32c=crc64"));
	EXPECT_EQ(0, msnap_module_loaded(MODNAME));
	ASSERT_EQ(0, msnap_load_module_args(self->ko, "crc32c=lib"));
	crc32c_param(buf, sizeof(buf));
	EXPECT_STREQ("lib", buf);
	ASSERT_EQ(0, msnap_unload_module(MODNAME));
	ASSERT_EQ(0, msnap_load_module_args(self->ko, "crc32c=tables"));
	crc32c_param(buf, sizeof(buf));
	EXPECT_STREQ("tables", buf);
	ASSERT_EQ(0, msnap_unload_module(MODNAME));
	ASSERT_EQ(0, msnap_load_module(self->ko));
	crc32c_param(buf, sizeof(buf));
	EXPECT_TRUE(!strcmp(buf, "tables") || !strcmp(buf, "lib")) {
		TH_LOG("crc32c reads back '%s' after auto", buf);
	}
}

TEST_F_TIMEOUT(module, load_unload_cycles, 600)
{
	long before, after;
	int i;

	/* Warm up caches that the first cycles fill. */
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, msnap_unload_module(MODNAME));
		ASSERT_EQ(0, msnap_load_module(self->ko));
	}
	before = kernel_mem_kb();
	for (i = 0; i < CYCLES; i++) {
		ASSERT_EQ(0, msnap_unload_module(MODNAME)) {
			TH_LOG("unload %d failed", i);
		}
		ASSERT_EQ(0, msnap_fs_registered(MODNAME, NULL));
		ASSERT_EQ(0, msnap_load_module(self->ko)) {
			TH_LOG("load %d failed", i);
		}
		ASSERT_EQ(1, msnap_fs_registered(MODNAME, NULL));
	}
	after = kernel_mem_kb();
	/*
	 * On the debug kernel KASAN's quarantine holds freed objects, so
	 * memory grows without a leak; its kmemleak scan at the end of the
	 * run is the leak check there.
	 */
	if (getenv("MSVM_DEBUG_KERNEL"))
		SKIP(return, "memory growth (%ld KiB) means nothing under KASAN; kmemleak checks this run",
		     after - before);
	EXPECT_GT(LEAK_SLACK_KB, after - before) {
		TH_LOG("kernel memory grew by %ld KiB over %d cycles",
		       after - before, CYCLES);
	}
}

TEST_HARNESS_MAIN
