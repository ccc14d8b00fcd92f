/* SPDX-License-Identifier: GPL-2.0 */
/*
 * msnapfs: the user-space reader of the memsnap on-disk format, shared by
 * mkfs.memsnap and fsck.memsnap (the kernel has its own).  docs/format.md
 * is the specification this code implements.
 *
 * Block IO on a device or image file, CRC32C, geometry, superblock and
 * metadata block validation, tree walking, and the in-memory model that
 * a checkpoint is loaded into and the log is replayed onto.
 */
#ifndef MSNAPFS_H
#define MSNAPFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <endian.h>

#include <linux/memsnap.h>

#define MSNAP_MIN_DEVICE	(4ULL << 20)	/* mkfs refuses less */
#define MSNAP_MIN_LOG		(256ULL << 10)
#define MSNAP_DEF_LOG_MIN	(1ULL << 20)
#define MSNAP_DEF_LOG_MAX	(64ULL << 20)
#define MSNAP_MAX_FILE_SIZE	(16ULL << 40)	/* largest size fsck accepts */
#define MSNAP_MODE_PERM		07777U

/* le*_to_cpu in the kernel's spelling, for code that reads like it. */
#define le16(x)	le16toh(x)
#define le32(x)	le32toh(x)
#define le64(x)	le64toh(x)

extern const char *msnap_prog;	/* "mkfs.memsnap", for messages */

void msnap_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *msnap_alloc(size_t size);	/* zeroed; exits on failure */
void *msnap_realloc(void *p, size_t size);

/* ---- device ---------------------------------------------------------- */

struct msnap_stage;

struct msnap_dev {
	int		fd;
	const char	*path;
	uint64_t	size;		/* bytes */
	uint64_t	blocks;		/* whole 4 KiB blocks */
	bool		is_bdev;
	dev_t		rdev;		/* for a block device */
	/*
	 * While staging (fsck's repair), writes go to memory, tagged with
	 * stage_phase, and reads see them; msnap_stage_commit() writes the
	 * phases in order, each made durable before the next starts.
	 */
	struct msnap_stage *stage;
	int		stage_phase;
};

int msnap_dev_open(struct msnap_dev *dev, const char *path, int flags);
void msnap_dev_close(struct msnap_dev *dev);
int msnap_read_block(struct msnap_dev *dev, uint64_t blk, void *buf);
int msnap_write_block(struct msnap_dev *dev, uint64_t blk, const void *buf);
void msnap_stage_begin(struct msnap_dev *dev);
void msnap_stage_drop(struct msnap_dev *dev);
int msnap_stage_commit(struct msnap_dev *dev);

/* ---- CRC32C ---------------------------------------------------------- */

uint32_t msnap_crc32c(const void *buf, size_t len);
/* crc_off: offset of the block's __le32 crc field (8 in the superblock). */
uint32_t msnap_block_crc(const void *block, size_t crc_off);
void msnap_block_set_crc(void *block, size_t crc_off);
bool msnap_block_crc_ok(const void *block, size_t crc_off);
bool msnap_all_zero(const void *buf, size_t len);

/* ---- geometry -------------------------------------------------------- */

struct msnap_geom {
	uint64_t	blocks;
	uint64_t	log_start;
	uint64_t	log_blocks;
	uint64_t	bitmap_start;
	uint64_t	bitmap_blocks;
	uint64_t	data_start;
};

int msnap_geometry(uint64_t blocks, uint64_t log_start, uint64_t log_blocks,
		   struct msnap_geom *g);

/* ---- superblock ------------------------------------------------------ */

int msnap_super_check(const struct msnap_super *sb, uint64_t dev_blocks,
		      char *why, size_t len);
bool msnap_super_is_v1(const struct msnap_super *sb);

/* ---- the filesystem being checked ------------------------------------ */

struct msnap_map;
struct msnap_names;
struct msnap_file;

struct msnap_fs {
	struct msnap_dev	dev;
	struct msnap_super	sb;		/* the one in use */
	struct msnap_geom	g;
	uint64_t		nr_data;	/* blocks in the data area */
	uint8_t			*bitmap;	/* checkpoint bitmap, 1 bit/block */
	uint8_t			*bitmap_bad;	/* per bitmap block: unreadable */
	unsigned long		problems;	/* invariants found broken */
	unsigned long		safe;		/* of them, fixable by -p */
	bool			io_error;	/* a read failed */
	bool			verbose;
	bool			quiet;		/* count problems, print none */
	/* Replay at most replay_limit records when limit_replay. */
	bool			limit_replay;
	uint64_t		replay_limit;
	bool			log_corrupt;	/* an intact record broke a rule */
	bool			dirs;		/* INCOMPAT_DIRS (msnap_model_init) */
	const uint8_t		*ckpt_refs;	/* fsck: blocks the ckpt uses */
	/* The model: checkpoint state with the log replayed onto it. */
	struct msnap_map	*files;		/* ino -> struct msnap_file * */
	struct msnap_names	*names;		/* name -> files bearing it */
	struct msnap_map	*replay_used;	/* blocks the log has taken */
	struct msnap_map	*replay_unlinked; /* inodes the log unlinked */
	uint64_t		next_ino;
	uint64_t		nr_files;	/* root excluded */
	uint64_t		records;	/* log records replayed */
	uint64_t		log_blocks_used;
	char			log_end[128];	/* why the replay stopped */
};

