// SPDX-License-Identifier: GPL-2.0
/*
 * msnapfs: block IO, CRC32C, geometry, superblock validation and tree
 * walking for the memsnap user-space tools.  See docs/format.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <isa-l/crc.h>

#include "msnapfs.h"

_Static_assert(sizeof(struct msnap_super) == MSNAP_BLOCK_SIZE, "super");
_Static_assert(sizeof(struct msnap_node) == MSNAP_BLOCK_SIZE, "node");
_Static_assert(sizeof(struct msnap_inode) == MSNAP_BLOCK_SIZE, "inode");
_Static_assert(sizeof(struct msnap_bitmap) == MSNAP_BLOCK_SIZE, "bitmap");
_Static_assert(sizeof(struct msnap_log_block) == MSNAP_BLOCK_SIZE, "log");

const char *msnap_prog = "memsnap";

void msnap_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", msnap_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- device ---------------------------------------------------------- */

int msnap_dev_open(struct msnap_dev *dev, const char *path, int flags)
{
	struct stat st;
	uint64_t size;

	memset(dev, 0, sizeof(*dev));
	dev->path = path;
	dev->fd = open(path, flags | O_CLOEXEC);
	if (dev->fd < 0) {
		msnap_err("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(dev->fd, &st))
		goto err_errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(dev->fd, BLKGETSIZE64, &size))
			goto err_errno;
		dev->is_bdev = true;
		dev->rdev = st.st_rdev;
	} else if (S_ISREG(st.st_mode)) {
		size = st.st_size;
	} else {
		msnap_err("%s: not a block device or regular file", path);
		goto err_close;
	}
	dev->size = size;
	dev->blocks = size >> MSNAP_BLOCK_SHIFT;
	return 0;

err_errno:
	msnap_err("%s: %s", path, strerror(errno));
err_close:
	close(dev->fd);
	dev->fd = -1;
	return -1;
}

void msnap_dev_close(struct msnap_dev *dev)
{
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
}

/* ---- staging: writes held in memory until committed ------------------ */

struct msnap_stage {
	struct msnap_map	*idx;	/* block -> slot in blk[] */
	uint64_t		*blk;
	int			*phase;
	unsigned char		(*buf)[MSNAP_BLOCK_SIZE];
	size_t			n, cap;
};

/* True when the stage served the IO (a write always, a read if held). */
static bool stage_io(struct msnap_dev *dev, uint64_t blk, void *buf, bool wr)
{
	struct msnap_stage *st = dev->stage;
	uint64_t i;

	if (msnap_map_get(st->idx, blk, &i)) {
		if (wr) {
			memcpy(st->buf[i], buf, MSNAP_BLOCK_SIZE);
			st->phase[i] = dev->stage_phase;
		} else {
			memcpy(buf, st->buf[i], MSNAP_BLOCK_SIZE);
		}
		return true;
	}
	if (!wr)
		return false;
	if (st->n == st->cap) {
		st->cap = st->cap ? 2 * st->cap : 64;
		st->blk = msnap_realloc(st->blk, st->cap * sizeof(*st->blk));
		st->phase = msnap_realloc(st->phase,
					  st->cap * sizeof(*st->phase));
		st->buf = msnap_realloc(st->buf, st->cap * sizeof(*st->buf));
	}
	i = st->n++;
	st->blk[i] = blk;
	st->phase[i] = dev->stage_phase;
	memcpy(st->buf[i], buf, MSNAP_BLOCK_SIZE);
	msnap_map_put(st->idx, blk, i);
	return true;
}

void msnap_stage_begin(struct msnap_dev *dev)
{
	dev->stage = msnap_alloc(sizeof(*dev->stage));
	dev->stage->idx = msnap_map_new();
	dev->stage_phase = 0;
}

void msnap_stage_drop(struct msnap_dev *dev)
{
	struct msnap_stage *st = dev->stage;

	if (!st)
		return;
	msnap_map_free(st->idx);
	free(st->blk);
	free(st->phase);
	free(st->buf);
	free(st);
	dev->stage = NULL;
}

