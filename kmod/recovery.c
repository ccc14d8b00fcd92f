// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: mount-time loading and crash recovery.
 *
 * Picks the newer valid superblock (falling back to the other), loads the
 * allocation bitmap and every inode of its checkpoint, then replays the
 * log: commit records of consecutive sequence numbers from ckpt_seq + 1,
 * each applied whole, until the first one that is missing or invalid
 * (prefix semantics).  A record is valid only if every data block it
 * names has the CRC32C it states, so a commit whose data did not all
 * reach the disk is not replayed.  The work is bounded by the log size.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/slab.h>

#include "memsnap.h"

/* Mount state: the inodes by number while the namespace is built. */
struct msnap_mount {
	u64			owner;	/* 0, the inode tree's; first */
	struct super_block	*sb;
	struct xarray		inodes;	/* ino -> struct inode * */
	struct xarray		touched; /* inos the record being applied changed */
	u64			replayed;
};

static const char *msnap_super_problem(struct super_block *sb,
				       struct msnap_super *ds)
{
	u64 blocks = le64_to_cpu(ds->blocks);
	u64 log_start = le64_to_cpu(ds->log_start);
	u64 log_blocks = le64_to_cpu(ds->log_blocks);
	u64 bm_start = le64_to_cpu(ds->bitmap_start);
	u64 bm_blocks = le64_to_cpu(ds->bitmap_blocks);
	u32 height = le32_to_cpu(ds->inode_height);

	if (le64_to_cpu(ds->magic) != MSNAP_SB_MAGIC)
		return "bad magic";
	if (!msnap_crc_ok(ds, &ds->crc))
		return "bad CRC";
	if (le32_to_cpu(ds->version) == 1)
		return "format version 1 (copy the files off, re-run mkfs.memsnap)";
	if (le32_to_cpu(ds->version) != MSNAP_VERSION)
		return "unsupported format version";
	if (le64_to_cpu(ds->incompat) & ~MSNAP_FEATURE_INCOMPAT_SUPP)
		return "unknown incompatible features";
	if (!(le64_to_cpu(ds->incompat) & MSNAP_FEATURE_INCOMPAT_LOG_NONCE) ||
	    !ds->log_nonce)
		return "no log nonce";
	if (!sb_rdonly(sb) &&
	    le64_to_cpu(ds->ro_compat) & ~MSNAP_FEATURE_RO_COMPAT_SUPP)
		return "unknown read-only-compatible features (mount read-only)";
	if (le32_to_cpu(ds->block_size) != MSNAP_BLOCK_SIZE)
		return "unsupported block size";
	if (memchr_inv(ds->reserved, 0, sizeof(ds->reserved)) ||
	    ds->reserved32 || !memchr(ds->label, 0, sizeof(ds->label)))
		return "reserved fields not zero";
	if (le32_to_cpu(ds->state) & ~(MSNAP_SB_CLEAN | MSNAP_SB_ERROR))
		return "unknown state bits";
	/* Inode numbers are keys of the inode tree, which ends at 504^7. */
	if (le64_to_cpu(ds->next_ino) < MSNAP_FIRST_INO ||
	    le64_to_cpu(ds->next_ino) > msnap_tree_span(MSNAP_TREE_MAX_HEIGHT))
		return "next_ino out of range";
	if (blocks > bdev_nr_bytes(sb->s_bdev) >> MSNAP_BLOCK_SHIFT)
		return "filesystem larger than the device";
	if (log_blocks < 4)
		return "log shorter than 4 blocks";
	if (log_start != 2 || bm_start != log_start + log_blocks ||
	    bm_blocks != DIV_ROUND_UP(blocks - min(blocks, bm_start),
				      MSNAP_BITMAP_BITS) ||
	    le64_to_cpu(ds->data_start) != bm_start + 2 * bm_blocks ||
	    le64_to_cpu(ds->data_start) >= blocks ||
	    le64_to_cpu(ds->log_head) >= log_blocks ||
	    le32_to_cpu(ds->bitmap_copy) > 1 || height > MSNAP_TREE_MAX_HEIGHT ||
	    !height != !le64_to_cpu(ds->inode_root))
		return "inconsistent geometry";
	return NULL;
}

