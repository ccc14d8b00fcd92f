// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzing the persist ABI: random and adversarial arguments to every
 * ioctl and to the io_uring command (addresses, lengths, flags, structure
 * sizes, reserved fields, command encodings, fds of other types), and
 * persists racing munmap, mremap, truncate and unlink of their regions in
 * other threads.  Every call must fail with a documented errno or
 * succeed; afterwards the filesystem unmounts and fsck.memsnap -n is
 * clean (the fixture's teardown).
 *
 * FUZZ_SECONDS (default 40) is the time for all tests together; the seed
 * is printed, FUZZ_SEED replays it (the racing test is only as
 * reproducible as the scheduler).
 */
#include "kselftest_harness.h"
#include "msnap_fs.h"

#include <liburing.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define PG	4096UL
#define MNT	"/tmp/msnap-fuzz"
#define NPG	64	/* pages of each region file */
#define WIN	256	/* pages of the racing test's address window */

static uint64_t fuzz_seed;

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t pick(uint64_t *s, const uint64_t *v, size_t n)
{
	return v[rnd(s) % n];
}
#define PICK(s, ...) ({ const uint64_t _v[] = { __VA_ARGS__ };	\
	pick(s, _v, sizeof(_v) / sizeof(_v[0])); })

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This test's share (percent) of FUZZ_SECONDS. */
static double budget(int percent)
{
	const char *e = getenv("FUZZ_SECONDS");
	double total = e ? atof(e) : 40;

	return total * percent / 100;
}

/* Before the harness forks a child per test: one seed for all. */
__attribute__((constructor)) static void init_seed(void)
{
	const char *e = getenv("FUZZ_SEED");

	if (fuzz_seed)
		return;
	fuzz_seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) * 2654435761ULL;
	if (!fuzz_seed)
		fuzz_seed = 1;
	ksft_print_msg("fuzz seed %llu (FUZZ_SEED=%llu replays)\n",
		       (unsigned long long)fuzz_seed, (unsigned long long)fuzz_seed);
}

/* Errors the ABI documents (docs/abi.md), plus EBADF for bad fds. */
static int errno_ok(int e)
{
	switch (e) {
	case EINVAL: case E2BIG: case ENOMEM: case EXDEV: case EFAULT:
	case ENOSPC: case ENOTTY: case EINTR: case EBADF: case EOPNOTSUPP:
	case EPERM: case EACCES:
		return 1;
	}
	return 0;
}

FIXTURE(fz) {
	int dfd, fd[2], pfd[2], sock[2], tmpfd, nullfd;
	char *reg[2], *priv, *anon, *tmpmap;
	uint64_t seed;
};

FIXTURE_SETUP(fz)
{
	const char *why = msnap_fs_unavailable();
	char name[32];
	int i;

	self->dfd = -1;
	self->reg[0] = self->reg[1] = MAP_FAILED;
	if (why)
		SKIP(return, "%s", why);
	self->seed = fuzz_seed;
	mkdir(MNT, 0755);
	umount2(MNT, MNT_DETACH);	/* left by a test that died */
	ASSERT_EQ(0, msnap_mkfs(MSNAP_TEST_DEV));
	ASSERT_EQ(0, msnap_mount(MSNAP_TEST_DEV, MNT));
	self->dfd = open(MNT, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, self->dfd);
	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		self->reg[i] = msnap_map_file(MNT, name, NPG * PG, &self->fd[i]);
		ASSERT_NE(MAP_FAILED, self->reg[i]);
	}
	self->priv = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			  self->fd[0], 0);
	ASSERT_NE(MAP_FAILED, self->priv);
	self->anon = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->anon);
	self->tmpfd = open("/tmp/msnap-fuzz-tmpfs", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->tmpfd);
	ASSERT_EQ(0, ftruncate(self->tmpfd, NPG * PG));
	self->tmpmap = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			    self->tmpfd, 0);
	ASSERT_NE(MAP_FAILED, self->tmpmap);
	ASSERT_EQ(0, pipe(self->pfd));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, self->sock));
	self->nullfd = open("/dev/null", O_RDWR);
	ASSERT_LE(0, self->nullfd);
}

