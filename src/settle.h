/*
 * settle: what a consumer tells SQS about the messages it holds.  Deletes
 * and visibility changes are gathered into batches of up to ten and sent
 * at the end of each loop iteration; a batch that fails for a reason that
 * passes (throttling, 5xx, the network) is sent again with backoff, a few
 * times, before its messages are given up to redelivery.  And a heartbeat
 * keeps every message in hand invisible: whatever the consumer is doing
 * with it (a slow Edge API answer, a write waiting for Redis to come
 * back), its visibility is extended before it runs out, so no other
 * consumer receives it meanwhile.
 */
#ifndef PCS_SETTLE_H
#define PCS_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct ev_loop;
struct sqs;
struct settle;
struct settle_lease;

/* Called after each batch completes (the consumer checks whether to exit). */
typedef void	(*settle_idle_fn)(void *arg);

/*
 * Settle on sqs, for messages received with visibility_timeout seconds
 * (1..SQS_MAX_VISIBILITY).  NULL when out of memory.
 */
struct settle	*settle_new(struct ev_loop *loop, struct sqs *sqs,
		    int visibility_timeout, settle_idle_fn idle, void *arg);
/*
 * Count each entry of the batches into mc: deletes and visibility
 * changes (releases and the heartbeat's extensions) as ok, retried (it
 * failed and goes again) or failed (given up).  mc NULL: no counting.
 */
void		 settle_set_counters(struct settle *s,
		    struct metrics_counters *mc);
/* Cancel the batches in flight and free every lease; before sqs_free. */
void		 settle_free(struct settle *s);

/*
 * A message just received: its heartbeat starts.  Takes receipt (malloc'd)
 * and copies id (the SQS message id, for logs).  NULL when out of memory
 * (receipt is freed: the message comes back after its visibility timeout).
 */
struct settle_lease *settle_track(struct settle *s, char *receipt,
		    const char *id);
/*
 * Done with the message: delete it (visibility < 0) or make it visible
 * again in visibility seconds.  The heartbeat stops; the lease is the
 * module's until the batch carrying it completes.
 */
void		 settle_done(struct settle_lease *l, int visibility);

/* Leases settled but not yet answered by SQS (queued, in flight, retried). */
size_t		 settle_busy(const struct settle *s);
/* Failed calls and entries, for the consumer's counters. */
uint64_t	 settle_errors(const struct settle *s);

/*
 * Pure: whether a lease whose visibility ends at expires_ms (monotonic)
 * needs extending at now_ms: less than a third of visibility_timeout left.
 */
int		 settle_due(uint64_t expires_ms, uint64_t now_ms,
		    int visibility_timeout);

#endif
