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
 * issued and the last acknowledged.  A batch (plan_batch: 2 or 3
 * persists issued with MSNAP_ASYNC back to back, one WAIT) has one
 * "i<last>" before its first persist and one "a<last>" after the WAIT.
 *
 * workload recover / verify: the recheck after a recovery (recheck.sh,
 * see recover() and verify()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Persist i of the plan (its stamps are in place); returns its epoch. */
static uint64_t persist(int fa, unsigned char *a, unsigned char *b,
			const struct plan *pl, unsigned long long i, bool async)
{
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

	if (pl->kind == PLAN_VECTOR) {
		va.flags = async ? MSNAP_ASYNC : 0;
		if (ioctl(fa, MSNAP_IOC_PERSISTV, &va))
			die("PERSISTV");
		pages = va.pages;
		epoch = va.epoch;
	} else {
		pa.flags = async ? MSNAP_ASYNC : 0;
		if (ioctl(fa, MSNAP_IOC_PERSIST, &pa)) {
			struct statfs st;

			if (!fstatfs(fa, &st))
				fprintf(stderr, "workload: persist %llu of %u pages failed with %llu blocks available\n",
					i, pl->na, (unsigned long long)st.f_bavail);
			die("PERSIST");
		}
		pages = pa.pages;
		epoch = pa.epoch;
	}
	if (pages != pl->na + pl->nb) {
		fprintf(stderr, "workload: persist %llu wrote %llu pages, not %u\n",
			i, (unsigned long long)pages, pl->na + pl->nb);
		exit(1);
	}
	return epoch;
}

static void stamp_all(unsigned char *a, unsigned char *b,
		      const struct plan *pl, uint64_t i)
{
	unsigned int k;

	for (k = 0; k < pl->na; k++)
		plan_stamp(a + (size_t)pl->a[k] * PLAN_PAGE, i, 0, pl->a[k]);
	for (k = 0; k < pl->nb; k++)
		plan_stamp(b + (size_t)pl->b[k] * PLAN_PAGE, i, 1, pl->b[k]);
}

static int run(char **argv)
{
	unsigned long long seed, count, i, refused = 0, batches = 0;
	unsigned char *a, *b, *c;
	int dir, fa, fb, fc;
	static struct plan pl;
	unsigned int n, m;

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
	for (i = 1; i <= count; i += n) {
		uint64_t epoch = 0;
		bool async;

		/* A batch: one mark for all, none between its persists. */
		n = plan_batch(seed, i, count);
		batches += n > 1;
		for (m = 0; m < n; m++) {
			plan_get(seed, i + m, &pl);
			async = pl.async || n > 1;
			if ((i + m) % PLAN_ENOSPC_EVERY == 0) {
				enospc(fc, c, i + m);
				refused++;
			}
			if ((i + m) % PLAN_NS_EVERY == 0)
				ns_ops(dir, i + m);
			stamp_all(a, b, &pl, i + m);
			if (!m)
				mark("i%llu", i + n - 1);
			epoch = persist(fa, a, b, &pl, i + m, async);
		}
		if (async && ioctl(fa, MSNAP_IOC_WAIT, &epoch))
			die("WAIT");
		mark("a%llu", i + n - 1);
		if ((i + n - 1) / 20 != (i - 1) / 20)
			printf("persist %llu acknowledged (epoch %llu)\n",
			       i + n - 1, (unsigned long long)epoch);
	}
	mark("end", 0);
	printf("workload: %llu batches of persists in flight together\n",
	       batches);
	printf("workload: %llu persists acknowledged, %llu refused with ENOSPC\n",
	       count, refused);
	return 0;
}

/* ---- after a recovery: recover and verify --------------------------- */

static unsigned int bad;

static void violation(const char *fmt, ...)
{
	va_list ap;

	bad++;
	printf("VIOLATION: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int64_t have[2][PLAN_A_PAGES];

/* Read every page of "a" and "b" into have[]; false if unreadable. */
static bool read_region(int dir)
{
	static unsigned char buf[PLAN_PAGE];
	unsigned int f, p, pages;
	int fd;

	for (f = 0; f < 2; f++) {
		pages = f ? PLAN_B_PAGES : PLAN_A_PAGES;
		fd = openat(dir, f ? "b" : "a", O_RDONLY);
		if (fd < 0) {
			violation("file %s: %s", f ? "b" : "a", strerror(errno));
			return false;
		}
		for (p = 0; p < pages; p++) {
			ssize_t r = pread(fd, buf, PLAN_PAGE, (off_t)p * PLAN_PAGE);

			if (r != PLAN_PAGE) {
				violation("file %s page %u: short read", f ? "b" : "a", p);
				close(fd);
				return false;
			}
			have[f][p] = plan_stamp_of(buf, f, p);
		}
		close(fd);
	}
	return true;
}

/* want[][]: the stamps after persist j of the plan. */
static int64_t want[2][PLAN_A_PAGES];

static void state_of(uint64_t seed, uint64_t j)
{
	static struct plan pl;
	unsigned int k;
	uint64_t i;

	memset(want, 0, sizeof(want));
	for (i = 1; i <= j; i++) {
		plan_get(seed, i, &pl);
		for (k = 0; k < pl.na; k++)
			want[0][pl.a[k]] = i;
		for (k = 0; k < pl.nb; k++)
			want[1][pl.b[k]] = i;
	}
}

static unsigned int differ(const char *what)
{
	unsigned int f, p, n = 0;

	for (f = 0; f < 2; f++)
		for (p = 0; p < (f ? PLAN_B_PAGES : PLAN_A_PAGES); p++)
			if (have[f][p] != want[f][p] && n++ < 4 && what)
				violation("%s: file %c page %u holds persist %lld, not %lld",
					  what, f ? 'b' : 'a', p,
					  (long long)have[f][p], (long long)want[f][p]);
	return n;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* @n names of @width bytes each, sorted and space-separated, into @out. */
static void join_sorted(char *names, size_t width, int n, char *out,
			size_t size)
{
	int x;

	qsort(names, n, width, name_cmp);
	out[0] = 0;
	for (x = 0; x < n; x++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s",
			 x ? " " : "", names + x * width);
}

/* The names in dir, sorted, space-separated, into out. */
static void list_names(int dir, char *out, size_t size)
{
	char names[64][256];
	struct dirent *d;
	int n = 0, fd = dup(dir);
	DIR *dp = fdopendir(fd);

	out[0] = 0;
	if (!dp)
		die("fdopendir");
	rewinddir(dp);
	while ((d = readdir(dp)) && n < 64)
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", d->d_name);
	closedir(dp);
	join_sorted(names[0], sizeof(names[0]), n, out, size);
}

/* The names expected after persist j and t new persists, sorted. */
static void plan_list(uint64_t j, unsigned int t, char *out, size_t size)
{
	char names[PLAN_MAX_NAMES + 8][32];
	int n = plan_names(j, names);
	unsigned int k;

	for (k = 1; k <= t && k <= 8; k++)
		snprintf(names[n++], sizeof(names[0]), "x%u", k);
	join_sorted(names[0], sizeof(names[0]), n, out, size);
}

/*
 * recover MNT SEED ACKED ISSUED K STATEFILE: on a file system just
 * mounted (recovered) from a crash image, the region must be one persist
 * state j of the plan in [ACKED, ISSUED] and the names those after j or
 * j + 1; then K new persists (plan_new) are made and acknowledged, and
 * "j n K" (n: j or j + 1, whose names were found) goes to STATEFILE.
 */
static int recover(char **argv)
{
	uint64_t seed = strtoull(argv[3], NULL, 0), j, found = 0;
	uint64_t acked = strtoull(argv[4], NULL, 0);
	uint64_t issued = strtoull(argv[5], NULL, 0);
	unsigned int t, K = strtoul(argv[6], NULL, 0), k;
	char got[1024], exp[1024];
	int dir, fa, fd, nj = -1;
	bool ok = false;
	unsigned char *a;
	static struct plan pl;
	FILE *st;

	dir = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die(argv[2]);
	if (!read_region(dir))
		return 1;
	for (j = acked; j <= issued && !ok; j++) {
		state_of(seed, j);
		if (!differ(NULL)) {
			ok = true;
			found = j;
		}
	}
	if (!ok) {
		state_of(seed, acked);
		violation("recovered region is no persist state in [%llu, %llu]",
			  (unsigned long long)acked, (unsigned long long)issued);
		differ("vs the last acknowledged");
		return 1;
	}
	list_names(dir, got, sizeof(got));
	for (k = 0; k < 2 && nj < 0; k++) {
		plan_list(found + k, 0, exp, sizeof(exp));
		if (!strcmp(got, exp))
			nj = found + k;
	}
	if (nj < 0) {
		plan_list(found, 0, exp, sizeof(exp));
		violation("recovered names \"%s\", not those after persist %llu (\"%s\") or the next",
			  got, (unsigned long long)found, exp);
		return 1;
	}
	/* Not region(): its ftruncate would be a change of its own. */
	fa = openat(dir, "a", O_RDWR);
	a = fa < 0 ? MAP_FAILED : mmap(NULL, (size_t)PLAN_A_PAGES * PLAN_PAGE,
				       PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
	if (a == MAP_FAILED)
		die("map a");
	for (t = 1; t <= K; t++) {
		uint64_t epoch;

		snprintf(exp, sizeof(exp), "x%u", t);
		fd = openat(dir, exp, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			die(exp);
		close(fd);
		plan_new(seed, t, &pl);
		stamp_all(a, NULL, &pl, PLAN_NEW_BASE + t);
		epoch = persist(fa, a, NULL, &pl, PLAN_NEW_BASE + t, pl.async);
		if (pl.async && ioctl(fa, MSNAP_IOC_WAIT, &epoch))
			die("WAIT");
	}
	st = fopen(argv[7], "w");
	if (!st || fprintf(st, "%llu %d %u\n", (unsigned long long)found,
			   nj, K) < 0 || fclose(st))
		die(argv[7]);
	printf("recovered persist state %llu (names of %d), %u new persists acknowledged\n",
	       (unsigned long long)found, nj, K);
	return 0;
}

/*
 * verify MNT SEED STATEFILE WHAT: after a second crash or a clean
 * unmount, the region must be exactly the recovered state with the new
 * persists on top, the names exactly the recovered ones and x1..xK.
 */
static int verify(char **argv)
{
	uint64_t seed = strtoull(argv[3], NULL, 0);
	unsigned long long j;
	unsigned int K, t, k;
	char got[1024], exp[1024];
	static struct plan pl;
	FILE *st = fopen(argv[4], "r");
	int dir, nj;

	if (!st || fscanf(st, "%llu %d %u", &j, &nj, &K) != 3)
		die(argv[4]);
	fclose(st);
	dir = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die(argv[2]);
	if (!read_region(dir))
		return 1;
	state_of(seed, j);
	for (t = 1; t <= K; t++) {
		plan_new(seed, t, &pl);
		for (k = 0; k < pl.na; k++)
			want[0][pl.a[k]] = PLAN_NEW_BASE + t;
	}
	differ(argv[5]);
	list_names(dir, got, sizeof(got));
	plan_list(nj, K, exp, sizeof(exp));
	if (strcmp(got, exp))
		violation("%s: names \"%s\", not \"%s\"", argv[5], got, exp);
	if (!bad)
		printf("%s: persist state %llu and %u new persists, nothing else\n",
		       argv[5], j, K);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "recover"))
		return recover(argv);
	if (argc == 6 && !strcmp(argv[1], "verify"))
		return verify(argv);
	if (argc != 5) {
		fprintf(stderr, "usage: workload MNT DMNAME SEED COUNT\n"
			"       workload recover MNT SEED ACKED ISSUED K STATEFILE\n"
			"       workload verify MNT SEED STATEFILE WHAT\n");
		return 2;
	}
	return run(argv);
}
