// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: per-filesystem persist counters in debugfs, for benchmarks
 * (perf does not work under TCG):
 *
 *   /sys/kernel/debug/memsnap/<device>/stats
 *
 * Each line is "name value"; times are cumulative nanoseconds per phase
 * of a persist: waiting for commit_mutex, the snapshot under snap_lock,
 * building and submitting the commit, and from submission to durability.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "memsnap.h"

static struct dentry *msnap_debugfs_root;

void msnap_stats_add(atomic64_t *counter, u64 since_ns)
{
	atomic64_add(ktime_get_ns() - since_ns, counter);
}

static int msnap_stats_show(struct seq_file *m, void *v)
{
	struct msnap_sb_info *sbi = m->private;
	struct msnap_stats *st = &sbi->stats;

	seq_printf(m, "persists %lld\n", atomic64_read(&st->persists));
	seq_printf(m, "pages %lld\n", atomic64_read(&st->pages));
	seq_printf(m, "lock_wait_ns %lld\n", atomic64_read(&st->lock_ns));
	seq_printf(m, "snapshot_ns %lld\n", atomic64_read(&st->snap_ns));
	seq_printf(m, "submit_ns %lld\n", atomic64_read(&st->submit_ns));
	seq_printf(m, "io_ns %lld\n", atomic64_read(&st->io_ns));
	seq_printf(m, "checkpoints %lld\n", atomic64_read(&st->checkpoints));
	seq_printf(m, "checkpoint_ns %lld\n",
		   atomic64_read(&st->checkpoint_ns));
	seq_printf(m, "durable_epoch %llu\n", READ_ONCE(sbi->durable_seq));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(msnap_stats);

void msnap_stats_register(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);

	if (IS_ERR_OR_NULL(msnap_debugfs_root))
		return;
	sbi->debugfs = debugfs_create_dir(sb->s_id, msnap_debugfs_root);
	debugfs_create_file("stats", 0444, sbi->debugfs, sbi,
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
