// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: the filesystem type, mounting, reading the superblock (the
 * newer valid one of two), recording an error in it, statfs, sync and
 * module entry points.  The top layer: it calls every other one, and
 * nothing calls it but the VFS.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/backing-dev.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>

#include "memsnap.h"

/*
 * Record the error in the superblock: the newest durable superblock
 * again, with MSNAP_SB_ERROR, the errno and the time, and the next
 * generation, over the other slot.  It names the same checkpoint
 * (bitmap copy included), so a torn write leaves the newest one in
 * charge and a complete one describes the same state.  The in-memory
 * checkpoint fields cannot be used: a failed checkpoint may have
 * changed them without making them durable.
 */
static int msnap_write_error_super(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	int slot = 1 - sbi->sb_slot, code = abs(READ_ONCE(sbi->error));
	time64_t now = READ_ONCE(sbi->error_time_now);
	struct buffer_head *bh;
	struct msnap_super *ds;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	bh = msnap_bh_new(sb, slot);
	if (!bh)
		return -ENOMEM;
	ds = (void *)bh->b_data;
	memcpy(ds, &sbi->disk_super, sizeof(*ds));
	ds->state = cpu_to_le32(le32_to_cpu(ds->state) | MSNAP_SB_ERROR);
	ds->error_code = cpu_to_le32(code);
	ds->error_time = cpu_to_le64(now);
	ds->generation = cpu_to_le64(sbi->generation + 1);
	err = msnap_super_put(sbi, bh, slot);
	if (err)
		return err;
	sbi->sb_state |= MSNAP_SB_ERROR;
	sbi->error_code = code;
	sbi->error_time = now;
	return 0;
}

void msnap_error_work(struct work_struct *work)
{
	struct msnap_sb_info *sbi = container_of(work, struct msnap_sb_info,
						 error_work);
	struct super_block *sb = sbi->sb;
	int err = 0;

	mutex_lock(&sbi->commit_mutex);
	/* The first error of this mount is the one to record. */
	if (!sbi->error_recorded) {
		sbi->error_recorded = true;
		err = msnap_write_error_super(sb);
	}
	mutex_unlock(&sbi->commit_mutex);
	if (err)
		msnap_err(sb, "could not record the error in the superblock (%d)",
			  err);
	else
		msnap_warn(sb, "error recorded in the superblock");
}

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
	sbi->incompat = le64_to_cpu(ds->incompat);
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
		goto out_free;
	}
	why[0] = msnap_read_one_super(sb, MSNAP_SB_BLOCK_A, ds[0]);
	why[1] = msnap_read_one_super(sb, MSNAP_SB_BLOCK_B, ds[1]);
	if (why[0] && why[1]) {
		msnap_err(sb, "no valid superblock (A: %s; B: %s)", why[0],
			  why[1]);
		err = -EINVAL;
		goto out_free;
	}
	slot = why[0] ? 0 : 1;		/* the invalid one, if any */
	if (why[slot] && !msnap_super_torn(ds[slot], why[slot]) &&
	    le64_to_cpu(ds[slot]->generation) >
	    le64_to_cpu(ds[1 - slot]->generation)) {
		msnap_err(sb, "superblock %c, the newer: %s (not falling back to the older checkpoint; run fsck.memsnap)",
			  'A' + slot, why[slot]);
		err = -EINVAL;
		goto out_free;
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
out_free:
	kfree(ds[0]);
	kfree(ds[1]);
	return err;
}

static int msnap_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	u64 free = msnap_free_blocks(sbi);
	/* What the next checkpoint may need is not available either. */
	u64 keep = msnap_reserved_blocks(sbi) + msnap_meta_need(sbi);
	u64 id[2];

	buf->f_type = MEMSNAP_SUPER_MAGIC;
	buf->f_bsize = MSNAP_BLOCK_SIZE;
	buf->f_frsize = MSNAP_BLOCK_SIZE;
	buf->f_blocks = sbi->alloc.nbits;
	buf->f_bfree = free;
	buf->f_bavail = free > keep ? free - keep : 0;
	buf->f_files = sbi->inodes + buf->f_bavail;
	buf->f_ffree = buf->f_bavail;
	buf->f_namelen = MSNAP_NAME_MAX;
	memcpy(id, sbi->uuid, sizeof(id));
	buf->f_fsid = u64_to_fsid(id[0] ^ id[1]);
	return 0;
}

/*
 * syncfs(2), sync(2) and unmount: the file API's data with the namespace
 * entries (one commit), then a checkpoint.  Region memory stays as it is.
 */
static int msnap_sync_fs(struct super_block *sb, int wait)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	int data_err, err;

	if (!wait || sb_rdonly(sb) || !sbi->mounted)
		return 0;
	/* A failure to persist the data still commits the namespace. */
	data_err = msnap_persist_file_data(sb);
	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_commit(sb);
	if (err)
		goto out_drain;
	err = msnap_checkpoint(sb);
	if (err)
		goto out_drain;
	mutex_unlock(&sbi->commit_mutex);
	return data_err;

