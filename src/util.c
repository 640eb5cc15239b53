/*
 * util: clocks, descriptor flags, EINTR-safe writes and the descriptor
 * sweep a freshly forked consumer does.  Every retry on EINTR in the
 * project lives here or next to a libev callback that tolerates it.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
util_set_nonblock(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int
util_set_cloexec(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return -1;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

int
util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
kept(int fd, const int *keep, size_t nkeep)
{
	size_t i;

	for (i = 0; i < nkeep; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

void
util_close_fds_except(const int *keep, size_t nkeep)
{
	DIR *d;
	struct dirent *de;
	int fd, dfd, fds[1024];
	size_t n = 0, i;
	long max;

	/*
	 * Collect first, close after: closing while reading /proc/self/fd
	 * would close the directory's own descriptor under readdir.
	 */
	if ((d = opendir("/proc/self/fd")) != NULL) {
		dfd = dirfd(d);
		while ((de = readdir(d)) != NULL && n < sizeof(fds) / sizeof(fds[0])) {
			fd = atoi(de->d_name);
			if (fd >= 3 && fd != dfd && !kept(fd, keep, nkeep))
				fds[n++] = fd;
		}
		closedir(d);
		if (n < sizeof(fds) / sizeof(fds[0])) {
			for (i = 0; i < n; i++)
				close(fds[i]);
			return;
		}
	}
	/* No /proc, or too many: sweep the whole range. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		if (!kept(fd, keep, nkeep))
			close(fd);
}

void
util_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void
util_wait_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "stopped with wait status %#x", status);
}
