/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * memsnap: user-space ABI and on-disk format.
 *
 * Applications keep their state in memory-mapped files of a memsnap
 * filesystem and make the modified pages of a range durable, atomically,
 * with one call.  docs/format.md describes the on-disk structures below
 * field by field; docs/abi.md the ioctls.
 *
 * All on-disk integers are little endian.  Every metadata block carries a
 * CRC32C (Castagnoli, seed ~0, final value inverted, as in ext4 and
 * btrfs) computed over the whole block with its crc field set to zero.
 */
#ifndef _UAPI_LINUX_MEMSNAP_H
#define _UAPI_LINUX_MEMSNAP_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Filesystem type name and statfs(2) f_type. */
#define MEMSNAP_FS_NAME		"memsnap"
#define MEMSNAP_SUPER_MAGIC	0x4d534e50	/* "MSNP" */

/* ------------------------------------------------------------------------
 * On-disk format, version 2 (docs/format.md says what changed from 1;
 * a version 1 image is refused, with a message to re-run mkfs).
 *
 * Device layout, in 4 KiB blocks:
 *
 *   0                superblock A
 *   1                superblock B
 *   log_start        circular log of commit records, log_blocks long
 *   bitmap_start     allocation bitmap, copy 0 then copy 1, each
 *                    bitmap_blocks long
 *   data_start ...   data pages and checkpoint metadata (tree nodes,
 *                    inode blocks), allocated copy-on-write
 *
 * The two superblocks alternate: a checkpoint writes the one not holding
 * the newest valid generation.  A mount uses the valid superblock with
 * the higher generation, loads its checkpoint (the inode tree and the
 * bitmap copy it names) and replays the log from log_head: records of
 * consecutive sequence numbers, from ckpt_seq + 1, until the first
 * missing or invalid one.  Every log block carries the superblock's
 * log_nonce: a read-write mount writes a superblock with a new nonce
 * before its first commit, so records that outlived a crash (written
 * after the one that ended the replay) never match again.
 * ------------------------------------------------------------------------
 */
#define MSNAP_BLOCK_SHIFT	12
#define MSNAP_BLOCK_SIZE	(1U << MSNAP_BLOCK_SHIFT)
#define MSNAP_VERSION		2

/* Block magics (first field of every metadata block). */
#define MSNAP_SB_MAGIC		0x31534e534d534e4dULL	/* "MNSMSNS1" */
#define MSNAP_LOG_MAGIC		0x474c534d		/* "MSLG" */
#define MSNAP_NODE_MAGIC	0x444e534d		/* "MSND" */
#define MSNAP_INODE_MAGIC	0x4e49534d		/* "MSIN" */
#define MSNAP_BITMAP_MAGIC	0x4d42534d		/* "MSBM" */

#define MSNAP_SB_BLOCK_A	0
#define MSNAP_SB_BLOCK_B	1
#define MSNAP_ROOT_INO		1	/* the root directory */
#define MSNAP_FIRST_INO		2	/* first inode other than the root */
#define MSNAP_NAME_MAX		255
#define MSNAP_SYMLINK_MAX	3072	/* longest symlink target (INCOMPAT_DIRS) */
#define MSNAP_LABEL_MAX		64

/*
 * Feature flags: a mount refuses unknown incompat and, read-write,
 * unknown ro_compat bits; unknown compat bits are kept on rewrite.
 *  - INCOMPAT_LOG_NONCE: log blocks carry the superblock's log_nonce and
 *    only those that match belong to the log.  Every version 2 image has
 *    it (mkfs sets it, a mount requires it).
 *  - INCOMPAT_DIRS: a whole namespace: directories, hard links (link
 *    inodes), symlinks and special files; the inode fields parent,
 *    link_target, rdev and symlink and the DIRENT, LINK and SYMLINK log
 *    entries (docs/format.md, "Feature DIRS").  mkfs sets it; a mount
 *    sets it on an image without it before the first entry that needs it.
 */
#define MSNAP_FEATURE_INCOMPAT_LOG_NONCE	(1ULL << 0)
#define MSNAP_FEATURE_INCOMPAT_DIRS		(1ULL << 1)

