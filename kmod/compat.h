/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memsnap: differences between the kernel versions memsnap supports
 * (Debian's 6.1 and 6.12).  Every version test of the module lives here;
 * the rest of the code calls the helpers below.
 */
#ifndef _MEMSNAP_COMPAT_H
#define _MEMSNAP_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/bio.h>
#include <linux/crc32.h>
#include <linux/crc32c.h>

#if KERNEL_VERSION(6, 12, 0) <= LINUX_VERSION_CODE
#define MSNAP_K612	1
#else
#define MSNAP_K612	0
#endif

/*
 * Inode operations take a user namespace in 6.1, an idmap in 6.12; page
 * cache lookup flags are an int in 6.1, an fgf_t in 6.12.
 */
#if MSNAP_K612
#define msnap_idmap_t		struct mnt_idmap
#define msnap_fgf_t		fgf_t
#else
#define msnap_idmap_t		struct user_namespace
#define msnap_fgf_t		int
#endif

/*
 * The filesystem's UUID for the VFS (FS_IOC_GETFSUUID, overlayfs): 6.8
 * and later need its length set too, through super_set_uuid().
 */
static inline void msnap_set_uuid(struct super_block *sb, const u8 *uuid)
{
#if MSNAP_K612
	super_set_uuid(sb, uuid, 16);
#else
	import_uuid(&sb->s_uuid, uuid);
#endif
}

/* Timestamps: 6.12 has accessors only; 6.1.192 has the ctime ones. */
#if !MSNAP_K612
static inline struct timespec64 inode_get_atime(const struct inode *inode)
{
	return inode->i_atime;
}

static inline struct timespec64 inode_get_mtime(const struct inode *inode)
{
	return inode->i_mtime;
}

static inline void inode_set_atime_to_ts(struct inode *inode,
					 struct timespec64 ts)
{
	inode->i_atime = ts;
}

static inline void inode_set_mtime_to_ts(struct inode *inode,
					 struct timespec64 ts)
{
	inode->i_mtime = ts;
}
#endif

/*
 * ->write_begin hands back a page in 6.1 and a folio in 6.12; memsnap
 * uses order-0 folios only, so the page is the folio's.
 */
#if MSNAP_K612
#define MSNAP_WB_ARG		struct folio **msnap_foliop
#define MSNAP_WE_ARG		struct folio *msnap_folio_arg
#define msnap_wb_return(f)	(*msnap_foliop = (f))
#define msnap_we_folio()	(msnap_folio_arg)
#define msnap_splice_read	filemap_splice_read
#else
#define MSNAP_WB_ARG		struct page **msnap_pagep
#define MSNAP_WE_ARG		struct page *msnap_page_arg
#define msnap_wb_return(f)	(*msnap_pagep = &(f)->page)
#define msnap_we_folio()	page_folio(msnap_page_arg)
#define msnap_splice_read	generic_file_splice_read
#endif

/* A page cache lookup that returns an ERR_PTR on failure, as 6.12 does. */
static inline struct folio *msnap_get_folio(struct address_space *mapping,
					    pgoff_t index, msnap_fgf_t fgp,
					    gfp_t gfp)
{
	struct folio *folio = __filemap_get_folio(mapping, index, fgp, gfp);

#if !MSNAP_K612
	if (!folio)
		return ERR_PTR((fgp & FGP_CREAT) ? -ENOMEM : -ENOENT);
#endif
	return folio;
}

/* bio_add_folio() is not exported in 6.1. */
static inline bool msnap_bio_add_folio(struct bio *bio, struct folio *folio)
{
	return bio_add_page(bio, &folio->page, PAGE_SIZE, 0) == PAGE_SIZE;
}

/*
 * io_uring commands.  The payload (sqe->cmd) is reached through
 * ioucmd->sqe in 6.12 and ioucmd->cmd in 6.1.  When a command that
 * returned -EAGAIN is reissued from an io-wq worker, 6.1 points
 * ioucmd->cmd at io_uring's own copy of the SQE; 6.12 makes the copy but
 * leaves ioucmd->sqe on the SQ ring entry (io_uring_cmd(); repointed from
 * 6.14 on), which the application may have reused since io_uring_enter()
 * returned: there memsnap keeps its own copy (uring.c).
 *
 * The task that submitted the command is the request's: 6.12 has an
 * accessor, 6.1 only the io_kiocb field it reads.
 */
#if MSNAP_K612
#include <linux/io_uring/cmd.h>

#define MSNAP_URING_REISSUE_READS_RING	1

static inline const void *msnap_uring_cmd_payload(struct io_uring_cmd *ucmd)
{
	return io_uring_sqe_cmd(ucmd->sqe);
}

static inline struct task_struct *msnap_uring_cmd_task(struct io_uring_cmd *ucmd)
{
	return io_uring_cmd_get_task(ucmd);
}
#else
#include <linux/io_uring.h>
#include <linux/io_uring_types.h>

#define MSNAP_URING_REISSUE_READS_RING	0

static inline const void *msnap_uring_cmd_payload(struct io_uring_cmd *ucmd)
{
	return ucmd->cmd;
}

static inline struct task_struct *msnap_uring_cmd_task(struct io_uring_cmd *ucmd)
{
	return cmd_to_io_kiocb(ucmd)->task;
}
#endif

/*
 * Standard CRC32C (seed ~0, result inverted), by the implementation
 * chosen at load (crc.c).  Both return the raw register, without the
 * final inversion.  crc32c() is the libcrc32c module's on 6.1 and 6.12
 * (a dependency: modprobe loads it, insmod needs it loaded first).
 */
extern bool msnap_crc_tables;

static inline u32 msnap_crc32c(const void *p, size_t len)
{
	if (msnap_crc_tables)
		return ~__crc32c_le(~0U, p, len);
	return ~crc32c(~0U, p, len);
}

#endif /* _MEMSNAP_COMPAT_H */
