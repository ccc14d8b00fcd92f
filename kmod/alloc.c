// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: block allocator.
 *
 * The data area is tracked by two in-memory bitmaps (see struct
 * msnap_alloc): "ondisk" is what the log describes and what the next
 * checkpoint writes, "used" is what may not be handed out.  A block
 * released by a commit leaves ondisk at once and used only after the next
 * checkpoint is durable, so the data that older log records and the last
 * checkpoint point to is never overwritten.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/buffer_head.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "memsnap.h"

static unsigned long *msnap_bitmap_alloc(u64 bits)
{
	return kvcalloc(BITS_TO_LONGS(bits), sizeof(unsigned long),
			GFP_KERNEL);
}

int msnap_alloc_init(struct msnap_sb_info *sbi)
{
	struct msnap_alloc *a = &sbi->alloc;
	/* Cover whole bitmap blocks so that block images copy as words. */
	u64 bits = sbi->bitmap_blocks * MSNAP_BITMAP_BITS;

	spin_lock_init(&a->lock);
	xa_init(&a->pending);
	a->nbits = sbi->blocks - sbi->data_start;
	a->used = msnap_bitmap_alloc(bits);
	a->ondisk = msnap_bitmap_alloc(bits);
	a->dirty[0] = msnap_bitmap_alloc(sbi->bitmap_blocks);
	a->dirty[1] = msnap_bitmap_alloc(sbi->bitmap_blocks);
	if (!a->used || !a->ondisk || !a->dirty[0] || !a->dirty[1]) {
		msnap_alloc_destroy(sbi);
		return -ENOMEM;
	}
	return 0;
}

void msnap_alloc_destroy(struct msnap_sb_info *sbi)
{
	struct msnap_alloc *a = &sbi->alloc;

	kvfree(a->used);
	kvfree(a->ondisk);
	kvfree(a->dirty[0]);
	kvfree(a->dirty[1]);
	a->used = NULL;
	a->ondisk = NULL;
	a->dirty[0] = NULL;
	a->dirty[1] = NULL;
	xa_destroy(&a->pending);
}

static void msnap_bitmap_dirty(struct msnap_alloc *a, u64 bit)
{
	u64 i = div_u64(bit, MSNAP_BITMAP_BITS);

	set_bit(i, a->dirty[0]);
	set_bit(i, a->dirty[1]);
}

/* Check one on-disk bitmap block and copy its bits into @a. */
static int msnap_bitmap_block_load(struct super_block *sb, u64 i,
				   struct msnap_bitmap *bm)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_alloc *a = &sbi->alloc;
	unsigned int words = MSNAP_BITMAP_BITS / 64, j;
	u64 first = i * MSNAP_BITMAP_BITS;

	if (le32_to_cpu(bm->magic) != MSNAP_BITMAP_MAGIC ||
	    !msnap_crc_ok(bm, &bm->crc) || le64_to_cpu(bm->index) != i ||
	    memchr_inv(bm->reserved, 0, sizeof(bm->reserved))) {
		msnap_err(sb, "bitmap block %llu is corrupt", i);
		return -EUCLEAN;
	}
	for (j = 0; j < words; j++) {
		u64 w = le64_to_cpu(((__le64 *)bm->bits)[j]);

		bitmap_from_arr64(a->ondisk + BITS_TO_LONGS(first + 64 * j), &w, 64);
	}
	return 0;
}

/* Load the bitmap copy the newest checkpoint wrote. */
int msnap_alloc_load(struct super_block *sb, int copy)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_alloc *a = &sbi->alloc;
	u64 base = sbi->bitmap_start + copy * sbi->bitmap_blocks, i;
	struct buffer_head *bh;
	int err;

	for (i = 0; i < sbi->bitmap_blocks; i++) {
		bh = sb_bread(sb, base + i);
		if (!bh)
			return -EIO;
		err = msnap_bitmap_block_load(sb, i, (void *)bh->b_data);
		brelse(bh);
		if (err)
			return err;
	}
	if (find_next_bit(a->ondisk, sbi->bitmap_blocks * MSNAP_BITMAP_BITS,
			  a->nbits) < sbi->bitmap_blocks * MSNAP_BITMAP_BITS) {
		msnap_err(sb, "bitmap marks blocks past the end of the device");
		return -EUCLEAN;
	}
	/* The other copy is as old as the checkpoint before: rewrite it all. */
	bitmap_fill(a->dirty[1 - copy], sbi->bitmap_blocks);
	return 0;
}

