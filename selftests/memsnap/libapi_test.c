// SPDX-License-Identifier: GPL-2.0
/*
 * libmemsnap's whole API on a freshly made memsnap filesystem: regions at
 * stable addresses, persist (sync, async + wait, per thread), persistv,
 * abort, resize, remap (KEEP_SIZE), close, the io_uring command, and every error path with
 * bad input.
 */
#include "kselftest_harness.h"
#include "msnap_test.h"
#include "msnap_mount.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <memsnap.h>
#include <memsnap_uring.h>

#define PS	((size_t)getpagesize())

/* The library's range for fresh regions (memsnap(7), ADDRESSES). */
#define ADDR_BASE	0x200000000000ULL
#define ADDR_END	0x500000000000ULL

/* ---- without a filesystem: argument checks ---------------------------- */

TEST(null_arguments)
{
	struct msnap_region *r = NULL;

	ASSERT_EQ(-EINVAL, msnap_open(NULL, 0, 0, &r));
	ASSERT_EQ(-EINVAL, msnap_open("/tmp/x", 0, 0, NULL));
	ASSERT_EQ(-EINVAL, msnap_open("/tmp/x", 0, 0x80, &r));
	ASSERT_EQ(-EINVAL, msnap_open("/tmp/x", 0, MSNAP_OPEN_EXCL, &r));
	ASSERT_EQ(NULL, r);
	ASSERT_EQ(-EINVAL, msnap_close(NULL));
	ASSERT_EQ(-EINVAL, msnap_resize(NULL, PS));
	ASSERT_EQ(-EINVAL, msnap_remap(NULL, PS));
	ASSERT_EQ(-EINVAL, msnap_wait(NULL, 1));
	ASSERT_EQ(-EINVAL, msnap_fd(NULL));
	ASSERT_EQ(NULL, msnap_addr(NULL));
	ASSERT_EQ(0, msnap_size(NULL));
	ASSERT_EQ(-EINVAL, msnap_persistv(NULL, 1, 0, NULL));
}

TEST(bad_ranges)
{
	char *p = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct msnap_range rg = { (uintptr_t)p, PS };
	struct msnap_range many[MSNAP_MAX_RANGES + 1];
	uint64_t epoch = 0;

	ASSERT_NE(MAP_FAILED, p);
	/* Unaligned, empty, wrapping ranges and unknown flags: EINVAL. */
	EXPECT_EQ(-EINVAL, msnap_persist(p + 1, PS, 0));
	EXPECT_EQ(-EINVAL, msnap_persist(p, 0, 0));
	EXPECT_EQ(-EINVAL, msnap_persist(p, SIZE_MAX - PS, 0));
	EXPECT_EQ(-EINVAL, msnap_persist((void *)-PS, PS, 0));
	EXPECT_EQ(-EINVAL, msnap_persist(p, PS, 0x80));
	EXPECT_EQ(-EINVAL, msnap_persist_epoch(p, PS, 0x80, &epoch));
	EXPECT_EQ(-EINVAL, msnap_abort(p + 1, PS));
	EXPECT_EQ(-EINVAL, msnap_abort(p, 0));
	/* A range in no region, NULL included: ENOMEM, as msync(2). */
	EXPECT_EQ(-ENOMEM, msnap_persist(p, PS, 0));
	EXPECT_EQ(-ENOMEM, msnap_persist(NULL, PS, 0));
	EXPECT_EQ(-ENOMEM, msnap_persist_epoch(p, PS, MSNAP_ASYNC, &epoch));
	EXPECT_EQ(-ENOMEM, msnap_abort(p, PS));
	EXPECT_EQ(-ENOMEM, msnap_persistv(&rg, 1, 0, &epoch));
	EXPECT_EQ(0, epoch);
	/* persistv: no ranges, too many, bad flags, a bad range. */
	EXPECT_EQ(-EINVAL, msnap_persistv(&rg, 0, 0, NULL));
	memset(many, 0, sizeof(many));
	EXPECT_EQ(-EINVAL, msnap_persistv(many, MSNAP_MAX_RANGES + 1, 0, NULL));
	EXPECT_EQ(-EINVAL, msnap_persistv(&rg, 1, 0x80, NULL));
	rg.addr++;
	EXPECT_EQ(-EINVAL, msnap_persistv(&rg, 1, 0, NULL));
	munmap(p, 2 * PS);
}

