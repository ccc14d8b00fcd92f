// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: persist, the atomic commit of a file's dirty pages.
 *
 * Under snap_lock held exclusive (writers fault and wait, briefly), each
 * dirty page is write-protected again with folio_mkclean(), its dirty
 * flag cleared without touching writeback accounting, and its contents
 * copied to a bounce page: the snapshot is the state at one instant.
 * Writers then go on while the bounce pages and the commit record are
 * written out of place, together, with FUA: one device round trip.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "memsnap.h"

struct msnap_snap {
	unsigned int	nr;		/* pages snapshotted */
	unsigned int	cap;		/* pages counted dirty */
	pgoff_t		*index;
	struct page	**bounce;
	struct folio	**folio;	/* pinned until the commit is done */
	u64		*block;
	u32		*crc;
};

static void msnap_snap_free(struct msnap_snap *s)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++) {
		__free_page(s->bounce[i]);
		folio_put(s->folio[i]);
	}
	kvfree(s->index);
	kvfree(s->bounce);
	kvfree(s->folio);
	kvfree(s->block);
	kvfree(s->crc);
}

static int msnap_snap_alloc(struct msnap_snap *s, unsigned int n)
{
	memset(s, 0, sizeof(*s));
	s->cap = n;
	s->index = kvcalloc(n, sizeof(*s->index), GFP_NOFS);
	s->bounce = kvcalloc(n, sizeof(*s->bounce), GFP_NOFS);
	s->folio = kvcalloc(n, sizeof(*s->folio), GFP_NOFS);
	s->block = kvcalloc(n, sizeof(*s->block), GFP_NOFS);
	s->crc = kvcalloc(n, sizeof(*s->crc), GFP_NOFS);
	if (!s->index || !s->bounce || !s->folio || !s->block || !s->crc) {
		msnap_snap_free(s);
		return -ENOMEM;
	}
	return 0;
}

/* Snapshot one dirty page into a bounce page. */
static int msnap_snap_page(struct inode *inode, struct msnap_snap *s,
			   pgoff_t index)
{
	struct folio *folio;
	struct page *bounce;
	void *src, *dst;

	xa_erase(&MSNAP_I(inode)->dirty, index);
	folio = msnap_get_folio(inode->i_mapping, index, FGP_LOCK, 0);
	if (IS_ERR(folio))
		return 0;	/* truncated away */
	bounce = alloc_page(GFP_NOFS);
	if (!bounce) {
		msnap_track_dirty(inode, index);
		folio_unlock(folio);
		folio_put(folio);
		return -ENOMEM;
	}
	folio_mkclean(folio);
	folio_clear_dirty(folio);
	src = kmap_local_folio(folio, 0);
	dst = kmap_local_page(bounce);
	memcpy(dst, src, PAGE_SIZE);
	s->crc[s->nr] = msnap_crc32c(dst, PAGE_SIZE);
	kunmap_local(dst);
	kunmap_local(src);
	folio_unlock(folio);
	s->index[s->nr] = index;
	s->bounce[s->nr] = bounce;
	s->folio[s->nr] = folio;	/* keeps it cached until durable */
	s->nr++;
	return 0;
}

static unsigned int msnap_count_dirty(struct msnap_inode_info *mi)
{
	unsigned long index;
	unsigned int n = 0;
	void *entry;

	xa_for_each(&mi->dirty, index, entry)
		n++;
	return n;
}

/* Log blocks a commit of @pages pages of one file needs, at most. */
static u64 msnap_record_estimate(struct msnap_sb_info *sbi, u64 pages)
{
	u64 per = MSNAP_LOG_PAYLOAD / sizeof(struct msnap_entry_data);

	return 2 + div64_u64(sbi->ns_len, MSNAP_LOG_PAYLOAD / 2) +
	       div64_u64(pages + per - 1, per);
}

