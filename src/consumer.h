/*
 * consumer: one forked worker process.  It runs its own libev loop, keeps
 * its Redis connection healthy, and reports to the master over its status
 * channel: hello at start, ready / not-ready on every change, and a
 * heartbeat with counters every second.
 */
#ifndef PCS_CONSUMER_H
#define PCS_CONSUMER_H

#include "config.h"

/* Exit statuses a consumer uses; the master acts on them. */
#define CONSUMER_EXIT_OK	0	/* stopped when asked */
#define CONSUMER_EXIT_FAILURE	1	/* crashed or gave up: restart */
#define CONSUMER_EXIT_CONFIG	78	/* EX_CONFIG: do not restart */

#define CONSUMER_HEARTBEAT_SECS	1.0

/* Run consumer number slot on channel fd; never returns. */
void	consumer_main(const struct config *cfg, int slot, int fd)
	    __attribute__((noreturn));

#endif
