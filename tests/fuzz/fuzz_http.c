/*
 * The health endpoint's request parser, http_parse (src/http.c).  The
 * endpoint parses what has arrived each time more arrives, so a request
 * may come cut anywhere: a prefix of an input must never be judged
 * otherwise than the whole (a prefix that is bad, or a whole request,
 * stays so whatever follows; bad and too large both answer 400).
 */
#include "autoconf.h"

#include <string.h>

#include "fuzz.h"
#include "http.h"

static void
prefixes(const uint8_t *data, size_t size, int whole,
    const struct http_request *wreq)
{
	struct http_request req;
	char err[128];
	size_t cut, step = size <= 256 ? 1 : size / 64;
	int r;

	for (cut = 0; cut < size; cut += step) {
		r = http_parse((const char *)data, cut, &req, err, sizeof(err));
		if (r == HTTP_PARSE_MORE)
			continue;
		/* BAD and TOO_LARGE both answer 400. */
		if ((r < 0) != (whole < 0) || (r > 0) != (whole > 0))
			fuzz_fail("http: a prefix is judged otherwise");
		if (r == HTTP_PARSE_DONE && (req.method != wreq->method ||
		    req.minor != wreq->minor ||
		    strcmp(req.path, wreq->path) != 0))
			fuzz_fail("http: a prefix is another request");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	char err[128];
	int r;

	r = http_parse((const char *)data, size, &req, err, sizeof(err));
	prefixes(data, size, r, &req);
	switch (r) {
	case HTTP_PARSE_DONE:
		if (memchr(req.path, '\0', sizeof(req.path)) == NULL)
			fuzz_fail("http: path not terminated");
		if (req.method != HTTP_METHOD_GET &&
		    req.method != HTTP_METHOD_HEAD &&
		    req.method != HTTP_METHOD_OTHER)
			fuzz_fail("http: method out of range");
		break;
	case HTTP_PARSE_BAD:
	case HTTP_PARSE_TOO_LARGE:
		if (memchr(err, '\0', sizeof(err)) == NULL)
			fuzz_fail("http: err not terminated");
		break;
	case HTTP_PARSE_MORE:
		if (size > HTTP_MAX_REQUEST)
			fuzz_fail("http: MORE past HTTP_MAX_REQUEST");
		break;
	default:
		fuzz_fail("http: unknown result");
	}
	return 0;
}
