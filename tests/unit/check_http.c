/*
 * check_http: unit tests for http_parse, the health endpoint's request
 * parser: what it accepts, what it refuses and why, incremental input, and
 * that no input can make it read past the buffer or crash.
 */

#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "http.h"

static struct http_request req;
static char errbuf[128];

/* Parse a string literal (or any NUL-free string) in one call. */
static int
parse(const char *s)
{
	memset(&req, 0xa5, sizeof(req));
	return http_parse(s, strlen(s), &req, errbuf, sizeof(errbuf));
}

/*
 * Parse from an exact-size heap copy so that ASan or valgrind catch any
 * read past len.
 */
static int
parse_mem(const void *p, size_t len)
{
	char	*copy;
	int	 r;

	copy = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p, len);
	r = http_parse(copy, len, &req, errbuf, sizeof(errbuf));
	free(copy);
	return r;
}

START_TEST(test_get)
{
	ck_assert_int_eq(parse("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_GET);
	ck_assert_str_eq(req.path, "/livez");
	ck_assert_int_eq(req.minor, 1);
}
END_TEST

START_TEST(test_head)
{
	ck_assert_int_eq(parse("HEAD /readyz HTTP/1.1\r\nHost: x\r\n"
	    "User-Agent: kube-probe/1.29\r\nAccept: */*\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_HEAD);
	ck_assert_str_eq(req.path, "/readyz");
}
END_TEST

START_TEST(test_http10)
{
	ck_assert_int_eq(parse("GET / HTTP/1.0\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_GET);
	ck_assert_str_eq(req.path, "/");
	ck_assert_int_eq(req.minor, 0);
}
END_TEST

START_TEST(test_no_headers_11)
{
	ck_assert_int_eq(parse("GET /livez HTTP/1.1\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_int_eq(req.minor, 1);
}
END_TEST

START_TEST(test_query_stripped)
{
	ck_assert_int_eq(parse("GET /readyz?verbose=1&x=/y?z HTTP/1.1\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/readyz");
	ck_assert_int_eq(parse("GET /livez#frag HTTP/1.1\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/livez");
	ck_assert_int_eq(parse("GET /? HTTP/1.1\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/");
}
END_TEST

START_TEST(test_lf_only)
{
	ck_assert_int_eq(parse("GET /livez HTTP/1.1\nHost: x\n\n"),
	    HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/livez");
	/* Mixed line endings are fine too. */
	ck_assert_int_eq(parse("GET /livez HTTP/1.1\r\nHost: x\n\r\n"),
	    HTTP_PARSE_DONE);
}
END_TEST

START_TEST(test_header_values)
{
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nX-Empty:\r\n"
	    "X-Tab:\ta\tb\t\r\nX-8bit: caf\xc3\xa9\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
	    HTTP_PARSE_DONE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n"
	    "content-length:\t00 \r\n\r\n"), HTTP_PARSE_DONE);
}
END_TEST

START_TEST(test_incremental)
{
	static const char *reqs[] = {
		"GET /livez?a=b HTTP/1.1\r\nHost: localhost:4000\r\n"
		    "Accept: */*\r\n\r\n",
		"HEAD /readyz HTTP/1.0\nX: y\n\n",
	};
	size_t	 i, k, len;

	for (k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
		len = strlen(reqs[k]);
		for (i = 0; i < len; i++)
			ck_assert_msg(parse_mem(reqs[k], i) == HTTP_PARSE_MORE,
			    "request %zu: prefix of %zu bytes not MORE (%s)",
			    k, i, errbuf);
		ck_assert_int_eq(parse_mem(reqs[k], len), HTTP_PARSE_DONE);
	}
	ck_assert_str_eq(req.path, "/readyz");
	ck_assert_int_eq(req.method, HTTP_METHOD_HEAD);
}
END_TEST

START_TEST(test_more)
{
	ck_assert_int_eq(http_parse("", 0, &req, errbuf, sizeof(errbuf)),
	    HTTP_PARSE_MORE);
	ck_assert_int_eq(parse("GE"), HTTP_PARSE_MORE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: x\r\n"),
	    HTTP_PARSE_MORE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: x\r\n\r"),
	    HTTP_PARSE_MORE);
	ck_assert_int_eq(parse("GET / HTTP/1."), HTTP_PARSE_MORE);
}
END_TEST

START_TEST(test_other_methods)
{
	static const char *m[] = {
		"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "Head",
		"GETS", "X-CUSTOM!", "HEADER",
	};
	char	 buf[128];
	size_t	 i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		strcpy(buf, m[i]);
		strcat(buf, " /livez HTTP/1.1\r\n\r\n");
		ck_assert_int_eq(parse(buf), HTTP_PARSE_DONE);
		ck_assert_int_eq(req.method, HTTP_METHOD_OTHER);
	}
}
END_TEST

START_TEST(test_pipelined)
{
	ck_assert_int_eq(parse("GET /livez HTTP/1.1\r\n\r\nGET /readyz "
	    "HTTP/1.1\r\n\r\n"), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/livez");
	/* What follows is not parsed, so it can be anything. */
	ck_assert_int_eq(parse_mem("GET /a HTTP/1.0\n\n\x00\xff\x01", 20),
	    HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/a");
}
END_TEST

/* Complete requests that must be refused with BAD, and say why. */
static const char *bad[] = {
	/* request line */
	" GET / HTTP/1.1\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\n\r\n",
	"GET  / HTTP/1.1\r\n\r\n",
	"GE(T / HTTP/1.1\r\n\r\n",
	"GET\t/ HTTP/1.1\r\n\r\n",
	"GET\r\n\r\n",
	"GET /\r\n\r\n",
	"GET / \r\n\r\n",
	"GET /livez\r\n",
	"GET livez HTTP/1.1\r\n\r\n",
	"GET * HTTP/1.1\r\n\r\n",
	"GET http://x/livez HTTP/1.1\r\n\r\n",
	"GET ?a HTTP/1.1\r\n\r\n",
	"GET /a\tb HTTP/1.1\r\n\r\n",
	"GET /a\x7f HTTP/1.1\r\n\r\n",
	"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
	"GET /?a\x01 HTTP/1.1\r\n\r\n",
	"GET /?a\xff HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1 \r\n\r\n",
	"GET / http/1.1\r\n\r\n",
	"GET / HTTP/1.2\r\n\r\n",
	"GET / HTTP/1.10\r\n\r\n",
	"GET / HTTP/2.0\r\n\r\n",
	"GET / HTTP/0.9\r\n\r\n",
	"GET / HTTP/1\r\n\r\n",
	"GET / HTTP/1.1\r\r\n\r\n",
	"GET / HTTP/1.1\rHost: x\r\n\r\n",
	/* header lines */
	"GET / HTTP/1.1\r\nHost x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\n: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHo(st: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\tcontinued\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\rz\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\rX\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n",
	/* bodies */
	"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
	"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
	"GET / HTTP/1.1\r\ncontent-LENGTH: 01\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: \r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: -0\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: 0x0\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: 0 0\r\n\r\n",
	"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n",
	"GET / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
};

START_TEST(test_bad)
{
	const char	*s = bad[_i];
	int		 r;

	r = parse(s);
	ck_assert_msg(r == HTTP_PARSE_BAD, "case %d: got %d for \"%s\"",
	    _i, r, s);
	ck_assert_msg(errbuf[0] != '\0', "case %d: no reason", _i);
}
END_TEST

START_TEST(test_nul)
{
	static const char s1[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	static const char s2[] = "GET /a\0b HTTP/1.1\r\n\r\n";
	static const char s3[] = "GET\0/ HTTP/1.1\r\n\r\n";
	static const char s4[] = "\0";

	ck_assert_int_eq(parse_mem(s1, sizeof(s1) - 1), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse_mem(s2, sizeof(s2) - 1), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse_mem(s3, sizeof(s3) - 1), HTTP_PARSE_BAD);
	ck_assert_int_eq(parse_mem(s4, 1), HTTP_PARSE_BAD);
}
END_TEST

START_TEST(test_long_path)
{
	char	*s;
	size_t	 max = HTTP_MAX_PATH - 1;

	s = malloc(HTTP_MAX_PATH + 64);
	ck_assert_ptr_nonnull(s);

	/* The longest path that fits. */
	memcpy(s, "GET ", 4);
	memset(s + 4, 'a', max);
	s[4] = '/';
	strcpy(s + 4 + max, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(s), HTTP_PARSE_DONE);
	ck_assert_uint_eq(strlen(req.path), max);

	/* One more byte of path is too large, even before the line ends. */
	memset(s + 4, 'a', max + 1);
	s[4] = '/';
	s[4 + max + 1] = '\0';
	ck_assert_int_eq(parse(s), HTTP_PARSE_TOO_LARGE);
	strcpy(s + 4 + max + 1, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(s), HTTP_PARSE_TOO_LARGE);

	/* A long query does not count against the path. */
	memcpy(s, "GET /?", 6);
	memset(s + 6, 'q', HTTP_MAX_PATH);
	strcpy(s + 6 + HTTP_MAX_PATH, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(s), HTTP_PARSE_DONE);
	ck_assert_str_eq(req.path, "/");
	free(s);
}
END_TEST

START_TEST(test_oversize_headers)
{
	char	*s;
	size_t	 len = HTTP_MAX_REQUEST + 100, hdr;

	s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	strcpy(s, "GET / HTTP/1.1\r\nX-Big: ");
	hdr = strlen(s);
	memset(s + hdr, 'x', len - hdr);
	s[len] = '\0';
	/* Still valid but incomplete below the limit... */
	ck_assert_int_eq(parse_mem(s, HTTP_MAX_REQUEST - 1), HTTP_PARSE_MORE);
	/* ...and too large once the limit is reached without an end. */
	ck_assert_int_eq(parse_mem(s, HTTP_MAX_REQUEST), HTTP_PARSE_TOO_LARGE);
	ck_assert_int_eq(parse_mem(s, len), HTTP_PARSE_TOO_LARGE);

	/* A request that ends exactly at the limit is fine. */
	memcpy(s + HTTP_MAX_REQUEST - 4, "\r\n\r\n", 4);
	ck_assert_int_eq(parse_mem(s, HTTP_MAX_REQUEST), HTTP_PARSE_DONE);
	/* Complete within the limit, with more bytes after: DONE. */
	ck_assert_int_eq(parse_mem(s, len), HTTP_PARSE_DONE);
	/* Ending one byte past the limit is not. */
	memset(s + hdr, 'x', len - hdr);
	memcpy(s + HTTP_MAX_REQUEST - 3, "\r\n\r\n", 4);
	ck_assert_int_eq(parse_mem(s, HTTP_MAX_REQUEST + 1),
	    HTTP_PARSE_TOO_LARGE);

	/* Many small headers add up the same way. */
	strcpy(s, "GET / HTTP/1.1\r\n");
	while (strlen(s) + 8 < len)
		strcat(s, "A: b\r\n");
	ck_assert_int_eq(parse(s), HTTP_PARSE_TOO_LARGE);
	free(s);
}
END_TEST

START_TEST(test_null_err)
{
	ck_assert_int_eq(http_parse("GET", 3, &req, NULL, 0), HTTP_PARSE_MORE);
	ck_assert_int_eq(http_parse("\x01", 1, NULL, NULL, 0), HTTP_PARSE_BAD);
	ck_assert_int_eq(http_parse("GET / HTTP/1.0\n\n", 16, NULL, NULL, 0),
	    HTTP_PARSE_DONE);
	/* A short err buffer is truncated, not overrun. */
	memset(errbuf, 'z', sizeof(errbuf));
	ck_assert_int_eq(http_parse("\x01", 1, &req, errbuf, 4),
	    HTTP_PARSE_BAD);
	ck_assert_uint_eq(strlen(errbuf), 3);
}
END_TEST

/* xorshift: deterministic garbage without touching rand()'s state. */
static uint32_t
next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

START_TEST(test_garbage)
{
	static const char seed[] = "GET /livez?x=1 HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0\r\n\r\n";
	unsigned char	 buf[HTTP_MAX_REQUEST + 16];
	uint32_t	 rs = 0x9e3779b9;
	size_t		 len, i, k;
	int		 r;

	/* Pure noise: must be refused, never DONE. */
	for (k = 0; k < 2000; k++) {
		len = next_rand(&rs) % sizeof(buf) + 1;
		for (i = 0; i < len; i++)
			buf[i] = next_rand(&rs) & 0xff;
		buf[0] = 0x80 | buf[0];		/* not a tchar */
		r = parse_mem(buf, len);
		ck_assert_int_eq(r, HTTP_PARSE_BAD);
	}
	/* Mutations of a good request, any length: any result, no crash. */
	for (k = 0; k < 20000; k++) {
		len = sizeof(seed) - 1;
		memcpy(buf, seed, len);
		buf[next_rand(&rs) % len] = next_rand(&rs) & 0xff;
		if (k & 1)
			buf[next_rand(&rs) % len] = next_rand(&rs) & 0xff;
		len = next_rand(&rs) % (len + 1);
		r = parse_mem(buf, len);
		ck_assert(r >= HTTP_PARSE_TOO_LARGE && r <= HTTP_PARSE_DONE);
		if (r == HTTP_PARSE_DONE)
			ck_assert(req.path[0] == '/' &&
			    strlen(req.path) < HTTP_MAX_PATH);
	}
}
END_TEST

static Suite *
http_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("http");
	tc = tcase_create("parse");
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_http10);
	tcase_add_test(tc, test_no_headers_11);
	tcase_add_test(tc, test_query_stripped);
	tcase_add_test(tc, test_lf_only);
	tcase_add_test(tc, test_header_values);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_more);
	tcase_add_test(tc, test_other_methods);
	tcase_add_test(tc, test_pipelined);
	tcase_add_loop_test(tc, test_bad, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_long_path);
	tcase_add_test(tc, test_oversize_headers);
	tcase_add_test(tc, test_null_err);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(http_suite());
}