/*
 * Write what was staged, phase 0 first; each phase is durable (fsync)
 * before the next one is written.  The stage is dropped.
 */
int msnap_stage_commit(struct msnap_dev *dev)
{
	struct msnap_stage *st = dev->stage;
	int phase, last = 0, err = 0;
	size_t i;

	dev->stage = NULL;
	for (i = 0; i < st->n; i++)
		if (st->phase[i] > last)
			last = st->phase[i];
	for (phase = 0; phase <= last && !err; phase++) {
		for (i = 0; i < st->n && !err; i++)
			if (st->phase[i] == phase)
				err = msnap_write_block(dev, st->blk[i],
							st->buf[i]);
		if (!err && fsync(dev->fd)) {
			msnap_err("%s: fsync: %s", dev->path, strerror(errno));
			err = -1;
		}
	}
	dev->stage = st;
	msnap_stage_drop(dev);
	return err;
}

/*
 * Every block number reaching here may come from a corrupted structure:
 * refuse anything past the end of the device rather than read beyond it.
 */
static int dev_io(struct msnap_dev *dev, uint64_t blk, void *buf, bool wr)
{
	off_t off = (off_t)(blk << MSNAP_BLOCK_SHIFT);
	ssize_t n;

	if (blk >= dev->blocks) {
		msnap_err("%s: block %llu is beyond the end of the device",
			  dev->path, (unsigned long long)blk);
		return -1;
	}
	if (dev->stage && stage_io(dev, blk, buf, wr))
		return 0;
	if (wr)
		n = pwrite(dev->fd, buf, MSNAP_BLOCK_SIZE, off);
	else
		n = pread(dev->fd, buf, MSNAP_BLOCK_SIZE, off);
	if (n == MSNAP_BLOCK_SIZE)
		return 0;
	msnap_err("%s: cannot %s block %llu: %s", dev->path,
		  wr ? "write" : "read", (unsigned long long)blk,
		  n < 0 ? strerror(errno) : "short transfer");
	return -1;
}

int msnap_read_block(struct msnap_dev *dev, uint64_t blk, void *buf)
{
	return dev_io(dev, blk, buf, false);
}

int msnap_write_block(struct msnap_dev *dev, uint64_t blk, const void *buf)
{
	return dev_io(dev, blk, (void *)buf, true);
}

/* ---- CRC32C ---------------------------------------------------------- */

/*
 * isa-l's crc32_iscsi() neither inverts the seed nor the result: seeding
 * with ~0 and inverting gives the standard CRC32C ("123456789" ->
 * 0xe3069283), the one the kernel's crc32c() ^ ~0 produces.
 */
uint32_t msnap_crc32c(const void *buf, size_t len)
{
	return ~crc32_iscsi((unsigned char *)buf, (int)len, ~0U);
}

uint32_t msnap_block_crc(const void *block, size_t crc_off)
{
	static unsigned char zero[4];
	const unsigned char *b = block;
	uint32_t c;

	c = crc32_iscsi((unsigned char *)b, (int)crc_off, ~0U);
	c = crc32_iscsi(zero, 4, c);
	c = crc32_iscsi((unsigned char *)b + crc_off + 4,
			(int)(MSNAP_BLOCK_SIZE - crc_off - 4), c);
	return ~c;
}

void msnap_block_set_crc(void *block, size_t crc_off)
{
	uint32_t crc = htole32(msnap_block_crc(block, crc_off));

	memcpy((char *)block + crc_off, &crc, 4);
}

bool msnap_block_crc_ok(const void *block, size_t crc_off)
{
	uint32_t crc;

	memcpy(&crc, (const char *)block + crc_off, 4);
	return le32(crc) == msnap_block_crc(block, crc_off);
}

bool msnap_all_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len--)
		if (*p++)
			return false;
	return true;
}

/* ---- geometry -------------------------------------------------------- */

/*
 * The layout follows from blocks, log_start and log_blocks alone: both
 * mkfs (to build it) and validation (to recompute it) come here.  The
 * order of the checks keeps every sum below from overflowing.
 */
