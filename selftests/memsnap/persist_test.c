// SPDX-License-Identifier: GPL-2.0
/*
 * msnap_persist through the ioctl ABI and io_uring: durability across
 * remount, write-protect tracking, async + wait, per-thread persists,
 * abort, several files in one commit, snapshot semantics under
 * concurrent writers, large sparse regions, the dirty threshold, the
 * preferred address, and every bad input.
 */
#include "kselftest_harness.h"
#include "msnap_fs.h"
#include "msnap_test.h"

#include <endian.h>
#include <liburing.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#define PG	4096UL
#define MNT	"/tmp/msnap-persist"

FIXTURE(fs) {
	int fd;
	char *p;
	size_t size;
};

FIXTURE_SETUP(fs)
{
	const char *why = msnap_fs_unavailable();

	self->fd = -1;
	self->p = MAP_FAILED;
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, msnap_mkfs(MSNAP_TEST_DEV));
	mkdir(MNT, 0755);
	ASSERT_EQ(0, msnap_mount(MSNAP_TEST_DEV, MNT));
	self->size = 64 * PG;
	self->p = msnap_map_file(MNT, "region", self->size, &self->fd);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(fs)
{
	if (self->p != MAP_FAILED)
		munmap(self->p, self->size);
	if (self->fd >= 0)
		close(self->fd);
	if (!msnap_fs_unavailable()) {
		umount2(MNT, 0);
		EXPECT_EQ(0, msnap_fsck(MSNAP_TEST_DEV));
	}
}

static void fill(char *page, unsigned int v)
{
	memset(page, v & 0xff, PG);
}

static int page_is(const char *page, unsigned int v)
{
	size_t i;

	for (i = 0; i < PG; i++)
		if ((unsigned char)page[i] != (v & 0xff))
			return 0;
	return 1;
}

/* Unmap and close the fixture's region, so that a remount can happen. */
static void drop_region(FIXTURE_DATA(fs) *self)
{
	munmap(self->p, self->size);
	close(self->fd);
	self->p = MAP_FAILED;
	self->fd = -1;
}

/* Unmap, remount, map again: what a restarted program sees. */
static void reopen(struct __test_metadata *_metadata,
		   FIXTURE_DATA(fs) *self)
{
	munmap(self->p, self->size);
	close(self->fd);
	ASSERT_EQ(0, msnap_remount(MSNAP_TEST_DEV, MNT));
	self->p = msnap_map_file(MNT, "region", self->size, &self->fd);
	ASSERT_NE(MAP_FAILED, self->p);
}

TEST_F(fs, persisted_pages_survive_remount_unpersisted_do_not)
{
	__u64 epoch = 0, pages = 0;

	fill(self->p + 1 * PG, 0x11);
	fill(self->p + 3 * PG, 0x33);
	fill(self->p + 5 * PG, 0x55);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size, 0,
				       &epoch, &pages));
	EXPECT_EQ(3, pages);
	EXPECT_LT(0, epoch);
	fill(self->p + 7 * PG, 0x77);	/* never persisted */
	reopen(_metadata, self);
	EXPECT_TRUE(page_is(self->p + 1 * PG, 0x11));
	EXPECT_TRUE(page_is(self->p + 3 * PG, 0x33));
	EXPECT_TRUE(page_is(self->p + 5 * PG, 0x55));
	EXPECT_TRUE(page_is(self->p + 7 * PG, 0));
	EXPECT_TRUE(page_is(self->p, 0));
}

TEST_F(fs, pages_are_tracked_again_after_a_persist)
{
	__u64 pages = 99, e1 = 0, e2 = 0;

	fill(self->p, 1);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, PG, 0, &e1, &pages));
	EXPECT_EQ(1, pages);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, PG, 0, NULL, &pages));
	EXPECT_EQ(0, pages);
	fill(self->p, 2);	/* write-protected again: faults, tracked */
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, PG, 0, &e2, &pages));
	EXPECT_EQ(1, pages);
	EXPECT_LT(e1, e2);
	reopen(_metadata, self);
	EXPECT_TRUE(page_is(self->p, 2));
}

TEST_F(fs, only_the_range_is_persisted)
{
	__u64 pages = 0;

	fill(self->p + 2 * PG, 2);
	fill(self->p + 9 * PG, 9);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p + 2 * PG, PG, 0,
				       NULL, &pages));
	EXPECT_EQ(1, pages);
	reopen(_metadata, self);
	EXPECT_TRUE(page_is(self->p + 2 * PG, 2));
	EXPECT_TRUE(page_is(self->p + 9 * PG, 0));
}

TEST_F(fs, async_then_wait)
{
	__u64 epoch = 0, pages = 0, bad;
	int i;

	for (i = 0; i < 16; i++)
		fill(self->p + i * PG, i + 1);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size,
				       MSNAP_ASYNC, &epoch, &pages));
	EXPECT_EQ(16, pages);
	ASSERT_EQ(0, ioctl(self->fd, MSNAP_IOC_WAIT, &epoch));
	bad = epoch + 1000;
	EXPECT_EQ(-1, ioctl(self->fd, MSNAP_IOC_WAIT, &bad));
	EXPECT_EQ(EINVAL, errno);
	reopen(_metadata, self);
	for (i = 0; i < 16; i++)
		EXPECT_TRUE(page_is(self->p + i * PG, i + 1));
}

/*
 * The event is polled on a directory of the filesystem; a region file, as
 * any regular file, is not pollable (epoll refuses it).
 */
TEST_F(fs, poll_reports_when_async_persists_are_durable)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct pollfd pfd = { .events = POLLIN };
	__u64 epoch = 0, pages = 0;
	int i, ep;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	EXPECT_EQ(-1, epoll_ctl(ep, EPOLL_CTL_ADD, self->fd, &ev));
	EXPECT_EQ(EPERM, errno);
	pfd.fd = open(MNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, pfd.fd);
	EXPECT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, pfd.fd, &ev));
	close(ep);

	for (i = 0; i < 8; i++)
		fill(self->p + i * PG, 0x30 + i);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size,
				       MSNAP_ASYNC, &epoch, &pages));
	EXPECT_EQ(8, pages);
	/* Readable once everything issued is durable: then WAIT is instant. */
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	EXPECT_TRUE(pfd.revents & POLLIN);
	EXPECT_EQ(0, ioctl(self->fd, MSNAP_IOC_WAIT, &epoch));
	close(pfd.fd);
}

