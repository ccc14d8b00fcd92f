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
 *
 * Also here: the accounting of the space the next checkpoint may need
 * (which admits or refuses the operations that add to it), the queue of
 * inodes it writes (msnap_mark_ckpt()), and the decision that the log is
 * too full for the next record (msnap_log_make_room()).
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

/*
 * Nodes a checkpoint may write for @changed keys of a tree whose keys are
 * below @keys, now @height levels high: at each level, the smaller of the
 * changed keys and the nodes that level has.
 */
u64 msnap_tree_need(u64 changed, u64 keys, u32 height)
{
	u64 need = 0, nodes = keys;
	u32 level;

	if (!changed)
		return 0;
	for (level = 1; ; level++) {
		nodes = max(DIV_ROUND_UP_ULL(nodes, MSNAP_NODE_SLOTS), 1ULL);
		need += min(changed, nodes);
		if (nodes == 1 && level >= height)
			return need;
	}
}

/* @mi's inode block and page-map nodes for @pages changed keys below @keys. */
u64 msnap_file_need(struct msnap_inode_info *mi, u64 pages, u64 keys)
{
	return 1 + msnap_tree_need(pages, keys, mi->map_height);
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

/* Queue @inode for the next checkpoint. */
void msnap_mark_ckpt(struct inode *inode)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);

	lockdep_assert_held(&MSNAP_SB(inode->i_sb)->commit_mutex);
	if (list_empty(&mi->ckpt_entry) && !mi->unlinked) {
		list_add_tail(&mi->ckpt_entry, &MSNAP_SB(inode->i_sb)->ckpt_list);
		MSNAP_SB(inode->i_sb)->ckpt_inodes++;
		mi->meta_need = 0;
		msnap_meta_update(inode);
	}
}

/* Blocks the next checkpoint may allocate, at most. */
u64 msnap_meta_need(struct msnap_sb_info *sbi)
{
	return sbi->meta_files +
	       msnap_tree_need(sbi->ckpt_inodes, READ_ONCE(sbi->next_ino),
			       sbi->inode_height);
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
	u64 block, old;
	int err;

	err = msnap_tree_update_batch(sb, inode->i_ino, &mi->map_root,
				      &mi->map_height, &mi->map_seq,
				      &mi->overlay, batch);
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
	old = mi->inode_block;
	mi->inode_block = block;
	if (old) {
		err = msnap_release_ondisk(sbi, old);
		if (err)
			return err;
		err = msnap_release_used(sbi, old);
		if (err)
			return err;
	}
	return xa_err(xa_store(&sbi->ino_changes, inode->i_ino,
			       xa_mk_value(block), GFP_NOFS));
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
				      &sbi->inode_height, NULL,
				      &sbi->ino_changes, batch);
	xa_destroy(&sbi->ino_changes);
	return err;
}

/*
 * Make @bh, the superblock for @slot, durable (CRC, flush, FUA) and the
 * newest; released either way.
 */
int msnap_super_put(struct msnap_sb_info *sbi, struct buffer_head *bh,
		    int slot)
{
	struct msnap_super *ds = (void *)bh->b_data;
	int err;

	msnap_set_crc(ds, &ds->crc);
	mark_buffer_dirty(bh);
	err = __sync_dirty_buffer(bh, REQ_SYNC | REQ_PREFLUSH | REQ_FUA);
	if (err)
		goto out_brelse;
	memcpy(&sbi->disk_super, ds, sizeof(*ds));
	sbi->generation++;
	sbi->sb_slot = slot;
out_brelse:
	brelse(bh);
	return err;
}

/*
 * The checkpoint's commit point: its superblock over the older one,
 * durably (PREFLUSH, so every block it names is on the disk first).
 */
