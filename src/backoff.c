/*
 * backoff: exponential backoff with "equal jitter" and a floor.  The n-th
 * consecutive failure waits a random time in [d/2, d] where
 * d = min(max, min * 2^(n-1)), and never less than min: retries from many
 * processes spread out instead of arriving in lockstep, yet a retry never
 * comes sooner than the floor.
 */
#include "autoconf.h"

#include <sys/types.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"

void
backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
	b->failures = 0;
}

uint32_t
backoff_next(struct backoff *b, uint32_t rnd)
{
	uint64_t d = b->min_ms;
	uint32_t i, half, delay;

	/* Doubling stops at the ceiling, so 2^failures never overflows. */
	for (i = 0; i < b->failures && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	if (b->failures < UINT32_MAX)
		b->failures++;
	half = (uint32_t)(d / 2);
	delay = half + (uint32_t)(rnd % ((uint32_t)d - half + 1));
	return delay < b->min_ms ? b->min_ms : delay;
}

void
backoff_reset(struct backoff *b)
{
	b->failures = 0;
}

uint32_t
backoff_random(void)
{
	static int seeded;
	uint32_t r;

#ifdef HAVE_GETRANDOM
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
#endif
	if (!seeded) {
		srandom((unsigned)time(NULL) ^ (unsigned)getpid());
		seeded = 1;
	}
	r = (uint32_t)random();
	return r;
}
