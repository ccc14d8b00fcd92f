// SPDX-License-Identifier: GPL-2.0
/*
 * Image fuzzing in the guest: a small workload leaves a crash image (a
 * checkpoint with files plus log records of persists and namespace
 * changes); then, one damage at a time on a loop device over a copy:
 *
 *  - targeted fields of the newest superblock, the inode tree's root
 *    node, an inode block, the current bitmap copy and log records
 *    (magic, version, geometry, levels, heights, slots pointing outside
 *    the data area, reserved bytes, unknown feature bits, entry types,
 *    lengths, sequence numbers, uuids), with the CRC fixed so the damage
 *    reaches the structural checks;
 *  - random bit flips and byte stores in random metadata blocks, the CRC
 *    fixed or left stale.
 *
 * Each image is checked by fsck.memsnap -n (the verdict is recorded) and
 * mounted: the mount refuses cleanly (EINVAL, EUCLEAN, EIO) or mounts,
 * and then every file reads (its first 4 MiB: a file may legally be
 * 16 TiB of holes) and the filesystem unmounts.  An image fsck
 * calls clean must mount, read, and be clean again after the unmount;
 * a targeted superblock, node, inode or bitmap field fsck must flag.
 * Any kernel splat or hang fails the run.
 *
 * IMAGE_FUZZ_SECONDS (default 25) bounds the random part; IMAGE_FUZZ_SEED
 * chooses other damage (the default seed is fixed); IMAGE_FUZZ_TRY=N
 * replays only try N of the seed's sequence; IMAGE_FUZZ_TRACE=1 leaves
 * each image's description and the image itself in the results
 * directory before it is tried (see trace_image), for a hang.
 */
#include "kselftest_harness.h"
#include "msnap_fs.h"

#include <linux/fs.h>
#include <linux/loop.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PG	4096UL
#define MNT	"/tmp/msnap-imgfuzz"
#define FILE_	"/tmp/msnap-imgfuzz.img"
#define FIXED	"/tmp/msnap-imgfuzz-fixed.img"	/* fsck -y's copy */
#define IMG_SZ	(8UL << 20)

static uint32_t crc32c(const void *buf, size_t len)
{
	static uint32_t tab[256];
	const unsigned char *p = buf;
	uint32_t crc = ~0U;
	int i, k;

	if (!tab[1])
		for (i = 0; i < 256; i++) {
			uint32_t c = i;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
			tab[i] = c;
		}
	while (len--)
		crc = tab[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Offset of the crc field of a metadata block, or -1. */
static int crc_off(const unsigned char *b)
{
	uint64_t m64;
	uint32_t m32;

	memcpy(&m64, b, 8);
	memcpy(&m32, b, 4);
	if (m64 == MSNAP_SB_MAGIC)
		return 8;
	if (m32 == MSNAP_LOG_MAGIC || m32 == MSNAP_NODE_MAGIC ||
	    m32 == MSNAP_INODE_MAGIC || m32 == MSNAP_BITMAP_MAGIC)
		return 4;
	return -1;
}

static void fix_crc(unsigned char *b, int off)
{
	uint32_t crc;

	memset(b + off, 0, 4);
	crc = crc32c(b, PG);
	memcpy(b + off, &crc, 4);
}

static unsigned char *orig, *work;

struct stats {
	int tries, refused, mounted, fsck_clean, fsck_flagged, mounted_flagged;
	int bad;
	int repaired, unrepaired;	/* fsck -y: exit 0/1, exit 4/8 */
};

static int loop_attach_file(char *dev, size_t len, int *lfd, const char *img)
{
	int ctl, nr, file, err = 0;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	nr = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (nr < 0)
		return -errno;
	snprintf(dev, len, "/dev/loop%d", nr);
	file = open(img, O_RDWR | O_CLOEXEC);
	if (file < 0)
		return -errno;
	*lfd = open(dev, O_RDWR | O_CLOEXEC);
	if (*lfd < 0 || ioctl(*lfd, LOOP_SET_FD, file))
		err = -errno;
	close(file);
	if (!err)
		ioctl(*lfd, BLKFLSBUF, 0);
	return err;
}

static int loop_attach(char *dev, size_t len, int *lfd)
{
	return loop_attach_file(dev, len, lfd, FILE_);
}

static void loop_detach(int lfd)
{
	ioctl(lfd, LOOP_CLR_FD, 0);
	close(lfd);
}

static int put_image(const unsigned char *img)
{
	int fd = open(FILE_, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pwrite(fd, img, IMG_SZ, 0);
	close(fd);
	return n == (ssize_t)IMG_SZ ? 0 : -EIO;
}

/*
 * IMAGE_FUZZ_TRACE=1: before each image, append its description to
 * image_fuzz.progress and write it as image_fuzz-current.img in the
 * results directory, so that the image of a hang is at hand.
 */
static void trace_image(struct __test_metadata *_metadata, const char *res,
			const char *what)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/image_fuzz.progress", res);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dprintf(fd, "%s\n", what);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/image_fuzz-current.img", res);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (pwrite(fd, work, IMG_SZ, 0) != (ssize_t)IMG_SZ)
			TH_LOG("cannot save %s", path);
		fsync(fd);
		close(fd);
	}
}