TEST(open_errors_without_memsnap)
{
	char path[] = "/tmp/libapi-other-XXXXXX";
	struct msnap_region *r = NULL;
	int fd = mkstemp(path);

	ASSERT_LE(0, fd);
	close(fd);
	/* A file on another filesystem is not a region. */
	EXPECT_EQ(-EXDEV, msnap_open(path, PS, 0, &r));
	unlink(path);
	/* CREATE there fails the same way and leaves no file behind. */
	EXPECT_EQ(-EXDEV, msnap_open(path, PS, MSNAP_OPEN_CREATE, &r));
	EXPECT_EQ(-1, access(path, F_OK));
	EXPECT_EQ(-ENOENT, msnap_open(path, PS, 0, &r));
	EXPECT_EQ(-EISDIR, msnap_open("/tmp", PS, 0, &r));
	EXPECT_EQ(NULL, r);
}

/* ---- on a memsnap filesystem ----------------------------------------- */

FIXTURE(fs) {
	struct msnap_mnt m;
	char a[128], b[128];
};

FIXTURE_SETUP(fs)
{
	MSNAP_MNT_SETUP(&self->m);
	msnap_mnt_path(&self->m, "a", self->a, sizeof(self->a));
	msnap_mnt_path(&self->m, "b", self->b, sizeof(self->b));
}

FIXTURE_TEARDOWN(fs)
{
	msnap_mnt_drop(&self->m);
}

TEST_F(fs, open_create_records_a_stable_address)
{
	struct msnap_region *r, *r2;
	uintptr_t addr;
	char *p;

	ASSERT_EQ(-ENOENT, msnap_open(self->a, PS, 0, &r));
	/* The size rounds up to whole pages. */
	ASSERT_EQ(0, msnap_open(self->a, 3 * PS + 1, MSNAP_OPEN_CREATE, &r));
	addr = (uintptr_t)msnap_addr(r);
	EXPECT_EQ(4 * PS, msnap_size(r));
	EXPECT_LE(ADDR_BASE, addr);
	EXPECT_GE(ADDR_END, addr + msnap_size(r));
	EXPECT_EQ(0, addr % (1ULL << 30));
	EXPECT_EQ(1, msnap_is_memsnap(msnap_fd(r)));
	p = msnap_addr(r);
	strcpy(p + PS, "hello");
	/* Mapped once: a second open of the same file finds it taken. */
	EXPECT_EQ(-EEXIST, msnap_open(self->a, 0, 0, &r2));
	EXPECT_EQ(-EEXIST, msnap_open(self->a, 0,
				      MSNAP_OPEN_CREATE | MSNAP_OPEN_EXCL, &r2));
	ASSERT_EQ(0, msnap_close(r));
	/* Size 0: the file's size; same address, same contents. */
	ASSERT_EQ(0, msnap_open(self->a, 0, 0, &r));
	EXPECT_EQ(addr, (uintptr_t)msnap_addr(r));
	EXPECT_EQ(4 * PS, msnap_size(r));
	EXPECT_STREQ("hello", (char *)msnap_addr(r) + PS);
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, open_grows_and_never_shrinks)
{
	struct msnap_region *r;
	struct stat st;

	ASSERT_EQ(0, msnap_open(self->a, 2 * PS, MSNAP_OPEN_CREATE, &r));
	ASSERT_EQ(0, msnap_close(r));
	ASSERT_EQ(0, msnap_open(self->a, 8 * PS, 0, &r));
	EXPECT_EQ(8 * PS, msnap_size(r));
	ASSERT_EQ(0, fstat(msnap_fd(r), &st));
	EXPECT_EQ(8 * PS, st.st_size);
	ASSERT_EQ(0, msnap_close(r));
	ASSERT_EQ(0, msnap_open(self->a, PS, 0, &r));
	EXPECT_EQ(8 * PS, msnap_size(r));
	ASSERT_EQ(0, msnap_close(r));
	/* An empty file and size 0: nothing to map. */
	ASSERT_EQ(0, close(open(self->b, O_CREAT | O_RDWR, 0600)));
	EXPECT_EQ(-EINVAL, msnap_open(self->b, 0, 0, &r));
	EXPECT_EQ(-EINVAL, msnap_open(self->b, SIZE_MAX, 0, &r));
}

