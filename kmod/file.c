// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: file operations, page cache and mappings.
 *
 * Region pages live in the page cache.  They are never written back by
 * the kernel (dirty_folio is noop_dirty_folio and the filesystem's bdi
 * has no writeback capability), so a dirty page reaches the disk only in
 * a persist, and is not counted as writeback-dirty (docs/design.md,
 * "Never written back").  Every page written since the last persist is
 * recorded in the inode's dirty set by page_mkwrite (mappings) or
 * write_end (write(2)); a persist costs O(that set).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/writeback.h>

#include "memsnap.h"

/*
 * Record that @index was written after the last persist, by whom, and
 * whether through the file API (@file: write(2), a truncate's zeroed
 * tail).  That mark stays until the page is persisted, whatever writes
 * it next: a page written through write(2) is file data, which syncfs,
 * unmount and the commit= interval persist; one only stored to through
 * a mapping is region memory, persisted only when asked
 * (docs/design.md, "File data and region memory").  The caller holds the
 * folio lock, which orders the updates of one index.
 */
void msnap_track_dirty(struct inode *inode, pgoff_t index, bool file)
{
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);

	/* Storing over an entry keeps its marks; erasing it clears them. */
	xa_store(&mi->dirty, index, xa_mk_value(task_pid_nr(current)),
		 GFP_NOFS | __GFP_NOFAIL);
	if (!file || sbi->filedata_fsync)
		return;
	xa_set_mark(&mi->dirty, index, MSNAP_DIRTY_FILE);
	if (!delayed_work_pending(&sbi->flush_work))
		queue_delayed_work(system_long_wq, &sbi->flush_work,
				   sbi->commit_secs * HZ);
}

static void msnap_read_end(struct bio *bio)
{
	struct folio *folio = page_folio(bio_first_page_all(bio));

	if (!bio->bi_status)
		folio_mark_uptodate(folio);
	folio_unlock(folio);
	bio_put(bio);
}

/* Read the persisted contents of a locked folio; holes read as zeroes. */
static int msnap_read_folio(struct file *file, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	struct bio *bio;
	u64 block;
	int err;

	err = msnap_map_lookup(inode, folio->index, &block);
	if (err) {
		folio_unlock(folio);
		return err;
	}
	if (!block) {
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
		folio_unlock(folio);
		return 0;
	}
	bio = bio_alloc(inode->i_sb->s_bdev, 1, REQ_OP_READ, GFP_NOFS);
	bio->bi_iter.bi_sector = msnap_sector(block);
	bio->bi_end_io = msnap_read_end;
	msnap_bio_add_folio(bio, folio);
	submit_bio(bio);
	return 0;
}

/* Make a locked folio up to date, waiting for the read. */
static int msnap_fill_folio(struct inode *inode, struct folio *folio)
{
	int err;

	if (folio_test_uptodate(folio))
		return 0;
	err = msnap_read_folio(NULL, folio);
	folio_lock(folio);
	if (err)
		return err;
	return folio_test_uptodate(folio) ? 0 : -EIO;
}

/*
 * Zero a partial last page from @from on and mark it dirty, so that a
 * file that shrinks or grows never shows stale bytes past its old end.
 */
int msnap_zero_tail(struct inode *inode, loff_t from)
{
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	size_t off = offset_in_page(from);
	struct folio *folio;
	int err;

	if (!off)
		return 0;
	down_read(&sbi->snap_lock);
	folio = msnap_get_folio(inode->i_mapping, from >> PAGE_SHIFT,
				FGP_LOCK | FGP_CREAT, GFP_NOFS);
	if (IS_ERR(folio)) {
		up_read(&sbi->snap_lock);
		return PTR_ERR(folio);
	}
	err = msnap_fill_folio(inode, folio);
	if (err)
		goto out_put_folio;
	folio_zero_range(folio, off, folio_size(folio) - off);
	folio_mark_dirty(folio);
	msnap_track_dirty(inode, folio->index, true);
out_put_folio:
	folio_unlock(folio);
	folio_put(folio);
	up_read(&sbi->snap_lock);
	return err;
}

/* Holds snap_lock shared until write_end, so a snapshot never splits it. */
static int msnap_write_begin(struct file *file, struct address_space *mapping,
			     loff_t pos, unsigned int len, MSNAP_WB_ARG,
			     void **fsdata)
{
	struct inode *inode = mapping->host;
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct folio *folio;
	int err;

	down_read(&sbi->snap_lock);
	folio = msnap_get_folio(mapping, pos >> PAGE_SHIFT,
				FGP_LOCK | FGP_WRITE | FGP_CREAT,
				mapping_gfp_mask(mapping));
	if (IS_ERR(folio)) {
		up_read(&sbi->snap_lock);
		return PTR_ERR(folio);
	}
	if (len != PAGE_SIZE) {
		err = msnap_fill_folio(inode, folio);
		if (err) {
			folio_unlock(folio);
			folio_put(folio);
			up_read(&sbi->snap_lock);
			return err;
		}
	}
	msnap_wb_return(folio);
	return 0;
}

