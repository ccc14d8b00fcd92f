// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: block IO helpers, commit records and the circular log.
 *
 * A commit writes its data pages out of place and its record into the
 * log, all with REQ_FUA and all at once, then waits once: one round trip.
 * Each DATA entry carries the CRC32C of its page, so recovery can tell a
 * record whose data did not all reach the disk and stop there.  Commits
 * are serialised by commit_mutex, so a commit is acknowledged only after
 * every earlier one is durable.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/slab.h>

#include "memsnap.h"

void msnap_io_init(struct msnap_io *io)
{
	atomic_set(&io->pending, 1);
	init_completion(&io->done);
	io->error = 0;
	io->end = NULL;
	io->data_end_ns = 0;
	io->rec_end_ns = 0;
}

static void msnap_io_put(struct msnap_io *io)
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

static void msnap_data_end(struct bio *bio)
{
	struct msnap_io *io = bio->bi_private;

	msnap_io_stamp(&io->data_end_ns);
	msnap_io_end(bio);
}

static void msnap_rec_end(struct bio *bio)
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

int msnap_record_init(struct msnap_sb_info *sbi, struct msnap_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->max_blocks = max_t(u64, 1, sbi->log_blocks / MSNAP_RECORD_MAX_DIV);
	return 0;
}

void msnap_record_free(struct msnap_record *rec)
{
	unsigned int i;

	for (i = 0; i < rec->alloced; i++)
		__free_page(rec->pages[i]);
	kfree(rec->pages);
	rec->pages = NULL;
	rec->nr = 0;
	rec->alloced = 0;
}

unsigned int msnap_record_blocks(struct msnap_record *rec)
{
	return rec->nr;
}

static struct msnap_log_block *msnap_record_block(struct msnap_record *rec,
						  unsigned int i)
{
	return page_address(rec->pages[i]);
}

/* Zeroed pages for the first @blocks blocks of the record, in advance. */
int msnap_record_reserve(struct msnap_record *rec, unsigned int blocks)
{
	struct page **pages;

	blocks = min(blocks, rec->max_blocks);
	if (blocks > rec->cap) {
		pages = krealloc_array(rec->pages, blocks, sizeof(*pages),
				       GFP_NOFS);
		if (!pages)
			return -ENOMEM;
		rec->pages = pages;
		rec->cap = blocks;
	}
	for (; rec->alloced < blocks; rec->alloced++) {
		rec->pages[rec->alloced] = alloc_page(GFP_NOFS | __GFP_ZERO);
		if (!rec->pages[rec->alloced])
			return -ENOMEM;
	}
	return 0;
}

static int msnap_record_grow(struct msnap_record *rec)
{
	int err;

	if (rec->nr == rec->max_blocks)
		return -ENOSPC;
	if (rec->nr == rec->alloced) {
		err = msnap_record_reserve(rec, rec->cap ? rec->cap * 2 : 4);
		if (err)
			return err;
	}
	rec->nr++;
	rec->used = 0;
	rec->entries = 0;
	return 0;
}

/*
 * Append a zeroed entry of @len bytes (header included) to the record and
 * return it for the caller to fill; ERR_PTR(-ENOSPC) when the record
 * would exceed its share of the log.
 */
void *msnap_record_add(struct msnap_record *rec, enum msnap_entry_type type,
		       u64 ino, size_t len)
{
	struct msnap_log_block *lb;
	struct msnap_entry_hdr *hdr;
	int err;

	len = round_up(len, 8);
	if (!rec->nr || rec->used + len > MSNAP_LOG_PAYLOAD) {
		err = msnap_record_grow(rec);
		if (err)
			return ERR_PTR(err);
	}
	lb = msnap_record_block(rec, rec->nr - 1);
	hdr = (void *)(lb->payload + rec->used);
	hdr->type = cpu_to_le16(type);
	hdr->len = cpu_to_le16(len);
	hdr->ino = cpu_to_le64(ino);
	rec->used += len;
	rec->entries++;
	lb->entries = cpu_to_le32(rec->entries);
	lb->bytes_used = cpu_to_le32(rec->used);
	return hdr;
}

/* Seal the record's blocks as commit next_seq and start writing them. */
int msnap_record_write(struct super_block *sb, struct msnap_record *rec,
		       struct msnap_io *io)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	u64 pos = (sbi->log_head + sbi->log_used) % sbi->log_blocks;
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC | REQ_FUA;
	struct msnap_log_block *lb;
	unsigned int i, first;
	time64_t now = ktime_get_real_seconds();

	lockdep_assert_held(&sbi->commit_mutex);
	for (i = 0; i < rec->nr; i++) {
		lb = msnap_record_block(rec, i);
		lb->magic = cpu_to_le32(MSNAP_LOG_MAGIC);
		lb->seq = cpu_to_le64(sbi->next_seq);
		lb->index = cpu_to_le32(i);
		lb->count = cpu_to_le32(rec->nr);
		lb->nonce = cpu_to_le64(sbi->log_nonce);
		lb->time = cpu_to_le64(now);
		msnap_set_crc(lb, &lb->crc);
	}
	/* At most two runs: up to the end of the log, then from its start. */
	first = min_t(u64, rec->nr, sbi->log_blocks - pos);
	msnap_submit_pages(sb, sbi->log_start + pos, rec->pages, first, opf, io,
			   msnap_rec_end);
	if (first < rec->nr)
		msnap_submit_pages(sb, sbi->log_start, rec->pages + first,
				   rec->nr - first, opf, io, msnap_rec_end);
	return 0;
}

