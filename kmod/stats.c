// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: per-filesystem persist counters in debugfs, for benchmarks
 * (perf does not work under TCG):
 *
 *   /sys/kernel/debug/memsnap/<device>/stats
 *
 * Each line is "name value"; docs/performance.md lists them.  Times are
 * cumulative nanoseconds per phase of a persist (waiting for
 * commit_mutex, the snapshot under snap_lock and its write-protect and
 * copy parts, the CRC32Cs after it, building and submitting the commit,
 * submission to
 * durability and to the end of the data and of the record writes), each
 * with the largest single value as <name>_max_ns.  Writing anything to
 * the file sets every counter back to zero (not durable_epoch).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "memsnap.h"

static struct dentry *msnap_debugfs_root;

static const char * const msnap_stat_names[MSNAP_ST_NR] = {
	[MSNAP_ST_PERSISTS]		= "persists",
	[MSNAP_ST_PAGES]		= "pages",
	[MSNAP_ST_COMMITS]		= "commits",
	[MSNAP_ST_LOCK_NS]		= "lock_wait_ns",
	[MSNAP_ST_LOCK_MAX]		= "lock_wait_max_ns",
	[MSNAP_ST_SNAP_NS]		= "snapshot_ns",
	[MSNAP_ST_SNAP_MAX]		= "snapshot_max_ns",
	[MSNAP_ST_WP_NS]		= "snapshot_wp_ns",
	[MSNAP_ST_WP_MAX]		= "snapshot_wp_max_ns",
	[MSNAP_ST_COPY_NS]		= "snapshot_copy_ns",
	[MSNAP_ST_COPY_MAX]		= "snapshot_copy_max_ns",
	[MSNAP_ST_CRC_NS]		= "snapshot_crc_ns",
	[MSNAP_ST_CRC_MAX]		= "snapshot_crc_max_ns",
	[MSNAP_ST_SUBMIT_NS]		= "submit_ns",
	[MSNAP_ST_SUBMIT_MAX]		= "submit_max_ns",
	[MSNAP_ST_IO_NS]		= "io_ns",
	[MSNAP_ST_IO_MAX]		= "io_max_ns",
	[MSNAP_ST_IO_DATA_NS]		= "io_data_ns",
	[MSNAP_ST_IO_DATA_MAX]		= "io_data_max_ns",
	[MSNAP_ST_IO_REC_NS]		= "io_record_ns",
	[MSNAP_ST_IO_REC_MAX]		= "io_record_max_ns",
	[MSNAP_ST_DATA_BIOS]		= "data_bios",
	[MSNAP_ST_REC_BLOCKS]		= "record_blocks",
	[MSNAP_ST_CKPTS]		= "checkpoints",
	[MSNAP_ST_CKPT_NS]		= "checkpoint_ns",
	[MSNAP_ST_CKPT_MAX]		= "checkpoint_max_ns",
	[MSNAP_ST_FAULT_WAITS]		= "fault_waits",
	[MSNAP_ST_FAULT_WAIT_NS]	= "fault_wait_ns",
	[MSNAP_ST_FAULT_WAIT_MAX]	= "fault_wait_max_ns",
};

void msnap_stats_inc(struct msnap_stats *st, enum msnap_stat i, u64 n)
{
	atomic64_add(n, &st->v[i]);
}

/* Add @ns to timed phase @i and raise its maximum (the next counter). */
void msnap_stats_time(struct msnap_stats *st, enum msnap_stat i, u64 ns)
{
	atomic64_t *max = &st->v[i + 1];
	s64 old = atomic64_read(max);

	atomic64_add(ns, &st->v[i]);
	while (old < (s64)ns && !atomic64_try_cmpxchg(max, &old, ns))
		;
}

void msnap_stats_since(struct msnap_stats *st, enum msnap_stat i, u64 t0)
{
	msnap_stats_time(st, i, ktime_get_ns() - t0);
}

static int msnap_stats_show(struct seq_file *m, void *v)
{
	struct msnap_sb_info *sbi = m->private;
	unsigned int i;

	for (i = 0; i < MSNAP_ST_NR; i++)
		seq_printf(m, "%s %lld\n", msnap_stat_names[i],
			   atomic64_read(&sbi->stats.v[i]));
	seq_printf(m, "durable_epoch %llu\n", READ_ONCE(sbi->durable_seq));
	return 0;
}

static int msnap_stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, msnap_stats_show, inode->i_private);
}

/* Any write resets the counters, e.g. between benchmark cells. */
static ssize_t msnap_stats_write(struct file *file, const char __user *buf,
				 size_t len, loff_t *ppos)
{
	struct seq_file *m = file->private_data;
	struct msnap_sb_info *sbi = m->private;
	unsigned int i;

	for (i = 0; i < MSNAP_ST_NR; i++)
		atomic64_set(&sbi->stats.v[i], 0);
	return len;
}

static const struct file_operations msnap_stats_fops = {
	.owner		= THIS_MODULE,
	.open		= msnap_stats_open,
	.read		= seq_read,
	.write		= msnap_stats_write,
	.llseek		= seq_lseek,
	.release	= single_release,
};

void msnap_stats_register(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);

	if (IS_ERR_OR_NULL(msnap_debugfs_root))
		return;
	sbi->debugfs = debugfs_create_dir(sb->s_id, msnap_debugfs_root);
	debugfs_create_file("stats", 0644, sbi->debugfs, sbi,
			    &msnap_stats_fops);
}

void msnap_stats_unregister(struct msnap_sb_info *sbi)
{
	debugfs_remove(sbi->debugfs);
	sbi->debugfs = NULL;
}

void msnap_debugfs_init(void)
{
	msnap_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

void msnap_debugfs_exit(void)
{
	debugfs_remove(msnap_debugfs_root);
}
