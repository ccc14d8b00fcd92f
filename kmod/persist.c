// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: persist, the atomic commit of dirty pages.
 *
 * Under snap_lock held exclusive (writers that fault wait, briefly), each
 * dirty page of the targets is write-protected again with folio_mkclean(),
 * its dirty flag cleared without touching writeback accounting, and its
 * contents copied to a bounce page: the snapshot is the state at one
 * instant.  Writers then go on while the bounce pages and the commit
 * record are written out of place, together, with FUA: one device round
 * trip.  The cost is O(dirty pages in the targets), never O(file size).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "memsnap.h"

/* The arrays and bounce pages of a snapshot of @n pages, all or none. */
static int msnap_snap_alloc(struct msnap_sb_info *sbi, struct msnap_snap *s,
			    unsigned int n)
{
	s->cap = n;
	s->ino = kvcalloc(n, sizeof(*s->ino), GFP_NOFS);
	s->index = kvcalloc(n, sizeof(*s->index), GFP_NOFS);
	s->bounce = kvcalloc(n, sizeof(*s->bounce), GFP_NOFS);
	s->folio = kvcalloc(n, sizeof(*s->folio), GFP_NOFS);
	s->block = kvcalloc(n, sizeof(*s->block), GFP_NOFS);
	s->crc = kvcalloc(n, sizeof(*s->crc), GFP_NOFS);
	if (!s->ino || !s->index || !s->bounce || !s->folio || !s->block ||
	    !s->crc)
		return -ENOMEM;
	for (; s->nbounce < n; s->nbounce++) {
		s->bounce[s->nbounce] = msnap_bounce_get(sbi);
		if (!s->bounce[s->nbounce])
			return -ENOMEM;
	}
	return 0;
}

/* Whether dirty-set @entry belongs to @req (MSNAP_THREAD: req->tid's). */
static bool msnap_mine(void *entry, const struct msnap_persist_req *req)
{
	return !(req->flags & MSNAP_THREAD) || xa_to_value(entry) == req->tid;
}

/*
 * Snapshot one dirty page into its bounce page, allocated in advance: no
 * step can fail once a page leaves its dirty set.  Its CRC comes later,
 * outside snap_lock (msnap_snap_crcs()): the bounce page is the commit's
 * own, and faulting writers need not wait for it.
 */
static void msnap_snap_page(struct inode *inode, struct msnap_snap *s,
			    pgoff_t index)
{
	struct page *bounce = s->bounce[s->nr];
	struct folio *folio;
	void *src, *dst;
	u64 t0, t1, t2;

	lockdep_assert_held_write(&MSNAP_SB(inode->i_sb)->snap_lock);
	folio = msnap_get_folio(inode->i_mapping, index, FGP_LOCK, 0);
	xa_erase(&MSNAP_I(inode)->dirty, index);
	if (IS_ERR(folio))
		return;		/* truncated away */
	t0 = ktime_get_ns();
	folio_mkclean(folio);
	folio_clear_dirty(folio);
	t1 = ktime_get_ns();
	src = kmap_local_folio(folio, 0);
	dst = kmap_local_page(bounce);
	memcpy(dst, src, PAGE_SIZE);
	t2 = ktime_get_ns();
	kunmap_local(dst);
	kunmap_local(src);
	folio_unlock(folio);
	s->wp_ns += t1 - t0;
	s->copy_ns += t2 - t1;
	s->ino[s->nr] = inode->i_ino;
	s->index[s->nr] = index;
	s->folio[s->nr] = folio;	/* keeps it cached until durable */
	s->nr++;
}

/* The data CRCs of the snapshotted pages, from their bounce copies. */
static void msnap_snap_crcs(struct msnap_snap *s)
{
	u64 t0 = ktime_get_ns();
	unsigned int i;
	void *addr;

	for (i = 0; i < s->nr; i++) {
		addr = kmap_local_page(s->bounce[i]);
		s->crc[i] = msnap_crc32c(addr, PAGE_SIZE);
		kunmap_local(addr);
	}
	s->crc_ns = ktime_get_ns() - t0;
}

static bool msnap_target_skip(struct msnap_target *t)
{
	return MSNAP_I(t->inode)->unlinked;
}

