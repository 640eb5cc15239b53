/*
 * notify: the systemd notification protocol (sd_notify(3)), spoken
 * directly: one datagram per state change to the socket $NOTIFY_SOCKET
 * names.  Implemented here rather than linking libsystemd: the protocol
 * is small and documented as stable, and the daemon then builds and runs
 * the same on hosts without systemd, where every call is a no-op.
 */
#ifndef PCS_NOTIFY_H
#define PCS_NOTIFY_H

#include <stdint.h>

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC; unset both so children don't see them. */
void		notify_init(void);
/* Send "state" (e.g. "READY=1\nSTATUS=..."): 0, or -1 (not under systemd, or an error). */
int		notify_send(const char *state);
/* The watchdog interval in microseconds, 0 when there is none. */
uint64_t	notify_watchdog_usec(void);
int		notify_enabled(void);

#endif