FIXTURE_TEARDOWN(fz)
{
	struct stat st;
	int i;

	if (self->dfd < 0)
		return;
	munmap(self->priv, NPG * PG);
	munmap(self->anon, NPG * PG);
	munmap(self->tmpmap, NPG * PG);
	for (i = 0; i < 2; i++) {
		if (self->reg[i] != MAP_FAILED)
			munmap(self->reg[i], NPG * PG);
		close(self->fd[i]);
	}
	close(self->pfd[0]), close(self->pfd[1]);
	close(self->sock[0]), close(self->sock[1]);
	close(self->tmpfd), close(self->nullfd), close(self->dfd);
	unlink("/tmp/msnap-fuzz-tmpfs");
	/*
	 * Still usable: a remount shows files that stat and read.  An
	 * io_uring instance drops its file references asynchronously after
	 * io_uring_queue_exit(): EBUSY for a moment is expected.
	 */
	for (i = 0; i < 100 && umount2(MNT, 0) && errno == EBUSY; i++)
		usleep(100000);
	EXPECT_EQ(0, msnap_mount(MSNAP_TEST_DEV, MNT));
	EXPECT_EQ(0, stat(MNT "/r0", &st));
	EXPECT_EQ(0, msnap_sh("cat %s/* > /dev/null", MNT));
	EXPECT_EQ(0, umount2(MNT, 0));
	EXPECT_EQ(0, msnap_fsck(MSNAP_TEST_DEV));
}

/* A random, often adversarial, user address. */
static uint64_t fuzz_addr(uint64_t *s, FIXTURE_DATA(fz) *self)
{
	char *r = self->reg[rnd(s) & 1];

	switch (rnd(s) % 14) {
	case 0: return 0;
	case 1: return (uint64_t)(uintptr_t)r + (rnd(s) % NPG) * PG;
	case 2: return (uint64_t)(uintptr_t)r + rnd(s) % (NPG * PG);	/* unaligned */
	case 3: return (uint64_t)(uintptr_t)self->priv + (rnd(s) % NPG) * PG;
	case 4: return (uint64_t)(uintptr_t)self->anon;
	case 5: return (uint64_t)(uintptr_t)self->tmpmap;
	case 6: return 0xffff888000000000ULL;			/* kernel */
	case 7: return -PG;
	case 8: return 0x7ffffffff000ULL;			/* top of user space */
	case 9: return 0x800000000000ULL;			/* just past it */
	case 10: return (uint64_t)(uintptr_t)r - PG;		/* before the region */
	case 11: return rnd(s) & ~(PG - 1);
	case 12: return rnd(s);
	default: return (uint64_t)(uintptr_t)r;
	}
}

static uint64_t fuzz_len(uint64_t *s)
{
	switch (rnd(s) % 8) {
	case 0: return PICK(s, 0, 1, PG - 1, PG, PG + 1);
	case 1: return PICK(s, NPG * PG, NPG * PG + PG, 2 * NPG * PG);
	case 2: return PICK(s, -1ULL, -PG, 1ULL << 63, 1ULL << 47);
	case 3: return rnd(s);
	default: return (1 + rnd(s) % NPG) * PG;
	}
}

static uint64_t fuzz_flags(uint64_t *s)
{
	switch (rnd(s) % 6) {
	case 0: return rnd(s);
	case 1: return 1ULL << (rnd(s) % 64);
	default: return rnd(s) & MSNAP_PERSIST_FLAGS;
	}
}

static uint64_t fuzz_size(uint64_t *s)
{
	return PICK(s, 0, 8, 32, 56, 63, 64, 64, 64, 64, 65, 72, 128, 4096,
		    4097, 1ULL << 32, rnd(s));
}

static int fuzz_fd(uint64_t *s, FIXTURE_DATA(fz) *self)
{
	switch (rnd(s) % 12) {
	case 0: return self->pfd[rnd(s) & 1];
	case 1: return self->sock[0];
	case 2: return self->tmpfd;
	case 3: return self->nullfd;
	case 4: return PICK(s, -1, 1023, 100000);
	case 5: case 6: return self->dfd;
	default: return self->fd[rnd(s) & 1];
	}
}

static void dirty_some(uint64_t *s, FIXTURE_DATA(fz) *self)
{
	int i, n = rnd(s) % 8;

	for (i = 0; i < n; i++)
		self->reg[rnd(s) & 1][(rnd(s) % NPG) * PG + rnd(s) % PG] = rnd(s);
}

/*
 * One ioctl with random arguments.  The argument block sits so that it
 * may run into an unmapped page (a short user copy), or is a bad pointer.
 */
