// SPDX-License-Identifier: GPL-2.0
/*
 * mkfs.memsnap: make a memsnap filesystem on a block device or image file.
 *
 *   mkfs.memsnap [-L label] [--log-size SIZE] [-O FEATURES] [-f] [-q]
 *                DEVICE|IMAGE
 *
 * The layout and the initial state it writes are specified in
 * docs/format.md ("Layout", "The state mkfs writes").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <blkid/blkid.h>

#include "msnapfs.h"

#define MKFS_VERSION	"0.1.0"
#define ZERO_CHUNK	(1U << 20)

struct mkfs_opts {
	const char	*label;
	uint64_t	log_size;	/* bytes, 0: default */
	uint64_t	incompat;	/* MSNAP_FEATURE_INCOMPAT_* to set */
	bool		force;
	bool		quiet;
	const char	*path;
};

static void __attribute__((noreturn)) usage(FILE *f, int status)
{
	fprintf(f, "usage: mkfs.memsnap [-L label] [--log-size SIZE] [-O FEATURES] [-f] [-q]\n"
		"                    DEVICE|IMAGE\n"
		"  -L, --label LABEL   filesystem label, at most %d bytes\n"
		"  -l, --log-size SIZE log size, a power of 2 with an optional\n"
		"                      K, M, G or T suffix (default: device/64,\n"
		"                      1 MiB to 64 MiB)\n"
		"  -O, --features LIST features to set (NAME) or clear (^NAME),\n"
		"                      comma separated: dirs (default: on)\n"
		"  -f, --force         overwrite an existing filesystem\n"
		"  -q, --quiet         print nothing on success\n"
		"  -V, --version       print the version and exit\n",
		MSNAP_LABEL_MAX - 1);
	exit(status);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	msnap_err("%s", buf);
	exit(1);
}

/* "256K", "1M", "4194304": bytes, binary suffixes; -1 if malformed. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	uint64_t v;
	int shift;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		u = strchr(units, *end & ~0x20);
		if (!u || !*u || end[1])
			return -1;
		shift = 10 * (int)(u - units + 1);
		if (v > UINT64_MAX >> shift)
			return -1;
		v <<= shift;
	}
	*out = v;
	return 0;
}

/* The features -O knows; log_nonce is in every version 2 filesystem. */
static const struct feature {
	const char	*name;
	uint64_t	incompat;
	bool		required;
} features[] = {
	{ "log_nonce",	MSNAP_FEATURE_INCOMPAT_LOG_NONCE, true },
	{ "dirs",	MSNAP_FEATURE_INCOMPAT_DIRS, false },
};

#define NR_FEATURES	(sizeof(features) / sizeof(features[0]))

/* "-O ^dirs", "-O dirs,log_nonce": as mke2fs -O, later words win. */
static void parse_features(const char *list, uint64_t *incompat)
{
	char *copy = strdup(list), *word, *save = NULL;
	const struct feature *ft;
	const char *name;
	bool clear;
	size_t i;

	if (!copy)
		die("out of memory");
	if (!list[strspn(list, ",")])
		die("-O needs a feature list, such as ^dirs");
	for (word = strtok_r(copy, ",", &save); word;
	     word = strtok_r(NULL, ",", &save)) {
		clear = *word == '^';
		name = word + clear;
		for (ft = NULL, i = 0; i < NR_FEATURES; i++)
			if (!strcmp(features[i].name, name))
				ft = &features[i];
		if (!ft)
			die("unknown feature '%s' (known: log_nonce, dirs)",
			    name);
		if (clear && ft->required)
			die("feature %s cannot be cleared: every version 2 filesystem has it",
			    name);
		if (clear)
			*incompat &= ~ft->incompat;
		else
			*incompat |= ft->incompat;
	}
	free(copy);
}