static unsigned int msnap_count_dirty(const struct msnap_persist_req *req,
				      bool *resized)
{
	xa_mark_t filter = msnap_dirty_filter(req->flags);
	struct msnap_target *t = req->t;
	unsigned long index;
	unsigned int n = 0, i;
	struct xarray *xa;
	void *entry;

	*resized = false;
	for (i = 0; i < req->nt; i++) {
		if (msnap_target_skip(&t[i]))
			continue;
		if (MSNAP_I(t[i].inode)->disk_size != i_size_read(t[i].inode))
			*resized = true;
		xa = &MSNAP_I(t[i].inode)->dirty;
		for (index = t[i].first,
		     entry = xa_find(xa, &index, t[i].last, filter); entry;
		     entry = xa_find_after(xa, &index, t[i].last, filter))
			n += msnap_mine(entry, req);
	}
	return n;
}

/* Snapshot the targets' dirty pages and the sizes that go with them. */
static void msnap_snapshot(const struct msnap_persist_req *req,
			   struct msnap_snap *s)
{
	xa_mark_t filter = msnap_dirty_filter(req->flags);
	struct msnap_target *t = req->t;
	struct msnap_inode_info *mi;
	unsigned long index;
	unsigned int i;
	void *entry;

	for (i = 0; i < req->nt; i++) {
		if (msnap_target_skip(&t[i]))
			continue;
		mi = MSNAP_I(t[i].inode);
		for (index = t[i].first,
		     entry = xa_find(&mi->dirty, &index, t[i].last, filter);
		     entry;
		     entry = xa_find_after(&mi->dirty, &index, t[i].last,
					   filter)) {
			if (!msnap_mine(entry, req))
				continue;
			if (s->nr == s->cap)
				break;
			msnap_snap_page(t[i].inode, s, index);
		}
		mi->disk_size = i_size_read(t[i].inode);
	}
}

/* Log blocks a commit of @pages pages needs, at most. */
static u64 msnap_record_estimate(struct msnap_sb_info *sbi, u64 pages,
				 unsigned int nt)
{
	u64 per = MSNAP_LOG_PAYLOAD / sizeof(struct msnap_entry_data);

	return 2 + div64_u64(sbi->nslog_len, MSNAP_LOG_PAYLOAD / 2) +
	       div64_u64(nt * sizeof(struct msnap_entry_inode),
			 MSNAP_LOG_PAYLOAD / 2) +
	       div64_u64(pages + per - 1, per);
}

/*
 * Free blocks for @n pages and for what the next checkpoint may then
 * need (each target's inode block and page-map nodes with @n more keys),
 * beyond the reserve.
 */
static bool msnap_blocks_fit(struct msnap_sb_info *sbi, struct msnap_target *t,
			     unsigned int nt, unsigned int n)
{
	u64 files = sbi->meta_files, inodes = sbi->ckpt_inodes, keys, need;
	struct msnap_inode_info *mi;
	unsigned int i;

	for (i = 0; i < nt; i++) {
		if (msnap_target_skip(&t[i]) ||
		    (i && t[i - 1].inode == t[i].inode))
			continue;
		mi = MSNAP_I(t[i].inode);
		keys = max_t(u64, mi->ckpt_keys,
			     DIV_ROUND_UP_ULL(i_size_read(t[i].inode), PAGE_SIZE));
		need = msnap_file_need(mi, mi->ckpt_pages + n, keys);
		if (list_empty(&mi->ckpt_entry)) {
			files += need;
			inodes++;
		} else {
			files += need - mi->meta_need;
		}
	}
	need = files + msnap_tree_need(inodes, READ_ONCE(sbi->next_ino),
				       sbi->inode_height);
	return msnap_free_blocks(sbi) >= n + need + msnap_reserved_blocks(sbi);
}

/*
 * Room in the log and free blocks for @n pages, checkpointing for them
 * (with MSNAP_NOWAIT, -EAGAIN where a checkpoint is needed).
 */
static int msnap_persist_room(struct super_block *sb,
			      const struct msnap_persist_req *req,
			      unsigned int n)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_target *t = req->t;
	unsigned int nt = req->nt;
	u64 need = msnap_record_estimate(sbi, n, nt);
	int err;

	if (need > sbi->log_blocks / MSNAP_RECORD_MAX_DIV)
		return -ENOSPC;
	if (sbi->log_renewed && msnap_log_fits(sbi, need) &&
	    msnap_blocks_fit(sbi, t, nt, n))
		return 0;
	if (req->flags & MSNAP_NOWAIT)
		return -EAGAIN;
	err = msnap_log_make_room(sb, need);
	if (err)
		return err;
	if (msnap_blocks_fit(sbi, t, nt, n))
		return 0;
	/* Blocks released since the last checkpoint come back with one. */
	err = msnap_checkpoint(sb);
	if (err)
		return err;
	return msnap_blocks_fit(sbi, t, nt, n) ? 0 : -ENOSPC;
}