struct thread_arg {
	FIXTURE_DATA(fs) *self;
	int first;
	int count;
	__u64 pages;
	int err;
	pthread_barrier_t *bar;
};

static void *thread_persist(void *p)
{
	struct thread_arg *a = p;
	int i;

	for (i = 0; i < a->count; i++)
		fill(a->self->p + (a->first + i) * PG, a->first + 1);
	pthread_barrier_wait(a->bar);	/* both threads have written */
	a->err = msnap_persist_ioc(a->self->fd, a->self->p, a->self->size,
				   MSNAP_THREAD, NULL, &a->pages);
	return NULL;
}

TEST_F(fs, per_thread_persist_takes_only_that_threads_pages)
{
	struct thread_arg a = { .self = self, .first = 0, .count = 3 };
	struct thread_arg b = { .self = self, .first = 10, .count = 5 };
	pthread_barrier_t bar;
	pthread_t ta, tb;

	pthread_barrier_init(&bar, NULL, 2);
	a.bar = &bar;
	b.bar = &bar;
	ASSERT_EQ(0, pthread_create(&ta, NULL, thread_persist, &a));
	ASSERT_EQ(0, pthread_create(&tb, NULL, thread_persist, &b));
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ASSERT_EQ(0, a.err);
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(3, a.pages);
	EXPECT_EQ(5, b.pages);
}

TEST_F(fs, thread_persist_leaves_other_threads_pages_dirty)
{
	struct thread_arg b = { .self = self, .first = 20, .count = 2 };
	pthread_barrier_t bar;
	__u64 pages = 0;
	pthread_t tb;

	pthread_barrier_init(&bar, NULL, 1);
	b.bar = &bar;
	fill(self->p, 0xaa);		/* this thread's page */
	ASSERT_EQ(0, pthread_create(&tb, NULL, thread_persist, &b));
	pthread_join(tb, NULL);
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(2, b.pages);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size,
				       MSNAP_THREAD, NULL, &pages));
	EXPECT_EQ(1, pages);
}

TEST_F(fs, abort_restores_the_last_persisted_contents)
{
	struct msnap_abort_args a = { .size = sizeof(a) };

	fill(self->p + 4 * PG, 0x44);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size, 0,
				       NULL, NULL));
	fill(self->p + 4 * PG, 0x99);
	fill(self->p + 6 * PG, 0x66);
	a.addr = (unsigned long)self->p;
	a.len = self->size;
	ASSERT_EQ(0, ioctl(self->fd, MSNAP_IOC_ABORT, &a));
	EXPECT_EQ(2, a.pages);
	EXPECT_TRUE(page_is(self->p + 4 * PG, 0x44));
	EXPECT_TRUE(page_is(self->p + 6 * PG, 0));
	/* Aborted pages are clean and tracked again. */
	fill(self->p + 4 * PG, 0x45);
	a.pages = 0;
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size, 0,
				       NULL, &a.pages));
	EXPECT_EQ(1, a.pages);
}

TEST_F(fs, persistv_commits_two_files_as_one)
{
	struct msnap_persistv_args v = { .size = sizeof(v) };
	struct msnap_range r[2];
	char *q;
	int fd2;

	q = msnap_map_file(MNT, "other", 8 * PG, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	fill(self->p, 0x01);
	fill(q + PG, 0x02);
	r[0] = (struct msnap_range){ (unsigned long)self->p, PG };
	r[1] = (struct msnap_range){ (unsigned long)q, 8 * PG };
	v.ranges = (unsigned long)r;
	v.nr_ranges = 2;
	ASSERT_EQ(0, ioctl(self->fd, MSNAP_IOC_PERSISTV, &v));
	EXPECT_EQ(2, v.pages);
	munmap(q, 8 * PG);
	close(fd2);
	reopen(_metadata, self);
	q = msnap_map_file(MNT, "other", 8 * PG, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_TRUE(page_is(self->p, 0x01));
	EXPECT_TRUE(page_is(q + PG, 0x02));
	munmap(q, 8 * PG);
	close(fd2);
}

struct stamper {
	uint64_t *words;
	size_t nwords;
	atomic_int stop;
	atomic_ulong last;
};

static void *stamp(void *p);

/* Start a stamper and wait until it has stamped the region once. */
static int stamper_start(pthread_t *t, struct stamper *s)
{
	if (pthread_create(t, NULL, stamp, s))
		return -1;
	while (!atomic_load(&s->last))
		usleep(1000);
	return 0;
}

/* Write version v into every word of the region, in order, forever. */
static void *stamp(void *p)
{
	struct stamper *s = p;
	uint64_t v = 1;
	size_t i;

	while (!atomic_load(&s->stop)) {
		for (i = 0; i < s->nwords; i++)
			__atomic_store_n(&s->words[i], v, __ATOMIC_RELAXED);
		atomic_store(&s->last, v++);
	}
	return NULL;
}

/*
 * A point-in-time image of a region that one writer stamps in address
 * order: stamps never increase along the region and span at most 2.
 */
static int consistent_cut(const uint64_t *w, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (w[i] > w[i - 1] || w[0] - w[i] > 1)
			return 0;
	return 1;
}

TEST_F(fs, persist_is_a_snapshot_while_a_writer_runs)
{
	struct stamper s = { .words = (uint64_t *)self->p,
			     .nwords = self->size / 8 };
	uint64_t *copy = malloc(self->size);
	__u64 pages = 0;
	pthread_t t;
	int i;

	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, stamper_start(&t, &s));
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size,
					       0, NULL, &pages));
	atomic_store(&s.stop, 1);
	pthread_join(t, NULL);
	/* What the writer did after the last persist is still dirty. */
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size, 0,
				       NULL, &pages));
	memcpy(copy, self->p, self->size);
	reopen(_metadata, self);
	EXPECT_EQ(0, memcmp(copy, self->p, self->size));
	EXPECT_TRUE(consistent_cut((uint64_t *)self->p, self->size / 8));
	free(copy);
}

