// SPDX-License-Identifier: GPL-2.0
/*
 * fsck.memsnap: offline check and repair of a memsnap filesystem.
 *
 *   fsck.memsnap [-n|-p|-y] [-v] DEVICE|IMAGE
 *
 * Loads the checkpoint of the newest valid superblock, validates every
 * structure it reaches, checks that the allocation bitmap and the blocks
 * the trees reference agree exactly, then replays the log as a mount
 * would.  The invariants are listed in docs/format.md ("What fsck
 * checks").  -n (the default) writes nothing; -p and -y write the model
 * it built as a new checkpoint, copy-on-write (see "repair" below and
 * "Repair" in docs/format.md).  Each problem is reported as safe (-p
 * repairs it without losing anything) or not (only -y, which drops what
 * cannot be read).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "msnapfs.h"

#define FSCK_VERSION	"0.1.0"

/* fsck(8) exit status bits. */
#define FSCK_OK		0
#define FSCK_CORRECTED	1
#define FSCK_UNCORRECTED 4
#define FSCK_ERROR	8
#define FSCK_USAGE	16

#define ULL(x)		((unsigned long long)(x))
#define MAX_BLOCK_LINES	20	/* per kind of bitmap disagreement */

struct fsck {
	struct msnap_fs	fs;		/* first: walk callbacks get &fs */
	uint8_t		*refs;		/* 1 bit per data block */
	uint64_t	nr_refs;
	int		sb_index;	/* 0: A, 1: B */
};

struct file_walk {
	struct fsck	*c;
	uint64_t	ino;
	uint64_t	npages;		/* pages the size covers */
	uint64_t	mapped;
};

static struct fsck *to_fsck(struct msnap_fs *fs)
{
	return (struct fsck *)fs;
}

enum mode { CHECK, PREEN, YES };

static void __attribute__((noreturn)) usage(FILE *f, int status)
{
	fprintf(f, "usage: fsck.memsnap [-n|-p|-y] [-v] DEVICE|IMAGE\n"
		"  -n        check only, make no change (the default)\n"
		"  -p, -a    repair what needs no decision: replay the log into a\n"
		"            new checkpoint, fix counters and the bitmap, free leaked\n"
		"            blocks, cut a bad log tail, clear a recorded error\n"
		"  -y        repair everything it can, dropping what cannot be read\n"
		"  -f        accepted; the check is always complete\n"
		"  -v        print a summary\n"
		"  -V, --version  print the version and exit\n"
		"  -h, --help     print this and exit\n");
	exit(status);
}

static const char *parse_args(int argc, char **argv, bool *verbose,
			      enum mode *mode)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, modes = 0;

	while ((c = getopt_long(argc, argv, "nvyfpaVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			*mode = CHECK;
			modes |= 1;
			break;
		case 'f':
			break;
		case 'y':
			*mode = YES;
			modes |= 2;
			break;
		case 'p':
		case 'a':
			*mode = PREEN;
			modes |= 4;
			break;
		case 'v':
			*verbose = true;
			break;
		case 'V':
			printf("fsck.memsnap %s\n", FSCK_VERSION);
			exit(FSCK_OK);
		case 'h':
			usage(stdout, FSCK_OK);
		default:
			usage(stderr, FSCK_USAGE);
		}
	}
	if (modes & (modes - 1)) {
		msnap_err("only one of -n, -p (-a) and -y may be given");
		usage(stderr, FSCK_USAGE);
	}
	if (optind != argc - 1)
		usage(stderr, FSCK_USAGE);
	return argv[optind];
}

/* ---- superblocks ----------------------------------------------------- */

/*
 * Both superblocks valid is the normal state; they describe the same
 * filesystem, one checkpoint apart, each naming the bitmap copy the
 * other does not.
 */
static void super_pair_check(struct msnap_fs *fs, const struct msnap_super *n,
			     const struct msnap_super *o, char old)
{
	if (memcmp(n->uuid, o->uuid, sizeof(n->uuid)) ||
	    n->blocks != o->blocks || n->log_start != o->log_start ||
	    n->log_blocks != o->log_blocks)
		msnap_problem_safe(fs, "superblock %c: uuid or geometry differs from the newer superblock",
				   old);
	else if (n->generation == o->generation)
		msnap_problem_safe(fs, "superblocks A and B both have generation %llu",
				   ULL(le64(n->generation)));
	else if (n->bitmap_copy == o->bitmap_copy)
		msnap_problem_safe(fs, "superblocks A and B both use bitmap copy %u",
				   le32(n->bitmap_copy));
}

static int load_super(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	struct msnap_super sb[2];
	char why[2][160];
	bool ok[2];
	int i, cur;

	if (fs->dev.blocks < 2) {
		msnap_problem(fs, "device too small for a memsnap filesystem (%llu bytes)",
			      ULL(fs->dev.size));
		return -1;
	}
	for (i = 0; i < 2; i++) {
		if (msnap_fs_read(fs, i, &sb[i]))
			return -1;
		ok[i] = !msnap_super_check(&sb[i], fs->dev.blocks, why[i],
					   sizeof(why[i]));
	}
	if (!ok[0] && !ok[1]) {
		if (msnap_super_is_v1(&sb[0]) || msnap_super_is_v1(&sb[1]))
			return -2;
		for (i = 0; i < 2; i++)
			msnap_problem(fs, "superblock %c (block %d): %s",
				      'A' + i, i, why[i]);
		return -1;
	}
	for (i = 0; i < 2; i++)
		if (!ok[i])
			msnap_problem_safe(fs, "superblock %c (block %d): %s",
					   'A' + i, i, why[i]);
	cur = !ok[0] || (ok[1] &&
			 le64(sb[1].generation) > le64(sb[0].generation));
	if (ok[0] && ok[1])
		super_pair_check(fs, &sb[cur], &sb[!cur], 'A' + !cur);
	c->sb_index = cur;
	fs->sb = sb[cur];
	msnap_geometry(le64(fs->sb.blocks), le64(fs->sb.log_start),
		       le64(fs->sb.log_blocks), &fs->g);
	fs->nr_data = fs->g.blocks - fs->g.data_start;
	return 0;
}

