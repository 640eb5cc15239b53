/*
 * master: the supervisor.  One libev loop that never blocks: it forks the
 * consumers, restarts them with backoff, reads their status channels,
 * serves /livez and /readyz, and handles TERM/INT (drain), HUP (reload)
 * and USR1 (reopen logs).
 */
#ifndef PCS_MASTER_H
#define PCS_MASTER_H

#include "config.h"

/* Exit statuses of the daemon as a whole. */
#define MASTER_EXIT_OK		0
#define MASTER_EXIT_FAILURE	1
#define MASTER_EXIT_CONFIG	78	/* EX_CONFIG: do not restart us */

/*
 * Run until told to stop.  Takes ownership of cfg (a reload replaces it).
 * config_path is what -c named (NULL: the default), read again on HUP.
 * Returns the process exit status.
 */
int	master_run(struct config *cfg, const char *config_path);

#endif
