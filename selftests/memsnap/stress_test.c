// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: threads write, persist (sync, async + wait, MSNAP_THREAD,
 * io_uring), abort and truncate the same and different pages while other
 * files are created and unlinked, under memory pressure (an mlocked
 * balloon in a child process leaves little free RAM, and a region larger
 * than what is left is streamed through).  Every acknowledged update is
 * tracked per page (per slot on shared pages) and checked after a
 * remount: none is lost.  Also: an unprivileged user cannot read, map
 * writably, abort or set the address of a region it lacks permission for.
 *
 * The same run again inside a memory cgroup limited to 96 MiB, streaming
 * through a region three times that: persisted pages are reclaimed inside
 * the group, no OOM kill.
 *
 * STRESS_SECONDS (default 20 and 15) bounds each run; STRESS_SEED replays
 * the random choices.
 */
#include "kselftest_harness.h"
#include "msnap_fs.h"

#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <time.h>

#define PG	4096UL
#define MNT	"/tmp/msnap-stress"
#define NT	4		/* writer threads */
#define NSHARED	32		/* pages every writer stamps (own slot) */
#define NOWN	16		/* pages of each writer alone */
#define NPRIV	32		/* pages of each writer's own file */
#define CHUNK	64		/* pages per persist of the pressure stream */


static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key) + 1) * 1024;
	if (f)
		fclose(f);
	return v;
}

FIXTURE(st) {
	int dfd;
};

FIXTURE_SETUP(st)
{
	const char *why = msnap_fs_unavailable();

	self->dfd = -1;
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, msnap_mkfs(MSNAP_TEST_DEV));
	mkdir(MNT, 0755);
	ASSERT_EQ(0, msnap_mount(MSNAP_TEST_DEV, MNT));
	self->dfd = open(MNT, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, self->dfd);
}

FIXTURE_TEARDOWN(st)
{
	if (self->dfd < 0)
		return;
	close(self->dfd);
	umount2(MNT, 0);
	EXPECT_EQ(0, msnap_fsck(MSNAP_TEST_DEV));
}

struct stress {
	int dfd, sfd;
	char *shared;			/* NSHARED + NT * NOWN pages */
	atomic_int stop;
	atomic_ulong persists, aborts, truncates, files, stream_pages, errors;
	atomic_ulong read_pages;
	uint64_t seed;
	/* Acknowledged state. */
	uint64_t ack_slot[NT][NSHARED];	/* shared pages: per-writer slot */
	uint64_t wrote_slot[NT][NSHARED];
	uint64_t ack_own[NT][NOWN];	/* own pages: stamp in every word */
	int how_own[NT][NOWN];		/* how it was persisted (flags, 4: dir fd, 8: uring) */
	uint64_t ack_priv[NT][NPRIV];
	int priv_fd[NT];
	char *priv[NT];
	/* Pressure stream. */
	int bfd;
	char *big;
	size_t big_pages;
	uint64_t *ack_big;		/* per CHUNK */
};

struct writer {
	struct stress *st;
	int t;
};

static void stamp(char *page, uint64_t v)
{
	uint64_t *w = (uint64_t *)page;
	size_t i;

	for (i = 0; i < PG / 8; i++)
		w[i] = v;
}

static int stamped(const char *page, uint64_t v)
{
	const uint64_t *w = (const uint64_t *)page;
	size_t i;

	for (i = 0; i < PG / 8; i++)
		if (w[i] != v)
			return 0;
	return 1;
}

static void err(struct stress *st, const char *what, int e)
{
	if (st->errors++ < 20)
		fprintf(stderr, "# stress: %s: %s\n", what, strerror(e));
}

