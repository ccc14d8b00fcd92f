// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * hashtable PATH fill N | check: a persistent hash table whose nodes
 * point at each other with plain C pointers.  There is no serialization
 * code: the region is mapped at the same address in every run
 * (msnap_open() records it in the file), so the pointers stored in it
 * stay valid across restarts and power cuts.
 *
 * Each insertion touches the table header, a bucket and a new node, on
 * different pages; one msnap_persist() of the whole region writes just
 * those pages, atomically.  After a crash the table holds exactly the
 * insertions that were reported (and maybe the one in flight), and every
 * pointer in it is good.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <memsnap.h>

#define TABLE_MAGIC	0x314c42544e534d4dULL	/* "MMSNTBL1" */
#define NBUCKETS	4096
#define INITIAL_SIZE	(1UL << 20)

struct node {
	struct node	*next;
	uint64_t	key;
	uint64_t	value;
};

struct table {
	uint64_t	magic;
	uint64_t	count;		/* nodes in the table */
	char		*brk;		/* next free byte of the region */
	char		*end;		/* end of the region */
	struct node	*bucket[NBUCKETS];
};

static struct msnap_region *region;

static uint64_t value_of(uint64_t key)
{
	return key * 0x9e3779b97f4a7c15ULL + 1;
}

/* Make room for one more node, growing the region in place. */
static int reserve(struct table *t)
{
	size_t size = msnap_size(region);
	int ret;

	if (t->brk + sizeof(struct node) <= t->end)
		return 0;
	ret = msnap_resize(region, 2 * size);
	if (ret)
		return ret;
	t->end = (char *)t + msnap_size(region);
	return 0;
}

static int put(struct table *t, uint64_t key, uint64_t value)
{
	struct node **b = &t->bucket[key % NBUCKETS], *n;
	int ret;

	for (n = *b; n; n = n->next) {
		if (n->key == key) {
			n->value = value;
			return 0;
		}
	}
	ret = reserve(t);
	if (ret)
		return ret;
	n = (struct node *)t->brk;
	t->brk += sizeof(*n);
	n->key = key;
	n->value = value;
	n->next = *b;
	*b = n;
	t->count++;
	return 0;
}

/* Every key 0..count-1 once, with its value, every pointer in range. */
static int check(const struct table *t)
{
	const char *lo = (const char *)(t + 1);
	uint64_t seen = 0, i;
	unsigned char *once = calloc(t->count + 1, 1);
	const struct node *n;

	if (!once)
		return -1;
	for (i = 0; i < NBUCKETS; i++) {
		for (n = t->bucket[i]; n; n = n->next) {
			if ((const char *)n < lo || (const char *)n >= t->brk ||
			    n->key >= t->count || once[n->key] ||
			    n->key % NBUCKETS != i ||
			    n->value != value_of(n->key)) {
				free(once);
				return -1;
			}
			once[n->key] = 1;
			seen++;
		}
	}
	free(once);
	return seen == t->count ? 0 : -1;
}

static struct table *open_table(const char *path)
{
	struct table *t;
	int ret;

	ret = msnap_open(path, INITIAL_SIZE, MSNAP_OPEN_CREATE, &region);
	if (ret) {
		fprintf(stderr, "hashtable: %s: %s\n", path, strerror(-ret));
		return NULL;
	}
	t = msnap_addr(region);
	if (t->magic != TABLE_MAGIC) {
		memset(t, 0, sizeof(*t));
		t->magic = TABLE_MAGIC;
		t->brk = (char *)(t + 1);
		t->end = (char *)t + msnap_size(region);
		ret = msnap_persist(t, msnap_size(region), 0);
		if (ret < 0) {
			fprintf(stderr, "hashtable: persist: %s\n",
				strerror(-ret));
			return NULL;
		}
	}
	if (check(t)) {
		fprintf(stderr, "hashtable: corrupt table\n");
		return NULL;
	}
	printf("hashtable: start %" PRIu64 " keys verified\n", t->count);
	return t;
}

int main(int argc, char **argv)
{
	unsigned long n;
	struct table *t;
	int ret;

	if (argc < 3 || (strcmp(argv[2], "check") &&
			 (strcmp(argv[2], "fill") || argc < 4))) {
		fprintf(stderr, "usage: hashtable PATH fill N | check\n");
		return 2;
	}
	t = open_table(argv[1]);
	if (!t)
		return 1;
	n = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
	while (n--) {
		ret = put(t, t->count, value_of(t->count));
		if (!ret)
			ret = msnap_persist(t, msnap_size(region), 0);
		if (ret < 0) {
			fprintf(stderr, "hashtable: %s\n", strerror(-ret));
			return 1;
		}
		printf("hashtable: acked %" PRIu64 "\n", t->count);
		fflush(stdout);
	}
	return msnap_close(region) ? 1 : 0;
}
