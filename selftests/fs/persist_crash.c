// SPDX-License-Identifier: GPL-2.0
/*
 * persist_crash: the workload and the checker of the persist power-cut
 * test (persist_crash_test.sh).
 *
 *   persist_crash run MOUNTDIR ACKFILE MARK_AFTER
 *	persist i = j + 1, j + 2, ... (j: the persist the region holds, from
 *	an earlier cycle): stamp i into page 0 and into a pseudo-random
 *	set of the other pages (derived from i), persist the region (odd i
 *	synchronously, even i MSNAP_ASYNC then MSNAP_IOC_WAIT), then append
 *	"i" to ACKFILE and fsync it.  Prints POWER-CUT-NOW after MARK_AFTER
 *	acknowledged persists and goes on until the power is cut.  Persist
 *	i always writes the same pages, so the history stays one sequence
 *	across cycles.
 *   persist_crash check MOUNTDIR ACKFILE
 *	the region must equal exactly the state after persist j, where j is
 *	page 0's stamp: never a mix of persists, and j >= the last
 *	acknowledged persist.
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

static int persist(int fd, char *p, uint64_t i)
{
	struct msnap_persist_args a = {
		.size = sizeof(a), .addr = (uintptr_t)p, .len = NPAGES * PG,
		.flags = i % 2 ? 0 : MSNAP_ASYNC,
	};

	if (ioctl(fd, MSNAP_IOC_PERSIST, &a))
		return -errno;
	if (a.flags & MSNAP_ASYNC && ioctl(fd, MSNAP_IOC_WAIT, &a.epoch))
		return -errno;
	return 0;
}

static int run(const char *dir, const char *ackfile, uint64_t mark_after)
{
	int fd, ack = open(ackfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	char *p = map_region(dir, &fd), line[32];
	uint64_t i, q, first;
	int err;

	if (ack < 0) {
		perror(ackfile);
		return 2;
	}
	first = *(uint64_t *)p + 1;
	for (i = first; ; i++) {
		for (q = 0; q < NPAGES; q++)
			if (writes(i, q))
				stamp(p + q * PG, i);
		err = persist(fd, p, i);
		if (err) {
			fprintf(stderr, "persist %" PRIu64 ": %s\n", i, strerror(-err));
			return 1;
		}
		snprintf(line, sizeof(line), "%" PRIu64 "\n", i);
		if (write(ack, line, strlen(line)) < 0 || fsync(ack))
			return 2;
		if (i - first + 1 == mark_after) {
			printf("POWER-CUT-NOW\n");
			fflush(stdout);
		}
	}
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

static int check(const char *dir, const char *ackfile)
{
	uint64_t acked = last_acked(ackfile), j, q, want, k;
	int fd, bad = 0;
	char *p = map_region(dir, &fd);

	j = *(uint64_t *)p;
	if (j < acked) {
		printf("LOST: region is at persist %" PRIu64 ", %" PRIu64 " was acknowledged\n",
		       j, acked);
		return 1;
	}
	for (q = 0; q < NPAGES && !bad; q++) {
		want = expected(j, q);
		for (k = 0; k < PG / 8; k++) {
			if (((uint64_t *)(p + q * PG))[k] != want) {
				printf("TORN: page %" PRIu64 " word %" PRIu64 " holds %" PRIu64 ", persist %" PRIu64 " wrote %" PRIu64 "\n",
				       q, k, ((uint64_t *)(p + q * PG))[k], j, want);
				bad = 1;
				break;
			}
		}
	}
	if (!bad)
		printf("region is exactly persist %" PRIu64 " (last acknowledged %" PRIu64 ")\n",
		       j, acked);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "run"))
		return run(argv[2], argv[3], strtoull(argv[4], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], argv[3]);
	fprintf(stderr, "usage: persist_crash run DIR ACKFILE MARK | check DIR ACKFILE\n");
	return 2;
}
