/*
 * log: one line per event, written with a single write(2) so lines from
 * the master and its consumers never interleave.  Under systemd (stderr
 * connected to the journal, as JOURNAL_STREAM says) each line carries a
 * "<N>" syslog priority prefix and no timestamp, which journald adds; on a
 * terminal or in a file each line starts with an ISO-8601 UTC time.
 *
 * With log_format json a line is one JSON object (time, level, process,
 * pid, msg, and the ids of the message it is about), valid whatever the
 * text holds; under the journal it follows the "<N>" prefix, which
 * journald takes off, so the journal's MESSAGE is the object alone.
 *
 * A warning or error that repeats (same level, format and text) within
 * LOG_REPEAT_WINDOW_MS is written once and then counted, as rsyslog's
 * "message repeated N times": a flood makes one line and a count every
 * 10 s, not one line per try.  The text must be the same, not only the
 * format: a line that differs (another pid, another reason, another
 * delay) says something new, and the count line's text is then true of
 * every line it counts.  Lines that answer an operator's action
 * (log_always: a reload's outcome) are never collapsed.  The module has
 * no timer: a count is written by the first line after its window, or by
 * log_flush (at exit) and log_reopen.  Lines about a message (log_msg) are
 * never collapsed, and neither are info and debug lines.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* A line: the prefix, the message's ids and LOG_TEXT_MAX of text. */
#define LOG_LINE_MAX	4096
/*
 * A JSON line: LOG_TEXT_MAX bytes of text, each at most 6 bytes escaped
 * (\u00XX), four ids of LOG_ID_MAX bytes alike, and the rest: the
 * longest line fits, so none is left unterminated.
 */
#define LOG_ID_MAX	128
#define LOG_JSON_MAX	(6 * (LOG_TEXT_MAX + 4 * LOG_ID_MAX) + 512)

static char			 log_proc[32] = "master";
static enum config_log_level	 log_level = CONFIG_LOG_INFO;
static int			 log_fd_cur = STDERR_FILENO;
static char			*log_file;
static int			 log_journal;	/* stderr is the journal */
static enum config_log_format	 log_format = CONFIG_LOG_TEXT;
static struct log_repeats	 log_reps;

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
	/* A forked child's copy of its parent's counts is not its own. */
	memset(&log_reps, 0, sizeof(log_reps));
}

