// SPDX-License-Identifier: GPL-2.0
/*
 * fsck.memsnap: offline, read-only check of a memsnap filesystem.
 *
 *   fsck.memsnap [-n] [-v] DEVICE|IMAGE
 *
 * Loads the checkpoint of the newest valid superblock, validates every
 * structure it reaches, checks that the allocation bitmap and the blocks
 * the trees reference agree exactly, then replays the log as a mount
 * would.  The invariants are listed in docs/format.md ("What fsck
 * checks").  Nothing is ever written.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "msnapfs.h"

#define FSCK_VERSION	"0.1.0"

/* fsck(8) exit status bits. */
#define FSCK_OK		0
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

static void __attribute__((noreturn)) usage(FILE *f, int status)
{
	fprintf(f, "usage: fsck.memsnap [-n] [-v] DEVICE|IMAGE\n"
		"  -n        make no change (always the case: repair is not implemented)\n"
		"  -y -p -a  accepted for fsck(8); still make no change\n"
		"  -f        accepted; the check is always complete\n"
		"  -v        print a summary\n"
		"  -V        print the version and exit\n");
	exit(status);
}

static const char *parse_args(int argc, char **argv, bool *verbose)
{
	int c;

	while ((c = getopt(argc, argv, "nvyfpaVh")) != -1) {
		switch (c) {
		case 'n':
		case 'f':
			break;
		case 'y':
		case 'p':
		case 'a':
			msnap_err("-%c: repair is not implemented; checking only, nothing will be changed",
				  c);
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
		msnap_problem(fs, "superblock %c: uuid or geometry differs from the newer superblock",
			      old);
	else if (n->generation == o->generation)
		msnap_problem(fs, "superblocks A and B both have generation %llu",
			      ULL(le64(n->generation)));
	else if (n->bitmap_copy == o->bitmap_copy)
		msnap_problem(fs, "superblocks A and B both use bitmap copy %u",
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
			msnap_problem(fs, "superblock %c (block %d): %s",
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
	msnap_problem(fs, "superblock %c: error state recorded: error %u (%s) at %s",
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
			msnap_problem(fs, "bitmap copy %u block %llu (block %llu): %s",
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
		msnap_problem(fs, "block %llu: referenced (%s) but free in the bitmap",
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

static const char *inode_attrs_bad(const struct msnap_inode *in,
				   uint64_t ino)
{
	const char *bad = msnap_attrs_bad(ino, le32(in->mode),
					  le32(in->flags), le64(in->size),
					  le32(in->atime_nsec),
					  le32(in->mtime_nsec),
					  le32(in->ctime_nsec));

	if (bad)
		return bad;
	if (ino == MSNAP_ROOT_INO) {
		if (in->name_len || in->map_root || in->blocks)
			return "root directory with a name or pages";
	} else if (!msnap_name_ok(in->name, le32(in->name_len))) {
		return "invalid name";
	}
	if (!msnap_all_zero(in->name + le32(in->name_len),
			    sizeof(in->name) - le32(in->name_len)))
		return "name not NUL padded";
	return NULL;
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
	if (!msnap_all_zero(in->reserved1, sizeof(in->reserved1)) ||
	    !msnap_all_zero(in->reserved, sizeof(in->reserved)))
		return "reserved bytes not zero";
	if (le32(in->name_len) > MSNAP_NAME_MAX)
		return "name too long";
	if ((root || h) && (!msnap_in_data(fs, root) || h < 1 ||
			    h > MSNAP_TREE_MAX_HEIGHT))
		return "bad page map root or height";
	return inode_attrs_bad(in, ino);
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
	f->map_root = le64(in->map_root);
	f->map_height = le32(in->map_height);
	if (ino != MSNAP_ROOT_INO)
		msnap_file_set_name(fs, f, in->name, le32(in->name_len));
	snprintf(what, sizeof(what), "inode %llu: page map", ULL(ino));
	msnap_tree_walk(fs, &w, f->map_root, f->map_height);
	if (fw.mapped != le64(in->blocks))
		msnap_problem(fs, "inode %llu: blocks is %llu, but %llu pages are mapped",
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
	if (ino >= le64(fs->sb.next_ino)) {
		msnap_problem(fs, "inode %llu (block %llu): number not below next_ino %llu",
			      ULL(ino), ULL(blk), ULL(le64(fs->sb.next_ino)));
		return;
	}
	bad = inode_bad(fs, &in, ino);
	if (bad) {
		msnap_problem(fs, "inode %llu (block %llu): %s", ULL(ino),
			      ULL(blk), bad);
		return;
	}
	load_file(c, &in, ino);
}

/* ---- the checkpoint as a whole --------------------------------------- */

static void check_tree(struct fsck *c)
{
	struct msnap_fs *fs = &c->fs;
	struct msnap_walk w = { 0, "inode tree", ref_node, check_inode, c };

	msnap_tree_walk(fs, &w, le64(fs->sb.inode_root),
			le32(fs->sb.inode_height));
	if (!msnap_file_get(fs, MSNAP_ROOT_INO))
		msnap_problem(fs, "root directory (inode 1) missing");
	msnap_names_report(fs);
	if (fs->nr_files != le64(fs->sb.inodes))
		msnap_problem(fs, "superblock: inodes is %llu, but there are %llu files",
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
			msnap_problem(fs, "block %llu: used in the bitmap but not referenced",
				      ULL(blk));
		}
	}
	if (lines > MAX_BLOCK_LINES)
		msnap_problem(fs, "%llu more blocks used in the bitmap but not referenced",
			      ULL(lines - MAX_BLOCK_LINES));
	if (known_all && nfree != le64(fs->sb.free_blocks))
		msnap_problem(fs, "superblock: free_blocks is %llu, but the bitmap has %llu free",
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

int main(int argc, char **argv)
{
	static struct fsck c;
	struct msnap_fs *fs = &c.fs;
	bool verbose = false;
	const char *path;
	int status, ret;

	msnap_prog = "fsck.memsnap";
	path = parse_args(argc, argv, &verbose);
	if (msnap_dev_open(&fs->dev, path, O_RDONLY))
		return FSCK_ERROR;
	ret = load_super(&c);
	if (ret == -2) {
		msnap_err("%s: memsnap format version 1, which this fsck no longer reads: copy the files elsewhere and re-create the filesystem with mkfs.memsnap",
			  path);
		msnap_dev_close(&fs->dev);
		return FSCK_ERROR;
	}
	if (!ret) {
		check_error_state(&c);
		load_bitmaps(&c);
		msnap_model_init(fs);
		check_tree(&c);
		check_leaks(&c);
		msnap_log_replay(fs);
		if (verbose)
			summary(&c);
	}
	status = fs->problems ? FSCK_UNCORRECTED : FSCK_OK;
	if (fs->io_error)
		status |= FSCK_ERROR;
	printf("%s: %s", path, fs->problems ? "" : "clean\n");
	if (fs->problems)
		printf("%lu problem%s found, not corrected\n", fs->problems,
		       fs->problems == 1 ? "" : "s");
	msnap_model_free(fs);
	free(fs->bitmap);
	free(fs->bitmap_bad);
	free(c.refs);
	msnap_dev_close(&fs->dev);
	return status;
}
