/*
 * Unit tests for url: the parts of good URLs (schemes, hosts, IPv6,
 * ports, paths), every rule a bad URL breaks with the phrase it gets,
 * the flags of the queue, base and Redis URLs (user information decoded,
 * the database), the origin, and that neither an error nor a masked URL
 * ever holds the password of a "user:pass@" part.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "url.h"

#define PASSWORD	"hunter2-s3cr3t"

START_TEST(good_urls_parts)
{
	static const struct {
		const char	*s;
		const char	*scheme, *host, *path;
		int		 port, port_given, ipv6, tls;
	} cases[] = {
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/q", "https",
		  "sqs.us-east-1.amazonaws.com", "/123456789012/q", 443, 0, 0,
		  1 },
		{ "http://localhost:4566/000000000000/q", "http", "localhost",
		  "/000000000000/q", 4566, 1, 0, 0 },
		{ "HTTPS://Sqs.Example/1/q", "https", "Sqs.Example", "/1/q",
		  443, 0, 0, 1 },
		{ "http://[::1]:4566/q", "http", "::1", "/q", 4566, 1, 1, 0 },
		{ "https://[2001:db8::7]/x", "https", "2001:db8::7", "/x", 443,
		  0, 1, 1 },
		{ "http://127.0.0.1:65535", "http", "127.0.0.1", "", 65535,
		  1, 0, 0 },
		{ "http://sqs_emulator:1/", "http", "sqs_emulator", "/", 1,
		  1, 0, 0 },
		{ "https://edge.api.stigg.io", "https", "edge.api.stigg.io", "",
		  443, 0, 0, 1 },
		{ "http://h:00080/a//b/", "http", "h", "/a//b/", 80, 1, 0, 0 },
	};
	struct url u;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(url_parse(cases[i].s, URL_BASE, &u, err,
		    sizeof(err)) == 0, "%s: %s", cases[i].s, err);
		ck_assert_str_eq(u.scheme, cases[i].scheme);
		ck_assert_str_eq(u.host, cases[i].host);
		ck_assert_uint_eq(u.path_len, strlen(cases[i].path));
		ck_assert_int_eq(strncmp(u.path, cases[i].path, u.path_len), 0);
		ck_assert_int_eq(u.port, cases[i].port);
		ck_assert_int_eq(u.port_given, cases[i].port_given);
		ck_assert_int_eq(u.ipv6, cases[i].ipv6);
		ck_assert_int_eq(u.tls, cases[i].tls);
		ck_assert_ptr_null(u.query);
		ck_assert_ptr_null(u.fragment);
	}
}
END_TEST

START_TEST(query_and_fragment)
{
	struct url u;
	char err[128];

	ck_assert_int_eq(url_parse("http://h/p?a=1&b#frag", URL_HTTP, &u, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(u.path_len, 2);
	ck_assert_uint_eq(u.query_len, 5);
	ck_assert_int_eq(strncmp(u.query, "a=1&b", 5), 0);
	ck_assert_str_eq(u.fragment, "frag");
	ck_assert_int_eq(url_parse("http://h?q", URL_HTTP, &u, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(u.path_len, 0);
	ck_assert_str_eq(u.query, "q");
	/* What the settings refuse. */
	ck_assert_int_eq(url_parse("http://h/p?a=1", URL_BASE, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "must not have a query or fragment");
	ck_assert_int_eq(url_parse("http://h#f", URL_BASE, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "must not have a query or fragment");
	ck_assert_int_eq(url_parse("http://h/1/q?", URL_QUEUE, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "must not have a query or fragment");
}
END_TEST

static const struct {
	const char	*s;
	int		 flags;
	const char	*err;
} bad[] = {
	{ "", URL_BASE, "is empty" },
	{ "ftp://h/q", URL_BASE, "must start with http:// or https://" },
	{ "h/q", URL_BASE, "must start with http:// or https://" },
	{ "https//h/q", URL_BASE, "must start with http:// or https://" },
	{ "https:/h/q", URL_BASE, "must start with http:// or https://" },
	{ "httpx://h/q", URL_BASE, "must start with http:// or https://" },
	{ "://h/q", URL_BASE, "must start with http:// or https://" },
	{ "https://", URL_BASE, "has no host" },
	{ "https:///q", URL_BASE, "has no host" },
	{ "https://:443/q", URL_BASE, "has no host" },
	{ "https://?x", URL_BASE, "has no host" },
	{ "https://ho st/q", URL_BASE, "contains a space, a control character "
	  "or a non-ASCII byte" },
	{ "https://h/q\n", URL_BASE, "contains a space, a control character "
	  "or a non-ASCII byte" },
	{ "https://h\x7f/q", URL_BASE, "contains a space, a control character "
	  "or a non-ASCII byte" },
	{ "https://h\xc3\xa9/q", URL_BASE, "contains a space, a control "
	  "character or a non-ASCII byte" },
	{ "https://a!b/q", URL_BASE, "has a host with characters other than "
	  "letters, digits, '-', '.', '_' and '~'" },
	{ "https://a%41/q", URL_BASE, "has a host with characters other than "
	  "letters, digits, '-', '.', '_' and '~'" },
	{ "https://h:/q", URL_BASE, "has a port that is not a number from 1 "
	  "to 65535" },
	{ "https://h:0/q", URL_BASE, "has a port that is not a number from 1 "
	  "to 65535" },
	{ "https://h:65536/q", URL_BASE, "has a port that is not a number "
	  "from 1 to 65535" },
	{ "https://h:123456/q", URL_BASE, "has a port that is not a number "
	  "from 1 to 65535" },
	{ "https://h:44x/q", URL_BASE, "has a port that is not a number from "
	  "1 to 65535" },
	{ "https://h:-1/q", URL_BASE, "has a port that is not a number from "
	  "1 to 65535" },
	{ "https://h:1:2/q", URL_BASE, "has a port that is not a number from "
	  "1 to 65535" },
	{ "http://[]/q", URL_BASE, "has a host in brackets that is not an "
	  "IPv6 address" },
	{ "http://[::1/q", URL_BASE, "has a '[' without its ']'" },
	{ "http://[1.2.3.4]/q", URL_BASE, "has a host in brackets that is not "
	  "an IPv6 address" },
	{ "http://[::1%25eth0]/q", URL_BASE, "has a host in brackets that is "
	  "not an IPv6 address" },
	{ "http://[::1]x/q", URL_BASE, "has something other than a port "
	  "after its [IPv6] host" },
	{ "http://[::1]:0/q", URL_BASE, "has a port that is not a number from "
	  "1 to 65535" },
	{ "https://user@h/1/q", URL_QUEUE, "must not carry a user name or "
	  "password" },
	{ "https://user:" PASSWORD "@h/1/q", URL_QUEUE, "must not carry a "
	  "user name or password" },
	{ "https://:" PASSWORD "@h", URL_BASE, "must not carry a user name or "
	  "password" },
	{ "https://sqs.example", URL_QUEUE, "has no path after the host" },
	{ "https://sqs.example/", URL_QUEUE, "has no path after the host" },
	{ "https://sqs.example/?x", URL_QUEUE, "must not have a query or "
	  "fragment" },
};

START_TEST(bad_urls)
{
	struct url u;
	char err[128];

	ck_assert_int_eq(url_parse(bad[_i].s, bad[_i].flags, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, bad[_i].err);
	ck_assert_int_eq(url_check(bad[_i].s, bad[_i].flags), -1);
	ck_assert_ptr_null(strstr(err, PASSWORD));
}
END_TEST

START_TEST(null_and_long)
{
	struct url u;
	char err[128], *s;

	ck_assert_int_eq(url_parse(NULL, URL_BASE, &u, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "is empty");
	/* No error buffer is fine. */
	ck_assert_int_eq(url_parse("x", URL_BASE, &u, NULL, 0), -1);

	s = malloc(URL_MAX + 2);
	ck_assert_ptr_nonnull(s);
	memcpy(s, "http://h/", 9);
	memset(s + 9, 'p', URL_MAX - 9);
	s[URL_MAX] = '\0';
	ck_assert_int_eq(url_parse(s, URL_QUEUE, &u, err, sizeof(err)), 0);
	s[URL_MAX] = 'p';
	s[URL_MAX + 1] = '\0';
	ck_assert_int_eq(url_parse(s, URL_QUEUE, &u, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "is longer than 2048 bytes");
	free(s);

	s = malloc(URL_HOST_MAX + 16);
	ck_assert_ptr_nonnull(s);
	memcpy(s, "http://", 7);
	memset(s + 7, 'h', URL_HOST_MAX);
	s[7 + URL_HOST_MAX] = '\0';
	ck_assert_int_eq(url_parse(s, URL_BASE, &u, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(u.host), URL_HOST_MAX);
	s[7 + URL_HOST_MAX] = 'h';
	s[8 + URL_HOST_MAX] = '\0';
	ck_assert_int_eq(url_parse(s, URL_BASE, &u, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "has a host longer than 255 bytes");
	free(s);
}
END_TEST

/* The flags decide which schemes: none accepted, none listed. */
START_TEST(no_scheme_accepted)
{
	struct url u;
	char err[128];

	ck_assert_int_eq(url_parse("http://h/q", URL_PATH, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "has a scheme that is not accepted here");
}
END_TEST

START_TEST(origin)
{
	static const struct {
		const char *s, *want;
	} cases[] = {
		{ "HTTPS://Sqs.Example.com/1/q", "https://Sqs.Example.com/" },
		{ "http://127.0.0.1:9324/000000000000/q",
		  "http://127.0.0.1:9324/" },
		{ "https://[::1]:9324/0/q", "https://[::1]:9324/" },
		{ "https://[::1]/0/q", "https://[::1]/" },
		{ "https://h", "https://h/" },
	};
	struct url u;
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(url_parse(cases[i].s, URL_BASE, &u, NULL, 0),
		    0);
		ck_assert_int_eq(url_origin(&u, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, cases[i].want);
	}
	/* "https://h/" needs 11 bytes. */
	ck_assert_int_eq(url_origin(&u, buf, 10), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(url_origin(&u, buf, 11), 0);
}
END_TEST

START_TEST(mask)
{
	static const struct {
		const char *s, *want;
	} cases[] = {
		{ "https://user:" PASSWORD "@h/1/q", "https://user:***@h/1/q" },
		{ "https://" PASSWORD "@edge.example",
		  "https://***@edge.example" },
		{ "https://u:p@ss/w@rd@h/q", "https://u:***@h/q" },
		{ "user:" PASSWORD "@h/q", "user:***@h/q" },
		{ "redis://default:" PASSWORD "@h:6380/3",
		  "redis://default:***@h:6380/3" },
		{ "redis://:" PASSWORD "@[::1]", "redis://:***@[::1]" },
		{ "redis://" PASSWORD "@h", "redis://***@h" },
		{ "redis://u:a:" PASSWORD "@h", "redis://u:***@h" },
		{ "redis://u:pa/ss" PASSWORD "@h", "redis://u:***@h" },
		{ "https://h/1/q", "https://h/1/q" },
		{ "not a url", "not a url" },
		{ "", "" },
	};
	char buf[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		url_mask(cases[i].s, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].want);
		ck_assert_ptr_null(strstr(buf, PASSWORD));
	}
	url_mask(NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	/* Cut to fit, terminated. */
	url_mask("https://u:" PASSWORD "@host/q", buf, 12);
	ck_assert_str_eq(buf, "https://u:*");
	url_mask("x", buf, 0);
}
END_TEST

/* REDIS_URL: redis://[user[:password]@]host[:port][/db], as ioredis. */
START_TEST(redis_good)
{
	static const struct {
		const char	*s;
		const char	*scheme, *host, *user, *password;
		int		 port, db, tls, ipv6;
	} cases[] = {
		{ "redis://localhost", "redis", "localhost", NULL, NULL, 6379,
		  0, 0, 0 },
		{ "redis://127.0.0.1:6380/3", "redis", "127.0.0.1", NULL, NULL,
		  6380, 3, 0, 0 },
		{ "REDIS://h/", "redis", "h", NULL, NULL, 6379, 0, 0, 0 },
		{ "redis://stigg:" PASSWORD "@redis.internal:6379/15",
		  "redis", "redis.internal", "stigg", PASSWORD, 6379, 15, 0,
		  0 },
		{ "redis://:" PASSWORD "@h", "redis", "h", NULL, PASSWORD,
		  6379, 0, 0, 0 },
		{ "redis://stigg@h", "redis", "h", "stigg", NULL, 6379, 0, 0,
		  0 },
		{ "redis://stigg:@h", "redis", "h", "stigg", NULL, 6379, 0, 0,
		  0 },
		{ "redis://@h", "redis", "h", NULL, NULL, 6379, 0, 0, 0 },
		{ "redis://[::1]:7000/2", "redis", "::1", NULL, NULL, 7000, 2,
		  0, 1 },
		{ "redis://u:p@[2001:db8::7]", "redis", "2001:db8::7", "u",
		  "p", 6379, 0, 0, 1 },
		/* Decoded; the last '@' ends them, the first ':' splits. */
		{ "redis://us%65r%3Ax:p%40ss%2Fw%3a%25@h", "redis", "h",
		  "user:x", "p@ss/w:%", 6379, 0, 0, 0 },
		{ "redis://u:p@ss:w@rd@h", "redis", "h", "u", "p@ss:w@rd",
		  6379, 0, 0, 0 },
		{ "redis://h/2147483647", "redis", "h", NULL, NULL, 6379,
		  2147483647, 0, 0 },
		{ "redis://h/007", "redis", "h", NULL, NULL, 6379, 7, 0, 0 },
		/* TLS (config turns redis_tls on), the same default port. */
		{ "rediss://h:6380/1", "rediss", "h", NULL, NULL, 6380, 1, 1,
		  0 },
		{ "REDISS://u:" PASSWORD "@[::1]/2", "rediss", "::1", "u",
		  PASSWORD, 6379, 2, 1, 1 },
		{ "rediss://redis.internal", "rediss", "redis.internal", NULL,
		  NULL, 6379, 0, 1, 0 },
	};
	struct url u;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(url_parse(cases[i].s, URL_REDIS_URL, &u, err,
		    sizeof(err)) == 0, "%s: %s", cases[i].s, err);
		ck_assert_str_eq(u.scheme, cases[i].scheme);
		ck_assert_str_eq(u.host, cases[i].host);
		if (cases[i].user == NULL)
			ck_assert_ptr_null(u.user);
		else
			ck_assert_str_eq(u.user, cases[i].user);
		if (cases[i].password == NULL)
			ck_assert_ptr_null(u.password);
		else
			ck_assert_str_eq(u.password, cases[i].password);
		ck_assert_int_eq(u.port, cases[i].port);
		ck_assert_int_eq(u.db, cases[i].db);
		ck_assert_int_eq(u.tls, cases[i].tls);
		ck_assert_int_eq(u.ipv6, cases[i].ipv6);
		url_free(&u);
		ck_assert_ptr_null(u.user);
		ck_assert_ptr_null(u.password);
		url_free(&u);		/* twice is fine */
	}
}
END_TEST

static const struct {
	const char	*s;
	const char	*err;
} redis_bad[] = {
	{ "http://h", "must start with redis:// or rediss://" },
	{ "redis:/h", "must start with redis:// or rediss://" },
	{ "redis://", "has no host" },
	{ "redis://u:" PASSWORD "@", "has no host" },
	{ "redis://u:" PASSWORD "@:6379", "has no host" },
	{ "redis://h:0", "has a port that is not a number from 1 to 65535" },
	{ "rediss://u:" PASSWORD "@h:0", "has a port that is not a number "
	  "from 1 to 65535" },
	{ "rediss://h/1?ssl=true", "must not have a query or fragment" },
	{ "rediss:/h", "must start with redis:// or rediss://" },
	{ "redis+tls://h", "must start with redis:// or rediss://" },
	{ "redis://h:65536/1", "has a port that is not a number from 1 to "
	  "65535" },
	{ "redis://u:" PASSWORD "@h:x", "has a port that is not a number "
	  "from 1 to 65535" },
	{ "redis://h/x", "has a path that is not a database number from 0 "
	  "to 2147483647" },
	{ "redis://h/-1", "has a path that is not a database number from 0 "
	  "to 2147483647" },
	{ "redis://h/2147483648", "has a path that is not a database number "
	  "from 0 to 2147483647" },
	{ "redis://h/99999999999999999999", "has a path that is not a "
	  "database number from 0 to 2147483647" },
	{ "redis://h//", "has a path that is not a database number from 0 "
	  "to 2147483647" },
	{ "redis://h/3/", "has a path beyond the database number (/<db>)" },
	{ "redis://h/3/x", "has a path beyond the database number (/<db>)" },
	{ "redis://h/3?db=4", "must not have a query or fragment" },
	{ "redis://h?family=6", "must not have a query or fragment" },
	{ "redis://h/0#f", "must not have a query or fragment" },
	{ "redis://u:" PASSWORD "%zz@h", "has a password with a '%' not "
	  "followed by two hex digits" },
	{ "redis://u:" PASSWORD "%4@h", "has a password with a '%' not "
	  "followed by two hex digits" },
	{ "redis://u:" PASSWORD "%@h", "has a password with a '%' not "
	  "followed by two hex digits" },
	{ "redis://u%g1:" PASSWORD "@h", "has a user name with a '%' not "
	  "followed by two hex digits" },
	{ "redis://u:" PASSWORD "%00@h", "has a password with %00 (a NUL "
	  "byte) in it" },
	{ "redis://u:" PASSWORD " @h", "contains a space, a control character "
	  "or a non-ASCII byte" },
	/* A raw '/' ends the host part: the rest is no port. */
	{ "redis://u:pa/ss" PASSWORD "@h", "has a port that is not a number "
	  "from 1 to 65535" },
};

START_TEST(redis_bad_urls)
{
	struct url u;
	char err[128];

	ck_assert_msg(url_parse(redis_bad[_i].s, URL_REDIS_URL, &u, err,
	    sizeof(err)) == -1, "%s", redis_bad[_i].s);
	ck_assert_str_eq(err, redis_bad[_i].err);
	ck_assert_ptr_null(strstr(err, PASSWORD));
	/* Nothing is left allocated on an error. */
	ck_assert_ptr_null(u.user);
	ck_assert_ptr_null(u.password);
	ck_assert_int_eq(url_check(redis_bad[_i].s, URL_REDIS_URL), -1);
}
END_TEST

/* The flags keep the families apart: no credentials in an http URL. */
START_TEST(redis_flags)
{
	struct url u;
	char err[128];

	ck_assert_int_eq(url_parse("redis://h", URL_BASE, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "must start with http:// or https://");
	ck_assert_int_eq(url_parse("rediss://h", URL_BASE, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "must start with http:// or https://");
	ck_assert_int_eq(url_parse("https://h", URL_REDIS_URL, &u, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "must start with redis:// or rediss://");
	ck_assert_int_eq(url_parse("https://u:p@h", URL_BASE | URL_DB, &u,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "must not carry a user name or password");
	ck_assert_int_eq(url_parse("redis://u:p@h/1/2", URL_REDIS |
	    URL_USERINFO, &u, err, sizeof(err)), 0);
	ck_assert_uint_eq(u.path_len, 4);
	ck_assert_int_eq(u.db_given, 0);
	url_free(&u);
	ck_assert_int_eq(url_check("redis://u:p@h/5", URL_REDIS_URL), 0);
}
END_TEST

static Suite *
url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, good_urls_parts);
	tcase_add_test(tc, query_and_fragment);
	tcase_add_loop_test(tc, bad_urls, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, null_and_long);
	tcase_add_test(tc, no_scheme_accepted);
	tcase_add_test(tc, origin);
	tcase_add_test(tc, mask);
	tcase_add_test(tc, redis_good);
	tcase_add_loop_test(tc, redis_bad_urls, 0,
	    sizeof(redis_bad) / sizeof(redis_bad[0]));
	tcase_add_test(tc, redis_flags);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(url_suite());
}