int msnap_geometry(uint64_t blocks, uint64_t log_start, uint64_t log_blocks,
		   struct msnap_geom *g)
{
	uint64_t rest;

	if (log_start != 2 || log_start >= blocks || log_blocks < 4 ||
	    log_blocks >= blocks - log_start)
		return -1;
	g->blocks = blocks;
	g->log_start = log_start;
	g->log_blocks = log_blocks;
	g->bitmap_start = log_start + log_blocks;
	rest = blocks - g->bitmap_start;
	g->bitmap_blocks = rest / MSNAP_BITMAP_BITS +
			   !!(rest % MSNAP_BITMAP_BITS);
	if (2 * g->bitmap_blocks >= rest)
		return -1;
	g->data_start = g->bitmap_start + 2 * g->bitmap_blocks;
	return 0;
}

/* ---- superblock ------------------------------------------------------ */

static int why_fail(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

#define ULL(x)	((unsigned long long)(x))

static int super_check_header(const struct msnap_super *sb, char *why,
			      size_t len)
{
	if (le64(sb->magic) != MSNAP_SB_MAGIC)
		return why_fail(why, len, "bad magic");
	if (!msnap_block_crc_ok(sb, offsetof(struct msnap_super, crc)))
		return why_fail(why, len, "bad CRC");
	if (le32(sb->version) == 1)
		return why_fail(why, len, "format version 1, which this fsck no longer reads (copy the files elsewhere and re-create the filesystem with mkfs.memsnap)");
	if (le32(sb->version) != MSNAP_VERSION)
		return why_fail(why, len, "unsupported version %u",
				le32(sb->version));
	if (le32(sb->block_size) != MSNAP_BLOCK_SIZE)
		return why_fail(why, len, "unsupported block size %u",
				le32(sb->block_size));
	if (le64(sb->incompat) & ~MSNAP_FEATURE_INCOMPAT_SUPP)
		return why_fail(why, len, "unknown incompat features 0x%llx",
				ULL(le64(sb->incompat)));
	if (le64(sb->ro_compat) & ~MSNAP_FEATURE_RO_COMPAT_SUPP)
		return why_fail(why, len, "unknown ro_compat features 0x%llx",
				ULL(le64(sb->ro_compat)));
	if (le64(sb->compat) & ~MSNAP_FEATURE_COMPAT_SUPP)
		return why_fail(why, len, "unknown compat features 0x%llx",
				ULL(le64(sb->compat)));
	if (!(le64(sb->incompat) & MSNAP_FEATURE_INCOMPAT_LOG_NONCE) ||
	    !sb->log_nonce)
		return why_fail(why, len, "no log nonce");
	if (!msnap_all_zero(sb->reserved, sizeof(sb->reserved)) ||
	    sb->reserved32)
		return why_fail(why, len, "reserved bytes not zero");
	if (!memchr(sb->label, 0, sizeof(sb->label)))
		return why_fail(why, len, "label not NUL-terminated");
	if (le32(sb->state) & ~(MSNAP_SB_CLEAN | MSNAP_SB_ERROR))
		return why_fail(why, len, "unknown state bits 0x%x",
				le32(sb->state));
	return 0;
}

static int super_check_geometry(const struct msnap_super *sb,
				uint64_t dev_blocks, char *why, size_t len)
{
	struct msnap_geom g;
	uint64_t blocks = le64(sb->blocks);

	if (blocks > dev_blocks)
		return why_fail(why, len,
				"%llu blocks, more than the device's %llu",
				ULL(blocks), ULL(dev_blocks));
	if (msnap_geometry(blocks, le64(sb->log_start), le64(sb->log_blocks),
			   &g))
		return why_fail(why, len,
				"impossible log (start %llu, %llu blocks)",
				ULL(le64(sb->log_start)),
				ULL(le64(sb->log_blocks)));
	if (le64(sb->bitmap_start) != g.bitmap_start ||
	    le64(sb->bitmap_blocks) != g.bitmap_blocks ||
	    le64(sb->data_start) != g.data_start)
		return why_fail(why, len,
				"bitmap at %llu+%llu, data at %llu; expected %llu+%llu, %llu",
				ULL(le64(sb->bitmap_start)),
				ULL(le64(sb->bitmap_blocks)),
				ULL(le64(sb->data_start)), ULL(g.bitmap_start),
				ULL(g.bitmap_blocks), ULL(g.data_start));
	return 0;
}

static int super_check_ckpt(const struct msnap_super *sb, char *why,
			    size_t len)
{
	uint64_t root = le64(sb->inode_root);
	uint32_t height = le32(sb->inode_height);

	if (le64(sb->log_head) >= le64(sb->log_blocks))
		return why_fail(why, len, "log_head %llu outside the log",
				ULL(le64(sb->log_head)));
	if (le32(sb->bitmap_copy) > 1)
		return why_fail(why, len, "bitmap_copy %u",
				le32(sb->bitmap_copy));
	/* Inode numbers are inode tree keys, which end at 504^7 (as the kernel). */
	if (le64(sb->next_ino) < MSNAP_FIRST_INO ||
	    le64(sb->next_ino) > msnap_tree_span(MSNAP_TREE_MAX_HEIGHT))
		return why_fail(why, len, "next_ino %llu out of range",
				ULL(le64(sb->next_ino)));
	if (!root && !height)
		return 0;
	if (root < le64(sb->data_start) || root >= le64(sb->blocks))
		return why_fail(why, len,
				"inode tree root %llu outside the data area",
				ULL(root));
	if (height < 1 || height > MSNAP_TREE_MAX_HEIGHT)
		return why_fail(why, len, "inode tree height %u", height);
	return 0;
}

/*
 * An intact superblock of format version 1 (magic and CRC good): such an
 * image is not damaged, only too old, and is told apart from damage.
 */
bool msnap_super_is_v1(const struct msnap_super *sb)
{
	return le64(sb->magic) == MSNAP_SB_MAGIC &&
	       msnap_block_crc_ok(sb, offsetof(struct msnap_super, crc)) &&
	       le32(sb->version) == 1;
}

/*
 * Whether a superblock may be used, as a mount decides it.  On failure,
 * why says what was wrong, for one line of output.
 */
int msnap_super_check(const struct msnap_super *sb, uint64_t dev_blocks,
		      char *why, size_t len)
{
	if (super_check_header(sb, why, len) ||
	    super_check_geometry(sb, dev_blocks, why, len) ||
	    super_check_ckpt(sb, why, len))
		return -1;
	return 0;
}

/* ---- the filesystem being checked ------------------------------------ */

static void problem(struct msnap_fs *fs, const char *fmt, va_list ap)
{
	fs->problems++;
	if (fs->quiet)
		return;
	printf("%s: ", msnap_prog);
	vprintf(fmt, ap);
	putchar('\n');
}

void msnap_problem(struct msnap_fs *fs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	problem(fs, fmt, ap);
	va_end(ap);
}

void msnap_problem_safe(struct msnap_fs *fs, const char *fmt, ...)
{
	va_list ap;

	fs->safe++;
	va_start(ap, fmt);
	problem(fs, fmt, ap);
	va_end(ap);
}

int msnap_fs_read(struct msnap_fs *fs, uint64_t blk, void *buf)
{
	if (msnap_read_block(&fs->dev, blk, buf)) {
		fs->io_error = true;
		return -1;
	}
	return 0;
}

bool msnap_in_data(const struct msnap_fs *fs, uint64_t blk)
{
	return blk >= fs->g.data_start && blk < fs->g.blocks;
}

bool msnap_bitmap_test(const struct msnap_fs *fs, uint64_t blk)
{
	uint64_t b = blk - fs->g.data_start;

	return fs->bitmap[b >> 3] & (1U << (b & 7));
}

/* False when blk's bitmap block was unusable, so its bit means nothing. */
bool msnap_bitmap_known(const struct msnap_fs *fs, uint64_t blk)
{
	return !fs->bitmap_bad[(blk - fs->g.data_start) / MSNAP_BITMAP_BITS];
}

/* ---- trees ----------------------------------------------------------- */

/* Keys covered by one slot of a level-L node: 504^L. */
uint64_t msnap_tree_span(uint32_t level)
{
	uint64_t span = 1;

	while (level--)
		span *= MSNAP_NODE_SLOTS;
	return span;
}

static const char *node_bad(const struct msnap_fs *fs,
			    const struct msnap_node *n, uint64_t owner,
			    uint32_t level, uint64_t first, char *buf,
			    size_t len)
{
	unsigned int s, used = 0;

	if (le32(n->magic) != MSNAP_NODE_MAGIC)
		return "bad magic";
	if (!msnap_block_crc_ok(n, offsetof(struct msnap_node, crc)))
		return "bad CRC";
	for (s = 0; s < MSNAP_NODE_SLOTS; s++)
		used += !!n->slot[s];
	if (le64(n->owner) != owner)
		snprintf(buf, len, "owner %llu, expected %llu",
			 ULL(le64(n->owner)), ULL(owner));
	else if (le32(n->level) != level)
		snprintf(buf, len, "level %u, expected %u", le32(n->level),
			 level);
	else if (le64(n->first_key) != first)
		snprintf(buf, len, "first key %llu, expected %llu",
			 ULL(le64(n->first_key)), ULL(first));
	else if (le64(n->generation) > le64(fs->sb.generation))
		snprintf(buf, len, "generation %llu newer than the superblock's",
			 ULL(le64(n->generation)));
	else if (!msnap_all_zero(n->reserved, sizeof(n->reserved)))
		snprintf(buf, len, "reserved bytes not zero");
	else if (!used)
		snprintf(buf, len, "no slot set");
	else if (le32(n->used) != used)
		snprintf(buf, len, "used %u, but %u slots are set",
			 le32(n->used), used);
	else
		return NULL;
	return buf;
}

static void walk_node(struct msnap_fs *fs, const struct msnap_walk *w,
		      uint64_t blk, uint32_t level, uint64_t first)
{
	struct msnap_node n;
	uint64_t span = msnap_tree_span(level), v;
	const char *bad;
	char buf[96];
	unsigned int s;

	if (w->node && !w->node(fs, w->ctx, blk, w->what))
		return;
	if (msnap_fs_read(fs, blk, &n))
		return;
	bad = node_bad(fs, &n, w->owner, level, first, buf, sizeof(buf));
	if (bad) {
		msnap_problem(fs, "%s node at block %llu: %s", w->what,
			      ULL(blk), bad);
		return;
	}
	for (s = 0; s < MSNAP_NODE_SLOTS; s++) {
		v = le64(n.slot[s]);
		if (!v)
			continue;
		if (!msnap_in_data(fs, v))
			msnap_problem(fs, "%s node at block %llu: slot %u points outside the data area (block %llu)",
				      w->what, ULL(blk), s, ULL(v));
		else if (level)
			walk_node(fs, w, v, level - 1, first + s * span);
		else
			w->leaf(fs, w->ctx, first + s, v);
	}
}

/*
 * Visit a tree of the checkpoint, validating every node on the way;
 * problems are reported and the bad subtree is skipped.
 */
void msnap_tree_walk(struct msnap_fs *fs, const struct msnap_walk *w,
		     uint64_t root, uint32_t height)
{
	if (!root)
		return;
	if (!msnap_in_data(fs, root)) {
		msnap_problem(fs, "%s: root %llu outside the data area",
			      w->what, ULL(root));
		return;
	}
	walk_node(fs, w, root, height - 1, 0);
}

static bool any_node(struct msnap_fs *fs, uint64_t blk, uint32_t level,
		     uint64_t first, uint64_t lo, uint64_t hi)
{
	uint64_t span = msnap_tree_span(level), key;
	struct msnap_node n;
	unsigned int s;

	if (!msnap_in_data(fs, blk) || msnap_read_block(&fs->dev, blk, &n) ||
	    le32(n.magic) != MSNAP_NODE_MAGIC || le32(n.level) != level ||
	    !msnap_block_crc_ok(&n, offsetof(struct msnap_node, crc)))
		return false;
	s = lo > first ? (lo - first) / span : 0;
	for (; s < MSNAP_NODE_SLOTS; s++) {
		key = first + s * span;
		if (key >= hi)
			break;
		if (!n.slot[s])
			continue;
		if (!level || any_node(fs, le64(n.slot[s]), level - 1, key,
				       lo, hi))
			return true;
	}
	return false;
}

/*
 * Whether a checkpoint tree maps any key in [lo, hi).  Quiet: the tree
 * was validated (and its problems reported) when the checkpoint was
 * loaded; a bad node here simply counts as holding nothing.
 */
bool msnap_tree_any(struct msnap_fs *fs, uint64_t root, uint32_t height,
		    uint64_t lo, uint64_t hi)
{
	if (!root || !height || height > MSNAP_TREE_MAX_HEIGHT || lo >= hi)
		return false;
	return any_node(fs, root, height - 1, 0, lo, hi);
}

/* ---- inodes ---------------------------------------------------------- */

const char *msnap_type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "regular file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	}
	return "unknown type";
}

