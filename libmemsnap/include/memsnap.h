/* SPDX-License-Identifier: MIT OR LGPL-2.1-or-later */
/*
 * libmemsnap: atomic, durable persistence of memory-mapped regions on a
 * memsnap filesystem.  See memsnap(7).
 *
 * Error convention (the whole library): functions return 0 or a count on
 * success and a negative errno value on failure; do not rely on errno.
 */
#ifndef LIBMEMSNAP_H
#define LIBMEMSNAP_H

#include <linux/memsnap.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * msnap_is_memsnap - whether an open file lives on a memsnap filesystem.
 * Returns 1 if it does, 0 if it does not, -errno if fstatfs(2) failed.
 */
int msnap_is_memsnap(int fd);

#ifdef __cplusplus
}
#endif

#endif /* LIBMEMSNAP_H */