static int fuzz_ioctl(uint64_t *s, FIXTURE_DATA(fz) *self, char *arena,
		      struct msnap_range *ranges, uint64_t *last_epoch,
		      int *strict)
{
	static const unsigned long cmds[] = {
		MSNAP_IOC_PERSIST, MSNAP_IOC_PERSISTV, MSNAP_IOC_WAIT,
		MSNAP_IOC_ABORT, MSNAP_IOC_SET_ADDR, MSNAP_IOC_GET_ADDR,
	};
	uint64_t a[9] = { 0 }, nr, i, room;
	unsigned long cmd;
	void *arg, *at;
	int fd = fuzz_fd(s, self), ret, k = rnd(s) % 16;

	/* The 2 pages before arena + 2 * PG are readable, the next is not. */
	room = PICK(s, 72, 72, 72, 128, 512, 4096, 8, 32, 56, 64);
	at = arena + 2 * PG - room;
	if (k < 12) {
		cmd = cmds[k % 6];
	} else if (k < 14) {
		/* Our magic with another number, size or direction. */
		cmd = _IOC(rnd(s) & 3, MSNAP_IOC_MAGIC, rnd(s) % 10, rnd(s) % 256);
	} else {
		/* Anything, on our files only; never FIFREEZE and friends. */
		do
			cmd = rnd(s) & 0xffffffff;
		while (_IOC_TYPE(cmd) == 'X');
		fd = rnd(s) & 1 ? self->dfd : self->fd[rnd(s) & 1];
	}
	*strict = k < 14;
	switch (_IOC_NR(cmd)) {
	case 1:	/* persist */
	case 4:	/* abort */
		a[0] = fuzz_size(s);
		a[1] = fuzz_addr(s, self);
		a[2] = fuzz_len(s);
		a[3] = fuzz_flags(s);
		break;
	case 2:	/* persistv */
		nr = PICK(s, 0, 1, 2, 3, 16, MSNAP_MAX_RANGES,
			  MSNAP_MAX_RANGES + 1, rnd(s));
		for (i = 0; i < 16; i++) {
			ranges[i].addr = fuzz_addr(s, self);
			ranges[i].len = fuzz_len(s);
		}
		a[0] = fuzz_size(s);
		a[1] = PICK(s, (uint64_t)(uintptr_t)ranges, (uint64_t)(uintptr_t)ranges,
			    0, 0xffff888000000000ULL, (uint64_t)(uintptr_t)(arena + 2 * PG) - 16,
			    rnd(s));
		a[2] = nr;
		a[3] = fuzz_flags(s);
		break;
	case 3:	/* wait */
		a[0] = PICK(s, 0, *last_epoch, *last_epoch + 1, *last_epoch + 1000,
			    -1ULL, rnd(s));
		if (a[0] > *last_epoch && !(rnd(s) % 4))
			a[0] = *last_epoch;
		break;
	default:	/* set/get addr and the rest */
		a[0] = fuzz_size(s);
		a[1] = PICK(s, 0, 0x7e0000000000ULL, 0x7e0000000001ULL,
			    -PG, rnd(s));
		break;
	}
	/* Reserved fields and bytes past the first version. */
	if (!(rnd(s) % 6))
		a[6 + rnd(s) % 2] = rnd(s) % 3 ? 1 : rnd(s);
	if (a[0] > 64 && !(rnd(s) % 3))
		a[8] = 1;
	memcpy(at, a, room < sizeof(a) ? room : sizeof(a));
	arg = at;
	switch (rnd(s) % 16) {
	case 0: arg = NULL; break;
	case 1: arg = (void *)0xffff888000000000ULL; break;
	case 2: arg = arena + 2 * PG; break;		/* PROT_NONE */
	case 3: arg = (void *)(uintptr_t)rnd(s); break;
	}
	dirty_some(s, self);
	ret = ioctl(fd, cmd, arg);
	if (ret == 0 && arg == at && room >= 40 && (_IOC_NR(cmd) == 1 || _IOC_NR(cmd) == 2) &&
	    _IOC_TYPE(cmd) == MSNAP_IOC_MAGIC &&
	    ((uint64_t *)at)[4] < *last_epoch + 1000000 &&
	    ((uint64_t *)at)[4] > *last_epoch)
		*last_epoch = ((uint64_t *)at)[4];
	return ret ? errno : 0;
}