#define MSNAP_FEATURE_COMPAT_SUPP	0ULL
#define MSNAP_FEATURE_RO_COMPAT_SUPP	0ULL
#define MSNAP_FEATURE_INCOMPAT_SUPP	(MSNAP_FEATURE_INCOMPAT_LOG_NONCE | \
					 MSNAP_FEATURE_INCOMPAT_DIRS)

/* Superblock state flags. */
#define MSNAP_SB_CLEAN		(1U << 0)	/* unmounted cleanly: log empty */
#define MSNAP_SB_ERROR		(1U << 1)	/* an error was seen: run fsck */

struct msnap_super {
	__le64	magic;		/* MSNAP_SB_MAGIC */
	__le32	crc;		/* CRC32C of the block, this field zero */
	__le32	version;	/* MSNAP_VERSION */
	__le64	compat;		/* features a mount may ignore */
	__le64	ro_compat;	/* features a read-write mount must know */
	__le64	incompat;	/* features any mount must know */
	__u8	uuid[16];
	char	label[MSNAP_LABEL_MAX];	/* NUL padded */
	__le32	block_size;	/* MSNAP_BLOCK_SIZE */
	__le32	state;		/* MSNAP_SB_* */
	__le64	blocks;		/* device size in blocks */
	__le64	log_start;	/* first log block */
	__le64	log_blocks;	/* log length in blocks */
	__le64	bitmap_start;	/* first block of bitmap copy 0 */
	__le64	bitmap_blocks;	/* length of one bitmap copy */
	__le64	data_start;	/* first allocatable block */
	__le64	generation;	/* incremented by every superblock write */
	/* The checkpoint: state after commit ckpt_seq. */
	__le64	ckpt_seq;	/* last commit sequence it includes */
	__le64	log_head;	/* log block (0-based in the log) of ckpt_seq + 1 */
	__le64	inode_root;	/* root block of the inode tree, 0 if empty */
	__le32	inode_height;	/* levels of the inode tree, 0 if empty */
	__le32	bitmap_copy;	/* 0 or 1: the copy this checkpoint wrote */
	__le64	next_ino;	/* next inode number to hand out */
	__le64	free_blocks;	/* free data blocks in this checkpoint */
	__le64	inodes;		/* number of files, root excluded */
	__le64	mkfs_time;	/* seconds since the epoch */
	__le64	ckpt_time;	/* seconds since the epoch */
	__le64	log_nonce;	/* stamped in every log block of this log */
	__le64	error_time;	/* when MSNAP_SB_ERROR was set, 0 if never */
	__le32	error_code;	/* its errno (positive), 0 if none */
	__le32	reserved32;	/* must be zero */
	__u8	reserved[3816];	/* must be zero */
};

/*
 * Copy-on-write radix tree of 4 KiB nodes mapping a 64-bit key to a
 * 64-bit block number; 0 means "absent".  Used for each file's page map
 * (key: page index; value: data block) and for the inode table (key:
 * inode number; value: inode block).  A tree of height h has
 * MSNAP_NODE_SLOTS^h keys; level 0 nodes are leaves.  A checkpoint writes
 * new copies of the changed nodes only, to newly allocated blocks.
 */
#define MSNAP_NODE_SLOTS	504
#define MSNAP_TREE_MAX_HEIGHT	7	/* 504^7 > 2^62 */

struct msnap_node {
	__le32	magic;		/* MSNAP_NODE_MAGIC */
	__le32	crc;
	__le64	owner;		/* inode number, 0 for the inode tree */
	__le64	first_key;	/* first key this node covers */
	__le64	generation;	/* superblock generation that wrote it */
	__le32	level;		/* 0 for leaves */
	__le32	used;		/* non-zero slots */
	__u8	reserved[24];	/* must be zero */
	__le64	slot[MSNAP_NODE_SLOTS];
};

/* File attribute flags (msnap_inode.flags). */
#define MSNAP_INODE_HAS_ADDR	(1U << 0)	/* preferred_addr is set */
#define MSNAP_INODE_LINK	(1U << 1)	/* DIRS: a second name of link_target */

