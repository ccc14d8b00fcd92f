// SPDX-License-Identifier: GPL-2.0
/*
 * msbench: the measurements of tools/bench/run that fio cannot express.
 * Run in the guest by tools/bench/guest.sh; every timing is meaningful
 * only as a ratio within one guest boot (TCG).
 *
 *   msbench lat MODE PATH PAGES ITERS [REGION_BYTES]
 *	dirty PAGES random 4 KiB pages of a region (default 256 MiB) of
 *	the file PATH, then make them durable; prints "median_us p99_us"
 *	of the durability step.  MODE: pwrite (PAGES buffered 4 KiB
 *	pwrites, then fdatasync: only fdatasync is timed), batch (one
 *	pwrite of PAGES contiguous pages at a random offset, then
 *	fdatasync: both timed), msync (mmap, stores, msync(MS_SYNC)),
 *	sync, async (MSNAP_ASYNC then MSNAP_IOC_WAIT), uring (the
 *	io_uring command, submit to CQE), thread (MSNAP_THREAD, sync).
 *   msbench track MODE PAGES ITERS [PATH]
 *	first write to each of PAGES random pages after the tracking state
 *	was reset; prints "write_ns_per_page collect_ns_per_page" or
 *	"SKIP reason".  MODE: anon (resident anonymous memory, nothing to
 *	collect), memsnap (after a persist; collect = the persist),
 *	softdirty (clear_refs 4, pagemap read), uffd (userfaultfd async
 *	write-protect, PAGEMAP_SCAN that re-protects).
 *   msbench conc PATH THREADS PAGES SECONDS
 *	THREADS threads each dirty PAGES pages of their own slice of one
 *	region and persist with MSNAP_THREAD; prints "persists_per_s
 *	pages_per_s".
 *   msbench stall PATH PAGES ITERS
 *	a writer thread stores into one page of each 4 KiB of another
 *	part of the region while the main thread persists PAGES pages;
 *	prints "idle_p99_us busy_p99_us busy_max_us persist_median_us".
 *   msbench fill PATH COUNT
 *	COUNT 1-page persists (fills the log for the recovery benchmark).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>
#include <linux/memsnap.h>
#include <linux/userfaultfd.h>
#include "bench_time.h"

#define PG		4096UL
/* 256 MiB; MSBENCH_REGION=BYTES overrides (the quick mode's is small). */
static size_t REGION = 256UL << 20;

/* Not in bookworm's 6.1 uapi headers; values from Linux 6.7+. */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif
struct bench_page_region { uint64_t start, end, categories; };
struct bench_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};
#define BENCH_PAGEMAP_SCAN	_IOWR('f', 16, struct bench_pm_scan_arg)
#define BENCH_PM_SCAN_WP_MATCHING	(1 << 0)
#define BENCH_PM_SCAN_CHECK_WPASYNC	(1 << 1)
#define BENCH_PAGE_IS_WRITTEN		(1 << 1)

