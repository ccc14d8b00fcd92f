// SPDX-License-Identifier: GPL-2.0
/*
 * calibrate: time a few CPU- and kernel-bound operations, so that the
 * same program run natively and inside the guest gives the guest's
 * slowdown k per operation (tools/bench/calibrate, docs/performance.md,
 * "Device model: calibration").
 *
 * usage: calibrate [--dir DIR] [--scale N]
 *
 * DIR must be on tmpfs (default /tmp); the program makes and removes one
 * scratch file there.  --scale divides every repetition count by N, for
 * a quick well-formedness run.  Output: CSV "part,ns_per_op,reps" on
 * stdout.  Nothing here asserts a timing; the program fails only when
 * an operation fails or the CRC32C self-check is wrong.
 *
 * What is timed, per part:
 *   fault     one write to each page of a fresh MAP_SHARED mapping of a
 *             tmpfs file whose pages are already in the page cache: the
 *             write fault (no allocation, no fault-around for a write).
 *             mmap and munmap are outside the timed interval.
 *   mprotect  one mprotect() of a present 4 KiB page of a one-page
 *             MAP_SHARED mapping of that file from PROT_READ to
 *             PROT_READ|PROT_WRITE; the call back to PROT_READ is not
 *             timed, and the cost of reading the clock is subtracted.
 *   pwrite    a 4 KiB pwrite() overwriting a resident page of a tmpfs
 *             file (cycling over 1 MiB).
 *   memcpy    a 4 KiB memcpy() between two page-aligned buffers.
 *   crc32c    CRC32C (Castagnoli, reflected 0x82F63B78) of 4 KiB by the
 *             byte-at-a-time table method below.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096
#define FILE_PAGES	256		/* 1 MiB scratch file */
#define TMPFS_MAGIC_NR	0x01021994

/* Repetitions at --scale 1: a few to tens of milliseconds natively. */
#define REPS_FAULT	(16 * FILE_PAGES)
#define REPS_MPROTECT	5000
#define REPS_PWRITE	5000
#define REPS_MEMCPY	100000
#define REPS_CRC	1000

static uint32_t crc_table[256];

