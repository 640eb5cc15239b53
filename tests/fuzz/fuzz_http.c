/* The health endpoint's request parser, http_parse (src/http.c). */
#include "autoconf.h"

#include <string.h>

#include "fuzz.h"
#include "http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	char err[128];
	int r;

	r = http_parse((const char *)data, size, &req, err, sizeof(err));
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