/* Read superblock @slot into @ds; NULL if valid, else what is wrong. */
static const char *msnap_read_one_super(struct super_block *sb, int slot,
					struct msnap_super *ds)
{
	struct buffer_head *bh = sb_bread(sb, slot);

	if (!bh)
		return "read error";
	memcpy(ds, bh->b_data, sizeof(*ds));
	brelse(bh);
	return msnap_super_problem(sb, ds);
}

static void msnap_apply_super(struct msnap_sb_info *sbi, struct msnap_super *ds,
			      int slot)
{
	sbi->blocks = le64_to_cpu(ds->blocks);
	sbi->log_start = le64_to_cpu(ds->log_start);
	sbi->log_blocks = le64_to_cpu(ds->log_blocks);
	sbi->bitmap_start = le64_to_cpu(ds->bitmap_start);
	sbi->bitmap_blocks = le64_to_cpu(ds->bitmap_blocks);
	sbi->data_start = le64_to_cpu(ds->data_start);
	memcpy(sbi->uuid, ds->uuid, sizeof(sbi->uuid));
	memcpy(sbi->label, ds->label, sizeof(sbi->label));
	sbi->generation = le64_to_cpu(ds->generation);
	sbi->log_nonce = le64_to_cpu(ds->log_nonce);
	sbi->compat = le64_to_cpu(ds->compat);
	sbi->sb_slot = slot;
	sbi->bitmap_copy = le32_to_cpu(ds->bitmap_copy);
	sbi->ckpt_seq = le64_to_cpu(ds->ckpt_seq);
	sbi->next_seq = sbi->ckpt_seq + 1;
	sbi->durable_seq = sbi->ckpt_seq;
	sbi->log_head = le64_to_cpu(ds->log_head);
	sbi->inode_root = le64_to_cpu(ds->inode_root);
	sbi->inode_height = le32_to_cpu(ds->inode_height);
	sbi->next_ino = le64_to_cpu(ds->next_ino);
	sbi->mkfs_time = le64_to_cpu(ds->mkfs_time);
	sbi->sb_state = le32_to_cpu(ds->state) & MSNAP_SB_ERROR;
	sbi->error_code = le32_to_cpu(ds->error_code);
	sbi->error_time = le64_to_cpu(ds->error_time);
	memcpy(&sbi->disk_super, ds, sizeof(*ds));
}

/*
 * Whether superblock @ds, invalid for @why, is what a torn or missing
 * write leaves (no magic, a bad CRC, unreadable) rather than a complete
 * write of something wrong.
 */
static bool msnap_super_torn(struct msnap_super *ds, const char *why)
{
	return le64_to_cpu(ds->magic) != MSNAP_SB_MAGIC ||
	       !msnap_crc_ok(ds, &ds->crc) || !strcmp(why, "read error");
}

/*
 * Choose the newer valid superblock, or the only valid one.  The other
 * one is a fallback only if the invalid one may be a torn write: a
 * complete superblock (its CRC matches) newer than the valid one made
 * the older checkpoint's released blocks reusable, so that checkpoint
 * is no longer consistent (docs/design.md, "Which superblock").
 */