TEST_F(fs, persist_snapshots_are_consistent_cuts)
{
	struct stamper s = { .words = (uint64_t *)self->p,
			     .nwords = self->size / 8 };
	pthread_t t;
	int i, ok = 1;

	ASSERT_EQ(0, stamper_start(&t, &s));
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size,
					       0, NULL, NULL));
	}
	atomic_store(&s.stop, 1);
	pthread_join(t, NULL);
	/* The durable state is the last persist's snapshot. */
	munmap(self->p, self->size);
	close(self->fd);
	ASSERT_EQ(0, msnap_remount(MSNAP_TEST_DEV, MNT));
	self->p = msnap_map_file(MNT, "region", self->size, &self->fd);
	ASSERT_NE(MAP_FAILED, self->p);
	ok = consistent_cut((uint64_t *)self->p, self->size / 8);
	EXPECT_TRUE(ok);
	EXPECT_NE(0, ((uint64_t *)self->p)[0]);
}

TEST_F(fs, io_uring_persists_complete_when_durable)
{
	struct msnap_uring_persist cmd;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int i, ret, seen = 0;

	ret = io_uring_queue_init(32, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	for (i = 0; i < 16; i++) {
		fill(self->p + i * PG, 0xc0 + i);
		sqe = io_uring_get_sqe(&ring);
		ASSERT_NE(NULL, sqe);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, self->fd, NULL, 0, 0);
		sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
		cmd = (struct msnap_uring_persist){
			(unsigned long)(self->p + i * PG), 1, 0 };
		memcpy(sqe->cmd, &cmd, sizeof(cmd));
		sqe->user_data = i;
	}
	ASSERT_EQ(16, io_uring_submit(&ring));
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		EXPECT_EQ(1, cqe->res) {
			TH_LOG("persist %llu: res %d", cqe->user_data, cqe->res);
		}
		seen |= 1 << cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
	}
	EXPECT_EQ(0xffff, seen);
	io_uring_queue_exit(&ring);
	reopen(_metadata, self);
	for (i = 0; i < 16; i++)
		EXPECT_TRUE(page_is(self->p + i * PG, 0xc0 + i));
}

/* Wait up to 10 s for one completion; its res, or -ETIME. */
static int uring_res(struct io_uring *ring, __u64 *user_data)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret)
		return ret;
	ret = cqe->res;
	if (user_data)
		*user_data = cqe->user_data;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/*
 * Buffered reads and writes through io_uring complete (inline, and from
 * an io-wq worker with IOSQE_ASYNC), and the written bytes are file data
 * that fsync makes durable.  Once a bug: a memsnap file was pollable (its
 * poll reported durability), so io_uring, which cannot issue a buffered
 * write without blocking here, waited for POLLOUT on it for ever.
 */
TEST_F(fs, io_uring_buffered_reads_and_writes_complete)
{
	char buf[2][PG], back[PG];
	struct iovec iov = { .iov_base = back, .iov_len = PG };
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int i, ret;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	drop_region(self);
	self->fd = open(MNT "/plain", O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, self->fd);
	for (i = 0; i < 2; i++) {
		memset(buf[i], 0x41 + i, PG);
		sqe = io_uring_get_sqe(&ring);
		ASSERT_NE(NULL, sqe);
		io_uring_prep_write(sqe, self->fd, buf[i], PG, i * PG);
		if (i)
			sqe->flags |= IOSQE_ASYNC;
		ASSERT_EQ(1, io_uring_submit(&ring));
		EXPECT_EQ(PG, uring_res(&ring, NULL)) {
			TH_LOG("write %d (%s) did not complete", i,
			       i ? "IOSQE_ASYNC" : "inline");
		}
	}
	for (i = 0; i < 2; i++) {
		sqe = io_uring_get_sqe(&ring);
		ASSERT_NE(NULL, sqe);
		io_uring_prep_readv(sqe, self->fd, &iov, 1, i * PG);
		if (i)
			sqe->flags |= IOSQE_ASYNC;
		ASSERT_EQ(1, io_uring_submit(&ring));
		EXPECT_EQ(PG, uring_res(&ring, NULL));
		EXPECT_EQ(0, memcmp(back, buf[i], PG));
	}
	sqe = io_uring_get_sqe(&ring);
	ASSERT_NE(NULL, sqe);
	io_uring_prep_fsync(sqe, self->fd, 0);
	ASSERT_EQ(1, io_uring_submit(&ring));
	EXPECT_EQ(0, uring_res(&ring, NULL));
	io_uring_queue_exit(&ring);
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, msnap_remount(MSNAP_TEST_DEV, MNT));
	self->fd = open(MNT "/plain", O_RDONLY);
	ASSERT_LE(0, self->fd);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(PG, pread(self->fd, back, PG, i * PG));
		EXPECT_EQ(0, memcmp(back, buf[i], PG));
	}
}

/* Dirty @n pages from @first in another thread, for MSNAP_THREAD tests. */
struct dirty_arg {
	char *p;
	int first;
	int n;
};

static void *dirty_pages(void *p)
{
	struct dirty_arg *a = p;
	int i;

	for (i = 0; i < a->n; i++)
		fill(a->p + (a->first + i) * PG, 0x60 + i);
	return NULL;
}

/*
 * With IOSQE_ASYNC the command is first issued by an io-wq worker:
 * MSNAP_THREAD still means the pages of the thread that submitted it.
 */
