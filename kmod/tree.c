// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: copy-on-write radix trees of 4 KiB nodes.
 *
 * A tree maps 64-bit keys to block numbers (0: absent).  Each file's page
 * map and the inode table are such trees.  Lookups read nodes through the
 * block device's buffer cache and verify each node once.  A checkpoint
 * applies the changes collected since the last one with
 * msnap_tree_update(), which writes new copies of the changed nodes only
 * and releases the old ones.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/buffer_head.h>
#include <linux/slab.h>

#include "memsnap.h"

/*
 * Buffer state bit: the node's CRC was already checked.  Only the CRC:
 * the fields that say where the node belongs (owner, level, first key)
 * are checked on every read, so that a block verified in one place of a
 * tree is not trusted in another.  That keeps every walk finite: along a
 * path the level strictly falls, and a node is valid under one parent
 * slot only, so a damaged slot that points at the node itself, at an
 * ancestor or at a node already visited fails the check instead of
 * starting a cycle or an exponential walk.
 */
enum { BH_msnap_verified = BH_PrivateStart };
BUFFER_FNS(msnap_verified, msnap_verified)

/* Stands for the nodes that grow a tree's height in msnap_tree_update. */
#define MSNAP_VIRTUAL_NODE	(~0ULL)

/* Keys covered by one slot of a node at @level: MSNAP_NODE_SLOTS^level. */
u64 msnap_tree_span(u32 level)
{
	u64 span = 1;

	while (level--)
		span *= MSNAP_NODE_SLOTS;
	return span;
}

/* Does @node belong at this place of the tree of @owner? */
static bool msnap_node_fits(struct msnap_node *node, u64 owner, u32 level,
			    u64 first)
{
	return le32_to_cpu(node->magic) == MSNAP_NODE_MAGIC &&
	       le64_to_cpu(node->owner) == owner &&
	       le32_to_cpu(node->level) == level &&
	       le64_to_cpu(node->first_key) == first &&
	       !memchr_inv(node->reserved, 0, sizeof(node->reserved));
}

static struct buffer_head *msnap_node_read(struct super_block *sb, u64 block,
					   u64 owner, u32 level, u64 first)
{
	struct buffer_head *bh;
	struct msnap_node *node;

	if (!msnap_is_data_block(MSNAP_SB(sb), block)) {
		msnap_err(sb, "tree of inode %llu points outside the data area (block %llu)",
			  owner, block);
		return ERR_PTR(-EUCLEAN);
	}
	bh = sb_bread(sb, block);
	if (!bh)
		return ERR_PTR(-EIO);
	node = (void *)bh->b_data;
	if (!msnap_node_fits(node, owner, level, first) ||
	    (!buffer_msnap_verified(bh) && !msnap_crc_ok(node, &node->crc))) {
		msnap_err(sb, "tree node at block %llu (inode %llu, level %u) is corrupt",
			  block, owner, level);
		brelse(bh);
		return ERR_PTR(-EUCLEAN);
	}
	set_buffer_msnap_verified(bh);
	return bh;
}

int msnap_tree_lookup(struct super_block *sb, u64 root, u32 height,
		      u64 owner, u64 key, u64 *val)
{
	u64 block = root, first = 0, span;
	struct buffer_head *bh;
	struct msnap_node *node;
	u32 level, slot;

	*val = 0;
	if (!root || !height || height > MSNAP_TREE_MAX_HEIGHT)
		return 0;
	/* 504^7 fits in 64 bits: even the highest tree has a last key. */
	if (key >= msnap_tree_span(height))
		return 0;
	for (level = height - 1; ; level--) {
		bh = msnap_node_read(sb, block, owner, level, first);
		if (IS_ERR(bh))
			return PTR_ERR(bh);
		node = (void *)bh->b_data;
		span = msnap_tree_span(level);
		slot = div64_u64(key - first, span);
		block = le64_to_cpu(node->slot[slot]);
		brelse(bh);
		if (!level || !block) {
			*val = level ? 0 : block;
			return 0;
		}
		first += slot * span;
	}
}

