/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The crash workload's plan, shared by the guest workload (workload.c)
 * and the host replay checker (replay-log.c): persist i is a pure
 * function of i, so the checker knows, without any record from the
 * guest, which pages every persist stamped and which names exist after
 * it.  Every stamped page holds (i, file, page) and a pattern derived
 * from them, so a torn or stale page is recognisable on its own.
 */
#ifndef CRASH_PLAN_H
#define CRASH_PLAN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PLAN_PAGE	4096
#define PLAN_A_PAGES	1024	/* file "a": single-file persists */
#define PLAN_B_PAGES	128	/* file "b": PERSISTV partner */
#define PLAN_NS_EVERY	5	/* namespace ops every 5th persist */
/*
 * ENOSPC: the file system is filled ("fill") before the first persist so
 * that about PLAN_FREE_LEFT blocks stay available, enough for every
 * persist of "a" and "b"; right before every PLAN_ENOSPC_EVERY-th persist
 * all PLAN_C_PAGES pages of "c" are dirtied and persisted, which must fail
 * with ENOSPC and leave nothing of "c" on the disk, then aborted.
 */
#define PLAN_C_PAGES	2800
#define PLAN_FREE_LEFT	2600
#define PLAN_ENOSPC_EVERY 25
#define PLAN_MAX_NAMES	6

enum { PLAN_SINGLE_RUN, PLAN_SINGLE_SCATTER, PLAN_VECTOR };

struct plan {
	int		kind;
	unsigned int	na, nb;			/* pages stamped */
	uint16_t	a[PLAN_A_PAGES];	/* page indexes in "a" */
	uint16_t	b[PLAN_B_PAGES];
	int		async;			/* ASYNC + WAIT */
};

static inline uint64_t plan_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* 1..1024, about log-uniform, with 1 and 1024 themselves frequent. */
static inline unsigned int plan_count(uint64_t r, unsigned int max)
{
	unsigned int bits = r % 12, n;

	if (bits == 11)
		return max;
	n = 1 + (unsigned int)((r >> 8) % (1u << bits));
	return n > max ? max : n;
}

/* Pick n distinct pages of [0, max) into out, ascending. */
static inline unsigned int plan_pick(uint64_t seed, unsigned int n,
				     unsigned int max, uint16_t *out)
{
	static unsigned char used[PLAN_A_PAGES];
	unsigned int k = 0, p;
	uint64_t r = seed;

	memset(used, 0, sizeof(used));
	if (n > max / 2) {	/* dense: drop max - n pages */
		memset(used, 1, max);
		for (k = max; k > n;) {
			r = plan_mix(r);
			p = r % max;
			if (used[p]) {
				used[p] = 0;
				k--;
			}
		}
	} else {
		for (k = 0; k < n;) {
			r = plan_mix(r);
			p = r % max;
			if (!used[p]) {
				used[p] = 1;
				k++;
			}
		}
	}
	for (p = 0, k = 0; p < max; p++)
		if (used[p])
			out[k++] = p;
	return k;
}

static inline void plan_get(uint64_t seed, uint64_t i, struct plan *pl)
{
	uint64_t r = plan_mix(seed * 1000003ULL + i);
	unsigned int n, start, k;

	memset(pl, 0, sizeof(*pl));
	pl->kind = (r >> 56) % 3;
	pl->async = (r >> 50) % 4 == 0;
	r = plan_mix(r);
	switch (pl->kind) {
	case PLAN_SINGLE_RUN:
		n = plan_count(r, PLAN_A_PAGES);
		start = (r >> 32) % (PLAN_A_PAGES - n + 1);
		for (k = 0; k < n; k++)
			pl->a[k] = start + k;
		pl->na = n;
		break;
	case PLAN_SINGLE_SCATTER:
		n = plan_count(r, PLAN_A_PAGES);
		pl->na = plan_pick(r >> 20, n, PLAN_A_PAGES, pl->a);
		break;
	default:
		n = plan_count(r, PLAN_A_PAGES / 2);
		pl->na = plan_pick(r >> 20, n, PLAN_A_PAGES, pl->a);
		n = 1 + (r >> 44) % PLAN_B_PAGES;
		pl->nb = plan_pick(r >> 24, n, PLAN_B_PAGES, pl->b);
		break;
	}
}

