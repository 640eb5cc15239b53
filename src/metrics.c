/*
 * metrics: a minimal stand-in for the counting side (metrics_observe,
 * metrics_add) so that the consumers can count before the exposition
 * module lands.  The w-metrics branch owns this file: its version (with
 * the real bucket bounds and the rendering) replaces this one whole.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* Placeholder bounds, seconds: 1 ms doubling (the w-metrics ones win). */
static double
bound(enum metrics_hist_kind kind, int i)
{
	double b = 0.001;

	(void)kind;
	while (i-- > 0)
		b *= 2;
	return b;
}

void
metrics_observe(struct metrics_hist *h, enum metrics_hist_kind kind,
    double seconds)
{
	int i;

	if (!(seconds > 0))
		seconds = 0;
	for (i = 0; i < METRICS_BUCKETS; i++)
		if (seconds <= bound(kind, i))
			break;
	h->bucket[i]++;
	h->count++;
	h->sum_us += (uint64_t)(seconds * 1e6 + 0.5);
}

void
metrics_add(struct metrics_counters *dst, const struct metrics_counters *src)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *s = (const uint64_t *)src;
	size_t i;

	for (i = 0; i < METRICS_NCOUNTERS; i++)
		d[i] += s[i];
}
