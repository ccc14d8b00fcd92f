/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memsnap: a data single level store.
 *
 * Private header of the memsnap module, laid out as: constants, on-disk
 * sizes, in-memory structures by layer (bottom up), the per-filesystem
 * and per-inode state, accessors and small helpers, print wrappers, and
 * prototypes grouped per file, bottom up.  The on-disk format is in
 * include/uapi/linux/memsnap.h.
 *
 * Layers (a file calls only files below it, except through the VFS
 * operation tables; tools/callgraph checks it):
 *
 *   crc.c stats.c io.c format.c        leaves: CRC32C, counters, block IO,
 *                                      the inode codec
 *   record.c alloc.c -> tree.c          commit records, the allocator,
 *                                      copy-on-write trees
 *   commit.c                           commit lifecycle, bounce pool
 *   checkpoint.c                       checkpoints, metadata space, log room
 *   nslog.c map.c                      the namespace change log, page maps
 *   persist.c                          snapshot and commit of dirty pages
 *   file.c inode.c ioctl.c uring.c     the VFS and user-space entry points
 *   recovery.c -> super.c               mount and replay, the filesystem type
 *
 * Lock order, the one every path follows:
 *
 *   commit_mutex -> mapping->invalidate_lock -> snap_lock -> folio lock
 *     -> alloc.lock, inflight_lock, pool_lock, ino_lock, error_lock
 *
 * The spinlocks at the end are leaves: none is held while another lock
 * is taken.  Each lock says below, at its field, what it guards.
 */
#ifndef _MEMSNAP_H
#define _MEMSNAP_H

#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <linux/workqueue.h>
#include <uapi/linux/memsnap.h>

#include "compat.h"

/* Largest file: 16 TiB. */
#define MSNAP_MAX_FILE_SIZE		BIT_ULL(44)
#define MSNAP_MODE_PERM			07777
/* Namespace changes become durable within this many seconds by default. */
#define MSNAP_DEFAULT_COMMIT_SECS	5
/* A commit record may use at most this fraction of the log. */
#define MSNAP_RECORD_MAX_DIV		4
/* Checkpoint once the log is this full (numerator over 4). */
#define MSNAP_LOG_HIGH_QUARTERS		2
/* Metadata buffers a checkpoint writes before it waits for them. */
#define MSNAP_BH_BATCH			256
/* Bounce pages kept per filesystem for the next snapshots: 4 MiB. */
#define MSNAP_BOUNCE_POOL		1024
/* Metadata blocks one namespace operation may add to the next checkpoint. */
#define MSNAP_META_OP			(2 * (MSNAP_TREE_MAX_HEIGHT + 1))
/*
 * Internal persist flag, never from user space: do not sleep for the
 * commit lock, the snapshot lock or a checkpoint; -EAGAIN instead (the
 * io_uring command's non-blocking issue).
 */
#define MSNAP_NOWAIT			BIT_ULL(63)
/*
 * Internal persist flag: only the pages written through the file API
 * (write(2), a truncate's zeroed tail), not those only stored to through
 * a mapping (syncfs, unmount, the commit= interval).
 */
#define MSNAP_FILEDATA			BIT_ULL(62)

/*
 * The mark of a dirty-set entry (xa_mk_value(the writing thread's id))
 * whose page the file API wrote since its last persist: file data.
 */
#define MSNAP_DIRTY_FILE		XA_MARK_1

/*
 * The dirty-set entries a persist with @flags takes (xa_find's filter):
 * all of them, or with MSNAP_FILEDATA those marked MSNAP_DIRTY_FILE.
 */
static inline xa_mark_t msnap_dirty_filter(u64 flags)
{
	return (flags & MSNAP_FILEDATA) ? MSNAP_DIRTY_FILE : XA_PRESENT;
}