/*
 * The kernel records the first error it meets (MSNAP_SB_ERROR, with the
 * errno and the time) and asks for fsck: a problem, until a repair clears
 * it.
 */
static void check_error_state(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	uint32_t code = le32(fs->sb.error_code);
	time_t t = (time_t)le64(fs->sb.error_time);
	char when[64] = "an unknown time";
	struct tm tm;

	if (!(le32(fs->sb.state) & MSNAP_SB_ERROR))
		return;
	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	msnap_problem_safe(fs, "superblock %c: error state recorded: error %u (%s) at %s",
			   'A' + c->sb_index, code,
			   code ? strerror((int)code) : "no code", when);
}

/* ---- bitmap ---------------------------------------------------------- */

static const char *bitmap_bad(struct msnap_fs *fs,
			      const struct msnap_bitmap *bm, uint64_t i,
			      bool current)
{
	uint64_t first = i * MSNAP_BITMAP_BITS, b;

	if (le32(bm->magic) != MSNAP_BITMAP_MAGIC)
		return "bad magic";
	if (!msnap_block_crc_ok(bm, offsetof(struct msnap_bitmap, crc)))
		return "bad CRC";
	if (le64(bm->index) != i)
		return "wrong index";
	if (!current)
		return NULL;	/* may be stale: only its framing matters */
	if (le64(bm->generation) > le64(fs->sb.generation))
		return "generation newer than the superblock's";
	if (!msnap_all_zero(bm->reserved, sizeof(bm->reserved)))
		return "reserved bytes not zero";
	for (b = fs->nr_data > first ? fs->nr_data - first : 0;
	     b < MSNAP_BITMAP_BITS; b++)
		if (bm->bits[b >> 3] & (1U << (b & 7)))
			return "bits set past the end of the device";
	return NULL;
}

static void load_bitmap_copy(struct msnap_fs *fs, uint32_t copy, bool current)
{
	uint64_t start = fs->g.bitmap_start + copy * fs->g.bitmap_blocks, i;
	const size_t bytes = MSNAP_BITMAP_BITS / 8;
	struct msnap_bitmap bm;
	const char *bad;

	for (i = 0; i < fs->g.bitmap_blocks; i++) {
		if (msnap_fs_read(fs, start + i, &bm))
			bad = "cannot be read";
		else
			bad = bitmap_bad(fs, &bm, i, current);
		if (bad)
			msnap_problem_safe(fs, "bitmap copy %u block %llu (block %llu): %s",
					   copy, ULL(i), ULL(start + i), bad);
		if (!current)
			continue;
		if (bad)
			fs->bitmap_bad[i] = 1;
		else
			memcpy(fs->bitmap + i * bytes, bm.bits, bytes);
	}
}

static void load_bitmaps(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	uint32_t copy = le32(fs->sb.bitmap_copy);

	fs->bitmap = msnap_alloc(fs->g.bitmap_blocks * (MSNAP_BITMAP_BITS / 8));
	fs->bitmap_bad = msnap_alloc(fs->g.bitmap_blocks);
	c->refs = msnap_alloc(fs->nr_data / 8 + 1);
	load_bitmap_copy(fs, copy, true);
	load_bitmap_copy(fs, !copy, false);
}

/* ---- references ------------------------------------------------------ */

/*
 * Account for one reference to blk (in the data area: the tree walk
 * checked).  False when it was referenced already: then it must not be
 * followed again, or a cycle would never end.
 */
static bool ref_block(struct fsck *c, uint64_t blk, const char *what)
{
	struct msnap_fs *fs = &c->fs;
	uint64_t b = blk - fs->g.data_start;

	if (c->refs[b >> 3] & (1U << (b & 7))) {
		msnap_problem(fs, "%s: block %llu is referenced more than once",
			      what, ULL(blk));
		return false;
	}
	c->refs[b >> 3] |= 1U << (b & 7);
	c->nr_refs++;
	if (msnap_bitmap_known(fs, blk) && !msnap_bitmap_test(fs, blk))
		msnap_problem_safe(fs, "block %llu: referenced (%s) but free in the bitmap",
				   ULL(blk), what);
	return true;
}

static bool ref_node(struct msnap_fs *fs, void *ctx, uint64_t blk,
		     const char *what)
{
	char buf[96];

	(void)ctx;
	snprintf(buf, sizeof(buf), "%s node", what);
	return ref_block(to_fsck(fs), blk, buf);
}

static void ref_page(struct msnap_fs *fs, void *ctx, uint64_t index,
		     uint64_t blk)
{
	struct file_walk *fw = ctx;
	char buf[96];

	snprintf(buf, sizeof(buf), "inode %llu: page %llu", ULL(fw->ino),
		 ULL(index));
	if (!ref_block(to_fsck(fs), blk, buf))
		return;
	fw->mapped++;
	if (index >= fw->npages)
		msnap_problem(fs, "inode %llu: page %llu mapped beyond the end of the file",
			      ULL(fw->ino), ULL(index));
}

/* ---- inodes ---------------------------------------------------------- */

