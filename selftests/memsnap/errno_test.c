// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl ABI's versioning and errno contract (docs/abi.md): command
 * numbers frozen with the first versions' sizes, a structure of the
 * first version's size (an old library) and a larger one (a newer
 * library: zero tail accepted, non-zero tail E2BIG), a smaller one
 * (EINVAL), and one test per documented error that the other programs
 * do not already check: zero length, read-only mount, read-only fd,
 * the epoch of an empty persist, another filesystem's file.
 */
#include "kselftest_harness.h"
#include "msnap_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>
#include <linux/memsnap.h>

#define PG	4096UL
#define MNT	"/tmp/msnap-errno"
#define NPG	8

/* errno of ioctl(fd, cmd, arg), 0 on success. */
static int ioc_errno(int fd, unsigned long cmd, void *arg)
{
	errno = 0;
	return ioctl(fd, cmd, arg) ? errno : 0;
}

TEST(command_numbers_are_frozen)
{
	/* _IOC(dir, 0xE4, nr, first version's size): never sizeof today's. */
	ASSERT_EQ(0xc040e401UL, (unsigned long)MSNAP_IOC_PERSIST);
	ASSERT_EQ(0xc040e402UL, (unsigned long)MSNAP_IOC_PERSISTV);
	ASSERT_EQ(0x4008e403UL, (unsigned long)MSNAP_IOC_WAIT);
	ASSERT_EQ(0xc040e404UL, (unsigned long)MSNAP_IOC_ABORT);
	ASSERT_EQ(0x4020e405UL, (unsigned long)MSNAP_IOC_SET_ADDR);
	ASSERT_EQ(0xc020e406UL, (unsigned long)MSNAP_IOC_GET_ADDR);
	ASSERT_EQ(MSNAP_PERSIST_SIZE_VER0, _IOC_SIZE(MSNAP_IOC_PERSIST));
	ASSERT_EQ(MSNAP_PERSISTV_SIZE_VER0, _IOC_SIZE(MSNAP_IOC_PERSISTV));
	ASSERT_EQ(MSNAP_ABORT_SIZE_VER0, _IOC_SIZE(MSNAP_IOC_ABORT));
	ASSERT_EQ(MSNAP_ADDR_SIZE_VER0, _IOC_SIZE(MSNAP_IOC_SET_ADDR));
}

