// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: inodes and the namespace.
 *
 * As in ramfs, the whole namespace lives in the dcache, built at mount
 * from the inode table (each inode names its directory and its name):
 * lookups are simple_lookup() and readdir is dcache_readdir().  A hard
 * link is a link inode, which holds the second name; its dentry is an
 * alias of the file's inode and points back to it through d_fsdata.
 * Each namespace change queues its log entries under commit_mutex (see
 * msnap_nslog_add), so it is crash-atomic and durable with the next
 * commit.  Directories, links, symlinks and special files need feature
 * DIRS, which the first of them turns on (msnap_nslog_dirs()).  An
 * O_TMPFILE file lives in memory only until linkat() names it.
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
	mi->parent = 0;
	mi->link_target = 0;
	mi->dentry = NULL;
	mi->symlink = NULL;
	return &mi->vfs_inode;
}

void msnap_free_inode(struct inode *inode)
{
	kfree(MSNAP_I(inode)->symlink);
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
 * The dentry of every name is pinned, as in ramfs, so that the namespace
 * stays whole in the dcache.  Drop the pins, and the link inodes, before
 * unmounting.
 */
void msnap_unpin_all(struct super_block *sb)
{
	struct msnap_inode_info *mi, *tmp;

	list_for_each_entry_safe(mi, tmp, &MSNAP_SB(sb)->live_list,
				 live_entry) {
		list_del_init(&mi->live_entry);
		dput(mi->dentry);
		if (msnap_is_link(&mi->vfs_inode))
			iput(&mi->vfs_inode);
	}
}

static const struct inode_operations msnap_symlink_inode_operations;
static const struct inode_operations msnap_special_inode_operations;

static void msnap_set_ops(struct inode *inode)
{
	switch (inode->i_mode & S_IFMT) {
	case S_IFDIR:
		inode->i_op = &msnap_dir_inode_operations;
		inode->i_fop = &msnap_dir_operations;
		set_nlink(inode, 2);
		break;
	case S_IFREG:
		inode->i_op = &msnap_file_inode_operations;
		inode->i_fop = &msnap_file_operations;
		inode->i_mapping->a_ops = &msnap_aops;
		set_nlink(inode, 1);
		break;
	case S_IFLNK:
		inode->i_op = &msnap_symlink_inode_operations;
		inode->i_link = MSNAP_I(inode)->symlink;
		set_nlink(inode, 1);
		break;
	case 0:		/* a link inode, never seen by the VFS */
		set_nlink(inode, 1);
		break;
	default:
		inode->i_op = &msnap_special_inode_operations;
		init_special_inode(inode, inode->i_mode, inode->i_rdev);
		set_nlink(inode, 1);
		break;
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
	int err;

	if (!msnap_is_data_block(MSNAP_SB(sb), block)) {
		msnap_err(sb, "inode %llu: block %llu outside the data area",
			  ino, block);
		return ERR_PTR(-EUCLEAN);
	}
	bh = sb_bread(sb, block);
	if (!bh)
		return ERR_PTR(-EIO);
	why = msnap_disk_inode_bad((void *)bh->b_data, ino,
				   msnap_has_dirs(MSNAP_SB(sb)));
	if (why) {
		msnap_err(sb, "inode %llu at block %llu is corrupt: %s", ino,
			  block, why);
		brelse(bh);
		return ERR_PTR(-EUCLEAN);
	}
	inode = msnap_new_inode(sb, ino, le32_to_cpu(((struct msnap_inode *)
						     bh->b_data)->mode));
	if (IS_ERR(inode))
		goto out_brelse;
	err = msnap_inode_from_disk(inode, (void *)bh->b_data);
	if (err) {
		iget_failed(inode);
		inode = ERR_PTR(err);
		goto out_brelse;
	}
	MSNAP_I(inode)->inode_block = block;
	msnap_set_ops(inode);
	unlock_new_inode(inode);
out_brelse:
	brelse(bh);
	return inode;
}

static void msnap_dir_changed(struct inode *dir)
{
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
	msnap_mark_ckpt(dir);
}

/* The inode that holds the name @dentry: the file's, or a link inode. */
static struct msnap_inode_info *msnap_name_of(struct dentry *dentry)
{
	return dentry->d_fsdata ?: MSNAP_I(d_inode(dentry));
}

/* @mi's name is now @dentry's name in @dir (not yet in the log). */
static void msnap_set_name(struct msnap_inode_info *mi, struct inode *dir,
			   const struct qstr *name)
{
	mi->parent = dir->i_ino;
	strscpy(mi->name, name->name, sizeof(mi->name));
}

/* A new inode number; caller holds commit_mutex. */
static u64 msnap_new_ino(struct msnap_sb_info *sbi)
{
	u64 ino;

	spin_lock(&sbi->ino_lock);
	ino = sbi->next_ino++;
	spin_unlock(&sbi->ino_lock);
	return ino;
}

/* One more inode in the namespace (the superblock's count). */
static void msnap_count_inode(struct msnap_sb_info *sbi)
{
	spin_lock(&sbi->ino_lock);
	sbi->inodes++;
	spin_unlock(&sbi->ino_lock);
}

/* Forget a new inode whose creation failed (its entries are dropped). */
static void msnap_drop_new(struct inode *inode)
{
	clear_nlink(inode);
	MSNAP_I(inode)->unlinked = true;
	MSNAP_I(inode)->released = true;
	unlock_new_inode(inode);
	iput(inode);
}

/*
 * Give the new @inode its first name, @dentry in @dir: its INODE, name
 * and (a symlink) SYMLINK entries, queued all or none, and its place in
 * the namespace.  The caller instantiates @dentry.
 */
static int msnap_name_new(struct inode *dir, struct inode *inode,
			  struct dentry *dentry)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	size_t mark = sbi->nslog_len;
	int err;

	msnap_set_name(mi, dir, &dentry->d_name);
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_INODE, inode);
	if (!err)
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, inode);
	if (!err && mi->symlink)
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_SYMLINK, inode);
	if (err) {
		sbi->nslog_len = mark;
		return err;
	}
	msnap_count_inode(sbi);
	msnap_mark_ckpt(inode);
	msnap_dir_changed(dir);
	mi->dentry = dentry;
	list_add_tail(&mi->live_entry, &sbi->live_list);
	return 0;
}