/* A link inode is a name only (feature DIRS): everything else is 0. */
static const char *link_inode_bad(const struct msnap_inode *in, uint64_t ino)
{
	if (ino == MSNAP_ROOT_INO)
		return "root directory marked a link inode";
	if (le32(in->flags) != MSNAP_INODE_LINK)
		return "link inode with other flags";
	if (in->mode || in->uid || in->gid || in->size || in->atime_sec ||
	    in->mtime_sec || in->ctime_sec || in->atime_nsec ||
	    in->mtime_nsec || in->ctime_nsec || in->preferred_addr || in->rdev)
		return "link inode with attributes (mode, owner, size, times, address or rdev not 0)";
	if (in->map_root || in->map_height || in->blocks)
		return "link inode with pages";
	if (!msnap_all_zero(in->symlink, sizeof(in->symlink)))
		return "link inode with a symlink target";
	if (!in->link_target)
		return "link inode without a target";
	if (le64(in->link_target) == ino)
		return "link inode naming itself";
	return NULL;
}

/* The fields of feature DIRS that follow from the inode's type. */
static const char *type_fields_bad(const struct msnap_inode *in)
{
	uint32_t mode = le32(in->mode), len = (uint32_t)le64(in->size);

	if (in->link_target)
		return "link_target set on an inode that is not a link inode";
	if (!S_ISREG(mode) && (in->map_root || in->map_height || in->blocks))
		return S_ISDIR(mode) ? "directory with pages" :
				       "symlink or special file with pages";
	if (!S_ISLNK(mode))
		return msnap_all_zero(in->symlink, sizeof(in->symlink)) ? NULL :
		       "symlink target set on an inode that is not a symlink";
	if (!msnap_symlink_ok(in->symlink, len) ||
	    !msnap_all_zero(in->symlink + len, sizeof(in->symlink) - len))
		return "symlink target does not match its size (1 to 3072 bytes, no NUL, NUL padded)";
	return NULL;
}

static const char *inode_attrs_bad(const struct msnap_fs *fs,
				   const struct msnap_inode *in, uint64_t ino)
{
	struct msnap_iattr ia = {
		.ino = ino, .mode = le32(in->mode), .flags = le32(in->flags),
		.rdev = le32(in->rdev), .size = le64(in->size),
		.atime_nsec = le32(in->atime_nsec),
		.mtime_nsec = le32(in->mtime_nsec),
		.ctime_nsec = le32(in->ctime_nsec),
	};
	const char *bad;

	if (fs->dirs && (ia.flags & MSNAP_INODE_LINK))
		bad = link_inode_bad(in, ino);
	else if (!(bad = msnap_attrs_bad(fs->dirs, &ia)) && fs->dirs)
		bad = type_fields_bad(in);
	if (bad)
		return bad;
	if (ino == MSNAP_ROOT_INO) {
		if (in->name_len || in->map_root || in->blocks)
			return "root directory with a name or pages";
		if (in->parent)
			return "root directory with a parent";
	} else if (!msnap_name_ok(in->name, le32(in->name_len))) {
		return "invalid name";
	}
	if (!msnap_all_zero(in->name + le32(in->name_len),
			    sizeof(in->name) - le32(in->name_len)))
		return "name not NUL padded";
	return NULL;
}

/* Without DIRS everything after the name is reserved. */
static bool inode_reserved_ok(const struct msnap_fs *fs,
			      const struct msnap_inode *in)
{
	const size_t tail = offsetof(struct msnap_inode, parent);

	if (!msnap_all_zero(in->reserved1, sizeof(in->reserved1)))
		return false;
	if (!fs->dirs)
		return msnap_all_zero((const char *)in + tail,
				      sizeof(*in) - tail);
	return msnap_all_zero(in->reserved2, sizeof(in->reserved2)) &&
	       msnap_all_zero(in->reserved, sizeof(in->reserved));
}

static const char *inode_bad(struct msnap_fs *fs, const struct msnap_inode *in,
			     uint64_t ino)
{
	uint64_t root = le64(in->map_root);
	uint32_t h = le32(in->map_height);

	if (le32(in->magic) != MSNAP_INODE_MAGIC)
		return "bad magic";
	if (!msnap_block_crc_ok(in, offsetof(struct msnap_inode, crc)))
		return "bad CRC";
	if (le64(in->ino) != ino)
		return "holds another inode number";
	if (le64(in->generation) > le64(fs->sb.generation))
		return "generation newer than the superblock's";
	if (!inode_reserved_ok(fs, in))
		return "reserved bytes not zero";
	if (le32(in->name_len) > MSNAP_NAME_MAX)
		return "name too long";
	if ((root || h) && (!msnap_in_data(fs, root) || h < 1 ||
			    h > MSNAP_TREE_MAX_HEIGHT))
		return "bad page map root or height";
	return inode_attrs_bad(fs, in, ino);
}

