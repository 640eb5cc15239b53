/*
 * util: the few helpers every module needs: clocks, file descriptor
 * flags, EINTR-safe I/O, the copy of a foreign string for a log line,
 * the redaction of secrets, and the bookkeeping of an object freed from
 * one of its own callbacks.  Kept here so that each is done one way.
 */
#ifndef PCS_UTIL_H
#define PCS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Wall clock, epoch milliseconds: for timestamps reported to humans. */
uint64_t	util_now_ms(void);
/* Monotonic clock, milliseconds: for every interval and deadline. */
uint64_t	util_mono_ms(void);
/* The same in microseconds: for the latency histograms. */
uint64_t	util_mono_us(void);

int	util_set_nonblock(int fd);
int	util_set_cloexec(int fd);

/* write(2) all of buf, retrying on EINTR and short writes: 0 or -1. */
int	util_write_all(int fd, const void *buf, size_t len);

/* Close every descriptor >= 3 except the nkeep listed in keep. */
void	util_close_fds_except(const int *keep, size_t nkeep);

/*
 * Format one error line into the caller's buffer (the pure modules' way of
 * reporting); nothing when err is NULL or errlen 0.
 */
void	util_set_err(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The same, for a caller with its own variadic arguments. */
void	util_vset_err(char *err, size_t errlen, const char *fmt, va_list ap)
	    __attribute__((format(printf, 3, 0)));

/* Describe a wait(2) status: "exited with status 3", "killed by signal 9 (Killed)". */
void	util_wait_status(int status, char *buf, size_t len);

/*
 * A string from outside (a config value, an SQS or Edge API message, a
 * message id) copied for a log line: flags of util_clean.
 */
#define UTIL_CLEAN_QUOTE	0x01	/* in single quotes */
#define UTIL_CLEAN_DOTS		0x02	/* "..." when cut (inside the quotes) */
#define UTIL_CLEAN_ASCII	0x04	/* every non-ASCII byte as '?' */
#define UTIL_CLEAN_SPACE	0x08	/* control characters as a space */
#define UTIL_CLEAN_LINE		0x10	/* the first line only */

/*
 * Copy len bytes of src (NUL bytes included) into dst, of size bytes, for
 * one log line: at most max bytes of the text (0: as many as fit), cut on
 * a UTF-8 character boundary, always NUL-terminated.  Printable ASCII is
 * kept; valid UTF-8 too, unless UTIL_CLEAN_ASCII; a control character
 * (C0, DEL, C1) and a byte of invalid UTF-8 become '?'.  With
 * UTIL_CLEAN_SPACE a control character becomes a space instead, none at
 * the start, none after a space, and the copy ends on no space.  With
 * UTIL_CLEAN_LINE the copy stops at the first CR or LF.  Returns 1 when
 * the text was cut (by max or by size; not by UTIL_CLEAN_LINE), else 0.
 */
int	util_clean(char *dst, size_t size, const char *src, size_t len,
	    size_t max, int flags);

/*
 * The length of the valid UTF-8 character at s (of n bytes), and its code
 * point in *cp unless NULL; 0 for an invalid sequence (RFC 3629: no
 * overlong form, no surrogate, nothing beyond U+10FFFF, none cut short).
 * The one check of UTF-8: log lines, JSON escapes, jdoc's strings.
 */
size_t	util_utf8_char(const unsigned char *s, size_t n, uint32_t *cp);

/* FNV-1a of the len bytes at s: for the open-addressing tables. */
uint64_t util_hash(const char *s, size_t len);

/*
 * Append the n bytes at s percent-encoded (RFC 3986, as AWS SigV4 wants
 * it: every byte but the unreserved A-Z a-z 0-9 - . _ ~ as %XX, hex in
 * uppercase) at buf[*off], buf being len bytes, and NUL-terminate; -1
 * when it does not fit.
 */
int	util_pct_encode(char *buf, size_t len, size_t *off, const char *s,
	    size_t n);

struct json_object;

/*
 * Parse exactly text[0..len) as one JSON value, white space after it
 * allowed (an AWS error answer, a credential source's, a
 * credential_process' output).  NULL with err
 * ("empty answer", "malformed JSON: ...") otherwise; json_object_put
 * the result.
 */
struct json_object *util_json_parse(const char *text, size_t len, char *err,
	    size_t errlen);
/*
 * obj's member key as a string in *out (and its length in *lenp unless
 * NULL), valid as long as obj: 1 when it is a string, 0 when absent or
 * null (*out NULL), -1 when of another type.
 */
int	util_json_string(struct json_object *obj, const char *key,
	    const char **out, size_t *lenp);

#define UTIL_REDACTED		"[redacted]"
/* Shorter secrets are not redacted: they would match everywhere. */
#define UTIL_SECRET_MIN		4

/*
 * Replace, in the string buf (in a buffer of size bytes), every
 * occurrence of each of the nsecrets secrets (NULL or shorter than
 * UTIL_SECRET_MIN: skipped) by UTIL_REDACTED, cutting what no longer
 * fits.  cut says buf holds only the start of a longer text: then the
 * end of buf, when it is the start of a secret, is redacted too.  Returns
 * the number of replacements.
 */
int	util_redact(char *buf, size_t size, const char *const *secrets,
	    size_t nsecrets, int cut);

/*
 * An object whose callbacks may free it (httpc, sqs, edge): the free
 * that a callback asks for is done by the loop that ran the callback,
 * once the last running callback has returned.
 *
 *	util_enter(&o->re); o->fn(...); if (util_leave(&o->re)) destroy(o);
 *
 * and in the object's free function, after cancelling what it owns:
 *
 *	if (util_release(&o->re)) destroy(o);
 */
struct util_reentry {
	int	busy;		/* callbacks running */
	int	dying;		/* the object was freed */
};

static inline void
util_enter(struct util_reentry *r)
{
	r->busy++;
}

/* After a callback: 1 when the object was freed meanwhile and goes now. */
static inline int
util_leave(struct util_reentry *r)
{
	return --r->busy == 0 && r->dying;
}

/* The object's free: 1 when it goes now, 0 when util_leave will say so. */
static inline int
util_release(struct util_reentry *r)
{
	r->dying = 1;
	return r->busy == 0;
}

/* Whether the object was freed (and only waits for its callbacks). */
static inline int
util_dying(const struct util_reentry *r)
{
	return r->dying;
}

#endif
