// SPDX-License-Identifier: GPL-2.0
/*
 * workload MNT DMNAME SEED COUNT: the crash-replay workload, run in the
 * guest on a memsnap filesystem mounted from a dm-log-writes target.
 * Persists 1..COUNT follow plan.h (single-file persists of 1..1024
 * pages, contiguous or scattered, PERSISTV across two files, some
 * asynchronous, namespace ops every fifth, on a file system filled up
 * to a margin, with a persist that must fail with ENOSPC every
 * PLAN_ENOSPC_EVERY-th); before persist i it puts the
 * mark "i<i>" into the write log and after its acknowledgement "a<i>",
 * so the replay knows, at every point of the log, the last persist
 * issued and the last acknowledged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <linux/dm-ioctl.h>
#include <linux/memsnap.h>

#include "plan.h"

static const char *dmname;
static int ctl = -1;

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* "dmsetup message DMNAME 0 mark NAME" without a fork per mark. */
static void mark(const char *fmt, unsigned long long v)
{
	union {
		struct dm_ioctl io;
		char buf[sizeof(struct dm_ioctl) + 256];
	} u;
	struct dm_target_msg *msg;

	if (ctl < 0 && (ctl = open("/dev/mapper/control", O_RDWR)) < 0)
		die("/dev/mapper/control");
	memset(&u, 0, sizeof(u));
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.version[1] = 0;
	u.io.version[2] = 0;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(struct dm_ioctl);
	snprintf(u.io.name, sizeof(u.io.name), "%s", dmname);
	msg = (void *)(u.buf + sizeof(struct dm_ioctl));
	msg->sector = 0;
	memcpy(msg->message, "mark ", 5);
	snprintf(msg->message + 5, 200, fmt, v);
	if (ioctl(ctl, DM_TARGET_MSG, &u))
		die("DM_TARGET_MSG mark");
}

static void *region(int dir, const char *name, unsigned int pages, int *fdp)
{
	int fd = openat(dir, name, O_RDWR | O_CREAT, 0644);
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)pages * PLAN_PAGE))
		die(name);
	p = mmap(NULL, (size_t)pages * PLAN_PAGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	*fdp = fd;
	return p;
}

static void ns_ops(int dir, unsigned long long i)
{
	char a[32], b[32];
	int fd;

	snprintf(a, sizeof(a), "n%llu", i);
	fd = openat(dir, a, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 8192))
		die("create");
	close(fd);
	if (i >= 2 * PLAN_NS_EVERY) {
		snprintf(a, sizeof(a), "n%llu", i - PLAN_NS_EVERY);
		snprintf(b, sizeof(b), "r%llu", i - PLAN_NS_EVERY);
		if (renameat(dir, a, dir, b))
			die("rename");
	}
	if (i >= 3 * PLAN_NS_EVERY) {
		snprintf(a, sizeof(a), "r%llu", i - 2 * PLAN_NS_EVERY);
		if (unlinkat(dir, a, 0))
			die("unlink");
	}
}

/*
 * Fill the file system until about PLAN_FREE_LEFT blocks stay available
 * (statfs's f_bavail), in persists small enough for the log.
 */
static void fill(int dir)
{
	static char buf[256 * PLAN_PAGE];
	unsigned long long done = 0, want;
	struct statfs st;
	int fd;

	fd = openat(dir, "fill", O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || fstatfs(fd, &st))
		die("fill");
	want = st.f_bavail > PLAN_FREE_LEFT + 64 ?
		st.f_bavail - PLAN_FREE_LEFT - 64 : 0;
	memset(buf, 0xf1, sizeof(buf));
	while (done < want) {
		size_t n = want - done < 256 ? want - done : 256;

		if (pwrite(fd, buf, n * PLAN_PAGE, done * PLAN_PAGE) !=
		    (ssize_t)(n * PLAN_PAGE))
			die("fill: pwrite");
		done += n;
		if (done % 1024 < 256 && fsync(fd))
			die("fill: fsync");
	}
	if (fsync(fd) || fstatfs(fd, &st))
		die("fill: fsync");
	printf("workload: filled %llu blocks, %llu left available\n", done,
	       (unsigned long long)st.f_bavail);
	close(fd);
}

