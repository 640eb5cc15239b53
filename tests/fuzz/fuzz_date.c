/*
 * The dates read from outside: an HTTP Date header as sigv4_skew reads
 * it (src/sigv4.c), the ISO 8601 dates of events (events_parse_date) and
 * of credentials (creds_parse_time).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <time.h>

#include "creds.h"
#include "events.h"
#include "fuzz.h"
#include "sigv4.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);
	long off = 12345;
	int64_t ms;

	if (sigv4_skew(s, (time_t)1700000000, &off) != 0 && off != 12345)
		fuzz_fail("sigv4: offset written on failure");
	(void)sigv4_skew(s, (time_t)0, &off);
	(void)events_parse_date(s, &ms);
	(void)creds_parse_time(s, &ms);
	free(s);
	return 0;
}