void
log_set_format(enum config_log_format format)
{
	log_format = format;
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
	/* The counts go after their lines, in the file being rotated. */
	log_flush();
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

/* --- JSON --- */

int
log_json_escape(char *buf, size_t size, size_t *off, const char *s,
    size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[8];
	const char *piece;
	size_t i = 0, n;

	if (size == 0)
		return len > 0;
	if (*off >= size)
		*off = size - 1;
	while (i < len) {
		piece = esc;
		n = 1;
		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			esc[2] = '\0';
		} else if (u[i] == '\n')
			memcpy(esc, "\\n", 3);
		else if (u[i] == '\r')
			memcpy(esc, "\\r", 3);
		else if (u[i] == '\t')
			memcpy(esc, "\\t", 3);
		else if (u[i] < 0x20 || u[i] == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
		else if (u[i] < 0x80) {
			esc[0] = (char)u[i];
			esc[1] = '\0';
		} else if ((n = util_utf8_char(u + i, len - i, NULL)) == 0) {
			piece = "\\ufffd";
			n = 1;
		} else if (n == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0)
			/* C1 controls: valid JSON, but not for a terminal. */
			snprintf(esc, sizeof(esc), "\\u%04x", u[i + 1]);
		else
			piece = NULL;
		if (piece == NULL) {
			if (size - *off <= n)
				break;
			memcpy(buf + *off, s + i, n);
			*off += n;
		} else {
			size_t plen = strlen(piece);

			if (size - *off <= plen)
				break;
			memcpy(buf + *off, piece, plen);
			*off += plen;
		}
		i += n;
	}
	buf[*off] = '\0';
	return i < len;
}

/* Append raw text (the JSON syntax around the values); 1 when cut. */
static int
append(char *buf, size_t size, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
append(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*off >= size)
		return 1;
	va_start(ap, fmt);
	r = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (r < 0)
		return 1;
	if ((size_t)r >= size - *off) {
		*off = size - 1;
		return 1;
	}
	*off += (size_t)r;
	return 0;
}

/* ,"name":"value" when value is known, the value at most LOG_ID_MAX bytes. */
static void
json_member(char *buf, size_t size, size_t *off, const char *name,
    const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	(void)append(buf, size, off, ",\"%s\":\"", name);
	(void)log_json_escape(buf, size, off, value, strnlen(value,
	    LOG_ID_MAX));
	(void)append(buf, size, off, "\"");
}

/* --- collapsing --- */

uint64_t
log_repeat_key(int level, const char *fmt, const char *text)
{
	/* FNV-1a, 64 bits: 32 lines followed, a collision is no worry. */
	uint64_t h = UINT64_C(14695981039346656037);
	const uint64_t prime = UINT64_C(1099511628211);

	h = (h ^ (unsigned char)level) * prime;
	for (; *fmt != '\0'; fmt++)
		h = (h ^ (unsigned char)*fmt) * prime;
	h = (h ^ 0xff) * prime;
	for (; *text != '\0'; text++)
		h = (h ^ (unsigned char)*text) * prime;
	return h != 0 ? h : 1;
}

int
log_repeat_admit(struct log_repeats *r, uint64_t key, int level,
    const char *text, uint64_t now_ms)
{
	struct log_repeat *s, *spare = NULL;
	size_t i;

	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		s = &r->slot[i];
		if (s->key == key) {
			if (now_ms - s->since_ms < LOG_REPEAT_WINDOW_MS) {
				s->count++;
				snprintf(s->text, sizeof(s->text), "%s", text);
				return 0;
			}
			/* A new window; log_repeat_due wrote the old count. */
			s->since_ms = now_ms;
			s->count = 0;
			return 1;
		}
		if (spare == NULL && (s->key == 0 || (s->count == 0 &&
		    now_ms - s->since_ms >= LOG_REPEAT_WINDOW_MS)))
			spare = s;
	}
	/* Every slot busy: written, not followed (nothing is lost). */
	if (spare != NULL) {
		spare->key = key;
		spare->since_ms = now_ms;
		spare->count = 0;
		spare->level = level;
		spare->text[0] = '\0';
	}
	return 1;
}

int
log_repeat_due(struct log_repeats *r, uint64_t now_ms, int all, int *level,
    char *buf, size_t size)
{
	struct log_repeat *s;
	uint64_t secs;
	size_t i;
	int over, room;

	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		s = &r->slot[i];
		if (s->key == 0)
			continue;
		over = now_ms - s->since_ms >= LOG_REPEAT_WINDOW_MS;
		if (!over && !all)
			continue;
		s->key = 0;
		if (s->count == 0)
			continue;
		/* The time the repeats took: the window, or less at exit. */
		secs = over ? LOG_REPEAT_WINDOW_MS / 1000 :
		    (now_ms - s->since_ms + 999) / 1000;
		if (secs == 0)
			secs = 1;
		/* Room for the count however long the text. */
		room = size > 64 ? (int)(size - 64) : 0;
		snprintf(buf, size, "%.*s (repeated %u time%s in %llus)", room,
		    s->text, s->count, s->count == 1 ? "" : "s",
		    (unsigned long long)secs);
		*level = s->level;
		return 1;
	}
	return 0;
}

/* --- lines --- */