static int msnap_write_super(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	int slot = 1 - sbi->sb_slot;
	struct buffer_head *bh;
	struct msnap_super *ds;
	int err;

	bh = msnap_bh_new(sb, slot);
	if (!bh)
		return -ENOMEM;
	ds = (void *)bh->b_data;
	ds->magic = cpu_to_le64(MSNAP_SB_MAGIC);
	ds->version = cpu_to_le32(MSNAP_VERSION);
	ds->compat = cpu_to_le64(sbi->compat);
	ds->incompat = cpu_to_le64(sbi->incompat);
	memcpy(ds->uuid, sbi->uuid, sizeof(ds->uuid));
	memcpy(ds->label, sbi->label, sizeof(ds->label));
	ds->block_size = cpu_to_le32(MSNAP_BLOCK_SIZE);
	ds->blocks = cpu_to_le64(sbi->blocks);
	ds->log_start = cpu_to_le64(sbi->log_start);
	ds->log_blocks = cpu_to_le64(sbi->log_blocks);
	ds->bitmap_start = cpu_to_le64(sbi->bitmap_start);
	ds->bitmap_blocks = cpu_to_le64(sbi->bitmap_blocks);
	ds->data_start = cpu_to_le64(sbi->data_start);
	ds->generation = cpu_to_le64(sbi->generation + 1);
	ds->ckpt_seq = cpu_to_le64(sbi->ckpt_seq);
	ds->log_head = cpu_to_le64(sbi->log_head);
	ds->inode_root = cpu_to_le64(sbi->inode_root);
	ds->inode_height = cpu_to_le32(sbi->inode_height);
	ds->bitmap_copy = cpu_to_le32(1 - sbi->bitmap_copy);
	ds->next_ino = cpu_to_le64(sbi->next_ino);
	ds->free_blocks = cpu_to_le64(msnap_ondisk_free_blocks(sbi));
	ds->inodes = cpu_to_le64(sbi->inodes);
	ds->mkfs_time = cpu_to_le64(sbi->mkfs_time);
	ds->ckpt_time = cpu_to_le64(ktime_get_real_seconds());
	ds->log_nonce = cpu_to_le64(sbi->log_nonce);
	/* An error stays recorded until fsck clears it. */
	ds->state = cpu_to_le32(sbi->sb_state);
	ds->error_code = cpu_to_le32(sbi->error_code);
	ds->error_time = cpu_to_le64(sbi->error_time);
	err = msnap_super_put(sbi, bh, slot);
	if (err)
		return err;
	sbi->bitmap_copy = 1 - sbi->bitmap_copy;
	return 0;
}

/* Every block the superblock will name, queued on @batch. */
static int msnap_ckpt_blocks(struct super_block *sb,
			     struct msnap_bh_batch *batch)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	int err;

	err = msnap_ckpt_trees(sb, batch);
	if (err)
		return err;
	return msnap_write_bitmap(sb, 1 - sbi->bitmap_copy, batch);
}

/*
 * Fold every durable commit into the on-disk trees and flip the
 * superblock; the log is empty after it.  commit_mutex held.
 */
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
	if (sbi->log_renewed && !sbi->log_used && !sbi->nslog_len &&
	    le64_to_cpu(sbi->disk_super.incompat) == sbi->incompat &&
	    list_empty(&sbi->ckpt_list) && xa_empty(&sbi->ino_changes) &&
	    xa_empty(&sbi->alloc.pending))
		return 0;
	err = msnap_ckpt_blocks(sb, &batch);
	err2 = msnap_bh_wait(&batch);
	if (err || err2) {
		err = err ? err : err2;
		goto out_error;
	}
	sbi->ckpt_seq = sbi->next_seq - 1;
	sbi->log_head = (sbi->log_head + sbi->log_used) % sbi->log_blocks;
	/* The log is empty from here on: a new nonce costs nothing. */
	if (!sbi->log_renewed)
		sbi->log_nonce = msnap_new_nonce(sbi->log_nonce);
	err = msnap_write_super(sb);
	if (err)
		goto out_error;
	sbi->log_used = 0;
	sbi->log_renewed = true;
	sbi->meta_files = 0;
	sbi->ckpt_inodes = 0;
	sbi->nslog_len = 0;
	msnap_release_pending(sbi);
	msnap_stats_inc(&sbi->stats, MSNAP_ST_CKPTS, 1);
	msnap_stats_since(&sbi->stats, MSNAP_ST_CKPT_NS, t0);
	return 0;

out_error:
	msnap_fs_error(sb, err, "writing a checkpoint");
	return err;
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