/* Add a checked inode to the model and walk its page map. */
static void load_file(struct fsck *c, const struct msnap_inode *in,
		      uint64_t ino)
{
	struct msnap_fs *fs = &c->fs;
	uint64_t size = le64(in->size);
	struct file_walk fw = { c, ino, size / MSNAP_BLOCK_SIZE +
				!!(size % MSNAP_BLOCK_SIZE), 0 };
	char what[64];
	struct msnap_walk w = { ino, what, ref_node, ref_page, &fw };
	struct msnap_file *f;

	f = msnap_file_add(fs, ino, le32(in->mode), size);
	f->a = (struct msnap_attrs){
		.uid = le32(in->uid), .gid = le32(in->gid),
		.flags = le32(in->flags),
		.atime_sec = le64(in->atime_sec),
		.mtime_sec = le64(in->mtime_sec),
		.ctime_sec = le64(in->ctime_sec),
		.atime_nsec = le32(in->atime_nsec),
		.mtime_nsec = le32(in->mtime_nsec),
		.ctime_nsec = le32(in->ctime_nsec),
		.preferred_addr = le64(in->preferred_addr),
	};
	f->map_root = le64(in->map_root);
	f->map_height = le32(in->map_height);
	f->rdev = le32(in->rdev);
	f->link_target = le64(in->link_target);
	if (S_ISLNK(f->mode))
		msnap_file_set_symlink(f, in->symlink, (uint32_t)size);
	if (ino != MSNAP_ROOT_INO)
		/* Parent 0: the root, as written before the feature. */
		msnap_file_set_name(fs, f, fs->dirs && in->parent ?
				    le64(in->parent) : MSNAP_ROOT_INO,
				    in->name, le32(in->name_len));
	snprintf(what, sizeof(what), "inode %llu: page map", ULL(ino));
	msnap_tree_walk(fs, &w, f->map_root, f->map_height);
	if (fw.mapped != le64(in->blocks))
		msnap_problem_safe(fs, "inode %llu: blocks is %llu, but %llu pages are mapped",
				   ULL(ino), ULL(le64(in->blocks)), ULL(fw.mapped));
}

static void check_inode(struct msnap_fs *fs, void *ctx, uint64_t ino,
			uint64_t blk)
{
	struct fsck *c = ctx;
	struct msnap_inode in;
	const char *bad;
	char what[48];

	snprintf(what, sizeof(what), "inode %llu", ULL(ino));
	if (!ref_block(c, blk, what) || msnap_fs_read(fs, blk, &in))
		return;
	if (!ino) {
		msnap_problem(fs, "inode tree: key 0 maps block %llu", ULL(blk));
		return;
	}
	bad = inode_bad(fs, &in, ino);
	/* Only next_ino is wrong: a repair raises it and keeps the file. */
	if (!bad && ino >= le64(fs->sb.next_ino))
		msnap_problem_safe(fs, "inode %llu (block %llu): number not below next_ino %llu",
				   ULL(ino), ULL(blk), ULL(le64(fs->sb.next_ino)));
	else if (ino >= le64(fs->sb.next_ino))
		bad = "number not below next_ino";
	if (bad) {
		msnap_problem(fs, "inode %llu (block %llu): %s", ULL(ino),
			      ULL(blk), bad);
		return;
	}
	load_file(c, &in, ino);
}

/* ---- the checkpoint as a whole --------------------------------------- */

/* An empty root directory, owned by root, mode 0755, made now. */
static void stand_in_root(struct msnap_fs *fs)
{
	struct msnap_file *f;

	f = msnap_file_add(fs, MSNAP_ROOT_INO, S_IFDIR | 0755, 0);
	f->a.atime_sec = f->a.mtime_sec = f->a.ctime_sec = time(NULL);
}

static void check_tree(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	struct msnap_walk w = { 0, "inode tree", ref_node, check_inode, c };

	msnap_tree_walk(fs, &w, le64(fs->sb.inode_root),
			le32(fs->sb.inode_height));
	/*
	 * A repair re-creates a missing root directory: stand it in now, so
	 * that the log replays into it (a file the log creates at the top
	 * names inode 1 as its parent) and the repair keeps those files.
	 */
	if (!msnap_file_get(fs, MSNAP_ROOT_INO)) {
		msnap_problem(fs, "root directory (inode 1) missing");
		stand_in_root(fs);
	}
	if (fs->nr_files != le64(fs->sb.inodes))
		msnap_problem_safe(fs, "superblock: inodes is %llu, but there are %llu files",
				   ULL(le64(fs->sb.inodes)), ULL(fs->nr_files));
}

/*
 * Used in the bitmap but referenced by nothing: leaked.  (The opposite
 * was reported as each reference was found.)  Compared a byte at a time,
 * so a large clean device costs one pass over two bitmaps.
 */
static void check_leaks(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	uint64_t b, nfree = 0, lines = 0, blk;
	bool known_all = true;

	for (b = 0; b < fs->nr_data; b++) {
		blk = fs->g.data_start + b;
		if (!(b & 7) && b + 8 <= fs->nr_data &&
		    fs->bitmap[b >> 3] == c->refs[b >> 3] &&
		    msnap_bitmap_known(fs, blk)) {
			nfree += 8 - __builtin_popcount(fs->bitmap[b >> 3]);
			b += 7;
			continue;
		}
		if (!msnap_bitmap_known(fs, blk)) {
			known_all = false;
			continue;
		}
		if (!msnap_bitmap_test(fs, blk)) {
			nfree++;
		} else if (!(c->refs[b >> 3] & (1U << (b & 7))) &&
			   ++lines <= MAX_BLOCK_LINES) {
			msnap_problem_safe(fs, "block %llu: used in the bitmap but not referenced",
					   ULL(blk));
		}
	}
	if (lines > MAX_BLOCK_LINES)
		msnap_problem_safe(fs, "%llu more blocks used in the bitmap but not referenced",
				   ULL(lines - MAX_BLOCK_LINES));
	if (known_all && nfree != le64(fs->sb.free_blocks))
		msnap_problem_safe(fs, "superblock: free_blocks is %llu, but the bitmap has %llu free",
				   ULL(le64(fs->sb.free_blocks)), ULL(nfree));
}

