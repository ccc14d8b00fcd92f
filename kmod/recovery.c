// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: mount-time loading and crash recovery.
 *
 * Once super.c has chosen the superblock, loads the allocation bitmap
 * and every inode of its checkpoint, then replays the log: commit
 * records of consecutive sequence numbers from ckpt_seq + 1, each
 * applied whole, until the first one that is missing or invalid
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
	if (err)
		return err;
	if (lm.mapped != mi->nblocks) {
		msnap_err(sb, "inode %llu: blocks is %llu, but %llu pages are mapped",
			  lm.owner, mi->nblocks, lm.mapped);
		return -EUCLEAN;
	}
	return 0;
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
		if (err)
			return err;
		return msnap_map_set(inode, le64_to_cpu(d->index),
				     le64_to_cpu(d->block));
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
			if (err)
				goto out_refused;
			err = xa_err(xa_store(&m->touched, le64_to_cpu(h->ino),
					      xa_mk_value(1), GFP_KERNEL));
			if (err)
				goto out_refused;
		}
	}
	return msnap_record_end_check(m, le64_to_cpu(lb->seq));

out_refused:
	msnap_err(m->sb, "commit %llu: entry of type %u for inode %llu does not apply",
		  le64_to_cpu(lb->seq), le16_to_cpu(h->type),
		  le64_to_cpu(h->ino));
	xa_destroy(&m->touched);
	return err;
}

/*
 * Replay the record at the end of the replayed log if it is valid;
 * *@more says whether one was (and the next one may follow).
 */
static int msnap_replay_next(struct msnap_mount *m, bool *more)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	u64 pos = (sbi->log_head + sbi->log_used) % sbi->log_blocks;
	struct msnap_replay_rec r;
	int err;

	*more = false;
	err = msnap_read_record(m->sb, pos, sbi->next_seq, &r);
	if (err || !r.valid)
		goto out_free_rec;
	err = msnap_apply_record(m, &r);
	if (err)
		goto out_free_rec;
	sbi->log_used += r.count;
	sbi->durable_seq = sbi->next_seq++;
	m->replayed++;
	*more = true;
out_free_rec:
	msnap_replay_rec_free(&r);
	return err;
}

static int msnap_replay(struct msnap_mount *m)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	bool more = true;
	int err;

	while (more && sbi->log_used < sbi->log_blocks) {
		err = msnap_replay_next(m, &more);
		if (err)
			return err;
		cond_resched();
	}
	return 0;
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

/* The checkpoint's inodes, then the log; commit_mutex held. */
static int msnap_load_locked(struct msnap_mount *m, struct inode **root)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	err = msnap_tree_walk(m->sb, sbi->inode_root, sbi->inode_height, 0, 0,
			      msnap_load_inode, msnap_load_node, m);
	msnap_alloc_loaded(sbi);
	if (err)
		return err;
	*root = xa_load(&m->inodes, MSNAP_ROOT_INO);
	if (!*root || !S_ISDIR((*root)->i_mode)) {
		msnap_err(m->sb, "root directory missing");
		return -EUCLEAN;
	}
	return msnap_replay(m);
}

/*
 * Mount: the allocator, the checkpoint of the superblock super.c chose,
 * the log replayed over it, and the namespace in the dcache.
 */
int msnap_load(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_mount m = { .sb = sb };
	struct inode *root = NULL;
	int err;

	err = msnap_alloc_init(sbi);
	if (err)
		return err;
	err = msnap_alloc_load(sb, sbi->bitmap_copy);
	if (err)
		return err;
	xa_init(&m.inodes);
	xa_init(&m.touched);
	mutex_lock(&sbi->commit_mutex);
	err = msnap_load_locked(&m, &root);
	mutex_unlock(&sbi->commit_mutex);
	if (err)
		goto out_release;
	xa_erase(&m.inodes, MSNAP_ROOT_INO);
	sb->s_root = d_make_root(root);
	if (!sb->s_root) {
		err = -ENOMEM;
		goto out_release;
	}
	err = msnap_build_namespace(&m, sb->s_root);
	if (err)
		goto out_release;
	if (m.replayed)
		msnap_info(sb, "replayed %llu commit(s) from the log", m.replayed);
out_release:
	msnap_mount_release(&m);
	return err;
}
