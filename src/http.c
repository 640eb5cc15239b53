/*
 * http: a strict parser for the HTTP/1.x requests the health endpoint
 * accepts (RFC 9110/9112): a request line in origin-form, header fields, an
 * empty line, and no body.  It is stateless: every call re-reads the buffer
 * from its first byte.  With the request capped at HTTP_MAX_REQUEST bytes
 * that costs less than carrying state between reads, and leaves nothing to
 * get out of step.  Pure: no I/O, no allocation, no logging; it never looks
 * at a byte at or past len.
 */

#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "http.h"

enum state {
	S_METHOD,	/* token, up to SP */
	S_TARGET,	/* "/" path, up to SP, "?" or "#" */
	S_QUERY,	/* query or fragment, checked and dropped, up to SP */
	S_VERSION,	/* "HTTP/1.0" or "HTTP/1.1" */
	S_EOL,		/* after the version: CR LF or LF */
	S_LF,		/* after a CR that ends a line: LF must follow */
	S_FIELD,	/* start of a header line or of the empty line */
	S_NAME,		/* field name, up to ":" */
	S_VALUE,	/* field value, up to CR or LF */
	S_END_LF	/* after the CR of the empty line */
};

static const char http_proto[] = "HTTP/1.";

static int
fail(char *err, size_t errlen, int code, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return code;
}

/* RFC 9110 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	default:
		return 0;
	}
}

/*
 * A byte of the request target: visible US-ASCII.  No controls, no space,
 * no DEL and no raw 8-bit bytes (RFC 3986 has none).  The path is not
 * percent-decoded: the routes are compared byte for byte.
 */
static int
is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* RFC 9110 5.5: field-vchar / SP / HTAB, obs-text allowed. */
static int
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* ASCII case-insensitive match of buf[0..len) against lower-case s. */
static int
name_is(const char *buf, size_t len, const char *s)
{
	size_t	i;

	if (strlen(s) != len)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		if (c != (unsigned char)s[i])
			return 0;
	}
	return 1;
}

/*
 * A complete header field: reject what would announce a body.  The health
 * endpoint reads none, and leaving one unread invites request smuggling
 * through whatever proxy sits in front.
 */
static int
check_field(const char *name, size_t namelen, const char *val, size_t vallen,
    char *err, size_t errlen)
{
	size_t	i;

	if (name_is(name, namelen, "transfer-encoding"))
		return fail(err, errlen, HTTP_PARSE_BAD,
		    "transfer-encoding not supported");
	if (!name_is(name, namelen, "content-length"))
		return 0;
	while (vallen > 0 && (val[0] == ' ' || val[0] == '\t')) {
		val++;
		vallen--;
	}
	while (vallen > 0 &&
	    (val[vallen - 1] == ' ' || val[vallen - 1] == '\t'))
		vallen--;
	if (vallen == 0)
		return fail(err, errlen, HTTP_PARSE_BAD, "bad content-length");
	for (i = 0; i < vallen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return fail(err, errlen, HTTP_PARSE_BAD,
			    "bad content-length");
		if (val[i] != '0')
			return fail(err, errlen, HTTP_PARSE_BAD,
			    "request body not supported");
	}
	return 0;
}

int
http_parse(const char *buf, size_t len, struct http_request *req, char *err,
    size_t errlen)
{
	enum state	 st = S_METHOD;
	enum http_method method = HTTP_METHOD_OTHER;
	char		 path[HTTP_MAX_PATH];
	size_t		 plen = 0, vpos = 0, n, i;
	size_t		 name = 0, namelen = 0, val = 0;
	int		 minor = 0, r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (buf == NULL || len == 0)
		return HTTP_PARSE_MORE;
	n = len < HTTP_MAX_REQUEST ? len : HTTP_MAX_REQUEST;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		switch (st) {
		case S_METHOD:
			if (is_tchar(c))
				break;
			if (c != ' ' || i == 0)
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad method");
			if (i == 3 && memcmp(buf, "GET", 3) == 0)
				method = HTTP_METHOD_GET;
			else if (i == 4 && memcmp(buf, "HEAD", 4) == 0)
				method = HTTP_METHOD_HEAD;
			st = S_TARGET;
			break;
		case S_TARGET:
			if (plen == 0 && c != '/')
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "target not in origin-form");
			if (c == ' ') {
				st = S_VERSION;
				break;
			}
			if (c == '?' || c == '#') {
				st = S_QUERY;
				break;
			}
			if (!is_target_char(c))
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad byte in target");
			if (plen >= HTTP_MAX_PATH - 1)
				return fail(err, errlen, HTTP_PARSE_TOO_LARGE,
				    "path too long");
			path[plen++] = (char)c;
			break;
		case S_QUERY:
			if (c == ' ')
				st = S_VERSION;
			else if (!is_target_char(c))
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad byte in target");
			break;
		case S_VERSION:
			if (vpos < sizeof(http_proto) - 1) {
				if (c != (unsigned char)http_proto[vpos])
					return fail(err, errlen, HTTP_PARSE_BAD,
					    "bad version");
			} else if (c == '0' || c == '1') {
				minor = c - '0';
				st = S_EOL;
			} else
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad version");
			vpos++;
			break;
		case S_EOL:
			if (c == '\r')
				st = S_LF;
			else if (c == '\n')
				st = S_FIELD;
			else
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad version");
			break;
		case S_LF:
			if (c != '\n')
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "cr without lf");
			st = S_FIELD;
			break;
		case S_FIELD:
			if (c == '\r') {
				st = S_END_LF;
				break;
			}
			if (c == '\n')
				goto done;
			if (c == ' ' || c == '\t')
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "obsolete line folding");
			if (!is_tchar(c))
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad header name");
			name = i;
			st = S_NAME;
			break;
		case S_NAME:
			if (c == ':') {
				namelen = i - name;
				val = i + 1;
				st = S_VALUE;
			} else if (!is_tchar(c))
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad header name");
			break;
		case S_VALUE:
			if (c == '\r' || c == '\n') {
				r = check_field(buf + name, namelen, buf + val,
				    i - val, err, errlen);
				if (r != 0)
					return r;
				st = c == '\r' ? S_LF : S_FIELD;
			} else if (!is_value_char(c))
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "bad byte in header");
			break;
		case S_END_LF:
			if (c != '\n')
				return fail(err, errlen, HTTP_PARSE_BAD,
				    "cr without lf");
			goto done;
		}
	}
	if (len >= HTTP_MAX_REQUEST)
		return fail(err, errlen, HTTP_PARSE_TOO_LARGE,
		    "request too large");
	return HTTP_PARSE_MORE;

done:
	if (req != NULL) {
		req->method = method;
		memcpy(req->path, path, plen);
		req->path[plen] = '\0';
		req->minor = minor;
	}
	return HTTP_PARSE_DONE;
}
