// SPDX-License-Identifier: GPL-2.0
/*
 * memsnap: the persist ioctls.
 *
 * A persist names a range of the caller's address space; it is resolved
 * to page ranges of memsnap files through the VMAs that map it, which
 * must all be shared mappings of files of the filesystem the ioctl was
 * issued on.  Argument structures are extensible (copy_struct_from_user).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "memsnap.h"

void msnap_put_targets(struct msnap_target *t, unsigned int nt)
{
	unsigned int i;

	for (i = 0; i < nt; i++)
		iput(t[i].inode);
	kfree(t);
}

static int msnap_add_target(struct msnap_target **t, unsigned int *nt,
			    struct inode *inode, pgoff_t first, pgoff_t last)
{
	struct msnap_target *nt_arr, *prev = *nt ? &(*t)[*nt - 1] : NULL;

	if (prev && prev->inode == inode && prev->last + 1 == first) {
		prev->last = last;
		return 0;
	}
	nt_arr = krealloc_array(*t, *nt + 1, sizeof(**t), GFP_KERNEL);
	if (!nt_arr)
		return -ENOMEM;
	*t = nt_arr;
	ihold(inode);
	(*t)[(*nt)++] = (struct msnap_target){ inode, first, last };
	return 0;
}

/*
 * Check a user range: page aligned, not empty (as the io_uring command,
 * whose length is in pages), no overflow, inside user space.
 */
static int msnap_check_range(u64 addr, u64 len, u64 *end)
{
	if ((addr & ~PAGE_MASK) || !len)
		return -EINVAL;
	if (len > TASK_SIZE || addr > TASK_SIZE - PAGE_ALIGN(len))
		return -EINVAL;
	*end = addr + PAGE_ALIGN(len);
	return 0;
}

/*
 * Resolve [addr, addr + len) of current's address space into page ranges
 * of memsnap files of @sb, appended to *@t, for a persist or an abort.
 * EROFS: @sb is read-only; ENOMEM: part of the range is not mapped;
 * EINVAL: a mapping is not a shared memsnap mapping; EBADF: it is a
 * shared mapping of a file not open for writing (the kernel made it
 * private: no VM_SHARED); EXDEV: it maps a file of another memsnap
 * filesystem.
 */
int msnap_resolve(struct super_block *sb, u64 addr, u64 len,
		  struct msnap_target **t, unsigned int *nt)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	u64 start = addr, end, vend;
	pgoff_t first;
	int err;

	if (sb_rdonly(sb))
		return -EROFS;
	err = msnap_check_range(addr, len, &end);
	if (err || !mm)
		return err ? err : -EINVAL;
	mmap_read_lock(mm);
	while (start < end && !err) {
		vma = vma_lookup(mm, start);
		if (!vma) {
			err = -ENOMEM;
			break;
		}
		if (vma->vm_ops != &msnap_vm_ops ||
		    !(vma->vm_flags & VM_MAYSHARE)) {
			err = -EINVAL;
			break;
		}
		if (!(vma->vm_flags & VM_SHARED)) {
			err = -EBADF;
			break;
		}
		if (file_inode(vma->vm_file)->i_sb != sb) {
			err = -EXDEV;
			break;
		}
		vend = min_t(u64, end, vma->vm_end);
		first = vma->vm_pgoff + ((start - vma->vm_start) >> PAGE_SHIFT);
		err = msnap_add_target(t, nt, file_inode(vma->vm_file), first,
				       first + ((vend - start) >> PAGE_SHIFT) - 1);
		start = vend;
	}
	mmap_read_unlock(mm);
	return err;
}

/*
 * Copy an extensible argument structure: its first __u64 is its size,
 * at least @ver0 bytes; unknown trailing bytes must be zero.
 */
static int msnap_get_args(void *karg, size_t ksize, size_t ver0,
			  void __user *uarg, u64 *usize)
{
	int err;

	if (get_user(*usize, (u64 __user *)uarg))
		return -EFAULT;
	if (*usize < ver0)
		return -EINVAL;
	if (*usize > PAGE_SIZE)
		return -E2BIG;
	err = copy_struct_from_user(karg, ksize, uarg, *usize);
	return err;
}

static int msnap_put_args(void __user *uarg, void *karg, size_t ksize,
			  u64 usize)
{
	return copy_to_user(uarg, karg, min_t(u64, ksize, usize)) ? -EFAULT : 0;
}

static int msnap_ioc_persist(struct super_block *sb, void __user *uarg)
{
	struct msnap_persist_req req = { .tid = task_pid_nr(current) };
	struct msnap_persist_args a;
	u64 usize;
	int err;

	err = msnap_get_args(&a, sizeof(a), MSNAP_PERSIST_SIZE_VER0, uarg,
			     &usize);
	if (err)
		return err;
	if (a.flags & ~MSNAP_PERSIST_FLAGS || a.reserved[0] || a.reserved[1])
		return -EINVAL;
	req.flags = a.flags;
	err = msnap_resolve(sb, a.addr, a.len, &req.t, &req.nt);
	if (err)
		goto out_put_targets;
	err = msnap_persist(sb, &req);
	if (err)
		goto out_put_targets;
	a.epoch = req.epoch;
	a.pages = req.pages;
	err = msnap_put_args(uarg, &a, sizeof(a), usize);
out_put_targets:
	msnap_put_targets(req.t, req.nt);
	return err;
}