TEST_F(fs, open_fails_when_the_address_is_taken)
{
	struct msnap_region *r;
	void *addr, *p;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &r));
	addr = msnap_addr(r);
	ASSERT_EQ(0, msnap_close(r));
	p = mmap(addr, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(addr, p);
	EXPECT_EQ(-EEXIST, msnap_open(self->a, 0, 0, &r));
	munmap(p, PS);
	ASSERT_EQ(0, msnap_open(self->a, 0, 0, &r));
	EXPECT_EQ(addr, msnap_addr(r));
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, regions_get_distinct_addresses_that_survive_remount)
{
	struct msnap_region *a, *b;
	uintptr_t aa, ba;

	ASSERT_EQ(0, msnap_open(self->a, PS, MSNAP_OPEN_CREATE, &a));
	ASSERT_EQ(0, msnap_open(self->b, PS, MSNAP_OPEN_CREATE, &b));
	aa = (uintptr_t)msnap_addr(a);
	ba = (uintptr_t)msnap_addr(b);
	EXPECT_NE(aa, ba);
	strcpy(msnap_addr(a), "A");
	ASSERT_EQ(1, msnap_persist(msnap_addr(a), PS, 0));
	ASSERT_EQ(0, msnap_close(a));
	ASSERT_EQ(0, msnap_close(b));
	/* The addresses are on disk: a remount (new inodes) keeps them. */
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	ASSERT_EQ(0, msnap_open(self->b, 0, 0, &b));
	ASSERT_EQ(0, msnap_open(self->a, 0, 0, &a));
	EXPECT_EQ(aa, (uintptr_t)msnap_addr(a));
	EXPECT_EQ(ba, (uintptr_t)msnap_addr(b));
	EXPECT_STREQ("A", (char *)msnap_addr(a));
	ASSERT_EQ(0, msnap_close(a));
	ASSERT_EQ(0, msnap_close(b));
}

TEST_F(fs, persist_writes_dirty_pages_once)
{
	struct msnap_region *r;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 8 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	p[0] = p[2 * PS] = p[5 * PS] = 1;
	/* A sub-range persists only its own pages. */
	EXPECT_EQ(1, msnap_persist(p + 4 * PS, 4 * PS, MSNAP_SYNC));
	EXPECT_EQ(2, msnap_persist(p, 8 * PS, 0));
	EXPECT_EQ(0, msnap_persist(p, 8 * PS, 0));
	/* A length that is not whole pages covers the last page. */
	p[7 * PS] = 1;
	EXPECT_EQ(1, msnap_persist(p + 6 * PS, PS + 1, 0));
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, persist_outside_or_after_close_fails)
{
	struct msnap_region *r;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	EXPECT_EQ(-ENOMEM, msnap_persist(p, 5 * PS, 0));
	EXPECT_EQ(-ENOMEM, msnap_persist(p - PS, 2 * PS, 0));
	EXPECT_EQ(-EINVAL, msnap_persist(p + 1, PS, 0));
	EXPECT_EQ(-ENOMEM, msnap_abort(p + 3 * PS, 2 * PS));
	ASSERT_EQ(0, msnap_close(r));
	/* A closed region is no longer known. */
	EXPECT_EQ(-ENOMEM, msnap_persist(p, PS, 0));
	EXPECT_EQ(-ENOMEM, msnap_abort(p, PS));
}

TEST_F(fs, async_persist_then_wait)
{
	struct msnap_region *r;
	uint64_t e1 = 0, e2 = 0;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	p[0] = 1;
	EXPECT_EQ(1, msnap_persist_epoch(p, 4 * PS, MSNAP_ASYNC, &e1));
	EXPECT_LT(0, e1);
	p[PS] = 1;
	EXPECT_EQ(1, msnap_persist_epoch(p, 4 * PS, MSNAP_ASYNC, &e2));
	EXPECT_LT(e1, e2);
	EXPECT_EQ(0, msnap_wait(r, e2));
	EXPECT_EQ(0, msnap_wait(r, e1));
	/* Plain msnap_persist() accepts ASYNC too, without the epoch. */
	p[2 * PS] = 1;
	EXPECT_EQ(1, msnap_persist(p, 4 * PS, MSNAP_ASYNC));
	ASSERT_EQ(0, msnap_close(r));
}