TEST_F_TIMEOUT(fz, random_ioctls, 600)
{
	uint64_t s = self->seed ^ 0x1111, last_epoch = 0, calls = 0, ok = 0;
	struct msnap_range *ranges;
	double end = now() + budget(30);
	int e, bad = 0, strict;
	char *arena;

	arena = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, arena);
	ASSERT_EQ(0, mprotect(arena + 2 * PG, PG, PROT_NONE));
	ranges = (struct msnap_range *)arena;
	while (now() < end || calls < 200) {
		e = fuzz_ioctl(&s, self, arena, ranges, &last_epoch, &strict);
		calls++;
		ok += !e;
		if (e && (e == EIO || (strict && !errno_ok(e))) && bad++ < 10)
			TH_LOG("call %llu: unexpected errno %d (%s)",
			       (unsigned long long)calls, e, strerror(e));
	}
	EXPECT_EQ(0, bad);
	TH_LOG("%llu ioctls, %llu succeeded", (unsigned long long)calls,
	       (unsigned long long)ok);
	munmap(arena, 3 * PG);
}

TEST_F_TIMEOUT(fz, random_uring_commands, 600)
{
	uint64_t s = self->seed ^ 0x2222, sent = 0, ok = 0;
	struct msnap_uring_persist cmd;
	double end = now() + budget(20);
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring rings[2], *ring;
	struct __kernel_timespec ts = { .tv_sec = 60 };
	int i, n, ret, bad = 0, inflight;

	/*
	 * SUBMIT_ALL: a failing SQE must not hold back the ones after it.
	 * The command's payload is 16 bytes of the SQE's cmd area, all of it
	 * used with 64-byte SQEs; with 128-byte SQEs the other 64 are spare
	 * and must be ignored, so they get random bytes.
	 */
	ret = io_uring_queue_init(64, &rings[0], IORING_SETUP_SUBMIT_ALL);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, io_uring_queue_init(64, &rings[1], IORING_SETUP_SUBMIT_ALL |
					 IORING_SETUP_SQE128));
	while (now() < end || sent < 100) {
		ring = &rings[rnd(&s) % 2];
		n = 1 + rnd(&s) % 32;
		for (i = 0, inflight = 0; i < n; i++, inflight++) {
			sqe = io_uring_get_sqe(ring);
			if (!sqe)
				break;
			io_uring_prep_rw(IORING_OP_URING_CMD, sqe,
					 fuzz_fd(&s, self), NULL, 0, 0);
			sqe->cmd_op = rnd(&s) % 8 ? MSNAP_URING_CMD_PERSIST
						  : (uint32_t)rnd(&s);
			cmd.addr = fuzz_addr(&s, self);
			cmd.pages = PICK(&s, 0, 1, 2, NPG, NPG + 1, 0xffffffff,
					 rnd(&s) % 100, rnd(&s));
			cmd.flags = rnd(&s) % 4 ? rnd(&s) & MSNAP_THREAD : rnd(&s);
			memcpy(sqe->cmd, &cmd, sizeof(cmd));
			if (ring == &rings[1] && !(rnd(&s) % 8))
				sqe->cmd[sizeof(cmd) + rnd(&s) % (80 - sizeof(cmd))] = rnd(&s);
			if (!(rnd(&s) % 8))
				sqe->flags |= IOSQE_ASYNC;
			if (!(rnd(&s) % 16))
				sqe->flags |= IOSQE_FIXED_FILE;	/* none registered */
			if (!(rnd(&s) % 16))
				sqe->len = rnd(&s);
			sqe->user_data = sent++;
		}
		dirty_some(&s, self);
		/* The kernel may consume a batch in several calls. */
		for (i = 0, ret = 0; i < 100 && ret < inflight; i++) {
			int r = io_uring_submit(ring);

			if (r < 0 && r != -EAGAIN && r != -EBUSY)
				break;
			ret += r > 0 ? r : 0;
		}
		EXPECT_EQ(inflight, ret);
		inflight = ret;
		for (i = 0; i < inflight; i++) {
			ASSERT_EQ(0, io_uring_wait_cqe_timeout(ring, &cqe, &ts));
			if (cqe->res >= 0)
				ok++;
			else if (!errno_ok(-cqe->res) && bad++ < 10)
				TH_LOG("sqe %llu: unexpected res %d",
				       (unsigned long long)cqe->user_data, cqe->res);
			io_uring_cqe_seen(ring, cqe);
		}
	}
	io_uring_queue_exit(&rings[0]);
	io_uring_queue_exit(&rings[1]);
	EXPECT_EQ(0, bad);
	TH_LOG("%llu commands, %llu succeeded", (unsigned long long)sent,
	       (unsigned long long)ok);
}