struct msnap_walk {
	u64		owner;
	u64		start;
	msnap_tree_fn	fn;
	msnap_tree_fn	node_fn;
	void		*arg;
};

static int msnap_walk_node(struct super_block *sb, struct msnap_walk *w,
			   u64 block, u32 level, u64 first)
{
	u64 span = msnap_tree_span(level), child, key;
	struct buffer_head *bh;
	struct msnap_node *node;
	int err = 0, s;

	bh = msnap_node_read(sb, block, w->owner, level, first);
	if (IS_ERR(bh))
		return PTR_ERR(bh);
	node = (void *)bh->b_data;
	for (s = 0; s < MSNAP_NODE_SLOTS && !err; s++) {
		child = le64_to_cpu(node->slot[s]);
		key = first + s * span;
		if (!child || (level ? key + span <= w->start : key < w->start))
			continue;
		if (level)
			err = msnap_walk_node(sb, w, child, level - 1, key);
		else if (w->fn)
			err = w->fn(sb, key, child, w->arg);
	}
	brelse(bh);
	if (!err && w->node_fn)
		err = w->node_fn(sb, first, block, w->arg);
	return err;
}

/*
 * Call @fn for every key >= @start mapped by the tree, in key order, and
 * @node_fn for every node visited (after its children).
 */
int msnap_tree_walk(struct super_block *sb, u64 root, u32 height, u64 owner,
		    u64 start, msnap_tree_fn fn, msnap_tree_fn node_fn,
		    void *arg)
{
	struct msnap_walk w = {
		.owner = owner, .start = start, .fn = fn,
		.node_fn = node_fn, .arg = arg,
	};

	if (!root || !height)
		return 0;
	if (height > MSNAP_TREE_MAX_HEIGHT)
		return -EUCLEAN;
	return msnap_walk_node(sb, &w, root, height - 1, 0);
}

struct msnap_cow {
	u64		owner;
	struct xarray	*changes;
	u64		old_root;
	u32		old_height;
	struct msnap_bh_batch *batch;
};

/* The old children of the node being rewritten (virtual nodes too). */
static int msnap_cow_old_slots(struct super_block *sb, struct msnap_cow *c,
			       u64 old, u32 level, u64 first, u64 *slots)
{
	struct buffer_head *bh;
	struct msnap_node *node;
	int s;

	memset(slots, 0, MSNAP_NODE_SLOTS * sizeof(u64));
	if (old == MSNAP_VIRTUAL_NODE) {
		slots[0] = level > c->old_height ? MSNAP_VIRTUAL_NODE :
			   c->old_root;
		return 0;
	}
	if (!old)
		return 0;
	bh = msnap_node_read(sb, old, c->owner, level, first);
	if (IS_ERR(bh))
		return PTR_ERR(bh);
	node = (void *)bh->b_data;
	for (s = 0; s < MSNAP_NODE_SLOTS; s++)
		slots[s] = le64_to_cpu(node->slot[s]);
	brelse(bh);
	return 0;
}

static int msnap_cow_write(struct super_block *sb, struct msnap_cow *c,
			   u64 *slots, u32 level, u64 first, u64 *new)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct buffer_head *bh;
	struct msnap_node *node;
	u32 used = 0;
	int s, err;

	for (s = 0; s < MSNAP_NODE_SLOTS; s++)
		used += !!slots[s];
	if (!used) {
		*new = 0;
		return 0;
	}
	err = msnap_alloc_blocks(sbi, 1, new, true);
	if (err)
		return err;
	bh = msnap_bh_new(sb, *new);
	if (!bh)
		return -ENOMEM;
	node = (void *)bh->b_data;
	node->magic = cpu_to_le32(MSNAP_NODE_MAGIC);
	node->owner = cpu_to_le64(c->owner);
	node->first_key = cpu_to_le64(first);
	node->generation = cpu_to_le64(sbi->generation + 1);
	node->level = cpu_to_le32(level);
	node->used = cpu_to_le32(used);
	for (s = 0; s < MSNAP_NODE_SLOTS; s++)
		node->slot[s] = cpu_to_le64(slots[s]);
	msnap_set_crc(node, &node->crc);
	set_buffer_msnap_verified(bh);
	msnap_bh_queue(c->batch, bh);
	return 0;
}

