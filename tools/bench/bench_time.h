/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Timing helpers of msbench.c: a monotonic clock in microseconds, and
 * the qsort comparison for latency samples.
 */
#ifndef BENCH_TIME_H
#define BENCH_TIME_H

#include <time.h>

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif /* BENCH_TIME_H */