static void parse_args(int argc, char **argv, struct mkfs_opts *o)
{
	static const struct option longopts[] = {
		{ "label",	required_argument, NULL, 'L' },
		{ "log-size",	required_argument, NULL, 'l' },
		{ "features",	required_argument, NULL, 'O' },
		{ "force",	no_argument,	   NULL, 'f' },
		{ "quiet",	no_argument,	   NULL, 'q' },
		{ "version",	no_argument,	   NULL, 'V' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ }
	};
	int c;

	o->incompat = MSNAP_FEATURE_INCOMPAT_LOG_NONCE |
		      MSNAP_FEATURE_INCOMPAT_DIRS;
	while ((c = getopt_long(argc, argv, "L:l:O:fqVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'O':
			parse_features(optarg, &o->incompat);
			break;
		case 'L':
			o->label = optarg;
			break;
		case 'l':
			if (parse_size(optarg, &o->log_size) || !o->log_size ||
			    (o->log_size & (o->log_size - 1)))
				die("invalid log size '%s': expected a power of 2, such as 4M",
				    optarg);
			break;
		case 'f':
			o->force = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'V':
			printf("mkfs.memsnap %s\n", MKFS_VERSION);
			exit(0);
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, 1);
		}
	}
	if (optind != argc - 1)
		usage(stderr, 1);
	o->path = argv[optind];
	if (o->label && strlen(o->label) >= MSNAP_LABEL_MAX)
		die("label too long: at most %d bytes", MSNAP_LABEL_MAX - 1);
}

/* ---- refusing to destroy what is there ------------------------------- */

/* Whether the block device dev is mounted, as /proc/self/mountinfo says. */
static bool bdev_mounted(dev_t dev)
{
	unsigned int maj, min;
	char *line = NULL;
	size_t len = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (!found && getline(&line, &len, f) > 0) {
		/* "36 35 98:0 /mnt1 /mnt2 rw ...": the third field. */
		if (sscanf(line, "%*u %*u %u:%u", &maj, &min) == 2)
			found = maj == major(dev) && min == minor(dev);
	}
	free(line);
	fclose(f);
	return found;
}

static bool has_memsnap_magic(struct msnap_dev *dev)
{
	struct msnap_super sb;
	int i;

	for (i = MSNAP_SB_BLOCK_A; i <= MSNAP_SB_BLOCK_B; i++)
		if (!msnap_read_block(dev, i, &sb) &&
		    le64(sb.magic) == MSNAP_SB_MAGIC)
			return true;
	return false;
}

/*
 * What libblkid recognises on the device (a filesystem, RAID or LVM
 * member, partition table), or NULL.  With wipe, erase those signatures
 * as wipefs(8) would, so that nothing detects the old contents after
 * mkfs: memsnap's own structures may not cover where they lie.
 */
static char *blkid_signature(struct msnap_dev *dev, bool wipe)
{
	blkid_probe pr = blkid_new_probe();
	const char *type = NULL, *what = "filesystem of type";
	char *found = NULL;
	size_t len = 0;

	if (!pr || blkid_probe_set_device(pr, dev->fd, 0, 0))
		goto out;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_MAGIC |
					  BLKID_SUBLKS_BADCSUM);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	while (blkid_do_probe(pr) == 0) {
		if (!found &&
		    !blkid_probe_lookup_value(pr, "TYPE", &type, &len))
			found = strdup(type);
		else if (!found &&
			 !blkid_probe_lookup_value(pr, "PTTYPE", &type, &len)) {
			what = "partition table of type";
			found = strdup(type);
		}
		if (!wipe)
			break;
		blkid_do_wipe(pr, 0);
	}
	if (found && !wipe) {
		char *s = NULL;

		if (asprintf(&s, "%s %s", what, found) > 0) {
			free(found);
			found = s;
		}
	}
out:
	if (pr)
		blkid_free_probe(pr);
	return found;
}

static void check_not_in_use(const struct mkfs_opts *o, struct msnap_dev *dev)
{
	char *sig;

	if (has_memsnap_magic(dev) && !o->force)
		die("%s contains a memsnap filesystem (use -f to overwrite it)",
		    o->path);
	sig = blkid_signature(dev, false);
	if (sig && !o->force)
		die("%s contains a %s (use -f to overwrite it)", o->path, sig);
	free(sig);
	if (o->force)
		free(blkid_signature(dev, true));
}

static void open_device(const struct mkfs_opts *o, struct msnap_dev *dev)
{
	struct stat st;
	int flags = O_RDWR;

	if (stat(o->path, &st))
		die("cannot open %s: %s", o->path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (bdev_mounted(st.st_rdev))
			die("%s is mounted", o->path);
		/* Fails while anyone else holds it: a mount, md, dm, swap. */
		flags |= O_EXCL;
	}
	if (msnap_dev_open(dev, o->path, flags)) {
		if (errno == EBUSY)
			die("%s is in use", o->path);
		exit(1);
	}
	if (dev->size < MSNAP_MIN_DEVICE)
		die("%s is too small: %llu bytes, memsnap needs at least 4 MiB",
		    o->path, (unsigned long long)dev->size);
}

