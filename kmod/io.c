// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: block IO, the lowest layer.
 *
 * Bios of whole pages counted in a struct msnap_io and waited for
 * together (or ended by its callback), metadata buffers written in
 * batches, and the one handler of runtime IO errors.  Everything above
 * (allocator, trees, records, commits, checkpoints) reads and writes
 * through these; nothing here calls up.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/slab.h>

#include "memsnap.h"

/*
 * The one function that handles runtime errors: the first IO error (or
 * inconsistency found while running) makes the filesystem refuse every
 * further change, so nothing half-done ever reaches the disk, and is
 * recorded in the superblock (error_work) for the next mount and fsck.
 * Any context, bio completion included.
 */
void msnap_fs_error(struct super_block *sb, int err, const char *what)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	unsigned long flags;

	if (cmpxchg(&sbi->error, 0, err))
		return;
	msnap_err(sb, "error %d while %s: refusing further changes (unmount and run fsck.memsnap)",
		  err, what);
	WRITE_ONCE(sbi->error_time_now, ktime_get_real_seconds());
	/*
	 * Not from here: it sleeps, and this may run under commit_mutex.
	 * Not on sbi->wq either: a checkpoint flushes that one under
	 * commit_mutex, which error_work takes.
	 */
	spin_lock_irqsave(&sbi->error_lock, flags);
	if (sbi->mounted && !sbi->error_closed && !sb_rdonly(sb))
		queue_work(system_long_wq, &sbi->error_work);
	spin_unlock_irqrestore(&sbi->error_lock, flags);
}

void msnap_io_init(struct msnap_io *io)
{
	atomic_set(&io->pending, 1);
	init_completion(&io->done);
	io->error = 0;
	io->end = NULL;
	io->data_end_ns = 0;
	io->rec_end_ns = 0;
}

/* Drop a reference of @io; the last one ends it. */
void msnap_io_put(struct msnap_io *io)
{
	if (!atomic_dec_and_test(&io->pending))
		return;
	if (io->end)
		io->end(io);
	else
		complete(&io->done);
}

static void msnap_io_end(struct bio *bio)
{
	struct msnap_io *io = bio->bi_private;

	if (bio->bi_status)
		io->error = blk_status_to_errno(bio->bi_status);
	bio_put(bio);
	msnap_io_put(io);
}

/* The last end of a commit's data, or record, bios: for the stats only. */
static void msnap_io_stamp(u64 *last)
{
	u64 now = ktime_get_ns();

	if (now > READ_ONCE(*last))
		WRITE_ONCE(*last, now);
}

void msnap_io_data_end(struct bio *bio)
{
	struct msnap_io *io = bio->bi_private;

	msnap_io_stamp(&io->data_end_ns);
	msnap_io_end(bio);
}

void msnap_io_rec_end(struct bio *bio)
{
	struct msnap_io *io = bio->bi_private;

	msnap_io_stamp(&io->rec_end_ns);
	msnap_io_end(bio);
}

/* Read or write one page at @block and wait for it. */
int msnap_io_sync(struct super_block *sb, u64 block, struct page *page,
		  blk_opf_t opf)
{
	struct msnap_io io;

	msnap_io_init(&io);
	msnap_submit_pages(sb, block, &page, 1, opf, &io, NULL);
	if (!atomic_dec_and_test(&io.pending))
		wait_for_completion_io(&io.done);
	return io.error;
}

/*
 * Write or read @nr pages at consecutive blocks from @block; @end_io, if
 * given, ends the bios instead of msnap_io_end() (and calls it).  Returns
 * the number of bios.
 */
unsigned int msnap_submit_pages(struct super_block *sb, u64 block,
				struct page **pages, unsigned int nr,
				blk_opf_t opf, struct msnap_io *io,
				bio_end_io_t *end_io)
{
	unsigned int i, nvec = 0, bios = 0;
	struct bio *bio = NULL;

	for (i = 0; i < nr; i++) {
		if (!bio) {
			nvec = min_t(unsigned int, nr - i, BIO_MAX_VECS);
			bio = bio_alloc(sb->s_bdev, nvec, opf, GFP_NOFS);
			bio->bi_iter.bi_sector = msnap_sector(block + i);
			bio->bi_end_io = end_io ? end_io : msnap_io_end;
			bio->bi_private = io;
		}
		__bio_add_page(bio, pages[i], PAGE_SIZE, 0);
		if (bio->bi_vcnt == nvec || i + 1 == nr) {
			atomic_inc(&io->pending);
			submit_bio(bio);
			bio = NULL;
			bios++;
		}
	}
	return bios;
}

/* A zeroed, up-to-date buffer for a block about to be written whole. */
struct buffer_head *msnap_bh_new(struct super_block *sb, u64 block)
{
	struct buffer_head *bh = sb_getblk(sb, block);

	if (!bh)
		return NULL;
	lock_buffer(bh);
	memset(bh->b_data, 0, bh->b_size);
	set_buffer_uptodate(bh);
	unlock_buffer(bh);
	return bh;
}

/* Wait for the write of @bh and drop the batch's reference. */
static void msnap_bh_end(struct msnap_bh_batch *batch, struct buffer_head *bh)
{
	wait_on_buffer(bh);
	if ((!buffer_uptodate(bh) || buffer_write_io_error(bh)) && !batch->err)
		batch->err = -EIO;
	brelse(bh);
}

/* Wait for every queued buffer; the batch can take more afterwards. */
static void msnap_bh_flush(struct msnap_bh_batch *batch)
{
	unsigned int i;

	for (i = 0; i < batch->nr; i++)
		msnap_bh_end(batch, batch->bhs[i]);
	batch->nr = 0;
}

/*
 * Start writing @bh; the batch keeps the reference until it is waited.
 * A full batch is waited for first; without memory for the batch, each
 * buffer is waited for at once: slower, never a failure.
 */
void msnap_bh_queue(struct msnap_bh_batch *batch, struct buffer_head *bh)
{
	mark_buffer_dirty(bh);
	write_dirty_buffer(bh, REQ_SYNC);
	if (!batch->bhs)
		batch->bhs = kmalloc_array(MSNAP_BH_BATCH, sizeof(*batch->bhs),
					   GFP_NOFS | __GFP_NOWARN);
	if (!batch->bhs) {
		msnap_bh_end(batch, bh);
		return;
	}
	if (batch->nr == MSNAP_BH_BATCH)
		msnap_bh_flush(batch);
	batch->bhs[batch->nr++] = bh;
}

/* Wait for the whole batch; its first write error. */
int msnap_bh_wait(struct msnap_bh_batch *batch)
{
	int err;

	if (batch->bhs)
		msnap_bh_flush(batch);
	kfree(batch->bhs);
	err = batch->err;
	memset(batch, 0, sizeof(*batch));
	return err;
}