FIXTURE(fs) {
	int fd;
	char *p;
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
	self->p = msnap_map_file(MNT, "region", NPG * PG, &self->fd);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(fs)
{
	if (self->p != MAP_FAILED)
		munmap(self->p, NPG * PG);
	if (self->fd >= 0)
		close(self->fd);
	if (!msnap_fs_unavailable()) {
		umount2(MNT, 0);
		EXPECT_EQ(0, msnap_fsck(MSNAP_TEST_DEV));
	}
}

/*
 * Each extensible structure in a buffer of @size bytes: the first
 * version's fields, then @tail at byte VER0 + 3 if the buffer has room.
 */
union args_buf {
	struct msnap_persist_args persist;
	struct msnap_persistv_args persistv;
	struct msnap_abort_args abort;
	struct msnap_addr_args addr;
	char bytes[2 * PG];
};

static int try_size(FIXTURE_DATA(fs) *self, int which, size_t size,
		    char tail, union args_buf *b, struct msnap_range *rg)
{
	static const unsigned long cmds[] = {
		MSNAP_IOC_PERSIST, MSNAP_IOC_PERSISTV, MSNAP_IOC_ABORT,
		MSNAP_IOC_GET_ADDR, MSNAP_IOC_SET_ADDR,
	};
	size_t ver0 = _IOC_SIZE(cmds[which]);

	memset(b, 0, sizeof(*b));
	*rg = (struct msnap_range){ (uintptr_t)self->p, PG };
	switch (which) {
	case 0:
		b->persist.addr = (uintptr_t)self->p;
		b->persist.len = PG;
		break;
	case 1:
		b->persistv.ranges = (uintptr_t)rg;
		b->persistv.nr_ranges = 1;
		break;
	case 2:
		b->abort.addr = (uintptr_t)self->p;
		b->abort.len = PG;
		break;
	default:
		b->addr.addr = 0x200000000000ULL;
	}
	b->persist.size = size;	/* "size" is the first field of each */
	if (size > ver0 + 3 && size <= sizeof(b->bytes))
		b->bytes[ver0 + 3] = tail;
	return ioc_errno(self->fd, cmds[which], b);
}

TEST_F(fs, every_structure_versioned_by_size)
{
	static const char *names[] = {
		"PERSIST", "PERSISTV", "ABORT", "GET_ADDR", "SET_ADDR",
	};
	struct msnap_range rg;
	union args_buf b;
	size_t ver0;
	int i;

	for (i = 0; i < 5; i++) {
		ver0 = i < 3 ? 64 : 32;
		TH_LOG("%s", names[i]);
		self->p[0] = i;
		/* An old library on a newer module: the first version. */
		EXPECT_EQ(0, try_size(self, i, ver0, 0, &b, &rg));
		/* A newer library on an older module: zero tail accepted. */
		self->p[0] = i + 10;
		EXPECT_EQ(0, try_size(self, i, ver0 + 16, 0, &b, &rg));
		if (i == 0)
			EXPECT_EQ(1, b.persist.pages);
		/* ... a field the module does not know, set: E2BIG. */
		EXPECT_EQ(E2BIG, try_size(self, i, ver0 + 16, 1, &b, &rg));
		EXPECT_EQ(E2BIG, try_size(self, i, PG + 8, 0, &b, &rg));
		/* Smaller than the first version: EINVAL. */
		EXPECT_EQ(EINVAL, try_size(self, i, ver0 - 8, 0, &b, &rg));
		EXPECT_EQ(EINVAL, try_size(self, i, 0, 0, &b, &rg));
	}
	/* SET_ADDR took the larger structure; GET_ADDR's output in it. */
	EXPECT_EQ(0, try_size(self, 3, 48, 0, &b, &rg));
	EXPECT_EQ(0x200000000000ULL, b.addr.addr);
}

/* msnap_persist(3): len 0 is EINVAL, as for the io_uring command. */
TEST_F(fs, zero_length_is_einval)
{
	struct msnap_persist_args pa = {
		.size = sizeof(pa), .addr = (uintptr_t)self->p, .len = 0,
	};
	struct msnap_abort_args aa = {
		.size = sizeof(aa), .addr = (uintptr_t)self->p, .len = 0,
	};
	struct msnap_range rg = { (uintptr_t)self->p, 0 };
	struct msnap_persistv_args va = {
		.size = sizeof(va), .ranges = (uintptr_t)&rg, .nr_ranges = 1,
	};

	self->p[0] = 1;
	EXPECT_EQ(EINVAL, ioc_errno(self->fd, MSNAP_IOC_PERSIST, &pa));
	EXPECT_EQ(EINVAL, ioc_errno(self->fd, MSNAP_IOC_PERSISTV, &va));
	EXPECT_EQ(EINVAL, ioc_errno(self->fd, MSNAP_IOC_ABORT, &aa));
}

/* abi.md: with nothing dirty, epoch is the last epoch issued. */
TEST_F(fs, empty_persist_returns_the_last_epoch)
{
	struct msnap_persist_args pa = {
		.size = sizeof(pa), .addr = (uintptr_t)self->p, .len = PG,
	};
	__u64 e1;

	self->p[0] = 1;
	ASSERT_EQ(0, ioc_errno(self->fd, MSNAP_IOC_PERSIST, &pa));
	ASSERT_EQ(1, pa.pages);
	e1 = pa.epoch;
	ASSERT_LT(0, e1);
	pa.epoch = 0;
	ASSERT_EQ(0, ioc_errno(self->fd, MSNAP_IOC_PERSIST, &pa));
	EXPECT_EQ(0, pa.pages);
	EXPECT_EQ(e1, pa.epoch);
}

/*
 * Open the region read-only and map one page of it shared; persist, abort
 * and SET_ADDR through it must all fail with @err.  Returns the fd.
 */
static int ro_shared_refused(struct __test_metadata *_metadata, int err)
{
	struct msnap_persist_args pa = { .size = sizeof(pa), .len = PG };
	struct msnap_abort_args aa = { .size = sizeof(aa), .len = PG };
	struct msnap_addr_args ad = { .size = sizeof(ad), .addr = 1ULL << 44 };
	char *q;
	int fd;

	fd = open(MNT "/region", O_RDONLY);
	EXPECT_LE(0, fd);
	if (fd < 0)
		return fd;
	q = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_NE(MAP_FAILED, q);
	if (q == MAP_FAILED)
		return fd;
	pa.addr = aa.addr = (uintptr_t)q;
	EXPECT_EQ(err, ioc_errno(fd, MSNAP_IOC_PERSIST, &pa));
	EXPECT_EQ(err, ioc_errno(fd, MSNAP_IOC_ABORT, &aa));
	EXPECT_EQ(err, ioc_errno(fd, MSNAP_IOC_SET_ADDR, &ad));
	munmap(q, PG);
	return fd;
}

/*
 * A shared mapping of a file opened read-only (someone else's): the
 * kernel maps it without VM_SHARED; persist and abort answer EBADF, the
 * fd not being open for writing, as SET_ADDR does.
 */
TEST_F(fs, read_only_fd_is_ebadf)
{
	struct msnap_persist_args pa = { .size = sizeof(pa), .len = PG };
	char *q;
	int fd;

	fd = ro_shared_refused(_metadata, EBADF);
	ASSERT_LE(0, fd);
	/* A MAP_PRIVATE mapping stays EINVAL. */
	q = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	pa.addr = (uintptr_t)q;
	EXPECT_EQ(EINVAL, ioc_errno(fd, MSNAP_IOC_PERSIST, &pa));
	munmap(q, PG);
	close(fd);
}

/* A read-only mount: persist, abort and SET_ADDR answer EROFS. */
TEST_F(fs, read_only_mount_is_erofs)
{
	int fd;

	munmap(self->p, NPG * PG);
	close(self->fd);
	self->p = MAP_FAILED;
	self->fd = -1;
	ASSERT_EQ(0, mount(NULL, MNT, NULL, MS_REMOUNT | MS_RDONLY, NULL));
	fd = ro_shared_refused(_metadata, EROFS);
	ASSERT_LE(0, fd);
	close(fd);
}

/*
 * A range that maps a file of another memsnap filesystem (a second one on
 * a loop device): EXDEV, through the ioctl of the first filesystem's file
 * and in a PERSISTV that spans both.
 */
TEST_F(fs, other_filesystem_is_exdev)
{
	const char *img = "/tmp/msnap-errno2.img", *mnt2 = "/tmp/msnap-errno2";
	struct msnap_persist_args a = { .size = sizeof(a), .len = PG };
	struct msnap_persistv_args v = { .size = sizeof(v), .nr_ranges = 2 };
	struct msnap_range r[2];
	char dev[64] = "";
	FILE *f;
	char *q;
	int fd2;

	if (msnap_sh("truncate -s 64M %s && losetup -f --show %s > %s.dev",
		     img, img, img))
		SKIP(return, "no loop device");
	f = fopen("/tmp/msnap-errno2.img.dev", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(dev, sizeof(dev), f));
	fclose(f);
	dev[strcspn(dev, "\n")] = '\0';
	ASSERT_EQ(0, msnap_mkfs(dev));
	mkdir(mnt2, 0755);
	ASSERT_EQ(0, msnap_mount(dev, mnt2));
	q = msnap_map_file(mnt2, "other", PG, &fd2);
	ASSERT_NE(MAP_FAILED, q);
	q[0] = 1;
	self->p[0] = 1;
	a.addr = (unsigned long)q;
	EXPECT_EQ(EXDEV, ioc_errno(self->fd, MSNAP_IOC_PERSIST, &a));
	r[0] = (struct msnap_range){ (unsigned long)self->p, PG };
	r[1] = (struct msnap_range){ (unsigned long)q, PG };
	v.ranges = (unsigned long)r;
	EXPECT_EQ(EXDEV, ioc_errno(self->fd, MSNAP_IOC_PERSISTV, &v));
	/* Each on its own filesystem is fine. */
	EXPECT_EQ(0, ioc_errno(fd2, MSNAP_IOC_PERSIST, &a));
	munmap(q, PG);
	close(fd2);
	EXPECT_EQ(0, umount2(mnt2, 0));
	EXPECT_EQ(0, msnap_fsck(dev));
	msnap_sh("losetup -d %s; rm -f %s %s.dev", dev, img, img);
}

TEST_HARNESS_MAIN