/*
 * List the mount and read every file in it; 0 when all of it reads.  A
 * valid file can be 16 TiB of holes: read the first 4 MiB (more than any
 * page the workload or a damaged page map of height 1 maps), not all of
 * it.  An empty root directory (what a repair leaves of a filesystem
 * whose every file was lost) reads.
 */
static int read_files(void)
{
	return msnap_sh("cd %s && ls -la > /dev/null && r=0 && for f in *; do [ -e \"$f\" ] || continue; head -c 4194304 \"$f\" > /dev/null 2>&1 || r=1; done; exit $r",
			MNT);
}

/*
 * fsck.memsnap -y on a copy of the damaged image (work): it repairs it
 * (exit 1; then fsck -n is clean and the kernel mounts it and reads every
 * file) or leaves it alone (exit 0: nothing wrong, try_image mounts it;
 * exit 4, or 8 for an image it cannot read such as a version 1 one; then
 * the copy is byte for byte what it was).  Never made worse.  Returns
 * the number of violations.
 */
static int try_repair(struct __test_metadata *_metadata, struct stats *st,
		      const char *what)
{
	const char *root = getenv("MEMSNAP_ROOT");
	unsigned char *back;
	char dev[32];
	int fd, rc, lfd, bad = 0;

	fd = open(FIXED, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite(fd, work, IMG_SZ, 0) != (ssize_t)IMG_SZ) {
		TH_LOG("%s: cannot write %s", what, FIXED);
		return 1;
	}
	close(fd);
	rc = msnap_sh("%s/build/tools/fsck.memsnap -y %s > /dev/null 2>&1",
		      root, FIXED);
	/* Exit 0 (nothing to do) must write nothing either: try_image mounts it. */
	if (rc == 4 || rc == 8 || rc == 0) {
		if (rc)
			st->unrepaired++;
		back = malloc(IMG_SZ);
		fd = open(FIXED, O_RDONLY | O_CLOEXEC);
		if (!back || fd < 0 || pread(fd, back, IMG_SZ, 0) != (ssize_t)IMG_SZ ||
		    memcmp(back, work, IMG_SZ)) {
			TH_LOG("%s: fsck -y exited %d but changed the image", what, rc);
			bad++;
		}
		if (fd >= 0)
			close(fd);
		free(back);
		return bad;
	}
	if (rc != 1) {
		TH_LOG("%s: fsck -y exited %d", what, rc);
		return 1;
	}
	st->repaired++;
	if (msnap_sh("%s/build/tools/fsck.memsnap -n %s > /dev/null 2>&1",
		     root, FIXED)) {
		TH_LOG("%s: fsck -y exited %d, but fsck -n is not clean after it", what, rc);
		return 1;
	}
	if (loop_attach_file(dev, sizeof(dev), &lfd, FIXED)) {
		TH_LOG("%s: cannot attach %s", what, FIXED);
		return 1;
	}
	if (mount(dev, MNT, "memsnap", 0, NULL)) {
		TH_LOG("%s: repaired by fsck -y, but the mount failed: %s", what,
		       strerror(errno));
		bad++;
	} else {
		if (read_files()) {
			TH_LOG("%s: repaired, mounted, but the files do not read", what);
			bad++;
		}
		if (umount2(MNT, 0)) {
			TH_LOG("%s: repaired: umount: %s", what, strerror(errno));
			bad++;
		}
	}
	loop_detach(lfd);
	if (!bad && msnap_sh("%s/build/tools/fsck.memsnap -n %s > /dev/null 2>&1",
			     root, FIXED)) {
		TH_LOG("%s: repaired, but not clean after a mount", what);
		bad++;
	}
	return bad;
}

/*
 * Check one damaged image (work).  must_flag: fsck has to report it;
 * must_refuse: the mount has to fail.
 */