out_drain:
	/* Whatever failed (ENOMEM in the commit), leave nothing in flight. */
	msnap_commit_drain(sbi);
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

/*
 * Periodic work: the file API's data and the namespace entries due, and a
 * checkpoint when the log is filling up.
 */
static void msnap_flush_work(struct work_struct *work)
{
	struct msnap_sb_info *sbi = container_of(to_delayed_work(work),
						 struct msnap_sb_info,
						 flush_work);
	int err;

	if (!sbi->error)
		msnap_persist_file_data(sbi->sb);
	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_commit(sbi->sb);
	if (err || sbi->error)
		goto out_unlock;
	if (sbi->log_used * 4 > sbi->log_blocks * MSNAP_LOG_HIGH_QUARTERS)
		msnap_checkpoint(sbi->sb);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
}

static void msnap_put_super(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);

	cancel_delayed_work_sync(&sbi->flush_work);
	/* Record an error while the device is still ours; none after. */
	spin_lock_irq(&sbi->error_lock);
	sbi->error_closed = true;
	spin_unlock_irq(&sbi->error_lock);
	flush_work(&sbi->error_work);
	/* Leave other openers of the device no blocks bios bypassed. */
	invalidate_bdev(sb->s_bdev);
}

static int msnap_show_options(struct seq_file *m, struct dentry *root)
{
	struct msnap_sb_info *sbi = MSNAP_SB(root->d_sb);

	if (sbi->commit_secs != MSNAP_DEFAULT_COMMIT_SECS)
		seq_printf(m, ",commit=%u", sbi->commit_secs);
	if (sbi->filedata_fsync)
		seq_puts(m, ",filedata=fsync");
	return 0;
}

static const struct super_operations msnap_super_ops = {
	.alloc_inode	= msnap_alloc_inode,
	.free_inode	= msnap_free_inode,
	.evict_inode	= msnap_evict_inode,
	.put_super	= msnap_put_super,
	.sync_fs	= msnap_sync_fs,
	.statfs		= msnap_statfs,
	.show_options	= msnap_show_options,
};

/* Mount options. */
enum { MSNAP_OPT_COMMIT, MSNAP_OPT_FILEDATA };
enum { MSNAP_FILEDATA_COMMIT, MSNAP_FILEDATA_FSYNC };

static const struct constant_table msnap_filedata_modes[] = {
	{ "commit",	MSNAP_FILEDATA_COMMIT },
	{ "fsync",	MSNAP_FILEDATA_FSYNC },
	{}
};

static const struct fs_parameter_spec msnap_fs_parameters[] = {
	fsparam_u32("commit", MSNAP_OPT_COMMIT),
	fsparam_enum("filedata", MSNAP_OPT_FILEDATA, msnap_filedata_modes),
	{}
};

struct msnap_fs_context {
	unsigned int	commit_secs;
	bool		filedata_fsync;
	bool		filedata_set;	/* filedata= was given */
};

static int msnap_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct msnap_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	int opt;

	opt = fs_parse(fc, msnap_fs_parameters, param, &result);
	if (opt < 0)
		return opt;
	switch (opt) {
	case MSNAP_OPT_COMMIT:
		if (result.uint_32 < 1 || result.uint_32 > 3600)
			return invalfc(fc, "commit must be 1..3600 seconds");
		ctx->commit_secs = result.uint_32;
		break;
	case MSNAP_OPT_FILEDATA:
		ctx->filedata_fsync = result.uint_32 == MSNAP_FILEDATA_FSYNC;
		ctx->filedata_set = true;
		break;
	}
	return 0;
}

static struct msnap_sb_info *msnap_sbi_alloc(struct super_block *sb)
{
	struct msnap_sb_info *sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);

	if (!sbi)
		return NULL;
	sbi->sb = sb;
	mutex_init(&sbi->commit_mutex);
	init_rwsem(&sbi->snap_lock);
	spin_lock_init(&sbi->ino_lock);
	xa_init(&sbi->ino_changes);
	INIT_LIST_HEAD(&sbi->ckpt_list);
	INIT_LIST_HEAD(&sbi->live_list);
	INIT_DELAYED_WORK(&sbi->flush_work, msnap_flush_work);
	spin_lock_init(&sbi->inflight_lock);
	INIT_LIST_HEAD(&sbi->inflight);
	INIT_LIST_HEAD(&sbi->finished);
	spin_lock_init(&sbi->pool_lock);
	INIT_LIST_HEAD(&sbi->pool);
	INIT_WORK(&sbi->reap_work, msnap_reap_work);
	init_waitqueue_head(&sbi->durable_wq);
	INIT_WORK(&sbi->error_work, msnap_error_work);
	spin_lock_init(&sbi->error_lock);
	return sbi;
}