static void summary(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;

	printf("superblock:       %c, generation %llu%s\n", 'A' + c->sb_index,
	       ULL(le64(fs->sb.generation)),
	       le32(fs->sb.state) & MSNAP_SB_ERROR ? " (error flag set)" : "");
	printf("ckpt_seq:         %llu\n", ULL(le64(fs->sb.ckpt_seq)));
	printf("records replayed: %llu (%llu log blocks)\n", ULL(fs->records),
	       ULL(fs->log_blocks_used));
	if (fs->log_end[0])
		printf("log ends at:      %s\n", fs->log_end);
	/* Not counted as a problem: whether a mount clears the flag before
	 * its first commit is the kernel's choice, not the format's. */
	if ((le32(fs->sb.state) & MSNAP_SB_CLEAN) && fs->records)
		printf("note:             marked clean, but the log holds records\n");
	printf("files:            %llu\n", ULL(fs->nr_files));
	printf("blocks used:      %llu of %llu data blocks at the checkpoint\n",
	       ULL(c->nr_refs), ULL(fs->nr_data));
}

/* ---- one pass: load, check, replay ---------------------------------- */

/* 0: checked; -1: no valid superblock; -2: a version 1 image. */
static int load(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	int ret = load_super(c);

	if (ret)
		return ret;
	check_error_state(c);
	load_bitmaps(c);
	fs->ckpt_refs = c->refs;
	msnap_model_init(fs);
	check_tree(c);
	check_leaks(c);
	msnap_log_replay(fs);
	/* After the log, as the kernel checks the namespace it builds. */
	msnap_names_report(fs);
	msnap_namespace_check(fs);
	return 0;
}

/* Forget all but the device and the options, for another pass. */
static void unload(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	struct msnap_dev dev = fs->dev;
	bool verbose = fs->verbose;

	msnap_model_free(fs);
	free(fs->bitmap);
	free(fs->bitmap_bad);
	free(c->refs);
	memset(c, 0, sizeof(*c));
	fs->dev = dev;
	fs->verbose = verbose;
}

/* ---- repair: a new checkpoint from the model ------------------------- */

/*
 * The repaired filesystem is the model (the checkpoint as checked, with
 * the log replayed onto it) written as a new checkpoint, the way the
 * kernel writes one: new inode blocks, page maps and inode tree in blocks
 * that the newest superblock's checkpoint neither uses nor may still need
 * (free in its bitmap, unreferenced by its trees, not written by its
 * log), the bitmap into the copy it does not use, and last a superblock
 * in the other slot with generation + 1, an empty log and a new nonce.
 * Everything is staged in memory, checked again as a whole, and only
 * then written, the superblock after a flush of the rest: a repair that
 * fails or is cut short leaves the old image as it was.  Data pages are
 * kept where they are.
 */
struct repair {
	struct fsck	*c;
	uint8_t		*newrefs;	/* blocks the new checkpoint uses */
	uint8_t		*seen;		/* old nodes the writer walked */
	uint64_t	cursor;		/* allocation: next data block to try */
	uint64_t	gen;		/* generation of the new checkpoint */
	uint64_t	used;		/* blocks set in newrefs */
	unsigned long	dropped;	/* pages the writer could not keep */
	unsigned long	renamed;
	unsigned long	moved;		/* inodes the namespace fix changed */
	bool		nospace;
	/*
	 * Where a bitmap block of the old checkpoint is unreadable, its
	 * blocks may be allocated only if the check walked every tree (so
	 * that the references it found are all there are).
	 */
	bool		unknown_ok;
};

static bool bit_test(const uint8_t *map, uint64_t b)
{
	return map[b >> 3] & (1U << (b & 7));
}

static void bit_set(uint8_t *map, uint64_t b)
{
	map[b >> 3] |= 1U << (b & 7);
}

static uint64_t alloc_block(struct repair *r)
{
	struct msnap_fs *fs = &r->c->fs;
	uint64_t blk;

	for (; r->cursor < fs->nr_data; r->cursor++) {
		blk = fs->g.data_start + r->cursor;
		if (msnap_bitmap_known(fs, blk) ? msnap_bitmap_test(fs, blk) :
		    !r->unknown_ok)
			continue;
		if (bit_test(r->c->refs, r->cursor) ||
		    bit_test(r->newrefs, r->cursor) ||
		    msnap_map_get(fs->replay_used, blk, NULL))
			continue;
		bit_set(r->newrefs, r->cursor++);
		r->used++;
		return blk;
	}
	r->nospace = true;
	return 0;
}

static void write_meta(struct repair *r, uint64_t blk, void *buf)
{
	msnap_block_set_crc(buf, 4);
	if (msnap_write_block(&r->c->fs.dev, blk, buf))
		r->nospace = true;	/* cannot happen while staging */
}

/* Builds a tree bottom-up from keys given in increasing order. */
struct builder {
	struct repair		*r;
	uint64_t		owner;
	uint32_t		height;
	struct msnap_node	n[MSNAP_TREE_MAX_HEIGHT];
	bool			open[MSNAP_TREE_MAX_HEIGHT];
	uint64_t		root;
};

/* The lowest height whose tree holds keys 0..nkeys-1 (0: no key). */
static uint32_t height_for(uint64_t nkeys)
{
	uint32_t h = 1;

	if (!nkeys)
		return 0;
	while (h < MSNAP_TREE_MAX_HEIGHT && msnap_tree_span(h) < nkeys)
		h++;
	return h;
}

static void build_put(struct builder *t, uint32_t level, uint64_t key,
		      uint64_t val);

static void build_flush(struct builder *t, uint32_t level)
{
	struct msnap_node *n = &t->n[level];
	uint64_t blk = alloc_block(t->r);
	unsigned int s, used = 0;

	t->open[level] = false;
	if (!blk)
		return;
	for (s = 0; s < MSNAP_NODE_SLOTS; s++)
		used += !!n->slot[s];
	n->used = htole32(used);
	write_meta(t->r, blk, n);
	if (level + 1 == t->height)
		t->root = blk;
	else
		build_put(t, level + 1, le64(n->first_key), blk);
}

