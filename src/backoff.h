/*
 * backoff: exponential backoff with jitter and a floor.  Pure: the caller
 * passes the random number, so tests can drive it exactly.
 */
#ifndef PCS_BACKOFF_H
#define PCS_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t	min_ms;		/* floor, and the first step */
	uint32_t	max_ms;		/* ceiling */
	uint32_t	failures;	/* consecutive, since the last reset */
};

void		backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms);
/* Delay before the next attempt; counts one more failure. */
uint32_t	backoff_next(struct backoff *b, uint32_t rnd);
void		backoff_reset(struct backoff *b);
/* A random 32-bit number for backoff_next (not for cryptography). */
uint32_t	backoff_random(void);

#endif