struct dirtier {
	char *page;
	pthread_barrier_t *go;
};

static void *dirty_one(void *arg)
{
	struct dirtier *d = arg;

	d->page[0] = 2;
	pthread_barrier_wait(d->go);	/* dirtied */
	pthread_barrier_wait(d->go);	/* main thread persisted its own */
	return (void *)(intptr_t)msnap_persist(d->page, PS, MSNAP_THREAD);
}

TEST_F(fs, thread_persist_takes_only_its_pages)
{
	struct msnap_region *r;
	pthread_barrier_t go;
	struct dirtier d;
	pthread_t t;
	void *ret;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	pthread_barrier_init(&go, NULL, 2);
	d.page = p + PS;
	d.go = &go;
	ASSERT_EQ(0, pthread_create(&t, NULL, dirty_one, &d));
	p[0] = 1;
	pthread_barrier_wait(&go);
	EXPECT_EQ(1, msnap_persist(p, 4 * PS, MSNAP_THREAD));
	pthread_barrier_wait(&go);
	pthread_join(t, &ret);
	EXPECT_EQ(1, (intptr_t)ret);
	EXPECT_EQ(0, msnap_persist(p, 4 * PS, 0));
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, persistv_commits_ranges_of_two_regions)
{
	struct msnap_region *a, *b;
	struct msnap_range rg[2];
	uint64_t epoch = 0;
	char *pa, *pb;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &a));
	ASSERT_EQ(0, msnap_open(self->b, 4 * PS, MSNAP_OPEN_CREATE, &b));
	pa = msnap_addr(a);
	pb = msnap_addr(b);
	pa[0] = pa[PS] = pb[3 * PS] = 1;
	rg[0] = (struct msnap_range) { (uintptr_t)pa, 4 * PS };
	rg[1] = (struct msnap_range) { (uintptr_t)pb, 4 * PS };
	EXPECT_EQ(3, msnap_persistv(rg, 2, 0, &epoch));
	EXPECT_LT(0, epoch);
	pb[0] = 1;
	EXPECT_EQ(1, msnap_persistv(rg, 2, MSNAP_ASYNC, &epoch));
	EXPECT_EQ(0, msnap_wait(b, epoch));
	/* One range out of its region fails the whole vector. */
	pa[0] = 2;
	rg[1].len = 5 * PS;
	EXPECT_EQ(-ENOMEM, msnap_persistv(rg, 2, 0, NULL));
	EXPECT_EQ(1, msnap_persist(pa, PS, 0));
	ASSERT_EQ(0, msnap_close(a));
	ASSERT_EQ(0, msnap_close(b));
}

/* A second memsnap filesystem on a loop device over a file in /tmp. */
static int loop_fs(struct msnap_mnt *m, char *loopdev, size_t len)
{
	FILE *f;

	if (system("truncate -s 64M /tmp/libapi-second.img"))
		return -1;
	f = popen("losetup -f --show /tmp/libapi-second.img 2>/dev/null", "r");
	if (!f)
		return -1;
	if (!fgets(loopdev, len, f)) {
		pclose(f);
		return -1;
	}
	pclose(f);
	loopdev[strcspn(loopdev, "\n")] = '\0';
	return msnap_mnt_make(m, loopdev);
}