/*
 * Mount, while the checkpoint is walked (before msnap_alloc_loaded()):
 * @block is referenced by @what of inode @owner.  It must be a data
 * block, in use in the bitmap, and referenced only once; used collects
 * the references meanwhile.  A bitmap that marks a referenced block free
 * would let the allocator hand out another file's live block.
 */
int msnap_alloc_ref(struct super_block *sb, u64 block, const char *what,
		    u64 owner)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_alloc *a = &sbi->alloc;
	const char *why = NULL;
	u64 bit = block - sbi->data_start;

	if (!msnap_is_data_block(sbi, block))
		why = "outside the data area";
	else if (!test_bit(bit, a->ondisk))
		why = "free in the bitmap";
	else if (__test_and_set_bit(bit, a->used))
		why = "referenced more than once";
	if (!why)
		return 0;
	msnap_err(sb, "block %llu (%s of inode %llu) is %s", block, what, owner,
		  why);
	return -EUCLEAN;
}

/* Mount: the checkpoint was walked; what the bitmap has in use stays so. */
void msnap_alloc_loaded(struct msnap_sb_info *sbi)
{
	struct msnap_alloc *a = &sbi->alloc;

	bitmap_copy(a->used, a->ondisk, a->nbits);
	a->nfree = a->nbits - bitmap_weight(a->used, a->nbits);
	a->ondisk_free = a->nfree;
}

/* Blocks kept back so that a checkpoint always finds room. */
u64 msnap_reserved_blocks(struct msnap_sb_info *sbi)
{
	return min_t(u64, sbi->alloc.nbits / 4,
		     64 + div_u64(sbi->alloc.nbits, 32));
}

u64 msnap_free_blocks(struct msnap_sb_info *sbi)
{
	return READ_ONCE(sbi->alloc.nfree);
}

u64 msnap_ondisk_free_blocks(struct msnap_sb_info *sbi)
{
	return READ_ONCE(sbi->alloc.ondisk_free);
}

/*
 * Hand out @count blocks, next fit from the cursor, so that the pages of
 * one persist land contiguously when free space allows.  Fails with
 * -ENOSPC, taking nothing, when fewer are free (beyond the checkpoint
 * reserve unless @reserve_ok).
 */
int msnap_alloc_blocks(struct msnap_sb_info *sbi, u64 count, u64 *blocks,
		       bool reserve_ok)
{
	struct msnap_alloc *a = &sbi->alloc;
	u64 keep = reserve_ok ? 0 : msnap_reserved_blocks(sbi), k, bit;

	spin_lock(&a->lock);
	if (a->nfree < keep || a->nfree - keep < count) {
		spin_unlock(&a->lock);
		return -ENOSPC;
	}
	for (k = 0; k < count; k++) {
		bit = find_next_zero_bit(a->used, a->nbits, a->cursor);
		if (bit >= a->nbits)
			bit = find_first_zero_bit(a->used, a->nbits);
		if (WARN_ON_ONCE(bit >= a->nbits))
			break;
		__set_bit(bit, a->used);
		__set_bit(bit, a->ondisk);
		msnap_bitmap_dirty(a, bit);
		blocks[k] = sbi->data_start + bit;
		a->cursor = bit + 1;
	}
	a->nfree -= k;
	a->ondisk_free -= k;
	spin_unlock(&a->lock);
	return k == count ? 0 : -EUCLEAN;
}

/* Recovery: a replayed commit took @block, which must have been free. */
int msnap_alloc_mark(struct msnap_sb_info *sbi, u64 block)
{
	struct msnap_alloc *a = &sbi->alloc;
	u64 bit = block - sbi->data_start;
	int err = 0;

	spin_lock(&a->lock);
	if (!msnap_is_data_block(sbi, block) || test_bit(bit, a->used)) {
		err = -EUCLEAN;
	} else {
		__set_bit(bit, a->used);
		__set_bit(bit, a->ondisk);
		msnap_bitmap_dirty(a, bit);
		a->nfree--;
		a->ondisk_free--;
	}
	spin_unlock(&a->lock);
	return err;
}

/* Give back a block that msnap_alloc_blocks() handed out unused. */
void msnap_alloc_unmark(struct msnap_sb_info *sbi, u64 block)
{
	struct msnap_alloc *a = &sbi->alloc;
	u64 bit = block - sbi->data_start;

	if (WARN_ON_ONCE(!msnap_is_data_block(sbi, block)))
		return;
	spin_lock(&a->lock);
	if (!WARN_ON_ONCE(!__test_and_clear_bit(bit, a->used)))
		a->nfree++;
	if (__test_and_clear_bit(bit, a->ondisk))
		a->ondisk_free++;
	msnap_bitmap_dirty(a, bit);
	spin_unlock(&a->lock);
}