static void die(const char *what)
{
	fprintf(stderr, "calibrate: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *msg)
{
	fprintf(stderr, "calibrate: %s\n", msg);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* A scratch file of FILE_PAGES resident pages on tmpfs, already unlinked. */
static int scratch_file(const char *dir)
{
	static char page[PAGE];
	struct statfs sf;
	char path[4096];
	int fd;

	if (statfs(dir, &sf))
		die(dir);
	if (sf.f_type != TMPFS_MAGIC_NR) {
		fprintf(stderr, "calibrate: %s is not on tmpfs\n", dir);
		exit(1);
	}
	if (snprintf(path, sizeof(path), "%s/calibrate.XXXXXX", dir) >=
	    (int)sizeof(path))
		fail("directory name too long");
	fd = mkstemp(path);
	if (fd < 0)
		die(path);
	unlink(path);
	memset(page, 0x5a, sizeof(page));
	for (int i = 0; i < FILE_PAGES; i++)
		if (pwrite(fd, page, PAGE, (off_t)i * PAGE) != PAGE)
			die("pwrite");
	return fd;
}

static double time_fault(int fd, long reps)
{
	long rounds = reps / FILE_PAGES;
	uint64_t total = 0;

	for (long r = 0; r < rounds; r++) {
		volatile char *m = mmap(NULL, FILE_PAGES * PAGE,
					PROT_READ | PROT_WRITE, MAP_SHARED,
					fd, 0);
		uint64_t t;

		if (m == MAP_FAILED)
			die("mmap");
		t = now_ns();
		for (int i = 0; i < FILE_PAGES; i++)
			m[(size_t)i * PAGE] = (char)r;
		total += now_ns() - t;
		if (munmap((void *)m, FILE_PAGES * PAGE))
			die("munmap");
	}
	return (double)total / (rounds * FILE_PAGES);
}

/* Smallest cost of one now_ns() pair, to subtract from single-call timings. */
static double clock_cost(void)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 1000; i++) {
		uint64_t t = now_ns(), d = now_ns() - t;

		if (d < best)
			best = d;
	}
	return (double)best;
}

static double time_mprotect(int fd, long reps)
{
	double overhead = clock_cost();
	uint64_t total = 0;
	char *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	double ns;

	if (m == MAP_FAILED)
		die("mmap");
	m[0] = 1;
	for (long i = 0; i < reps; i++) {
		uint64_t t;

		if (mprotect(m, PAGE, PROT_READ))
			die("mprotect");
		t = now_ns();
		if (mprotect(m, PAGE, PROT_READ | PROT_WRITE))
			die("mprotect");
		total += now_ns() - t;
	}
	munmap(m, PAGE);
	ns = (double)total / reps - overhead;
	return ns > 0 ? ns : 0;
}

static double time_pwrite(int fd, long reps)
{
	static char page[PAGE];
	uint64_t t;

	memset(page, 0xa5, sizeof(page));
	t = now_ns();
	for (long i = 0; i < reps; i++)
		if (pwrite(fd, page, PAGE, (off_t)(i % FILE_PAGES) * PAGE) !=
		    PAGE)
			die("pwrite");
	return (double)(now_ns() - t) / reps;
}

static double time_memcpy(long reps)
{
	static char src[PAGE] __attribute__((aligned(PAGE)));
	static char dst[PAGE] __attribute__((aligned(PAGE)));
	uint64_t t;

	memset(src, 0x3c, sizeof(src));
	t = now_ns();
	for (long i = 0; i < reps; i++) {
		src[i & (PAGE - 1)] = (char)i;
		memcpy(dst, src, PAGE);
		/* The copy must happen every time: dst escapes here. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	return (double)(now_ns() - t) / reps;
}

static double time_crc(long reps)
{
	static unsigned char buf[PAGE];
	volatile uint32_t sink = 0;
	uint64_t t;

	for (int i = 0; i < PAGE; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	t = now_ns();
	for (long i = 0; i < reps; i++)
		sink ^= crc32c((uint32_t)i, buf, PAGE);
	(void)sink;
	return (double)(now_ns() - t) / reps;
}

static long parse_scale(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 1000)
		fail("--scale needs an integer from 1 to 1000");
	return v;
}

int main(int argc, char **argv)
{
	const char *dir = "/tmp";
	long scale = 1;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
			scale = parse_scale(argv[++i]);
		} else {
			fprintf(stderr, "usage: calibrate [--dir TMPFS-DIR] [--scale N]\n");
			return 2;
		}
	}

	crc32c_init();
	if (crc32c(0, "123456789", 9) != 0xE3069283u)
		fail("CRC32C self-check failed (crc32c(\"123456789\") != 0xe3069283)");

	fd = scratch_file(dir);
	long r_fault = REPS_FAULT / scale < FILE_PAGES ? FILE_PAGES :
		       REPS_FAULT / scale / FILE_PAGES * FILE_PAGES;
	long r_mprot = REPS_MPROTECT / scale, r_pwrite = REPS_PWRITE / scale;
	long r_memcpy = REPS_MEMCPY / scale, r_crc = REPS_CRC / scale;

	if (!r_crc)
		r_crc = 1;
	printf("part,ns_per_op,reps\n");
	printf("fault,%.1f,%ld\n", time_fault(fd, r_fault), r_fault);
	printf("mprotect,%.1f,%ld\n", time_mprotect(fd, r_mprot), r_mprot);
	printf("pwrite,%.1f,%ld\n", time_pwrite(fd, r_pwrite), r_pwrite);
	printf("memcpy,%.1f,%ld\n", time_memcpy(r_memcpy), r_memcpy);
	printf("crc32c,%.1f,%ld\n", time_crc(r_crc), r_crc);
	close(fd);
	return ferror(stdout) || fclose(stdout) ? 1 : 0;
}
