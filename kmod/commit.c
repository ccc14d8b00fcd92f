// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: the commit lifecycle.
 *
 * A commit writes its data pages out of place and its record into the
 * circular log, all with REQ_FUA and all at once, then waits once: one
 * round trip.  Each DATA entry carries the CRC32C of its page, so
 * recovery can tell a record whose data did not all reach the disk and
 * stop there.  Commits are submitted in sequence order under
 * commit_mutex and acknowledged in that order: a commit is durable only
 * once it and every earlier one are (msnap_commit_end_io()).  Whoever
 * waits for a commit in another way (the io_uring command) hands a
 * callback down in struct msnap_commit_cb; nothing here calls up.
 *
 * The bounce pages a snapshot copies into come from a per-filesystem
 * pool that finished commits refill.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/slab.h>

#include "memsnap.h"

/* A page for a snapshot to overwrite: from the pool, else allocated. */
struct page *msnap_bounce_get(struct msnap_sb_info *sbi)
{
	struct page *page;

	spin_lock(&sbi->pool_lock);
	page = list_first_entry_or_null(&sbi->pool, struct page, lru);
	if (page) {
		list_del(&page->lru);
		sbi->pool_nr--;
	}
	spin_unlock(&sbi->pool_lock);
	return page ? page : alloc_page(GFP_NOFS);
}

/* Back to the pool while it has room, else to the page allocator. */
static void msnap_bounce_put(struct msnap_sb_info *sbi, struct page **pages,
			     unsigned int n)
{
	unsigned int i = 0;

	spin_lock(&sbi->pool_lock);
	for (; i < n && sbi->pool_nr < MSNAP_BOUNCE_POOL; i++) {
		list_add(&pages[i]->lru, &sbi->pool);
		sbi->pool_nr++;
	}
	spin_unlock(&sbi->pool_lock);
	for (; i < n; i++)
		__free_page(pages[i]);
}