static void try_image(struct __test_metadata *_metadata, struct stats *st,
		      const char *what, int must_flag, int must_refuse)
{
	const char *res = getenv("MSVM_RESULTS");
	int lfd, rc, err, rc2, bad0 = st->bad;
	char dev[32], path[256];

	ASSERT_EQ(0, put_image(work));
	if (getenv("IMAGE_FUZZ_TRACE") && res)
		trace_image(_metadata, res, what);
	if (try_repair(_metadata, st, what))
		st->bad++;
	ASSERT_EQ(0, loop_attach(dev, sizeof(dev), &lfd));
	rc = msnap_sh("%s/build/tools/fsck.memsnap -n %s > /dev/null 2>&1",
		      getenv("MEMSNAP_ROOT"), dev);
	st->tries++;
	if (rc == 0)
		st->fsck_clean++;
	else
		st->fsck_flagged++;
	if (must_flag && rc == 0 && st->bad++ < 20)
		TH_LOG("%s: fsck found nothing wrong", what);
	err = mount(dev, MNT, "memsnap", 0, NULL) ? -errno : 0;
	if (err) {
		st->refused++;
		if (err != -EINVAL && err != -EUCLEAN && err != -EIO &&
		    st->bad++ < 20)
			TH_LOG("%s: mount failed with %s", what, strerror(-err));
		if (rc == 0 && st->bad++ < 20)
			TH_LOG("%s: fsck clean, but the mount failed: %s", what,
			       strerror(-err));
	} else {
		st->mounted++;
		st->mounted_flagged += rc != 0;
		if (must_refuse && st->bad++ < 20)
			TH_LOG("%s: mounted, but the kernel must refuse it", what);
		/* Read everything; errors are allowed only on damaged images. */
		rc2 = read_files();
		if (rc == 0 && rc2 != 0 && st->bad++ < 20)
			TH_LOG("%s: fsck clean, mounted, but the files do not read", what);
		if (umount2(MNT, 0) && st->bad++ < 20)
			TH_LOG("%s: umount: %s", what, strerror(errno));
		if (rc == 0 &&
		    msnap_sh("%s/build/tools/fsck.memsnap -n %s > /dev/null 2>&1",
			     getenv("MEMSNAP_ROOT"), dev) && st->bad++ < 20)
			TH_LOG("%s: clean before the mount, not after it", what);
	}
	loop_detach(lfd);
	unlink(FIXED);
	/* Keep the damaged image of a failure for a replay on the host. */
	if (st->bad != bad0 && res) {
		int fd;

		snprintf(path, sizeof(path), "%s/image_fuzz-%d.img", res, st->tries);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			if (pwrite(fd, work, IMG_SZ, 0) != (ssize_t)IMG_SZ)
				TH_LOG("cannot save %s", path);
			close(fd);
			TH_LOG("damaged image saved as %s", path);
		}
	}
}

FIXTURE(img) {
	int ready;
	struct msnap_super sb;		/* the newest */
	uint64_t node_blk, inode_blk, bitmap_blk;
	uint64_t unlinked_map;		/* page map root of ck3, unlinked in the log */
	uint64_t log_blk[64];
	int nlog;
	uint64_t ientry_blk;		/* a log block with an INODE entry */
	size_t ientry_off;		/* that entry's offset in the block */
	uint64_t dentry_blk;		/* a log block with a DATA entry */
	size_t dentry_off;		/* that entry's offset in the block */
	uint64_t ck1_inode, ck1_map;	/* ck1's inode block and page map root */
	uint64_t ck1_dentry_blk;	/* a DATA entry of ck1 in the log */
	size_t ck1_dentry_off;
};

static void write_file(struct __test_metadata *_metadata, const char *name,
		       int pages, int v, int persist)
{
	char path[128];
	char *p;
	int fd;

	snprintf(path, sizeof(path), MNT "/%s", name);
	p = msnap_map_file(MNT, name, pages * PG, &fd);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, v, pages * PG);
	if (persist)
		ASSERT_EQ(0, msnap_persist_ioc(fd, p, pages * PG, 0, NULL, NULL));
	munmap(p, pages * PG);
	close(fd);
}

