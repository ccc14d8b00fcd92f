/* SPDX-License-Identifier: MIT OR LGPL-2.1-or-later */
/*
 * libmemsnap: atomic, durable persistence of memory-mapped regions on a
 * memsnap filesystem.  See memsnap(7).
 *
 * Error convention (the whole library): functions return 0 or a count on
 * success and a negative errno value on failure; do not rely on errno.
 *
 * Thread safety: every function may be called from any thread.  A region
 * must not be closed or resized while another thread uses it.
 */
#ifndef LIBMEMSNAP_H
#define LIBMEMSNAP_H

#include <stddef.h>
#include <stdint.h>
#include <linux/memsnap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An open region: a file of a memsnap filesystem, mapped MAP_SHARED. */
struct msnap_region;

/* msnap_open() flags. */
#define MSNAP_OPEN_CREATE	0x1U	/* create the file if it is missing */
#define MSNAP_OPEN_EXCL		0x2U	/* with CREATE: fail if it exists */
/*
 * Map size bytes but leave the file's size alone: the pages past the end
 * of the file fault with SIGBUS until the file grows (by write(2), or in
 * another process).  Lets a process follow a file that others grow.
 */
#define MSNAP_OPEN_KEEP_SIZE	0x4U

/*
 * msnap_is_memsnap - whether an open file lives on a memsnap filesystem.
 * Returns 1 if it does, 0 if it does not, -errno if fstatfs(2) failed.
 */
int msnap_is_memsnap(int fd);

int msnap_open(const char *path, size_t size, int flags,
	       struct msnap_region **region);
int msnap_close(struct msnap_region *region);
void *msnap_addr(const struct msnap_region *region);
size_t msnap_size(const struct msnap_region *region);
int msnap_fd(const struct msnap_region *region);
int msnap_resize(struct msnap_region *region, size_t size);
int msnap_remap(struct msnap_region *region, size_t size);

/* Persist flags: MSNAP_SYNC (0), MSNAP_ASYNC, MSNAP_THREAD (uapi, __u64). */
int msnap_persist(void *addr, size_t len, uint64_t flags);
int msnap_persist_epoch(void *addr, size_t len, uint64_t flags,
			uint64_t *epoch);
int msnap_persistv(const struct msnap_range *ranges, unsigned int nr,
		   uint64_t flags, uint64_t *epoch);
int msnap_wait(struct msnap_region *region, uint64_t epoch);
int msnap_abort(void *addr, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* LIBMEMSNAP_H */
