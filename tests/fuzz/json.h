/*
 * For the harnesses: whether a rendered value is one valid JSON text, and
 * whether jdoc reads a text as json-c does.
 */
#ifndef PCS_FUZZ_JSON_H
#define PCS_FUZZ_JSON_H

#include <json.h>
#include <string.h>

#include "fuzz.h"
#include "jdoc.h"

static inline void
fuzz_check_json(const char *s, const char *what)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s);
	if ((tok = json_tokener_new()) == NULL)
		fuzz_fail("out of memory");
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		fuzz_fail(what);
	json_object_put(o);
	json_tokener_free(tok);
}

/* Whether jdoc's value v is json-c's o (NULL: JSON null). */
static inline int
fuzz_same_value(const struct jnode *v, struct json_object *o)
{
	struct json_object_iterator it, end;
	const struct jnode *k, *e;
	struct jmember *mm;
	size_t j, n;
	uint32_t i;
	int same;

	switch (v->type) {
	case JT_NULL:
		return o == NULL;
	case JT_BOOL:
		return json_object_is_type(o, json_type_boolean) &&
		    json_object_get_boolean(o) == v->v.b;
	case JT_INT:
		return json_object_is_type(o, json_type_int) &&
		    json_object_get_int64(o) == v->v.i;
	case JT_DOUBLE:
		/* Beyond int64, json-c clamps an integer; jdoc keeps its text. */
		if (json_object_is_type(o, json_type_int))
			return strpbrk(v->s, ".eE") == NULL;
		return json_object_is_type(o, json_type_double) &&
		    json_object_get_double(o) == v->v.d;
	case JT_STRING:
		return json_object_is_type(o, json_type_string) &&
		    (size_t)json_object_get_string_len(o) == v->len &&
		    memcmp(json_object_get_string(o), v->s, v->len) == 0;
	case JT_ARRAY:
		if (!json_object_is_type(o, json_type_array) ||
		    json_object_array_length(o) != v->len)
			return 0;
		for (i = 0, e = v + 1; i < v->len; i++, e = jnode_next(e))
			if (!fuzz_same_value(e, json_object_array_get_idx(o, i)))
				return 0;
		return 1;
	case JT_OBJECT:
		if (!json_object_is_type(o, json_type_object))
			return 0;
		/* json-c cuts a name at a NUL: it may stand for another. */
		for (i = 0, k = v + 1; i < v->len; i++, k = jnode_next(k + 1))
			if (memchr(k->s, '\0', k->len) != NULL)
				return 1;
		if (jnode_members(v, &mm, &n) != 0)
			fuzz_fail("out of memory");
		/* json-c's order, its values, and jnode_member's. */
		same = (size_t)json_object_object_length(o) == n;
		it = json_object_iter_begin(o);
		end = json_object_iter_end(o);
		for (j = 0; same && j < n; j++, json_object_iter_next(&it))
			same = !json_object_iter_equal(&it, &end) &&
			    strcmp(json_object_iter_peek_name(&it),
			    mm[j].key->s) == 0 &&
			    mm[j].value == jnode_member(v, mm[j].key->s) &&
			    fuzz_same_value(mm[j].value,
			    json_object_iter_peek_value(&it));
		free(mm);
		return same;
	}
	return 0;
}

/*
 * json-c's strict read of a text (the value in *op), as the daemon read
 * bodies before jdoc: one value with nothing but white space after it.
 * -1 when it refuses it, with its error in *ep.
 */
static inline int
fuzz_json_c(const uint8_t *data, size_t size, struct json_object **op,
    enum json_tokener_error *ep)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;
	size_t end, i;
	int flags = JSON_TOKENER_STRICT;

	*op = NULL;
	if ((tok = json_tokener_new()) == NULL)
		fuzz_fail("out of memory");
#ifdef JSON_TOKENER_VALIDATE_UTF8
	flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
	json_tokener_set_flags(tok, flags);
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL && e == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		end = size;
	}
	json_tokener_free(tok);
	*ep = e;
	if (e != json_tokener_success)
		return -1;
	for (i = end; i < size; i++)
		if (data[i] == '\0' || strchr(" \t\r\n", data[i]) == NULL) {
			json_object_put(o);
			*ep = json_tokener_error_parse_unexpected;
			return -1;
		}
	*op = o;
	return 0;
}

static inline int
fuzz_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/*
 * Whether the bytes at t are a sequence json-c's UTF-8 check takes (a
 * lead byte of C0 to F7 and its count of continuation bytes) that RFC
 * 3629 refuses: an overlong form, a surrogate, or past U+10FFFF.
 */
