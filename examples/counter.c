// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * counter PATH [N]: the smallest memsnap program.  A 64-bit counter lives
 * in a region file; each increment is made durable by msnap_persist()
 * before it is reported.  Cut the power at any moment: on restart the
 * counter holds the last increment reported, or the one after it (which
 * was durable but not yet reported), never less.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <memsnap.h>

int main(int argc, char **argv)
{
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
	struct msnap_region *r;
	uint64_t *count;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: counter PATH [N]\n");
		return 2;
	}
	ret = msnap_open(argv[1], sizeof(*count), MSNAP_OPEN_CREATE, &r);
	if (ret) {
		fprintf(stderr, "counter: %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	count = msnap_addr(r);
	printf("counter: start %" PRIu64 "\n", *count);
	while (n--) {
		(*count)++;
		ret = msnap_persist(count, sizeof(*count), MSNAP_SYNC);
		if (ret < 0) {
			fprintf(stderr, "counter: persist: %s\n", strerror(-ret));
			return 1;
		}
		/* Durable: only now may the outside world hear of it. */
		printf("counter: acked %" PRIu64 "\n", *count);
		fflush(stdout);
	}
	return msnap_close(r) ? 1 : 0;
}