/* Room in the log and free blocks for @n pages, checkpointing for them. */
static int msnap_persist_room(struct super_block *sb, unsigned int n)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	u64 need = msnap_record_estimate(sbi, n);
	int err;

	if (need > sbi->log_blocks / MSNAP_RECORD_MAX_DIV)
		return -ENOSPC;
	err = msnap_log_make_room(sb, need);
	if (err)
		return err;
	if (msnap_free_blocks(sbi) >= n + msnap_reserved_blocks(sbi))
		return 0;
	/* Blocks released since the last checkpoint come back with one. */
	err = msnap_checkpoint(sb);
	if (err)
		return err;
	if (msnap_free_blocks(sbi) >= n + msnap_reserved_blocks(sbi))
		return 0;
	return -ENOSPC;
}

static int msnap_build_record(struct inode *inode, struct msnap_snap *s,
			      struct msnap_record *rec)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_entry_data *d;
	struct msnap_entry_inode *e;
	unsigned int i;
	int err;

	err = msnap_ns_drain(sbi, rec);
	if (err)
		return err;
	e = msnap_record_add(rec, MSNAP_ENTRY_INODE, inode->i_ino, sizeof(*e));
	if (IS_ERR(e))
		return PTR_ERR(e);
	msnap_entry_inode_fill(inode, e);
	for (i = 0; i < s->nr; i++) {
		d = msnap_record_add(rec, MSNAP_ENTRY_DATA, inode->i_ino,
				     sizeof(*d));
		if (IS_ERR(d))
			return PTR_ERR(d);
		d->index = cpu_to_le64(s->index[i]);
		d->block = cpu_to_le64(s->block[i]);
		d->data_crc = cpu_to_le32(s->crc[i]);
	}
	return 0;
}

/* Snapshot every dirty page of @inode and the size that goes with them. */
static int msnap_snapshot(struct inode *inode, struct msnap_snap *s)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	unsigned long index;
	void *entry;
	int err = 0;

	xa_for_each(&mi->dirty, index, entry) {
		if (s->nr == s->cap)
			break;
		err = msnap_snap_page(inode, s, index);
		if (err)
			break;
	}
	mi->disk_size = i_size_read(inode);
	return err;
}

static int msnap_persist_locked(struct inode *inode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_record rec;
	struct msnap_snap s;
	unsigned int n, i;
	int err;

	down_write(&sbi->snap_lock);
	n = msnap_count_dirty(mi);
	if (!n && !sbi->ns_len && mi->disk_size == i_size_read(inode)) {
		up_write(&sbi->snap_lock);
		return 0;
	}
	err = msnap_persist_room(inode->i_sb, n);
	if (!err)
		err = msnap_snap_alloc(&s, n);
	if (!err) {
		err = msnap_alloc_blocks(sbi, n, s.block, false);
		if (err)
			msnap_snap_free(&s);
	}
	if (err) {
		up_write(&sbi->snap_lock);
		return err;
	}
	err = msnap_snapshot(inode, &s);
	up_write(&sbi->snap_lock);
	for (i = s.nr; i < n; i++)
		msnap_alloc_unmark(sbi, s.block[i]);

	msnap_record_init(sbi, &rec);
	if (!err)
		err = msnap_build_record(inode, &s, &rec);
	for (i = 0; i < s.nr && !err; i++)
		err = msnap_map_set(inode, s.index[i], s.block[i]);
	msnap_mark_ckpt(inode);
	if (!err)
		err = msnap_commit_record(inode->i_sb, &rec, s.bounce, s.block,
					  s.nr);
	else
		msnap_fs_error(inode->i_sb, err, "building a commit");
	if (!err)
		sbi->ns_len = 0;
	msnap_record_free(&rec);
	msnap_snap_free(&s);
	return err;
}

/*
 * Make every change to @inode since its last persist durable, atomically:
 * after a crash the file holds all of them or none.  Returns when they
 * (and every earlier commit) are on stable storage.
 */
int msnap_persist_inode(struct inode *inode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	int err;

	if (sb_rdonly(inode->i_sb))
		return 0;
	mutex_lock(&sbi->commit_mutex);
	if (sbi->error)
		err = -EIO;
	else if (MSNAP_I(inode)->unlinked)
		err = 0;	/* a deleted file has nothing to keep */
	else
		err = msnap_persist_locked(inode);
	mutex_unlock(&sbi->commit_mutex);
	return err;
}
