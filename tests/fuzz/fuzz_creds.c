/*
 * The AWS credential answers (src/creds.c): STS' XML (Credentials and
 * ErrorResponse), the JSON of credential_process, the container
 * endpoints and instance metadata, the shared files (credentials and
 * config), and their dates, each on every input.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "fuzz.h"

static void
value(int r, struct creds_value *v, const char *what)
{
	char err[256];

	if (r != 0)
		return;
	if (v->access_key_id == NULL || v->secret_access_key == NULL)
		fuzz_fail(what);
	(void)creds_check_value(v, err, sizeof(err));
	creds_value_free(v);
	if (v->access_key_id != NULL || v->secret_access_key != NULL ||
	    v->session_token != NULL)
		fuzz_fail("creds: creds_value_free left a value");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum creds_json kinds[] = { CREDS_JSON_PROCESS,
	    CREDS_JSON_CONTAINER, CREDS_JSON_IMDS };
	const char *body = (const char *)data;
	struct creds_value v;
	struct creds_ini *ini;
	char err[256], code[64], message[256], *s;
	int64_t ms;
	size_t i;

	memset(&v, 0, sizeof(v));
	value(creds_parse_sts(body, size, &v, err, sizeof(err)), &v,
	    "creds: sts: accepted without keys");
	if (creds_parse_sts_error(body, size, code, sizeof(code), message,
	    sizeof(message)) == 0 &&
	    (memchr(code, '\0', sizeof(code)) == NULL ||
	    memchr(message, '\0', sizeof(message)) == NULL))
		fuzz_fail("creds: sts error not terminated");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		memset(&v, 0, sizeof(v));
		value(creds_parse_json(kinds[i], body, size, &v, err,
		    sizeof(err)), &v, "creds: json: accepted without keys");
	}
	for (i = 0; i < 2; i++) {
		if (creds_ini_parse(body, size, (int)i, &ini, err,
		    sizeof(err)) != 0)
			continue;
		if (creds_ini_has(ini, "default"))
			(void)creds_ini_get(ini, "default",
			    "aws_access_key_id");
		(void)creds_ini_get(ini, "ci", "role_arn");
		creds_ini_free(ini);
	}
	s = fuzz_string(data, size);
	(void)creds_parse_time(s, &ms);
	free(s);
	return 0;
}
