// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * libmemsnap: the user-space side of memsnap.
 */
#include <errno.h>
#include <sys/vfs.h>

#include "memsnap.h"

int msnap_is_memsnap(int fd)
{
	struct statfs st;

	if (fstatfs(fd, &st))
		return -errno;
	return st.f_type == MEMSNAP_SUPER_MAGIC;
}
