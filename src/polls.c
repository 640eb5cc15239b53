/*
 * polls: the number of long polls a consumer keeps in flight, adapted to
 * the backlog.  An idle queue costs one long poll per consumer (one
 * request per wait_time); a backlog gets up to receives_in_flight.
 *
 * Why more than one: by Little's law a consumer's rate is
 * polls in flight x batch_size / the time a poll takes.  On loopback a
 * receive takes about 13 ms, so the 10 000 msg/s a consumer can drain
 * take 13 polls; 20 ms of round trip to SQS makes it about 33 ms, and
 * the same rate would need 33.  Fewer leave the consumer waiting on the
 * network; past what its CPU can drain, more only add messages in hand.
 *
 * The rule, applied as each receive comes back (a round of polls answers
 * together, so these are per-poll steps of a per-round change):
 * - a full batch (batch_size messages): the queue has more; one more poll,
 *   up to the ceiling, and up to one more than were in flight (when the
 *   in-hand limit or an outage kept fewer going, a larger target would
 *   only mean more polls later, not faster ones).  A round of full batches
 *   doubles the polls: from 1 to 16 in four round trips, as TCP's slow
 *   start;
 * - half a batch or more: about right; unchanged;
 * - less than half (empty included): one poll fewer, at least one.  A
 *   round of empty answers brings the target to 1 without a poll more:
 *   each answer lowers the target as it lowers the polls in flight, so no
 *   new one starts until a single one is left;
 * - a failure: back to 1 (all polls fail alike; the backoff takes over,
 *   and a recovered queue grows back in a few round trips).
 */
#include "autoconf.h"

#include "polls.h"

void
polls_init(struct polls *p, int ceiling, int batch)
{
	p->ceiling = ceiling > 0 ? ceiling : 1;
	p->batch = batch > 0 ? batch : 1;
	p->target = 1;
}

int
polls_received(struct polls *p, size_t n, int in_flight)
{
	int base;

	if (n >= (size_t)p->batch) {
		base = in_flight > 0 && in_flight < p->target ? in_flight :
		    p->target;
		if (base < p->ceiling)
			p->target = base + 1;
	} else if (n * 2 < (size_t)p->batch && p->target > 1)
		p->target--;
	if (p->target > p->ceiling)
		p->target = p->ceiling;
	return p->target;
}

int
polls_failed(struct polls *p)
{
	p->target = 1;
	return p->target;
}
