/*
 * log: one line per event, written with a single write(2) so lines from
 * the master and its consumers never interleave.  Under systemd (stderr
 * connected to the journal, as JOURNAL_STREAM says) each line carries a
 * "<N>" syslog priority prefix and no timestamp, which journald adds; on a
 * terminal or in a file each line starts with an ISO-8601 UTC time.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOG_LINE_MAX	2048	/* a longer message is cut, never split */

static char			 log_proc[32] = "master";
static enum config_log_level	 log_level = CONFIG_LOG_INFO;
static int			 log_fd_cur = STDERR_FILENO;
static char			*log_file;
static int			 log_journal;	/* stderr is the journal */

/* syslog(3) priorities, for the journal's "<N>" prefix. */
static const int log_prio[] = { 3, 4, 6, 7 };
static const char *const log_names[] = { "error", "warn", "info", "debug" };

static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *procname, enum config_log_level level)
{
	log_set_procname(procname);
	log_level = level;
	log_journal = stderr_is_journal();
}

void
log_set_procname(const char *procname)
{
	snprintf(log_proc, sizeof(log_proc), "%s", procname);
}

void
log_set_level(enum config_log_level level)
{
	log_level = level;
}

int
log_fd(void)
{
	return log_fd_cur;
}

const char *
log_path(void)
{
	return log_file;
}

static int
open_file(const char *path)
{
	int fd;

	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	while (fd == -1 && errno == EINTR);
	return fd;
}

int
log_open(const char *path)
{
	int fd;
	char *copy = NULL;

	if (path == NULL) {
		if (log_fd_cur != STDERR_FILENO)
			close(log_fd_cur);
		log_fd_cur = STDERR_FILENO;
		free(log_file);
		log_file = NULL;
		return 0;
	}
	if ((copy = strdup(path)) == NULL)
		return -1;
	if ((fd = open_file(path)) == -1) {
		free(copy);
		return -1;
	}
	if (log_fd_cur != STDERR_FILENO)
		close(log_fd_cur);
	log_fd_cur = fd;
	free(log_file);
	log_file = copy;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (log_file == NULL)
		return 0;
	if ((fd = open_file(log_file)) == -1)
		return -1;
	/* Keep the descriptor number: a forked consumer may hold it. */
	if (dup3(fd, log_fd_cur, O_CLOEXEC) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void
log_emit(enum config_log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n = 0;
	int r;
	struct timespec ts;
	struct tm tm;

	if (level > log_level)
		return;
	if (log_journal && log_fd_cur == STDERR_FILENO) {
		r = snprintf(line, sizeof(line), "<%d>%s: ", log_prio[level],
		    log_proc);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s[%ld]: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    log_names[level], log_proc, (long)getpid());
	}
	if (r > 0)
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	/* One event, one line: fold any newline a message carried. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	(void)util_write_all(log_fd_cur, line, n);
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_emit(level, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_error, CONFIG_LOG_ERROR)
LOG_FN(log_warn, CONFIG_LOG_WARN)
LOG_FN(log_info, CONFIG_LOG_INFO)
LOG_FN(log_debug, CONFIG_LOG_DEBUG)
