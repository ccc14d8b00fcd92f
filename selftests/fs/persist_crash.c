// SPDX-License-Identifier: GPL-2.0
/*
 * persist_crash: the workload and the checker of the persist power-cut
 * test (persist_crash_test.sh).
 *
 *   persist_crash run MOUNTDIR ACKFILE SEGFILE EPOCH MARK_AFTER [COUNT]
 *	persist i = j + 1, j + 2, ... (j: the persist the region holds, from
 *	an earlier cycle): stamp i into page 0 and into a pseudo-random
 *	set of the other pages (derived from i), persist the region (odd i
 *	synchronously, even i MSNAP_ASYNC then MSNAP_IOC_WAIT; and about
 *	one persist in three starts a batch of 2 or 3 MSNAP_ASYNC persists
 *	issued together, then one WAIT, so that several commits are in
 *	flight at the cut and may complete in any order), then append "i"
 *	to ACKFILE and fsync it.  Prints POWER-CUT-NOW after MARK_AFTER
 *	acknowledged persists (0: never) and goes on until the power is
 *	cut, or stops after COUNT acknowledged persists.  Persist i always
 *	writes the same pages, so the history stays one sequence across
 *	cycles; every page also holds EPOCH (one per run), so that a
 *	persist issued before a cut and lost by its recovery can never
 *	pass for the persist of the same number made after it.  Before its
 *	first persist, "j+1 EPOCH" is appended to SEGFILE (fsynced).
 *   persist_crash check MOUNTDIR crash|clean ACKFILE SEGFILE...
 *	the region must equal exactly the state after persist j, where j is
 *	page 0's stamp: never a mix of persists, every page with the epoch
 *	of the run that made its persist in this history (the SEGFILEs, in
 *	order: persist i belongs to the last run that started at or before
 *	i), and j >= the last acknowledged persist (crash) or j == it
 *	(clean: after a clean unmount nothing was in flight).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/memsnap.h>

#define PG	4096UL
#define NPAGES	512UL
#define EPOCH_SHIFT	40
#define SEQ_MASK	((UINT64_C(1) << EPOCH_SHIFT) - 1)

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Whether persist i writes page p (page 0: always). */
static int writes(uint64_t i, uint64_t p)
{
	uint64_t h = mix(i);
	unsigned int density = 1 + h % 64;	/* 1..64 pages of 512 */

	return !p || mix(h ^ (p * 0x100000001b3ULL)) % NPAGES < density;
}

static char *map_region(const char *dir, int *fdp)
{
	char path[512];
	char *p;
	int fd;

	snprintf(path, sizeof(path), "%s/region", dir);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, NPAGES * PG)) {
		perror(path);
		exit(2);
	}
	p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	*fdp = fd;
	return p;
}

static void stamp(char *page, uint64_t v)
{
	uint64_t *w = (uint64_t *)page;
	size_t k;

	for (k = 0; k < PG / 8; k++)
		w[k] = v;
}

/* Persist the region; *epoch gets the commit's epoch. */
static int persist(int fd, char *p, int async, uint64_t *epoch)
{
	struct msnap_persist_args a = {
		.size = sizeof(a), .addr = (uintptr_t)p, .len = NPAGES * PG,
		.flags = async ? MSNAP_ASYNC : 0,
	};

	if (ioctl(fd, MSNAP_IOC_PERSIST, &a))
		return -errno;
	*epoch = a.epoch;
	return 0;
}

/* Persists in the batch starting at i: 1, or 2..3 issued together. */
static unsigned int batch(uint64_t i)
{
	uint64_t h = mix(i ^ 0xb47c4ULL);

	return h % 3 ? 1 : 2 + (h >> 8) % 2;
}

static int append(int fd, const char *fmt, uint64_t a, uint64_t b)
{
	char line[64];

	snprintf(line, sizeof(line), fmt, a, b);
	if (write(fd, line, strlen(line)) < 0 || fsync(fd))
		return -1;
	return 0;
}