static void die(const char *what)
{
	fprintf(stderr, "msbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double pct(double *v, int n, int p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[((long)n * p) / 100 < n ? ((long)n * p) / 100 : n - 1];
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int persist(int fd, void *p, size_t len, uint64_t flags, uint64_t *epoch)
{
	struct msnap_persist_args a = {
		.size = sizeof(a), .addr = (unsigned long)p, .len = len,
		.flags = flags,
	};
	int ret = ioctl(fd, MSNAP_IOC_PERSIST, &a);

	if (epoch)
		*epoch = a.epoch;
	return ret;
}

static char *map_file(const char *path, size_t len, int *fdp, int prefill)
{
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	struct stat st;
	char *p;

	if (fd < 0 || fstat(fd, &st))
		die(path);
	if ((size_t)st.st_size >= len)
		prefill = 0;	/* filled by an earlier run */
	if (ftruncate(fd, len))
		die("ftruncate");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (prefill) {
		/* Allocate the blocks once so that later writes overwrite. */
		for (size_t o = 0; o < len; o += PG)
			p[o] = 1;
		if (msync(p, len, MS_SYNC) && persist(fd, p, len, 0, NULL))
			die("initial sync");
	}
	*fdp = fd;
	return p;
}

static int cmd_lat(int argc, char **argv)
{
	const char *mode = argv[2];
	int pages = atoi(argv[4]), iters = atoi(argv[5]), fd, i, k;
	size_t region = argc > 6 ? strtoull(argv[6], NULL, 0) : REGION;
	size_t npg = region / PG;
	int is_ext4 = !strcmp(mode, "pwrite") || !strcmp(mode, "batch") ||
		      !strcmp(mode, "msync");
	double *lat = calloc(iters, sizeof(*lat));
	struct io_uring ring;
	uint64_t seed = 88172645463325252ULL;
	char *p, *buf;

	if (pages < 1 || iters < 1 || !lat || npg < (size_t)pages)
		return 2;
	p = map_file(argv[3], region, &fd, is_ext4);
	if (posix_memalign((void **)&buf, PG, PG * pages))
		die("memalign");
	memset(buf, 0xab, PG * pages);
	if (!strcmp(mode, "uring") && io_uring_queue_init(8, &ring, 0))
		die("io_uring_queue_init");
	if (!is_ext4 && persist(fd, p, region, 0, NULL))
		die("persist");
	/*
	 * Untimed warm-up iterations first (i < 0): the first persists of a
	 * fresh file allocate its blocks and tree, which is not the steady
	 * state being measured.
	 */
	for (k = 0; argc > 6 && k < 16; k++)
		p[k * (npg / 16) * PG] = 1;
	for (i = -(iters / 10 + 2); i < iters; i++) {
		double t;
		int ret = 0;

		if (!strcmp(mode, "batch")) {
			off_t off = (rnd(&seed) % (npg - pages + 1)) * PG;

			t = now_us();
			if (pwrite(fd, buf, PG * pages, off) != (ssize_t)(PG * pages) ||
			    fdatasync(fd))
				die("pwrite+fdatasync");
			if (i >= 0)
				lat[i] = now_us() - t;
			continue;
		}
		for (k = 0; k < pages; k++) {
			off_t off = (rnd(&seed) % npg) * PG;

			/*
			 * Scaling (a region size given): one of 16 pages
			 * spread over the region, all touched by the warm-up,
			 * so that every region size overwrites the same
			 * number of distinct pages and only its size differs.
			 */
			if (argc > 6)
				off = (rnd(&seed) % 16) * (npg / 16) * PG;

			if (!strcmp(mode, "pwrite")) {
				buf[0] = (char)i;
				if (pwrite(fd, buf, PG, off) != (ssize_t)PG)
					die("pwrite");
			} else {
				p[off] = (char)(i + k);
			}
		}
		t = now_us();
		if (!strcmp(mode, "pwrite")) {
			ret = fdatasync(fd);
		} else if (!strcmp(mode, "msync")) {
			ret = msync(p, region, MS_SYNC);
		} else if (!strcmp(mode, "sync")) {
			ret = persist(fd, p, region, MSNAP_SYNC, NULL);
		} else if (!strcmp(mode, "thread")) {
			ret = persist(fd, p, region, MSNAP_THREAD, NULL);
		} else if (!strcmp(mode, "async")) {
			uint64_t ep = 0;

			ret = persist(fd, p, region, MSNAP_ASYNC, &ep);
			if (!ret)
				ret = ioctl(fd, MSNAP_IOC_WAIT, &ep);
		} else if (!strcmp(mode, "uring")) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			struct msnap_uring_persist *c;
			struct io_uring_cqe *cqe;

			io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
			sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
			c = (struct msnap_uring_persist *)sqe->cmd;
			memset(c, 0, sizeof(*c));
			c->addr = (unsigned long)p;
			c->pages = region / PG;
			if (io_uring_submit(&ring) != 1 ||
			    io_uring_wait_cqe(&ring, &cqe))
				die("io_uring");
			if (cqe->res < 0) {
				errno = -cqe->res;
				ret = -1;
			}
			io_uring_cqe_seen(&ring, cqe);
		} else {
			fprintf(stderr, "msbench: unknown lat mode %s\n", mode);
			return 2;
		}
		if (ret)
			die(mode);
		if (i >= 0)
			lat[i] = now_us() - t;
	}
	printf("%.1f ", pct(lat, iters, 50));
	printf("%.1f\n", pct(lat, iters, 99));
	return 0;
}

/* ---- tracking overhead ---- */

static int uffd_setup(char *p, size_t len)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	struct uffdio_register reg = {
		.range = { (unsigned long)p, len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) ||
	    ioctl(fd, UFFDIO_REGISTER, &reg))
		return -1;
	return fd;
}

static long pm_scan(int pm, char *p, size_t len, struct bench_page_region *vec,
		    size_t vlen)
{
	struct bench_pm_scan_arg a = {
		.size = sizeof(a),
		.flags = BENCH_PM_SCAN_WP_MATCHING | BENCH_PM_SCAN_CHECK_WPASYNC,
		.start = (unsigned long)p, .end = (unsigned long)p + len,
		.vec = (unsigned long)vec, .vec_len = vlen,
		.category_mask = BENCH_PAGE_IS_WRITTEN,
		.return_mask = BENCH_PAGE_IS_WRITTEN,
	};

	return ioctl(pm, BENCH_PAGEMAP_SCAN, &a);
}