/*
 * A new inode of @mode (a symlink to @symlink) named @dentry in @dir:
 * its INODE, name and SYMLINK entries are queued, all or none.  Caller
 * holds commit_mutex and has made room (msnap_nslog_room()).
 */
static int msnap_make(msnap_idmap_t *idmap, struct inode *dir,
		      struct dentry *dentry, umode_t mode, dev_t rdev,
		      const char *symlink)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *inode;
	struct msnap_inode_info *mi;
	int err;

	if (!S_ISREG(mode)) {
		err = msnap_nslog_dirs(sbi);
		if (err)
			return err;
	}
	inode = msnap_new_inode(dir->i_sb, msnap_new_ino(sbi), mode);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	mi = MSNAP_I(inode);
	inode_init_owner(idmap, inode, dir, mode);
	inode_set_atime_to_ts(inode, inode_set_ctime_current(inode));
	inode_set_mtime_to_ts(inode, inode_get_ctime(inode));
	inode->i_rdev = rdev;
	if (symlink) {
		mi->symlink = kstrdup(symlink, GFP_KERNEL);
		if (!mi->symlink) {
			err = -ENOMEM;
			goto out_drop_inode;
		}
		inode->i_link = mi->symlink;
		mi->disk_size = strlen(symlink);
		i_size_write(inode, mi->disk_size);
	}
	/* S_ISGID of a directory may have changed the mode: set the ops. */
	msnap_set_ops(inode);
	err = msnap_name_new(dir, inode, dentry);
	if (err)
		goto out_drop_inode;
	if (S_ISDIR(mode))
		inc_nlink(dir);
	d_instantiate_new(dentry, inode);
	dget(dentry);	/* pinned, as in ramfs; see msnap_unpin_all() */
	return 0;

out_drop_inode:
	msnap_drop_new(inode);
	return err;
}

/* Create @dentry in @dir, from a namespace operation's entry point. */
static int msnap_make_locked(msnap_idmap_t *idmap, struct inode *dir,
			     struct dentry *dentry, umode_t mode, dev_t rdev,
			     const char *symlink)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	int err;

	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, true);
	if (!err)
		err = msnap_make(idmap, dir, dentry, mode, rdev, symlink);
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

static int msnap_create(msnap_idmap_t *idmap, struct inode *dir,
			struct dentry *dentry, umode_t mode, bool excl)
{
	return msnap_make_locked(idmap, dir, dentry, S_IFREG | mode, 0, NULL);
}

static int msnap_mkdir(msnap_idmap_t *idmap, struct inode *dir,
		       struct dentry *dentry, umode_t mode)
{
	return msnap_make_locked(idmap, dir, dentry, S_IFDIR | mode, 0, NULL);
}

static int msnap_mknod(msnap_idmap_t *idmap, struct inode *dir,
		       struct dentry *dentry, umode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode))
		return -EINVAL;
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return msnap_make_locked(idmap, dir, dentry, mode, rdev, NULL);
}

