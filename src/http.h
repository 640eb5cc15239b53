/*
 * http: a strict parser for the small HTTP/1.x requests the health
 * endpoint accepts.  Pure: it reads a buffer and never does I/O.
 */
#ifndef PCS_HTTP_H
#define PCS_HTTP_H

#include <stddef.h>

#define HTTP_MAX_REQUEST	8192	/* request line and headers, bytes */
#define HTTP_MAX_PATH		1024

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_OTHER	/* a valid token that is neither: 405 */
};

struct http_request {
	enum http_method method;
	char		path[HTTP_MAX_PATH];	/* without the query string */
	int		minor;			/* HTTP/1.<minor> */
};

enum http_parse_result {
	HTTP_PARSE_DONE = 1,		/* a whole request is in buf */
	HTTP_PARSE_MORE = 0,		/* valid so far; read more */
	HTTP_PARSE_BAD = -1,		/* malformed: 400 */
	HTTP_PARSE_TOO_LARGE = -2	/* over HTTP_MAX_REQUEST or path: 400 */
};

/*
 * Parse buf[0..len) as the start of a request.  Returns an
 * enum http_parse_result; on DONE *req is filled.  On BAD or TOO_LARGE err
 * says why in a few words.
 */
int	http_parse(const char *buf, size_t len, struct http_request *req,
	    char *err, size_t errlen);

#endif