/* One inode per block; the inode tree maps its number to the block. */
struct msnap_inode {
	__le32	magic;		/* MSNAP_INODE_MAGIC */
	__le32	crc;
	__le64	ino;
	__le64	generation;	/* superblock generation that wrote it */
	__le32	mode;		/* S_IFREG | permissions (S_IFDIR for root) */
	__le32	uid;
	__le32	gid;
	__le32	flags;		/* MSNAP_INODE_* */
	__le64	size;		/* bytes */
	__le64	atime_sec;
	__le64	mtime_sec;
	__le64	ctime_sec;
	__le32	atime_nsec;
	__le32	mtime_nsec;
	__le32	ctime_nsec;
	__le32	map_height;	/* levels of the page map, 0 if empty */
	__le64	map_root;	/* root block of the page map, 0 if empty */
	__le64	preferred_addr;	/* mapping address, if HAS_ADDR */
	__le64	blocks;		/* data blocks mapped */
	__le32	name_len;	/* bytes of name; 0 for the root */
	__u8	reserved1[4];	/* must be zero */
	char	name[256];	/* the name in its directory, NUL padded */
	/* The rest is zero without MSNAP_FEATURE_INCOMPAT_DIRS. */
	__le64	parent;		/* directory holding the name; 0 for the root */
	__le64	link_target;	/* with MSNAP_INODE_LINK: the inode named */
	__le32	rdev;		/* S_IFCHR, S_IFBLK: new_encode_dev() number */
	__u8	reserved2[4];	/* must be zero */
	char	symlink[MSNAP_SYMLINK_MAX]; /* S_IFLNK: size bytes, NUL padded */
	__u8	reserved[624];	/* must be zero */
};

/*
 * Allocation bitmap block: bit b of block i covers data block
 * data_start + i * MSNAP_BITMAP_BITS + b; 1 means in use.  Bits past the
 * end of the device are zero.
 */
#define MSNAP_BITMAP_BITS	(8 * (MSNAP_BLOCK_SIZE - 32))

struct msnap_bitmap {
	__le32	magic;		/* MSNAP_BITMAP_MAGIC */
	__le32	crc;
	__le64	index;		/* i */
	__le64	generation;	/* superblock generation that wrote it */
	__u8	reserved[8];	/* must be zero */
	__u8	bits[MSNAP_BLOCK_SIZE - 32];
};

/*
 * Commit records.  A record is 1..n consecutive log blocks (wrapping at
 * the end of the log), all carrying the same sequence number; it is valid
 * when every one of its blocks is, and every DATA entry's block has the
 * CRC32C the entry states.  A record's entries apply in order, all or
 * nothing.  Entries never straddle a block; each is a multiple of 8 bytes
 * long; a block's entries end at bytes_used.
 */
struct msnap_log_block {
	__le32	magic;		/* MSNAP_LOG_MAGIC */
	__le32	crc;
	__le64	seq;		/* commit sequence number */
	__le32	index;		/* this block's place in the record, from 0 */
	__le32	count;		/* blocks in the record */
	__le32	entries;	/* entries in this block */
	__le32	bytes_used;	/* payload bytes in this block */
	__le64	nonce;	/* the superblock's log_nonce, else stale */
	__u8	reserved[8];	/* must be zero */
	__le64	time;		/* commit time, seconds since the epoch */
	__u8	payload[MSNAP_BLOCK_SIZE - 56];
};

#define MSNAP_LOG_PAYLOAD	(MSNAP_BLOCK_SIZE - 56)

enum msnap_entry_type {
	MSNAP_ENTRY_DATA	= 1,	/* page index of ino now lives at block */
	MSNAP_ENTRY_INODE	= 2,	/* create ino, or set its attributes */
	MSNAP_ENTRY_NAME	= 3,	/* set ino's name (create, rename) */
	MSNAP_ENTRY_UNLINK	= 4,	/* delete ino and free its blocks */
	MSNAP_ENTRY_TRUNCATE	= 5,	/* drop pages from first_index on */
	MSNAP_ENTRY_DIRENT	= 6,	/* DIRS: set ino's directory and name */
	MSNAP_ENTRY_LINK	= 7,	/* DIRS: create link inode ino */
	MSNAP_ENTRY_SYMLINK	= 8,	/* DIRS: set symlink ino's target */
};