static int msnap_read_super(struct super_block *sb)
{
	struct msnap_super *ds[2];
	const char *why[2];
	int slot, err = 0;

	ds[0] = kmalloc(sizeof(*ds[0]), GFP_KERNEL);
	ds[1] = kmalloc(sizeof(*ds[1]), GFP_KERNEL);
	if (!ds[0] || !ds[1]) {
		err = -ENOMEM;
		goto out;
	}
	why[0] = msnap_read_one_super(sb, MSNAP_SB_BLOCK_A, ds[0]);
	why[1] = msnap_read_one_super(sb, MSNAP_SB_BLOCK_B, ds[1]);
	if (why[0] && why[1]) {
		msnap_err(sb, "no valid superblock (A: %s; B: %s)", why[0],
			  why[1]);
		err = -EINVAL;
		goto out;
	}
	slot = why[0] ? 0 : 1;		/* the invalid one, if any */
	if (why[slot] && !msnap_super_torn(ds[slot], why[slot]) &&
	    le64_to_cpu(ds[slot]->generation) >
	    le64_to_cpu(ds[1 - slot]->generation)) {
		msnap_err(sb, "superblock %c, the newer: %s (not falling back to the older checkpoint; run fsck.memsnap)",
			  'A' + slot, why[slot]);
		err = -EINVAL;
		goto out;
	}
	if (why[0] || why[1])
		msnap_warn(sb, "superblock %c: %s; using the other",
			   why[0] ? 'A' : 'B', why[0] ? why[0] : why[1]);
	slot = why[0] ? 1 : why[1] ? 0 :
	       le64_to_cpu(ds[1]->generation) > le64_to_cpu(ds[0]->generation);
	msnap_apply_super(MSNAP_SB(sb), ds[slot], slot);
	if (le32_to_cpu(ds[slot]->state) & MSNAP_SB_ERROR) {
		time64_t t = le64_to_cpu(ds[slot]->error_time);

		msnap_warn(sb, "an error was recorded (%pe at %ptT UTC): run fsck.memsnap",
			   ERR_PTR(-(int)le32_to_cpu(ds[slot]->error_code)), &t);
	}
out:
	kfree(ds[0]);
	kfree(ds[1]);
	return err;
}

/*
 * A node of a tree of the checkpoint; @arg starts with the tree's owner
 * (0: the inode tree).
 */
static int msnap_load_node(struct super_block *sb, u64 key, u64 block,
			   void *arg)
{
	u64 *owner = arg;

	return msnap_alloc_ref(sb, block, *owner ? "a page map node" :
			       "an inode tree node", *owner);
}

struct msnap_load_map {
	u64	owner;		/* first: msnap_load_node() reads it */
	u64	pages;		/* the file's size in pages */
	u64	mapped;
};

static int msnap_load_page(struct super_block *sb, u64 index, u64 block,
			   void *arg)
{
	struct msnap_load_map *lm = arg;

	if (index >= lm->pages) {
		msnap_err(sb, "inode %llu: page %llu mapped beyond the end of the file",
			  lm->owner, index);
		return -EUCLEAN;
	}
	lm->mapped++;
	return msnap_alloc_ref(sb, block, "a page", lm->owner);
}

/*
 * Check the page map of a checkpointed inode and account for its blocks:
 * the mount walks every page map (its nodes, not the data), so that
 * every referenced block is known to be in use before anything is
 * allocated (docs/design.md, "Checks at mount").
 */
static int msnap_load_map(struct super_block *sb, struct inode *inode)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_load_map lm = {
		.owner = inode->i_ino,
		.pages = DIV_ROUND_UP(mi->disk_size, PAGE_SIZE),
	};
	int err;

	if ((mi->map_root || mi->map_height) &&
	    (!msnap_is_data_block(MSNAP_SB(sb), mi->map_root) ||
	     !mi->map_height || mi->map_height > MSNAP_TREE_MAX_HEIGHT)) {
		msnap_err(sb, "inode %llu: bad page map root %llu or height %u",
			  lm.owner, mi->map_root, mi->map_height);
		return -EUCLEAN;
	}
	if (inode->i_ino == MSNAP_ROOT_INO && (mi->map_root || mi->nblocks)) {
		msnap_err(sb, "root directory with pages");
		return -EUCLEAN;
	}
	err = msnap_tree_walk(sb, mi->map_root, mi->map_height, lm.owner, 0,
			      msnap_load_page, msnap_load_node, &lm);
	if (!err && lm.mapped != mi->nblocks) {
		msnap_err(sb, "inode %llu: blocks is %llu, but %llu pages are mapped",
			  lm.owner, mi->nblocks, lm.mapped);
		err = -EUCLEAN;
	}
	return err;
}

static int msnap_load_inode(struct super_block *sb, u64 ino, u64 block,
			    void *arg)
{
	struct msnap_mount *m = arg;
	struct inode *inode;
	int err;

	if (ino < MSNAP_ROOT_INO || ino >= MSNAP_SB(sb)->next_ino) {
		msnap_err(sb, "inode tree: inode number %llu is 0 or not below next_ino",
			  ino);
		return -EUCLEAN;
	}
	err = msnap_alloc_ref(sb, block, "the inode block", ino);
	if (err)
		return err;
	inode = msnap_iget(sb, ino, block);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	err = xa_insert(&m->inodes, ino, inode, GFP_KERNEL);
	if (err) {
		iput(inode);
		return err;
	}
	if (ino != MSNAP_ROOT_INO)
		MSNAP_SB(sb)->inodes++;
	return msnap_load_map(sb, inode);
}

