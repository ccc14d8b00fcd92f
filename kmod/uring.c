// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: persist through io_uring (IORING_OP_URING_CMD).
 *
 * The command is snapshotted and submitted from ->uring_cmd, which
 * returns -EIOCBQUEUED: at once, in the submitting task, when the commit
 * and snapshot locks are free and no checkpoint is due; otherwise
 * io_uring reissues it from a worker, where it may wait.  Its CQE is
 * posted when the commit and every earlier one are durable: the IO
 * completion queues task work (io_uring_cmd_complete_in_task(), as the
 * NVMe passthrough does from its end_io) that posts it in the
 * submitter's context (posting from the bio end_io is not safe in 6.1).
 * With the snapshot taken inline, the folio locks of the dirty pages
 * may still be waited for, briefly.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>

#include "memsnap.h"

#if MSNAP_K612
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

/*
 * The command's private area: the submitting thread, noted at the first
 * (non-blocking) issue so that MSNAP_THREAD still means the submitter's
 * pages when io-wq reissues the command from a worker thread, and the
 * result.
 */
#define MSNAP_URING_PDU_MAGIC	0x4d53504eU	/* "MSPN" */

struct msnap_uring_pdu {
	int	res;
	u32	magic;
	pid_t	tid;
};

static const void *msnap_uring_payload(struct io_uring_cmd *ucmd)
{
#if MSNAP_K612
	return io_uring_sqe_cmd(ucmd->sqe);
#else
	return ucmd->cmd;
#endif
}

static void msnap_uring_task_done(struct io_uring_cmd *ucmd,
				  unsigned int issue_flags)
{
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;

	io_uring_cmd_done(ucmd, pdu->res, 0, issue_flags);
}

/* Called when the commit carrying @ucmd is durable (or failed). */
void msnap_uring_done(struct io_uring_cmd *ucmd, int res)
{
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;

	pdu->res = res;
	io_uring_cmd_complete_in_task(ucmd, msnap_uring_task_done);
}

int msnap_uring_cmd(struct io_uring_cmd *ucmd, unsigned int issue_flags)
{
	struct super_block *sb = file_inode(ucmd->file)->i_sb;
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;
	struct msnap_uring_persist p;
	struct msnap_target *t = NULL;
	unsigned int nt = 0;
	u64 epoch, pages, flags;
	pid_t tid;
	int err;

	BUILD_BUG_ON(sizeof(struct msnap_uring_pdu) > sizeof(ucmd->pdu));
	if (ucmd->cmd_op != MSNAP_URING_CMD_PERSIST)
		return -ENOTTY;
	/* The payload is only valid during this call: copy it. */
	memcpy(&p, msnap_uring_payload(ucmd), sizeof(p));
	if (p.flags & ~MSNAP_THREAD || !p.pages)
		return -EINVAL;
	flags = p.flags;
	/*
	 * The first issue is the non-blocking one, in the submitter, unless
	 * the SQE asked for a worker (IOSQE_ASYNC, SQPOLL).  The magic is
	 * cleared here, before the command can complete, so that a recycled
	 * request never inherits it.
	 */
	if (issue_flags & IO_URING_F_NONBLOCK) {
		flags |= MSNAP_NOWAIT;
		tid = task_pid_nr(current);
	} else {
		tid = pdu->magic == MSNAP_URING_PDU_MAGIC ? pdu->tid :
		      task_pid_nr(current);
	}
	pdu->magic = 0;
	err = msnap_resolve(sb, p.addr, (u64)p.pages << PAGE_SHIFT, &t, &nt);
	if (!err)
		err = msnap_persist(sb, t, nt, flags, tid, ucmd, &epoch,
				    &pages);
	msnap_put_targets(t, nt);
	if (err == -EAGAIN && (flags & MSNAP_NOWAIT)) {
		/* A lock is taken or a checkpoint due: from a worker. */
		pdu->magic = MSNAP_URING_PDU_MAGIC;
		pdu->tid = tid;
		return -EAGAIN;
	}
	if (err == -ENODATA)
		return 0;	/* nothing dirty: complete at once */
	return err ? err : -EIOCBQUEUED;
}