void msnap_problem(struct msnap_fs *fs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A problem a repair fixes without losing anything (fsck -p). */
void msnap_problem_safe(struct msnap_fs *fs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int msnap_fs_read(struct msnap_fs *fs, uint64_t blk, void *buf);
bool msnap_in_data(const struct msnap_fs *fs, uint64_t blk);
bool msnap_bitmap_test(const struct msnap_fs *fs, uint64_t blk);
bool msnap_bitmap_known(const struct msnap_fs *fs, uint64_t blk);

/* ---- trees ----------------------------------------------------------- */

/*
 * Called for each non-zero leaf slot.  Returning false stops the walk
 * below the current leaf (used when a value is rejected).
 */
typedef void (*msnap_leaf_fn)(struct msnap_fs *fs, void *ctx,
			      uint64_t key, uint64_t value);
/*
 * Called for each node block before it is read; false means "do not
 * descend" (fsck: the block is outside the data area or seen already).
 */
typedef bool (*msnap_node_fn)(struct msnap_fs *fs, void *ctx,
			      uint64_t blk, const char *what);

struct msnap_walk {
	uint64_t	owner;		/* 0: inode tree, else the ino */
	const char	*what;		/* "inode tree" or "inode 12: page map" */
	msnap_node_fn	node;
	msnap_leaf_fn	leaf;
	void		*ctx;
};

uint64_t msnap_tree_span(uint32_t level);
void msnap_tree_walk(struct msnap_fs *fs, const struct msnap_walk *w,
		     uint64_t root, uint32_t height);
bool msnap_tree_any(struct msnap_fs *fs, uint64_t root, uint32_t height,
		    uint64_t lo, uint64_t hi);

/* ---- inodes ---------------------------------------------------------- */

/* The attributes an inode block and an INODE entry share. */
struct msnap_iattr {
	uint64_t		ino;
	uint32_t		mode, flags, rdev;
	uint64_t		size;
	uint32_t		atime_nsec, mtime_nsec, ctime_nsec;
};

const char *msnap_attrs_bad(bool dirs, const struct msnap_iattr *ia);
bool msnap_name_ok(const char *name, uint32_t len);
bool msnap_symlink_ok(const char *target, uint32_t len);
const char *msnap_type_name(uint32_t mode);

/* One file of the model; the page map is the checkpoint tree (keys below
 * cutoff) overlaid by the pages the log mapped since. */
struct msnap_attrs {
	uint32_t		uid, gid, flags;
	uint64_t		atime_sec, mtime_sec, ctime_sec;
	uint32_t		atime_nsec, mtime_nsec, ctime_nsec;
	uint64_t		preferred_addr;
};

struct msnap_file {
	uint64_t		ino;
	uint32_t		mode;
	uint64_t		size;
	struct msnap_attrs	a;		/* the rest of the attributes */
	char			*name;		/* NULL: none yet */
	uint64_t		parent;		/* of the name; 0 with no name */
	uint64_t		link_target;	/* MSNAP_INODE_LINK: the file */
	uint32_t		rdev;		/* S_IFCHR, S_IFBLK */
	uint32_t		symlink_len;	/* S_IFLNK: 0 until it has one */
	char			*symlink;
	uint64_t		map_root;
	uint32_t		map_height;
	uint64_t		cutoff;		/* tree keys >= this are gone */
	struct msnap_map	*overlay;	/* index -> block, 0 unmapped */
	uint64_t		ov_max;		/* >= every overlay index mapped */
	bool			ov_any;
	uint64_t		touched;	/* seq of the last record */
};

/* u64 -> u64 hash map; a missing key reads as absent, not as 0. */
struct msnap_map *msnap_map_new(void);
void msnap_map_free(struct msnap_map *m);
bool msnap_map_get(const struct msnap_map *m, uint64_t key, uint64_t *val);
void msnap_map_put(struct msnap_map *m, uint64_t key, uint64_t val);
size_t msnap_map_slots(const struct msnap_map *m);
bool msnap_map_at(const struct msnap_map *m, size_t i, uint64_t *key,
		  uint64_t **val);

void msnap_model_init(struct msnap_fs *fs);
void msnap_model_free(struct msnap_fs *fs);
struct msnap_file *msnap_file_get(struct msnap_fs *fs, uint64_t ino);
struct msnap_file *msnap_file_add(struct msnap_fs *fs, uint64_t ino,
				  uint32_t mode, uint64_t size);
void msnap_file_del(struct msnap_fs *fs, struct msnap_file *f);
void msnap_file_set_name(struct msnap_fs *fs, struct msnap_file *f,
			 uint64_t parent, const char *name, uint32_t len);
void msnap_file_set_symlink(struct msnap_file *f, const char *target,
			    uint32_t len);
uint64_t msnap_name_users(struct msnap_fs *fs, uint64_t parent,
			  const char *name);
void msnap_names_report(struct msnap_fs *fs);
/* After the last record: parents, parent chains, link targets. */
void msnap_namespace_check(struct msnap_fs *fs);
unsigned long msnap_namespace_fix(struct msnap_fs *fs);
bool msnap_file_is_link(const struct msnap_file *f);
bool msnap_file_is_dir(const struct msnap_file *f);
void msnap_file_map(struct msnap_file *f, uint64_t index, uint64_t blk);
void msnap_file_truncate(struct msnap_file *f, uint64_t first);
bool msnap_file_beyond(struct msnap_fs *fs, struct msnap_file *f,
		       uint64_t npages);

/* ---- log ------------------------------------------------------------- */

int msnap_log_replay(struct msnap_fs *fs);

#endif /* MSNAPFS_H */