/* ------------------------------------------------------------------ */
/* Log replay                                                          */

static struct inode *msnap_replay_file(struct msnap_mount *m, u64 ino)
{
	struct inode *inode = xa_load(&m->inodes, ino);

	if (!inode || !S_ISREG(inode->i_mode) || MSNAP_I(inode)->unlinked)
		return NULL;
	return inode;
}

static int msnap_replay_inode(struct msnap_mount *m, u64 ino,
			      struct msnap_entry_inode *e)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	struct inode *inode = xa_load(&m->inodes, ino);
	const char *why;
	int err;

	if (ino < MSNAP_FIRST_INO || (inode && MSNAP_I(inode)->unlinked))
		return -EUCLEAN;
	if (ino >= msnap_tree_span(MSNAP_TREE_MAX_HEIGHT)) {
		msnap_err(m->sb, "INODE entry for inode %llu: number too large", ino);
		return -EUCLEAN;
	}
	why = msnap_attrs_bad(ino, e);
	if (why) {
		msnap_err(m->sb, "INODE entry for inode %llu: %s", ino, why);
		return -EUCLEAN;
	}
	if (!inode) {
		inode = msnap_new_inode(m->sb, ino, S_IFREG);
		if (IS_ERR(inode))
			return PTR_ERR(inode);
		unlock_new_inode(inode);
		err = xa_insert(&m->inodes, ino, inode, GFP_KERNEL);
		if (err) {
			iput(inode);
			return err;
		}
		sbi->inodes++;
		sbi->next_ino = max(sbi->next_ino, ino + 1);
	}
	msnap_set_attrs(inode, e);
	msnap_mark_ckpt(inode);
	return 0;
}

static int msnap_replay_entry(struct msnap_mount *m, struct msnap_entry_hdr *h)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	u64 ino = le64_to_cpu(h->ino);
	struct msnap_entry_truncate *t = (void *)h;
	struct msnap_entry_data *d = (void *)h;
	struct msnap_entry_name *n = (void *)h;
	struct inode *inode;
	int err;

	if (le16_to_cpu(h->type) == MSNAP_ENTRY_INODE)
		return msnap_replay_inode(m, ino, (void *)h);
	inode = msnap_replay_file(m, ino);
	if (!inode)
		return -EUCLEAN;
	switch (le16_to_cpu(h->type)) {
	case MSNAP_ENTRY_DATA:
		/* Past the largest file: the record checks would refuse it. */
		if (le64_to_cpu(d->index) >= MSNAP_MAX_FILE_SIZE >> PAGE_SHIFT) {
			msnap_err(m->sb, "DATA for inode %llu: page %llu beyond the largest file",
				  ino, le64_to_cpu(d->index));
			return -EUCLEAN;
		}
		err = msnap_alloc_mark(sbi, le64_to_cpu(d->block));
		if (!err)
			err = msnap_map_set(inode, le64_to_cpu(d->index),
					    le64_to_cpu(d->block));
		return err;
	case MSNAP_ENTRY_NAME:
		if (!msnap_name_ok(n->name, le32_to_cpu(n->name_len)))
			return -EUCLEAN;
		memcpy(MSNAP_I(inode)->name, n->name, le32_to_cpu(n->name_len));
		MSNAP_I(inode)->name[le32_to_cpu(n->name_len)] = '\0';
		msnap_mark_ckpt(inode);
		return 0;
	case MSNAP_ENTRY_UNLINK:
		clear_nlink(inode);
		return msnap_inode_unlinked(inode);
	case MSNAP_ENTRY_TRUNCATE:
		/* The kernel always cuts at the first page past the size. */
		if (le64_to_cpu(t->size) > MSNAP_MAX_FILE_SIZE ||
		    le64_to_cpu(t->first_index) !=
		    DIV_ROUND_UP(le64_to_cpu(t->size), PAGE_SIZE))
			return -EUCLEAN;
		MSNAP_I(inode)->disk_size = le64_to_cpu(t->size);
		i_size_write(inode, le64_to_cpu(t->size));
		return msnap_map_truncate(inode, le64_to_cpu(t->first_index));
	}
	return -EUCLEAN;
}

