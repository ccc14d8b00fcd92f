// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: metadata checkpoints.
 *
 * A checkpoint folds everything committed so far into the on-disk trees,
 * copy-on-write and writing only what changed: new nodes for the changed
 * parts of each changed file's page map, a new inode block per changed
 * file, new inode tree nodes, and the bitmap blocks that changed since
 * the copy being written was last written.  Then it flips to the other
 * superblock with PREFLUSH|FUA.  Only after that are the blocks the old
 * checkpoint and the replayed log referenced given back to the allocator.
 * Commits wait (commit_mutex), so the checkpoint covers exactly the
 * commits before it and the log restarts empty.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/buffer_head.h>
#include <linux/random.h>

#include "memsnap.h"

/* A log nonce other than @old (and than 0, which no log ever uses). */
static u64 msnap_new_nonce(u64 old)
{
	u64 nonce;

	do {
		nonce = get_random_u64();
	} while (nonce == old || !nonce);
	return nonce;
}

/*
 * Metadata space.  A checkpoint writes, copy-on-write, a new block for
 * every tree node on the path to a changed key and an inode block per
 * changed inode, all from free blocks (the old ones come back only once
 * it is durable).  Their number is bounded from counters kept as keys
 * change, and every operation that adds to it is admitted only while the
 * free blocks cover it (review #4: a checkpoint that found no room
 * stopped the filesystem for good).
 */

/* Nodes a checkpoint may write for @changed keys in a tree of @keys keys. */
u64 msnap_tree_need(u64 changed, u64 keys)
{
	u64 need = 0, nodes = keys;

	if (!changed)
		return 0;
	do {
		nodes = DIV_ROUND_UP_ULL(nodes, MSNAP_NODE_SLOTS);
		need += min(changed, nodes);
	} while (nodes > 1);
	return need;
}

/* @mi's inode block and page-map nodes for @pages changed keys below @keys. */
u64 msnap_file_need(struct msnap_inode_info *mi, u64 pages, u64 keys)
{
	u64 span = msnap_tree_span(mi->map_height);

	return 1 + msnap_tree_need(pages, max(keys, span));
}

/* @inode's counters changed: update its share of sbi->meta_files. */
void msnap_meta_update(struct inode *inode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	u64 need;

	lockdep_assert_held(&sbi->commit_mutex);
	if (list_empty(&mi->ckpt_entry))
		return;
	need = msnap_file_need(mi, mi->ckpt_pages, mi->ckpt_keys);
	sbi->meta_files += need - mi->meta_need;
	mi->meta_need = need;
}

/* Blocks the next checkpoint may allocate, at most. */
u64 msnap_meta_need(struct msnap_sb_info *sbi)
{
	return sbi->meta_files +
	       msnap_tree_need(sbi->ckpt_inodes, READ_ONCE(sbi->next_ino));
}

/*
 * Room for @blocks more blocks (data and metadata) on top of what the
 * next checkpoint needs, and the checkpoint reserve if @reserve (deleting
 * files may use the reserve, so that a full filesystem can always free
 * space); checkpoints once to get released blocks back.  -ENOSPC if not.
 */
int msnap_meta_room(struct super_block *sb, u64 blocks, bool reserve)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	int err, tries;

	lockdep_assert_held(&sbi->commit_mutex);
	for (tries = 0; tries < 2; tries++) {
		if (msnap_free_blocks(sbi) >= blocks + msnap_meta_need(sbi) +
		    (reserve ? msnap_reserved_blocks(sbi) : 0))
			return 0;
		if (tries)
			break;
		err = msnap_checkpoint(sb);
		if (err)
			return err;
	}
	return -ENOSPC;
}

