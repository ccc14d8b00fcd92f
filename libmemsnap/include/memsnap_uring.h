/* SPDX-License-Identifier: MIT OR LGPL-2.1-or-later */
/*
 * libmemsnap's io_uring helpers: persists as IORING_OP_URING_CMD
 * requests, so that they overlap with an application's other IO on one
 * ring.  Inline, so that libmemsnap itself does not link with liburing:
 * a program that includes this header links with -luring.
 * See msnap_prep_persist(3).
 */
#ifndef LIBMEMSNAP_URING_H
#define LIBMEMSNAP_URING_H

#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>
#include <memsnap.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Prepare @sqe to persist [addr, addr + len) of region @r.  The CQE
 * arrives once the commit is durable; read it with msnap_cqe_result().
 */
static inline void msnap_prep_persist(struct io_uring_sqe *sqe,
				      const struct msnap_region *r,
				      void *addr, size_t len, uint64_t flags)
{
	struct msnap_uring_persist cmd;
	unsigned long long pages;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	/*
	 * A length or flags the command cannot express become 0 pages or
	 * unknown flags: -EINVAL in the CQE.
	 */
	pages = len / ps + (len % ps != 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = (__u64)(uintptr_t)addr;
	cmd.pages = pages > UINT32_MAX ? 0 : (__u32)pages;
	cmd.flags = flags > UINT32_MAX ? UINT32_MAX : (__u32)flags;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, msnap_fd(r), NULL, 0, 0);
	sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
	/* sqe->cmd is a flexible array: copy through its offset. */
	memcpy((char *)sqe + offsetof(struct io_uring_sqe, cmd), &cmd,
	       sizeof(cmd));
}

/* Pages written (>= 0), or -errno, from a persist's CQE. */
static inline int msnap_cqe_result(const struct io_uring_cqe *cqe)
{
	return cqe->res;
}

#ifdef __cplusplus
}
#endif

#endif /* LIBMEMSNAP_URING_H */