/* The types a size rule applies to; see "Feature DIRS" in docs/format.md. */
static const char *size_bad(uint32_t type, uint64_t size)
{
	switch (type) {
	case S_IFREG:
		return size > MSNAP_MAX_FILE_SIZE ? "size too large" : NULL;
	case S_IFLNK:
		return size > MSNAP_SYMLINK_MAX ? "symlink size too large" :
						  NULL;
	case S_IFDIR:
		return size ? "directory with a size" : NULL;
	}
	return size ? "special file with a size" : NULL;
}

/*
 * The attributes an inode block and a log INODE entry share, checked
 * alike: a reason, or NULL when they are fine.  Without DIRS every inode
 * but the root is a regular file; with it, any type of the feature (a
 * link inode has no type, and is checked by its callers).
 */
const char *msnap_attrs_bad(bool dirs, const struct msnap_iattr *ia)
{
	uint32_t type = ia->mode & S_IFMT;

	if (ia->mode & ~(S_IFMT | MSNAP_MODE_PERM))
		return "mode has unknown bits";
	if (ia->ino == MSNAP_ROOT_INO && type != S_IFDIR)
		return "mode is not a directory's";
	if (!dirs && ia->ino != MSNAP_ROOT_INO && type != S_IFREG)
		return "mode is not a regular file's";
	if (!strcmp(msnap_type_name(type), "unknown type"))
		return "unknown file type";
	if (type == S_IFLNK && (ia->mode & MSNAP_MODE_PERM) != 0777)
		return "symlink permissions are not 0777";
	if (ia->flags & ~MSNAP_INODE_HAS_ADDR)
		return "unknown flags";
	if (size_bad(type, ia->size))
		return size_bad(type, ia->size);
	if (ia->atime_nsec >= 1000000000 || ia->mtime_nsec >= 1000000000 ||
	    ia->ctime_nsec >= 1000000000)
		return "nanoseconds out of range";
	if (ia->rdev && type != S_IFCHR && type != S_IFBLK)
		return "rdev set on an inode that is not a device";
	return NULL;
}

/* A symlink target: 1..MSNAP_SYMLINK_MAX bytes, no NUL. */
bool msnap_symlink_ok(const char *target, uint32_t len)
{
	return len >= 1 && len <= MSNAP_SYMLINK_MAX && !memchr(target, 0, len);
}

/* ---- names ----------------------------------------------------------- */

/* A name in a directory: 1..255 bytes, no '/', no NUL, not . or .. */
bool msnap_name_ok(const char *name, uint32_t len)
{
	if (len < 1 || len > MSNAP_NAME_MAX)
		return false;
	if (memchr(name, '/', len) || memchr(name, 0, len))
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}