TEST_F(fs, io_uring_async_sqe_thread_persist_takes_the_submitters_pages)
{
	struct dirty_arg other = { .p = self->p, .first = 10, .n = 5 };
	struct msnap_uring_persist cmd = {
		(unsigned long)self->p, self->size / PG, MSNAP_THREAD };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	__u64 pages = 0;
	pthread_t t;
	int i, ret;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	for (i = 0; i < 3; i++)
		fill(self->p + i * PG, 0x50 + i);
	ASSERT_EQ(0, pthread_create(&t, NULL, dirty_pages, &other));
	pthread_join(t, NULL);
	sqe = io_uring_get_sqe(&ring);
	ASSERT_NE(NULL, sqe);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, self->fd, NULL, 0, 0);
	sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
	memcpy(sqe->cmd, &cmd, sizeof(cmd));
	sqe->flags |= IOSQE_ASYNC;
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(3, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	/* The other thread's pages are still dirty. */
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size, 0, NULL,
				       &pages));
	EXPECT_EQ(5, pages);
}

/*
 * A memsnap filesystem on a device-mapper stack over the scratch drive,
 * whose writes can be held in flight (a suspended device queues them
 * until it is resumed) or made to fail, on any kernel:
 *
 *   msnap-t: [0, data_start)                 the drive (metadata, log)
 *            [data_start, +HOLD_BLOCKS)      msnap-h, the drive: "hold"
 *            [data_start + HOLD_BLOCKS, end) msnap-e, the drive: "fail"
 *
 * A fresh filesystem allocates its first data blocks from data_start
 * on, so the first HOLD_BLOCKS pages persisted land on msnap-h.
 */
#define HOLD_BLOCKS	256
#define DM_T		"/dev/mapper/msnap-t"

FIXTURE(dm) {
	int fd;
	char *p;
	size_t size;
	unsigned long long data_start;
	unsigned long long sectors;
	int held;
	int errored;		/* the filesystem saw an IO error: no fsck */
};

static const char *dm_unavailable(void)
{
	if (access("/dev/mapper/control", R_OK | W_OK))
		return "no device-mapper (/dev/mapper/control)";
	if (msnap_sh("dmsetup version > /dev/null 2>&1"))
		return "no working dmsetup";
	return NULL;
}

static void dm_remove_all(void)
{
	msnap_sh("for d in msnap-t msnap-h msnap-e; do dmsetup resume $d; dmsetup remove $d; done > /dev/null 2>&1");
}

/* The drive's geometry from the superblock mkfs just wrote. */
static int read_geometry(FIXTURE_DATA(dm) *self)
{
	struct msnap_super sb;
	unsigned long long bytes;
	int fd = open(MSNAP_TEST_DEV, O_RDONLY);
	int ok;

	if (fd < 0)
		return -errno;
	ok = pread(fd, &sb, sizeof(sb), 0) == sizeof(sb) &&
	     !ioctl(fd, BLKGETSIZE64, &bytes);
	close(fd);
	if (!ok || le64toh(sb.magic) != MSNAP_SB_MAGIC)
		return -EINVAL;
	self->data_start = le64toh(sb.data_start);
	self->sectors = bytes / 512;
	return 0;
}

static int dm_create(FIXTURE_DATA(dm) *self)
{
	unsigned long long hs = self->data_start * 8, hn = HOLD_BLOCKS * 8;
	unsigned long long es = hs + hn, en = self->sectors - es;

	return msnap_sh("dmsetup create msnap-h --table '0 %llu linear %s %llu' && "
			"dmsetup create msnap-e --table '0 %llu linear %s %llu' && "
			"dmsetup mknodes && "
			"printf '0 %llu linear %s 0\\n%llu %llu linear /dev/mapper/msnap-h 0\\n%llu %llu linear /dev/mapper/msnap-e 0\\n' | "
			"dmsetup create msnap-t && dmsetup mknodes",
			hn, MSNAP_TEST_DEV, hs, en, MSNAP_TEST_DEV, es,
			hs, MSNAP_TEST_DEV, hs, hn, es, en);
}

/* From now on, writes to msnap-h stay in flight until dm_release(). */
static int dm_hold(FIXTURE_DATA(dm) *self)
{
	int err = msnap_sh("dmsetup suspend --nolockfs msnap-h");

	self->held = !err;
	return err;
}

static int dm_release(FIXTURE_DATA(dm) *self)
{
	self->held = 0;
	return msnap_sh("dmsetup resume msnap-h");
}

/* From now on, every IO to msnap-e fails. */
static int dm_fail(FIXTURE_DATA(dm) *self)
{
	unsigned long long en = self->sectors - (self->data_start + HOLD_BLOCKS) * 8;

	self->errored = 1;
	return msnap_sh("dmsetup suspend msnap-e && "
			"dmsetup load msnap-e --table '0 %llu error' && "
			"dmsetup resume msnap-e", en);
}

