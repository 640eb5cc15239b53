/*
 * The URLs of the settings (src/url.c): url_parse with the flags of each
 * setting and with every flag, url_origin and url_mask.  Whatever the
 * check (-t) accepts the modules that use the URL accept: a QUEUE_URL
 * has its endpoint (sqs_endpoint), an EDGE_API_URL makes fetch URLs
 * (edge_url).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "fuzz.h"
#include "sqs.h"
#include "url.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int flags[] = { URL_QUEUE, URL_BASE, URL_REDIS_URL,
	    URL_HTTP | URL_REDIS | URL_USERINFO, URL_HTTP | URL_REDIS |
	    URL_PATH | URL_NO_QUERY | URL_USERINFO | URL_DB };
	struct url u;
	static char ebuf[EDGE_URL_MAX];
	char err[256], buf[URL_MAX + 64], *s, *d;
	size_t i;

	s = fuzz_string(data, size);
	if (url_check(s, URL_QUEUE) == 0 &&
	    sqs_endpoint(s, buf, sizeof(buf)) != 0)
		fuzz_fail("url: a QUEUE_URL -t accepts has no endpoint");
	if (url_check(s, URL_BASE) == 0 && edge_url(s, "c-1", "r/1", ebuf,
	    sizeof(ebuf)) != 0)
		fuzz_fail("url: an EDGE_API_URL -t accepts makes no fetch URL");
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (url_parse(s, flags[i], &u, err, sizeof(err)) != 0)
			continue;
		if (u.scheme == NULL || u.port < 1 || u.port > 65535 ||
		    memchr(u.host, '\0', sizeof(u.host)) == NULL)
			fuzz_fail("url: accepted a bad URL");
		/* path points into s, or is "" when there is none. */
		if (u.path == NULL || (u.path_len > 0 && (u.path < s ||
		    u.path + u.path_len > s + strlen(s))))
			fuzz_fail("url: path outside the string");
		(void)url_origin(&u, buf, sizeof(buf));
		(void)url_origin(&u, buf, 8);
		url_free(&u);
		url_free(&u);
	}
	url_mask(s, buf, sizeof(buf));
	url_mask(s, buf, 16);
	if (url_decode(s, strlen(s), "user name", &d, err, sizeof(err)) == 0)
		free(d);
	free(s);
	return 0;
}