/* Every on-disk block structure is exactly one block. */
static_assert(sizeof(struct msnap_super) == MSNAP_BLOCK_SIZE);
static_assert(sizeof(struct msnap_node) == MSNAP_BLOCK_SIZE);
static_assert(sizeof(struct msnap_inode) == MSNAP_BLOCK_SIZE);
static_assert(sizeof(struct msnap_bitmap) == MSNAP_BLOCK_SIZE);
static_assert(sizeof(struct msnap_log_block) == MSNAP_BLOCK_SIZE);
static_assert(MSNAP_BLOCK_SIZE == PAGE_SIZE);

/* stats.c */
/*
 * Persist counters, shown in debugfs; lockless atomic64s.  A
 * timed phase is a pair: cumulative nanoseconds, then the largest single
 * value (msnap_stats_time() keeps both).  The snapshot's write-protect
 * and copy parts are summed over its pages; the CRC32Cs of its pages
 * follow it, outside snap_lock; the IO of a commit is split into the time
 * until its last data bio and until its last log record bio completed,
 * both from its submission.
 */
enum msnap_stat {
	MSNAP_ST_PERSISTS,
	MSNAP_ST_PAGES,
	MSNAP_ST_COMMITS,
	MSNAP_ST_LOCK_NS,	/* waiting for commit_mutex */
	MSNAP_ST_LOCK_MAX,
	MSNAP_ST_SNAP_NS,	/* snapshot under snap_lock */
	MSNAP_ST_SNAP_MAX,
	MSNAP_ST_WP_NS,		/* folio_mkclean(), clearing dirty */
	MSNAP_ST_WP_MAX,
	MSNAP_ST_COPY_NS,	/* copy to the bounce pages */
	MSNAP_ST_COPY_MAX,
	MSNAP_ST_CRC_NS,	/* CRC32C of the bounce pages */
	MSNAP_ST_CRC_MAX,
	MSNAP_ST_SUBMIT_NS,	/* record, maps, submission */
	MSNAP_ST_SUBMIT_MAX,
	MSNAP_ST_IO_NS,		/* submission to durability */
	MSNAP_ST_IO_MAX,
	MSNAP_ST_IO_DATA_NS,	/* submission to the last data bio's end */
	MSNAP_ST_IO_DATA_MAX,
	MSNAP_ST_IO_REC_NS,	/* submission to the last record bio's end */
	MSNAP_ST_IO_REC_MAX,
	MSNAP_ST_DATA_BIOS,
	MSNAP_ST_REC_BLOCKS,
	MSNAP_ST_CKPTS,
	MSNAP_ST_CKPT_NS,
	MSNAP_ST_CKPT_MAX,
	MSNAP_ST_FAULT_WAITS,	/* write faults that waited for snap_lock */
	MSNAP_ST_FAULT_WAIT_NS,
	MSNAP_ST_FAULT_WAIT_MAX,
	MSNAP_ST_NR
};

struct msnap_stats {
	atomic64_t	v[MSNAP_ST_NR];
};

/* io.c */
/* Block IO in flight, waited for together (or ended by a callback). */
struct msnap_io {
	atomic_t		pending;
	struct completion	done;
	int			error;
	void			(*end)(struct msnap_io *io);
	/* ktime_get_ns() at the last data / log record bio's end (stats) */
	u64			data_end_ns;
	u64			rec_end_ns;
};

/*
 * Metadata buffers written together and then waited for, at most
 * MSNAP_BH_BATCH at a time: a checkpoint of any size pins a bounded
 * number of buffers and never needs a large allocation.
 */
struct msnap_bh_batch {
	struct buffer_head	**bhs;	/* MSNAP_BH_BATCH, or NULL */
	unsigned int		nr;
	int			err;	/* first write error */
};

/* record.c */
/* A commit record under construction. */
struct msnap_record {
	struct page	**pages;	/* one per log block */
	unsigned int	nr;		/* blocks started */
	unsigned int	alloced;	/* zeroed pages in pages[], >= nr */
	unsigned int	cap;
	unsigned int	used;		/* payload bytes in the last block */
	unsigned int	entries;	/* entries in the last block */
	unsigned int	max_blocks;
};