void msnap_record_done(struct msnap_sb_info *sbi, struct msnap_record *rec)
{
	lockdep_assert_held(&sbi->commit_mutex);
	sbi->log_used += rec->nr;
	sbi->next_seq++;
}

/* Make sure @blocks more log blocks fit, checkpointing if they do not. */
int msnap_log_make_room(struct super_block *sb, unsigned int blocks)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);

	lockdep_assert_held(&sbi->commit_mutex);
	if (sbi->log_renewed && msnap_log_fits(sbi, blocks))
		return 0;
	return msnap_checkpoint(sb);
}

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
#ifdef MSNAP_PLANT_UAF
		/* Planted bug (test-only build): the commit is freed. */
		(void)READ_ONCE(c->seq);
#endif
	}
}

/*
 * A commit's IO ended (in the block layer's completion context): advance
 * durable_seq over the done prefix of the in-flight list, complete its
 * io_uring commands (their CQEs are posted from task work) and wake the
 * waiters at once; freeing goes to reap_work.  Nothing here touches sbi
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
		if (head->ucmd)
			msnap_uring_done(head->ucmd, ok ? head->snap.nr : -EIO);
		head->ucmd = NULL;
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
					   opf, &c->io, msnap_data_end);
	}
	msnap_stats_inc(&sbi->stats, MSNAP_ST_COMMITS, 1);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_DATA_BIOS, bios);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_REC_BLOCKS, c->rec.nr);
	msnap_record_write(sb, &c->rec, &c->io);
	msnap_record_done(sbi, &c->rec);
	msnap_io_put(&c->io);
}

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

void msnap_entry_inode_fill(struct inode *inode, struct msnap_entry_inode *e)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct timespec64 a = inode_get_atime(inode);
	struct timespec64 m = inode_get_mtime(inode);
	struct timespec64 c = inode_get_ctime(inode);

	e->mode = cpu_to_le32(inode->i_mode);
	e->uid = cpu_to_le32(i_uid_read(inode));
	e->gid = cpu_to_le32(i_gid_read(inode));
	e->flags = cpu_to_le32(mi->flags);
	e->size = cpu_to_le64(mi->disk_size);
	e->atime_sec = cpu_to_le64(a.tv_sec);
	e->mtime_sec = cpu_to_le64(m.tv_sec);
	e->ctime_sec = cpu_to_le64(c.tv_sec);
	e->atime_nsec = cpu_to_le32(a.tv_nsec);
	e->mtime_nsec = cpu_to_le32(m.tv_nsec);
	e->ctime_nsec = cpu_to_le32(c.tv_nsec);
	e->preferred_addr = cpu_to_le64(mi->preferred_addr);
}

/* Build one namespace entry describing @inode now into @buf. */
static size_t msnap_ns_entry(enum msnap_entry_type type, struct inode *inode,
			     void *buf)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_entry_hdr *hdr = buf;
	struct msnap_entry_truncate *t = buf;
	struct msnap_entry_name *n = buf;
	size_t len, name_len;

	switch (type) {
	case MSNAP_ENTRY_INODE:
		len = sizeof(struct msnap_entry_inode);
		msnap_entry_inode_fill(inode, buf);
		break;
	case MSNAP_ENTRY_NAME:
		name_len = strlen(mi->name);
		len = round_up(sizeof(*n) + name_len, 8);
		n->name_len = cpu_to_le32(name_len);
		memcpy(n->name, mi->name, name_len);
		break;
	case MSNAP_ENTRY_TRUNCATE:
		len = sizeof(*t);
		t->first_index = cpu_to_le64(DIV_ROUND_UP(mi->disk_size,
							  PAGE_SIZE));
		t->size = cpu_to_le64(mi->disk_size);
		break;
	default:
		len = sizeof(struct msnap_entry_unlink);
		break;
	}
	hdr->type = cpu_to_le16(type);
	hdr->len = cpu_to_le16(len);
	hdr->ino = cpu_to_le64(inode->i_ino);
	return len;
}

/* Room for @need more zeroed bytes at the end of the namespace queue. */
static int msnap_ns_reserve(struct msnap_sb_info *sbi, size_t need)
{
	void *buf;

	if (sbi->ns_len + need > sbi->ns_cap) {
		buf = krealloc(sbi->ns_buf, sbi->ns_cap * 2 + 2 * need,
			       GFP_NOFS);
		if (!buf)
			return -ENOMEM;
		sbi->ns_buf = buf;
		sbi->ns_cap = sbi->ns_cap * 2 + 2 * need;
	}
	memset(sbi->ns_buf + sbi->ns_len, 0, need);
	return 0;
}