/* Persist all of "c": more than the free space, so it must fail. */
static void enospc(int fc, unsigned char *c, unsigned long long i)
{
	struct msnap_persist_args pa = { .size = sizeof(pa),
		.addr = (uintptr_t)c,
		.len = (uint64_t)PLAN_C_PAGES * PLAN_PAGE };
	struct msnap_abort_args ab = { .size = sizeof(ab),
		.addr = (uintptr_t)c,
		.len = (uint64_t)PLAN_C_PAGES * PLAN_PAGE };
	unsigned int p;

	for (p = 0; p < PLAN_C_PAGES; p++)
		memset(c + (size_t)p * PLAN_PAGE, (int)(i & 0x7f) | 1, 64);
	if (!ioctl(fc, MSNAP_IOC_PERSIST, &pa)) {
		fprintf(stderr, "workload: persist of %u pages of c before %llu succeeded, not ENOSPC\n",
			PLAN_C_PAGES, i);
		exit(1);
	}
	if (errno != ENOSPC)
		die("PERSIST of c (want ENOSPC)");
	if (ioctl(fc, MSNAP_IOC_ABORT, &ab))
		die("ABORT of c");
	if (ab.pages != PLAN_C_PAGES) {
		fprintf(stderr, "workload: abort of c dropped %llu pages, not %u\n",
			(unsigned long long)ab.pages, PLAN_C_PAGES);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	unsigned long long seed, count, i, refused = 0;
	unsigned char *a, *b, *c;
	int dir, fa, fb, fc;
	static struct plan pl;
	unsigned int k;

	if (argc != 5) {
		fprintf(stderr, "usage: workload MNT DMNAME SEED COUNT\n");
		return 2;
	}
	dmname = argv[2];
	seed = strtoull(argv[3], NULL, 0);
	count = strtoull(argv[4], NULL, 0);
	dir = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die(argv[1]);
	a = region(dir, "a", PLAN_A_PAGES, &fa);
	b = region(dir, "b", PLAN_B_PAGES, &fb);
	c = region(dir, "c", PLAN_C_PAGES, &fc);
	fill(dir);
	if (syncfs(dir))
		die("syncfs");
	mark("start", 0);
	for (i = 1; i <= count; i++) {
		struct msnap_range r[2] = {
			{ (uintptr_t)a, (uint64_t)PLAN_A_PAGES * PLAN_PAGE },
			{ (uintptr_t)b, (uint64_t)PLAN_B_PAGES * PLAN_PAGE },
		};
		struct msnap_persistv_args va = { .size = sizeof(va),
			.ranges = (uintptr_t)r, .nr_ranges = 2 };
		struct msnap_persist_args pa = { .size = sizeof(pa),
			.addr = (uintptr_t)a,
			.len = (uint64_t)PLAN_A_PAGES * PLAN_PAGE };
		uint64_t pages, epoch;

		plan_get(seed, i, &pl);
		if (i % PLAN_ENOSPC_EVERY == 0) {
			enospc(fc, c, i);
			refused++;
		}
		if (i % PLAN_NS_EVERY == 0)
			ns_ops(dir, i);
		for (k = 0; k < pl.na; k++)
			plan_stamp(a + (size_t)pl.a[k] * PLAN_PAGE, i, 0, pl.a[k]);
		for (k = 0; k < pl.nb; k++)
			plan_stamp(b + (size_t)pl.b[k] * PLAN_PAGE, i, 1, pl.b[k]);
		mark("i%llu", i);
		if (pl.kind == PLAN_VECTOR) {
			va.flags = pl.async ? MSNAP_ASYNC : 0;
			if (ioctl(fa, MSNAP_IOC_PERSISTV, &va))
				die("PERSISTV");
			pages = va.pages;
			epoch = va.epoch;
		} else {
			pa.flags = pl.async ? MSNAP_ASYNC : 0;
			if (ioctl(fa, MSNAP_IOC_PERSIST, &pa))
				die("PERSIST");
			pages = pa.pages;
			epoch = pa.epoch;
		}
		if (pl.async && ioctl(fa, MSNAP_IOC_WAIT, &epoch))
			die("WAIT");
		mark("a%llu", i);
		if (pages != pl.na + pl.nb) {
			fprintf(stderr, "workload: persist %llu wrote %llu pages, not %u\n",
				i, (unsigned long long)pages, pl.na + pl.nb);
			return 1;
		}
		if (i % 20 == 0)
			printf("persist %llu acknowledged (epoch %llu)\n", i,
			       (unsigned long long)epoch);
	}
	mark("end", 0);
	printf("workload: %llu persists acknowledged, %llu refused with ENOSPC\n",
	       count, refused);
	return 0;
}
