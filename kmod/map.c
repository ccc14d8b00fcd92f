// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: a file's page map.
 *
 * The map of page index to block is the checkpointed tree (map_root)
 * overlaid with the changes made since the checkpoint (the overlay
 * xarray, where 0 marks a hole).  Commits and recovery change the overlay;
 * the next checkpoint folds it into a new tree.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "memsnap.h"

/*
 * The block of page @index (0: a hole).  Without commit_mutex (faults,
 * reads), a checkpoint may publish a new tree and empty the overlay at
 * any point: the overlay, the (root, height) pair and the tree are read
 * inside map_seq, again if a checkpoint published in between, so that a
 * lookup never combines a root with the other tree's height, nor an
 * emptied overlay with the old tree.
 */
int msnap_map_lookup(struct inode *inode, pgoff_t index, u64 *block)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct super_block *sb = inode->i_sb;
	unsigned int seq;
	void *entry;
	int err;

	do {
		seq = read_seqcount_begin(&mi->map_seq);
		entry = xa_load(&mi->overlay, index);
		if (entry) {
			/* Still right once folded into the new tree. */
			*block = xa_to_value(entry);
			return 0;
		}
		err = msnap_tree_lookup(sb, READ_ONCE(mi->map_root),
					READ_ONCE(mi->map_height),
					inode->i_ino, index, block);
	} while (read_seqcount_retry(&mi->map_seq, seq));
	if (err)
		return err;
	if (*block && !msnap_is_data_block(MSNAP_SB(sb), *block)) {
		msnap_err(sb, "inode %lu page %lu maps block %llu outside the data area",
			  inode->i_ino, index, *block);
		return -EUCLEAN;
	}
	return 0;
}

static int msnap_beyond_one(struct super_block *sb, u64 key, u64 val,
			    void *arg)
{
	struct inode *inode = arg;

	/* 1 ends the walk: a page the overlay does not override. */
	return !xa_load(&MSNAP_I(inode)->overlay, key);
}

/* 1 if @inode maps a page at @first or after, 0 if not, or an error. */
int msnap_map_beyond(struct inode *inode, pgoff_t first)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	unsigned long index;
	void *entry;

	xa_for_each_start(&mi->overlay, index, entry, first)
		if (xa_to_value(entry))
			return 1;
	return msnap_tree_walk(inode->i_sb, mi->map_root, mi->map_height,
			       inode->i_ino, first, msnap_beyond_one, NULL,
			       inode);
}

static int msnap_release(struct msnap_sb_info *sbi, u64 block, bool ondisk)
{
	if (ondisk)
		return msnap_release_ondisk(sbi, block);
	return msnap_release_used(sbi, block);
}

/* Page @index of @inode now lives at @block (0: a hole); release the old. */
int msnap_map_set(struct inode *inode, pgoff_t index, u64 block)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	void *prev;
	u64 old;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	err = msnap_map_lookup(inode, index, &old);
	if (err)
		return err;
	prev = xa_store(&mi->overlay, index, xa_mk_value(block), GFP_NOFS);
	if (xa_is_err(prev))
		return xa_err(prev);
	if (!prev) {	/* one more key for the next checkpoint */
		mi->ckpt_pages++;
		mi->ckpt_keys = max_t(u64, mi->ckpt_keys, (u64)index + 1);
		msnap_meta_update(inode);
	}
	if (old) {
		/*
		 * An unlinked file's blocks left the on-disk state at the
		 * unlink (msnap_inode_unlinked): only the in-memory use ends.
		 */
		err = msnap_release_replaced(sbi, old, !mi->unlinked);
		mi->nblocks--;
	}
	if (block)
		mi->nblocks++;
	msnap_mark_ckpt(inode);
	return err;
}

static int msnap_truncate_one(struct super_block *sb, u64 key, u64 val,
			      void *arg)
{
	struct inode *inode = arg;

	/* A key in the overlay was already handled there. */
	if (xa_load(&MSNAP_I(inode)->overlay, key))
		return 0;
	return msnap_map_set(inode, key, 0);
}

/* Unmap every page from @first on. */
int msnap_map_truncate(struct inode *inode, pgoff_t first)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	unsigned long index;
	void *entry;
	int err;

	xa_for_each_start(&mi->overlay, index, entry, first) {
		if (!xa_to_value(entry))
			continue;
		err = msnap_map_set(inode, index, 0);
		if (err)
			return err;
	}
	return msnap_tree_walk(inode->i_sb, mi->map_root, mi->map_height,
			       inode->i_ino, first, msnap_truncate_one, NULL,
			       inode);
}

struct msnap_release_ctx {
	struct inode	*inode;
	bool		ondisk;
};

static int msnap_release_tree_value(struct super_block *sb, u64 key, u64 val,
				    void *arg)
{
	struct msnap_release_ctx *ctx = arg;

	if (xa_load(&MSNAP_I(ctx->inode)->overlay, key))
		return 0;
	return msnap_release(MSNAP_SB(sb), val, ctx->ondisk);
}

static int msnap_release_tree_node(struct super_block *sb, u64 key, u64 block,
				   void *arg)
{
	struct msnap_release_ctx *ctx = arg;

	return msnap_release(MSNAP_SB(sb), block, ctx->ondisk);
}

/*
 * Release every block of a deleted file: its pages, its page map nodes
 * and its inode block.  At unlink they leave the on-disk state
 * (@ondisk); when the last reference goes they become reusable after the
 * next checkpoint.
 */
int msnap_map_release_all(struct inode *inode, bool ondisk)
{
	struct msnap_release_ctx ctx = { .inode = inode, .ondisk = ondisk };
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	unsigned long index;
	void *entry;
	int err = 0;

	xa_for_each(&mi->overlay, index, entry)
		if (xa_to_value(entry) && !err)
			err = msnap_release(sbi, xa_to_value(entry), ondisk);
	if (mi->inode_block && !err)
		err = msnap_release(sbi, mi->inode_block, ondisk);
	if (err)
		return err;
	return msnap_tree_walk(inode->i_sb, mi->map_root, mi->map_height,
			       inode->i_ino, 0, msnap_release_tree_value,
			       msnap_release_tree_node, &ctx);
}

/*
 * @inode leaves the namespace (unlink, rename over it, or a replayed
 * UNLINK): drop it from the next checkpoint's inode tree and from the
 * on-disk allocation state.  Its blocks stay unusable while it is open.
 */
int msnap_inode_unlinked(struct inode *inode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	mi->unlinked = true;
	err = msnap_map_release_all(inode, true);
	if (mi->inode_block) {
		xa_store(&sbi->ino_changes, inode->i_ino, xa_mk_value(0),
			 GFP_NOFS | __GFP_NOFAIL);
		sbi->ckpt_inodes++;
	}
	if (!list_empty(&mi->ckpt_entry)) {
		sbi->meta_files -= mi->meta_need;
		mi->meta_need = 0;
	}
	list_del_init(&mi->ckpt_entry);
	list_del_init(&mi->live_entry);
	spin_lock(&sbi->ino_lock);
	sbi->inodes--;
	spin_unlock(&sbi->ino_lock);
	return err;
}
