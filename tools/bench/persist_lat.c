// SPDX-License-Identifier: GPL-2.0
/*
 * persist_lat: latency of making N random 4 KiB pages durable.
 *
 *   persist_lat raw DEVICE PAGES ITERATIONS
 *	O_DIRECT|O_DSYNC pwrite of each page (FUA), one after the other
 *   persist_lat memsnap FILE PAGES ITERATIONS
 *	dirty PAGES random pages of a 256 MiB memsnap region, then one
 *	MSNAP_IOC_PERSIST
 *   persist_lat msync FILE PAGES ITERATIONS
 *	the same on a file of another filesystem (ext4), then
 *	msync(MS_SYNC) of the region
 *
 * Prints "median_us p99_us" for the durability step only.  Timings
 * under TCG are meaningful only as ratios within one guest boot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/memsnap.h>
#include "bench_time.h"

#define PG		4096UL
#define REGION		(256UL << 20)

static void report(double *lat, int n)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("%.1f %.1f\n", lat[n / 2], lat[(n * 99) / 100]);
}

static int run_raw(const char *dev, int pages, int iters, double *lat)
{
	int fd = open(dev, O_WRONLY | O_DIRECT | O_DSYNC);
	void *buf;
	int i, p;

	if (fd < 0 || posix_memalign(&buf, PG, PG))
		return -1;
	memset(buf, 0xab, PG);
	for (i = 0; i < iters; i++) {
		double t = now_us();

		for (p = 0; p < pages; p++)
			if (pwrite(fd, buf, PG, (random() % (REGION / PG)) * PG) != PG)
				return -1;
		lat[i] = now_us() - t;
	}
	close(fd);
	return 0;
}

static int make_durable(int fd, char *p, int use_msync)
{
	struct msnap_persist_args a = {
		.size = sizeof(a), .addr = (unsigned long)p, .len = REGION,
	};

	if (use_msync)
		return msync(p, REGION, MS_SYNC);
	return ioctl(fd, MSNAP_IOC_PERSIST, &a);
}

static int run_mapped(const char *path, int pages, int iters, double *lat,
		      int use_msync)
{
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	char *p;
	int i, k;

	if (fd < 0 || ftruncate(fd, REGION))
		return -1;
	p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	for (i = 0; i < iters; i++) {
		double t;

		for (k = 0; k < pages; k++)
			p[(random() % (REGION / PG)) * PG] = (char)i;
		t = now_us();
		if (make_durable(fd, p, use_msync))
			return -1;
		lat[i] = now_us() - t;
	}
	munmap(p, REGION);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int pages, iters, err;
	double *lat;

	if (argc != 5) {
		fprintf(stderr, "usage: persist_lat raw|memsnap|msync PATH PAGES ITERATIONS\n");
		return 2;
	}
	pages = atoi(argv[3]);
	iters = atoi(argv[4]);
	lat = calloc(iters > 0 ? iters : 1, sizeof(*lat));
	if (pages < 1 || iters < 1 || !lat) {
		fprintf(stderr, "persist_lat: PAGES and ITERATIONS must be >= 1\n");
		return 2;
	}
	srandom(1);
	if (!strcmp(argv[1], "raw"))
		err = run_raw(argv[2], pages, iters, lat);
	else if (!strcmp(argv[1], "memsnap"))
		err = run_mapped(argv[2], pages, iters, lat, 0);
	else if (!strcmp(argv[1], "msync"))
		err = run_mapped(argv[2], pages, iters, lat, 1);
	else
		err = -2;
	if (err) {
		fprintf(stderr, "persist_lat: %s\n",
			err == -2 ? "mode must be raw, memsnap or msync" : strerror(errno));
		return 1;
	}
	report(lat, iters);
	return 0;
}