/*
 * @block is no longer part of the state the log describes.  It must be
 * in it: -EUCLEAN if not (a bitmap that disagrees with the trees).
 */
int msnap_release_ondisk(struct msnap_sb_info *sbi, u64 block)
{
	struct msnap_alloc *a = &sbi->alloc;
	u64 bit = block - sbi->data_start;
	int err = 0;

	if (!msnap_is_data_block(sbi, block))
		return -EUCLEAN;
	spin_lock(&a->lock);
	if (__test_and_clear_bit(bit, a->ondisk)) {
		a->ondisk_free++;
		msnap_bitmap_dirty(a, bit);
	} else {
		err = -EUCLEAN;
	}
	spin_unlock(&a->lock);
	if (err)
		msnap_err(sbi->sb, "block %llu is referenced but free in the bitmap",
			  block);
	return err;
}

/* @block may be reused once the next checkpoint is durable. */
int msnap_release_used(struct msnap_sb_info *sbi, u64 block)
{
	/* A damaged tree can name any block: refuse, do not warn. */
	if (!msnap_is_data_block(sbi, block))
		return -EUCLEAN;
	return xa_err(xa_store(&sbi->alloc.pending, block, xa_mk_value(1),
			       GFP_NOFS));
}

/*
 * @block was replaced: free in the on-disk bitmap now (unless it left
 * the on-disk state already: !@ondisk), reusable once the next
 * checkpoint is durable.
 */
int msnap_release_replaced(struct msnap_sb_info *sbi, u64 block, bool ondisk)
{
	int err;

	if (ondisk) {
		err = msnap_release_ondisk(sbi, block);
		if (err)
			return err;
	}
	return msnap_release_used(sbi, block);
}

/* A checkpoint is durable: what it no longer references is free. */
void msnap_release_pending(struct msnap_sb_info *sbi)
{
	struct msnap_alloc *a = &sbi->alloc;
	unsigned long block;
	void *entry;

	/*
	 * A block can only be missing from used here if a damaged image
	 * named it twice (or free): nothing to give back then.
	 */
	xa_for_each(&a->pending, block, entry) {
		spin_lock(&a->lock);
		if (__test_and_clear_bit(block - sbi->data_start, a->used))
			a->nfree++;
		spin_unlock(&a->lock);
		cond_resched();
	}
	xa_destroy(&a->pending);
}

/* Build one bitmap block of @copy from the ondisk bitmap. */
static void msnap_bitmap_block_fill(struct msnap_sb_info *sbi, u64 i,
				    struct msnap_bitmap *bm)
{
	struct msnap_alloc *a = &sbi->alloc;
	unsigned int words = MSNAP_BITMAP_BITS / 64, j;
	u64 first = i * MSNAP_BITMAP_BITS, w;

	memset(bm, 0, sizeof(*bm));
	bm->magic = cpu_to_le32(MSNAP_BITMAP_MAGIC);
	bm->index = cpu_to_le64(i);
	bm->generation = cpu_to_le64(sbi->generation + 1);
	for (j = 0; j < words; j++) {
		bitmap_to_arr64(&w, a->ondisk + BITS_TO_LONGS(first + 64 * j), 64);
		((__le64 *)bm->bits)[j] = cpu_to_le64(w);
	}
	msnap_set_crc(bm, &bm->crc);
}

/* Queue the bitmap blocks of @copy that changed since it was written. */
int msnap_write_bitmap(struct super_block *sb, int copy,
		       struct msnap_bh_batch *batch)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_alloc *a = &sbi->alloc;
	u64 base = sbi->bitmap_start + copy * sbi->bitmap_blocks;
	struct buffer_head *bh;
	unsigned long i;

	for_each_set_bit(i, a->dirty[copy], sbi->bitmap_blocks) {
		bh = msnap_bh_new(sb, base + i);
		if (!bh)
			return -ENOMEM;
		spin_lock(&a->lock);
		msnap_bitmap_block_fill(sbi, i, (void *)bh->b_data);
		__clear_bit(i, a->dirty[copy]);
		spin_unlock(&a->lock);
		msnap_bh_queue(batch, bh);
	}
	return 0;
}
