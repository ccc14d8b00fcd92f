// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: inodes and the flat namespace.
 *
 * One root directory holds every file.  As in ramfs, the whole namespace
 * lives in the dcache, built at mount from the inode table: lookups are
 * simple_lookup() and readdir is dcache_readdir().  Each namespace change
 * queues a log entry under commit_mutex (see msnap_nslog_add), so it is
 * crash-atomic and durable with the next commit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/buffer_head.h>
#include <linux/namei.h>
#include <linux/slab.h>

#include "memsnap.h"

static struct kmem_cache *msnap_inode_cachep;

struct inode *msnap_alloc_inode(struct super_block *sb)
{
	struct msnap_inode_info *mi;

	mi = alloc_inode_sb(sb, msnap_inode_cachep, GFP_KERNEL);
	if (!mi)
		return NULL;
	mi->map_root = 0;
	mi->map_height = 0;
	seqcount_init(&mi->map_seq);
	mi->inode_block = 0;
	xa_init(&mi->overlay);
	xa_init(&mi->dirty);
	mi->nblocks = 0;
	mi->disk_size = 0;
	mi->preferred_addr = 0;
	mi->flags = 0;
	mi->unlinked = false;
	mi->released = false;
	INIT_LIST_HEAD(&mi->ckpt_entry);
	INIT_LIST_HEAD(&mi->live_entry);
	mi->name[0] = '\0';
	return &mi->vfs_inode;
}

void msnap_free_inode(struct inode *inode)
{
	kmem_cache_free(msnap_inode_cachep, MSNAP_I(inode));
}

static void msnap_inode_init_once(void *p)
{
	struct msnap_inode_info *mi = p;

	inode_init_once(&mi->vfs_inode);
}

int msnap_init_inode_cache(void)
{
	msnap_inode_cachep = kmem_cache_create("memsnap_inode_cache",
					       sizeof(struct msnap_inode_info),
					       0, SLAB_RECLAIM_ACCOUNT |
					       SLAB_ACCOUNT,
					       msnap_inode_init_once);
	return msnap_inode_cachep ? 0 : -ENOMEM;
}

void msnap_destroy_inode_cache(void)
{
	/* Inodes are freed through RCU: wait for them. */
	rcu_barrier();
	kmem_cache_destroy(msnap_inode_cachep);
}

/*
 * The inode's blocks can be reused after the next checkpoint once it is
 * both unlinked and unreferenced.  Unpersisted pages simply go away.
 */
void msnap_evict_inode(struct inode *inode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);

	truncate_inode_pages_final(&inode->i_data);
	if (mi->unlinked && !mi->released) {
		mi->released = true;
		if (msnap_map_release_all(inode, false))
			msnap_fs_error(inode->i_sb, -EUCLEAN,
				       "releasing a deleted file");
	}
	if (!list_empty(&mi->ckpt_entry)) {
		mutex_lock(&sbi->commit_mutex);
		list_del_init(&mi->ckpt_entry);
		sbi->meta_files -= mi->meta_need;
		mi->meta_need = 0;
		mutex_unlock(&sbi->commit_mutex);
	}
	xa_destroy(&mi->overlay);
	xa_destroy(&mi->dirty);
	clear_inode(inode);
}

/*
 * The dentry of every file is pinned, as in ramfs, so that the namespace
 * stays whole in the dcache.  Drop the pins before unmounting.
 */
void msnap_unpin_all(struct super_block *sb)
{
	struct msnap_inode_info *mi, *tmp;
	struct dentry *dentry;

	list_for_each_entry_safe(mi, tmp, &MSNAP_SB(sb)->live_list,
				 live_entry) {
		list_del_init(&mi->live_entry);
		dentry = d_find_alias(&mi->vfs_inode);
		if (dentry) {
			dput(dentry);	/* d_find_alias()'s reference */
			dput(dentry);	/* the pin */
		}
	}
}

static void msnap_set_ops(struct inode *inode)
{
	if (S_ISDIR(inode->i_mode)) {
		inode->i_op = &msnap_dir_inode_operations;
		inode->i_fop = &msnap_dir_operations;
		set_nlink(inode, 2);
	} else {
		inode->i_op = &msnap_file_inode_operations;
		inode->i_fop = &msnap_file_operations;
		inode->i_mapping->a_ops = &msnap_aops;
		set_nlink(inode, 1);
	}
}