static int msnap_write_end(struct file *file, struct address_space *mapping,
			   loff_t pos, unsigned int len, unsigned int copied,
			   MSNAP_WE_ARG, void *fsdata)
{
	struct folio *folio = msnap_we_folio();
	struct inode *inode = mapping->host;

	if (!folio_test_uptodate(folio)) {
		/* Only a whole-page write skips the read in write_begin. */
		if (copied < len)
			copied = 0;
		else
			folio_mark_uptodate(folio);
	}
	if (copied) {
		if (pos + copied > i_size_read(inode))
			i_size_write(inode, pos + copied);
		folio_mark_dirty(folio);
		msnap_track_dirty(inode, folio->index, true);
	}
	folio_unlock(folio);
	folio_put(folio);
	up_read(&MSNAP_SB(inode->i_sb)->snap_lock);
	return copied;
}

/*
 * First write to a clean page of a mapping: record it in the dirty set.
 * Modelled on filemap_page_mkwrite(); snap_lock orders the write after a
 * persist's snapshot.
 */
static vm_fault_t msnap_page_mkwrite(struct vm_fault *vmf)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct folio *folio = page_folio(vmf->page);
	vm_fault_t ret = VM_FAULT_LOCKED;
	u64 t0;

	sb_start_pagefault(inode->i_sb);
	file_update_time(vmf->vma->vm_file);
	if (!down_read_trylock(&sbi->snap_lock)) {
		/* A snapshot holds it (or waits for it): count the wait. */
		t0 = ktime_get_ns();
		down_read(&sbi->snap_lock);
		msnap_stats_inc(&sbi->stats, MSNAP_ST_FAULT_WAITS, 1);
		msnap_stats_since(&sbi->stats, MSNAP_ST_FAULT_WAIT_NS, t0);
	}
	folio_lock(folio);
	if (folio->mapping != inode->i_mapping ||
	    folio_pos(folio) >= i_size_read(inode)) {
		folio_unlock(folio);
		ret = VM_FAULT_NOPAGE;
		goto out_unlock;
	}
	folio_mark_dirty(folio);
	msnap_track_dirty(inode, folio->index, false);
	folio_wait_stable(folio);
out_unlock:
	up_read(&sbi->snap_lock);
	sb_end_pagefault(inode->i_sb);
	return ret;
}

const struct vm_operations_struct msnap_vm_ops = {
	.fault		= filemap_fault,
	.map_pages	= filemap_map_pages,
	.page_mkwrite	= msnap_page_mkwrite,
};

static int msnap_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	file_accessed(file);
	vma->vm_ops = &msnap_vm_ops;
	return 0;
}

/*
 * poll/epoll on a directory: readable once every commit issued on the
 * filesystem so far is durable, so an event loop can wait for its
 * MSNAP_ASYNC persists.  Not on a regular file: io_uring takes a file
 * with ->poll for one whose readiness poll reports, and would wait for
 * this event (or, for a write, for POLLOUT) before every buffered IO.
 */
static __poll_t msnap_dir_poll(struct file *file, poll_table *wait)
{
	struct msnap_sb_info *sbi = MSNAP_SB(file_inode(file)->i_sb);

	poll_wait(file, &sbi->durable_wq, wait);
	if (READ_ONCE(sbi->error))
		return EPOLLERR;
	if (READ_ONCE(sbi->durable_seq) + 1 >= READ_ONCE(sbi->next_seq))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

/* fsync = an atomic persist of every change to the file. */
static int msnap_file_fsync(struct file *file, loff_t start, loff_t end,
			    int datasync)
{
	return msnap_persist_inode(file_inode(file));
}

/* fsync of the directory makes the namespace changes durable. */
static int msnap_dir_fsync(struct file *file, loff_t start, loff_t end,
			   int datasync)
{
	struct msnap_sb_info *sbi = MSNAP_SB(file_inode(file)->i_sb);
	int err;

	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_commit(file_inode(file)->i_sb);
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

const struct file_operations msnap_file_operations = {
	.open		= generic_file_open,
	.llseek		= generic_file_llseek,
	.read_iter	= generic_file_read_iter,
	.write_iter	= generic_file_write_iter,
	.mmap		= msnap_file_mmap,
	.fsync		= msnap_file_fsync,
	.unlocked_ioctl	= msnap_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.uring_cmd	= msnap_uring_cmd,
	.splice_read	= msnap_splice_read,
	.splice_write	= iter_file_splice_write,
};

const struct file_operations msnap_dir_operations = {
	.open		= dcache_dir_open,
	.release	= dcache_dir_close,
	.llseek		= dcache_dir_lseek,
	.read		= generic_read_dir,
	.iterate_shared	= dcache_readdir,
	.fsync		= msnap_dir_fsync,
	.poll		= msnap_dir_poll,
	.unlocked_ioctl	= msnap_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

const struct address_space_operations msnap_aops = {
	.read_folio	= msnap_read_folio,
	.write_begin	= msnap_write_begin,
	.write_end	= msnap_write_end,
	.dirty_folio	= noop_dirty_folio,
	.migrate_folio	= filemap_migrate_folio,
};