struct msnap_entry_hdr {
	__le16	type;		/* enum msnap_entry_type */
	__le16	len;		/* bytes, header included, multiple of 8 */
	__le32	reserved;	/* must be zero */
	__le64	ino;
};

struct msnap_entry_data {
	struct msnap_entry_hdr hdr;
	__le64	index;		/* page index in the file */
	__le64	block;		/* new block of the page */
	__le32	data_crc;	/* CRC32C of the block's 4 KiB */
	__le32	reserved;	/* must be zero */
};

struct msnap_entry_inode {
	struct msnap_entry_hdr hdr;
	__le32	mode;
	__le32	uid;
	__le32	gid;
	__le32	flags;		/* MSNAP_INODE_* */
	__le64	size;
	__le64	atime_sec;
	__le64	mtime_sec;
	__le64	ctime_sec;
	__le32	atime_nsec;
	__le32	mtime_nsec;
	__le32	ctime_nsec;
	__le32	rdev;		/* DIRS, S_IFCHR/S_IFBLK only; else zero */
	__le64	preferred_addr;
};

struct msnap_entry_name {
	struct msnap_entry_hdr hdr;
	__le32	name_len;	/* 1..MSNAP_NAME_MAX */
	__le32	reserved;	/* must be zero */
	char	name[];		/* name_len bytes, zero padded to 8 */
};

struct msnap_entry_dirent {
	struct msnap_entry_hdr hdr;
	__le64	parent;		/* a directory */
	__le32	name_len;	/* 1..MSNAP_NAME_MAX */
	__le32	reserved;	/* must be zero */
	char	name[];		/* name_len bytes, zero padded to 8 */
};

struct msnap_entry_link {
	struct msnap_entry_hdr hdr;	/* ino: the new link inode */
	__le64	target;		/* the inode it names */
	__le64	parent;		/* the directory holding the name */
	__le32	name_len;	/* 1..MSNAP_NAME_MAX */
	__le32	reserved;	/* must be zero */
	char	name[];		/* name_len bytes, zero padded to 8 */
};

struct msnap_entry_symlink {
	struct msnap_entry_hdr hdr;
	__le32	len;		/* 1..MSNAP_SYMLINK_MAX */
	__le32	reserved;	/* must be zero */
	char	target[];	/* len bytes, zero padded to 8 */
};

struct msnap_entry_unlink {
	struct msnap_entry_hdr hdr;
};

struct msnap_entry_truncate {
	struct msnap_entry_hdr hdr;
	__le64	first_index;	/* first page index dropped */
	__le64	size;		/* new size in bytes */
};

/* ------------------------------------------------------------------------
 * ioctl ABI (docs/abi.md).  Any file descriptor of a memsnap filesystem
 * (a region file or the root directory) accepts them; the ranges are in
 * the caller's address space and must lie wholly in shared mappings of
 * files of that same filesystem.  Structures are __u64-only and
 * extensible: "size" is sizeof the caller's version; the kernel accepts
 * any size >= the first version's (smaller: EINVAL), zero-extends a
 * smaller one, and rejects non-zero bytes it does not know (E2BIG),
 * unknown flags (EINVAL) and non-zero reserved fields (EINVAL).
 * ------------------------------------------------------------------------
 */
#define MSNAP_IOC_MAGIC		0xE4

/* Persist flags. */
#define MSNAP_SYNC		0x0ULL	/* return when durable (default) */
#define MSNAP_ASYNC		0x1ULL	/* return once snapshotted; see WAIT */
#define MSNAP_THREAD		0x2ULL	/* only pages the caller's thread dirtied */
#define MSNAP_PERSIST_FLAGS	(MSNAP_ASYNC | MSNAP_THREAD)

struct msnap_range {
	__u64	addr;		/* in: start, page aligned */
	__u64	len;		/* in: bytes, rounded up to whole pages */
};

