/*
 * polls: how many ReceiveMessage long polls a consumer keeps in flight.
 * Pure: the consumer tells it what each receive brought, it answers with
 * the number of polls to keep going, between 1 and receives_in_flight.
 */
#ifndef PCS_POLLS_H
#define PCS_POLLS_H

#include <stddef.h>

struct polls {
	int	target;		/* polls to keep in flight, 1..ceiling */
	int	ceiling;	/* receives_in_flight */
	int	batch;		/* batch_size: what a full batch holds */
};

/* Start at one poll (an idle queue's cost), for these settings. */
void	polls_init(struct polls *p, int ceiling, int batch);
/*
 * A receive came back with n messages; in_flight is the number of polls
 * that were in flight when it did, itself included.  Returns the target.
 */
int	polls_received(struct polls *p, size_t n, int in_flight);
/* A receive failed: back to one poll; returns the target. */
int	polls_failed(struct polls *p);

#endif