/* Persist [p, p + len) in a random way; 0 once durable, else errno. */
static int persist_any(struct stress *st, uint64_t *s, int fd, char *p,
		       size_t len, int thread_ok, struct io_uring *ring, int *how)
{
	struct msnap_persist_args a = { .size = sizeof(a),
		.addr = (uintptr_t)p, .len = len };
	int k = rnd(s) % 4;

	*how = k == 3 && ring ? 8 : 0;

	if (k == 3 && ring) {
		struct msnap_uring_persist c = { (uintptr_t)p, len / PG,
						 thread_ok ? MSNAP_THREAD : 0 };
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		struct io_uring_cqe *cqe;
		int res;

		if (fd == st->dfd)	/* io_uring persists take a region file */
			fd = st->sfd;
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
		sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
		memcpy(sqe->cmd, &c, sizeof(c));
		if (io_uring_submit(ring) != 1 || io_uring_wait_cqe(ring, &cqe))
			return EIO;
		res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		return res < 0 ? -res : 0;
	}
	if (k == 1)
		a.flags |= MSNAP_ASYNC;
	if (thread_ok && (rnd(s) & 1))
		a.flags |= MSNAP_THREAD;
	*how = a.flags | (fd == st->dfd ? 4 : 0);
	if (ioctl(fd, MSNAP_IOC_PERSIST, &a))
		return errno;
	if ((a.flags & MSNAP_ASYNC) && ioctl(fd, MSNAP_IOC_WAIT, &a.epoch))
		return errno;
	return 0;
}

static void *writer(void *arg)
{
	struct writer *w = arg;
	struct stress *st = w->st;
	int t = w->t, e, have_ring, how;
	uint64_t s = st->seed + 1000 * (t + 1), ctr = 1;
	struct io_uring ring;
	char *own = st->shared + (NSHARED + t * NOWN) * PG;

	have_ring = !io_uring_queue_init(4, &ring, 0);
	while (!st->stop) {
		uint64_t v = (uint64_t)(t + 1) << 48 | ctr++;
		int k = rnd(&s) % 10, pg;
		struct msnap_abort_args ab = { .size = sizeof(ab),
					       .flags = MSNAP_THREAD };

		if (k < 4) {	/* own slot of a shared page */
			pg = rnd(&s) % NSHARED;
			((volatile uint64_t *)(st->shared + pg * PG))[t] = v;
			st->wrote_slot[t][pg] = v;
			/* Not MSNAP_THREAD: another writer may have dirtied it first. */
			e = persist_any(st, &s, st->sfd, st->shared + pg * PG, PG, 0,
					have_ring ? &ring : NULL, &how);
			if (e)
				err(st, "persist shared", e);
			else
				st->ack_slot[t][pg] = v;
			st->persists++;
		} else if (k < 7) {	/* own pages, maybe several */
			int n = 1 + rnd(&s) % 4, i;

			pg = rnd(&s) % (NOWN - n + 1);
			for (i = 0; i < n; i++)
				stamp(own + (pg + i) * PG, v);
			e = persist_any(st, &s, rnd(&s) & 1 ? st->dfd : st->sfd,
					own + pg * PG, n * PG, 1,
					have_ring ? &ring : NULL, &how);
			if (e)
				err(st, "persist own", e);
			else
				for (i = 0; i < n; i++)
					st->ack_own[t][pg + i] = v,
					st->how_own[t][pg + i] = how;
			st->persists++;
		} else if (k == 7) {	/* write, abort: the last ack is back */
			pg = rnd(&s) % NOWN;
			stamp(own + pg * PG, v);
			ab.addr = (uintptr_t)(own + pg * PG);
			ab.len = PG;
			if (ioctl(st->sfd, MSNAP_IOC_ABORT, &ab))
				err(st, "abort", errno);
			else if (!stamped(own + pg * PG, st->ack_own[t][pg]) &&
				 st->errors++ < 20)
				fprintf(stderr, "# stress: abort of page %d did not restore %llx\n",
					pg, (unsigned long long)st->ack_own[t][pg]);
			st->aborts++;
		} else if (k == 8) {	/* private file: stamp and persist */
			pg = rnd(&s) % NPRIV;
			stamp(st->priv[t] + pg * PG, v);
			e = persist_any(st, &s, st->priv_fd[t], st->priv[t] + pg * PG,
					PG, 1, have_ring ? &ring : NULL, &how);
			if (e)
				err(st, "persist private", e);
			else
				st->ack_priv[t][pg] = v;
			st->persists++;
		} else {	/* truncate the private file and grow it back */
			int keep = rnd(&s) % NPRIV, i;

			if (ftruncate(st->priv_fd[t], keep * PG) ||
			    ftruncate(st->priv_fd[t], NPRIV * PG))
				err(st, "truncate", errno);
			for (i = keep; i < NPRIV; i++)
				st->ack_priv[t][i] = 0;
			st->truncates++;
		}
	}
	if (have_ring)
		io_uring_queue_exit(&ring);
	return NULL;
}