/* ---- persists racing munmap, mremap, truncate and unlink ------------- */

struct race {
	FIXTURE_DATA(fz) *self;
	char *win;			/* WIN pages of address space */
	atomic_int stop;
	atomic_ulong persists, faults, mutations, bad;
	uint64_t seed;
};

static __thread sigjmp_buf *volatile fault_jmp;
static __thread const char *role = "main";

static void on_fault(int sig)
{
	char msg[96];

	if (fault_jmp)
		siglongjmp(*fault_jmp, 1);
	snprintf(msg, sizeof(msg), "# race: signal %d in the %s thread\n", sig, role);
	write(2, msg, strlen(msg));
	signal(sig, SIG_DFL);
	raise(sig);
}

static void *race_writer(void *arg)
{
	struct race *r = arg;
	uint64_t s = r->seed ^ (uintptr_t)pthread_self();
	sigjmp_buf jb;

	role = "writer";
	while (!r->stop) {
		if (sigsetjmp(jb, 1)) {
			r->faults++;
			continue;
		}
		{
			size_t off = (rnd(&s) % WIN) * PG + rnd(&s) % PG;
			char v = rnd(&s);

			fault_jmp = &jb;
			asm volatile("" ::: "memory");
			((volatile char *)r->win)[off] = v;
			asm volatile("" ::: "memory");
			fault_jmp = NULL;
		}
	}
	return NULL;
}

static void *race_persister(void *arg)
{
	struct race *r = arg;
	FIXTURE_DATA(fz) *self = r->self;
	uint64_t s = r->seed ^ (uintptr_t)pthread_self() ^ 0x77;
	struct msnap_range rg[4];
	struct io_uring ring;
	int have_ring = !io_uring_queue_init(8, &ring, 0), i, e;

	role = "persister";

	while (!r->stop) {
		uint64_t addr = (uint64_t)(uintptr_t)r->win + (rnd(&s) % WIN) * PG;
		uint64_t len = (1 + rnd(&s) % 64) * PG;
		int fd = rnd(&s) % 2 ? self->dfd : self->fd[rnd(&s) & 1];
		int k = rnd(&s) % 6;

		errno = 0;
		if (k == 0) {
			struct msnap_persistv_args v = { .size = sizeof(v),
				.ranges = (uintptr_t)rg, .nr_ranges = 4,
				.flags = rnd(&s) & MSNAP_PERSIST_FLAGS };
			for (i = 0; i < 4; i++) {
				rg[i].addr = (uint64_t)(uintptr_t)r->win +
					     (rnd(&s) % WIN) * PG;
				rg[i].len = (1 + rnd(&s) % 8) * PG;
			}
			if (!ioctl(fd, MSNAP_IOC_PERSISTV, &v) &&
			    (v.flags & MSNAP_ASYNC))
				ioctl(fd, MSNAP_IOC_WAIT, &v.epoch);
		} else if (k == 1) {
			struct msnap_abort_args a = { .size = sizeof(a),
				.addr = addr, .len = len,
				.flags = rnd(&s) & MSNAP_THREAD };
			ioctl(fd, MSNAP_IOC_ABORT, &a);
		} else if (k == 2 && have_ring) {
			struct msnap_uring_persist c = { addr, len / PG,
							 rnd(&s) & MSNAP_THREAD };
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			struct io_uring_cqe *cqe;

			io_uring_prep_rw(IORING_OP_URING_CMD, sqe,
					 self->fd[rnd(&s) & 1], NULL, 0, 0);
			sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
			memcpy(sqe->cmd, &c, sizeof(c));
			io_uring_submit(&ring);
			if (!io_uring_wait_cqe(&ring, &cqe)) {
				if (cqe->res < 0)
					errno = -cqe->res;
				io_uring_cqe_seen(&ring, cqe);
			}
		} else {
			struct msnap_persist_args p = { .size = sizeof(p),
				.addr = addr, .len = len,
				.flags = rnd(&s) & MSNAP_PERSIST_FLAGS };

			if (!ioctl(fd, MSNAP_IOC_PERSIST, &p) &&
			    (p.flags & MSNAP_ASYNC))
				ioctl(fd, MSNAP_IOC_WAIT, &p.epoch);
		}
		e = errno;
		r->persists++;
		if (e && !errno_ok(e) && r->bad++ < 10)
			fprintf(stderr, "# race: op %d: unexpected errno %d (%s)\n",
				k, e, strerror(e));
	}
	if (have_ring)
		io_uring_queue_exit(&ring);
	return NULL;
}