static int msnap_build_record(struct msnap_sb_info *sbi,
			      struct msnap_target *t, unsigned int nt,
			      struct msnap_commit *c)
{
	struct msnap_snap *s = &c->snap;
	struct msnap_entry_data *d;
	struct msnap_entry_inode *e;
	unsigned int i;
	int err;

	err = msnap_nslog_drain(sbi, &c->rec);
	if (err)
		return err;
	for (i = 0; i < nt; i++) {
		/* One attribute entry per file, at its first range. */
		if (msnap_target_skip(&t[i]) ||
		    (i && t[i - 1].inode == t[i].inode))
			continue;
		e = msnap_record_add(&c->rec, MSNAP_ENTRY_INODE,
				     t[i].inode->i_ino, sizeof(*e));
		if (IS_ERR(e))
			return PTR_ERR(e);
		msnap_entry_inode_fill(t[i].inode, e);
	}
	for (i = 0; i < s->nr; i++) {
		d = msnap_record_add(&c->rec, MSNAP_ENTRY_DATA, s->ino[i],
				     sizeof(*d));
		if (IS_ERR(d))
			return PTR_ERR(d);
		d->index = cpu_to_le64(s->index[i]);
		d->block = cpu_to_le64(s->block[i]);
		d->data_crc = cpu_to_le32(s->crc[i]);
	}
	return 0;
}

/* The in-memory maps follow the commit at once (pages stay pinned). */
static int msnap_apply(struct msnap_target *t, unsigned int nt,
		       struct msnap_snap *s)
{
	unsigned int i, j = 0;
	int err = 0;

	for (i = 0; i < s->nr; i++) {
		while (t[j].inode->i_ino != s->ino[i])
			j++;
		err = msnap_map_set(t[j].inode, s->index[i], s->block[i]);
		if (err)
			break;
	}
	for (i = 0; i < nt; i++)
		if (!msnap_target_skip(&t[i]))
			msnap_mark_ckpt(t[i].inode);
	return err;
}

/*
 * Everything the commit allocates, before any page leaves its dirty set:
 * a failure here changes nothing (the caller frees @c).
 */
static int msnap_persist_reserve(struct super_block *sb,
				 const struct msnap_persist_req *req,
				 struct msnap_commit *c, unsigned int n)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	int err;

	err = msnap_persist_room(sb, req, n);
	if (err)
		return err;
	err = msnap_snap_alloc(sbi, &c->snap, n);
	if (err)
		return err;
	err = msnap_record_reserve(&c->rec,
				   msnap_record_estimate(sbi, n, req->nt));
	if (err)
		return err;
	return msnap_alloc_blocks(sbi, n, c->snap.block, false);
}

/*
 * Snapshot, then build and submit the commit; commit_mutex held.  Once
 * submitted, @c may be freed (reap_work) as soon as its IO ends, so its
 * page count comes back in req->pages.  With nothing to commit,
 * req->empty and @c is not submitted.
 */
static int msnap_persist_locked(struct super_block *sb,
				struct msnap_persist_req *req,
				struct msnap_commit *c)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_snap *s = &c->snap;
	u64 t0 = ktime_get_ns();
	unsigned int n, i;
	bool resized;
	int err;

	if (!(req->flags & MSNAP_NOWAIT))
		down_write(&sbi->snap_lock);
	else if (!down_write_trylock(&sbi->snap_lock))
		return -EAGAIN;
	n = msnap_count_dirty(req, &resized);
	if (!n && !sbi->nslog_len && !resized) {
		req->empty = true;
		up_write(&sbi->snap_lock);
		return 0;
	}
	err = msnap_persist_reserve(sb, req, c, n);
	if (err) {
		up_write(&sbi->snap_lock);
		return err;
	}
	msnap_snapshot(req, s);
	up_write(&sbi->snap_lock);
	msnap_stats_since(&sbi->stats, MSNAP_ST_SNAP_NS, t0);
	msnap_snap_crcs(s);
	msnap_stats_time(&sbi->stats, MSNAP_ST_WP_NS, s->wp_ns);
	msnap_stats_time(&sbi->stats, MSNAP_ST_COPY_NS, s->copy_ns);
	msnap_stats_time(&sbi->stats, MSNAP_ST_CRC_NS, s->crc_ns);
	t0 = ktime_get_ns();
	for (i = s->nr; i < n; i++)
		msnap_alloc_unmark(sbi, s->block[i]);
	/* The record's pages are reserved: building it cannot fail. */
	err = msnap_build_record(sbi, req->t, req->nt, c);
	if (err)
		goto out_fs_error;
	err = msnap_apply(req->t, req->nt, s);
	if (err)
		goto out_fs_error;
	req->pages = s->nr;
	msnap_stats_inc(&sbi->stats, MSNAP_ST_PERSISTS, 1);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_PAGES, s->nr);
	msnap_commit_submit(sb, c);	/* c is not ours any more */
	sbi->nslog_len = 0;
	msnap_stats_since(&sbi->stats, MSNAP_ST_SUBMIT_NS, t0);
	return 0;