/* A commit record read back from the log (record.c, recovery). */
struct msnap_replay_rec {
	struct buffer_head	**bhs;
	u32			count;
	bool			valid;	/* whole: to be replayed */
};

/* alloc.c */
/*
 * Allocator.  Two bitmaps over the data area, one bit per block:
 *  - used:   blocks that may not be handed out (in use, or released but
 *            still referenced by the last durable checkpoint or by an
 *            open unlinked file);
 *  - ondisk: the allocation state the log describes, i.e. what the next
 *            checkpoint writes.
 * A block released by commit N is cleared in ondisk at once but stays in
 * used until a checkpoint covering N is durable (the reuse pitfall,
 * docs/design.md, "Persist").
 */
struct msnap_alloc {
	spinlock_t	lock;		/* guards everything below */
	unsigned long	*used;
	unsigned long	*ondisk;
	unsigned long	*dirty[2];	/* bitmap blocks to write, per copy */
	u64		nbits;		/* data blocks */
	u64		nfree;		/* zero bits in used */
	u64		ondisk_free;	/* zero bits in ondisk */
	u64		cursor;		/* next-fit allocation cursor */
	struct xarray	pending;	/* released, awaiting a checkpoint */
};

/* commit.c */
/*
 * The pages of one commit, snapshotted into bounce pages.  Everything it
 * needs is allocated before a page leaves its dirty set, so that a
 * failed allocation leaves every page dirty and the filesystem usable.
 */
struct msnap_snap {
	unsigned int	nr;		/* pages snapshotted */
	unsigned int	cap;		/* pages counted dirty */
	unsigned int	nbounce;	/* bounce pages taken, nr..cap spare */
	u64		*ino;
	pgoff_t		*index;
	struct page	**bounce;
	struct folio	**folio;	/* pinned until the commit is done */
	u64		*block;
	u32		*crc;
	u64		wp_ns;		/* time in folio_mkclean() etc. */
	u64		copy_ns;	/* time copying */
	u64		crc_ns;		/* time computing CRC32C */
};

/*
 * How a commit reports its durability to whoever does not wait for it
 * (the io_uring command): @done(@data, pages or -EIO) is called once,
 * from the block layer's completion context, under inflight_lock.
 */
struct msnap_commit_cb {
	void	(*done)(void *data, int res);
	void	*data;
};

/* A commit between its submission and its durability. */
struct msnap_commit {
	struct msnap_sb_info	*sbi;
	u64			seq;
	struct msnap_io		io;
	struct msnap_snap	snap;
	struct msnap_record	rec;
	struct list_head	entry;		/* on inflight, then finished */
	bool			done;		/* IO ended; inflight_lock */
	u64			submit_ns;	/* ktime_get_ns() at submission */
	struct msnap_commit_cb	cb;		/* called when durable */
};

/* persist.c */
/* A page range of one file to persist; the inode is held. */
struct msnap_target {
	struct inode	*inode;
	pgoff_t		first;
	pgoff_t		last;
};

/*
 * One persist or abort: the targets, whose pages (MSNAP_THREAD: thread
 * @tid's), and what came of it.
 */
struct msnap_persist_req {
	struct msnap_target	*t;
	unsigned int		nt;
	u64			flags;	/* MSNAP_* | MSNAP_NOWAIT */
	pid_t			tid;
	struct msnap_commit_cb	cb;	/* persist: when durable (optional) */
	u64			epoch;	/* out: the commit's sequence number */
	u64			pages;	/* out: pages committed or dropped */
	bool			empty;	/* out: nothing to commit */
};