/* ---- layout ---------------------------------------------------------- */

static uint64_t log_size(const struct mkfs_opts *o, const struct msnap_dev *dev)
{
	uint64_t size = o->log_size;

	if (!size) {
		size = dev->size / 64;
		if (size < MSNAP_DEF_LOG_MIN)
			size = MSNAP_DEF_LOG_MIN;
		if (size > MSNAP_DEF_LOG_MAX)
			size = MSNAP_DEF_LOG_MAX;
		return size & ~(uint64_t)(MSNAP_BLOCK_SIZE - 1);
	}
	if (size < MSNAP_MIN_LOG)
		die("log size %llu too small: at least 256K",
		    (unsigned long long)size);
	if (size > dev->size / 4)
		die("log size %llu too large: at most a quarter of the device (%llu bytes)",
		    (unsigned long long)size,
		    (unsigned long long)(dev->size / 4));
	return size;
}

static void make_super(struct msnap_super *sb, const struct msnap_geom *g,
		       const struct mkfs_opts *o, uint64_t now)
{
	const char *label = o->label;

	memset(sb, 0, sizeof(*sb));
	sb->magic = htole64(MSNAP_SB_MAGIC);
	sb->version = htole32(MSNAP_VERSION);
	sb->incompat = htole64(o->incompat);
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != sizeof(sb->uuid) ||
	    getrandom(&sb->log_nonce, sizeof(sb->log_nonce), 0) !=
	    sizeof(sb->log_nonce))
		die("cannot get random bytes for the uuid: %s",
		    strerror(errno));
	if (!sb->log_nonce)
		sb->log_nonce = htole64(1);
	sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40;	/* RFC 4122 v4 */
	sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;
	if (label)
		strncpy(sb->label, label, sizeof(sb->label) - 1);
	sb->block_size = htole32(MSNAP_BLOCK_SIZE);
	sb->state = htole32(MSNAP_SB_CLEAN);
	sb->blocks = htole64(g->blocks);
	sb->log_start = htole64(g->log_start);
	sb->log_blocks = htole64(g->log_blocks);
	sb->bitmap_start = htole64(g->bitmap_start);
	sb->bitmap_blocks = htole64(g->bitmap_blocks);
	sb->data_start = htole64(g->data_start);
	sb->inode_root = htole64(g->data_start);
	sb->inode_height = htole32(1);
	sb->next_ino = htole64(MSNAP_FIRST_INO);
	sb->free_blocks = htole64(g->blocks - g->data_start - 2);
	sb->mkfs_time = htole64(now);
	sb->ckpt_time = htole64(now);
}

/* ---- writing --------------------------------------------------------- */

static void write_block(struct msnap_dev *dev, uint64_t blk, void *buf,
			size_t crc_off)
{
	msnap_block_set_crc(buf, crc_off);
	if (msnap_write_block(dev, blk, buf))
		exit(1);
}

static void zero_blocks(struct msnap_dev *dev, uint64_t blk, uint64_t n)
{
	static char zero[ZERO_CHUNK];
	uint64_t per = ZERO_CHUNK / MSNAP_BLOCK_SIZE, k;
	ssize_t len;

	while (n) {
		k = n < per ? n : per;
		len = (ssize_t)(k * MSNAP_BLOCK_SIZE);
		errno = 0;
		if (pwrite(dev->fd, zero, len, blk * MSNAP_BLOCK_SIZE) != len)
			die("%s: cannot write: %s", dev->path,
			    errno ? strerror(errno) : "short write");
		blk += k;
		n -= k;
	}
}

/* Both copies, identical: bits 0 and 1 (the inode tree leaf and the
 * root inode) set, everything else free. */
static void write_bitmaps(struct msnap_dev *dev, const struct msnap_geom *g)
{
	struct msnap_bitmap bm;
	uint64_t i, copy;

	for (copy = 0; copy < 2; copy++) {
		for (i = 0; i < g->bitmap_blocks; i++) {
			memset(&bm, 0, sizeof(bm));
			bm.magic = htole32(MSNAP_BITMAP_MAGIC);
			bm.index = htole64(i);
			bm.generation = htole64(1);
			if (i == 0)
				bm.bits[0] = 0x03;
			write_block(dev, g->bitmap_start +
				    copy * g->bitmap_blocks + i, &bm,
				    offsetof(struct msnap_bitmap, crc));
		}
	}
}

