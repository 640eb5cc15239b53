/*
 * The Sentry DSN, sentry_dsn_parse (src/sentry.c): what it accepts gives
 * an envelope URL that is itself a valid http(s) URL with a path.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sentry.h"
#include "url.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sentry_dsn d;
	char err[256], *s = fuzz_string(data, size);

	memset(&d, 0, sizeof(d));
	if (sentry_dsn_parse(s, &d, err, sizeof(err)) == 0) {
		if (d.envelope_url == NULL || d.auth == NULL ||
		    strstr(d.envelope_url, "/envelope/") == NULL)
			fuzz_fail("sentry: accepted without an envelope URL");
		if (url_check(d.envelope_url, URL_HTTP | URL_PATH |
		    URL_NO_QUERY) != 0)
			fuzz_fail("sentry: the envelope URL is no valid URL");
		if (strchr(d.auth, '\n') != NULL || strchr(d.auth, '\r') != NULL)
			fuzz_fail("sentry: a line break in the auth header");
		sentry_dsn_free(&d);
		sentry_dsn_free(&d);
	}
	free(s);
	return 0;
}
