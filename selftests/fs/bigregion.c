// SPDX-License-Identifier: GPL-2.0
/*
 * bigregion: the workload and the checker of the region-larger-than-RAM
 * test (bigregion_test.sh).
 *
 *   bigregion write PATH REGION_MIB NCHUNK CHUNK_MIB STRIDE_MIB
 *	msnap_open(PATH, REGION_MIB, MSNAP_OPEN_CREATE), then NCHUNK chunks
 *	of CHUNK_MIB, chunk c starting at c * STRIDE_MIB: every page of the
 *	chunk written in order (its chunk and page number at both ends),
 *	then one synchronous msnap_persist() of the chunk, before the next
 *	chunk.  One line per chunk: "chunk C ms M" (write and persist).
 *   bigregion check PATH REGION_MIB NCHUNK CHUNK_MIB STRIDE_MIB
 *	maps the whole region and reads every page: the chunks' pages hold
 *	their stamps, every other page is zero.  One line per STRIDE_MIB
 *	slice: "slice S ms M".  Exit 1 on the first wrong page.
 *
 * Chunks written in total above the guest's RAM make the kernel reclaim
 * persisted pages while the writer faults new ones in.
 *
 * With BIGREGION_MSYNC set, PATH is any file (say on ext4), mapped
 * MAP_SHARED, and each chunk is written back with msync(MS_SYNC): the
 * same workload for comparison.  BIGREGION_SCATTER writes each chunk's
 * pages in a scattered order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <memsnap.h>

#define PG	4096UL
#define MIB	(1UL << 20)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The stamp of the page at byte @off, or 0 when no chunk covers it. */
static uint64_t stamp_of(size_t off, unsigned long nchunk, size_t chunk,
			 size_t stride)
{
	size_t c = off / stride, in = off % stride;

	if (c >= nchunk || in >= chunk)
		return 0;
	return (uint64_t)(c + 1) << 32 | (in / PG + 1);
}

static unsigned long arg(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !v) {
		fprintf(stderr, "bigregion: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static int do_write(char *p, unsigned long nchunk, size_t chunk, size_t stride)
{
	unsigned long c;
	size_t off;
	double t0;
	int err;

	size_t npg = chunk / PG, i;
	/* A stride coprime to the page count visits every page once. */
	size_t step = getenv("BIGREGION_SCATTER") ? 40503 : 1;

	while (step > 1 && npg % step == 0)
		step += 2;
	for (c = 0; c < nchunk; c++) {
		char *q = p + c * stride;

		t0 = now_ms();
		for (i = 0; i < npg; i++) {
			uint64_t s;

			off = (i * step) % npg * PG;
			s = stamp_of(c * stride + off, nchunk, chunk, stride);

			memcpy(q + off, &s, sizeof(s));
			memcpy(q + off + PG - sizeof(s), &s, sizeof(s));
		}
		if (getenv("BIGREGION_MSYNC"))
			err = msync(q, chunk, MS_SYNC) ? -errno : 0;
		else
			err = msnap_persist(q, chunk, 0);
		if (err < 0) {
			fprintf(stderr, "bigregion: persist of chunk %lu: %s\n",
				c, strerror(-err));
			return 1;
		}
		printf("chunk %lu ms %.0f\n", c, now_ms() - t0);
		fflush(stdout);
	}
	return 0;
}

static int do_check(const char *p, size_t size, unsigned long nchunk,
		    size_t chunk, size_t stride)
{
	static const char zero[PG];
	size_t off;
	double t0 = now_ms();

	for (off = 0; off < size; off += PG) {
		uint64_t want = stamp_of(off, nchunk, chunk, stride), a, b;

		if (!want) {
			if (memcmp(p + off, zero, PG))
				goto bad;
		} else {
			memcpy(&a, p + off, sizeof(a));
			memcpy(&b, p + off + PG - sizeof(b), sizeof(b));
			if (a != want || b != want)
				goto bad;
		}
		if ((off + PG) % stride == 0 || off + PG == size) {
			printf("slice %zu ms %.0f\n", off / stride,
			       now_ms() - t0);
			fflush(stdout);
			t0 = now_ms();
		}
	}
	return 0;
bad:
	fprintf(stderr, "bigregion: page at offset %zu holds the wrong data\n",
		off);
	return 1;
}

/* The workload on a plain file, written back by msync(). */
static int plain(const char *path, int write, size_t size,
		 unsigned long nchunk, size_t chunk, size_t stride)
{
	int fd = open(path, O_RDWR | (write ? O_CREAT : 0), 0644), rc;
	char *p;

	if (fd < 0 || (write && ftruncate(fd, size))) {
		fprintf(stderr, "bigregion: %s: %s\n", path, strerror(errno));
		return 1;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "bigregion: mmap: %s\n", strerror(errno));
		return 1;
	}
	if (write)
		rc = do_write(p, nchunk, chunk, stride);
	else
		rc = do_check(p, size, nchunk, chunk, stride);
	munmap(p, size);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct msnap_region *r;
	size_t size, chunk, stride;
	unsigned long nchunk;
	int write, err, rc;

	if (argc != 7 || (strcmp(argv[1], "write") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: bigregion write|check PATH REGION_MIB "
			"NCHUNK CHUNK_MIB STRIDE_MIB\n");
		return 2;
	}
	write = !strcmp(argv[1], "write");
	size = arg(argv[3], "region size") * MIB;
	nchunk = arg(argv[4], "chunk count");
	chunk = arg(argv[5], "chunk size") * MIB;
	stride = arg(argv[6], "chunk stride") * MIB;
	if (chunk > stride || (nchunk - 1) * stride + chunk > size) {
		fprintf(stderr, "bigregion: the chunks do not fit the region\n");
		return 2;
	}
	if (getenv("BIGREGION_MSYNC"))
		return plain(argv[2], write, size, nchunk, chunk, stride);
	err = msnap_open(argv[2], size, write ? MSNAP_OPEN_CREATE : 0, &r);
	if (err) {
		fprintf(stderr, "bigregion: msnap_open %s: %s\n", argv[2],
			strerror(-err));
		return 1;
	}
	if (write)
		rc = do_write(msnap_addr(r), nchunk, chunk, stride);
	else
		rc = do_check(msnap_addr(r), size, nchunk, chunk, stride);
	err = msnap_close(r);
	if (err) {
		fprintf(stderr, "bigregion: msnap_close: %s\n", strerror(-err));
		rc = 1;
	}
	return rc;
}
