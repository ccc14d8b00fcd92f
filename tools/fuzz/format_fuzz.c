// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the user-space format reader (tools/lib): the
 * whole of fsck.memsnap (superblock choice, bitmap load, inode and page
 * tree walks, leak check, log replay) on an image built from the input.
 *
 * Input: a compact image description (tools/fuzz/img2seed.py writes it
 * from a real image):
 *   byte 0      flags; bit 0: recompute the CRC of every block that
 *               starts with a memsnap magic, so mutations get past the
 *               checksums and reach the parsers behind them
 *   byte 1      device size in MiB (clamped to 4..64)
 *   then        records: le16 block, le16 len (<= 4096), len bytes; the
 *               block is written at block % device blocks, the rest of
 *               it zero.  Unwritten blocks read as zeroes.
 *
 * fsck.memsnap.c is included so that its static checks run here exactly
 * as in the tool; its main() is renamed away.
 */
#include <stdint.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#define main fsck_main_unused
#include "../fsck/fsck.memsnap.c"
#undef main

static int memfd = -1;

static void fix_crc(uint8_t *b)
{
	uint32_t m32;
	uint64_t m64;

	memcpy(&m64, b, 8);
	memcpy(&m32, b, 4);
	if (m64 == MSNAP_SB_MAGIC)
		msnap_block_set_crc(b, offsetof(struct msnap_super, crc));
	else if (m32 == MSNAP_LOG_MAGIC || m32 == MSNAP_NODE_MAGIC ||
		 m32 == MSNAP_INODE_MAGIC || m32 == MSNAP_BITMAP_MAGIC)
		msnap_block_set_crc(b, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t block[MSNAP_BLOCK_SIZE];
	static struct fsck c;
	struct msnap_fs *fs = &c.fs;
	uint64_t blocks, mib;
	char path[64];
	size_t off;
	uint8_t flags;

	if (size < 2)
		return 0;
	flags = data[0];
	mib = data[1] < 4 ? 4 : data[1] > 64 ? 64 : data[1];
	blocks = mib << (20 - MSNAP_BLOCK_SHIFT);
	if (memfd < 0) {
		memfd = memfd_create("msnap-fuzz", 0);
		if (memfd < 0)
			abort();
	}
	/* A fresh, all-zero device of the requested size. */
	if (ftruncate(memfd, 0) || ftruncate(memfd, blocks * MSNAP_BLOCK_SIZE))
		abort();
	for (off = 2; off + 4 <= size;) {
		uint16_t blk = data[off] | data[off + 1] << 8;
		size_t len = data[off + 2] | data[off + 3] << 8;

		off += 4;
		if (len > MSNAP_BLOCK_SIZE)
			len = MSNAP_BLOCK_SIZE;
		if (len > size - off)
			len = size - off;
		memset(block, 0, sizeof(block));
		memcpy(block, data + off, len);
		off += len;
		if (flags & 1)
			fix_crc(block);
		if (pwrite(memfd, block, sizeof(block),
			   (blk % blocks) * MSNAP_BLOCK_SIZE) != sizeof(block))
			abort();
	}

	memset(&c, 0, sizeof(c));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	if (msnap_dev_open(&fs->dev, path, O_RDONLY))
		abort();
	/* fsck.memsnap's own pass: superblock, error state, bitmaps, trees,
	 * leaks, log replay.
	 */
	if (!load(&c))
		summary(&c);
	unload(&c);
	msnap_dev_close(&fs->dev);
	return 0;
}
