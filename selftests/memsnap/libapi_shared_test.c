// SPDX-License-Identifier: GPL-2.0
/*
 * libmemsnap as applications link it: the shared library, through its
 * LIBMEMSNAP_0.1 version node, opening, persisting and closing a region.
 */
#include "kselftest_harness.h"
#include "msnap_test.h"
#include "msnap_mount.h"

#include <dlfcn.h>
#include <errno.h>
#include <memsnap.h>

TEST(symbols_come_from_the_shared_library)
{
	Dl_info info;
	void *h, *sym;

	ASSERT_NE(0, dladdr((void *)msnap_persist, &info));
	EXPECT_NE(NULL, strstr(info.dli_fname, "libmemsnap.so"));
	h = dlopen("libmemsnap.so.0", RTLD_NOW | RTLD_NOLOAD);
	ASSERT_NE(NULL, h);
	sym = dlvsym(h, "msnap_open", "LIBMEMSNAP_0.1");
	EXPECT_EQ((void *)msnap_open, sym);
	/* Internal helpers stay local. */
	EXPECT_EQ(NULL, dlsym(h, "reg_find"));
	dlclose(h);
	EXPECT_EQ(-EBADF, msnap_is_memsnap(-1));
	EXPECT_EQ(-EINVAL, msnap_persist(NULL, 0, 0));
}

FIXTURE(fs) {
	struct msnap_mnt m;
};

FIXTURE_SETUP(fs)
{
	MSNAP_MNT_SETUP(&self->m);
}

FIXTURE_TEARDOWN(fs)
{
	msnap_mnt_drop(&self->m);
}

TEST_F(fs, open_persist_close)
{
	struct msnap_region *r;
	char path[128];
	char *p;

	msnap_mnt_path(&self->m, "shared", path, sizeof(path));
	ASSERT_EQ(0, msnap_open(path, 2 * getpagesize(), MSNAP_OPEN_CREATE,
				&r));
	p = msnap_addr(r);
	strcpy(p, "shared library");
	EXPECT_EQ(1, msnap_persist(p, msnap_size(r), 0));
	ASSERT_EQ(0, msnap_close(r));
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	ASSERT_EQ(0, msnap_open(path, 0, 0, &r));
	EXPECT_STREQ("shared library", (char *)msnap_addr(r));
	ASSERT_EQ(0, msnap_close(r));
}

TEST_HARNESS_MAIN
