/* The Sentry DSN, sentry_dsn_parse (src/sentry.c). */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sentry.h"

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
		sentry_dsn_free(&d);
		sentry_dsn_free(&d);
	}
	free(s);
	return 0;
}
