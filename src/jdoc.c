/*
 * jdoc: strict JSON into one array of nodes (see jdoc.h).
 *
 * A recursive descent over the text, at most JDOC_MAX_DEPTH deep.  The
 * nodes grow by doubling and are addressed by index until the parse is
 * over; strings and numbers go to one buffer of len + 2 bytes, which
 * always holds them: a string decodes to fewer bytes than its quotes and
 * escapes take, with room for its NUL, and a number's text plus its NUL
 * takes at most one byte more than the number and the separator after it
 * (the last number of the text may have none: the second extra byte).
 *
 * Strict means RFC 8259: no comments, no single quotes, no trailing
 * commas, no unescaped control characters in a string, lower-case
 * literals, no leading zeros, no NaN or Infinity; UTF-8 as RFC 3629 has
 * it (no overlong forms, no surrogates, nothing above U+10FFFF).  An
 * escaped surrogate without its pair becomes U+FFFD, as json-c makes it.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "jdoc.h"
#include "util.h"

#define EOD		"unexpected end of data"
#define UNEXPECTED	"unexpected character"

struct jp {
	const unsigned char *t;
	size_t		 len;
	size_t		 i;
	char		*o;	/* the next free byte of d->buf */
	struct jdoc	*d;
};

static int	value(struct jp *, int);

static int
bad(struct jp *p, const char *what, size_t at)
{
	p->d->what = what;
	p->d->at = at;
	return JDOC_BAD;
}

/* The error for t[i], or for the end when the text stops before it. */
static int
bad_here(struct jp *p, const char *what)
{
	return p->i >= p->len ? bad(p, EOD, p->len) : bad(p, what, p->i);
}

static void
skip_ws(struct jp *p)
{
	while (p->i < p->len && (p->t[p->i] == ' ' || p->t[p->i] == '\t' ||
	    p->t[p->i] == '\n' || p->t[p->i] == '\r'))
		p->i++;
}

/* A new node of type t at the end: its index, or -1 out of memory. */
static long
node(struct jp *p, enum jtype t)
{
	struct jdoc *d = p->d;
	struct jnode *n;
	size_t cap;

	if (d->nn == d->cap) {
		cap = d->cap * 2;
		if (cap > UINT32_MAX || cap > SIZE_MAX / sizeof(*n) ||
		    (n = realloc(d->n,
		    cap * sizeof(*n))) == NULL)
			return -1;
		d->n = n;
		d->cap = cap;
	}
	n = &d->n[d->nn];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)t;
	n->size = 1;
	return (long)d->nn++;
}

/* Four hex digits at t[0..4): the code unit, or -1. */
static long
hex4(const unsigned char *t)
{
	long v = 0;
	int k, x;

	for (k = 0; k < 4; k++) {
		if (t[k] >= '0' && t[k] <= '9')
			x = t[k] - '0';
		else if (t[k] >= 'a' && t[k] <= 'f')
			x = t[k] - 'a' + 10;
		else if (t[k] >= 'A' && t[k] <= 'F')
			x = t[k] - 'A' + 10;
		else
			return -1;
		v = v * 16 + x;
	}
	return v;
}