/* A new in-memory inode @ino, hashed, locked (I_NEW) for the caller. */
struct inode *msnap_new_inode(struct super_block *sb, u64 ino, umode_t mode)
{
	struct inode *inode = iget_locked(sb, ino);

	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW)) {
		iput(inode);
		return ERR_PTR(-EEXIST);
	}
	inode->i_mode = mode;
	msnap_set_ops(inode);
	return inode;
}

/* Read inode @ino from its block @block (mount time). */
struct inode *msnap_iget(struct super_block *sb, u64 ino, u64 block)
{
	struct buffer_head *bh;
	struct inode *inode;
	const char *why;

	if (!msnap_is_data_block(MSNAP_SB(sb), block)) {
		msnap_err(sb, "inode %llu: block %llu outside the data area",
			  ino, block);
		return ERR_PTR(-EUCLEAN);
	}
	bh = sb_bread(sb, block);
	if (!bh)
		return ERR_PTR(-EIO);
	why = msnap_disk_inode_bad((void *)bh->b_data, ino);
	if (why) {
		msnap_err(sb, "inode %llu at block %llu is corrupt: %s", ino,
			  block, why);
		brelse(bh);
		return ERR_PTR(-EUCLEAN);
	}
	inode = msnap_new_inode(sb, ino, le32_to_cpu(((struct msnap_inode *)
						     bh->b_data)->mode));
	if (!IS_ERR(inode)) {
		msnap_inode_from_disk(inode, (void *)bh->b_data);
		MSNAP_I(inode)->inode_block = block;
		msnap_set_ops(inode);
		unlock_new_inode(inode);
	}
	brelse(bh);
	return inode;
}

static void msnap_dir_changed(struct inode *dir)
{
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
	msnap_mark_ckpt(dir);
}

static int msnap_create(msnap_idmap_t *idmap, struct inode *dir,
			struct dentry *dentry, umode_t mode, bool excl)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *inode;
	u64 ino;
	int err;

	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, true);
	if (err)
		goto out_unlock;
	spin_lock(&sbi->ino_lock);
	ino = sbi->next_ino++;
	sbi->inodes++;
	spin_unlock(&sbi->ino_lock);
	inode = msnap_new_inode(dir->i_sb, ino, S_IFREG | mode);
	if (IS_ERR(inode)) {
		err = PTR_ERR(inode);
		goto out_unlock;
	}
	inode_init_owner(idmap, inode, dir, S_IFREG | mode);
	inode_set_atime_to_ts(inode, inode_set_ctime_current(inode));
	inode_set_mtime_to_ts(inode, inode_get_ctime(inode));
	strscpy(MSNAP_I(inode)->name, dentry->d_name.name,
		sizeof(MSNAP_I(inode)->name));
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_INODE, inode);
	if (err)
		goto out_drop_inode;
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, inode);
	if (err)
		goto out_drop_inode;
	msnap_mark_ckpt(inode);
	msnap_dir_changed(dir);
	list_add_tail(&MSNAP_I(inode)->live_entry, &sbi->live_list);
	d_instantiate_new(dentry, inode);
	dget(dentry);	/* pinned, as in ramfs; see msnap_unpin_all() */
	mutex_unlock(&sbi->commit_mutex);
	return 0;

out_drop_inode:
	clear_nlink(inode);
	MSNAP_I(inode)->unlinked = true;
	MSNAP_I(inode)->released = true;
	unlock_new_inode(inode);
	iput(inode);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

/* @dentry's file leaves the namespace; caller holds commit_mutex. */
static int msnap_remove(struct inode *dir, struct dentry *dentry)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *inode = d_inode(dentry);
	int err;

	err = msnap_nslog_add(sbi, MSNAP_ENTRY_UNLINK, inode);
	if (err)
		return err;
	/* The entry is queued: the file is gone whatever happens next. */
	if (msnap_inode_unlinked(inode))
		msnap_fs_error(dir->i_sb, -EUCLEAN, "releasing a deleted file");
	return 0;
}

static int msnap_unlink(struct inode *dir, struct dentry *dentry)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	int err;

	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, false);
	if (err)
		goto out_unlock;
	err = msnap_remove(dir, dentry);
	if (err)
		goto out_unlock;
	msnap_dir_changed(dir);
	err = simple_unlink(dir, dentry);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

static void msnap_set_name(struct inode *inode, const struct qstr *name)
{
	strscpy(MSNAP_I(inode)->name, name->name, sizeof(MSNAP_I(inode)->name));
}