/* Remap, unmap, move, truncate, unlink and recreate under the others. */
static void *race_mutator(void *arg)
{
	struct race *r = arg;
	FIXTURE_DATA(fz) *self = r->self;
	uint64_t s = r->seed ^ 0x99;
	char path[64];
	int gen = 0;

	role = "mutator";

	while (!r->stop) {
		uint64_t off = rnd(&s) % WIN, n = 1 + rnd(&s) % 32;
		int f = rnd(&s) & 1, nfd;
		void *p;

		if (off + n > WIN)
			n = WIN - off;
		switch (rnd(&s) % 7) {
		case 0:
		case 1:	/* map a slice of a file (maybe past its end) */
			mmap(r->win + off * PG, n * PG, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_FIXED, self->fd[f],
			     (rnd(&s) % NPG) * PG);
			break;
		case 2:
			munmap(r->win + off * PG, n * PG);
			break;
		case 3:	/* move a slice elsewhere in the window */
			p = r->win + (rnd(&s) % (WIN - n + 1)) * PG;
			if (p != r->win + off * PG)
				mremap(r->win + off * PG, n * PG, n * PG,
				       MREMAP_MAYMOVE | MREMAP_FIXED, p);
			break;
		case 4:
			ftruncate(self->fd[f], (rnd(&s) % (2 * NPG)) * PG);
			break;
		case 5:	/* unlink and recreate; the old inode lives on mapped */
			snprintf(path, sizeof(path), MNT "/r%d", f);
			unlink(path);
			nfd = open(path, O_RDWR | O_CREAT, 0644);
			if (nfd >= 0) {
				ftruncate(nfd, NPG * PG);
				/* fd[f] must stay valid for the others: dup over it */
				dup2(nfd, self->fd[f]);
				close(nfd);
			}
			break;
		case 6:	/* other files come and go */
			snprintf(path, sizeof(path), MNT "/tmp%d", gen++ % 8);
			nfd = open(path, O_RDWR | O_CREAT, 0644);
			if (nfd >= 0) {
				ftruncate(nfd, PG * (rnd(&s) % 8));
				fsync(nfd);
				close(nfd);
			}
			if (rnd(&s) & 1)
				unlink(path);
			break;
		}
		r->mutations++;
		if (!(rnd(&s) % 4))
			usleep(rnd(&s) % 500);
	}
	return NULL;
}

TEST_F_TIMEOUT(fz, persists_race_munmap_mremap_truncate_unlink, 600)
{
	pthread_t w[2], p[3], m;
	struct race r = { .self = self, .seed = self->seed ^ 0x3333 };
	double end = now() + budget(50);
	struct sigaction sa = { .sa_handler = on_fault };
	int i;

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	r.win = mmap(NULL, WIN * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
		     self->fd[0], 0);
	ASSERT_NE(MAP_FAILED, r.win);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&w[i], NULL, race_writer, &r));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&p[i], NULL, race_persister, &r));
	ASSERT_EQ(0, pthread_create(&m, NULL, race_mutator, &r));
	while (now() < end)
		usleep(100000);
	r.stop = 1;
	for (i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	for (i = 0; i < 3; i++)
		pthread_join(p[i], NULL);
	pthread_join(m, NULL);
	munmap(r.win, WIN * PG);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	EXPECT_EQ(0, r.bad);
	EXPECT_LT(0, r.persists);
	TH_LOG("%lu persists, %lu mutations, %lu faults caught",
	       (unsigned long)r.persists, (unsigned long)r.mutations,
	       (unsigned long)r.faults);
	/* The files still persist normally. */
	ASSERT_EQ(0, ftruncate(self->fd[0], NPG * PG));
	r.win = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd[0], 0);
	ASSERT_NE(MAP_FAILED, r.win);
	memset(r.win, 0x5a, PG);
	EXPECT_EQ(0, msnap_persist_ioc(self->fd[0], r.win, PG, 0, NULL, NULL));
	munmap(r.win, PG);
}

TEST_HARNESS_MAIN