/*
 * The size a well-formed entry of its type has (reserved fields zero, a
 * name zero padded), 0 if it is not well formed.  Kept in step with the
 * user-space reader's entry_len() (tools/lib/msnapfs_log.c), so that the
 * kernel and fsck end the log at the same record.
 */
static size_t msnap_entry_size(struct msnap_entry_hdr *h)
{
	struct msnap_entry_inode *i = (void *)h;
	struct msnap_entry_data *d = (void *)h;
	struct msnap_entry_name *n = (void *)h;
	u32 nl;

	switch (le16_to_cpu(h->type)) {
	case MSNAP_ENTRY_DATA:
		return d->reserved ? 0 : sizeof(*d);
	case MSNAP_ENTRY_INODE:
		return i->reserved ? 0 : sizeof(*i);
	case MSNAP_ENTRY_NAME:
		if (le16_to_cpu(h->len) < sizeof(*n) || n->reserved)
			return 0;
		nl = le32_to_cpu(n->name_len);
		if (!nl || nl > MSNAP_NAME_MAX ||
		    le16_to_cpu(h->len) != round_up(sizeof(*n) + nl, 8) ||
		    memchr_inv(n->name + nl, 0,
			       le16_to_cpu(h->len) - sizeof(*n) - nl))
			return 0;
		return le16_to_cpu(h->len);
	case MSNAP_ENTRY_UNLINK:
		return sizeof(struct msnap_entry_unlink);
	case MSNAP_ENTRY_TRUNCATE:
		return sizeof(struct msnap_entry_truncate);
	}
	return 0;
}

/* Check the entries of one log block parse exactly to bytes_used. */
static bool msnap_log_block_parses(struct msnap_log_block *lb)
{
	u32 used = le32_to_cpu(lb->bytes_used), off, len, n = 0;
	struct msnap_entry_hdr *h;

	if (used > MSNAP_LOG_PAYLOAD)
		return false;
	for (off = 0; off < used; off += len, n++) {
		if (used - off < sizeof(*h))
			return false;
		h = (void *)(lb->payload + off);
		len = le16_to_cpu(h->len);
		if (len < sizeof(*h) || len % 8 || len > used - off ||
		    len != msnap_entry_size(h) || h->reserved)
			return false;
	}
	return n == le32_to_cpu(lb->entries);
}

struct msnap_replay_rec {
	struct buffer_head	**bhs;
	u32			count;
};

static void msnap_replay_rec_free(struct msnap_replay_rec *r)
{
	u32 i;

	for (i = 0; i < r->count; i++)
		brelse(r->bhs[i]);
	kfree(r->bhs);
}

static bool msnap_log_block_ok(struct msnap_sb_info *sbi,
			       struct msnap_log_block *lb, u64 seq, u32 index)
{
	return le32_to_cpu(lb->magic) == MSNAP_LOG_MAGIC &&
	       msnap_crc_ok(lb, &lb->crc) && le64_to_cpu(lb->seq) == seq &&
	       le32_to_cpu(lb->index) == index &&
	       le64_to_cpu(lb->nonce) == sbi->log_nonce &&
	       !memchr_inv(lb->reserved, 0, sizeof(lb->reserved)) &&
	       msnap_log_block_parses(lb);
}

/*
 * Every data block of a DATA entry holds what the record says: 1 if so,
 * 0 if not (a torn commit: the end of the log), -EUCLEAN for a block
 * outside the data area, which no commit writes (fsck's data_crc_check
 * calls it corruption too).
 */
static int msnap_record_data_ok(struct super_block *sb,
				struct msnap_log_block *lb)
{
	u32 used = le32_to_cpu(lb->bytes_used), off;
	struct msnap_entry_data *d;
	struct buffer_head *bh;
	bool ok;