/* Per-filesystem state. */
struct msnap_sb_info {
	struct super_block	*sb;
	/* Geometry, from the superblock; constant while mounted. */
	u64			blocks;
	u64			log_start;
	u64			log_blocks;
	u64			bitmap_start;
	u64			bitmap_blocks;
	u64			data_start;
	u8			uuid[16];
	char			label[MSNAP_LABEL_MAX];
	u64			mkfs_time;
	unsigned int		commit_secs;	/* mount option commit= */
	/* filedata=fsync: write(2) data is region memory (no mark). */
	bool			filedata_fsync;
	bool			mounted;	/* fill_super succeeded */

	/*
	 * commit_mutex serialises commits, checkpoints and every change of
	 * the fields below it (lock order: at the top of this file).
	 */
	struct mutex		commit_mutex;
	u64			next_seq;	/* sequence of the next commit */
	u64			log_head;	/* first block of the live log */
	u64			log_used;	/* live log blocks */
	u64			ckpt_seq;
	u64			generation;	/* of the newest superblock */
	/*
	 * Stamped in every log block.  The first checkpoint of a read-write
	 * mount picks a new one (log_renewed), so that records a crash left
	 * behind the end of the replayed log never match again.
	 */
	u64			log_nonce;
	bool			log_renewed;
	u64			compat;		/* kept as found */
	/*
	 * Incompat features of the image: as found, plus INCOMPAT_DIRS once
	 * the first operation that needs it made it durable (commit_mutex;
	 * read lockless by namespace operations, which hold commit_mutex).
	 */
	u64			incompat;
	int			sb_slot;	/* 0: A is newest, 1: B */
	int			bitmap_copy;	/* copy the newest ckpt wrote */
	u64			inode_root;
	u32			inode_height;
	struct xarray		ino_changes;	/* ino -> inode block, 0: gone */
	struct list_head	ckpt_list;	/* inodes changed since ckpt */
	/*
	 * Space the next checkpoint may allocate (checkpoint.c): the sum of
	 * the meta_need of the inodes on ckpt_list, and how many inodes the
	 * inode tree changes for.  Admission (msnap_meta_room(), persists)
	 * keeps the free blocks above it plus the reserve.
	 */
	u64			meta_files;
	u64			ckpt_inodes;
	/*
	 * The inodes that hold a name (files, directories, symlinks, special
	 * files and link inodes), each with its pinned dentry; commit_mutex.
	 */
	struct list_head	live_list;
	/*
	 * The first IO error, set once (cmpxchg), read lockless; then every
	 * change is refused (msnap_fs_error()).
	 */
	int			error;

	/*
	 * The error state kept in the superblock (MSNAP_SB_ERROR, errno,
	 * time): found at mount or set by the first error while mounted,
	 * written with every superblock until fsck clears it.  sb_state and
	 * the error fields, and disk_super (a copy of the newest durable
	 * superblock, which the error write rewrites with the state set),
	 * change under commit_mutex.  The mount sets them from the
	 * superblock it chose.  error_now and error_time_now are what
	 * msnap_fs_error() saw, for error_work to write.
	 */
	u32			sb_state;
	u32			error_code;
	u64			error_time;
	struct msnap_super	disk_super;
	u64			error_time_now;
	struct work_struct	error_work;
	spinlock_t		error_lock;	/* irq-safe; error_closed */
	bool			error_closed;	/* no error_work after put_super */
	bool			error_recorded;	/* commit_mutex */

	/*
	 * Commits submitted and not yet durable, in sequence order.  A
	 * commit is acknowledged only when it and every earlier one are
	 * durable: durable_seq advances over the done prefix of inflight.
	 * The completion wakes durable_wq and queues reap_work before it
	 * drops inflight_lock, so that msnap_commit_drain() returns only
	 * once no completion can touch this structure (unmount frees it).
	 */
	spinlock_t		inflight_lock;	/* irq-safe; guards the three below */
	struct list_head	inflight;
	struct list_head	finished;	/* durable or failed, to free */
	u64			durable_seq;	/* written under it, read lockless */
	wait_queue_head_t	durable_wq;
	struct workqueue_struct	*wq;		/* reap_work */
	struct work_struct	reap_work;