static inline int
fuzz_utf8_stricter(const uint8_t *t, size_t left)
{
	uint32_t cp;
	size_t n, k;

	if (t[0] >= 0xc0 && t[0] <= 0xdf) {
		n = 2;
		cp = t[0] & 0x1f;
	} else if (t[0] >= 0xe0 && t[0] <= 0xef) {
		n = 3;
		cp = t[0] & 0x0f;
	} else if (t[0] >= 0xf0 && t[0] <= 0xf7) {
		n = 4;
		cp = t[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (k = 1; k < n; k++) {
		if ((t[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (t[k] & 0x3f);
	}
	return (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff;
}

/* What may stand before a number: where a value starts. */
static inline int
fuzz_value_start(const uint8_t *t, size_t at)
{
	return at == 0 || memchr("[,: \t\r\n", t[at - 1], 7) != NULL;
}

/*
 * Whether t[at] lies inside a string: exact on a text json-c read (every
 * unescaped quote opens or closes one).
 */
static inline int
fuzz_in_string(const uint8_t *t, size_t at)
{
	size_t i;
	int in = 0;

	for (i = 0; i < at; i++) {
		if (in && t[i] == '\\')
			i++;
		else if (t[i] == '"')
			in = !in;
	}
	return in;
}

/*
 * Whether jdoc's refusal (d->what at d->at) of a text json-c reads is
 * one of the strictnesses jdoc means to have, each checked on the bytes
 * where jdoc stopped: a raw control character or UTF-8 outside RFC 3629
 * in a string, NaN or Infinity, a leading zero ("-01", "[00]"), a point
 * with no digit after it ("1.", "1.e5") or none before it after a minus
 * ("-.5").
 */
static inline int
fuzz_jdoc_stricter(const struct jdoc *d, const uint8_t *t, size_t len)
{
	size_t at = d->at;
	int syntax;

	if (at > len)
		return 0;
	if (strcmp(d->what, "control character in a string") == 0)
		return at < len && t[at] < 0x20 && fuzz_in_string(t, at);
	if (strcmp(d->what, "invalid utf-8 string") == 0)
		return at < len && fuzz_utf8_stricter(t + at, len - at) &&
		    fuzz_in_string(t, at);
	/* The rest are about numbers and words: outside strings. */
	if (fuzz_in_string(t, at))
		return 0;
	syntax = strcmp(d->what, "unexpected character") == 0 ||
	    strcmp(d->what, "unexpected end of data") == 0 ||
	    strcmp(d->what, "trailing characters") == 0;
	if (!syntax)
		return 0;
	/* NaN, Infinity, -Infinity. */
	if (strcmp(d->what, "unexpected character") == 0 && at < len &&
	    (fuzz_value_start(t, at) || (t[at - 1] == '-' &&
	    fuzz_value_start(t, at - 1))) &&
	    ((len - at >= 3 && memcmp(t + at, "NaN", 3) == 0) ||
	    (len - at >= 8 && memcmp(t + at, "Infinity", 8) == 0)))
		return 1;
	/* "1.", "1.e5": the point, then no digit. */
	if (at >= 2 && t[at - 1] == '.' && fuzz_digit(t[at - 2]) &&
	    (at == len || !fuzz_digit(t[at])))
		return 1;
	/* "-.5" */
	if (at >= 1 && at < len && t[at] == '.' && t[at - 1] == '-' &&
	    fuzz_value_start(t, at - 1))
		return 1;
	/* A leading zero: "01", "-01", the zero where a number starts. */
	return at >= 1 && at < len && fuzz_digit(t[at]) && t[at - 1] == '0' &&
	    (fuzz_value_start(t, at - 1) ||
	    (at >= 2 && t[at - 2] == '-' && fuzz_value_start(t, at - 2)));
}

/*
 * json-c 0.17 and later refuse an integer beyond 64 bits, which jdoc
 * (and json-c 0.16) take: whether that is why a text jdoc read was
 * refused.
 */
static inline int
fuzz_big_integer_refused(const struct jdoc *d, enum json_tokener_error e)
{
#if JSON_C_VERSION_NUM >= ((0 << 16) | (17 << 8))
	size_t i;

	if (e != json_tokener_error_parse_number)
		return 0;
	for (i = 0; i < d->nn; i++)
		if (d->n[i].type == JT_DOUBLE &&
		    strpbrk(d->n[i].s, ".eE") == NULL)
			return 1;
#else
	(void)d;
	(void)e;
#endif
	return 0;
}

/*
 * jdoc against json-c's strict mode: what jdoc accepts, json-c reads
 * with the same values; what jdoc refuses and json-c reads, jdoc refuses
 * on purpose (fuzz_jdoc_stricter).
 */
static inline void
fuzz_check_jdoc(const uint8_t *data, size_t size)
{
	struct json_object *o;
	enum json_tokener_error e;
	struct jdoc d;
	int r;

	r = jdoc_parse(&d, (const char *)data, size);
	if (r == JDOC_NOMEM)
		fuzz_fail("out of memory");
	if (fuzz_json_c(data, size, &o, &e) == -1) {
		if (r == 0 && !fuzz_big_integer_refused(&d, e))
			fuzz_fail("jdoc: accepted what json-c refuses");
	} else if (r != 0) {
		if (!fuzz_jdoc_stricter(&d, data, size))
			fuzz_fail("jdoc: refused what json-c reads");
	} else if (!fuzz_same_value(d.n, o))
		fuzz_fail("jdoc: a value differs from json-c's");
	json_object_put(o);
	jdoc_free(&d);
}

#endif