	for (off = 0; off < used; off += le16_to_cpu(d->hdr.len)) {
		d = (void *)(lb->payload + off);
		if (le16_to_cpu(d->hdr.type) != MSNAP_ENTRY_DATA)
			continue;
		if (!msnap_is_data_block(MSNAP_SB(sb), le64_to_cpu(d->block))) {
			msnap_err(sb, "commit %llu: DATA for inode %llu: block %llu outside the data area",
				  le64_to_cpu(lb->seq), le64_to_cpu(d->hdr.ino),
				  le64_to_cpu(d->block));
			return -EUCLEAN;
		}
		bh = sb_bread(sb, le64_to_cpu(d->block));
		if (!bh)
			return 0;
		ok = msnap_crc32c(bh->b_data, MSNAP_BLOCK_SIZE) ==
		     le32_to_cpu(d->data_crc);
		brelse(bh);
		if (!ok)
			return 0;
	}
	return 1;
}

/*
 * Read the record at log offset @pos as commit @seq: 1 if valid, 0 if
 * not (the end of the log), or an error.  The blocks are checked in
 * order and a data block only once its log block's framing was.
 */
static int msnap_read_record(struct super_block *sb, u64 pos, u64 seq,
			     struct msnap_replay_rec *r)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_log_block *lb;
	u32 i, count = 1;
	int ok;

	r->count = 0;
	r->bhs = NULL;
	for (i = 0; i < count; i++) {
		struct buffer_head *bh;

		bh = sb_bread(sb, sbi->log_start + (pos + i) % sbi->log_blocks);
		if (!bh)
			return 0;
		lb = (void *)bh->b_data;
		if (!i) {
			count = le32_to_cpu(lb->count);
			if (!count || count > sbi->log_blocks / MSNAP_RECORD_MAX_DIV ||
			    !msnap_log_fits(sbi, count))
				count = 0;
			r->bhs = kcalloc(max(count, 1U), sizeof(*r->bhs),
					 GFP_KERNEL);
			if (!r->bhs || !count) {
				brelse(bh);
				return r->bhs ? 0 : -ENOMEM;
			}
		}
		r->bhs[r->count++] = bh;
		if (le32_to_cpu(lb->count) != count ||
		    !msnap_log_block_ok(sbi, lb, seq, i))
			return 0;
	}
	/* fsck checks every block's framing before any data block. */
	for (i = 0; i < count; i++) {
		ok = msnap_record_data_ok(sb, (void *)r->bhs[i]->b_data);
		if (ok <= 0)
			return ok;
	}
	return 1;
}

/*
 * What must hold after each record for the files it changed, as fsck's
 * record_end_check() has it: a name, and no page mapped at or past the
 * end of the file.  (Two files with one name are refused when the
 * namespace is built, after the last record.)
 */
static int msnap_record_end_check(struct msnap_mount *m, u64 seq)
{
	struct inode *inode;
	unsigned long ino;
	void *entry;
	int err = 0;

	xa_for_each(&m->touched, ino, entry) {
		inode = msnap_replay_file(m, ino);
		if (!inode || err)
			continue;
		if (!MSNAP_I(inode)->name[0]) {
			msnap_err(m->sb, "commit %llu: inode %lu has no name",
				  seq, ino);
			err = -EUCLEAN;
			continue;
		}
		err = msnap_map_beyond(inode, DIV_ROUND_UP(MSNAP_I(inode)->disk_size,
							   PAGE_SIZE));
		if (err > 0) {
			msnap_err(m->sb, "commit %llu: inode %lu maps pages beyond its size %llu",
				  seq, ino, MSNAP_I(inode)->disk_size);
			err = -EUCLEAN;
		}
	}
	xa_destroy(&m->touched);
	return err;
}

static int msnap_apply_record(struct msnap_mount *m, struct msnap_replay_rec *r)
{
	struct msnap_log_block *lb;
	struct msnap_entry_hdr *h;
	u32 i, off;
	int err;

	for (i = 0; i < r->count; i++) {
		lb = (void *)r->bhs[i]->b_data;
		for (off = 0; off < le32_to_cpu(lb->bytes_used);
		     off += le16_to_cpu(h->len)) {
			h = (void *)(lb->payload + off);
			err = msnap_replay_entry(m, h);
			if (!err)
				err = xa_err(xa_store(&m->touched,
						      le64_to_cpu(h->ino),
						      xa_mk_value(1),
						      GFP_KERNEL));
			if (err) {
				msnap_err(m->sb, "commit %llu: entry of type %u for inode %llu does not apply",
					  le64_to_cpu(lb->seq),
					  le16_to_cpu(h->type),
					  le64_to_cpu(h->ino));
				xa_destroy(&m->touched);
				return err;
			}
		}
	}
	return msnap_record_end_check(m, le64_to_cpu(lb->seq));
}