	/*
	 * Bounce pages of freed commits, kept for the next snapshots: taking
	 * one is much cheaper than the page allocator, which also zeroes
	 * every page (init_on_alloc) that the snapshot overwrites anyway.
	 * At most MSNAP_BOUNCE_POOL pages; freed at unmount.
	 */
	spinlock_t		pool_lock;	/* guards the two below */
	struct list_head	pool;		/* of pages, by page->lru */
	unsigned int		pool_nr;

	/*
	 * Writers (page_mkwrite, write_begin..write_end) hold snap_lock
	 * shared; a persist and an abort hold it exclusive while they take
	 * pages out of the dirty sets, so a snapshot is one point in time.
	 * Taken after commit_mutex and the invalidate lock, before a folio
	 * lock.
	 */
	struct rw_semaphore	snap_lock;

	/*
	 * Namespace entries not yet in a commit record (nslog.c);
	 * commit_mutex guards.
	 * Namespace operations hold commit_mutex while they change the
	 * in-memory state and queue their entry, so that a checkpoint
	 * (which includes that state and drops the queue) sees both or
	 * neither.
	 */
	void			*nslog_buf;
	size_t			nslog_len;
	size_t			nslog_cap;
	struct delayed_work	flush_work;

	spinlock_t		ino_lock;	/* guards next_ino, inodes */
	u64			next_ino;
	u64			inodes;

	struct msnap_alloc	alloc;
	struct msnap_stats	stats;
	struct dentry		*debugfs;
};

/* Per-inode state. */
struct msnap_inode_info {
	struct inode		vfs_inode;
	/*
	 * The checkpointed page map and inode block; commit_mutex.  A
	 * checkpoint publishes a new (map_root, map_height) pair inside
	 * map_seq, then empties the overlay; lookups without commit_mutex
	 * (faults, reads) go through map_seq (msnap_map_lookup).
	 */
	u64			map_root;
	u32			map_height;
	seqcount_t		map_seq;
	u64			inode_block;
	/*
	 * Page map changes since the checkpoint: index -> block, 0 hole;
	 * changed under commit_mutex, read under map_seq.
	 */
	struct xarray		overlay;
	/*
	 * Pages written since the last persist: index -> writer's pid.
	 * Added by writers under snap_lock shared, taken out by a persist
	 * or an abort under snap_lock exclusive (the xarray's own lock
	 * orders single stores).
	 */
	struct xarray		dirty;
	u64			nblocks;	/* mapped pages; commit_mutex */
	/*
	 * Since the checkpoint, commit_mutex: keys added to the overlay, one
	 * past the largest, and this inode's share of sbi->meta_files (its
	 * inode block and the page-map nodes the checkpoint may write).
	 */
	u64			ckpt_pages;
	u64			ckpt_keys;
	u64			meta_need;
	u64			disk_size;	/* persisted size; commit_mutex */
	u64			preferred_addr;	/* commit_mutex */
	u32			flags;		/* MSNAP_INODE_*; commit_mutex */
	bool			unlinked;	/* commit_mutex */
	/* Blocks released: set once, at eviction or by a failed create. */
	bool			released;
	struct list_head	ckpt_entry;	/* on ckpt_list; commit_mutex */
	struct list_head	live_entry;	/* on live_list; commit_mutex */
	char			name[MSNAP_NAME_MAX + 1];	/* commit_mutex */
	/*
	 * The directory holding the name, and the name's dentry, pinned (as
	 * in ramfs) while the name exists; commit_mutex.  A link inode
	 * (MSNAP_INODE_LINK) is a second name of link_target: its dentry is
	 * an alias of that inode, whose d_fsdata points back here, and the
	 * link inode itself is held by live_list, never seen by user space.
	 */
	u64			parent;
	u64			link_target;
	struct dentry		*dentry;
	char			*symlink;	/* S_IFLNK: the target (i_link) */
};