static int cmd_track(int argc, char **argv)
{
	const char *mode = argv[2];
	int pages = atoi(argv[3]), iters = atoi(argv[4]), fd = -1, i, k;
	size_t region = REGION, npg = region / PG;
	double *wr = calloc(iters, sizeof(double));
	double *col = calloc(iters, sizeof(double));
	off_t *offs = calloc(pages, sizeof(off_t));
	struct bench_page_region *vec = calloc(pages + 1, sizeof(*vec));
	uint64_t seed = 2463534242ULL, *pm = calloc(npg, 8);
	int pmfd = open("/proc/self/pagemap", O_RDONLY), cr, uffd = -1;
	char *p;

	if (pages < 1 || iters < 1 || !wr || !col || !offs || !vec || !pm)
		return 2;
	if (!strcmp(mode, "memsnap")) {
		if (argc < 6)
			return 2;
		p = map_file(argv[5], region, &fd, 0);
	} else {
		p = mmap(NULL, region, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die("mmap");
		/* 4 KiB pages, like a memsnap mapping: no THP splits timed. */
		madvise(p, region, MADV_NOHUGEPAGE);
	}
	for (size_t o = 0; o < region; o += PG)	/* resident */
		p[o] = 1;
	if (!strcmp(mode, "uffd")) {
		uffd = uffd_setup(p, region);
		if (uffd < 0 || pm_scan(pmfd, p, region, vec, pages + 1) < 0) {
			printf("SKIP no userfaultfd async write-protect / PAGEMAP_SCAN (%s)\n",
			       strerror(errno));
			return 0;
		}
	}
	for (i = 0; i < iters; i++) {
		double t;

		for (k = 0; k < pages; k++)
			offs[k] = (rnd(&seed) % npg) * PG;
		/* Reset the tracking state: every page clean again. */
		t = now_us();
		if (!strcmp(mode, "memsnap")) {
			if (persist(fd, p, region, 0, NULL))
				die("persist");
		} else if (!strcmp(mode, "softdirty")) {
			cr = open("/proc/self/clear_refs", O_WRONLY);
			if (cr < 0 || write(cr, "4", 1) != 1) {
				printf("SKIP no clear_refs (%s)\n", strerror(errno));
				return 0;
			}
			close(cr);
		} else if (!strcmp(mode, "uffd")) {
			if (pm_scan(pmfd, p, region, vec, pages + 1) < 0)
				die("PAGEMAP_SCAN");
		}
		col[i] = now_us() - t;
		t = now_us();
		for (k = 0; k < pages; k++)
			p[offs[k]] = (char)(i + k + 2);
		wr[i] = (now_us() - t) * 1000 / pages;
		if (!strcmp(mode, "softdirty")) {
			long got = 0;

			t = now_us();
			if (pread(pmfd, pm, npg * 8, (unsigned long)p / PG * 8) !=
			    (ssize_t)(npg * 8))
				die("pagemap");
			for (size_t j = 0; j < npg; j++)
				got += (pm[j] >> 55) & 1;
			col[i] += now_us() - t;
			if (got < 1) {
				printf("SKIP soft-dirty bits not set (no CONFIG_MEM_SOFT_DIRTY?)\n");
				return 0;
			}
		} else if (!strcmp(mode, "uffd")) {
			/* Collected by the next iteration's scan: time one now. */
			t = now_us();
			if (pm_scan(pmfd, p, region, vec, pages + 1) < 0)
				die("PAGEMAP_SCAN");
			col[i] = now_us() - t;
			for (k = 0; k < pages; k++)	/* dirty again for the reset */
				p[offs[k]] = 0;
		}
		col[i] = col[i] * 1000 / pages;
	}
	/* memsnap: iteration 0's reset persisted nothing; skip it. */
	if (!strcmp(mode, "memsnap") && iters > 1)
		col[0] = col[1];
	printf("%.1f ", pct(wr, iters, 50));
	printf("%.1f\n", !strcmp(mode, "anon") ? 0.0 : pct(col, iters, 50));
	return 0;
}

/* ---- concurrency ---- */

struct conc {
	int fd, pages, idx, nthreads;
	char *p;
	volatile int *stop;
	long persists;
};

static void *conc_thread(void *arg)
{
	struct conc *c = arg;
	size_t slice = REGION / c->nthreads / PG;
	uint64_t seed = 1234567 + c->idx;

	while (!*c->stop) {
		for (int k = 0; k < c->pages; k++)
			c->p[(c->idx * slice + rnd(&seed) % slice) * PG] = (char)k;
		if (persist(c->fd, c->p, REGION, MSNAP_THREAD, NULL))
			die("persist");
		c->persists++;
	}
	return NULL;
}

static int cmd_conc(int argc, char **argv)
{
	int n = atoi(argv[3]), pages = atoi(argv[4]), fd, i;
	double secs = atof(argv[5]), t;
	volatile int stop = 0;
	struct conc c[64];
	pthread_t th[64];
	long total = 0;
	char *p;

	if (argc < 6 || n < 1 || n > 64 || pages < 1)
		return 2;
	p = map_file(argv[2], REGION, &fd, 0);
	t = now_us();
	for (i = 0; i < n; i++) {
		c[i] = (struct conc){ .fd = fd, .pages = pages, .idx = i,
				      .nthreads = n, .p = p, .stop = &stop };
		pthread_create(&th[i], NULL, conc_thread, &c[i]);
	}
	usleep(secs * 1e6);
	stop = 1;
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += c[i].persists;
	}
	t = (now_us() - t) / 1e6;
	printf("%.1f %.1f\n", total / t, total * pages / t);
	return 0;
}