/* Files come and go beside the regions. */
static void *churn(void *arg)
{
	struct stress *st = arg;
	uint64_t s = st->seed ^ 0xc0ffee;
	char path[64];
	int i = 0;

	while (!st->stop) {
		int fd;
		char *p;

		snprintf(path, sizeof(path), MNT "/churn%d", i++ % 16);
		fd = open(path, O_RDWR | O_CREAT, 0644);
		if (fd < 0) {
			err(st, "create", errno);
			continue;
		}
		if (!ftruncate(fd, 4 * PG)) {
			p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p != MAP_FAILED) {
				memset(p, i, 4 * PG);
				if (msnap_persist_ioc(fd, p, 4 * PG, 0, NULL, NULL))
					err(st, "persist churn", errno);
				munmap(p, 4 * PG);
			}
		}
		close(fd);
		if (rnd(&s) % 3)
			unlink(path);
		st->files++;
	}
	return NULL;
}

/* Streams through a region larger than the free RAM, persisting as it goes. */
static void *stream(void *arg)
{
	struct stress *st = arg;
	size_t c = 0, nchunks = st->big_pages / CHUNK, i;
	uint64_t v = 1;

	while (!st->stop) {
		char *p = st->big + c * CHUNK * PG;

		for (i = 0; i < CHUNK; i++)
			((uint64_t *)(p + i * PG))[0] = v << 16 | c;
		if (msnap_persist_ioc(st->bfd, p, CHUNK * PG, 0, NULL, NULL))
			err(st, "persist stream", errno);
		else
			st->ack_big[c] = v << 16 | c;
		st->stream_pages += CHUNK;
		if (++c == nchunks)
			c = 0, v++;
	}
	return NULL;
}

/* Reads through the whole stream region again and again: reclaim. */
static void *reader(void *arg)
{
	struct stress *st = arg;
	size_t i;

	while (!st->stop)
		for (i = 0; i < st->big_pages && !st->stop; i++) {
			(void)*(volatile char *)(st->big + i * PG);
			st->read_pages++;
		}
	return NULL;
}

/* A child holding most of the free RAM mlocked; the OOM killer's pick. */
static pid_t balloon(size_t bytes)
{
	int pfd[2];
	pid_t pid;
	char *p, c;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid) {
		close(pfd[1]);
		if (pid > 0 && read(pfd[0], &c, 1) != 1)
			pid = 0;	/* it could not lock that much: no balloon */
		close(pfd[0]);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	msnap_sh("echo 1000 > /proc/%d/oom_score_adj", getpid());
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	c = 1;
	write(pfd[1], &c, 1);
	pause();
	_exit(0);
}

#define CG	"/sys/fs/cgroup"
#define CGDIR	CG "/msnap-stress"
#define CG_MAX	(96L << 20)	/* memory.max of the memcg variant */

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -errno;
}