struct msnap_persist_args {
	__u64	size;		/* in: sizeof(struct msnap_persist_args) */
	__u64	addr;		/* in: start of the range, page aligned */
	__u64	len;		/* in: bytes, rounded up to whole pages */
	__u64	flags;		/* in: MSNAP_* */
	__u64	epoch;		/* out: the commit's epoch (nothing to do: the last one) */
	__u64	pages;		/* out: pages written */
	__u64	reserved[2];	/* in: must be zero */
};

#define MSNAP_PERSIST_SIZE_VER0	64

/* Several ranges, possibly in several files, as one atomic commit. */
struct msnap_persistv_args {
	__u64	size;		/* in: sizeof(struct msnap_persistv_args) */
	__u64	ranges;		/* in: pointer to struct msnap_range[] */
	__u64	nr_ranges;	/* in: 1..MSNAP_MAX_RANGES */
	__u64	flags;		/* in: MSNAP_* */
	__u64	epoch;		/* out */
	__u64	pages;		/* out */
	__u64	reserved[2];	/* in: must be zero */
};

#define MSNAP_PERSISTV_SIZE_VER0 64
#define MSNAP_MAX_RANGES	1024

/* Drop the unpersisted changes of a range: it reads its last persist. */
struct msnap_abort_args {
	__u64	size;		/* in: sizeof(struct msnap_abort_args) */
	__u64	addr;		/* in: page aligned */
	__u64	len;		/* in: bytes, rounded up to whole pages */
	__u64	flags;		/* in: MSNAP_THREAD or 0 */
	__u64	pages;		/* out: pages discarded */
	__u64	reserved[3];	/* in: must be zero */
};

#define MSNAP_ABORT_SIZE_VER0	64

/* A file's preferred mapping address (0: none), kept on disk. */
struct msnap_addr_args {
	__u64	size;		/* in: sizeof(struct msnap_addr_args) */
	__u64	addr;		/* in (SET) / out (GET); page aligned */
	__u64	reserved[2];	/* in: must be zero */
};

#define MSNAP_ADDR_SIZE_VER0	32

/*
 * The command numbers are frozen with the first version's sizes (_IOC,
 * not _IOWR(..., struct), whose number would change as a structure
 * grows): a grown structure keeps its number and says its size in
 * "size", so an older kernel answers E2BIG for bytes it does not know,
 * never ENOTTY.
 */
#define MSNAP_IOC_PERSIST	_IOC(_IOC_READ | _IOC_WRITE, MSNAP_IOC_MAGIC, 1, \
				     MSNAP_PERSIST_SIZE_VER0)
#define MSNAP_IOC_PERSISTV	_IOC(_IOC_READ | _IOC_WRITE, MSNAP_IOC_MAGIC, 2, \
				     MSNAP_PERSISTV_SIZE_VER0)
/* Wait until the epoch (a __u64) and all before it are durable. */
#define MSNAP_IOC_WAIT		_IOW(MSNAP_IOC_MAGIC, 3, __u64)
#define MSNAP_IOC_ABORT		_IOC(_IOC_READ | _IOC_WRITE, MSNAP_IOC_MAGIC, 4, \
				     MSNAP_ABORT_SIZE_VER0)
#define MSNAP_IOC_SET_ADDR	_IOC(_IOC_WRITE, MSNAP_IOC_MAGIC, 5, \
				     MSNAP_ADDR_SIZE_VER0)
#define MSNAP_IOC_GET_ADDR	_IOC(_IOC_READ | _IOC_WRITE, MSNAP_IOC_MAGIC, 6, \
				     MSNAP_ADDR_SIZE_VER0)

/*
 * io_uring: IORING_OP_URING_CMD on a memsnap file with cmd_op
 * MSNAP_URING_CMD_PERSIST and this 16-byte payload in sqe->cmd (no
 * SQE128 needed).  The CQE arrives when the commit is durable; res is the
 * number of pages written or -errno.
 */
#define MSNAP_URING_CMD_PERSIST	0x4d500001

struct msnap_uring_persist {
	__u64	addr;		/* page aligned */
	__u32	pages;		/* length of the range in pages */
	__u32	flags;		/* MSNAP_THREAD or 0 */
};

#endif /* _UAPI_LINUX_MEMSNAP_H */