/* ---- writers during a persist ---- */

struct writer {
	char *p;
	volatile int *stop, *busy;
	double *idle, *busyv;
	int nidle, nbusy, max;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	uint64_t seed = 99;
	size_t half = REGION / 2 / PG;

	while (!*w->stop) {
		char *q = w->p + (half + rnd(&seed) % half) * PG;
		double t = now_us(), d;
		int b = *w->busy;

		*q = (char)t;
		d = now_us() - t;
		if (b && w->nbusy < w->max)
			w->busyv[w->nbusy++] = d;
		else if (!b && w->nidle < w->max)
			w->idle[w->nidle++] = d;
	}
	return NULL;
}

static int cmd_stall(int argc, char **argv)
{
	int pages = atoi(argv[3]), iters = atoi(argv[4]), fd, i, k;
	volatile int stop = 0, busy = 0;
	struct writer w = { .stop = &stop, .busy = &busy, .max = 1 << 20 };
	double *lat = calloc(iters, sizeof(double)), mx;
	uint64_t seed = 7;
	pthread_t th;
	char *p;

	if (argc < 5 || pages < 1 || iters < 1)
		return 2;
	p = map_file(argv[2], REGION, &fd, 0);
	if (persist(fd, p, REGION, 0, NULL))
		die("persist");
	w.p = p;
	w.idle = calloc(w.max, sizeof(double));
	w.busyv = calloc(w.max, sizeof(double));
	pthread_create(&th, NULL, writer_thread, &w);
	for (i = 0; i < iters; i++) {
		double t;

		/* Dirty PAGES pages of the first half; the writer's half
		 * is persisted too (its stores after the snapshot fault).
		 */
		for (k = 0; k < pages; k++)
			p[(rnd(&seed) % (REGION / 2 / PG)) * PG] = (char)k;
		usleep(2000);	/* idle writer samples */
		busy = 1;
		t = now_us();
		if (persist(fd, p, REGION, 0, NULL))
			die("persist");
		lat[i] = now_us() - t;
		busy = 0;
	}
	stop = 1;
	pthread_join(th, NULL);
	if (!w.nidle || !w.nbusy) {
		printf("0 0 0 0\n");
		return 0;
	}
	printf("%.1f ", pct(w.idle, w.nidle, 99));
	mx = pct(w.busyv, w.nbusy, 100);
	printf("%.1f %.1f ", pct(w.busyv, w.nbusy, 99), mx);
	printf("%.1f\n", pct(lat, iters, 50));
	return 0;
}

static int cmd_fill(int argc, char **argv)
{
	long n = atol(argv[3]);
	int fd;
	char *p;

	if (argc < 4)
		return 2;
	p = map_file(argv[2], 1UL << 20, &fd, 0);
	for (long i = 0; i < n; i++) {
		p[(i % 256) * PG] = (char)i;
		if (persist(fd, p, 1UL << 20, 0, NULL))
			die("persist");
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (getenv("MSBENCH_REGION"))
		REGION = strtoull(getenv("MSBENCH_REGION"), NULL, 0);
	if (argc >= 6 && !strcmp(argv[1], "lat"))
		return cmd_lat(argc, argv);
	if (argc >= 5 && !strcmp(argv[1], "track"))
		return cmd_track(argc, argv);
	if (argc >= 6 && !strcmp(argv[1], "conc"))
		return cmd_conc(argc, argv);
	if (argc >= 5 && !strcmp(argv[1], "stall"))
		return cmd_stall(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "fill"))
		return cmd_fill(argc, argv);
	fprintf(stderr, "usage: msbench lat|track|conc|stall|fill ... (see the source)\n");
	return 2;
}
