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

/* The live inode @ino other than the root (a link inode too), or NULL. */
static struct inode *msnap_replay_live(struct msnap_mount *m, u64 ino)
{
	struct inode *inode = xa_load(&m->inodes, ino);

	if (!inode || ino < MSNAP_FIRST_INO || MSNAP_I(inode)->unlinked)
		return NULL;
	return inode;
}

/* The live regular file @ino, or NULL. */
static struct inode *msnap_replay_file(struct msnap_mount *m, u64 ino)
{
	struct inode *inode = msnap_replay_live(m, ino);

	if (!inode || !S_ISREG(inode->i_mode) || msnap_is_link(inode))
		return NULL;
	return inode;
}

/* The live directory @ino (the root too), or NULL. */
static struct inode *msnap_replay_dir(struct msnap_mount *m, u64 ino)
{
	struct inode *inode = xa_load(&m->inodes, ino);

	if (!inode || !S_ISDIR(inode->i_mode) || MSNAP_I(inode)->unlinked)
		return NULL;
	return inode;
}

/* A new inode @ino of @mode (0: a link inode) created by the log. */
static struct inode *msnap_replay_new(struct msnap_mount *m, u64 ino,
				      umode_t mode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	struct inode *inode;
	int err;

	if (ino >= msnap_tree_span(MSNAP_TREE_MAX_HEIGHT)) {
		msnap_err(m->sb, "entry for inode %llu: number too large", ino);
		return ERR_PTR(-EUCLEAN);
	}
	inode = msnap_new_inode(m->sb, ino, mode);
	if (IS_ERR(inode))
		return inode;
	unlock_new_inode(inode);
	err = xa_insert(&m->inodes, ino, inode, GFP_KERNEL);
	if (err) {
		iput(inode);
		return ERR_PTR(err);
	}
	sbi->inodes++;
	sbi->next_ino = max(sbi->next_ino, ino + 1);
	return inode;
}

static int msnap_replay_inode(struct msnap_mount *m, u64 ino,
			      struct msnap_entry_inode *e)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	struct inode *inode = xa_load(&m->inodes, ino);
	u32 mode = le32_to_cpu(e->mode);
	const char *why;

	/* The root takes INODE entries with feature DIRS only. */
	if ((ino < MSNAP_FIRST_INO &&
	     (ino != MSNAP_ROOT_INO || !msnap_has_dirs(sbi))) ||
	    (inode && MSNAP_I(inode)->unlinked))
		return -EUCLEAN;
	why = msnap_attrs_bad(ino, e, msnap_has_dirs(sbi));
	if (why) {
		msnap_err(m->sb, "INODE entry for inode %llu: %s", ino, why);
		return -EUCLEAN;
	}
	if (inode && (msnap_is_link(inode) ||
		      (inode->i_mode ^ mode) & S_IFMT)) {
		msnap_err(m->sb, "INODE entry for inode %llu: changes its type",
			  ino);
		return -EUCLEAN;
	}
	if (!inode) {
		inode = msnap_replay_new(m, ino, mode);
		if (IS_ERR(inode))
			return PTR_ERR(inode);
	}
	msnap_set_attrs(inode, e);
	msnap_mark_ckpt(inode);
	return 0;
}

/* Set @inode's name from a NAME, DIRENT or LINK entry's fields. */
static int msnap_replay_name(struct msnap_mount *m, struct inode *inode,
			     u64 parent, const char *name, u32 len)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);

	if (!msnap_name_ok(name, len) || !msnap_replay_dir(m, parent) ||
	    parent == inode->i_ino)
		return -EUCLEAN;
	memcpy(mi->name, name, len);
	mi->name[len] = '\0';
	mi->parent = parent;
	msnap_mark_ckpt(inode);
	return 0;
}

/* LINK: a new link inode, a second name of a live file. */
static int msnap_replay_link(struct msnap_mount *m, u64 ino,
			     struct msnap_entry_link *l)
{
	struct inode *target = msnap_replay_live(m, le64_to_cpu(l->target));
	struct inode *link;

	if (xa_load(&m->inodes, ino) || ino < MSNAP_FIRST_INO || !target ||
	    S_ISDIR(target->i_mode) || msnap_is_link(target))
		return -EUCLEAN;
	link = msnap_replay_new(m, ino, 0);
	if (IS_ERR(link))
		return PTR_ERR(link);
	MSNAP_I(link)->flags = MSNAP_INODE_LINK;
	MSNAP_I(link)->link_target = target->i_ino;
	return msnap_replay_name(m, link, le64_to_cpu(l->parent), l->name,
				 le32_to_cpu(l->name_len));
}