static inline struct msnap_sb_info *MSNAP_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct msnap_inode_info *MSNAP_I(struct inode *inode)
{
	return container_of(inode, struct msnap_inode_info, vfs_inode);
}

static inline bool msnap_has_dirs(struct msnap_sb_info *sbi)
{
	return sbi->incompat & MSNAP_FEATURE_INCOMPAT_DIRS;
}

static inline bool msnap_is_link(struct inode *inode)
{
	return MSNAP_I(inode)->flags & MSNAP_INODE_LINK;
}

static inline sector_t msnap_sector(u64 block)
{
	return block << (MSNAP_BLOCK_SHIFT - SECTOR_SHIFT);
}

static inline bool msnap_is_data_block(struct msnap_sb_info *sbi, u64 block)
{
	return block >= sbi->data_start && block < sbi->blocks;
}

/* CRC32C of a 4 KiB metadata block whose __le32 crc field is at @crc. */
static inline u32 msnap_block_crc(void *block, __le32 *crc)
{
	__le32 saved = *crc;
	u32 sum;

	*crc = 0;
	sum = msnap_crc32c(block, MSNAP_BLOCK_SIZE);
	*crc = saved;
	return sum;
}

static inline void msnap_set_crc(void *block, __le32 *crc)
{
	*crc = 0;
	*crc = cpu_to_le32(msnap_crc32c(block, MSNAP_BLOCK_SIZE));
}

static inline bool msnap_crc_ok(void *block, __le32 *crc)
{
	return le32_to_cpu(*crc) == msnap_block_crc(block, crc);
}

/* Whether @blocks more log blocks fit before a checkpoint is needed. */
static inline bool msnap_log_fits(struct msnap_sb_info *sbi, u64 blocks)
{
	return sbi->log_used + blocks <= sbi->log_blocks;
}

/*
 * Print wrappers: every message names the device once, after pr_fmt's
 * "memsnap: " ("memsnap: nvme0n1: replayed 3 commit(s) from the log").
 */