static int msnap_symlink(msnap_idmap_t *idmap, struct inode *dir,
			 struct dentry *dentry, const char *target)
{
	if (strlen(target) > MSNAP_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return msnap_make_locked(idmap, dir, dentry, S_IFLNK | 0777, 0, target);
}

/*
 * O_TMPFILE: a file without a name, in memory only (as a file unlinked
 * while open: nothing reaches the log) until linkat() names it.
 */
static int msnap_tmpfile(msnap_idmap_t *idmap, struct inode *dir,
			 struct file *file, umode_t mode)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *inode;

	mutex_lock(&sbi->commit_mutex);
	inode = msnap_new_inode(dir->i_sb, msnap_new_ino(sbi), S_IFREG | mode);
	if (IS_ERR(inode)) {
		mutex_unlock(&sbi->commit_mutex);
		return PTR_ERR(inode);
	}
	inode_init_owner(idmap, inode, dir, S_IFREG | mode);
	inode_set_atime_to_ts(inode, inode_set_ctime_current(inode));
	inode_set_mtime_to_ts(inode, inode_get_ctime(inode));
	MSNAP_I(inode)->unlinked = true;
	d_tmpfile(file, inode);
	unlock_new_inode(inode);
	mutex_unlock(&sbi->commit_mutex);
	return finish_open_simple(file, 0);
}

/*
 * linkat() of an O_TMPFILE file: it gets its first name, as a create
 * would give it (INODE and name entries), with the size and attributes
 * it has now; its data follows as any file's does.  commit_mutex held.
 */
static int msnap_link_tmpfile(struct dentry *old_dentry, struct inode *dir,
			      struct dentry *dentry)
{
	struct inode *inode = d_inode(old_dentry);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	int err;

	if (mi->inode_block || mi->released)
		return -ENOENT;	/* it had a name once: never again */
	/* Nothing of it is on disk: holes up to its size until persisted. */
	mi->disk_size = i_size_read(inode);
	err = msnap_name_new(dir, inode, dentry);
	if (err) {
		mi->disk_size = 0;
		return err;
	}
	mi->unlinked = false;
	return simple_link(old_dentry, dir, dentry);
}

/*
 * A second name for a file: a link inode, created by one LINK entry.
 * Its dentry is an alias of the file's inode (simple_link()).
 */
static int msnap_link(struct dentry *old_dentry, struct inode *dir,
		      struct dentry *dentry)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *inode = d_inode(old_dentry);
	struct msnap_inode_info *ml;
	struct inode *link;
	int err;

	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, true);
	if (err)
		goto out_unlock;
	/* The VFS lets only an O_TMPFILE file without a name through. */
	if (MSNAP_I(inode)->unlinked) {
		err = msnap_link_tmpfile(old_dentry, dir, dentry);
		goto out_unlock;
	}
	err = msnap_nslog_dirs(sbi);
	if (err)
		goto out_unlock;
	link = msnap_new_inode(dir->i_sb, msnap_new_ino(sbi), 0);
	if (IS_ERR(link)) {
		err = PTR_ERR(link);
		goto out_unlock;
	}
	ml = MSNAP_I(link);
	ml->flags = MSNAP_INODE_LINK;
	ml->link_target = inode->i_ino;
	msnap_set_name(ml, dir, &dentry->d_name);
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_LINK, link);
	if (err) {
		msnap_drop_new(link);
		goto out_unlock;
	}
	unlock_new_inode(link);
	msnap_count_inode(sbi);
	msnap_mark_ckpt(link);
	ml->dentry = dentry;
	list_add_tail(&ml->live_entry, &sbi->live_list);
	msnap_dir_changed(dir);
	err = simple_link(old_dentry, dir, dentry);
	dentry->d_fsdata = ml;
	msnap_mark_ckpt(inode);		/* its ctime */
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

/*
 * The name @dentry (in @dir) goes away; caller holds commit_mutex.  A
 * link inode's name is an UNLINK of it; the file's own name while links
 * remain moves one link's name into the file (its DIRENT, and the
 * UNLINK of that link inode, in one record); the last name deletes the
 * inode.  A link inode to iput once commit_mutex is dropped goes to
 * *@put.
 */
static int msnap_drop_name(struct inode *dir, struct dentry *dentry,
			   struct inode **put)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *inode = d_inode(dentry);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_inode_info *ml = dentry->d_fsdata;
	struct dentry *alias;
	size_t mark = sbi->nslog_len;
	int err;

	if (!ml && !S_ISDIR(inode->i_mode) && inode->i_nlink > 1) {
		spin_lock(&inode->i_lock);
		hlist_for_each_entry(alias, &inode->i_dentry, d_u.d_alias) {
			if (alias->d_fsdata) {
				ml = alias->d_fsdata;
				break;
			}
		}
		spin_unlock(&inode->i_lock);
		if (WARN_ON_ONCE(!ml))
			return -EUCLEAN;
		mi->parent = ml->parent;
		strscpy(mi->name, ml->name, sizeof(mi->name));
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, inode);
		if (err)
			return err;
		mi->dentry = ml->dentry;
		ml->dentry->d_fsdata = NULL;
		msnap_mark_ckpt(inode);
	} else if (!ml) {
		ml = mi;
	}
	/* Cannot fail: msnap_nslog_room() made room for the op's entries. */
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_UNLINK, &ml->vfs_inode);
	if (err) {
		sbi->nslog_len = mark;
		return err;
	}
	dentry->d_fsdata = NULL;
	/* The entry is queued: the name is gone whatever happens next. */
	if (msnap_inode_unlinked(&ml->vfs_inode))
		msnap_fs_error(dir->i_sb, -EUCLEAN, "releasing a deleted file");
	if (ml != mi)
		*put = &ml->vfs_inode;
	return 0;
}

