/*
 * jw: JSON written straight into a growing buffer (see jw.h).
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jw.h"

int
jw_grow(struct jw *w, size_t n)
{
	size_t cap;
	char *s;

	if (w->nomem)
		return -1;
	if (w->cap - w->len > n)
		return 0;
	cap = w->cap == 0 ? 128 : w->cap;
	while (cap - w->len <= n) {
		if (cap > SIZE_MAX / 2) {
			w->nomem = 1;
			return -1;
		}
		cap *= 2;
	}
	if ((s = realloc(w->s, cap)) == NULL) {
		w->nomem = 1;
		return -1;
	}
	w->s = s;
	w->cap = cap;
	return 0;
}

void
jw_str(struct jw *w, const char *s, size_t n, int upper)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i;
	char *o;

	/* At worst six bytes out for one in, and the quotes. */
	if (n > (SIZE_MAX - 2) / 6) {
		w->nomem = 1;
		return;
	}
	if (jw_room(w, n * 6 + 2) == -1)
		return;
	o = w->s + w->len;
	*o++ = '"';
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = upper && c >= 'a' && c <= 'z' ?
			    (char)(c - 'a' + 'A') : (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '\b':
			*o++ = 'b';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
			break;
		}
	}
	*o++ = '"';
	w->len = (size_t)(o - w->s);
}

void
jw_int(struct jw *w, int64_t v)
{
	char buf[24], *o = buf + sizeof(buf);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--o = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--o = '-';
	jw_raw(w, o, (size_t)(buf + sizeof(buf) - o));
}

/*
 * Cut to its length: a message in hand keeps its cache text until the
 * write is answered, and the doubling leaves up to half of it unused.
 */
char *
jw_take(struct jw *w)
{
	char *s;

	if (jw_room(w, 0) == -1) {
		free(w->s);
		memset(w, 0, sizeof(*w));
		return NULL;
	}
	w->s[w->len] = '\0';
	s = w->s;
	if (w->cap - w->len > 64 && (s = realloc(w->s, w->len + 1)) == NULL)
		s = w->s;
	memset(w, 0, sizeof(*w));
	return s;
}

void
jw_free(struct jw *w)
{
	free(w->s);
	memset(w, 0, sizeof(*w));
}
