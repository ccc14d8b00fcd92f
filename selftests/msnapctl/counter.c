// SPDX-License-Identifier: GPL-2.0
/*
 * counter: the process msnapctl_guest.sh checkpoints and restores.
 *
 *   counter [--mem MIB] [--region PATH] [--ms N]
 *
 * Counts in memory, one tick every N ms (50), and prints "tick N" with
 * write(2) after each increment, so a restored process shows where it
 * went on from.  --mem fills MIB of heap with a pattern once (a full
 * dump carries it, an incremental one should not) and checks it every
 * 50 ticks.  --region keeps the count in a memsnap region as well,
 * stored but never persisted (msnapctl persists it at each checkpoint),
 * and checks at every tick that the region holds the previous count.
 * Problems are printed as "counter: ..." lines.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <memsnap.h>

static uint64_t pattern(size_t i)
{
	return (i * 0x9e3779b97f4a7c15ULL) ^ 0x5bd1e995;
}

/* The page each tick dirties: the only one an incremental dump needs. */
volatile uint64_t hot[4096 / 8];

/* One line in one write(2), so a checkpoint never holds half of one. */
static void line(const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(1, buf, len) != len)
		exit(1);
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 50 * 1000000L };
	volatile uint64_t *reg = NULL;
	struct msnap_region *r;
	size_t words = 0, i;
	uint64_t *mem = NULL, n = 0;
	int a, ret;

	for (a = 1; a + 1 < argc; a += 2) {
		if (!strcmp(argv[a], "--mem")) {
			words = strtoul(argv[a + 1], NULL, 0) << 17;
		} else if (!strcmp(argv[a], "--ms")) {
			ts.tv_nsec = strtol(argv[a + 1], NULL, 0) * 1000000L;
		} else if (!strcmp(argv[a], "--region")) {
			ret = msnap_open(argv[a + 1], 65536, MSNAP_OPEN_CREATE, &r);
			if (ret) {
				fprintf(stderr, "counter: msnap_open %s: %s\n",
					argv[a + 1], strerror(-ret));
				return 1;
			}
			reg = msnap_addr(r);
			reg[0] = 0;
		} else {
			fprintf(stderr, "counter: unknown option %s\n", argv[a]);
			return 2;
		}
	}
	mem = words ? malloc(words * 8) : NULL;
	for (i = 0; i < words; i++)
		mem[i] = pattern(i);
	line("counter: start pid %d\n", (int)getpid());
	for (;;) {
		n++;
		if (reg && reg[0] != n - 1)
			line("counter: region holds %llu, memory %llu\n",
			     (unsigned long long)reg[0], (unsigned long long)n - 1);
		if (reg)
			reg[0] = n;
		hot[n % 512] = n;
		line("tick %llu\n", (unsigned long long)n);
		if (n % 50 == 0)
			for (i = 0; i < words; i++)
				if (mem[i] != pattern(i)) {
					line("counter: memory damaged at word %zu\n", i);
					break;
				}
		nanosleep(&ts, NULL);
	}
}