FIXTURE_SETUP(dm)
{
	const char *why = msnap_fs_unavailable();

	self->fd = -1;
	self->p = MAP_FAILED;
	self->held = 0;
	self->errored = 0;
	if (!why)
		why = dm_unavailable();
	if (why)
		SKIP(return, "%s", why);
	dm_remove_all();	/* left by an earlier run that died */
	ASSERT_EQ(0, msnap_mkfs(MSNAP_TEST_DEV));
	ASSERT_EQ(0, read_geometry(self));
	ASSERT_EQ(0, dm_create(self));
	mkdir(MNT, 0755);
	ASSERT_EQ(0, msnap_mount(DM_T, MNT));
	self->size = 64 * PG;
	self->p = msnap_map_file(MNT, "region", self->size, &self->fd);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(dm)
{
	if (self->held)
		dm_release(self);
	if (self->p != MAP_FAILED)
		munmap(self->p, self->size);
	if (self->fd >= 0)
		close(self->fd);
	if (!msnap_fs_unavailable() && !dm_unavailable()) {
		umount2(MNT, 0);
		dm_remove_all();
		if (!self->errored)
			EXPECT_EQ(0, msnap_fsck(MSNAP_TEST_DEV));
	}
}

/* A syncfs(2) in another thread: its checkpoint waits for held commits. */
struct syncer {
	int fd;
	pid_t tid;
	int ret;
};

static void *syncer_run(void *p)
{
	struct syncer *s = p;

	__atomic_store_n(&s->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	s->ret = syncfs(s->fd) ? -errno : 0;
	return NULL;
}

/* Whether thread @tid sleeps uninterruptibly (in the kernel). */
static int thread_blocked(pid_t tid)
{
	char path[64], buf[256], *st;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	st = strrchr(buf, ')');
	return st && st[1] == ' ' && st[2] == 'D';
}

/* Wait up to 10 s for thread @tid to stay blocked for 100 ms. */
static int wait_blocked(pid_t tid)
{
	int i, seen = 0;

	for (i = 0; i < 1000 && seen < 10; i++) {
		seen = thread_blocked(tid) ? seen + 1 : 0;
		usleep(10000);
	}
	return seen == 10 ? 0 : -ETIMEDOUT;
}

/* How many of this process's threads are io-wq workers ("iou-wrk-*"). */
static int iowq_workers(void)
{
	return msnap_sh("exit $(grep -l '^iou-wrk' /proc/%d/task/*/comm 2>/dev/null | wc -l)",
			getpid());
}

#define REISSUED	8

/*
 * A command that cannot take the filesystem's locks at once is reissued
 * by an io-wq worker after io_uring_enter has returned, when the
 * application may already have reused its SQE slot (liburing does).  The
 * reissue must still persist the range that was submitted: 6.12 (before
 * 6.14) hands the module the live SQ ring entry again.
 */
TEST_F_TIMEOUT(dm, io_uring_reissue_persists_the_submitted_range, 120)
{
	struct msnap_uring_persist cmd, other = {
		(unsigned long)(self->p + 40 * PG), 2, 0 };
	unsigned int max_workers[2] = { 1, 1 };
	struct io_uring_sqe *sqes[REISSUED];
	struct syncer s = { .fd = self->fd };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	__u64 epoch = 0, pages = 0;
	int i, ret, seen = 0;
	pthread_t t;

	ret = io_uring_queue_init(32, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	/* One worker: the reissues run one after the other. */
	ASSERT_EQ(0, io_uring_register_iowq_max_workers(&ring, max_workers));
	for (i = 0; i < REISSUED; i++)
		fill(self->p + i * PG, 0x40 + i);
	fill(self->p + 40 * PG, 0x77);	/* never persisted */
	fill(self->p + 41 * PG, 0x78);
	fill(self->p + 63 * PG, 0x99);
	/* A commit held in flight, and a checkpoint waiting for it. */
	ASSERT_EQ(0, dm_hold(self));
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p + 63 * PG, PG,
				       MSNAP_ASYNC, &epoch, &pages));
	ASSERT_EQ(1, pages);
	ASSERT_EQ(0, pthread_create(&t, NULL, syncer_run, &s));
	while (!__atomic_load_n(&s.tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	ASSERT_EQ(0, wait_blocked(s.tid));
	/* So every command's non-blocking issue gets -EAGAIN. */
	for (i = 0; i < REISSUED; i++) {
		sqes[i] = io_uring_get_sqe(&ring);
		ASSERT_NE(NULL, sqes[i]);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqes[i], self->fd, NULL,
				 0, 0);
		sqes[i]->cmd_op = MSNAP_URING_CMD_PERSIST;
		cmd = (struct msnap_uring_persist){
			(unsigned long)(self->p + i * PG), 1, 0 };
		memcpy(sqes[i]->cmd, &cmd, sizeof(cmd));
		sqes[i]->user_data = i;
	}
	ASSERT_EQ(REISSUED, io_uring_submit(&ring));
	/* The slots are the application's again: reuse them. */
	for (i = 0; i < REISSUED; i++)
		memcpy(sqes[i]->cmd, &other, sizeof(other));
	EXPECT_LE(1, iowq_workers());	/* the commands went to io-wq */
	ASSERT_EQ(0, dm_release(self));
	pthread_join(t, NULL);
	EXPECT_EQ(0, s.ret);
	for (i = 0; i < REISSUED; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		EXPECT_EQ(1, cqe->res) {
			TH_LOG("persist %llu: res %d", cqe->user_data, cqe->res);
		}
		seen |= 1 << cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
	}
	EXPECT_EQ((1 << REISSUED) - 1, seen);
	io_uring_queue_exit(&ring);
	munmap(self->p, self->size);
	close(self->fd);
	ASSERT_EQ(0, msnap_remount(DM_T, MNT));
	self->p = msnap_map_file(MNT, "region", self->size, &self->fd);
	ASSERT_NE(MAP_FAILED, self->p);
	for (i = 0; i < REISSUED; i++)
		EXPECT_TRUE(page_is(self->p + i * PG, 0x40 + i));
	EXPECT_TRUE(page_is(self->p + 40 * PG, 0));
	EXPECT_TRUE(page_is(self->p + 41 * PG, 0));
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * MSNAP_IOC_WAIT for a commit held in flight, and a signal whose handler
 * was installed without SA_RESTART: EINTR, as documented; the commit
 * goes on, and a second WAIT once the IO is released returns 0.
 */
TEST_F_TIMEOUT(dm, wait_interrupted_by_a_signal, 120)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	__u64 epoch = 0, pages = 0;
	int ret, err;

	fill(self->p, 0x5e);
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, dm_hold(self));
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, PG, MSNAP_ASYNC,
				       &epoch, &pages));
	ASSERT_EQ(1, pages);
	alarm(1);
	ret = ioctl(self->fd, MSNAP_IOC_WAIT, &epoch);
	err = errno;
	alarm(0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINTR, err);
	ASSERT_EQ(0, dm_release(self));
	EXPECT_EQ(0, ioctl(self->fd, MSNAP_IOC_WAIT, &epoch));
	signal(SIGALRM, SIG_DFL);
}

#define BIG_PAGES	(2 * HOLD_BLOCKS)

/*
 * Unmount after an IO error, with a commit still in flight: the unmount
 * must wait for it, since its completion touches the filesystem's state,
 * and the module must unload cleanly afterwards.  Commit B's data is
 * held on msnap-h (and partly fails on msnap-e); commit A, behind it,
 * fails at once and puts the filesystem in its error state.
 */
