/* tests/bench/rtable_bench.c - the route table's memory and time at scale (issue 14): n unique
 * filters "site/<i % 100>/dev/<i>/temp" over three origins (default one million), then a
 * match per filter, then rtable_clear() of each origin. Prints bytes per route by
 * rtable_bytes() and by the allocator's usable sizes (sl_alloc_bytes()). Not run by ctest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/rtable.h"
#include "proto/base/sl_alloc.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000000, i, hits = 0;
	struct rtable *t = rtable_new();
	uint64_t b0 = rtable_bytes(t), h0 = sl_alloc_bytes();
	char f[64];
	double t0;

	if (t == NULL || n <= 0)
		return 1;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "site/%d/dev/%d/temp", i % 100, i);
		if (rtable_set(t, (uint8_t)(1 + i % 3), sl_bytes_make(f, (uint32_t)strlen(f)),
		               sl_bytes_make(NULL, 0), 1) != 1)
			return 1;
	}
	printf("insert %d: %.3f s\n", n, now_s() - t0);
	printf("rtable_bytes: %.1f B/route; allocator usable: %.1f B/route\n",
	       (double)(rtable_bytes(t) - b0) / n, (double)(sl_alloc_bytes() - h0) / n);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "site/%d/dev/%d/temp", i % 100, i);
		hits += rtable_match(t, sl_bytes_make(f, (uint32_t)strlen(f)), NULL, NULL) != 0;
	}
	printf("match %d: %.3f s (%d hits)\n", n, now_s() - t0, hits);
	t0 = now_s();
	for (i = 1; i <= 3; i++)
		rtable_clear(t, (uint8_t)i);
	printf("clear %d: %.3f s; bytes after: %llu (empty table %llu)\n", n, now_s() - t0,
	       (unsigned long long)rtable_bytes(t), (unsigned long long)b0);
	rtable_free(t);
	return hits == n ? 0 : 1;
}