TEST_F(fs, ranges_of_two_filesystems_are_exdev)
{
	struct msnap_mnt second = { 0 };
	struct msnap_region *a, *b;
	struct msnap_range rg[2];
	char loopdev[64], path[128], cmd[128];
	int ret;

	ret = loop_fs(&second, loopdev, sizeof(loopdev));
	if (ret) {
		msnap_mnt_drop(&second);
		SKIP(return, "no loop device for a second filesystem");
	}
	ASSERT_EQ(0, msnap_open(self->a, PS, MSNAP_OPEN_CREATE, &a));
	ASSERT_EQ(0, msnap_open(msnap_mnt_path(&second, "b", path,
						sizeof(path)),
				PS, MSNAP_OPEN_CREATE, &b));
	EXPECT_NE(msnap_addr(a), msnap_addr(b));
	rg[0] = (struct msnap_range) { (uintptr_t)msnap_addr(a), PS };
	rg[1] = (struct msnap_range) { (uintptr_t)msnap_addr(b), PS };
	EXPECT_EQ(-EXDEV, msnap_persistv(rg, 2, 0, NULL));
	*(char *)msnap_addr(b) = 1;
	EXPECT_EQ(1, msnap_persistv(&rg[1], 1, 0, NULL));
	ASSERT_EQ(0, msnap_close(a));
	ASSERT_EQ(0, msnap_close(b));
	msnap_mnt_drop(&second);
	snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
	EXPECT_EQ(0, system(cmd));
	unlink("/tmp/libapi-second.img");
}