TEST_F_TIMEOUT(dm, umount_after_an_io_error_waits_for_commits_in_flight, 120)
{
	size_t size = (BIG_PAGES + 1) * PG;
	__u64 epoch_a = 0, pages = 0;
	const char *ko = getenv("MEMSNAP_KO");
	int i, fd, st = -1;
	pid_t child;
	char *p;

	p = msnap_map_file(MNT, "big", size, &fd);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < BIG_PAGES + 1; i++)
		fill(p + i * PG, i);
	ASSERT_EQ(0, dm_fail(self));
	ASSERT_EQ(0, dm_hold(self));
	ASSERT_EQ(0, msnap_persist_ioc(fd, p, BIG_PAGES * PG, MSNAP_ASYNC,
				       NULL, &pages));
	ASSERT_EQ(BIG_PAGES, pages);
	ASSERT_EQ(0, msnap_persist_ioc(fd, p + BIG_PAGES * PG, PG, MSNAP_ASYNC,
				       &epoch_a, &pages));
	ASSERT_EQ(1, pages);
	/* A failed: the filesystem is in its error state. */
	EXPECT_EQ(-1, ioctl(fd, MSNAP_IOC_WAIT, &epoch_a));
	EXPECT_EQ(EIO, errno);
	munmap(p, size);
	close(fd);
	munmap(self->p, self->size);
	self->p = MAP_FAILED;
	close(self->fd);
	self->fd = -1;
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(umount2(MNT, 0) ? errno : 0);
	sleep(2);
	EXPECT_EQ(0, waitpid(child, &st, WNOHANG)) {
		TH_LOG("umount returned with a commit's IO still in flight");
	}
	ASSERT_EQ(0, dm_release(self));
	if (waitpid(child, &st, 0) == child)
		EXPECT_EQ(0, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	/* Nothing of the filesystem is left to touch: the module goes. */
	if (ko && *ko) {
		EXPECT_EQ(0, msnap_unload_module("memsnap"));
		sleep(1);
		EXPECT_EQ(0, msnap_load_module(ko));
	}
}

#define FAILSLAB	"/sys/kernel/debug/failslab/"

/* Write @val to the failslab knob @knob; 0 or -errno. */
static int failslab_set(const char *knob, const char *val)
{
	char path[128];
	int fd, n;

	snprintf(path, sizeof(path), FAILSLAB "%s", knob);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * The text range of memsnap's function @name (up to the next memsnap
 * symbol), from /proc/kallsyms; 0 or -errno.
 */
static int module_function_range(const char *name, unsigned long long *start,
				 unsigned long long *end)
{
	char line[256], sym[128], mod[64], type;
	unsigned long long addr;
	FILE *f = fopen("/proc/kallsyms", "re");
	int pass;

	if (!f)
		return -errno;
	*start = 0;
	*end = ~0ULL;
	for (pass = 0; pass < 2; pass++) {
		rewind(f);
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%llx %c %127s %63s", &addr, &type, sym,
				   mod) != 4 || strcmp(mod, "[memsnap]") || !addr)
				continue;
			if (!pass && !strcmp(sym, name))
				*start = addr;
			else if (pass && *start && addr > *start && addr < *end)
				*end = addr;
		}
	}
	fclose(f);
	return *start && *end != ~0ULL ? 0 : -ENOENT;
}

/* Every allocation made through msnap_commit_alloc() fails, or none. */
static int fail_commit_alloc(int on)
{
	unsigned long long start, end;
	char buf[32];
	int err;

	if (!on)
		return failslab_set("probability", "0");
	err = module_function_range("msnap_commit_alloc", &start, &end);
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "%#llx", start);
	err = failslab_set("require-start", buf);
	snprintf(buf, sizeof(buf), "%#llx", end);
	if (!err)
		err = failslab_set("require-end", buf);
	if (!err)
		err = failslab_set("ignore-gfp-wait", "N");
	if (!err)
		err = failslab_set("task-filter", "N");
	if (!err)
		err = failslab_set("interval", "1");
	if (!err)
		err = failslab_set("times", "-1");
	if (!err)
		err = failslab_set("verbose", "1");
	if (!err)
		err = failslab_set("probability", "100");
	return err;
}

/*
 * Unmount when the namespace commit fails with ENOMEM (the sync then
 * skipped the checkpoint, and its drain), with a commit in flight: the
 * unmount must wait for it all the same.  Needs fault injection
 * (failslab with a stack-trace filter: the debug kernel has it).
 */