/* The value of KEY in a flat-keyed cgroup file, or -1. */
static long cg_key(const char *file, const char *key)
{
	char line[128];
	long v = -1;
	FILE *f = fopen(file, "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ' ')
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

/*
 * Move this process into a new memory cgroup limited to CG_MAX; a reason
 * to skip when the kernel has no cgroup2 memory controller.
 */
static const char *memcg_enter(void)
{
	char buf[32];

	if (access(CG "/cgroup.controllers", F_OK) &&
	    mount("cgroup2", CG, "cgroup2", 0, NULL))
		return "cannot mount cgroup2";
	if (write_str(CG "/cgroup.subtree_control", "+memory"))
		return "no memory controller";
	rmdir(CGDIR);
	if (mkdir(CGDIR, 0755))
		return "cannot create a cgroup";
	snprintf(buf, sizeof(buf), "%ld", CG_MAX);
	if (write_str(CGDIR "/memory.max", buf) ||
	    write_str(CGDIR "/cgroup.procs", "0"))
		return "cannot limit the cgroup";
	return NULL;
}

static void memcg_leave(void)
{
	write_str(CG "/cgroup.procs", "0");
	rmdir(CGDIR);
}

/*
 * The stress run.  Pressure either from a balloon that leaves ~160 MiB
 * free (only with STRESS_PRESSURE=1: on 6.12 the run once hung with it,
 * khugepaged blocked > 120 s, not understood yet) or, with @memcg, from a
 * memory cgroup limited to CG_MAX with a stream region three times
 * larger: persisted pages must be reclaimed inside the group.
 */
static void run_stress(struct __test_metadata *_metadata,
		       FIXTURE_DATA(st) *self, bool memcg)
{
	const char *es = getenv("STRESS_SECONDS"), *ss = getenv("STRESS_SEED");
	double secs = es ? atof(es) : memcg ? 15 : 20, end;
	const char *why;
	long hit = 0, ooms = 0;
	struct stress *st = calloc(1, sizeof(*st));
	struct writer w[NT];
	pthread_t wt[NT], ct, bt, rt;
	long avail, left;
	pid_t bpid;
	char path[64];
	int t, i, pg, lost = 0;

	ASSERT_NE(NULL, st);
	st->seed = ss ? strtoull(ss, NULL, 0) : (uint64_t)time(NULL);
	TH_LOG("seed %llu (STRESS_SEED replays), %.0f s",
	       (unsigned long long)st->seed, secs);
	st->dfd = self->dfd;
	st->shared = msnap_map_file(MNT, "shared", (NSHARED + NT * NOWN) * PG,
				    &st->sfd);
	ASSERT_NE(MAP_FAILED, st->shared);
	for (t = 0; t < NT; t++) {
		snprintf(path, sizeof(path), "priv%d", t);
		st->priv[t] = msnap_map_file(MNT, path, NPRIV * PG, &st->priv_fd[t]);
		ASSERT_NE(MAP_FAILED, st->priv[t]);
	}

	/* Leave ~160 MiB free, then stream through twice that. */
	avail = meminfo("MemAvailable:");
	ASSERT_LT(0, avail);
	bpid = !memcg && getenv("STRESS_PRESSURE") && avail > (320L << 20) ?
	       balloon(avail - (160L << 20)) : 0;
	ASSERT_LE(0, bpid);
	left = memcg ? CG_MAX : meminfo("MemAvailable:");
	/* Twice what is left (memcg: three times), within the 1 GiB drive. */
	st->big_pages = (left > 0 ? left : 0) * (memcg ? 3 : 2) + (64L << 20);
	if (st->big_pages > (448L << 20))
		st->big_pages = 448L << 20;
	st->big_pages = st->big_pages / PG / CHUNK * CHUNK;
	if (memcg) {
		why = memcg_enter();
		if (why) {
			memcg_leave();
			SKIP(return, "%s", why);
		}
	}
	TH_LOG("MemAvailable %ld MiB -> %ld MiB %s; stream region %zu MiB",
	       avail >> 20, left >> 20,
	       memcg ? "in the memory cgroup" : bpid ? "with the balloon" : "(no balloon)",
	       st->big_pages * PG >> 20);
	st->big = msnap_map_file(MNT, "big", st->big_pages * PG, &st->bfd);
	ASSERT_NE(MAP_FAILED, st->big);
	st->ack_big = calloc(st->big_pages / CHUNK, sizeof(uint64_t));
	ASSERT_NE(NULL, st->ack_big);

	for (t = 0; t < NT; t++) {
		w[t] = (struct writer){ st, t };
		ASSERT_EQ(0, pthread_create(&wt[t], NULL, writer, &w[t]));
	}
	ASSERT_EQ(0, pthread_create(&ct, NULL, churn, st));
	ASSERT_EQ(0, pthread_create(&bt, NULL, stream, st));
	ASSERT_EQ(0, pthread_create(&rt, NULL, reader, st));
	end = now() + secs;
	while (now() < end && !st->errors)
		usleep(200000);
	/*
	 * A slow kernel (KASAN, lockdep) streams a few MiB a second: go on
	 * until the group has reached its limit, for at most 4 more minutes.
	 */
	while (memcg && !st->errors && now() < end + 240 &&
	       cg_key(CGDIR "/memory.events", "max") <= 0)
		usleep(200000);
	st->stop = 1;
	for (t = 0; t < NT; t++)
		pthread_join(wt[t], NULL);
	pthread_join(ct, NULL);
	pthread_join(bt, NULL);
	pthread_join(rt, NULL);
	if (bpid) {
		kill(bpid, SIGKILL);
		waitpid(bpid, NULL, 0);
	}
	if (memcg) {
		hit = cg_key(CGDIR "/memory.events", "max");
		ooms = cg_key(CGDIR "/memory.events", "oom_kill");
		memcg_leave();
		TH_LOG("memory cgroup: limit reached %ld times, %ld OOM kills, after %.0f s",
		       hit, ooms, now() - end + secs);
		EXPECT_LT(0, hit);
		EXPECT_EQ(0, ooms);
	}
	TH_LOG("%lu persists, %lu aborts, %lu truncates, %lu files, %lu MiB streamed, %lu MiB read",
	       (unsigned long)st->persists, (unsigned long)st->aborts,
	       (unsigned long)st->truncates, (unsigned long)st->files,
	       (unsigned long)(st->stream_pages * PG >> 20),
	       (unsigned long)(st->read_pages * PG >> 20));
	EXPECT_EQ(0, st->errors);

	/* What a restart sees. */
	munmap(st->shared, (NSHARED + NT * NOWN) * PG);
	close(st->sfd);
	munmap(st->big, st->big_pages * PG);
	close(st->bfd);
	for (t = 0; t < NT; t++) {
		munmap(st->priv[t], NPRIV * PG);
		close(st->priv_fd[t]);
	}
	close(self->dfd);
	ASSERT_EQ(0, msnap_remount(MSNAP_TEST_DEV, MNT));
	self->dfd = open(MNT, O_RDONLY | O_DIRECTORY);
	st->shared = msnap_map_file(MNT, "shared", (NSHARED + NT * NOWN) * PG,
				    &st->sfd);
	ASSERT_NE(MAP_FAILED, st->shared);
	for (t = 0; t < NT; t++) {
		char *own = st->shared + (NSHARED + t * NOWN) * PG;
		uint64_t got;

		for (pg = 0; pg < NSHARED; pg++) {
			got = ((uint64_t *)(st->shared + pg * PG))[t];
			if ((got < st->ack_slot[t][pg] || got > st->wrote_slot[t][pg]) &&
			    lost++ < 10)
				TH_LOG("shared page %d slot %d: %llx, acknowledged %llx",
				       pg, t, (unsigned long long)got,
				       (unsigned long long)st->ack_slot[t][pg]);
		}
		for (pg = 0; pg < NOWN; pg++)
			if (!stamped(own + pg * PG, st->ack_own[t][pg]) && lost++ < 10)
				TH_LOG("writer %d own page %d: %llx, acknowledged %llx (how %d)",
				       t, pg, *(unsigned long long *)(own + pg * PG),
				       (unsigned long long)st->ack_own[t][pg],
				       st->how_own[t][pg]);
		snprintf(path, sizeof(path), "priv%d", t);
		st->priv[t] = msnap_map_file(MNT, path, NPRIV * PG, &st->priv_fd[t]);
		ASSERT_NE(MAP_FAILED, st->priv[t]);
		for (pg = 0; pg < NPRIV; pg++)
			if (!stamped(st->priv[t] + pg * PG, st->ack_priv[t][pg]) &&
			    lost++ < 10)
				TH_LOG("writer %d private page %d: %llx, acknowledged %llx",
				       t, pg, *(unsigned long long *)(st->priv[t] + pg * PG),
				       (unsigned long long)st->ack_priv[t][pg]);
		munmap(st->priv[t], NPRIV * PG);
		close(st->priv_fd[t]);
	}
	st->big = msnap_map_file(MNT, "big", st->big_pages * PG, &st->bfd);
	ASSERT_NE(MAP_FAILED, st->big);
	for (i = 0; i < (int)(st->big_pages / CHUNK); i++) {
		uint64_t want = st->ack_big[i];

		for (pg = 0; pg < CHUNK; pg += CHUNK / 4)
			if (*(uint64_t *)(st->big + (i * CHUNK + pg) * PG) != want &&
			    lost++ < 10)
				TH_LOG("stream chunk %d page %d: %llx, acknowledged %llx",
				       i, pg, *(unsigned long long *)(st->big + (i * CHUNK + pg) * PG),
				       (unsigned long long)want);
	}
	EXPECT_EQ(0, lost);
	munmap(st->big, st->big_pages * PG);
	close(st->bfd);
	munmap(st->shared, (NSHARED + NT * NOWN) * PG);
	close(st->sfd);
	free(st->ack_big);
	free(st);
}

TEST_F_TIMEOUT(st, acknowledged_updates_survive_stress_under_memory_pressure, 900)
{
	run_stress(_metadata, self, false);
}

TEST_F_TIMEOUT(st, acknowledged_updates_survive_stress_in_a_small_memcg, 900)
{
	run_stress(_metadata, self, true);
}

/*
 * Regression test: MSNAP_THREAD through io_uring means the submitter's
 * pages, whether the command runs in the non-blocking issue or, when
 * that returns -EAGAIN (locks taken, checkpoint due), in an io-wq worker.
 * It once always ran in the worker and matched the worker's pid: nothing
 * was persisted and the CQE said 0 pages.  The stress run above covers
 * the worker case under contention.
 */
TEST_F(st, uring_thread_persist)
{
	struct msnap_uring_persist c;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	char *p;
	int fd;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	p = msnap_map_file(MNT, "ut", PG, &fd);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x42, PG);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = MSNAP_URING_CMD_PERSIST;
	c = (struct msnap_uring_persist){ (uintptr_t)p, 1, MSNAP_THREAD };
	memcpy(sqe->cmd, &c, sizeof(c));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(1, cqe->res);	/* the page this thread dirtied */
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	munmap(p, PG);
	close(fd);
}

/* ---- permissions ----------------------------------------------------- */

TEST_F(st, unprivileged_user_cannot_read_map_or_persist_without_permission)
{
	int fd0600, fd0644, status;
	char *root_map;
	pid_t pid;

	root_map = msnap_map_file(MNT, "secret", 4 * PG, &fd0600);
	ASSERT_NE(MAP_FAILED, root_map);
	ASSERT_EQ(0, fchmod(fd0600, 0600));
	memset(root_map, 0x5e, PG);
	ASSERT_EQ(0, msnap_persist_ioc(fd0600, root_map, PG, 0, NULL, NULL));
	munmap(root_map, 4 * PG);
	root_map = msnap_map_file(MNT, "public", 4 * PG, &fd0644);
	ASSERT_NE(MAP_FAILED, root_map);
	ASSERT_EQ(0, fchmod(fd0644, 0644));
	memset(root_map, 0x11, PG);
	ASSERT_EQ(0, msnap_persist_ioc(fd0644, root_map, PG, 0, NULL, NULL));
	memset(root_map, 0x22, PG);	/* root's unpersisted change */

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct msnap_addr_args ad = { .size = sizeof(ad), .addr = 0x7e0000000000ULL };
		struct msnap_abort_args ab = { .size = sizeof(ab), .len = PG };
		int fd, bad = 0;
		char *p;

		if (setgid(65534) || setuid(65534))
			_exit(100);
		/* 0600: no read, no write, so no mapping at all. */
		if (open(MNT "/secret", O_RDONLY) >= 0 || errno != EACCES)
			bad |= 1;
		if (open(MNT "/secret", O_RDWR) >= 0 || errno != EACCES)
			bad |= 2;
		/* 0644: a read-only mapping, never a writable shared one. */
		fd = open(MNT "/public", O_RDONLY);
		if (fd < 0)
			_exit(101);
		p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED || errno != EACCES)
			bad |= 4;
		p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(102);
		if (mprotect(p, PG, PROT_READ | PROT_WRITE) == 0)
			bad |= 8;
		if (!ioctl(fd, MSNAP_IOC_SET_ADDR, &ad))
			bad |= 16;
		/* Aborting through a read-only mapping must not drop root's change. */
		ab.addr = (uintptr_t)p;
		ioctl(fd, MSNAP_IOC_ABORT, &ab);
		if (open(MNT "/new", O_RDWR | O_CREAT, 0644) >= 0)
			bad |= 32;	/* the root directory is 0755 root */
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* Root's unpersisted change is still there. */
	EXPECT_EQ(0x22, (unsigned char)root_map[0]);
	EXPECT_EQ(0x22, (unsigned char)root_map[PG - 1]);
	munmap(root_map, 4 * PG);
	close(fd0600);
	close(fd0644);
}

TEST_HARNESS_MAIN