static int msnap_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct msnap_fs_context *ctx = fc->fs_private;
	struct msnap_sb_info *sbi;
	int err;

	sbi = msnap_sbi_alloc(sb);
	if (!sbi)
		return -ENOMEM;
	sb->s_fs_info = sbi;
	sbi->commit_secs = ctx->commit_secs;
	sbi->filedata_fsync = ctx->filedata_fsync;
	sbi->wq = alloc_workqueue("memsnap-%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0,
				  sb->s_id);
	if (!sbi->wq)
		return -ENOMEM;
	if (!sb_set_blocksize(sb, MSNAP_BLOCK_SIZE)) {
		msnap_err(sb, "device does not support 4 KiB blocks");
		return -EINVAL;
	}
	sb->s_magic = MEMSNAP_SUPER_MAGIC;
	sb->s_op = &msnap_super_ops;
	sb->s_maxbytes = MSNAP_MAX_FILE_SIZE;
	sb->s_time_gran = 1;
	/*
	 * Region pages are never written back: give the filesystem its own
	 * bdi without writeback capability instead of the device's.
	 */
	bdi_put(sb->s_bdi);
	sb->s_bdi = &noop_backing_dev_info;
	err = super_setup_bdi(sb);
	if (err)
		return err;
	sb->s_bdi->capabilities = 0;
	/*
	 * Log and data blocks are written with bios that bypass the block
	 * device's page cache, and recovery reads them through it: drop
	 * what another opener of the device kept cached since the last
	 * mount, or replay could see blocks older than the disk's.
	 */
	invalidate_bdev(sb->s_bdev);
	err = msnap_read_super(sb);
	if (err)
		return err;
	msnap_set_uuid(sb, sbi->uuid);
	err = msnap_load(sb);
	if (err)
		return err;
	/*
	 * Fold what was replayed into a checkpoint under a new log nonce
	 * now, before any commit can land next to a record the crash left.
	 */
	mutex_lock(&sbi->commit_mutex);
	err = msnap_checkpoint(sb);
	mutex_unlock(&sbi->commit_mutex);
	if (err)
		return err;
	msnap_stats_register(sb);
	sbi->mounted = true;
	return 0;
}

static int msnap_get_tree(struct fs_context *fc)
{
	return get_tree_bdev(fc, msnap_fill_super);
}

static int msnap_reconfigure(struct fs_context *fc)
{
	struct super_block *sb = fc->root->d_sb;
	struct msnap_fs_context *ctx = fc->fs_private;

	/* Pages written under one rule are not re-marked under the other. */
	if (ctx->filedata_set &&
	    ctx->filedata_fsync != MSNAP_SB(sb)->filedata_fsync)
		return invalfc(fc, "filedata cannot change on remount");
	sync_filesystem(sb);
	MSNAP_SB(sb)->commit_secs = ctx->commit_secs;
	return 0;
}

static void msnap_free_fc(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations msnap_context_ops = {
	.parse_param	= msnap_parse_param,
	.get_tree	= msnap_get_tree,
	.reconfigure	= msnap_reconfigure,
	.free		= msnap_free_fc,
};

static int msnap_init_fs_context(struct fs_context *fc)
{
	struct msnap_fs_context *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	ctx->commit_secs = MSNAP_DEFAULT_COMMIT_SECS;
	fc->fs_private = ctx;
	fc->ops = &msnap_context_ops;
	return 0;
}

static void msnap_kill_sb(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);

	if (sbi && sbi->mounted)
		msnap_sync_fs(sb, 1);
	if (sb->s_root)
		msnap_unpin_all(sb);
	kill_block_super(sb);
	if (sbi) {
		msnap_stats_unregister(sbi);
		cancel_delayed_work_sync(&sbi->flush_work);
		/*
		 * sync_fs drained the commits, but a failed msnap_nslog_commit() (in
		 * the flush work too) can return while its commit is in
		 * flight: no completion may run once sbi is freed.
		 */
		if (sbi->wq) {
			msnap_commit_drain(sbi);
			destroy_workqueue(sbi->wq);
		}
		msnap_bounce_pool_drain(sbi);
		msnap_alloc_destroy(sbi);
		xa_destroy(&sbi->ino_changes);
		kfree(sbi->nslog_buf);
		kfree(sbi);
	}
}

struct file_system_type memsnap_fs_type = {
	.owner			= THIS_MODULE,
	.name			= MEMSNAP_FS_NAME,
	.init_fs_context	= msnap_init_fs_context,
	.parameters		= msnap_fs_parameters,
	.kill_sb		= msnap_kill_sb,
	.fs_flags		= FS_REQUIRES_DEV,
};
MODULE_ALIAS_FS(MEMSNAP_FS_NAME);

static int __init memsnap_init(void)
{
	int err = msnap_crc_init();

	if (err)
		return err;
	err = msnap_init_inode_cache();
	if (err)
		return err;
	msnap_debugfs_init();
	err = register_filesystem(&memsnap_fs_type);
	if (err) {
		msnap_debugfs_exit();
		msnap_destroy_inode_cache();
	}
	return err;
}

static void __exit memsnap_exit(void)
{
	unregister_filesystem(&memsnap_fs_type);
	msnap_debugfs_exit();
	msnap_destroy_inode_cache();
}

module_init(memsnap_init);
module_exit(memsnap_exit);

MODULE_DESCRIPTION("memsnap: atomic persistence of memory-mapped regions");
MODULE_AUTHOR("The memsnap developers");
MODULE_LICENSE("GPL");
