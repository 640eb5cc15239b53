/*
 * log: one line per event to stderr (or a file, reopened on SIGUSR1), with
 * a "<N>" syslog priority prefix when stderr goes to the journal.  Every
 * line names the process ("master", "consumer 3").  As text (the default)
 * or, with log_format json, one JSON object a line.  A warning or error
 * repeated within LOG_REPEAT_WINDOW_MS is written once, then counted.
 */
#ifndef PCS_LOG_H
#define PCS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

void	log_init(const char *procname, enum config_log_level level);
/* A new name is a new process (a forked consumer): its counts start afresh. */
void	log_set_procname(const char *procname);
void	log_set_level(enum config_log_level level);
void	log_set_format(enum config_log_format format);
/* Use path (NULL: stderr) from now on; returns -1 with errno if it cannot be opened. */
int	log_open(const char *path);
/* Reopen the file in use (after the pending repeat counts are written). */
int	log_reopen(void);
int	log_fd(void);
/* The log file in use, NULL for stderr. */
const char *log_path(void);
/* Write the repeat counts pending: before the process exits. */
void	log_flush(void);

void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A line that answers an operator's action (the outcome of a reload, of
 * a log reopen): never collapsed however soon it repeats, since each one
 * is the news the operator is waiting for (log_level still applies).
 */
void	log_always(enum config_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * What a line about one message names, each NULL or "" when unknown: the
 * SQS message id, and Stigg's messageId, traceId and event type.  As
 * text the line starts "message <sqs id> (event <messageId>, trace
 * <traceId>): "; in JSON they are the members sqs_message_id,
 * message_id, trace_id and event.  Such a line is never collapsed: each
 * message's fate stays visible.
 */
struct log_ids {
	const char	*sqs_message_id;
	const char	*message_id;
	const char	*trace_id;
	const char	*event;
};

void	log_msg(enum config_log_level level, const struct log_ids *ids,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- the pure parts, for the unit tests --- */

/*
 * Append the len bytes of s to buf (size bytes, *off used) as the inside
 * of a JSON string: '"', '\' and control characters escaped, valid UTF-8
 * kept, each byte of invalid UTF-8 as \ufffd.  An escape or character
 * that does not fit is left out with all after it: returns 1 when s was
 * cut so, else 0.  buf stays NUL-terminated (size > 0).
 */
int	log_json_escape(char *buf, size_t size, size_t *off, const char *s,
	    size_t len);

/*
 * Collapsing: the same warning or error (same level, format string and
 * text) of one process within the window is written the first time only;
 * the others are counted, and once the window is over (seen at the next
 * line, or at log_flush) one line says "<the line> (repeated N times in
 * 10s)", N being the lines not written.
 */
#define LOG_REPEAT_WINDOW_MS	10000
#define LOG_REPEAT_SLOTS	32	/* distinct lines followed at once */
#define LOG_TEXT_MAX		2048	/* a longer message is cut */

struct log_repeat {
	uint64_t	 key;		/* 0: free */
	uint64_t	 since_ms;	/* the window's start (monotonic) */
	unsigned	 count;		/* lines not written */
	int		 level;
	char		 text[LOG_TEXT_MAX]; /* the last one not written */
};

struct log_repeats {
	struct log_repeat slot[LOG_REPEAT_SLOTS];
};

/* The key of a line (never 0): its level, format and text. */
uint64_t log_repeat_key(int level, const char *fmt, const char *text);
/* 1: write this line; 0: it repeats one written within the window (counted). */
int	log_repeat_admit(struct log_repeats *r, uint64_t key, int level,
	    const char *text, uint64_t now_ms);
/*
 * The next summary due at now_ms (all: every one pending, windows over or
 * not) in buf, its level in *level, its slot freed: 1, or 0 when none is
 * due.  Call until 0.
 */
int	log_repeat_due(struct log_repeats *r, uint64_t now_ms, int all,
	    int *level, char *buf, size_t size);

#endif
