/*
 * util: clocks, descriptor flags, EINTR-safe writes and the descriptor
 * sweep a freshly forked consumer does.  Every retry on EINTR in the
 * project lives here or next to a libev callback that tolerates it.
 *
 * Also the one copy of a foreign string for a log line (util_clean) and
 * the one redactor (util_redact): every module that quotes a value, a
 * message or an answer goes through them, so that no two modules disagree
 * on what reaches a log line.  And the one percent-encoder
 * (util_pct_encode), for the Edge API's paths and SigV4's canonical
 * requests alike.
 *
 * And the parse of a JSON answer (util_json_parse) and the read of a
 * string member: SQS' error answers and the credential sources'
 * (creds.c) are read the same way; SQS' receive and batch answers, on
 * the hot path, go through jdoc.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

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

uint64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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

	va_start(ap, fmt);
	util_vset_err(err, errlen, fmt, ap);
	va_end(ap);
}

void
util_vset_err(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
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

size_t
util_utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	if (cp != NULL)
		*cp = c;
	return len;
}

uint64_t
util_hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
	return h;
}

/*
 * One pass of util_clean: the text of s into dst, at most room bytes, no
 * NUL.  Returns the bytes written; *cut when s did not fit.
 */
static size_t
clean_text(char *dst, size_t room, const unsigned char *s, size_t len,
    int flags, int *cut)
{
	size_t i, n = 0, clen;
	uint32_t cp;
	int ctrl;

	*cut = 0;
	for (i = 0; i < len; i += clen) {
		if ((flags & UTIL_CLEAN_LINE) && (s[i] == '\n' || s[i] == '\r'))
			break;
		clen = 1;
		ctrl = 0;
		if (s[i] < 0x20 || s[i] == 0x7f)
			ctrl = 1;
		else if (s[i] >= 0x80) {
			if ((flags & UTIL_CLEAN_ASCII) ||
			    (clen = util_utf8_char(s + i, len - i, &cp)) == 0) {
				/* Not a character we show: one '?' a byte. */
				clen = 1;
				if (n + 1 > room)
					goto full;
				dst[n++] = '?';
				continue;
			}
			/* C1 controls and the Unicode line separators. */
			ctrl = cp <= 0x9f || cp == 0x2028 || cp == 0x2029;
		}
		if (ctrl && (flags & UTIL_CLEAN_SPACE)) {
			if (n == 0 || dst[n - 1] == ' ')
				continue;
			if (n + 1 > room)
				goto full;
			dst[n++] = ' ';
		} else if (ctrl) {
			if (n + 1 > room)
				goto full;
			dst[n++] = '?';
		} else {
			if (n + clen > room)
				goto full;
			memcpy(dst + n, s + i, clen);
			n += clen;
		}
	}
	goto out;
full:
	*cut = 1;
out:
	if (flags & UTIL_CLEAN_SPACE)
		while (n > 0 && dst[n - 1] == ' ')
			n--;
	return n;
}

int
util_clean(char *dst, size_t size, const char *src, size_t len, size_t max,
    int flags)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t q = (flags & UTIL_CLEAN_QUOTE) ? 2 : 0, avail, room, n;
	char *p;
	int cut;

	if (s == NULL)
		len = 0;
	if (size == 0)
		return len > 0;
	if (size - 1 < q) {
		dst[0] = '\0';
		return len > 0;
	}
	avail = size - 1 - q;
	room = max > 0 && max < avail ? max : avail;
	p = dst + q / 2;
	n = clean_text(p, room, s, len, flags, &cut);
	if (cut && (flags & UTIL_CLEAN_DOTS) && avail >= 3) {
		/* Make room for the dots when the text took it. */
		if (n + 3 > avail)
			n = clean_text(p, avail - 3, s, len, flags, &cut);
		memcpy(p + n, "...", 3);
		n += 3;
		cut = 1;
	}
	if (q > 0) {
		dst[0] = '\'';
		p[n++] = '\'';
	}
	p[n] = '\0';
	return cut;
}

static int
usable_secret(const char *secret, size_t *len)
{
	if (secret == NULL)
		return 0;
	*len = strlen(secret);
	return *len >= UTIL_SECRET_MIN;
}