TEST_F(fs, abort_restores_the_last_persist)
{
	struct msnap_region *r;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	strcpy(p, "persisted");
	strcpy(p + 2 * PS, "persisted too");
	ASSERT_EQ(2, msnap_persist(p, 4 * PS, 0));
	strcpy(p, "scribble");
	strcpy(p + 2 * PS, "scribble");
	EXPECT_EQ(1, msnap_abort(p, PS));
	EXPECT_STREQ("persisted", p);
	EXPECT_STREQ("scribble", p + 2 * PS);
	EXPECT_EQ(1, msnap_abort(p, 4 * PS));
	EXPECT_STREQ("persisted too", p + 2 * PS);
	EXPECT_EQ(0, msnap_persist(p, 4 * PS, 0));
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, resize_in_place)
{
	struct msnap_region *r;
	struct stat st;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 2 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	ASSERT_EQ(0, msnap_resize(r, 16 * PS));
	EXPECT_EQ(p, msnap_addr(r));
	EXPECT_EQ(16 * PS, msnap_size(r));
	p[15 * PS] = 1;
	EXPECT_EQ(1, msnap_persist(p + 15 * PS, PS, 0));
	ASSERT_EQ(0, msnap_resize(r, 3 * PS - 5));
	EXPECT_EQ(3 * PS, msnap_size(r));
	ASSERT_EQ(0, fstat(msnap_fd(r), &st));
	EXPECT_EQ(3 * PS, st.st_size);
	EXPECT_EQ(-ENOMEM, msnap_persist(p + 15 * PS, PS, 0));
	EXPECT_EQ(-EINVAL, msnap_resize(r, 0));
	EXPECT_EQ(-EINVAL, msnap_resize(r, SIZE_MAX));
	EXPECT_EQ(0, msnap_resize(r, 3 * PS));
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, resize_fails_when_it_cannot_stay_in_place)
{
	struct msnap_region *r;
	struct stat st;
	char *p, *q;

	ASSERT_EQ(0, msnap_open(self->a, 2 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	q = mmap(p + 4 * PS, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(p + 4 * PS, q);
	EXPECT_EQ(0, msnap_resize(r, 4 * PS));
	EXPECT_EQ(-ENOMEM, msnap_resize(r, 8 * PS));
	EXPECT_EQ(4 * PS, msnap_size(r));
	EXPECT_EQ(p, msnap_addr(r));
	ASSERT_EQ(0, fstat(msnap_fd(r), &st));
	EXPECT_EQ(4 * PS, st.st_size);
	munmap(q, PS);
	ASSERT_EQ(0, msnap_close(r));
}

/*
 * A KEEP_SIZE region maps more than its file and follows growth by
 * write(2), whose size is persisted with the data; msnap_remap() changes
 * the mapping, never the file.
 */
TEST_F(fs, keep_size_maps_past_the_end_and_follows_writes)
{
	struct msnap_region *r;
	struct stat st;
	char buf[16] = "grown by write";
	char *p;

	ASSERT_EQ(-EINVAL, msnap_open(self->a, 0,
				      MSNAP_OPEN_CREATE | MSNAP_OPEN_KEEP_SIZE,
				      &r));
	ASSERT_EQ(0, msnap_open(self->a, 8 * PS,
				MSNAP_OPEN_CREATE | MSNAP_OPEN_KEEP_SIZE, &r));
	EXPECT_EQ(8 * PS, msnap_size(r));
	ASSERT_EQ(0, fstat(msnap_fd(r), &st));
	EXPECT_EQ(0, st.st_size);
	p = msnap_addr(r);
	ASSERT_EQ(sizeof(buf), pwrite(msnap_fd(r), buf, sizeof(buf), 2 * PS));
	EXPECT_STREQ("grown by write", p + 2 * PS);
	EXPECT_EQ(1, msnap_persist(p, 8 * PS, 0));
	ASSERT_EQ(0, msnap_remap(r, 16 * PS));
	EXPECT_EQ(p, msnap_addr(r));
	EXPECT_EQ(16 * PS, msnap_size(r));
	ASSERT_EQ(0, msnap_remap(r, 4 * PS));
	ASSERT_EQ(0, fstat(msnap_fd(r), &st));
	EXPECT_EQ(2 * PS + sizeof(buf), st.st_size);
	EXPECT_EQ(-EINVAL, msnap_remap(r, 0));
	ASSERT_EQ(0, msnap_close(r));
	ASSERT_EQ(0, msnap_mnt_remount(&self->m));
	ASSERT_EQ(0, stat(self->a, &st));
	EXPECT_EQ(2 * PS + sizeof(buf), st.st_size);
	ASSERT_EQ(0, msnap_open(self->a, 0, 0, &r));
	EXPECT_STREQ("grown by write", (char *)msnap_addr(r) + 2 * PS);
	ASSERT_EQ(0, msnap_close(r));
}

TEST_F(fs, io_uring_persist)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct msnap_region *r;
	struct io_uring ring;
	char *p;

	ASSERT_EQ(0, msnap_open(self->a, 4 * PS, MSNAP_OPEN_CREATE, &r));
	p = msnap_addr(r);
	if (io_uring_queue_init(4, &ring, 0))
		SKIP(goto out, "io_uring not available");
	p[0] = p[3 * PS] = 1;
	sqe = io_uring_get_sqe(&ring);
	msnap_prep_persist(sqe, r, p, 4 * PS, 0);
	sqe->user_data = 42;
	/* An unaligned address completes with -EINVAL. */
	sqe = io_uring_get_sqe(&ring);
	msnap_prep_persist(sqe, r, p + 1, PS, 0);
	sqe->user_data = 43;
	ASSERT_EQ(2, io_uring_submit_and_wait(&ring, 2));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		if (cqe->user_data == 42) {
			EXPECT_EQ(2, msnap_cqe_result(cqe));
		} else {
			EXPECT_EQ(-EINVAL, msnap_cqe_result(cqe));
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	EXPECT_EQ(0, msnap_persist(p, 4 * PS, 0));
	io_uring_queue_exit(&ring);
out:
	ASSERT_EQ(0, msnap_close(r));
}

struct churn {
	const char *dir;
	int id;
	int errors;
};

/* Open, write, persist, close its own regions in a loop. */
static void *churn_regions(void *arg)
{
	struct churn *c = arg;
	struct msnap_region *r;
	char path[128];
	int i, ret;

	snprintf(path, sizeof(path), "%s/t%d", c->dir, c->id);
	for (i = 0; i < 20; i++) {
		ret = msnap_open(path, 2 * PS, MSNAP_OPEN_CREATE, &r);
		if (ret) {
			c->errors++;
			continue;
		}
		((char *)msnap_addr(r))[PS] = i;
		if (msnap_persist(msnap_addr(r), 2 * PS, 0) != 1)
			c->errors++;
		if (msnap_close(r))
			c->errors++;
	}
	return NULL;
}

TEST_F(fs, threads_open_persist_and_close_concurrently)
{
	struct churn c[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		c[i] = (struct churn) { .dir = self->m.dir, .id = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, churn_regions, &c[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, c[i].errors);
	}
}

TEST_HARNESS_MAIN
