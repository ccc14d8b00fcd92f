/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * memsnap: user-space ABI and on-disk format.
 *
 * Applications keep their state in memory-mapped files of a memsnap
 * filesystem and make the modified pages of a range durable, atomically,
 * with one call.  See docs/abi.md and docs/format.md.
 */
#ifndef _UAPI_LINUX_MEMSNAP_H
#define _UAPI_LINUX_MEMSNAP_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Filesystem type name and statfs(2) f_type. */
#define MEMSNAP_FS_NAME		"memsnap"
#define MEMSNAP_SUPER_MAGIC	0x4d534e50	/* "MSNP" */

#endif /* _UAPI_LINUX_MEMSNAP_H */