/* SYMLINK: the target of a live symlink. */
static int msnap_replay_symlink(struct inode *inode,
				struct msnap_entry_symlink *sl)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	char *target;

	if (!S_ISLNK(inode->i_mode) || msnap_is_link(inode) ||
	    memchr(sl->target, 0, le32_to_cpu(sl->len)))
		return -EUCLEAN;
	target = kmemdup_nul(sl->target, le32_to_cpu(sl->len), GFP_KERNEL);
	if (!target)
		return -ENOMEM;
	kfree(mi->symlink);
	mi->symlink = target;
	inode->i_link = target;
	mi->disk_size = le32_to_cpu(sl->len);
	i_size_write(inode, mi->disk_size);
	msnap_mark_ckpt(inode);
	return 0;
}

static int msnap_replay_entry(struct msnap_mount *m, struct msnap_entry_hdr *h)
{
	struct msnap_sb_info *sbi = MSNAP_SB(m->sb);
	u64 ino = le64_to_cpu(h->ino);
	u16 type = le16_to_cpu(h->type);
	struct msnap_entry_truncate *t = (void *)h;
	struct msnap_entry_dirent *de = (void *)h;
	struct msnap_entry_data *d = (void *)h;
	struct msnap_entry_name *n = (void *)h;
	struct inode *inode;
	int err;

	if (type >= MSNAP_ENTRY_DIRENT && !msnap_has_dirs(sbi)) {
		msnap_err(m->sb, "entry of type %u without feature DIRS", type);
		return -EUCLEAN;
	}
	if (type == MSNAP_ENTRY_INODE)
		return msnap_replay_inode(m, ino, (void *)h);
	if (type == MSNAP_ENTRY_LINK)
		return msnap_replay_link(m, ino, (void *)h);
	inode = msnap_replay_live(m, ino);
	if (!inode)
		return -EUCLEAN;
	switch (type) {
	case MSNAP_ENTRY_NAME:
		return msnap_replay_name(m, inode, MSNAP_ROOT_INO, n->name,
					 le32_to_cpu(n->name_len));
	case MSNAP_ENTRY_DIRENT:
		return msnap_replay_name(m, inode, le64_to_cpu(de->parent),
					 de->name, le32_to_cpu(de->name_len));
	case MSNAP_ENTRY_SYMLINK:
		return msnap_replay_symlink(inode, (void *)h);
	case MSNAP_ENTRY_UNLINK:
		clear_nlink(inode);
		return msnap_inode_unlinked(inode);
	}
	inode = msnap_replay_file(m, ino);
	if (!inode)
		return -EUCLEAN;
	switch (type) {
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

/* Whether @inode, if a symlink, has its target, of its size. */
static bool msnap_symlink_whole(struct inode *inode)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);

	return !S_ISLNK(inode->i_mode) ||
	       (mi->symlink && strlen(mi->symlink) == mi->disk_size);
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
		inode = msnap_replay_live(m, ino);
		if (!inode || err)
			continue;
		if (!MSNAP_I(inode)->name[0]) {
			msnap_err(m->sb, "commit %llu: inode %lu has no name",
				  seq, ino);
			err = -EUCLEAN;
			continue;
		}
		if (!msnap_symlink_whole(inode)) {
			msnap_err(m->sb, "commit %llu: symlink %lu without its target",
				  seq, ino);
			err = -EUCLEAN;
			continue;
		}
		if (!S_ISREG(inode->i_mode))
			continue;
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

/*
 * Mount state of the namespace build: an inode whose reference went to
 * the dcache (a name's dentry) or to live_list (a link inode) is marked,
 * so that msnap_mount_release() does not drop it again.
 */
#define MSNAP_MOUNT_ATTACHED	XA_MARK_0

/* The dentry of directory @ino once attached, else NULL. */
static struct dentry *msnap_dir_dentry(struct msnap_mount *m, u64 ino)
{
	if (ino == MSNAP_ROOT_INO)
		return m->sb->s_root;
	if (!xa_get_mark(&m->inodes, ino, MSNAP_MOUNT_ATTACHED))
		return NULL;
	return MSNAP_I((struct inode *)xa_load(&m->inodes, ino))->dentry;
}

/* Give @inode (@ino) its pinned dentry in the directory @parent. */
static int msnap_attach(struct msnap_mount *m, unsigned long ino,
			struct inode *inode, struct dentry *parent)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct inode *target = inode;
	struct qstr name = QSTR_INIT(mi->name, strlen(mi->name));
	struct dentry *dentry;

	if (msnap_is_link(inode)) {
		target = xa_load(&m->inodes, mi->link_target);
		if (!target || MSNAP_I(target)->unlinked ||
		    S_ISDIR(target->i_mode) || msnap_is_link(target)) {
			msnap_err(m->sb, "link inode %lu: no file %llu to link",
				  ino, mi->link_target);
			return -EUCLEAN;
		}
	}
	dentry = name.len ? d_hash_and_lookup(parent, &name) : NULL;
	if (!name.len || dentry) {
		dput(dentry);
		msnap_err(m->sb, "inode %lu: missing or duplicate name", ino);
		return -EUCLEAN;
	}
	dentry = d_alloc_name(parent, mi->name);
	if (!dentry)
		return -ENOMEM;
	xa_set_mark(&m->inodes, ino, MSNAP_MOUNT_ATTACHED);
	mi->dentry = dentry;
	list_add_tail(&mi->live_entry, &MSNAP_SB(m->sb)->live_list);
	if (target != inode) {
		dentry->d_fsdata = mi;
		inc_nlink(target);
		ihold(target);
	}
	if (S_ISDIR(target->i_mode))
		inc_nlink(d_inode(parent));
	d_add(dentry, target);	/* the pin keeps this reference */
	return 0;
}