static int run(const char *dir, const char *ackfile, const char *segfile,
	       uint64_t tag, uint64_t mark_after, uint64_t count)
{
	int fd, ack = open(ackfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int seg = open(segfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	char *p = map_region(dir, &fd);
	uint64_t i, q, first, epoch, k, n;
	int err, marked = 0;

	if (ack < 0 || seg < 0) {
		perror(ack < 0 ? ackfile : segfile);
		return 2;
	}
	first = (*(uint64_t *)p & SEQ_MASK) + 1;
	if (append(seg, "%" PRIu64 " %" PRIu64 "\n", first, tag))
		return 2;
	for (i = first; !count || i < first + count; i += n) {
		/* A run of COUNT persists makes them one at a time. */
		n = count ? 1 : batch(i);
		for (k = 0; k < n; k++) {
			for (q = 0; q < NPAGES; q++)
				if (writes(i + k, q))
					stamp(p + q * PG, (i + k) | tag << EPOCH_SHIFT);
			err = persist(fd, p, n > 1 || !((i + k) % 2), &epoch);
			if (err) {
				fprintf(stderr, "persist %" PRIu64 ": %s\n", i + k,
					strerror(-err));
				return 1;
			}
		}
		/* A WAIT for the last waits for every persist before it. */
		if ((n > 1 || !((i + n - 1) % 2)) &&
		    ioctl(fd, MSNAP_IOC_WAIT, &epoch)) {
			fprintf(stderr, "wait %" PRIu64 ": %s\n", i + n - 1,
				strerror(errno));
			return 1;
		}
		for (k = 0; k < n; k++)
			if (append(ack, "%" PRIu64 "\n", i + k, 0))
				return 2;
		if (mark_after && !marked && i + n - first >= mark_after) {
			printf("POWER-CUT-NOW\n");
			fflush(stdout);
			marked = 1;
		}
	}
	printf("%" PRIu64 " persists acknowledged\n", count);
	return 0;
}

static uint64_t last_acked(const char *ackfile)
{
	FILE *f = fopen(ackfile, "r");
	uint64_t v, last = 0;

	while (f && fscanf(f, "%" SCNu64, &v) == 1)
		last = v;
	if (f)
		fclose(f);
	return last;
}

/* The stamp page q holds after persist j: the last i <= j writing it. */
static uint64_t expected(uint64_t j, uint64_t q)
{
	for (; j; j--)
		if (writes(j, q))
			return j;
	return 0;
}

/* The runs of this history: each "first epoch", in order. */
static uint64_t seg_first[4096], seg_epoch[4096];
static unsigned int nsegs;

static int load_segments(int nfiles, char **files)
{
	uint64_t f, e;
	FILE *in;
	int k;

	for (k = 0; k < nfiles; k++) {
		in = fopen(files[k], "r");
		if (!in)
			continue;	/* no run in that boot yet */
		while (fscanf(in, "%" SCNu64 " %" SCNu64, &f, &e) == 2) {
			if (nsegs == sizeof(seg_first) / sizeof(seg_first[0]))
				return -1;
			seg_first[nsegs] = f;
			seg_epoch[nsegs++] = e;
		}
		fclose(in);
	}
	return 0;
}

/* The epoch persist i of this history was made with (0: none). */
static uint64_t epoch_of(uint64_t i)
{
	unsigned int k;

	if (!i)
		return 0;
	for (k = nsegs; k--;)
		if (seg_first[k] <= i)
			return seg_epoch[k];
	return 0;
}

static int check(const char *dir, int clean, const char *ackfile,
		 int nsegfiles, char **segfiles)
{
	uint64_t acked = last_acked(ackfile), j, q, want, k, w;
	int fd, bad = 0;
	char *p = map_region(dir, &fd);

	if (load_segments(nsegfiles, segfiles)) {
		fprintf(stderr, "too many runs\n");
		return 2;
	}
	j = *(uint64_t *)p & SEQ_MASK;
	if (j < acked || (clean && j != acked)) {
		printf("%s: region is at persist %" PRIu64 ", %" PRIu64 " was the last acknowledged\n",
		       j < acked ? "LOST" : "UNACKNOWLEDGED", j, acked);
		return 1;
	}
	for (q = 0; q < NPAGES && !bad; q++) {
		want = expected(j, q);
		want |= epoch_of(want) << EPOCH_SHIFT;
		for (k = 0; k < PG / 8; k++) {
			w = ((uint64_t *)(p + q * PG))[k];
			if (w != want) {
				printf("%s: page %" PRIu64 " word %" PRIu64 " holds persist %" PRIu64 " of run %" PRIu64 ", persist %" PRIu64 " (run %" PRIu64 ") wrote %" PRIu64 " of run %" PRIu64 "\n",
				       (w & SEQ_MASK) == (want & SEQ_MASK) ? "STALE" : "TORN",
				       q, k, w & SEQ_MASK, w >> EPOCH_SHIFT, j,
				       epoch_of(j), want & SEQ_MASK,
				       want >> EPOCH_SHIFT);
				bad = 1;
				break;
			}
		}
	}
	if (!bad)
		printf("region is exactly persist %" PRIu64 " of run %" PRIu64 " (last acknowledged %" PRIu64 ")\n",
		       j, epoch_of(j), acked);
	return bad;
}

int main(int argc, char **argv)
{
	if ((argc == 7 || argc == 8) && !strcmp(argv[1], "run"))
		return run(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 0),
			   strtoull(argv[6], NULL, 0),
			   argc == 8 ? strtoull(argv[7], NULL, 0) : 0);
	if (argc >= 6 && !strcmp(argv[1], "check") &&
	    (!strcmp(argv[3], "crash") || !strcmp(argv[3], "clean")))
		return check(argv[2], !strcmp(argv[3], "clean"), argv[4],
			     argc - 5, argv + 5);
	fprintf(stderr, "usage: persist_crash run DIR ACKFILE SEGFILE EPOCH MARK [COUNT]\n"
		"       persist_crash check DIR crash|clean ACKFILE SEGFILE...\n");
	return 2;
}