static int msnap_rename(msnap_idmap_t *idmap, struct inode *old_dir,
			struct dentry *old_dentry, struct inode *new_dir,
			struct dentry *new_dentry, unsigned int flags)
{
	struct msnap_sb_info *sbi = MSNAP_SB(old_dir->i_sb);
	struct inode *inode = d_inode(old_dentry);
	struct inode *target = d_inode(new_dentry);
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, true);
	if (err)
		goto out_unlock;
	if (flags & RENAME_EXCHANGE) {
		msnap_set_name(target, &old_dentry->d_name);
		msnap_mark_ckpt(target);
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, target);
	} else if (target) {
		err = msnap_remove(new_dir, new_dentry);
	}
	if (err)
		goto out_unlock;
	msnap_set_name(inode, &new_dentry->d_name);
	msnap_mark_ckpt(inode);
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, inode);
	if (err)
		goto out_unlock;
	msnap_dir_changed(old_dir);
	err = simple_rename(idmap, old_dir, old_dentry, new_dir, new_dentry,
			    flags);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

/*
 * Change the size: unmap what lies beyond, and zero the partial page at
 * the lower of the two sizes, in the page cache and in its persisted
 * copy, so that bytes past a cut never come back, even after a crash.
 * A file unlinked while open has nothing on disk any more: its change
 * stays in memory (no log entry, no block written), since recovery
 * would find an entry for a file that does not exist.
 */
static int msnap_resize(struct inode *inode, loff_t size)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	loff_t cut = min_t(loff_t, i_size_read(inode), size);
	pgoff_t first = DIV_ROUND_UP(size, PAGE_SIZE);
	unsigned long index;
	void *entry;
	int err;

	err = msnap_zero_tail(inode, cut);
	if (err)
		return err;
	truncate_setsize(inode, size);
	xa_for_each_start(&mi->dirty, index, entry, first)
		xa_erase(&mi->dirty, index);
	err = msnap_map_truncate(inode, first);
	if (err || mi->unlinked)
		return err;
	mi->disk_size = size;
	err = msnap_nslog_add(MSNAP_SB(inode->i_sb), MSNAP_ENTRY_TRUNCATE, inode);
	if (err)
		return err;
	return msnap_zero_persisted_tail(inode, cut);
}

static int msnap_setattr(msnap_idmap_t *idmap, struct dentry *dentry,
			 struct iattr *iattr)
{
	struct inode *inode = d_inode(dentry);
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	int err;

	err = setattr_prepare(idmap, dentry, iattr);
	if (err)
		return err;
	mutex_lock(&sbi->commit_mutex);
	/* Shrinking a file, like deleting one, may use the reserve. */
	err = msnap_nslog_room(sbi, !(iattr->ia_valid & ATTR_SIZE) ||
			       iattr->ia_size >= i_size_read(inode));
	if (err)
		goto out_unlock;
	if ((iattr->ia_valid & ATTR_SIZE) &&
	    iattr->ia_size != i_size_read(inode)) {
		if (iattr->ia_size > MSNAP_MAX_FILE_SIZE) {
			err = -EFBIG;
			goto out_unlock;
		}
		/*
		 * Readahead and faults add folios under the invalidate lock
		 * (shared) and read them through the page map: none may be
		 * added between truncate_pagecache() and the map's cut, or
		 * the bytes cut off would be cached again beyond the end
		 * (and come back on a grow).
		 */
		filemap_invalidate_lock(inode->i_mapping);
		err = msnap_resize(inode, iattr->ia_size);
		filemap_invalidate_unlock(inode->i_mapping);
		if (err)
			goto out_unlock;
	}
	setattr_copy(idmap, inode, iattr);
	msnap_mark_ckpt(inode);
	/* An unlinked file's attributes stay in memory (see above). */
	if (!S_ISDIR(inode->i_mode) && !MSNAP_I(inode)->unlinked)
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_INODE, inode);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

const struct inode_operations msnap_dir_inode_operations = {
	.create		= msnap_create,
	.lookup		= simple_lookup,
	.unlink		= msnap_unlink,
	.rename		= msnap_rename,
	.setattr	= msnap_setattr,
	.getattr	= simple_getattr,
};

const struct inode_operations msnap_file_inode_operations = {
	.setattr	= msnap_setattr,
	.getattr	= simple_getattr,
};