static void write_root(struct msnap_dev *dev, const struct msnap_geom *g,
		       uint64_t now)
{
	struct msnap_node node;
	struct msnap_inode ino;

	memset(&node, 0, sizeof(node));
	node.magic = htole32(MSNAP_NODE_MAGIC);
	node.generation = htole64(1);
	node.used = htole32(1);
	node.slot[MSNAP_ROOT_INO] = htole64(g->data_start + 1);
	write_block(dev, g->data_start, &node, offsetof(struct msnap_node, crc));

	memset(&ino, 0, sizeof(ino));
	ino.magic = htole32(MSNAP_INODE_MAGIC);
	ino.ino = htole64(MSNAP_ROOT_INO);
	ino.generation = htole64(1);
	ino.mode = htole32(S_IFDIR | 0755);
	ino.atime_sec = ino.mtime_sec = ino.ctime_sec = htole64(now);
	write_block(dev, g->data_start + 1, &ino,
		    offsetof(struct msnap_inode, crc));
}

static void sync_dev(struct msnap_dev *dev)
{
	if (fsync(dev->fd))
		die("%s: cannot sync: %s", dev->path, strerror(errno));
}

/*
 * Superblocks last, after everything they point to is durable, and
 * invalidated first, so that a mkfs cut short leaves no filesystem
 * rather than one pointing at half-written structures.
 */
static void write_fs(struct msnap_dev *dev, const struct msnap_geom *g,
		     struct msnap_super *sb, uint64_t now)
{
	zero_blocks(dev, MSNAP_SB_BLOCK_A, 2);
	sync_dev(dev);
	zero_blocks(dev, g->log_start, g->log_blocks);
	write_bitmaps(dev, g);
	write_root(dev, g, now);
	sync_dev(dev);

	sb->generation = htole64(1);
	sb->bitmap_copy = htole32(1);
	write_block(dev, MSNAP_SB_BLOCK_B, sb, offsetof(struct msnap_super, crc));
	sb->generation = htole64(2);
	sb->bitmap_copy = htole32(0);
	write_block(dev, MSNAP_SB_BLOCK_A, sb, offsetof(struct msnap_super, crc));
	sync_dev(dev);
}

/* ---- summary --------------------------------------------------------- */

static const char *human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static void summary(const struct mkfs_opts *o, const struct msnap_dev *dev,
		    const struct msnap_geom *g, const struct msnap_super *sb)
{
	const unsigned char *u = sb->uuid;
	char h[32];
	size_t i;

	printf("device:      %s\n", o->path);
	printf("size:        %llu bytes (%s)\n",
	       (unsigned long long)dev->size, human(dev->size, h, sizeof(h)));
	printf("blocks:      %llu of %u bytes\n",
	       (unsigned long long)g->blocks, MSNAP_BLOCK_SIZE);
	printf("log size:    %llu bytes (%llu blocks)\n",
	       (unsigned long long)(g->log_blocks * MSNAP_BLOCK_SIZE),
	       (unsigned long long)g->log_blocks);
	printf("data blocks: %llu\n",
	       (unsigned long long)(g->blocks - g->data_start));
	printf("uuid:        %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n",
	       u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
	       u[10], u[11], u[12], u[13], u[14], u[15]);
	printf("label:       %s\n", sb->label[0] ? sb->label : "(none)");
	printf("format:      version %u, features:", le32(sb->version));
	for (i = 0; i < NR_FEATURES; i++)
		if (le64(sb->incompat) & features[i].incompat)
			printf(" %s", features[i].name);
	putchar('\n');
	printf("log nonce:   %016llx\n", (unsigned long long)le64(sb->log_nonce));
}

int main(int argc, char **argv)
{
	struct mkfs_opts o = { 0 };
	struct msnap_super sb;
	struct msnap_dev dev;
	struct msnap_geom g;
	uint64_t now = (uint64_t)time(NULL);

	msnap_prog = "mkfs.memsnap";
	parse_args(argc, argv, &o);
	open_device(&o, &dev);
	if (msnap_geometry(dev.blocks, 2, log_size(&o, &dev) / MSNAP_BLOCK_SIZE,
			   &g) || g.blocks - g.data_start < 2)
		die("%s: no room for the data area", o.path);
	check_not_in_use(&o, &dev);
	make_super(&sb, &g, &o, now);
	write_fs(&dev, &g, &sb, now);
	if (!o.quiet)
		summary(&o, &dev, &g, &sb);
	msnap_dev_close(&dev);
	return 0;
}