static int msnap_replay(struct msnap_mount *m)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	struct msnap_replay_rec r;
	int err = 0;

	while (sbi->log_used < sbi->log_blocks) {
		u64 pos = (sbi->log_head + sbi->log_used) % sbi->log_blocks;
		int ok = msnap_read_record(m->sb, pos, sbi->next_seq, &r);

		if (ok < 0)
			err = ok;
		else if (ok)
			err = msnap_apply_record(m, &r);
		if (ok > 0 && !err) {
			sbi->log_used += r.count;
			sbi->durable_seq = sbi->next_seq++;
			m->replayed++;
		}
		msnap_replay_rec_free(&r);
		if (ok <= 0 || err)
			break;
		cond_resched();
	}
	return err;
}

/* ------------------------------------------------------------------ */

/* Give every live file its pinned dentry in the root directory. */
static int msnap_build_namespace(struct msnap_mount *m, struct dentry *root)
{
	struct dentry *dentry;
	struct inode *inode;
	unsigned long ino;
	struct qstr name;

	xa_for_each_start(&m->inodes, ino, inode, MSNAP_FIRST_INO) {
		if (MSNAP_I(inode)->unlinked)
			continue;
		name = (struct qstr)QSTR_INIT(MSNAP_I(inode)->name,
					      strlen(MSNAP_I(inode)->name));
		dentry = name.len ? d_hash_and_lookup(root, &name) : NULL;
		if (!name.len || dentry) {
			dput(dentry);
			msnap_err(m->sb, "inode %lu: missing or duplicate name",
				  ino);
			return -EUCLEAN;
		}
		dentry = d_alloc_name(root, MSNAP_I(inode)->name);
		if (!dentry)
			return -ENOMEM;
		xa_erase(&m->inodes, ino);
		list_add_tail(&MSNAP_I(inode)->live_entry,
			      &MSNAP_SB(m->sb)->live_list);
		d_add(dentry, inode);	/* the pin keeps this reference */
	}
	return 0;
}

static void msnap_mount_release(struct msnap_mount *m)
{
	struct inode *inode;
	unsigned long ino;

	xa_for_each(&m->inodes, ino, inode)
		iput(inode);
	xa_destroy(&m->inodes);
}

int msnap_load(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_mount m = { .sb = sb };
	struct inode *root;
	int err;

	err = msnap_read_super(sb);
	if (err)
		return err;
	err = msnap_alloc_init(sbi);
	if (!err)
		err = msnap_alloc_load(sb, sbi->bitmap_copy);
	if (err)
		return err;
	xa_init(&m.inodes);
	xa_init(&m.touched);
	mutex_lock(&sbi->commit_mutex);
	err = msnap_tree_walk(sb, sbi->inode_root, sbi->inode_height, 0, 0,
			      msnap_load_inode, msnap_load_node, &m);
	msnap_alloc_loaded(sbi);
	root = xa_load(&m.inodes, MSNAP_ROOT_INO);
	if (!err && (!root || !S_ISDIR(root->i_mode))) {
		msnap_err(sb, "root directory missing");
		err = -EUCLEAN;
	}
	if (!err)
		err = msnap_replay(&m);
	mutex_unlock(&sbi->commit_mutex);
	if (!err) {
		xa_erase(&m.inodes, MSNAP_ROOT_INO);
		sb->s_root = d_make_root(root);
		if (!sb->s_root)
			err = -ENOMEM;
	}
	if (!err)
		err = msnap_build_namespace(&m, sb->s_root);
	msnap_mount_release(&m);
	if (!err && m.replayed)
		msnap_info(sb, "replayed %llu commit(s) from the log", m.replayed);
	return err;
}
