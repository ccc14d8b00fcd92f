// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: the namespace change log.
 *
 * Namespace operations (create, unlink, rename, setattr and truncate,
 * SET_ADDR) change the in-memory state under commit_mutex and queue the
 * log entries that describe the change here.  The queue goes first into
 * the next commit record, a persist's or its own (msnap_nslog_commit():
 * fsync of the directory, syncfs, and the periodic flush work at most
 * commit_secs later), so every operation is crash-atomic.  A checkpoint
 * includes the in-memory state and empties the queue.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>

#include "memsnap.h"

/* Copy @len bytes of @src to @dst; the entry's length, padded to 8. */
static size_t msnap_nslog_str(char *dst, const char *src, size_t len,
			      size_t head)
{
	memcpy(dst, src, len);
	return round_up(head + len, 8);
}

/*
 * Build one namespace entry describing @inode now into @buf (zeroed).
 * With feature DIRS a name is a DIRENT, with its directory.
 */
static size_t msnap_nslog_entry(enum msnap_entry_type type,
				struct inode *inode, void *buf)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_entry_hdr *hdr = buf;
	struct msnap_entry_truncate *t = buf;
	struct msnap_entry_symlink *sl = buf;
	struct msnap_entry_dirent *de = buf;
	struct msnap_entry_name *n = buf;
	struct msnap_entry_link *l = buf;
	size_t len, name_len = strlen(mi->name);

	if (type == MSNAP_ENTRY_NAME && msnap_has_dirs(MSNAP_SB(inode->i_sb)))
		type = MSNAP_ENTRY_DIRENT;
	switch (type) {
	case MSNAP_ENTRY_INODE:
		len = sizeof(struct msnap_entry_inode);
		msnap_entry_inode_fill(inode, buf);
		break;
	case MSNAP_ENTRY_NAME:
		n->name_len = cpu_to_le32(name_len);
		len = msnap_nslog_str(n->name, mi->name, name_len, sizeof(*n));
		break;
	case MSNAP_ENTRY_DIRENT:
		de->parent = cpu_to_le64(mi->parent);
		de->name_len = cpu_to_le32(name_len);
		len = msnap_nslog_str(de->name, mi->name, name_len,
				      sizeof(*de));
		break;
	case MSNAP_ENTRY_LINK:
		l->target = cpu_to_le64(mi->link_target);
		l->parent = cpu_to_le64(mi->parent);
		l->name_len = cpu_to_le32(name_len);
		len = msnap_nslog_str(l->name, mi->name, name_len, sizeof(*l));
		break;
	case MSNAP_ENTRY_SYMLINK:
		sl->len = cpu_to_le32(strlen(mi->symlink));
		len = msnap_nslog_str(sl->target, mi->symlink,
				      strlen(mi->symlink), sizeof(*sl));
		break;
	case MSNAP_ENTRY_TRUNCATE:
		len = sizeof(*t);
		t->first_index = cpu_to_le64(DIV_ROUND_UP(mi->disk_size,
							  PAGE_SIZE));
		t->size = cpu_to_le64(mi->disk_size);
		break;
	default:
		len = sizeof(struct msnap_entry_unlink);
		break;
	}
	hdr->type = cpu_to_le16(type);
	hdr->len = cpu_to_le16(len);
	hdr->ino = cpu_to_le64(inode->i_ino);
	return len;
}

/* The longest entry msnap_nslog_entry() builds, and a margin. */
#define MSNAP_NSLOG_NAME_MAX	(sizeof(struct msnap_entry_link) +	\
				 MSNAP_NAME_MAX + 8)
#define MSNAP_NSLOG_ENTRY_MAX						\
	max(MSNAP_NSLOG_NAME_MAX, sizeof(struct msnap_entry_symlink) +	\
	    MSNAP_SYMLINK_MAX + 8)
/* Entries one namespace operation queues at most (rename: 3). */
#define MSNAP_NSLOG_OP_ENTRIES		4

/*
 * Room for @need more bytes at the end of the namespace queue, zeroed
 * when @zero (an entry about to be built there).
 */
static int msnap_nslog_reserve(struct msnap_sb_info *sbi, size_t need,
			       bool zero)
{
	void *buf;

	if (sbi->nslog_len + need > sbi->nslog_cap) {
		buf = krealloc(sbi->nslog_buf, sbi->nslog_cap * 2 + 2 * need,
			       GFP_NOFS);
		if (!buf)
			return -ENOMEM;
		sbi->nslog_buf = buf;
		sbi->nslog_cap = sbi->nslog_cap * 2 + 2 * need;
	}
	if (zero)
		memset(sbi->nslog_buf + sbi->nslog_len, 0, need);
	return 0;
}

/*
 * Queue a namespace entry for @inode; it reaches the disk with the next
 * commit, at the latest commit_secs from now.  Caller holds commit_mutex
 * and has already changed the in-memory state.
 */