static int msnap_ioc_persistv(struct super_block *sb, void __user *uarg)
{
	struct msnap_persist_req req = { .tid = task_pid_nr(current) };
	struct msnap_persistv_args a;
	struct msnap_range __user *ur;
	struct msnap_range r;
	u64 usize, i;
	int err;

	err = msnap_get_args(&a, sizeof(a), MSNAP_PERSISTV_SIZE_VER0, uarg,
			     &usize);
	if (err)
		return err;
	if (a.flags & ~MSNAP_PERSIST_FLAGS || a.reserved[0] || a.reserved[1] ||
	    !a.nr_ranges || a.nr_ranges > MSNAP_MAX_RANGES)
		return -EINVAL;
	req.flags = a.flags;
	ur = u64_to_user_ptr(a.ranges);
	for (i = 0; i < a.nr_ranges; i++) {
		if (copy_from_user(&r, &ur[i], sizeof(r))) {
			err = -EFAULT;
			goto out_put_targets;
		}
		err = msnap_resolve(sb, r.addr, r.len, &req.t, &req.nt);
		if (err)
			goto out_put_targets;
	}
	err = msnap_persist(sb, &req);
	if (err)
		goto out_put_targets;
	a.epoch = req.epoch;
	a.pages = req.pages;
	err = msnap_put_args(uarg, &a, sizeof(a), usize);
out_put_targets:
	msnap_put_targets(req.t, req.nt);
	return err;
}

static int msnap_ioc_wait(struct super_block *sb, u64 __user *uarg)
{
	struct msnap_sb_info *sbi = MSNAP_SB(sb);
	u64 epoch;

	if (get_user(epoch, uarg))
		return -EFAULT;
	if (epoch >= READ_ONCE(sbi->next_seq))
		return -EINVAL;		/* never issued */
	return msnap_commit_wait(sbi, epoch, true);
}

static int msnap_ioc_abort(struct super_block *sb, void __user *uarg)
{
	struct msnap_persist_req req = { .tid = task_pid_nr(current) };
	struct msnap_abort_args a;
	u64 usize;
	int err;

	err = msnap_get_args(&a, sizeof(a), MSNAP_ABORT_SIZE_VER0, uarg,
			     &usize);
	if (err)
		return err;
	if (a.flags & ~MSNAP_THREAD || a.reserved[0] || a.reserved[1] ||
	    a.reserved[2])
		return -EINVAL;
	req.flags = a.flags;
	err = msnap_resolve(sb, a.addr, a.len, &req.t, &req.nt);
	if (err)
		goto out_put_targets;
	msnap_abort(sb, &req);
	a.pages = req.pages;
	err = msnap_put_args(uarg, &a, sizeof(a), usize);
out_put_targets:
	msnap_put_targets(req.t, req.nt);
	return err;
}

static int msnap_ioc_addr(struct file *file, void __user *uarg, bool set)
{
	struct inode *inode = file_inode(file);
	struct msnap_sb_info *sbi = MSNAP_SB(inode->i_sb);
	struct msnap_inode_info *mi = MSNAP_I(inode);
	struct msnap_addr_args a;
	u64 usize;
	int err;

	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	err = msnap_get_args(&a, sizeof(a), MSNAP_ADDR_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (a.reserved[0] || a.reserved[1])
		return -EINVAL;
	if (!set) {
		a.addr = mi->flags & MSNAP_INODE_HAS_ADDR ? mi->preferred_addr : 0;
		return msnap_put_args(uarg, &a, sizeof(a), usize);
	}
	if ((a.addr & ~PAGE_MASK) || a.addr >= TASK_SIZE)
		return -EINVAL;
	if (sb_rdonly(inode->i_sb))
		return -EROFS;
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	mutex_lock(&sbi->commit_mutex);
	err = msnap_nslog_room(sbi, true);
	if (err)
		goto out_unlock;
	mi->preferred_addr = a.addr;
	mi->flags = a.addr ? mi->flags | MSNAP_INODE_HAS_ADDR :
		    mi->flags & ~MSNAP_INODE_HAS_ADDR;
	msnap_mark_ckpt(inode);
	/* Unlinked while open: in memory only, like its other changes. */
	if (!mi->unlinked)
		err = msnap_nslog_add(sbi, MSNAP_ENTRY_INODE, inode);
out_unlock:
	mutex_unlock(&sbi->commit_mutex);
	return err;
}

long msnap_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct super_block *sb = file_inode(file)->i_sb;
	void __user *uarg = (void __user *)arg;

	/* The command numbers carry the first versions' sizes (uapi). */
	BUILD_BUG_ON(sizeof(struct msnap_persist_args) < MSNAP_PERSIST_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct msnap_persistv_args) < MSNAP_PERSISTV_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct msnap_abort_args) < MSNAP_ABORT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct msnap_addr_args) < MSNAP_ADDR_SIZE_VER0);
	switch (cmd) {
	case MSNAP_IOC_PERSIST:
		return msnap_ioc_persist(sb, uarg);
	case MSNAP_IOC_PERSISTV:
		return msnap_ioc_persistv(sb, uarg);
	case MSNAP_IOC_WAIT:
		return msnap_ioc_wait(sb, uarg);
	case MSNAP_IOC_ABORT:
		return msnap_ioc_abort(sb, uarg);
	case MSNAP_IOC_SET_ADDR:
		return msnap_ioc_addr(file, uarg, true);
	case MSNAP_IOC_GET_ADDR:
		return msnap_ioc_addr(file, uarg, false);
	}
	return -ENOTTY;
}