#define msnap_err(sb, fmt, ...)						\
	pr_err("%s: " fmt "\n", (sb)->s_id, ##__VA_ARGS__)
#define msnap_warn(sb, fmt, ...)					\
	pr_warn("%s: " fmt "\n", (sb)->s_id, ##__VA_ARGS__)
#define msnap_info(sb, fmt, ...)					\
	pr_info("%s: " fmt "\n", (sb)->s_id, ##__VA_ARGS__)

/* crc.c */
int msnap_crc_init(void);

/* stats.c */
void msnap_stats_time(struct msnap_stats *st, enum msnap_stat i, u64 ns);
void msnap_stats_since(struct msnap_stats *st, enum msnap_stat i, u64 t0);
void msnap_stats_inc(struct msnap_stats *st, enum msnap_stat i, u64 n);
void msnap_stats_register(struct super_block *sb);
void msnap_stats_unregister(struct msnap_sb_info *sbi);
void msnap_debugfs_init(void);
void msnap_debugfs_exit(void);

/* io.c */
void msnap_fs_error(struct super_block *sb, int err, const char *what);
void msnap_io_init(struct msnap_io *io);
void msnap_io_put(struct msnap_io *io);
void msnap_io_data_end(struct bio *bio);
void msnap_io_rec_end(struct bio *bio);
int msnap_io_sync(struct super_block *sb, u64 block, struct page *page,
		  blk_opf_t opf);
unsigned int msnap_submit_pages(struct super_block *sb, u64 block,
				struct page **pages, unsigned int nr,
				blk_opf_t opf, struct msnap_io *io,
				bio_end_io_t *end_io);
struct buffer_head *msnap_bh_new(struct super_block *sb, u64 block);
void msnap_bh_queue(struct msnap_bh_batch *batch, struct buffer_head *bh);
int msnap_bh_wait(struct msnap_bh_batch *batch);

/* format.c */
bool msnap_name_ok(const char *name, u32 len);
const char *msnap_attrs_bad(u64 ino, const struct msnap_entry_inode *e,
			    bool dirs);
void msnap_set_attrs(struct inode *inode, const struct msnap_entry_inode *e);
const char *msnap_disk_inode_bad(struct msnap_inode *di, u64 ino, bool dirs);
int msnap_inode_from_disk(struct inode *inode, struct msnap_inode *di);
void msnap_fill_disk_inode(struct inode *inode, struct msnap_inode *di);
void msnap_entry_inode_fill(struct inode *inode, struct msnap_entry_inode *e);

/* record.c */
void msnap_record_init(struct msnap_sb_info *sbi, struct msnap_record *rec);
void msnap_record_free(struct msnap_record *rec);
int msnap_record_reserve(struct msnap_record *rec, unsigned int blocks);
void *msnap_record_add(struct msnap_record *rec, enum msnap_entry_type type,
		       u64 ino, size_t len);
void msnap_record_write(struct super_block *sb, struct msnap_record *rec,
			struct msnap_io *io);
void msnap_record_done(struct msnap_sb_info *sbi, struct msnap_record *rec);
unsigned int msnap_record_blocks(struct msnap_record *rec);
int msnap_read_record(struct super_block *sb, u64 pos, u64 seq,
		      struct msnap_replay_rec *r);
void msnap_replay_rec_free(struct msnap_replay_rec *r);

/* alloc.c */
int msnap_alloc_init(struct msnap_sb_info *sbi);
void msnap_alloc_destroy(struct msnap_sb_info *sbi);
int msnap_alloc_load(struct super_block *sb, int copy);
int msnap_alloc_ref(struct super_block *sb, u64 block, const char *what,
		    u64 owner);
void msnap_alloc_loaded(struct msnap_sb_info *sbi);
int msnap_alloc_blocks(struct msnap_sb_info *sbi, u64 count, u64 *blocks,
		       bool reserve_ok);
int msnap_alloc_mark(struct msnap_sb_info *sbi, u64 block);
void msnap_alloc_unmark(struct msnap_sb_info *sbi, u64 block);
int msnap_release_ondisk(struct msnap_sb_info *sbi, u64 block);
int msnap_release_used(struct msnap_sb_info *sbi, u64 block);
int msnap_release_replaced(struct msnap_sb_info *sbi, u64 block, bool ondisk);
void msnap_release_pending(struct msnap_sb_info *sbi);
u64 msnap_free_blocks(struct msnap_sb_info *sbi);
u64 msnap_ondisk_free_blocks(struct msnap_sb_info *sbi);
u64 msnap_reserved_blocks(struct msnap_sb_info *sbi);
int msnap_write_bitmap(struct super_block *sb, int copy,
		       struct msnap_bh_batch *batch);

/* tree.c */
u64 msnap_tree_span(u32 level);
int msnap_tree_lookup(struct super_block *sb, u64 root, u32 height,
		      u64 owner, u64 key, u64 *val);
typedef int (*msnap_tree_fn)(struct super_block *sb, u64 key, u64 val,
			     void *arg);
int msnap_tree_walk(struct super_block *sb, u64 root, u32 height, u64 owner,
		    u64 start, msnap_tree_fn fn, msnap_tree_fn node_fn,
		    void *arg);
int msnap_tree_update_batch(struct super_block *sb, u64 owner, u64 *root,
			    u32 *height, seqcount_t *seq,
			    struct xarray *changes,
			    struct msnap_bh_batch *batch);

/* commit.c */
struct page *msnap_bounce_get(struct msnap_sb_info *sbi);
void msnap_bounce_pool_drain(struct msnap_sb_info *sbi);
struct msnap_commit *msnap_commit_alloc(struct msnap_sb_info *sbi);
void msnap_commit_free(struct msnap_commit *c);
void msnap_commit_submit(struct super_block *sb, struct msnap_commit *c);
int msnap_commit_wait(struct msnap_sb_info *sbi, u64 seq, bool intr);
void msnap_commit_drain(struct msnap_sb_info *sbi);
void msnap_reap_work(struct work_struct *work);

/* checkpoint.c */
int msnap_checkpoint(struct super_block *sb);
int msnap_super_put(struct msnap_sb_info *sbi, struct buffer_head *bh,
		    int slot);
int msnap_log_make_room(struct super_block *sb, unsigned int blocks);
u64 msnap_tree_need(u64 changed, u64 keys, u32 height);
u64 msnap_file_need(struct msnap_inode_info *mi, u64 pages, u64 keys);
void msnap_meta_update(struct inode *inode);
void msnap_mark_ckpt(struct inode *inode);
u64 msnap_meta_need(struct msnap_sb_info *sbi);
int msnap_meta_room(struct super_block *sb, u64 blocks, bool reserve);

/* nslog.c */
int msnap_nslog_add(struct msnap_sb_info *sbi, enum msnap_entry_type type,
		    struct inode *inode);
int msnap_nslog_add_data(struct msnap_sb_info *sbi, u64 ino, pgoff_t index,
			 u64 block, u32 crc);
int msnap_nslog_room(struct msnap_sb_info *sbi, bool reserve);
int msnap_nslog_drain(struct msnap_sb_info *sbi, struct msnap_record *rec);
int msnap_nslog_commit(struct super_block *sb);
int msnap_nslog_dirs(struct msnap_sb_info *sbi);

/* map.c */
int msnap_map_lookup(struct inode *inode, pgoff_t index, u64 *block);
int msnap_map_beyond(struct inode *inode, pgoff_t first);
int msnap_map_set(struct inode *inode, pgoff_t index, u64 block);
int msnap_map_truncate(struct inode *inode, pgoff_t first);
int msnap_map_release_all(struct inode *inode, bool ondisk);
int msnap_inode_unlinked(struct inode *inode);

/* persist.c */
int msnap_persist(struct super_block *sb, struct msnap_persist_req *req);
void msnap_abort(struct super_block *sb, struct msnap_persist_req *req);
int msnap_persist_inode(struct inode *inode);
int msnap_persist_file_data(struct super_block *sb);
int msnap_zero_persisted_tail(struct inode *inode, loff_t cut);

/* file.c */
extern const struct file_operations msnap_file_operations;
extern const struct file_operations msnap_dir_operations;
extern const struct vm_operations_struct msnap_vm_ops;
extern const struct address_space_operations msnap_aops;
void msnap_track_dirty(struct inode *inode, pgoff_t index, bool file);
int msnap_zero_tail(struct inode *inode, loff_t from);

/* inode.c */
extern const struct inode_operations msnap_dir_inode_operations;
extern const struct inode_operations msnap_file_inode_operations;
struct inode *msnap_iget(struct super_block *sb, u64 ino, u64 block);
struct inode *msnap_new_inode(struct super_block *sb, u64 ino, umode_t mode);
void msnap_unpin_all(struct super_block *sb);
int msnap_init_inode_cache(void);
void msnap_destroy_inode_cache(void);
struct inode *msnap_alloc_inode(struct super_block *sb);
void msnap_free_inode(struct inode *inode);
void msnap_evict_inode(struct inode *inode);

/* ioctl.c */
long msnap_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
int msnap_resolve(struct super_block *sb, u64 addr, u64 len,
		  struct msnap_target **t, unsigned int *nt);
void msnap_put_targets(struct msnap_target *t, unsigned int nt);

/* uring.c */
int msnap_uring_cmd(struct io_uring_cmd *ucmd, unsigned int issue_flags);

/* recovery.c */
int msnap_load(struct super_block *sb);

/* super.c */
extern struct file_system_type memsnap_fs_type;
void msnap_error_work(struct work_struct *work);

#endif /* _MEMSNAP_H */