FIXTURE_SETUP(img)
{
	const char *why = msnap_fs_unavailable();
	struct msnap_super sb[2];
	uint64_t b, blocks = IMG_SZ / PG;
	char dev[32];
	int lfd, fd, i;

	self->ready = 0;
	if (why)
		SKIP(return, "%s", why);
	if (access("/dev/loop-control", F_OK))
		SKIP(return, "no loop devices (/dev/loop-control)");
	orig = malloc(IMG_SZ);
	work = malloc(IMG_SZ);
	ASSERT_TRUE(orig && work);
	/* The workload: a checkpoint with files, then log records. */
	memset(orig, 0, IMG_SZ);
	ASSERT_EQ(0, put_image(orig));
	ASSERT_EQ(0, loop_attach(dev, sizeof(dev), &lfd));
	ASSERT_EQ(0, msnap_mkfs(dev));
	mkdir(MNT, 0755);
	ASSERT_EQ(0, mount(dev, MNT, "memsnap", 0, "commit=3600"));
	for (i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "ck%d", i);
		write_file(_metadata, name, i + 1, 0x10 + i, 1);
	}
	ASSERT_EQ(0, chmod(MNT "/ck0", 0600));
	ASSERT_EQ(0, umount2(MNT, 0));
	ASSERT_EQ(0, mount(dev, MNT, "memsnap", 0, "commit=3600"));
	write_file(_metadata, "log1", 2, 0x21, 1);
	write_file(_metadata, "ck1", 3, 0x22, 1);
	ASSERT_EQ(0, rename(MNT "/ck2", MNT "/renamed"));
	ASSERT_EQ(0, unlink(MNT "/ck3"));
	ASSERT_EQ(0, truncate(MNT "/ck4", 10));
	write_file(_metadata, "log2", 3, 0x23, 1);
	/* The crash image: the device as it is while mounted. */
	fd = open(FILE_, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(IMG_SZ, pread(fd, orig, IMG_SZ, 0));
	close(fd);
	ASSERT_EQ(0, umount2(MNT, 0));
	loop_detach(lfd);

	/* Find the structures to damage. */
	memcpy(&sb[0], orig, PG);
	memcpy(&sb[1], orig + PG, PG);
	i = sb[1].generation > sb[0].generation;
	self->sb = sb[i];
	self->node_blk = self->sb.inode_height ? self->sb.inode_root : 0;
	for (b = self->sb.data_start; b < blocks; b++) {
		const struct msnap_inode *in = (void *)(orig + b * PG);

		if (in->magic != MSNAP_INODE_MAGIC || in->ino < MSNAP_FIRST_INO ||
		    !in->map_height)
			continue;
		if (!self->inode_blk)
			self->inode_blk = b;
		if (in->name_len == 3 && !memcmp(in->name, "ck3", 3) &&
		    in->map_height == 1)
			self->unlinked_map = in->map_root;
		if (in->name_len == 3 && !memcmp(in->name, "ck1", 3) &&
		    in->map_height == 1) {
			self->ck1_inode = b;
			self->ck1_map = in->map_root;
		}
	}
	self->bitmap_blk = self->sb.bitmap_start +
			   self->sb.bitmap_copy * self->sb.bitmap_blocks;
	for (b = 0; b < self->sb.log_blocks && self->nlog < 64; b++) {
		const struct msnap_log_block *lb =
			(void *)(orig + (self->sb.log_start + b) * PG);

		if (lb->magic == MSNAP_LOG_MAGIC && lb->seq > self->sb.ckpt_seq)
			self->log_blk[self->nlog++] = self->sb.log_start + b;
	}
	/*
	 * The first INODE entry of a file in the log, the first DATA entry,
	 * and the first DATA entry of ck1.
	 */
	for (i = 0; i < self->nlog; i++) {
		const struct msnap_log_block *lb =
			(void *)(orig + self->log_blk[i] * PG);
		const struct msnap_entry_hdr *h;
		uint32_t off;

		for (off = 0; off + sizeof(*h) <= lb->bytes_used &&
		     off + sizeof(*h) <= sizeof(lb->payload); off += h->len) {
			h = (const void *)(lb->payload + off);
			if (h->len < sizeof(*h))
				break;
			if (h->type == MSNAP_ENTRY_INODE && !self->ientry_blk &&
			    h->ino >= MSNAP_FIRST_INO) {
				self->ientry_blk = self->log_blk[i];
				self->ientry_off = offsetof(struct msnap_log_block,
							    payload) + off;
			}
			if (h->type == MSNAP_ENTRY_DATA && !self->dentry_blk) {
				self->dentry_blk = self->log_blk[i];
				self->dentry_off = offsetof(struct msnap_log_block,
							    payload) + off;
			}
			if (h->type == MSNAP_ENTRY_DATA && self->ck1_inode &&
			    !self->ck1_dentry_blk &&
			    h->ino == ((struct msnap_inode *)
				       (orig + self->ck1_inode * PG))->ino) {
				self->ck1_dentry_blk = self->log_blk[i];
				self->ck1_dentry_off =
					offsetof(struct msnap_log_block, payload) + off;
			}
		}
	}
	ASSERT_NE(0, self->node_blk);
	ASSERT_NE(0, self->inode_blk);
	ASSERT_NE(0, self->ientry_blk);
	ASSERT_NE(0, self->dentry_blk);
	ASSERT_NE(0, self->ck1_dentry_blk);
	ASSERT_LT(0, self->nlog);
	TH_LOG("superblock %c, inode root %llu, inode block %llu, bitmap %llu, %d log blocks",
	       'A' + i, (unsigned long long)self->node_blk,
	       (unsigned long long)self->inode_blk,
	       (unsigned long long)self->bitmap_blk, self->nlog);
	self->ready = 1;
}

