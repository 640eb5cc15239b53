/*
 * jw: JSON written straight into a growing buffer, the way json-c's
 * printer (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) writes
 * it, without building a tree to print: the cache JSON (events.c) and the
 * SQS requests (sqs.c).  A failed allocation is remembered (nomem) and
 * every later write is a no-op, so that a writer checks once, at the end.
 */
#ifndef PCS_JW_H
#define PCS_JW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jw {
	char	*s;
	size_t	 len;
	size_t	 cap;
	int	 nomem;
};

#define JW_INIT		{ NULL, 0, 0, 0 }

/* Grow for n more bytes and the NUL (jw_room's slow path): 0 or -1. */
int	jw_grow(struct jw *w, size_t n);

/* Room for n more bytes and the NUL: 0, or -1 (nomem is set). */
static inline int
jw_room(struct jw *w, size_t n)
{
	if (w->nomem)
		return -1;
	if (w->cap - w->len > n)
		return 0;
	return jw_grow(w, n);
}

static inline void
jw_raw(struct jw *w, const char *s, size_t n)
{
	if (jw_room(w, n) == -1)
		return;
	memcpy(w->s + w->len, s, n);
	w->len += n;
}

#define jw_lit(w, lit)	jw_raw((w), (lit), sizeof(lit) - 1)

/*
 * A JSON string of the n bytes at s, escaped as json-c escapes it: the
 * two-character forms of \b \n \r \t \f \" \\, \u00xx (lower-case hex)
 * for the other bytes below 0x20, NUL included; '/', DEL and UTF-8 as
 * they are.  upper: ASCII letters in upper case.
 */
void	jw_str(struct jw *w, const char *s, size_t n, int upper);
/* An int64 in decimal, as json-c prints one ("%" PRId64). */
void	jw_int(struct jw *w, int64_t v);
/*
 * The text written, NUL-terminated, now the caller's, cut to its length;
 * NULL: out of memory.  w is empty again either way.
 */
char	*jw_take(struct jw *w);
void	jw_free(struct jw *w);

#endif