static void build_put(struct builder *t, uint32_t level, uint64_t key,
		      uint64_t val)
{
	uint64_t span = msnap_tree_span(level), first;
	struct msnap_node *n = &t->n[level];

	first = level + 1 == t->height ? 0 : key - key % (span * MSNAP_NODE_SLOTS);
	if (t->open[level] && le64(n->first_key) != first)
		build_flush(t, level);
	if (!t->open[level]) {
		memset(n, 0, sizeof(*n));
		n->magic = htole32(MSNAP_NODE_MAGIC);
		n->owner = htole64(t->owner);
		n->first_key = htole64(first);
		n->generation = htole64(t->r->gen);
		n->level = htole32(level);
		t->open[level] = true;
	}
	n->slot[(key - first) / span] = htole64(val);
}

static uint64_t build_finish(struct builder *t)
{
	uint32_t level;

	for (level = 0; level < t->height; level++)
		if (t->open[level])
			build_flush(t, level);
	return t->root;
}

/* A file's pages: the checkpoint tree below the cutoff, overlaid. */
struct file_pages {
	struct repair		*r;
	struct msnap_file	*f;
	struct builder		t;
	uint64_t		*ov;	/* overlay indexes, sorted */
	size_t			nov, iov;
	uint64_t		npages;
	uint64_t		count;
};

static void page_put(struct file_pages *p, uint64_t index, uint64_t blk)
{
	struct repair *r = p->r;
	uint64_t b = blk - r->c->fs.g.data_start;

	if (!blk || index >= p->npages)
		return;
	if (bit_test(r->newrefs, b)) {
		r->dropped++;		/* a second reference: a hole here */
		return;
	}
	bit_set(r->newrefs, b);
	r->used++;
	build_put(&p->t, 0, index, blk);
	p->count++;
}

static void overlay_below(struct file_pages *p, uint64_t index)
{
	uint64_t blk = 0;

	for (; p->iov < p->nov && p->ov[p->iov] < index; p->iov++) {
		msnap_map_get(p->f->overlay, p->ov[p->iov], &blk);
		page_put(p, p->ov[p->iov], blk);
	}
}

static void old_page(struct msnap_fs *fs, void *ctx, uint64_t index,
		     uint64_t blk)
{
	struct file_pages *p = ctx;

	(void)fs;
	overlay_below(p, index);
	if (index < p->f->cutoff &&
	    !(p->f->overlay && msnap_map_get(p->f->overlay, index, NULL)))
		page_put(p, index, blk);
}