/* Unmount: no commit is left to give pages back. */
void msnap_bounce_pool_drain(struct msnap_sb_info *sbi)
{
	struct page *page, *tmp;

	list_for_each_entry_safe(page, tmp, &sbi->pool, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
	sbi->pool_nr = 0;
}

/* An empty commit; it takes its sequence number when submitted. */
struct msnap_commit *msnap_commit_alloc(struct msnap_sb_info *sbi)
{
	struct msnap_commit *c = kzalloc(sizeof(*c), GFP_NOFS);

	if (!c)
		return NULL;
	c->sbi = sbi;
	msnap_io_init(&c->io);
	msnap_record_init(sbi, &c->rec);
	INIT_LIST_HEAD(&c->entry);
	return c;
}

/* Give back the commit's bounce pages, folios and record. */
void msnap_commit_free(struct msnap_commit *c)
{
	unsigned int i;

	msnap_bounce_put(c->sbi, c->snap.bounce, c->snap.nbounce);
	for (i = 0; i < c->snap.nr; i++)
		folio_put(c->snap.folio[i]);
	kvfree(c->snap.ino);
	kvfree(c->snap.index);
	kvfree(c->snap.bounce);
	kvfree(c->snap.folio);
	kvfree(c->snap.block);
	kvfree(c->snap.crc);
	msnap_record_free(&c->rec);
	kfree(c);
}

/* Free the commits that are no longer in flight; process context. */
void msnap_reap_work(struct work_struct *work)
{
	struct msnap_sb_info *sbi = container_of(work, struct msnap_sb_info,
						 reap_work);
	struct msnap_commit *c, *tmp;
	LIST_HEAD(finished);

	spin_lock_irq(&sbi->inflight_lock);
	list_splice_init(&sbi->finished, &finished);
	spin_unlock_irq(&sbi->inflight_lock);
	list_for_each_entry_safe(c, tmp, &finished, entry) {
		list_del(&c->entry);
		msnap_commit_free(c);
	}
}

/*
 * A commit's IO ended (in the block layer's completion context): advance
 * durable_seq over the done prefix of the in-flight list, call their
 * callbacks (the io_uring command's posts its CQE from task work) and
 * wake the waiters at once; freeing goes to reap_work.  Nothing here touches sbi
 * after dropping inflight_lock.
 */
static void msnap_commit_end_io(struct msnap_io *io)
{
	struct msnap_commit *c = container_of(io, struct msnap_commit, io);
	struct msnap_sb_info *sbi = c->sbi;
	struct msnap_commit *head, *tmp;
	unsigned long flags;
	bool ok;

	/*
	 * From here on nothing is acknowledged: later commits may be on
	 * disk, but one before them is not.
	 */
	if (io->error)
		msnap_fs_error(sbi->sb, io->error, "writing a commit");
	if (io->data_end_ns)
		msnap_stats_time(&sbi->stats, MSNAP_ST_IO_DATA_NS,
				 io->data_end_ns - c->submit_ns);
	if (io->rec_end_ns)
		msnap_stats_time(&sbi->stats, MSNAP_ST_IO_REC_NS,
				 io->rec_end_ns - c->submit_ns);
	spin_lock_irqsave(&sbi->inflight_lock, flags);
	c->done = true;
	list_for_each_entry_safe(head, tmp, &sbi->inflight, entry) {
		if (!head->done)
			break;
		ok = !head->io.error && !READ_ONCE(sbi->error);
		if (ok)
			WRITE_ONCE(sbi->durable_seq, head->seq);
		/* Under the lock: reap_work frees @head once it is unlocked. */
		if (head->cb.done)
			head->cb.done(head->cb.data, ok ? head->snap.nr : -EIO);
		head->cb.done = NULL;
		if (head->submit_ns)
			msnap_stats_since(&sbi->stats, MSNAP_ST_IO_NS,
					  head->submit_ns);
		list_move_tail(&head->entry, &sbi->finished);
	}
	/*
	 * Still under the lock: once msnap_commit_drain() has seen the list
	 * empty, no completion touches sbi again, and the reap work it
	 * flushes is queued.
	 */
	wake_up_all(&sbi->durable_wq);
	queue_work(sbi->wq, &sbi->reap_work);
	spin_unlock_irqrestore(&sbi->inflight_lock, flags);
}

/*
 * Start writing a commit: its data pages out of place and its record in
 * the log, each with FUA, all at once; the commit takes the next
 * sequence number and its log blocks.  Durability is tracked by
 * msnap_commit_end_io(); the caller may wait with msnap_commit_wait().
 */
void msnap_commit_submit(struct super_block *sb, struct msnap_commit *c)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC | REQ_FUA;
	struct msnap_snap *s = &c->snap;
	unsigned int i, run, bios = 0;

	lockdep_assert_held(&sbi->commit_mutex);
	c->seq = sbi->next_seq;
	c->submit_ns = ktime_get_ns();
	c->io.end = msnap_commit_end_io;
	spin_lock_irq(&sbi->inflight_lock);
	list_add_tail(&c->entry, &sbi->inflight);
	spin_unlock_irq(&sbi->inflight_lock);
	for (i = 0; i < s->nr; i += run) {
		for (run = 1; i + run < s->nr; run++)
			if (s->block[i + run] != s->block[i] + run)
				break;
		bios += msnap_submit_pages(sb, s->block[i], s->bounce + i, run,
					   opf, &c->io, msnap_io_data_end);
	}
	msnap_stats_inc(&sbi->stats, MSNAP_ST_COMMITS, 1);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_DATA_BIOS, bios);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_REC_BLOCKS, c->rec.nr);
	msnap_record_write(sb, &c->rec, &c->io);
	msnap_record_done(sbi, &c->rec);
	msnap_io_put(&c->io);
}

/* Whether commit @seq is durable, or will never be (an IO error). */
static bool msnap_durable(struct msnap_sb_info *sbi, u64 seq)
{
	return READ_ONCE(sbi->durable_seq) >= seq || READ_ONCE(sbi->error);
}

/* Wait until commit @seq and all before it are durable. */
int msnap_commit_wait(struct msnap_sb_info *sbi, u64 seq, bool intr)
{
	int err = 0;

	if (intr)
		err = wait_event_interruptible(sbi->durable_wq,
					       msnap_durable(sbi, seq));
	else
		wait_event(sbi->durable_wq, msnap_durable(sbi, seq));
	if (err)
		return err;
	return READ_ONCE(sbi->durable_seq) >= seq ? 0 : -EIO;
}

/*
 * Wait for every submitted commit to finish and be freed (checkpoint,
 * abort, unmount), whether its IO failed or not.  After it returns, and
 * until the next submission, no commit completion runs or touches sbi.
 */
void msnap_commit_drain(struct msnap_sb_info *sbi)
{
	wait_event(sbi->durable_wq, ({
		bool empty;

		spin_lock_irq(&sbi->inflight_lock);
		empty = list_empty(&sbi->inflight);
		spin_unlock_irq(&sbi->inflight_lock);
		empty;
	}));
	flush_workqueue(sbi->wq);
}