out_fs_error:
	/*
	 * The pages left their dirty sets: only a damaged page map or
	 * ENOMEM storing the new mapping (msnap_map_set) gets here; stop
	 * all changes rather than lose them silently.
	 */
	msnap_fs_error(sb, err, "building a commit");
	return err;
}

/*
 * Persist the dirty pages of req->t (only those thread req->tid dirtied,
 * with MSNAP_THREAD) as one atomic commit.  Returns once they are
 * durable, or, with MSNAP_ASYNC or a callback (req->cb, the io_uring
 * command's), once they are snapshotted: the callback is called when
 * they are durable.  req->epoch is the commit's sequence number (with
 * nothing to commit, the last one issued), req->pages the pages it
 * writes; req->empty says there was nothing to commit, and then the
 * callback is never called.
 */
int msnap_persist(struct super_block *sb, struct msnap_persist_req *req)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_commit *c;
	u64 t0;
	int err;

	req->pages = 0;
	req->empty = false;
	if (sb_rdonly(sb))
		return -EROFS;
	c = msnap_commit_alloc(sbi);
	if (!c)
		return -ENOMEM;
	c->cb = req->cb;
	t0 = ktime_get_ns();
	if (!(req->flags & MSNAP_NOWAIT)) {
		mutex_lock(&sbi->commit_mutex);
	} else if (!mutex_trylock(&sbi->commit_mutex)) {
		err = -EAGAIN;
		goto out_free_commit;
	}
	msnap_stats_since(&sbi->stats, MSNAP_ST_LOCK_NS, t0);
	err = sbi->error ? -EIO : msnap_persist_locked(sb, req, c);
	req->epoch = sbi->next_seq - 1;
	mutex_unlock(&sbi->commit_mutex);
	if (err)
		goto out_free_commit;
	if (req->empty)
		msnap_commit_free(c);	/* never submitted */
	/* With nothing to commit, wait for the last commit issued. */
	if ((req->flags & MSNAP_ASYNC) || req->cb.done)
		return 0;
	return msnap_commit_wait(sbi, req->epoch, false);

out_free_commit:
	msnap_commit_free(c);
	return err;
}

/* fsync: persist the whole file. */
int msnap_persist_inode(struct inode *inode)
{
	struct msnap_target t = {
		.inode = inode, .first = 0, .last = ULONG_MAX,
	};
	struct msnap_persist_req req = { .t = &t, .nt = 1 };

	if (sb_rdonly(inode->i_sb))
		return 0;
	return msnap_persist(inode->i_sb, &req);
}

/*
 * The inodes of @sb with file data in their dirty sets, referenced, at
 * most @cap of them in @t; with @cap 0, only how many there are.
 */
static unsigned int msnap_dirty_inodes(struct super_block *sb,
				       struct msnap_target *t, unsigned int cap)
{
	struct inode *inode;
	unsigned int n = 0;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		if (cap && n == cap)
			break;
		if (!xa_marked(&MSNAP_I(inode)->dirty, MSNAP_DIRTY_FILE))
			continue;
		if (cap) {
			if (!igrab(inode))
				continue;
			t[n].inode = inode;
			t[n].first = 0;
			t[n].last = ULONG_MAX;
		}
		n++;
	}
	spin_unlock(&sb->s_inode_list_lock);
	return n;
}

/*
 * syncfs, unmount and the commit= interval: persist the pages written
 * through the file API in every file, with the namespace entries queued,
 * as one commit.  When that commit does not fit (a quarter of the log),
 * one commit per file.  Called without commit_mutex (a last iput may
 * evict an unlinked inode, which takes it).
 */
