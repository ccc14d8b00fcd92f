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

/*
 * The command's private area: the result, for the task work that posts
 * the CQE, and the payload as the first issue read it, with the address
 * it was read from, for a reissue (msnap_uring_get_payload()).
 */
#define MSNAP_URING_PDU_MAGIC	0x4d53504eU	/* "MSPN" */

struct msnap_uring_pdu {
	int				res;
	u32				magic;
	const void			*from;
	struct msnap_uring_persist	p;
};

/*
 * The payload is in the SQE, which the application may reuse as soon as
 * io_uring_enter() returns.  A command that got -EAGAIN from its
 * non-blocking issue is reissued later by an io-wq worker, and 6.12
 * hands it the SQ ring entry again (compat.h): so the first issue keeps
 * a copy, and a blocking issue from the same address uses it.
 *
 * A command cancelled before its reissue leaves its copy in a request
 * that io_uring recycles.  The next command in it either starts with a
 * non-blocking issue, which never takes the copy, or (IOSQE_ASYNC) from
 * a worker with io_uring's own copy of its SQE, at an address no copy
 * notes: the copies note SQ ring entries only.
 */
static void msnap_uring_get_payload(struct io_uring_cmd *ucmd,
				    unsigned int issue_flags,
				    struct msnap_uring_persist *p)
{
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;
	const void *from = msnap_uring_cmd_payload(ucmd);

	if (MSNAP_URING_REISSUE_READS_RING &&
	    !(issue_flags & IO_URING_F_NONBLOCK) &&
	    pdu->magic == MSNAP_URING_PDU_MAGIC && pdu->from == from)
		*p = pdu->p;
	else
		memcpy(p, from, sizeof(*p));
	pdu->magic = 0;
}

/* -EAGAIN: keep the payload for the reissue. */
static void msnap_uring_keep_payload(struct io_uring_cmd *ucmd,
				     const struct msnap_uring_persist *p)
{
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;

	pdu->p = *p;
	pdu->from = msnap_uring_cmd_payload(ucmd);
	pdu->magic = MSNAP_URING_PDU_MAGIC;
}

static void msnap_uring_task_done(struct io_uring_cmd *ucmd,
				  unsigned int issue_flags)
{
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;

	io_uring_cmd_done(ucmd, pdu->res, 0, issue_flags);
}

/*
 * The commit's callback (struct msnap_commit_cb): the commit carrying
 * the command @data is durable (or failed); block-layer completion
 * context, under the commit code's inflight_lock.
 */
static void msnap_uring_done(void *data, int res)
{
	struct io_uring_cmd *ucmd = data;
	struct msnap_uring_pdu *pdu = (void *)ucmd->pdu;

	pdu->res = res;
	io_uring_cmd_complete_in_task(ucmd, msnap_uring_task_done);
}

int msnap_uring_cmd(struct io_uring_cmd *ucmd, unsigned int issue_flags)
{
	struct super_block *sb = file_inode(ucmd->file)->i_sb;
	struct msnap_persist_req req = {
		.cb = { .done = msnap_uring_done, .data = ucmd },
	};
	struct msnap_uring_persist p;
	int err;

	BUILD_BUG_ON(sizeof(struct msnap_uring_pdu) > sizeof(ucmd->pdu));
	if (ucmd->cmd_op != MSNAP_URING_CMD_PERSIST)
		return -ENOTTY;
	msnap_uring_get_payload(ucmd, issue_flags, &p);
	if (p.flags & ~MSNAP_THREAD || !p.pages)
		return -EINVAL;
	req.flags = p.flags;
	/*
	 * The first issue is the non-blocking one, in the submitter, unless
	 * the SQE asked for a worker (IOSQE_ASYNC, SQPOLL).  Either way,
	 * MSNAP_THREAD means the pages of the task that submitted it.
	 */
	if (issue_flags & IO_URING_F_NONBLOCK)
		req.flags |= MSNAP_NOWAIT;
	req.tid = task_pid_nr(msnap_uring_cmd_task(ucmd));
	err = msnap_resolve(sb, p.addr, (u64)p.pages << PAGE_SHIFT, &req.t,
			    &req.nt);
	if (err)
		goto out_put_targets;
	err = msnap_persist(sb, &req);
	if (err == -EAGAIN && (req.flags & MSNAP_NOWAIT)) {
		/* A lock is taken or a checkpoint due: from a worker. */
		msnap_uring_keep_payload(ucmd, &p);
		goto out_put_targets;
	}
	if (err)
		goto out_put_targets;
	/* Nothing dirty: complete at once; else the CQE comes when durable. */
	err = req.empty ? 0 : -EIOCBQUEUED;
out_put_targets:
	msnap_put_targets(req.t, req.nt);
	return err;
}