TEST_F_TIMEOUT(dm, umount_after_enomem_in_commit_ns_waits_for_commits_in_flight,
	       120)
{
	unsigned long long start, end;
	int st = -1, ret;
	__u64 pages = 0;
	pid_t child;

	if (access(FAILSLAB "require-start", W_OK))
		SKIP(return, "no failslab stack-trace filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER: x86_64 has it from 6.12 on; the debug kernel is 6.1)");
	ret = module_function_range("msnap_commit_alloc", &start, &end);
	if (ret)
		SKIP(return, "msnap_commit_alloc not in /proc/kallsyms (%d)", ret);
	fill(self->p, 0x11);
	ASSERT_EQ(0, dm_hold(self));
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, PG, MSNAP_ASYNC,
				       NULL, &pages));
	ASSERT_EQ(1, pages);
	/* A namespace entry, for the unmount's commit_ns. */
	ASSERT_EQ(0, fchmod(self->fd, 0600));
	munmap(self->p, self->size);
	self->p = MAP_FAILED;
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, fail_commit_alloc(1));
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(umount2(MNT, 0) ? errno : 0);
	sleep(2);
	EXPECT_EQ(0, waitpid(child, &st, WNOHANG)) {
		TH_LOG("umount returned with a commit's IO still in flight");
	}
	EXPECT_EQ(0, fail_commit_alloc(0));
	ASSERT_EQ(0, dm_release(self));
	if (waitpid(child, &st, 0) == child)
		EXPECT_EQ(0, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

TEST_F(fs, preferred_address_is_kept)
{
	struct msnap_addr_args a = { .size = sizeof(a) };

	ASSERT_EQ(0, ioctl(self->fd, MSNAP_IOC_GET_ADDR, &a));
	EXPECT_EQ(0, a.addr);
	a.addr = 0x7e0000000000ULL;
	ASSERT_EQ(0, ioctl(self->fd, MSNAP_IOC_SET_ADDR, &a));
	a.addr = 0x1001;
	EXPECT_EQ(-1, ioctl(self->fd, MSNAP_IOC_SET_ADDR, &a));
	EXPECT_EQ(EINVAL, errno);
	reopen(_metadata, self);
	a.addr = 0;
	ASSERT_EQ(0, ioctl(self->fd, MSNAP_IOC_GET_ADDR, &a));
	EXPECT_EQ(0x7e0000000000ULL, a.addr);
}

TEST_F_TIMEOUT(fs, sparse_region_twice_ram_size, 300)
{
	size_t big = 3UL << 30;	/* guest RAM is 1.5 GiB */
	__u64 pages = 0;
	size_t off;
	char *q;
	int fd2;

	q = msnap_map_file(MNT, "big", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	for (off = 0; off < big; off += 4 << 20)
		q[off] = (char)(off >> 22) | 1;
	ASSERT_EQ(0, msnap_persist_ioc(fd2, q, big, 0, NULL, &pages));
	EXPECT_EQ(big / (4 << 20), pages);
	munmap(q, big);
	close(fd2);
	reopen(_metadata, self);
	q = msnap_map_file(MNT, "big", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	for (off = 0; off < big; off += 4 << 20)
		ASSERT_EQ((char)(off >> 22) | 1, q[off]);
	munmap(q, big);
	close(fd2);
}

TEST_F(fs, one_page_of_a_64g_sparse_region)
{
	size_t big = 64UL << 30;
	__u64 pages = 0;
	char *q;
	int fd2;

	q = msnap_map_file(MNT, "huge", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	q[big - PG] = 7;
	ASSERT_EQ(0, msnap_persist_ioc(fd2, q, big, 0, NULL, &pages));
	EXPECT_EQ(1, pages);
	munmap(q, big);
	close(fd2);
}

/*
 * A checkpoint that writes many more metadata blocks than one batch of
 * buffers (MSNAP_BH_BATCH, 256): 700 pages 504 apart, one page-map leaf
 * each, persisted, then a checkpoint (syncfs) and a remount.
 */
TEST_F_TIMEOUT(fs, checkpoint_of_many_leaves, 240)
{
	const size_t n = 700, stride = 504, big = n * stride * PG;
	__u64 pages = 0;
	size_t i, bad = 0;
	char *q;
	int fd2;

	drop_region(self);
	q = msnap_map_file(MNT, "leaves", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < n; i++)
		q[i * stride * PG + i % PG] = (char)(i % 251 + 1);
	ASSERT_EQ(0, msnap_persist_ioc(fd2, q, big, 0, NULL, &pages));
	EXPECT_EQ(n, pages);
	EXPECT_EQ(0, syncfs(fd2));
	munmap(q, big);
	close(fd2);
	ASSERT_EQ(0, msnap_remount(MSNAP_TEST_DEV, MNT));
	q = msnap_map_file(MNT, "leaves", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < n; i++)
		bad += q[i * stride * PG + i % PG] != (char)(i % 251 + 1);
	EXPECT_EQ(0, bad);
	munmap(q, big);
	close(fd2);
}

#define FAIL_PAGE_ALLOC	"/sys/kernel/debug/fail_page_alloc/"

static int put_str(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ok = f && fputs(val, f) >= 0;

	if (f && fclose(f))
		ok = 0;
	return ok ? 0 : -1;
}

static unsigned long long read_num(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "r");

	if (f && fscanf(f, "%lli", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

/*
 * Fail the next page allocation of this thread (fault injection with
 * task-filter: x86_64 kernels have no filter by call site).
 */
static int fail_next_page_alloc(void)
{
	return put_str(FAIL_PAGE_ALLOC "ignore-gfp-wait", "N") ||
	       put_str(FAIL_PAGE_ALLOC "ignore-gfp-highmem", "N") ||
	       put_str(FAIL_PAGE_ALLOC "min-order", "0") ||
	       put_str(FAIL_PAGE_ALLOC "task-filter", "Y") ||
	       put_str(FAIL_PAGE_ALLOC "interval", "1") ||
	       put_str(FAIL_PAGE_ALLOC "times", "1") ||
	       put_str(FAIL_PAGE_ALLOC "probability", "100") ||
	       put_str("/proc/thread-self/make-it-fail", "1");
}

static void fail_page_alloc_off(void)
{
	put_str("/proc/thread-self/make-it-fail", "0");
	put_str(FAIL_PAGE_ALLOC "probability", "0");
}

/*
 * An allocation that fails in a persist fails that persist with ENOMEM
 * and nothing else (review #9): the pages stay dirty, the next persist
 * writes them, the filesystem stays usable.  The first persist fills the
 * bounce-page pool and leaves its page-map entries in the overlay, so
 * that the second one allocates little more than its record's pages,
 * which are what the injected failure (the thread's first page
 * allocation in the persist) most likely hits.
 */
TEST_F(fs, enomem_in_a_persist_fails_only_that_persist)
{
	const size_t n = 256, big = n * PG;
	unsigned long long injected;
	__u64 pages = 0;
	size_t i, bad = 0;
	char *q;
	int fd2, err;

	if (access(FAIL_PAGE_ALLOC "probability", W_OK))
		SKIP(return, "needs CONFIG_FAIL_PAGE_ALLOC and debugfs (the debug kernel)");
	drop_region(self);
	q = msnap_map_file(MNT, "nomem", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	memset(q, 1, big);
	ASSERT_EQ(0, msnap_persist_ioc(fd2, q, big, 0, NULL, &pages));
	usleep(200000);		/* the commit's bounce pages back to the pool */
	memset(q, 2, big);
	ASSERT_EQ(0, fail_next_page_alloc());
	err = msnap_persist_ioc(fd2, q, big, 0, NULL, &pages);
	injected = !read_num(FAIL_PAGE_ALLOC "times");
	fail_page_alloc_off();
	TH_LOG("failure %s, persist: %s", injected ? "injected" : "not injected",
	       strerror(-err));
	EXPECT_TRUE(err == 0 || err == -ENOMEM);
	/* Whatever failed, the next persist writes every page. */
	EXPECT_EQ(0, msnap_persist_ioc(fd2, q, big, 0, NULL, &pages));
	EXPECT_EQ(err ? n : 0, pages);
	munmap(q, big);
	close(fd2);
	ASSERT_EQ(0, msnap_remount(MSNAP_TEST_DEV, MNT));
	q = msnap_map_file(MNT, "nomem", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < big; i++)
		bad += q[i] != 2;
	EXPECT_EQ(0, bad);
	munmap(q, big);
	close(fd2);
}

static long meminfo_kb(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return v;
}

TEST_F_TIMEOUT(fs, dirty_set_beyond_dirty_threshold_is_not_throttled, 120)
{
	size_t big = 64UL << 20;
	long before, after;
	char *q;
	int fd2;

	/* 2 MiB: far below the 64 MiB this region dirties. */
	ASSERT_EQ(0, msnap_sh("echo 2097152 > /proc/sys/vm/dirty_bytes"));
	before = meminfo_kb("Dirty:");
	q = msnap_map_file(MNT, "dirty", big, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	memset(q, 0x5a, big);
	ASSERT_EQ(0, pwrite(fd2, q, big / 2, 0) == (ssize_t)big / 2 ? 0 : -1);
	after = meminfo_kb("Dirty:");
	/* Region pages are not writeback-dirty: nothing to throttle on. */
	EXPECT_GT(16 * 1024, after - before) {
		TH_LOG("Dirty grew by %ld KiB", after - before);
	}
	/* Another file system's writer is not throttled either. */
	EXPECT_EQ(0, msnap_sh("dd if=/dev/zero of=/tmp/other bs=1M count=8 status=none"));
	ASSERT_EQ(0, msnap_persist_ioc(fd2, q, big, 0, NULL, NULL));
	/* Back to the default ratio (which clears dirty_bytes). */
	msnap_sh("echo 20 > /proc/sys/vm/dirty_ratio");
	munmap(q, big);
	close(fd2);
}

static long long stat_of(const char *name)
{
	char line[128], key[64];
	long long v, found = -1;
	FILE *f = fopen("/sys/kernel/debug/memsnap/nvme0n1/stats", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", key, &v) == 2 && !strcmp(key, name))
			found = v;
	if (f)
		fclose(f);
	return found;
}

TEST_F(fs, debugfs_counts_persists_and_phases)
{
	long long persists, pages;

	if (stat_of("persists") < 0)
		SKIP(return, "no debugfs stats (debugfs not mounted?)");
	persists = stat_of("persists");
	pages = stat_of("pages");
	fill(self->p, 1);
	fill(self->p + PG, 2);
	ASSERT_EQ(0, msnap_persist_ioc(self->fd, self->p, self->size, 0,
				       NULL, NULL));
	EXPECT_EQ(persists + 1, stat_of("persists"));
	EXPECT_EQ(pages + 2, stat_of("pages"));
	EXPECT_LT(0, stat_of("snapshot_ns"));
	EXPECT_LT(0, stat_of("io_ns"));
	EXPECT_LT(0, stat_of("durable_epoch"));
}

TEST_F(fs, bad_inputs_are_rejected)
{
	struct msnap_persist_args a;
	char buf[256] = {};
	char *anon, *priv;
	int fdo;

#define PERSIST_ERRNO(expect_errno) do {				\
		errno = 0;						\
		EXPECT_EQ(-1, ioctl(self->fd, MSNAP_IOC_PERSIST, &a));	\
		EXPECT_EQ(expect_errno, errno);				\
	} while (0)
#define RESET() (a = (struct msnap_persist_args){ .size = sizeof(a),	\
		 .addr = (unsigned long)self->p, .len = PG })

	RESET(); a.addr += 1;			PERSIST_ERRNO(EINVAL);
	RESET(); a.len = UINT64_MAX;		PERSIST_ERRNO(EINVAL);
	RESET(); a.addr = UINT64_MAX & ~(PG - 1); PERSIST_ERRNO(EINVAL);
	RESET(); a.flags = 0x100;		PERSIST_ERRNO(EINVAL);
	RESET(); a.reserved[1] = 1;		PERSIST_ERRNO(EINVAL);
	RESET(); a.size = 8;			PERSIST_ERRNO(EINVAL);
	/* A memsnap mapping followed by a hole. */
	anon = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	ASSERT_NE(MAP_FAILED, mmap(anon, PG, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_FIXED, self->fd, 0));
	munmap(anon + PG, PG);
	RESET(); a.addr = (unsigned long)anon; a.len = 2 * PG;
	PERSIST_ERRNO(ENOMEM);
	munmap(anon, PG);
	anon = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	RESET(); a.addr = (unsigned long)anon;	PERSIST_ERRNO(EINVAL);
	priv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);
	ASSERT_NE(MAP_FAILED, priv);
	priv[0] = 1;
	RESET(); a.addr = (unsigned long)priv;	PERSIST_ERRNO(EINVAL);
	munmap(priv, PG);
	munmap(anon, PG);
	/* A bigger structure with unknown non-zero bytes. */
	RESET();
	memcpy(buf, &a, sizeof(a));
	((struct msnap_persist_args *)buf)->size = sizeof(buf);
	buf[sizeof(a) + 3] = 1;
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, MSNAP_IOC_PERSIST, buf));
	EXPECT_EQ(E2BIG, errno);
	/* ... and with zeroes there it is accepted. */
	buf[sizeof(a) + 3] = 0;
	EXPECT_EQ(0, ioctl(self->fd, MSNAP_IOC_PERSIST, buf));
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, MSNAP_IOC_PERSIST, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	fdo = open("/proc/self/status", O_RDONLY);
	ASSERT_LE(0, fdo);
	RESET();
	errno = 0;
	EXPECT_EQ(-1, ioctl(fdo, MSNAP_IOC_PERSIST, &a));
	EXPECT_EQ(ENOTTY, errno);
	close(fdo);
#undef RESET
#undef PERSIST_ERRNO
}

TEST_HARNESS_MAIN