int msnap_persist_file_data(struct super_block *sb)
{
	struct msnap_persist_req req = { .flags = MSNAP_FILEDATA };
	unsigned int cap, nt, i;
	struct msnap_target *t;
	int err, e;

	if (sb_rdonly(sb))
		return 0;
	cap = msnap_dirty_inodes(sb, NULL, 0);
	if (!cap)
		return 0;
	cap += 16;	/* files that gain dirty pages meanwhile */
	t = kvcalloc(cap, sizeof(*t), GFP_NOFS);
	if (!t)
		return -ENOMEM;
	nt = msnap_dirty_inodes(sb, t, cap);
	req.t = t;
	req.nt = nt;
	err = nt ? msnap_persist(sb, &req) : 0;
	if (err == -ENOSPC && nt > 1) {
		/* Too large for one commit: one per file, each atomic. */
		err = 0;
		for (i = 0; i < nt; i++) {
			req.t = &t[i];
			req.nt = 1;
			e = msnap_persist(sb, &req);
			if (e && !err)
				err = e;
		}
	}
	for (i = 0; i < nt; i++)
		iput(t[i].inode);
	kvfree(t);
	return err;
}

/*
 * A cut in the middle of a page: write a copy of the page's persisted
 * block with the bytes past the cut zeroed, to a new block, durably now,
 * and queue its DATA entry after the TRUNCATE entry, so the cut and the
 * zeroes reach the log in the same record.  Unpersisted changes to the
 * page stay unpersisted.  The map names a block as soon as its commit is
 * submitted, and a read is not ordered after a write in flight: the
 * commits in flight must be durable before the block is read, or the
 * copy would take what the block held before (another file's old data).
 */
int msnap_zero_persisted_tail(struct inode *inode, loff_t cut)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	size_t off = offset_in_page(cut);
	pgoff_t index = cut >> PAGE_SHIFT;
	struct page *page;
	u64 old, block;
	void *addr;
	u32 crc;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	if (!off)
		return 0;
	err = msnap_map_lookup(inode, index, &old);
	if (err || !old)
		return err;
	err = msnap_commit_wait(sbi, sbi->next_seq - 1, false);
	if (err)
		return err;
	page = alloc_page(GFP_NOFS);
	if (!page)
		return -ENOMEM;
	err = msnap_io_sync(inode->i_sb, old, page, REQ_OP_READ);
	if (err)
		goto out_free_page;
	err = msnap_alloc_blocks(sbi, 1, &block, true);
	if (err)
		goto out_free_page;
	addr = kmap_local_page(page);
	memset(addr + off, 0, PAGE_SIZE - off);
	crc = msnap_crc32c(addr, PAGE_SIZE);
	kunmap_local(addr);
	err = msnap_io_sync(inode->i_sb, block, page,
			    REQ_OP_WRITE | REQ_SYNC | REQ_FUA);
	if (err)
		goto out_unmark;
	err = msnap_nslog_add_data(sbi, inode->i_ino, index, block, crc);
	if (err)
		goto out_unmark;
	/* The DATA entry is queued: the block is the file's from here on. */
	err = msnap_map_set(inode, index, block);
	goto out_free_page;

out_unmark:
	msnap_alloc_unmark(sbi, block);
out_free_page:
	__free_page(page);
	return err;
}

/* Drop one page's unpersisted contents: it refaults from the disk. */
static void msnap_abort_page(struct inode *inode, pgoff_t index)
{
	loff_t pos = (loff_t)index << PAGE_SHIFT;

	xa_erase(&MSNAP_I(inode)->dirty, index);
	truncate_inode_pages_range(inode->i_mapping, pos, pos + PAGE_SIZE - 1);
}

/*
 * Discard the unpersisted changes of req->t (req->tid's, with
 * MSNAP_THREAD); req->pages is how many pages.  In-flight commits finish
 * first, so that every page refaults with its last persisted contents.
 * Lock order as everywhere: commit_mutex, the invalidate lock, snap_lock.
 */
void msnap_abort(struct super_block *sb, struct msnap_persist_req *req)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_target *t = req->t;
	unsigned long index;
	unsigned int i;
	void *entry;

	req->pages = 0;
	mutex_lock(&sbi->commit_mutex);
	msnap_commit_drain(sbi);
	for (i = 0; i < req->nt; i++) {
		struct address_space *mapping = t[i].inode->i_mapping;

		filemap_invalidate_lock(mapping);
		down_write(&sbi->snap_lock);
		xa_for_each_range(&MSNAP_I(t[i].inode)->dirty, index, entry,
				  t[i].first, t[i].last) {
			if (!msnap_mine(entry, req))
				continue;
			msnap_abort_page(t[i].inode, index);
			req->pages++;
		}
		up_write(&sbi->snap_lock);
		filemap_invalidate_unlock(mapping);
	}
	mutex_unlock(&sbi->commit_mutex);
}
