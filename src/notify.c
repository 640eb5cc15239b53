/*
 * notify: sd_notify(3) without libsystemd.  $NOTIFY_SOCKET is a path, or
 * an abstract socket name when it starts with '@'; each message is one
 * datagram of "KEY=value" lines.  $WATCHDOG_USEC (with $WATCHDOG_PID, when
 * set, naming this process) asks for "WATCHDOG=1" at least that often.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"

static struct sockaddr_un	 notify_addr;
static socklen_t		 notify_len;
static uint64_t			 watchdog_usec;

void
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	size_t len;
	char *end;
	unsigned long long v;

	notify_len = 0;
	watchdog_usec = 0;
	if (path != NULL && (path[0] == '/' || path[0] == '@') &&
	    (len = strlen(path)) < sizeof(notify_addr.sun_path)) {
		memset(&notify_addr, 0, sizeof(notify_addr));
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, path, len);
		if (path[0] == '@')
			notify_addr.sun_path[0] = '\0';
		notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len + (path[0] == '/'));
	}
	if (usec != NULL && (pid == NULL || strtol(pid, NULL, 10) == getpid())) {
		errno = 0;
		v = strtoull(usec, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0)
			watchdog_usec = v;
	}
	/* The consumers must not talk to systemd in the master's name. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int
notify_enabled(void)
{
	return notify_len != 0;
}

uint64_t
notify_watchdog_usec(void)
{
	return notify_len != 0 ? watchdog_usec : 0;
}

int
notify_send(const char *state)
{
	ssize_t n;
	int fd, saved;

	if (notify_len == 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	do
		n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		    (struct sockaddr *)&notify_addr, notify_len);
	while (n == -1 && errno == EINTR);
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(state) ? 0 : -1;
}