static void
put_utf8(struct jp *p, unsigned long cp)
{
	char *o = p->o;

	if (cp < 0x80)
		*o++ = (char)cp;
	else if (cp < 0x800) {
		*o++ = (char)(0xc0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	p->o = o;
}

/* The \u escape at t[i] ('\\'), its pair too when it has one. */
static int
unicode_escape(struct jp *p)
{
	const unsigned char *t = p->t;
	long cp, lo;

	if (p->len - p->i < 6)
		return bad(p, EOD, p->len);
	if ((cp = hex4(t + p->i + 2)) == -1)
		return bad(p, "invalid string sequence", p->i);
	p->i += 6;
	if (cp >= 0xd800 && cp <= 0xdbff && p->len - p->i >= 6 &&
	    t[p->i] == '\\' && t[p->i + 1] == 'u' &&
	    (lo = hex4(t + p->i + 2)) >= 0xdc00 && lo <= 0xdfff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		p->i += 6;
	} else if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	put_utf8(p, (unsigned long)cp);
	return 0;
}

/* The bytes string's plain loop stops at: '"', '\\', controls, non-ASCII. */
static const unsigned char stop[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1
};

#define ONES	UINT64_C(0x0101010101010101)
#define HIGHS	UINT64_C(0x8080808080808080)

/*
 * The high bit of each of the 8 bytes in w the plain loop stops at (the
 * bit tricks of "Bit Twiddling Hacks": a byte below n, a zero byte): 0
 * when there is none.  A borrow can mark bytes after the first one it
 * finds, never before it, so the lowest bit set is exact.
 */
static uint64_t
stops8(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	return (w | ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) |
	    ((b - ONES) & ~b)) & HIGHS;
}

/*
 * The string at t[i] ('"'), as a new JT_STRING node.  The plain bytes
 * are copied eight at a time up to the first stop, then one by one, in a loop
 * of locals: a store through a char pointer may alias p's members, which
 * the compiler would then reload at each byte.
 */
static int
string(struct jp *p)
{
	const unsigned char *t = p->t;
	const size_t len = p->len;
	char *start = p->o, *o = p->o;
	size_t i = p->i + 1, n;
	long idx;
	int r;

	if ((idx = node(p, JT_STRING)) == -1)
		return JDOC_NOMEM;
	for (;;) {
		while (len - i >= 8) {
			uint64_t w, m;

			memcpy(&w, t + i, 8);
			m = stops8(w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/*
			 * The bytes before the first stop, copied with the
			 * word (the output is never ahead of the input, and
			 * its buffer is 2 bytes longer, so 8 fit).
			 */
			memcpy(o, &w, 8);
			if (m != 0) {
				n = (size_t)__builtin_ctzll(m) >> 3;
				o += n;
				i += n;
				break;
			}
#else
			if (m != 0)
				break;
			memcpy(o, &w, 8);
#endif
			o += 8;
			i += 8;
		}
		while (i < len && !stop[t[i]])
			*o++ = (char)t[i++];
		p->i = i;
		if (i >= len)
			return bad(p, EOD, len);
		if (t[i] == '"') {
			i++;
			break;
		}
		if (t[i] < 0x20)
			return bad(p, "control character in a string", i);
		if (t[i] >= 0x80) {
			if ((n = util_utf8_char(t + i, len - i, NULL)) == 0)
				return bad(p, "invalid utf-8 string", i);
			memcpy(o, t + i, n);
			o += n;
			i += n;
			continue;
		}
		if (i + 1 >= len)
			return bad(p, EOD, len);
		switch (t[i + 1]) {
		case '"':
		case '\\':
		case '/':
			*o++ = (char)t[i + 1];
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			p->o = o;
			if ((r = unicode_escape(p)) != 0)
				return r;
			o = p->o;
			i = p->i;
			continue;
		default:
			return bad(p, "invalid string sequence", i);
		}
		i += 2;
	}
	*o++ = '\0';
	p->i = i;
	p->o = o;
	p->d->n[idx].s = start;
	p->d->n[idx].len = (uint32_t)(o - start - 1);
	return 0;
}

static int
is_digit(const struct jp *p)
{
	return p->i < p->len && p->t[p->i] >= '0' && p->t[p->i] <= '9';
}

/* At least one digit, and all that follow. */
static int
digits(struct jp *p)
{
	if (!is_digit(p))
		return bad_here(p, UNEXPECTED);
	while (is_digit(p))
		p->i++;
	return 0;
}

/*
 * The number at t[i]: JT_INT when it has neither fraction nor exponent
 * and fits in int64, else JT_DOUBLE (strtod: the daemon never changes
 * its C locale), its text kept for a printer to write it as sent.
 */
static int
number(struct jp *p)
{
	const unsigned char *t = p->t;
	size_t start = p->i, k;
	uint64_t u = 0, limit;
	struct jnode *n;
	int isint = 1, neg = 0;
	long idx;
	char *s;

	if (t[p->i] == '-') {
		neg = 1;
		p->i++;
	}
	if (p->i < p->len && t[p->i] == '0')
		p->i++;
	else if (digits(p) != 0)
		return JDOC_BAD;
	if (p->i < p->len && t[p->i] == '.') {
		p->i++;
		isint = 0;
		if (digits(p) != 0)
			return JDOC_BAD;
	}
	if (p->i < p->len && (t[p->i] == 'e' || t[p->i] == 'E')) {
		p->i++;
		isint = 0;
		if (p->i < p->len && (t[p->i] == '+' || t[p->i] == '-'))
			p->i++;
		if (digits(p) != 0)
			return JDOC_BAD;
	}
	if ((idx = node(p, isint ? JT_INT : JT_DOUBLE)) == -1)
		return JDOC_NOMEM;
	n = &p->d->n[idx];
	s = p->o;
	memcpy(s, t + start, p->i - start);
	s[p->i - start] = '\0';
	p->o += p->i - start + 1;
	n->s = s;
	n->len = (uint32_t)(p->i - start);
	if (isint) {
		limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (k = start + (size_t)neg; k < p->i; k++) {
			if (u > (limit - (uint64_t)(t[k] - '0')) / 10) {
				isint = 0;	/* too large: a double */
				break;
			}
			u = u * 10 + (uint64_t)(t[k] - '0');
		}
	}
	if (isint)
		n->v.i = neg ? (int64_t)(0 - u) : (int64_t)u;
	else {
		n->type = JT_DOUBLE;
		n->v.d = strtod(s, NULL);
	}
	return 0;
}

/* The literal word at t[i]. */
static int
literal(struct jp *p, const char *word, enum jtype type, int b)
{
	size_t k, n = strlen(word);
	long idx;

	for (k = 0; k < n; k++, p->i++)
		if (p->i >= p->len || p->t[p->i] != (unsigned char)word[k])
			return bad_here(p, UNEXPECTED);
	if ((idx = node(p, type)) == -1)
		return JDOC_NOMEM;
	p->d->n[idx].v.b = b;
	return 0;
}

/* The array or object at t[i], its members one level deeper. */
static int
container(struct jp *p, int depth)
{
	int object = p->t[p->i] == '{', r;
	char close = object ? '}' : ']';
	uint32_t count = 0;
	long idx;

	if ((idx = node(p, object ? JT_OBJECT : JT_ARRAY)) == -1)
		return JDOC_NOMEM;
	p->i++;
	skip_ws(p);
	if (p->i < p->len && p->t[p->i] == (unsigned char)close)
		p->i++;
	else
		for (;;) {
			if (object) {
				skip_ws(p);
				if (p->i >= p->len || p->t[p->i] != '"')
					return bad_here(p, UNEXPECTED);
				if ((r = string(p)) != 0)
					return r;
				skip_ws(p);
				if (p->i >= p->len || p->t[p->i] != ':')
					return bad_here(p, UNEXPECTED);
				p->i++;
			}
			if ((r = value(p, depth + 1)) != 0)
				return r;
			count++;
			skip_ws(p);
			if (p->i < p->len && p->t[p->i] == ',') {
				p->i++;
				continue;
			}
			if (p->i < p->len && p->t[p->i] == (unsigned char)close) {
				p->i++;
				break;
			}
			return bad_here(p, UNEXPECTED);
		}
	p->d->n[idx].len = count;
	p->d->n[idx].size = (uint32_t)(p->d->nn - (size_t)idx);
	return 0;
}

/*
 * A value at depth (the root's is 0): as json-c counts, 32 nested empty
 * containers are fine, and nothing deeper, scalars included.
 */
static int
value(struct jp *p, int depth)
{
	skip_ws(p);
	if (p->i >= p->len)
		return bad(p, EOD, p->len);
	if (depth >= JDOC_MAX_DEPTH)
		return bad(p, "nesting too deep", p->i);
	switch (p->t[p->i]) {
	case '{':
	case '[':
		return container(p, depth);
	case '"':
		return string(p);
	case 't':
		return literal(p, "true", JT_BOOL, 1);
	case 'f':
		return literal(p, "false", JT_BOOL, 0);
	case 'n':
		return literal(p, "null", JT_NULL, 0);
	default:
		if (p->t[p->i] == '-' ||
		    (p->t[p->i] >= '0' && p->t[p->i] <= '9'))
			return number(p);
		return bad(p, UNEXPECTED, p->i);
	}
}

int
jdoc_parse(struct jdoc *d, const char *text, size_t len)
{
	struct jp p;
	int r;

	memset(d, 0, sizeof(*d));
	if (text == NULL)
		len = 0;
	/* Sizes are 32 bits; no input of the daemon comes near. */
	if (len > UINT32_MAX / 2) {
		d->what = "text too large";
		return JDOC_BAD;
	}
	/*
	 * Doubled as needed: a guess from the length would be far too
	 * many for an SQS answer, which is mostly the text of its bodies.
	 */
	d->cap = 64;
	if ((d->buf = malloc(len + 2)) == NULL ||
	    (d->n = malloc(d->cap * sizeof(*d->n))) == NULL)
		return JDOC_NOMEM;
	p.t = (const unsigned char *)(text == NULL ? "" : text);
	p.len = len;
	p.i = 0;
	p.o = d->buf;
	p.d = d;
	if ((r = value(&p, 0)) != 0)
		return r;
	skip_ws(&p);
	if (p.i < len)
		return bad(&p, "trailing characters", p.i);
	return 0;
}

void
jdoc_free(struct jdoc *d)
{
	free(d->n);
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

/* The first byte before memcmp: most names differ there (or in length). */
static int
same_key(const struct jnode *k, const char *name, size_t len)
{
	return k->len == len && (len == 0 || (k->s[0] == name[0] &&
	    memcmp(k->s, name, len) == 0));
}

const struct jnode *
jnode_member(const struct jnode *o, const char *name)
{
	const struct jnode *k, *v, *found = NULL;
	size_t len = strlen(name);
	uint32_t i;

	if (o == NULL || o->type != JT_OBJECT)
		return NULL;
	for (i = 0, k = o + 1; i < o->len; i++, k = jnode_next(v)) {
		v = k + 1;
		if (same_key(k, name, len))
			found = v;
	}
	return found;
}

int
jnode_string(const struct jnode *o, const char *name, const char **s,
    size_t *len)
{
	const struct jnode *v = jnode_member(o, name);

	*s = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL || v->type == JT_NULL)
		return 0;
	if (v->type != JT_STRING)
		return -1;
	*s = v->s;
	if (len != NULL)
		*len = v->len;
	return 1;
}

/* Up to this many members, a name is looked for one by one. */
#define MEMBERS_SCAN	8

int
jnode_members(const struct jnode *o, struct jmember **out, size_t *np)
{
	const struct jnode *k;
	struct jmember *m;
	uint32_t *slot = NULL, i;
	size_t n = 0, j, size, h = 0, mask = 0;

	*out = NULL;
	*np = 0;
	if (o->len == 0)
		return 0;
	if ((m = malloc(o->len * sizeof(*m))) == NULL)
		return JDOC_NOMEM;
	if (o->len > MEMBERS_SCAN) {
		for (size = 2 * MEMBERS_SCAN; size < 2 * (size_t)o->len;
		    size *= 2)
			;
		if ((slot = calloc(size, sizeof(*slot))) == NULL) {
			free(m);
			return JDOC_NOMEM;
		}
		mask = size - 1;
	}
	for (i = 0, k = o + 1; i < o->len; i++, k = jnode_next(k + 1)) {
		if (slot == NULL) {
			for (j = 0; j < n; j++)
				if (same_key(m[j].key, k->s, k->len))
					break;
		} else {
			for (h = (size_t)util_hash(k->s, k->len) & mask; slot[h] != 0;
			    h = (h + 1) & mask)
				if (same_key(m[slot[h] - 1].key, k->s, k->len))
					break;
			j = slot[h] != 0 ? slot[h] - 1 : n;
		}
		if (j < n) {
			m[j].value = k + 1;	/* the last value, in its place */
			continue;
		}
		if (slot != NULL)
			slot[h] = (uint32_t)(n + 1);
		m[n].key = k;
		m[n].value = k + 1;
		n++;
	}
	free(slot);
	*out = m;
	*np = n;
	return 0;
}