FIXTURE_TEARDOWN(img)
{
	umount2(MNT, MNT_DETACH);
	unlink(FILE_);
}

enum kind { U8, U16, U32, U64 };

struct field {
	const char *name;
	int which;		/* 0 sb, 1 node, 2 inode, 3 bitmap, 4 log, 5 map leaf,
				 * 6 a log INODE entry, 7 a log DATA entry */
	size_t off;
	enum kind k;
	uint64_t val;		/* stored (xor when xor) */
	int xor;
	int must_flag;
	int known_bug;		/* damage that once reached a kernel bug */
	int must_refuse;	/* the mount must fail */
};

#define F(w, st, fld, kind, v, x, m) \
	{ #st "." #fld, w, offsetof(struct st, fld), kind, v, x, m, 0, 0 }
/* Attributes the format forbids: fsck flags them, the kernel refuses. */
#define BAD(w, st, fld, kind, v) \
	{ #st "." #fld, w, offsetof(struct st, fld), kind, v, 0, 1, 0, 1 }

/* A val that stands for the inode tree root's block number. */
#define V_INODE_ROOT	0xfeedfeedULL

static const struct field fields[] = {
	F(0, msnap_super, magic, U64, 1, 1, 1),
	F(0, msnap_super, version, U32, 1, 0, 1),
	F(0, msnap_super, version, U32, 3, 0, 1),
	F(0, msnap_super, incompat, U64, 0, 0, 1),
	F(0, msnap_super, log_nonce, U64, 0, 0, 1),
	F(0, msnap_super, reserved32, U32, 1, 0, 1),
	F(0, msnap_super, block_size, U32, 8192, 0, 1),
	F(0, msnap_super, blocks, U64, 1 << 20, 0, 1),
	F(0, msnap_super, log_start, U64, 1, 1, 1),
	F(0, msnap_super, log_blocks, U64, 3, 0, 1),
	F(0, msnap_super, bitmap_start, U64, 1, 0, 1),
	F(0, msnap_super, data_start, U64, 1, 0, 1),
	F(0, msnap_super, incompat, U64, 1ULL << 63, 0, 1),
	F(0, msnap_super, inode_root, U64, 1, 0, 1),
	F(0, msnap_super, inode_height, U32, 9, 0, 1),
	F(0, msnap_super, bitmap_copy, U32, 2, 0, 1),
	F(0, msnap_super, log_head, U64, 1ULL << 40, 0, 1),
	F(0, msnap_super, reserved[100], U8, 1, 0, 1),
	F(0, msnap_super, next_ino, U64, 1, 0, 1),
	F(0, msnap_super, generation, U64, 1ULL << 62, 0, 0),
	F(0, msnap_super, ckpt_seq, U64, 1ULL << 40, 0, 0),
	F(0, msnap_super, state, U32, 0xffff, 0, 0),
	/* Inode numbers are inode tree keys, below 504^7: none left. */
	BAD(0, msnap_super, next_ino, U64, ~0ULL),
	F(1, msnap_node, magic, U32, 1, 1, 1),
	F(1, msnap_node, level, U32, 5, 0, 1),
	F(1, msnap_node, reserved[3], U8, 1, 0, 1),
	F(1, msnap_node, slot[2], U64, 1, 0, 1),
	F(1, msnap_node, slot[2], U64, 1ULL << 40, 0, 1),
	F(1, msnap_node, used, U32, 400, 0, 0),
	F(1, msnap_node, owner, U64, 77, 0, 0),
	F(1, msnap_node, first_key, U64, 504, 0, 0),
	F(2, msnap_inode, magic, U32, 1, 1, 1),
	F(2, msnap_inode, ino, U64, 1000, 0, 1),
	F(2, msnap_inode, mode, U32, 0020644, 0, 1),
	F(2, msnap_inode, map_height, U32, 9, 0, 1),
	F(2, msnap_inode, map_root, U64, 1, 0, 1),
	F(2, msnap_inode, name_len, U32, 300, 0, 1),
	F(2, msnap_inode, reserved1[0], U8, 1, 0, 1),
	F(2, msnap_inode, reserved[7], U8, 1, 0, 1),
	F(2, msnap_inode, blocks, U64, 12345, 0, 1),
	F(2, msnap_inode, size, U64, 0, 0, 0),
	F(2, msnap_inode, flags, U32, 0xf0, 0, 0),
	/*
	 * Once a kernel bug: neither the inode block nor a replayed INODE
	 * entry had its size checked, and reading a file of 2^58 bytes
	 * (holes up to s_maxbytes, 16 TiB) kept the guest busy for ever.
	 */
	BAD(2, msnap_inode, size, U64, 1ULL << 58),
	BAD(2, msnap_inode, mtime_nsec, U32, 1000000000),
	BAD(2, msnap_inode, mode, U32, 0100644 | 0200000),
	BAD(6, msnap_entry_inode, size, U64, 1ULL << 58),
	BAD(6, msnap_entry_inode, size, U64, (16ULL << 40) + 1),
	BAD(6, msnap_entry_inode, ctime_nsec, U32, 0xffffffff),
	BAD(6, msnap_entry_inode, mode, U32, 0120644),
	BAD(6, msnap_entry_inode, flags, U32, 0x80),
	F(3, msnap_bitmap, magic, U32, 1, 1, 1),
	F(3, msnap_bitmap, index, U64, 7, 0, 1),
	F(3, msnap_bitmap, reserved[0], U8, 1, 0, 1),
	/*
	 * Once a kernel bug: log replay freed the old block of a remapped
	 * page without checking the bitmap had it in use (a WARN in
	 * msnap_release_ondisk()), and a referenced block marked free could
	 * be handed to another file.  The mount now checks every block the
	 * checkpoint references against the bitmap.
	 */
	{ "msnap_bitmap.bits[0] (used blocks marked free)", 3,
	  offsetof(struct msnap_bitmap, bits), U8, 0, 0, 1, 1, 1 },
	{ "msnap_bitmap.bits[1] (used blocks marked free)", 3,
	  offsetof(struct msnap_bitmap, bits) + 1, U8, 0, 0, 1, 1, 1 },
	{ "msnap_bitmap.bits[2] (used blocks marked free)", 3,
	  offsetof(struct msnap_bitmap, bits) + 2, U8, 0, 0, 1, 1, 1 },
	/*
	 * Once a kernel bug: replaying the log's unlink of ck3 released its
	 * page map's values unchecked: a slot outside the data area WARNed
	 * in msnap_release_ondisk() (from msnap_release_tree_value(), via
	 * msnap_inode_unlinked()), and again in msnap_release_used() when
	 * the failed mount evicted the inode.
	 */
	{ "page map leaf of a file the log unlinks: slot[0] = 1", 5,
	  offsetof(struct msnap_node, slot), U64, 1, 0, 1, 1, 1 },
	/* A page map and the inode tree share a block. */
	{ "page map leaf of ck3: slot[1] = the inode tree root", 5,
	  offsetof(struct msnap_node, slot[1]), U64, V_INODE_ROOT, 0, 1, 0, 1 },
	/*
	 * A DATA entry that fsck's record checks call corruption: a page
	 * past the file's size (and past the largest file), a block outside
	 * the data area.  The kernel must refuse where fsck does.
	 */
	BAD(7, msnap_entry_data, index, U64, 1ULL << 20),
	BAD(7, msnap_entry_data, index, U64, 1ULL << 40),
	BAD(7, msnap_entry_data, index, U64, 1ULL << 63),
	BAD(7, msnap_entry_data, block, U64, 1),
	F(4, msnap_log_block, magic, U32, 1, 1, 0),
	F(4, msnap_log_block, seq, U64, 5, 1, 0),
	F(4, msnap_log_block, index, U32, 3, 0, 0),
	F(4, msnap_log_block, count, U32, 0, 0, 0),
	F(4, msnap_log_block, count, U32, 1000000, 0, 0),
	F(4, msnap_log_block, entries, U32, 1000, 0, 0),
	F(4, msnap_log_block, bytes_used, U32, 5000, 0, 0),
	F(4, msnap_log_block, nonce, U64, 1, 1, 0),
	F(4, msnap_log_block, reserved[0], U8, 1, 0, 0),
	/* The first entry's header, then its body. */
	F(4, msnap_log_block, payload[0], U16, 99, 0, 0),
	F(4, msnap_log_block, payload[2], U16, 4, 0, 0),
	F(4, msnap_log_block, payload[2], U16, 0xfff8, 0, 0),
	F(4, msnap_log_block, payload[4], U32, 1, 0, 0),
	F(4, msnap_log_block, payload[8], U64, 0, 0, 0),
	F(4, msnap_log_block, payload[8], U64, 1ULL << 50, 0, 0),
	F(4, msnap_log_block, payload[16], U64, 1ULL << 40, 0, 0),
	F(4, msnap_log_block, payload[24], U64, 1, 0, 0),
	F(4, msnap_log_block, payload[24], U64, 1ULL << 40, 0, 0),
};

static void store(unsigned char *p, enum kind k, uint64_t v, int x)
{
	uint64_t old = 0;
	size_t n = k == U8 ? 1 : k == U16 ? 2 : k == U32 ? 4 : 8;

	memcpy(&old, p, n);
	v = x ? old ^ v : v;
	memcpy(p, &v, n);
}

TEST_F_TIMEOUT(img, targeted_fields, 1800)
{
	struct stats st = {};
	size_t i;
	int j;

	if (!self->ready)
		return;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		int n = f->which == 4 ? (self->nlog < 2 ? self->nlog : 2) : 1;

		if ((f->which == 5 && !self->unlinked_map) ||
		    (f->which == 6 && !self->ientry_blk) ||
		    (f->which == 7 && !self->dentry_blk))
			continue;

		for (j = 0; j < n; j++) {
			uint64_t b;
			char what[128];
			unsigned char *blk;

			switch (f->which) {
			case 0: b = self->sb.generation == ((struct msnap_super *)orig)->generation ? 0 : 1; break;
			case 1: b = self->node_blk; break;
			case 2: b = self->inode_blk; break;
			case 3: b = self->bitmap_blk; break;
			case 5: b = self->unlinked_map; break;
			case 6: b = self->ientry_blk; break;
			case 7: b = self->dentry_blk; break;
			default: b = self->log_blk[j == 0 ? 0 : self->nlog - 1];
			}
			memcpy(work, orig, IMG_SZ);
			blk = work + b * PG;
			store(blk + f->off + (f->which == 6 ? self->ientry_off :
					      f->which == 7 ? self->dentry_off : 0),
			      f->k, f->val, f->xor);
			if (f->val == V_INODE_ROOT)
				store(blk + f->off, U64, self->node_blk, 0);
			fix_crc(blk, crc_off(orig + b * PG));
			snprintf(what, sizeof(what), "%s (block %llu)", f->name,
				 (unsigned long long)b);
			try_image(_metadata, &st, what, f->must_flag,
				  f->must_refuse);
		}
	}
	TH_LOG("%d images: %d refused, %d mounted (%d of them flagged by fsck); fsck: %d clean, %d flagged",
	       st.tries, st.refused, st.mounted, st.mounted_flagged,
	       st.fsck_clean, st.fsck_flagged);
	TH_LOG("fsck -y: %d repaired (then clean and mounted), %d left unchanged",
	       st.repaired, st.unrepaired);
	EXPECT_EQ(0, st.bad);
}

/*
 * A fresh filesystem (its log of 64 blocks, the least mkfs makes) remade
 * into one with a log of 3 and an otherwise consistent layout: the
 * bitmaps and the data area moved down, every block number in a
 * superblock or a node with them.  The format requires 4 log blocks; with fewer no record is
 * ever replayable (a record may use a quarter of the log).
 */
static int small_log_image(struct __test_metadata *_metadata)
{
	struct msnap_super *sb;
	struct msnap_node *n;
	char dev[32];
	uint64_t b, shift = 0;
	int lfd, fd, i, s;

	memset(work, 0, IMG_SZ);
	if (put_image(work) || loop_attach(dev, sizeof(dev), &lfd))
		return -1;
	i = msnap_sh("%s/build/tools/mkfs.memsnap -f -q -l 256K %s",
		     getenv("MEMSNAP_ROOT"), dev);
	loop_detach(lfd);
	fd = open(FILE_, O_RDONLY);
	if (i || fd < 0 || pread(fd, work, IMG_SZ, 0) != (ssize_t)IMG_SZ)
		return -1;
	close(fd);
	for (i = 0; i < 2; i++) {
		sb = (void *)(work + i * PG);
		if (sb->magic != MSNAP_SB_MAGIC)
			continue;
		if (sb->log_start != 2 || sb->bitmap_blocks != 1 ||
		    sb->bitmap_start != 2 + sb->log_blocks)
			return -1;
		shift = sb->log_blocks - 3;
		sb->log_blocks = 3;
		sb->bitmap_start = 5;
		sb->data_start = 7;
		if (sb->inode_root)
			sb->inode_root -= shift;
		fix_crc(work + i * PG, crc_off(work + i * PG));
	}
	if (!shift)
		return -1;
	memmove(work + 5 * PG, work + (5 + shift) * PG,
		IMG_SZ - (5 + shift) * PG);
	memset(work + IMG_SZ - shift * PG, 0, shift * PG);
	for (b = 7; b < IMG_SZ / PG; b++) {
		n = (void *)(work + b * PG);
		if (n->magic != MSNAP_NODE_MAGIC)
			continue;
		for (s = 0; s < MSNAP_NODE_SLOTS; s++)
			if (n->slot[s])
				n->slot[s] -= shift;
		fix_crc(work + b * PG, crc_off(work + b * PG));
	}
	return 0;
}

/* Damage that takes more than one field; each image must be refused. */
TEST_F_TIMEOUT(img, crafted_images, 300)
{
	struct stats st = {};
	struct msnap_inode *in;
	struct msnap_node *n;
	uint64_t key = 1;
	int i;

	if (!self->ready)
		return;
	/*
	 * Once an out-of-bounds read in msnap_tree_lookup(): a page map of
	 * height 7 (ck1's, its leaf claiming level 6) and a DATA entry of
	 * ck1 for page 504^7, whose slot in the root is past the node.
	 */
	for (i = 0; i < 7; i++)
		key *= MSNAP_NODE_SLOTS;
	memcpy(work, orig, IMG_SZ);
	in = (void *)(work + self->ck1_inode * PG);
	in->map_height = 7;
	fix_crc(work + self->ck1_inode * PG, 4);
	n = (void *)(work + self->ck1_map * PG);
	n->level = 6;
	fix_crc(work + self->ck1_map * PG, 4);
	store(work + self->ck1_dentry_blk * PG + self->ck1_dentry_off +
	      offsetof(struct msnap_entry_data, index), U64, key, 0);
	fix_crc(work + self->ck1_dentry_blk * PG, 4);
	try_image(_metadata, &st, "ck1: page map of height 7, DATA for page 504^7",
		  1, 1);

	ASSERT_EQ(0, small_log_image(_metadata));
	try_image(_metadata, &st, "a log of 3 blocks, the layout consistent", 1, 1);
	TH_LOG("%d images: %d refused, %d mounted", st.tries, st.refused,
	       st.mounted);
	EXPECT_EQ(0, st.bad);
}

TEST_F_TIMEOUT(img, random_damage, 900)
{
	const char *es = getenv("IMAGE_FUZZ_SECONDS"), *ss = getenv("IMAGE_FUZZ_SEED");
	double secs = es ? atof(es) : 25;
	/* A fixed default: CI runs damage that is known to be handled. */
	unsigned int seed = ss ? strtoul(ss, NULL, 0) : 20261121;
	/* IMAGE_FUZZ_TRY=N: only try N of the seed's sequence (a replay). */
	const char *only = getenv("IMAGE_FUZZ_TRY");
	int one = only ? atoi(only) : -1;
	uint64_t meta[4096], b, blocks = IMG_SZ / PG;
	struct stats st = {};
	struct timespec t0, t;
	int nmeta = 0, k, co, fix;

	if (!self->ready)
		return;
	for (b = 0; b < blocks && nmeta < 4096; b++)
		if (crc_off(orig + b * PG) >= 0)
			meta[nmeta++] = b;
	TH_LOG("seed %u (IMAGE_FUZZ_SEED replays), %d metadata blocks, %.0f s",
	       seed, nmeta, secs);
	srandom(seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t = t0;
	do {
		int nflip = 1 + random() % 4, fix0 = random() % 3, nblk = 1 + (random() % 4 == 0);
		char what[160];
		int n;

		memcpy(work, orig, IMG_SZ);
		n = snprintf(what, sizeof(what), "try %d:", st.tries);
		while (nblk--) {
			b = meta[random() % nmeta];
			co = crc_off(orig + b * PG);
			fix = fix0;
			for (k = 0; k < nflip; k++) {
				size_t off = random() % 2 ? random() % 128 : random() % PG;

				if (random() % 3)
					work[b * PG + off] ^= 1 << (random() % 8);
				else
					work[b * PG + off] = random();
			}
			if (fix)
				fix_crc(work + b * PG, co);
			n += snprintf(what + n, sizeof(what) - n, " block %llu (%.4s) %d flip(s) crc %s",
				      (unsigned long long)b, b < 2 ? "SUPR" : (char *)orig + b * PG,
				      nflip, fix ? "fixed" : "stale");
		}
		if (one >= 0 && st.tries != one) {
			st.tries++;	/* only the damage of try @one */
			continue;
		}
		try_image(_metadata, &st, what, 0, 0);
		if (one >= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < secs);
	TH_LOG("%d images: %d refused, %d mounted (%d of them flagged by fsck); fsck: %d clean, %d flagged",
	       st.tries, st.refused, st.mounted, st.mounted_flagged,
	       st.fsck_clean, st.fsck_flagged);
	TH_LOG("fsck -y: %d repaired (then clean and mounted), %d left unchanged",
	       st.repaired, st.unrepaired);
	EXPECT_EQ(0, st.bad);
}

TEST_HARNESS_MAIN