/*
 * Queue a namespace entry for @inode; it reaches the disk with the next
 * commit, at the latest commit_secs from now.  Caller holds commit_mutex
 * and has already changed the in-memory state.
 */
int msnap_ns_log(struct msnap_sb_info *sbi, enum msnap_entry_type type,
		 struct inode *inode)
{
	size_t need = sizeof(struct msnap_entry_name) + MSNAP_NAME_MAX + 8;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	err = msnap_ns_reserve(sbi, need);
	if (err)
		return err;
	sbi->ns_len += msnap_ns_entry(type, inode, sbi->ns_buf + sbi->ns_len);
	if (!delayed_work_pending(&sbi->flush_work))
		queue_delayed_work(system_long_wq, &sbi->flush_work,
				   sbi->commit_secs * HZ);
	return 0;
}

/* Queue a DATA entry for a block already written durably. */
int msnap_ns_log_data(struct msnap_sb_info *sbi, u64 ino, pgoff_t index,
		      u64 block, u32 crc)
{
	struct msnap_entry_data *d;
	size_t need = sizeof(*d);
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	err = msnap_ns_reserve(sbi, need);
	if (err)
		return err;
	d = sbi->ns_buf + sbi->ns_len;
	d->hdr.type = cpu_to_le16(MSNAP_ENTRY_DATA);
	d->hdr.len = cpu_to_le16(need);
	d->hdr.ino = cpu_to_le64(ino);
	d->index = cpu_to_le64(index);
	d->block = cpu_to_le64(block);
	d->data_crc = cpu_to_le32(crc);
	sbi->ns_len += need;
	return 0;
}

/*
 * Called once at the start of a namespace operation: if the queue holds
 * half a record already, commit it, so that the operation's entries (at
 * most a few) land in one record and stay atomic.
 */
/*
 * Before a namespace operation: room for its entries in the queue, and
 * for what it may add to the next checkpoint (beyond the reserve unless
 * it deletes: !@reserve).
 */
int msnap_ns_room(struct msnap_sb_info *sbi, bool reserve)
{
	size_t max = (sbi->log_blocks / MSNAP_RECORD_MAX_DIV) *
		     MSNAP_LOG_PAYLOAD / 2;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	if (sbi->error)
		return -EIO;
	if (sbi->ns_len >= max) {
		err = msnap_commit_ns(sbi->sb);
		if (err)
			return err;
	}
	return msnap_meta_room(sbi->sb, MSNAP_META_OP, reserve);
}

/* Move the queued namespace entries into @rec, first. */
int msnap_ns_drain(struct msnap_sb_info *sbi, struct msnap_record *rec)
{
	struct msnap_entry_hdr *hdr;
	size_t off, len;
	void *e;

	lockdep_assert_held(&sbi->commit_mutex);
	for (off = 0; off < sbi->ns_len; off += len) {
		hdr = sbi->ns_buf + off;
		len = le16_to_cpu(hdr->len);
		e = msnap_record_add(rec, le16_to_cpu(hdr->type),
				     le64_to_cpu(hdr->ino), len);
		if (IS_ERR(e))
			return PTR_ERR(e);
		memcpy(e, hdr, len);
	}
	return 0;
}

/* Commit the queued namespace entries on their own. */
int msnap_commit_ns(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_commit *c;
	u64 seq;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	if (!sbi->ns_len)
		return 0;
	if (sbi->error)
		return -EIO;
	c = msnap_commit_alloc(sbi);
	if (!c)
		return -ENOMEM;
	err = msnap_ns_drain(sbi, &c->rec);
	if (!err)
		err = msnap_log_make_room(sb, msnap_record_blocks(&c->rec));
	/* A checkpoint includes the queued entries and empties the queue. */
	if (err || !sbi->ns_len) {
		msnap_commit_free(c);
		return err;
	}
	seq = sbi->next_seq;
	msnap_commit_submit(sb, c);
	sbi->ns_len = 0;
	return msnap_commit_wait(sbi, seq, false);
}

/*
 * Periodic work: namespace entries due, and a checkpoint when the log is
 * filling up.
 */
void msnap_flush_work(struct work_struct *work)
{
	struct msnap_sb_info *sbi = container_of(to_delayed_work(work),
						 struct msnap_sb_info,
						 flush_work);
	int err;

	mutex_lock(&sbi->commit_mutex);
	err = msnap_commit_ns(sbi->sb);
	if (!err && !sbi->error &&
	    sbi->log_used * 4 > sbi->log_blocks * MSNAP_LOG_HIGH_QUARTERS)
		msnap_checkpoint(sbi->sb);
	mutex_unlock(&sbi->commit_mutex);
}