/*
 * Put UTIL_REDACTED in place of buf[i, i + n), cutting the end of buf to
 * keep it within size (then *cut is set).  Returns where the replacement
 * ends.
 */
static size_t
replace(char *buf, size_t size, size_t *blen, size_t i, size_t n, int *cut)
{
	size_t rlen = sizeof(UTIL_REDACTED) - 1, max = size - 1, tail;

	tail = *blen - i - n;
	if (i + rlen > max) {
		memcpy(buf + i, UTIL_REDACTED, max - i);
		*blen = max;
		buf[max] = '\0';
		*cut = 1;
		return max;
	}
	if (i + rlen + tail > max) {
		tail = max - i - rlen;
		*cut = 1;
	}
	memmove(buf + i + rlen, buf + i + n, tail);
	memcpy(buf + i, UTIL_REDACTED, rlen);
	*blen = i + rlen + tail;
	buf[*blen] = '\0';
	return i + rlen;
}

static int
is_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

int
util_pct_encode(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_unreserved(p[i])) {
			if (*off + 1 >= len)
				return -1;
			buf[(*off)++] = (char)p[i];
		} else {
			if (*off + 3 >= len)
				return -1;
			buf[(*off)++] = '%';
			buf[(*off)++] = hex[p[i] >> 4];
			buf[(*off)++] = hex[p[i] & 0x0f];
		}
	}
	if (*off >= len)
		return -1;
	buf[*off] = '\0';
	return 0;
}

int
util_redact(char *buf, size_t size, const char *const *secrets,
    size_t nsecrets, int cut)
{
	size_t blen, i, k, slen, best, rest;
	int count = 0;

	if (buf == NULL || size == 0 || secrets == NULL)
		return 0;
	blen = strnlen(buf, size - 1);
	buf[blen] = '\0';
	for (i = 0; i < blen;) {
		/* The longest secret here, should one contain another. */
		best = 0;
		for (k = 0; k < nsecrets; k++)
			if (usable_secret(secrets[k], &slen) && slen > best &&
			    slen <= blen - i &&
			    memcmp(buf + i, secrets[k], slen) == 0)
				best = slen;
		if (best > 0) {
			i = replace(buf, size, &blen, i, best, &cut);
			count++;
			continue;
		}
		/* A cut text may end in the first bytes of a secret. */
		rest = blen - i;
		for (k = 0; cut && k < nsecrets; k++) {
			if (usable_secret(secrets[k], &slen) && slen > rest &&
			    memcmp(buf + i, secrets[k], rest) == 0) {
				(void)replace(buf, size, &blen, i, rest, &cut);
				return count + 1;
			}
		}
		i++;
	}
	return count;
}

struct json_object *
util_json_parse(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error je;
	size_t end;

	if (body == NULL || len == 0) {
		util_set_err(err, errlen, "empty answer");
		return NULL;
	}
	if (len > INT_MAX) {
		util_set_err(err, errlen, "answer too large");
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL) {
		util_set_err(err, errlen, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)len);
	je = json_tokener_get_error(tok);
#if JSON_C_VERSION_NUM >= ((0 << 16) | (15 << 8))
	end = json_tokener_get_parse_end(tok);
#else
	end = (size_t)tok->char_offset;
#endif
	json_tokener_free(tok);
	if (o == NULL || je != json_tokener_success) {
		json_object_put(o);
		util_set_err(err, errlen, "malformed JSON: %s",
		    je == json_tokener_continue ? "unexpected end" :
		    json_tokener_error_desc(je));
		return NULL;
	}
	for (; end < len; end++) {
		if (!isspace((unsigned char)body[end])) {
			json_object_put(o);
			util_set_err(err, errlen, "malformed JSON: data after the "
			    "value");
			return NULL;
		}
	}
	return o;
}

int
util_json_string(struct json_object *obj, const char *key, const char **out,
    size_t *lenp)
{
	struct json_object *v;

	*out = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	if (lenp != NULL)
		*lenp = (size_t)json_object_get_string_len(v);
	return 1;
}