static int msnap_ckpt_inode(struct super_block *sb, struct inode *inode,
			    struct msnap_bh_batch *batch)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct buffer_head *bh;
	u64 block;
	int err;

	err = msnap_tree_update_batch(sb, inode->i_ino, &mi->map_root,
				      &mi->map_height, &mi->overlay, batch);
	if (err)
		return err;
	xa_destroy(&mi->overlay);
	mi->ckpt_pages = 0;
	mi->ckpt_keys = 0;
	mi->meta_need = 0;
	err = msnap_alloc_blocks(sbi, 1, &block, true);
	if (err)
		return err;
	bh = msnap_bh_new(sb, block);
	if (!bh)
		return -ENOMEM;
	msnap_fill_disk_inode(inode, (void *)bh->b_data);
	((struct msnap_inode *)bh->b_data)->generation =
		cpu_to_le64(sbi->generation + 1);
	msnap_set_crc(bh->b_data, &((struct msnap_inode *)bh->b_data)->crc);
	msnap_bh_queue(batch, bh);
	if (mi->inode_block) {
		err = msnap_release_ondisk(sbi, mi->inode_block);
		if (!err)
			err = msnap_release_used(sbi, mi->inode_block);
	}
	mi->inode_block = block;
	if (!err)
		err = xa_err(xa_store(&sbi->ino_changes, inode->i_ino,
				      xa_mk_value(block), GFP_NOFS));
	return err;
}

/* Write every changed inode, its map and the inode tree into @batch. */
static int msnap_ckpt_trees(struct super_block *sb,
			    struct msnap_bh_batch *batch)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_inode_info *mi, *tmp;
	int err;

	list_for_each_entry_safe(mi, tmp, &sbi->ckpt_list, ckpt_entry) {
		err = msnap_ckpt_inode(sb, &mi->vfs_inode, batch);
		if (err)
			return err;
		list_del_init(&mi->ckpt_entry);
	}
	err = msnap_tree_update_batch(sb, 0, &sbi->inode_root,
				      &sbi->inode_height, &sbi->ino_changes,
				      batch);
	xa_destroy(&sbi->ino_changes);
	return err;
}

int msnap_checkpoint(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_bh_batch batch = {};
	u64 t0 = ktime_get_ns();
	int err, err2;

	lockdep_assert_held(&sbi->commit_mutex);
	/*
	 * The checkpoint must not include a commit that is not durable.
	 * Drain even after an error: unmount frees what the completion of
	 * a commit in flight touches.
	 */
	msnap_commit_drain(sbi);
	if (sbi->error)
		return -EIO;
	if (sb_rdonly(sb))
		return 0;
	/* Nothing since the last one: keep the superblocks as they are. */
	if (sbi->log_renewed && !sbi->log_used && !sbi->ns_len &&
	    list_empty(&sbi->ckpt_list) && xa_empty(&sbi->ino_changes) &&
	    xa_empty(&sbi->alloc.pending))
		return 0;
	err = msnap_ckpt_trees(sb, &batch);
	if (!err)
		err = msnap_write_bitmap(sb, 1 - sbi->bitmap_copy, &batch);
	err2 = msnap_bh_wait(&batch);
	err = err ? err : err2;
	if (!err) {
		sbi->ckpt_seq = sbi->next_seq - 1;
		sbi->log_head = (sbi->log_head + sbi->log_used) %
				sbi->log_blocks;
		/* The log is empty from here on: a new nonce costs nothing. */
		if (!sbi->log_renewed)
			sbi->log_nonce = msnap_new_nonce(sbi->log_nonce);
		err = msnap_write_super(sb);
	}
	if (err) {
		msnap_fs_error(sb, err, "writing a checkpoint");
		return err;
	}
	sbi->log_used = 0;
	sbi->log_renewed = true;
	sbi->meta_files = 0;
	sbi->ckpt_inodes = 0;
	sbi->ns_len = 0;
	msnap_release_pending(sbi);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_CKPTS, 1);
	msnap_stats_since(&sbi->stats, MSNAP_ST_CKPT_NS, t0);
	return 0;
}