/*
 * Attach the live inodes of one kind (@dirs: directories, else the
 * others, link inodes last of all with @links) whose directory is
 * attached; *@pending counts those whose directory is not yet.
 */
static int msnap_attach_pass(struct msnap_mount *m, bool dirs, bool links,
			     u64 *pending, bool *progress)
{
	struct dentry *parent;
	struct inode *inode;
	unsigned long ino;
	int err;

	*pending = 0;
	xa_for_each_start(&m->inodes, ino, inode, MSNAP_FIRST_INO) {
		if (MSNAP_I(inode)->unlinked ||
		    xa_get_mark(&m->inodes, ino, MSNAP_MOUNT_ATTACHED) ||
		    S_ISDIR(inode->i_mode) != dirs ||
		    msnap_is_link(inode) != links)
			continue;
		if (!msnap_replay_dir(m, MSNAP_I(inode)->parent) &&
		    MSNAP_I(inode)->parent != MSNAP_ROOT_INO) {
			msnap_err(m->sb, "inode %lu: its directory %llu does not exist",
				  ino, MSNAP_I(inode)->parent);
			return -EUCLEAN;
		}
		parent = msnap_dir_dentry(m, MSNAP_I(inode)->parent);
		if (!parent) {
			(*pending)++;
			continue;
		}
		err = msnap_attach(m, ino, inode, parent);
		if (err)
			return err;
		*progress = true;
		cond_resched();
	}
	return 0;
}

/*
 * Give every live name its pinned dentry: the directories first, in as
 * many passes as the tree is deep (a directory can be older than its
 * parent), then the other inodes, then the link inodes.
 */
static int msnap_build_namespace(struct msnap_mount *m)
{
	bool progress;
	u64 pending;
	int err;

	do {
		progress = false;
		err = msnap_attach_pass(m, true, false, &pending, &progress);
		if (err)
			return err;
	} while (pending && progress);
	if (pending) {
		msnap_err(m->sb, "%llu directories are not reachable from the root (a loop)",
			  pending);
		return -EUCLEAN;
	}
	err = msnap_attach_pass(m, false, false, &pending, &progress);
	if (!err)
		err = msnap_attach_pass(m, false, true, &pending, &progress);
	return err;
}

static void msnap_mount_release(struct msnap_mount *m)
{
	struct inode *inode;
	unsigned long ino;

	xa_for_each(&m->inodes, ino, inode)
		if (!xa_get_mark(&m->inodes, ino, MSNAP_MOUNT_ATTACHED))
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
	err = msnap_build_namespace(&m);
	if (err)
		goto out_release;
	if (m.replayed)
		msnap_info(sb, "replayed %llu commit(s) from the log", m.replayed);
out_release:
	msnap_mount_release(&m);
	return err;
}