/* unlink(2) and rmdir(2) (@rmdir) of @dentry in @dir. */
static int msnap_remove(struct inode *dir, struct dentry *dentry, bool rmdir)
{
	struct msnap_sb_info *sbi = MSNAP_SB(dir->i_sb);
	struct inode *put = NULL;
	int err;

	if (rmdir && !simple_empty(dentry))
		return -ENOTEMPTY;
	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, false);
	if (err)
		goto out_unlock;
	err = msnap_drop_name(dir, dentry, &put);
	if (err)
		goto out_unlock;
	msnap_dir_changed(dir);
	err = rmdir ? simple_rmdir(dir, dentry) : simple_unlink(dir, dentry);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	iput(put);
	return err;
}

static int msnap_unlink(struct inode *dir, struct dentry *dentry)
{
	return msnap_remove(dir, dentry, false);
}

static int msnap_rmdir(struct inode *dir, struct dentry *dentry)
{
	return msnap_remove(dir, dentry, true);
}

static int msnap_rename(msnap_idmap_t *idmap, struct inode *old_dir,
			struct dentry *old_dentry, struct inode *new_dir,
			struct dentry *new_dentry, unsigned int flags)
{
	struct msnap_sb_info *sbi = MSNAP_SB(old_dir->i_sb);
	struct inode *target = d_inode(new_dentry);
	struct msnap_inode_info *mi, *mt;
	struct inode *put = NULL;
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (!(flags & RENAME_EXCHANGE) && target && !simple_empty(new_dentry))
		return -ENOTEMPTY;
	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, true);
	if (err)
		goto out_unlock;
	/* Under commit_mutex: a promotion changes d_fsdata of aliases. */
	mi = msnap_name_of(old_dentry);
	if (flags & RENAME_EXCHANGE) {
		mt = msnap_name_of(new_dentry);
		msnap_set_name(mt, old_dir, &old_dentry->d_name);
		msnap_mark_ckpt(&mt->vfs_inode);
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, &mt->vfs_inode);
	} else if (target) {
		err = msnap_drop_name(new_dir, new_dentry, &put);
	}
	if (err)
		goto out_unlock;
	msnap_set_name(mi, new_dir, &new_dentry->d_name);
	msnap_mark_ckpt(&mi->vfs_inode);
	err = msnap_nslog_add(sbi, MSNAP_ENTRY_NAME, &mi->vfs_inode);
	if (err)
		goto out_unlock;
	msnap_dir_changed(old_dir);
	if (new_dir != old_dir)
		msnap_dir_changed(new_dir);
	err = simple_rename(idmap, old_dir, old_dentry, new_dir, new_dentry,
			    flags);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	iput(put);
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
	/*
	 * An unlinked file's attributes stay in memory (see above); the
	 * root's are logged with feature DIRS (format.md), else they wait
	 * for the next checkpoint.
	 */
	if (!MSNAP_I(inode)->unlinked &&
	    (inode->i_ino != MSNAP_ROOT_INO || msnap_has_dirs(sbi)))
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_INODE, inode);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

const struct inode_operations msnap_dir_inode_operations = {
	.create		= msnap_create,
	.lookup		= simple_lookup,
	.link		= msnap_link,
	.unlink		= msnap_unlink,
	.symlink	= msnap_symlink,
	.mkdir		= msnap_mkdir,
	.rmdir		= msnap_rmdir,
	.mknod		= msnap_mknod,
	.tmpfile	= msnap_tmpfile,
	.rename		= msnap_rename,
	.setattr	= msnap_setattr,
	.getattr	= simple_getattr,
};

const struct inode_operations msnap_file_inode_operations = {
	.setattr	= msnap_setattr,
	.getattr	= simple_getattr,
};

static const struct inode_operations msnap_symlink_inode_operations = {
	.get_link	= simple_get_link,
	.setattr	= msnap_setattr,
	.getattr	= simple_getattr,
};

static const struct inode_operations msnap_special_inode_operations = {
	.setattr	= msnap_setattr,
	.getattr	= simple_getattr,
};