static int msnap_cow_node(struct super_block *sb, struct msnap_cow *c,
			  u64 old, u32 level, u64 first, u64 *new)
{
	u64 span = msnap_tree_span(level), end;
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	unsigned long idx;
	bool changed = old == MSNAP_VIRTUAL_NODE;
	u64 *slots;
	void *entry;
	int s, err;

	slots = kmalloc_array(MSNAP_NODE_SLOTS, sizeof(u64), GFP_NOFS);
	if (!slots)
		return -ENOMEM;
	err = msnap_cow_old_slots(sb, c, old, level, first, slots);
	for (s = 0; s < MSNAP_NODE_SLOTS && !err; s++) {
		idx = first + s * span;
		end = idx + span - 1;
		if (!level) {
			entry = xa_load(c->changes, idx);
			if (entry) {
				slots[s] = xa_to_value(entry);
				changed = true;
			}
			continue;
		}
		if (slots[s] != MSNAP_VIRTUAL_NODE &&
		    !xa_find(c->changes, &idx, end, XA_PRESENT))
			continue;
		err = msnap_cow_node(sb, c, slots[s], level - 1,
				     first + s * span, &slots[s]);
		changed = true;
	}
	if (err)
		goto out_free_slots;
	if (!changed) {
		*new = old;
		goto out_free_slots;
	}
	err = msnap_cow_write(sb, c, slots, level, first, new);
	if (!err && old && old != MSNAP_VIRTUAL_NODE)
		err = msnap_release_replaced(sbi, old, true);
out_free_slots:
	kfree(slots);
	return err;
}

/*
 * Apply @changes (key -> xa_mk_value(block), 0 to remove) to the tree at
 * *@root of *@height, writing the new nodes into @batch and releasing the
 * replaced ones; the tree grows as needed.  With @seq, the new pair is
 * published inside it, for lockless readers (msnap_map_lookup); its
 * writers are serialised by commit_mutex.
 */
int msnap_tree_update_batch(struct super_block *sb, u64 owner, u64 *root,
			    u32 *height, seqcount_t *seq,
			    struct xarray *changes,
			    struct msnap_bh_batch *batch)
{
	struct msnap_cow c = {
		.owner = owner, .changes = changes, .old_root = *root,
		.old_height = *root ? *height : 0, .batch = batch,
	};
	unsigned long max = 0, idx;
	u32 h = c.old_height;
	void *entry;
	u64 new;
	int err;

	xa_for_each(changes, idx, entry)
		if (xa_to_value(entry))
			max = idx;
	/* No tree holds such a key: refuse rather than drop it (a leak). */
	if (max >= msnap_tree_span(MSNAP_TREE_MAX_HEIGHT)) {
		msnap_err(sb, "tree of inode %llu: key %lu beyond the highest tree",
			  owner, max);
		return -EUCLEAN;
	}
	while (!h || (h < MSNAP_TREE_MAX_HEIGHT && max >= msnap_tree_span(h)))
		h++;
	err = msnap_cow_node(sb, &c, h > c.old_height ? MSNAP_VIRTUAL_NODE :
			     *root, h - 1, 0, &new);
	if (err)
		return err;
	if (seq) {
		preempt_disable();	/* readers spin while it is odd */
		write_seqcount_begin(seq);
	}
	*root = new;
	*height = new ? h : 0;
	if (seq) {
		write_seqcount_end(seq);
		preempt_enable();
	}
	return 0;
}
