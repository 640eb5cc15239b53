/* For the harnesses: whether a rendered value is one valid JSON text. */
#ifndef PCS_FUZZ_JSON_H
#define PCS_FUZZ_JSON_H

#include <json.h>
#include <string.h>

#include "fuzz.h"

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

#endif