int msnap_nslog_add(struct msnap_sb_info *sbi, enum msnap_entry_type type,
		    struct inode *inode)
{
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	/* Only a SYMLINK entry can be longer than a name's. */
	err = msnap_nslog_reserve(sbi, type == MSNAP_ENTRY_SYMLINK ?
				  MSNAP_NSLOG_ENTRY_MAX : MSNAP_NSLOG_NAME_MAX,
				  true);
	if (err)
		return err;
	sbi->nslog_len += msnap_nslog_entry(type, inode, sbi->nslog_buf + sbi->nslog_len);
	if (!delayed_work_pending(&sbi->flush_work))
		queue_delayed_work(system_long_wq, &sbi->flush_work,
				   sbi->commit_secs * HZ);
	return 0;
}

/* Queue a DATA entry for a block already written durably. */
int msnap_nslog_add_data(struct msnap_sb_info *sbi, u64 ino, pgoff_t index,
			 u64 block, u32 crc)
{
	struct msnap_entry_data *d;
	size_t need = sizeof(*d);
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	err = msnap_nslog_reserve(sbi, need, true);
	if (err)
		return err;
	d = sbi->nslog_buf + sbi->nslog_len;
	d->hdr.type = cpu_to_le16(MSNAP_ENTRY_DATA);
	d->hdr.len = cpu_to_le16(need);
	d->hdr.ino = cpu_to_le64(ino);
	d->index = cpu_to_le64(index);
	d->block = cpu_to_le64(block);
	d->data_crc = cpu_to_le32(crc);
	sbi->nslog_len += need;
	return 0;
}

/*
 * Called once at the start of a namespace operation, commit_mutex held:
 * if the queue holds half a record already, commit it, so that the
 * operation's entries (at most a few) land in one record and stay
 * atomic; the queue's memory for its entries, so that queueing them
 * cannot fail half way; then room for what it may add to the next
 * checkpoint (beyond the reserve unless it deletes: !@reserve).
 */
int msnap_nslog_room(struct msnap_sb_info *sbi, bool reserve)
{
	size_t max = (sbi->log_blocks / MSNAP_RECORD_MAX_DIV) *
		     MSNAP_LOG_PAYLOAD / 2;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	if (sbi->error)
		return -EIO;
	if (sbi->nslog_len >= max) {
		err = msnap_nslog_commit(sbi->sb);
		if (err)
			return err;
	}
	err = msnap_nslog_reserve(sbi, MSNAP_NSLOG_OP_ENTRIES *
				  MSNAP_NSLOG_ENTRY_MAX, false);
	if (err)
		return err;
	return msnap_meta_room(sbi->sb, MSNAP_META_OP, reserve);
}

/* Move the queued namespace entries into @rec, first. */
int msnap_nslog_drain(struct msnap_sb_info *sbi, struct msnap_record *rec)
{
	struct msnap_entry_hdr *hdr;
	size_t off, len;
	void *e;

	lockdep_assert_held(&sbi->commit_mutex);
	for (off = 0; off < sbi->nslog_len; off += len) {
		hdr = sbi->nslog_buf + off;
		len = le16_to_cpu(hdr->len);
		e = msnap_record_add(rec, le16_to_cpu(hdr->type),
				     le64_to_cpu(hdr->ino), len);
		if (IS_ERR(e))
			return PTR_ERR(e);
		memcpy(e, hdr, len);
	}
	return 0;
}

/* Commit the queued namespace entries on their own. */
int msnap_nslog_commit(struct super_block *sb)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	struct msnap_commit *c;
	u64 seq;
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	if (!sbi->nslog_len)
		return 0;
	if (sbi->error)
		return -EIO;
	c = msnap_commit_alloc(sbi);
	if (!c)
		return -ENOMEM;
	err = msnap_nslog_drain(sbi, &c->rec);
	if (err)
		goto out_free_commit;
	err = msnap_log_make_room(sb, msnap_record_blocks(&c->rec));
	/* A checkpoint includes the queued entries and empties the queue. */
	if (err || !sbi->nslog_len)
		goto out_free_commit;
	seq = sbi->next_seq;
	msnap_commit_submit(sb, c);
	sbi->nslog_len = 0;
	return msnap_commit_wait(sbi, seq, false);

out_free_commit:
	msnap_commit_free(c);
	return err;
}

/*
 * Before the first entry that needs feature DIRS (mkdir, link, symlink,
 * mknod) on an image without it: a checkpoint whose superblock carries
 * the feature, so that no DIRS entry can ever be in the log of an image
 * that does not say it has them.  Caller holds commit_mutex.
 */
int msnap_nslog_dirs(struct msnap_sb_info *sbi)
{
	int err;

	lockdep_assert_held(&sbi->commit_mutex);
	if (msnap_has_dirs(sbi))
		return 0;
	sbi->incompat |= MSNAP_FEATURE_INCOMPAT_DIRS;
	err = msnap_checkpoint(sbi->sb);
	if (err) {
		sbi->incompat &= ~MSNAP_FEATURE_INCOMPAT_DIRS;
		return err;
	}
	msnap_info(sbi->sb, "feature DIRS enabled: directories, links, symlinks and special files");
	return 0;
}
