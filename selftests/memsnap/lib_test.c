// SPDX-License-Identifier: GPL-2.0
/*
 * libmemsnap basics that need no mounted filesystem: the error convention
 * (-errno as the return value) and recognising files of other filesystems.
 */
#include "kselftest_harness.h"
#include "msnap_test.h"

#include <errno.h>
#include <memsnap.h>

TEST(bad_fd_is_ebadf)
{
	/* The library reports errors by return value, as -errno. */
	ASSERT_EQ(-EBADF, msnap_is_memsnap(-1));
	ASSERT_EQ(-EBADF, msnap_is_memsnap(INT32_MAX));
}

TEST(other_fs_is_not_memsnap)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, msnap_is_memsnap(fd));
	close(fd);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, msnap_is_memsnap(fd));
	close(fd);
}

TEST_HARNESS_MAIN
