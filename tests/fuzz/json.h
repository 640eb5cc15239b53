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
 * jdoc is stricter than json-c's strict mode (no NaN, no raw control
 * characters, UTF-8 as RFC 3629 has it), never more lenient: what it
 * accepts, json-c accepts, and both read the same values.
 */
static inline void
fuzz_check_jdoc(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;
	struct jdoc d;
	int flags = JSON_TOKENER_STRICT;

	if (jdoc_parse(&d, (const char *)data, size) != 0) {
		jdoc_free(&d);
		return;
	}
	if ((tok = json_tokener_new()) == NULL)
		fuzz_fail("out of memory");
#ifdef JSON_TOKENER_VALIDATE_UTF8
	flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
	json_tokener_set_flags(tok, flags);
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	e = json_tokener_get_error(tok);
	if (o == NULL && e == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);
	if (e != json_tokener_success)
		fuzz_fail("jdoc: accepted what json-c refuses");
	if (!fuzz_same_value(d.n, o))
		fuzz_fail("jdoc: a value differs from json-c's");
	json_object_put(o);
	jdoc_free(&d);
}

#endif