/* The stamp persist i writes into page p of file f (0: "a", 1: "b"). */
static inline void plan_stamp(void *page, uint64_t i, unsigned int f,
			      unsigned int p)
{
	uint64_t *w = page, x = plan_mix((i << 20) ^ (f << 16) ^ p);
	unsigned int k;

	w[0] = i;
	w[1] = ((uint64_t)f << 32) | p;
	for (k = 2; k < PLAN_PAGE / 8; k++)
		w[k] = x = plan_mix(x + k);
}

/*
 * Which persist's stamp the page holds: 0 for a zero page (never
 * stamped), the persist number, or -1 if the page is neither (torn,
 * stale or foreign).
 */
static inline int64_t plan_stamp_of(const void *page, unsigned int f,
				    unsigned int p)
{
	static uint64_t buf[PLAN_PAGE / 8];
	const uint64_t *w = page;
	unsigned int k;

	for (k = 0; k < PLAN_PAGE / 8 && !w[k]; k++)
		;
	if (k == PLAN_PAGE / 8)
		return 0;
	if (w[0] == 0 || w[0] >> 40)
		return -1;
	plan_stamp(buf, w[0], f, p);
	return memcmp(buf, page, PLAN_PAGE) ? -1 : (int64_t)w[0];
}

/*
 * Namespace ops done right before persist i, when i % PLAN_NS_EVERY ==
 * 0: create "n<i>", rename "n<i-5>" to "r<i-5>", unlink "r<i-10>".
 * After persist j the names are "a", "b", "c", "fill", n<last>,
 * r<last-5>: at most PLAN_MAX_NAMES.
 */
static inline int plan_names(uint64_t j, char names[][32])
{
	uint64_t last = j - j % PLAN_NS_EVERY;
	int k = 0;

	strcpy(names[k++], "a");
	strcpy(names[k++], "b");
	strcpy(names[k++], "c");
	strcpy(names[k++], "fill");
	if (last >= PLAN_NS_EVERY)
		snprintf(names[k++], 32, "n%llu", (unsigned long long)last);
	if (last >= 2 * PLAN_NS_EVERY)
		snprintf(names[k++], 32, "r%llu",
			 (unsigned long long)(last - PLAN_NS_EVERY));
	return k;
}

/*
 * Commits in flight together: persist i starts a batch when i %
 * PLAN_BATCH_EVERY == 1; the batch is persists i.. of 2 or 3, all issued
 * with MSNAP_ASYNC one after the other and then one MSNAP_IOC_WAIT for
 * the last, so that their writes complete in any order (N torn, N + 1
 * durable).  A batch stops before a persist that is preceded by the
 * ENOSPC persist and when its pages would pass PLAN_BATCH_PAGES (the
 * free space: blocks released by a batch come back only at the next
 * checkpoint).  Returns the number of persists in the batch starting at
 * i, 1 for a persist on its own (i never inside a batch: the caller
 * steps over them).
 */
#define PLAN_BATCH_EVERY	3
#define PLAN_BATCH_PAGES	1200

static inline unsigned int plan_batch(uint64_t seed, uint64_t i,
				      uint64_t count)
{
	static struct plan pl;
	unsigned int n, want, pages = 0;

	if (i % PLAN_BATCH_EVERY != 1)
		return 1;
	want = 2 + plan_mix(seed ^ (i * 0x100000001b3ULL)) % 2;
	for (n = 0; n < want && i + n <= count; n++) {
		if (n && (i + n) % PLAN_ENOSPC_EVERY == 0)
			break;
		plan_get(seed, i + n, &pl);
		pages += pl.na + pl.nb;
		if (n && pages > PLAN_BATCH_PAGES)
			break;
	}
	return n ? n : 1;
}

/*
 * The persists made after a recovery (the replay's recheck phase):
 * persist t (1, 2, ...) stamps 1 to 40 scattered pages of "a" with
 * number PLAN_NEW_BASE + t, a number no persist of the plan has, so that
 * a page of a pre-crash commit can never pass for one of them; each is
 * small enough for a one-block record (the size of most records), so
 * that t new records fill exactly the log blocks of t old ones.  Before
 * persist t the file "x<t>" is created.
 */
#define PLAN_NEW_BASE	(1ULL << 30)

static inline void plan_new(uint64_t seed, unsigned int t, struct plan *pl)
{
	uint64_t r = plan_mix(seed * 1000003ULL + PLAN_NEW_BASE + t);

	memset(pl, 0, sizeof(*pl));
	pl->kind = PLAN_SINGLE_SCATTER;
	pl->async = !(t % 2);
	pl->na = plan_pick(r >> 8, 1 + r % 40, PLAN_A_PAGES, pl->a);
}

#endif