static bool old_node(struct msnap_fs *fs, void *ctx, uint64_t blk,
		     const char *what)
{
	struct file_pages *p = ctx;
	uint64_t b = blk - fs->g.data_start;

	(void)what;
	if (bit_test(p->r->seen, b))
		return false;
	bit_set(p->r->seen, b);
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Write f's page map and inode block; the inode block's number. */
static uint64_t write_file(struct repair *r, struct msnap_file *f)
{
	struct msnap_fs *fs = &r->c->fs;
	struct file_pages p = { .r = r, .f = f };
	struct msnap_walk w = { f->ino, "", old_node, old_page, &p };
	struct msnap_inode in;
	uint64_t key, *val, blk;
	size_t i, len;

	if (f->ino != MSNAP_ROOT_INO) {
		p.npages = f->size / MSNAP_BLOCK_SIZE +
			   !!(f->size % MSNAP_BLOCK_SIZE);
		p.t = (struct builder){ .r = r, .owner = f->ino,
					.height = height_for(p.npages) };
		p.ov = msnap_alloc((msnap_map_slots(f->overlay) + 1) *
				   sizeof(*p.ov));
		for (i = 0; i < msnap_map_slots(f->overlay); i++)
			if (msnap_map_at(f->overlay, i, &key, &val))
				p.ov[p.nov++] = key;
		qsort(p.ov, p.nov, sizeof(*p.ov), cmp_u64);
		if (f->cutoff)
			msnap_tree_walk(fs, &w, f->map_root, f->map_height);
		overlay_below(&p, UINT64_MAX);
		free(p.ov);
		build_finish(&p.t);
	}
	memset(&in, 0, sizeof(in));
	in.magic = htole32(MSNAP_INODE_MAGIC);
	in.ino = htole64(f->ino);
	in.generation = htole64(r->gen);
	in.mode = htole32(f->mode);
	in.uid = htole32(f->a.uid);
	in.gid = htole32(f->a.gid);
	in.flags = htole32(f->a.flags);
	in.size = htole64(f->size);
	in.atime_sec = htole64(f->a.atime_sec);
	in.mtime_sec = htole64(f->a.mtime_sec);
	in.ctime_sec = htole64(f->a.ctime_sec);
	in.atime_nsec = htole32(f->a.atime_nsec);
	in.mtime_nsec = htole32(f->a.mtime_nsec);
	in.ctime_nsec = htole32(f->a.ctime_nsec);
	if (p.t.root) {
		in.map_height = htole32(p.t.height);
		in.map_root = htole64(p.t.root);
	}
	in.preferred_addr = htole64(f->a.preferred_addr);
	in.blocks = htole64(p.count);
	if (fs->dirs) {
		in.parent = htole64(f->parent);
		in.link_target = htole64(f->link_target);
		in.rdev = htole32(f->rdev);
		if (S_ISLNK(f->mode) && !msnap_file_is_link(f))
			memcpy(in.symlink, f->symlink, f->symlink_len);
	}
	if (f->ino != MSNAP_ROOT_INO && f->name) {
		len = strlen(f->name);
		in.name_len = htole32(len);
		memcpy(in.name, f->name, len);
	}
	blk = alloc_block(r);
	if (blk)
		write_meta(r, blk, &in);
	return blk;
}

/* -y: every file gets a name of its own (names are unique, never empty). */
static void fix_names(struct repair *r, uint64_t *inos, size_t n)
{
	struct msnap_fs *fs = &r->c->fs;
	struct msnap_file *f;
	uint64_t parent;
	char name[64];
	unsigned int k;
	size_t i;

	for (i = 0; i < n; i++) {
		f = msnap_file_get(fs, inos[i]);
		if (f->ino == MSNAP_ROOT_INO ||
		    (f->name && msnap_name_users(fs, f->parent, f->name) == 1))
			continue;
		parent = f->name ? f->parent : MSNAP_ROOT_INO;
		snprintf(name, sizeof(name), "#%llu", ULL(f->ino));
		for (k = 1; msnap_name_users(fs, parent, name); k++)
			snprintf(name, sizeof(name), "#%llu.%u", ULL(f->ino), k);
		msnap_file_set_name(fs, f, parent, name, strlen(name));
		r->renamed++;
	}
}

static uint64_t new_nonce(uint64_t old)
{
	uint64_t nonce = 0;

	while (!nonce || nonce == old)
		if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
			nonce = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^
				old;
	return nonce;
}

/* Stage the new checkpoint; 0, or -1 when there is no room for it. */
static int write_checkpoint(struct repair *r, enum mode mode)
{
	struct fsck *c = r->c;
	struct msnap_fs *fs = &c->fs;
	const size_t bytes = MSNAP_BITMAP_BITS / 8;
	uint32_t copy = le32(fs->sb.bitmap_copy);
	uint64_t key, *val, *inos, next_ino, blk, i;
	struct builder t = { .r = r };
	struct msnap_super sb;
	struct msnap_bitmap bm;
	size_t n = 0;

	if (mode == YES && fs->dirs)
		r->moved = msnap_namespace_fix(fs);
	inos = msnap_alloc((msnap_map_slots(fs->files) + 1) * sizeof(*inos));
	for (i = 0; i < msnap_map_slots(fs->files); i++)
		if (msnap_map_at(fs->files, i, &key, &val) && *val)
			inos[n++] = key;
	qsort(inos, n, sizeof(*inos), cmp_u64);
	if (mode == YES)
		fix_names(r, inos, n);
	next_ino = fs->next_ino > inos[n - 1] ? fs->next_ino : inos[n - 1] + 1;
	t.owner = 0;
	t.height = height_for(inos[n - 1] + 1);
	for (i = 0; i < n && !r->nospace; i++) {
		blk = write_file(r, msnap_file_get(fs, inos[i]));
		if (blk)
			build_put(&t, 0, inos[i], blk);
	}
	free(inos);
	build_finish(&t);
	for (i = 0; i < fs->g.bitmap_blocks; i++) {
		memset(&bm, 0, sizeof(bm));
		bm.magic = htole32(MSNAP_BITMAP_MAGIC);
		bm.index = htole64(i);
		bm.generation = htole64(r->gen);
		memcpy(bm.bits, r->newrefs + i * bytes, bytes);
		write_meta(r, fs->g.bitmap_start +
			   (1 - copy) * fs->g.bitmap_blocks + i, &bm);
	}
	if (r->nospace)
		return -1;

	sb = fs->sb;
	sb.generation = htole64(r->gen);
	sb.state = htole32(MSNAP_SB_CLEAN);
	sb.error_time = 0;
	sb.error_code = 0;
	sb.ckpt_seq = htole64(le64(fs->sb.ckpt_seq) + fs->records);
	sb.log_head = htole64((le64(fs->sb.log_head) + fs->log_blocks_used) %
			      fs->g.log_blocks);
	sb.inode_root = htole64(t.root);
	sb.inode_height = htole32(t.root ? t.height : 0);
	sb.bitmap_copy = htole32(1 - copy);
	sb.next_ino = htole64(next_ino);
	sb.free_blocks = htole64(fs->nr_data - r->used);
	sb.inodes = htole64(fs->nr_files);
	sb.ckpt_time = htole64((uint64_t)time(NULL));
	sb.log_nonce = htole64(new_nonce(le64(fs->sb.log_nonce)));
	msnap_block_set_crc(&sb, offsetof(struct msnap_super, crc));
	fs->dev.stage_phase = 1;
	msnap_write_block(&fs->dev, 1 - c->sb_index, &sb);

	/*
	 * The copy the old checkpoint used becomes the other superblock's:
	 * only its framing is checked, and only once the new superblock is
	 * durable may its unreadable blocks be rewritten.
	 */
	fs->dev.stage_phase = 2;
	for (i = 0; i < fs->g.bitmap_blocks; i++) {
		if (!fs->bitmap_bad[i])
			continue;
		memset(&bm, 0, sizeof(bm));
		bm.magic = htole32(MSNAP_BITMAP_MAGIC);
		bm.index = htole64(i);
		bm.generation = fs->sb.generation;
		memcpy(bm.bits, r->newrefs + i * bytes, bytes);
		write_meta(r, fs->g.bitmap_start + copy * fs->g.bitmap_blocks + i,
			   &bm);
	}
	return 0;
}

/*
 * Repair after a check (c holds it): returns the fsck(8) status.  The
 * check is run again with the log cut where it broke a rule, the new
 * checkpoint staged, the result checked again, and only then written.
 */
static int repair(struct fsck *c, enum mode mode, const char *path)
{
	struct msnap_fs *fs = &c->fs;
	unsigned long problems = fs->problems;
	uint64_t records = fs->records;
	bool cut = fs->log_corrupt;
	struct repair r = { .c = c, .unknown_ok = fs->problems == fs->safe };

	unload(c);
	fs->quiet = true;
	fs->limit_replay = cut;
	fs->replay_limit = records;
	msnap_stage_begin(&fs->dev);
	if (load(c) || fs->io_error)
		goto out_drop;
	r.newrefs = msnap_alloc(fs->g.bitmap_blocks * (MSNAP_BITMAP_BITS / 8));
	r.seen = msnap_alloc(fs->g.bitmap_blocks * (MSNAP_BITMAP_BITS / 8));
	r.gen = le64(fs->sb.generation) + 1;
	if (write_checkpoint(&r, mode)) {
		msnap_err("%s: no room for a new checkpoint: nothing changed",
			  path);
		goto out_drop;
	}
	if (mode == PREEN && (r.dropped || r.renamed)) {
		msnap_err("%s: repair would drop %lu page reference(s): run fsck.memsnap -y; nothing changed",
			  path, r.dropped);
		goto out_drop;
	}
	/* The staged image, as the next fsck -n and mount will see it. */
	unload(c);
	fs->quiet = true;
	if (load(c) || fs->problems || fs->records || fs->io_error) {
		msnap_err("%s: the repaired image would not check clean (a bug): nothing changed; it would have:",
			  path);
		unload(c);
		load(c);	/* say why */
		goto out_drop;
	}
	if (msnap_stage_commit(&fs->dev)) {
		msnap_err("%s: writing the repair failed", path);
		free(r.newrefs);
		free(r.seen);
		return FSCK_ERROR | FSCK_UNCORRECTED;
	}
	free(r.newrefs);
	free(r.seen);
	printf("%s: ", path);
	if (problems)
		printf("%lu problem%s corrected", problems,
		       problems == 1 ? "" : "s");
	if (problems && records)
		printf("; ");
	if (records)
		printf("%llu log record%s replayed", ULL(records),
		       records == 1 ? "" : "s");
	if (cut)
		printf("; the log was cut at the first bad record");
	if (r.renamed)
		printf("; %lu file%s renamed #INO", r.renamed,
		       r.renamed == 1 ? "" : "s");
	if (r.moved)
		printf("; %lu namespace problem%s fixed (bad links dropped, orphans and loops moved to the root directory)",
		       r.moved, r.moved == 1 ? "" : "s");
	printf("; new checkpoint, generation %llu\n", ULL(r.gen));
	return FSCK_CORRECTED;

out_drop:
	free(r.newrefs);
	free(r.seen);
	msnap_stage_drop(&fs->dev);
	return FSCK_UNCORRECTED;
}

int main(int argc, char **argv)
{
	static struct fsck c;
	struct msnap_fs *fs = &c.fs;
	enum mode mode = CHECK;
	bool verbose = false, bdev;
	const char *path;
	int status, ret, flags = O_RDONLY;
	struct stat st;

	msnap_prog = "fsck.memsnap";
	path = parse_args(argc, argv, &verbose, &mode);
	/*
	 * A mounted block device is held exclusively by the kernel: a repair
	 * refuses it; a check goes on, warning that the device may be
	 * behind what the mounted filesystem holds.
	 */
	bdev = !stat(path, &st) && S_ISBLK(st.st_mode);
	if (bdev) {
		int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);

		if (fd >= 0) {
			close(fd);
		} else if (errno == EBUSY && mode != CHECK) {
			msnap_err("%s is in use (mounted?): unmount it first; nothing changed",
				  path);
			return FSCK_ERROR;
		} else if (errno == EBUSY) {
			msnap_err("warning: %s is in use (mounted?): checking the device as it is, which may be behind the mounted filesystem",
				  path);
		}
	}
	if (mode != CHECK)
		flags = O_RDWR | (bdev ? O_EXCL : 0);
	if (msnap_dev_open(&fs->dev, path, flags))
		return FSCK_ERROR;
	ret = load(&c);
	if (ret == -2) {
		msnap_err("%s: memsnap format version 1, which this fsck no longer reads: copy the files elsewhere and re-create the filesystem with mkfs.memsnap",
			  path);
		msnap_dev_close(&fs->dev);
		return FSCK_ERROR;
	}
	if (!ret && verbose)
		summary(&c);
	status = fs->problems ? FSCK_UNCORRECTED : FSCK_OK;
	if (fs->io_error)
		status |= FSCK_ERROR;
	if (mode != CHECK && !ret && !fs->io_error &&
	    (fs->problems || fs->records)) {
		if (mode == PREEN && fs->problems > fs->safe) {
			printf("%s: %lu problem%s found, %lu of which fsck.memsnap -p does not repair (files or pages would be dropped): run fsck.memsnap -y; nothing changed\n",
			       path, fs->problems, fs->problems == 1 ? "" : "s",
			       fs->problems - fs->safe);
			goto out;
		}
		status = repair(&c, mode, path);
		if (status == FSCK_CORRECTED)
			goto out;
		printf("%s: %lu problem%s found, not corrected\n", path,
		       fs->problems, fs->problems == 1 ? "" : "s");
		status = FSCK_UNCORRECTED;
		goto out;
	}
	printf("%s: %s", path, fs->problems ? "" : "clean\n");
	if (fs->problems)
		printf("%lu problem%s found, not corrected\n", fs->problems,
		       fs->problems == 1 ? "" : "s");
	if (ret && mode == YES)
		printf("%s: no valid superblock: fsck.memsnap cannot repair this\n",
		       path);
out:
	unload(&c);
	msnap_dev_close(&fs->dev);
	return status;
}