static void
write_text(enum config_log_level level, const struct log_ids *ids,
    const char *text)
{
	static char line[LOG_LINE_MAX];
	size_t n = 0;
	struct timespec ts;
	struct tm tm;

	if (log_journal && log_fd_cur == STDERR_FILENO)
		(void)append(line, sizeof(line) - 1, &n, "<%d>%s: ",
		    log_prio[level], log_proc);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		(void)append(line, sizeof(line) - 1, &n,
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s[%ld]: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    log_names[level], log_proc, (long)getpid());
	}
	if (ids != NULL) {
		int mid = ids->message_id != NULL && *ids->message_id != '\0';
		int tid = ids->trace_id != NULL && *ids->trace_id != '\0';

		(void)append(line, sizeof(line) - 1, &n, "message %.*s",
		    LOG_ID_MAX, ids->sqs_message_id != NULL &&
		    *ids->sqs_message_id != '\0' ? ids->sqs_message_id : "?");
		if (mid || tid)
			(void)append(line, sizeof(line) - 1, &n,
			    " (%s%.*s%s%s%.*s)", mid ? "event " : "",
			    LOG_ID_MAX, mid ? ids->message_id : "",
			    mid && tid ? ", " : "", tid ? "trace " : "",
			    LOG_ID_MAX, tid ? ids->trace_id : "");
		(void)append(line, sizeof(line) - 1, &n, ": ");
	}
	(void)append(line, sizeof(line) - 1, &n, "%s", text);
	/* One event, one line: fold any newline an id or text carried. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	(void)util_write_all(log_fd_cur, line, n);
}

static void
write_json(enum config_log_level level, const struct log_ids *ids,
    const char *text)
{
	static char line[LOG_JSON_MAX];
	/* Room kept for the end of the object, whatever was cut. */
	const size_t size = sizeof(line) - 2;
	size_t n = 0;
	struct timespec ts;
	struct tm tm;

	if (log_journal && log_fd_cur == STDERR_FILENO)
		(void)append(line, size, &n, "<%d>", log_prio[level]);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	(void)append(line, size, &n, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:"
	    "%02d.%03ldZ\",\"level\":\"%s\",\"process\":\"", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000, log_names[level]);
	(void)log_json_escape(line, size, &n, log_proc, strlen(log_proc));
	(void)append(line, size, &n, "\",\"pid\":%ld,\"msg\":\"",
	    (long)getpid());
	/* The ids' room is kept: a long text is cut first. */
	(void)log_json_escape(line, size - 6 * 4 * LOG_ID_MAX - 128, &n, text,
	    strlen(text));
	(void)append(line, size, &n, "\"");
	if (ids != NULL) {
		json_member(line, size, &n, "sqs_message_id",
		    ids->sqs_message_id);
		json_member(line, size, &n, "message_id", ids->message_id);
		json_member(line, size, &n, "trace_id", ids->trace_id);
		json_member(line, size, &n, "event", ids->event);
	}
	/* LOG_JSON_MAX holds the longest line: nothing above was cut. */
	line[n++] = '}';
	line[n++] = '\n';
	(void)util_write_all(log_fd_cur, line, n);
}

static void
write_line(enum config_log_level level, const struct log_ids *ids,
    const char *text)
{
	if (log_format == CONFIG_LOG_JSON)
		write_json(level, ids, text);
	else
		write_text(level, ids, text);
}

/* Write the counts whose window is over at now (all: every one). */
static void
flush_repeats(uint64_t now, int all)
{
	static char text[LOG_TEXT_MAX];
	int level;

	while (log_repeat_due(&log_reps, now, all, &level, text, sizeof(text)))
		if ((enum config_log_level)level <= log_level)
			write_line((enum config_log_level)level, NULL, text);
}

void
log_flush(void)
{
	flush_repeats(util_mono_ms(), 1);
}

/* collapse: a warning or error may be counted instead of written. */
static void
log_emit(enum config_log_level level, const struct log_ids *ids,
    int collapse, const char *fmt, va_list ap)
{
	static char text[LOG_TEXT_MAX];
	uint64_t now = util_mono_ms();
	size_t i;

	flush_repeats(now, 0);
	if (level > log_level)
		return;
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	for (i = 0; text[i] != '\0'; i++)
		if (text[i] == '\n' || text[i] == '\r')
			text[i] = ' ';
	if (collapse && level <= CONFIG_LOG_WARN &&
	    !log_repeat_admit(&log_reps, log_repeat_key((int)level, fmt, text),
	    (int)level, text, now))
		return;
	write_line(level, ids, text);
}

void
log_msg(enum config_log_level level, const struct log_ids *ids,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, ids, ids == NULL, fmt, ap);
	va_end(ap);
}

void
log_always(enum config_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, NULL, 0, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_emit(level, NULL, 1, fmt, ap);			\
	va_end(ap);						\
}

LOG_FN(log_error, CONFIG_LOG_ERROR)
LOG_FN(log_warn, CONFIG_LOG_WARN)
LOG_FN(log_info, CONFIG_LOG_INFO)
LOG_FN(log_debug, CONFIG_LOG_DEBUG)
