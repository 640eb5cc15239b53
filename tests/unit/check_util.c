/*
 * Unit tests for util's string helpers and deferred free: util_clean
 * (bounds, quotes and dots, control characters, UTF-8 kept or not and
 * cut on a character boundary, the space and first-line modes),
 * util_redact (every occurrence, the longest secret, a buffer cut in the
 * middle of a secret, growth past the buffer) and struct util_reentry.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util.h"

static int
clean(char *dst, size_t size, const char *s, size_t max, int flags)
{
	return util_clean(dst, size, s, strlen(s), max, flags);
}

START_TEST(clean_plain_and_quoted)
{
	char buf[64];

	ck_assert_int_eq(clean(buf, sizeof(buf), "hello, world", 0, 0), 0);
	ck_assert_str_eq(buf, "hello, world");
	ck_assert_int_eq(clean(buf, sizeof(buf), "v", 0, UTIL_CLEAN_QUOTE), 0);
	ck_assert_str_eq(buf, "'v'");
	ck_assert_int_eq(clean(buf, sizeof(buf), "", 0, UTIL_CLEAN_QUOTE), 0);
	ck_assert_str_eq(buf, "''");
	ck_assert_int_eq(util_clean(buf, sizeof(buf), NULL, 5, 0, 0), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(clean_controls)
{
	char buf[64];

	ck_assert_int_eq(clean(buf, sizeof(buf), "a\nb\x01" "c\x7f" "d\te", 0,
	    0), 0);
	ck_assert_str_eq(buf, "a?b?c?d?e");
	/* NUL bytes inside the length are controls too. */
	ck_assert_int_eq(util_clean(buf, sizeof(buf), "a\0b", 3, 0, 0), 0);
	ck_assert_str_eq(buf, "a?b");
	/* C1 controls and U+2028, though valid UTF-8, are one '?' each. */
	ck_assert_int_eq(clean(buf, sizeof(buf), "a\xc2\x85" "b\xe2\x80\xa8"
	    "c", 0, 0), 0);
	ck_assert_str_eq(buf, "a?b?c");
}
END_TEST

START_TEST(clean_utf8)
{
	char buf[64];

	/* Valid UTF-8 is kept... */
	ck_assert_int_eq(clean(buf, sizeof(buf), "J\xc3\xbcrgen \xe2\x82\xac "
	    "\xf0\x9f\x98\x80", 0, 0), 0);
	ck_assert_str_eq(buf, "J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x98\x80");
	/* ...unless ASCII is asked for: a '?' a byte. */
	ck_assert_int_eq(clean(buf, sizeof(buf), "J\xc3\xbcrgen \xe2\x82\xac",
	    0, UTIL_CLEAN_ASCII), 0);
	ck_assert_str_eq(buf, "J??rgen ???");
	/* Invalid: stray, overlong, surrogate, too large, cut short. */
	ck_assert_int_eq(clean(buf, sizeof(buf), "\xff|\xc0\xaf|\xed\xa0\x80|"
	    "\xf4\x90\x80\x80|\xe2\x82", 0, 0), 0);
	ck_assert_str_eq(buf, "?|??|???|????|??");
}
END_TEST

START_TEST(clean_bounds)
{
	char buf[128], want[128], src[201];

	memset(src, 'x', 200);
	src[200] = '\0';
	/* The configuration's way: 64 bytes of the value, quoted, dots. */
	ck_assert_int_eq(clean(buf, 72, src, 64, UTIL_CLEAN_QUOTE |
	    UTIL_CLEAN_DOTS), 1);
	snprintf(want, sizeof(want), "'%.64s...'", src);
	ck_assert_str_eq(buf, want);
	/* Exactly max bytes: not cut, no dots. */
	src[64] = '\0';
	ck_assert_int_eq(clean(buf, 72, src, 64, UTIL_CLEAN_QUOTE |
	    UTIL_CLEAN_DOTS), 0);
	snprintf(want, sizeof(want), "'%.64s'", src);
	ck_assert_str_eq(buf, want);
	/* The buffer bounds too; the dots take their room from the text. */
	ck_assert_int_eq(clean(buf, 8, "abcdefghij", 0, 0), 1);
	ck_assert_str_eq(buf, "abcdefg");
	ck_assert_int_eq(clean(buf, 8, "abcdefghij", 0, UTIL_CLEAN_DOTS), 1);
	ck_assert_str_eq(buf, "abcd...");
	ck_assert_int_eq(clean(buf, 8, "abcdefghij", 0, UTIL_CLEAN_QUOTE |
	    UTIL_CLEAN_DOTS), 1);
	ck_assert_str_eq(buf, "'ab...'");
	ck_assert_int_eq(clean(buf, 8, "abcdefg", 0, UTIL_CLEAN_DOTS), 0);
	ck_assert_str_eq(buf, "abcdefg");
	/* Too small for the quotes or the dots: what fits. */
	ck_assert_int_eq(clean(buf, 2, "ab", 0, UTIL_CLEAN_QUOTE), 1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(clean(buf, 3, "abc", 0, UTIL_CLEAN_DOTS), 1);
	ck_assert_str_eq(buf, "ab");
	ck_assert_int_eq(clean(buf, 0, "abc", 0, 0), 1);
}
END_TEST

START_TEST(clean_cuts_on_a_character)
{
	char buf[16];

	/* "ab" and a 2-byte character in 3 bytes of room: it goes. */
	ck_assert_int_eq(clean(buf, 4, "ab\xc3\xa9", 0, 0), 1);
	ck_assert_str_eq(buf, "ab");
	ck_assert_int_eq(clean(buf, 5, "ab\xc3\xa9", 0, 0), 0);
	ck_assert_str_eq(buf, "ab\xc3\xa9");
	ck_assert_int_eq(clean(buf, sizeof(buf), "a\xe2\x82\xac\xe2\x82\xac", 5,
	    UTIL_CLEAN_DOTS), 1);
	ck_assert_str_eq(buf, "a\xe2\x82\xac...");
}
END_TEST

START_TEST(clean_space_and_line)
{
	char buf[64];

	/* An Edge API body: runs of controls as one space, none at the ends. */
	ck_assert_int_eq(clean(buf, sizeof(buf), "\n{\n\t\"a\": 1,\r\n\t\"b\": "
	    "\"\xc3\xa9\"\n}\n", 0, UTIL_CLEAN_SPACE | UTIL_CLEAN_ASCII), 0);
	ck_assert_str_eq(buf, "{ \"a\": 1, \"b\": \"??\" }");
	ck_assert_int_eq(clean(buf, sizeof(buf), "a \n b  ", 0,
	    UTIL_CLEAN_SPACE), 0);
	ck_assert_str_eq(buf, "a  b");
	/* An AWS message: its first line only, and that is no cut. */
	ck_assert_int_eq(clean(buf, sizeof(buf), "bad\tsignature\n\nPOST\n/",
	    0, UTIL_CLEAN_LINE | UTIL_CLEAN_SPACE), 0);
	ck_assert_str_eq(buf, "bad signature");
	ck_assert_int_eq(clean(buf, sizeof(buf), "x\ry", 0, UTIL_CLEAN_LINE),
	    0);
	ck_assert_str_eq(buf, "x");
	ck_assert_int_eq(clean(buf, 6, "abcde\nfg", 0, UTIL_CLEAN_LINE), 0);
	ck_assert_str_eq(buf, "abcde");
}
END_TEST

static int
redact1(char *buf, size_t size, const char *secret, int cut)
{
	const char *secrets[1];

	secrets[0] = secret;
	return util_redact(buf, size, secrets, 1, cut);
}

START_TEST(redact_every_occurrence)
{
	const char *secrets[4] = { NULL, "abc", "s3cr3t", "t0k3n-value" };
	char buf[128];

	snprintf(buf, sizeof(buf), "key=s3cr3t, again s3cr3ts3cr3t, "
	    "t0k3n-value; abc");
	ck_assert_int_eq(util_redact(buf, sizeof(buf), secrets, 4, 0), 4);
	/* "abc" is shorter than UTIL_SECRET_MIN: left alone. */
	ck_assert_str_eq(buf, "key=[redacted], again [redacted][redacted], "
	    "[redacted]; abc");
	/* Nothing to do. */
	snprintf(buf, sizeof(buf), "no secret here");
	ck_assert_int_eq(util_redact(buf, sizeof(buf), secrets, 4, 1), 0);
	ck_assert_str_eq(buf, "no secret here");
	ck_assert_int_eq(util_redact(buf, sizeof(buf), NULL, 0, 0), 0);
	/* A secret inside the replacement is not matched again. */
	snprintf(buf, sizeof(buf), "dact");
	ck_assert_int_eq(redact1(buf, sizeof(buf), "dact", 0), 1);
	ck_assert_str_eq(buf, UTIL_REDACTED);
}
END_TEST

START_TEST(redact_longest_first)
{
	const char *secrets[2] = { "AKIA", "AKIAIOSFODNN7EXAMPLE" };
	char buf[64];

	snprintf(buf, sizeof(buf), "id AKIAIOSFODNN7EXAMPLE, AKIA");
	ck_assert_int_eq(util_redact(buf, sizeof(buf), secrets, 2, 0), 2);
	ck_assert_str_eq(buf, "id [redacted], [redacted]");
}
END_TEST

START_TEST(redact_cut_secret)
{
	char buf[64];

	/* The line was cut in the middle of the secret: its start goes. */
	snprintf(buf, sizeof(buf), "sqs: HTTP 403: token wJalrXUtn");
	ck_assert_int_eq(redact1(buf, sizeof(buf), "wJalrXUtnFEMI/K7MDENG",
	    1), 1);
	ck_assert_str_eq(buf, "sqs: HTTP 403: token [redacted]");
	/* Uncut, the same text is not a secret. */
	snprintf(buf, sizeof(buf), "sqs: HTTP 403: token wJalrXUtn");
	ck_assert_int_eq(redact1(buf, sizeof(buf), "wJalrXUtnFEMI/K7MDENG",
	    0), 0);
	ck_assert_str_eq(buf, "sqs: HTTP 403: token wJalrXUtn");
	/* Even one byte of it. */
	snprintf(buf, sizeof(buf), "cut at w");
	ck_assert_int_eq(redact1(buf, sizeof(buf), "wJalrXUtnFEMI/K7MDENG",
	    1), 1);
	ck_assert_str_eq(buf, "cut at [redacted]");
}
END_TEST

START_TEST(redact_growth)
{
	const char *secrets[2] = { "abcd", "xyzw1234" };
	char buf[18];

	/* The replacement is longer: the end is cut to fit the buffer... */
	snprintf(buf, sizeof(buf), "abcd bbbb");
	ck_assert_int_eq(redact1(buf, 12, "abcd", 0), 1);
	ck_assert_str_eq(buf, "[redacted] ");
	/* ...which may cut a secret: its start goes too. */
	snprintf(buf, sizeof(buf), "abcd xyzw1234");
	ck_assert_int_eq(util_redact(buf, sizeof(buf), secrets, 2, 0), 2);
	ck_assert_str_eq(buf, "[redacted] [redac");
	ck_assert_ptr_null(strstr(buf, "xyz"));
	/* A replacement that does not fit itself is cut. */
	snprintf(buf, sizeof(buf), "0123456789 abcd");
	ck_assert_int_eq(redact1(buf, sizeof(buf), "abcd", 0), 1);
	ck_assert_str_eq(buf, "0123456789 [redac");
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
}
END_TEST

START_TEST(redact_unterminated)
{
	char buf[8];

	/* A full buffer without its NUL is read up to size - 1. */
	memcpy(buf, "xxs3cr3t", 8);
	ck_assert_int_eq(redact1(buf, sizeof(buf), "s3cr3t", 1), 1);
	ck_assert_str_eq(buf, "xx[reda");
}
END_TEST

START_TEST(reentry)
{
	struct util_reentry r;

	/* Freed outside any callback: at once. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(util_dying(&r), 0);
	ck_assert_int_eq(util_release(&r), 1);
	ck_assert_int_eq(util_dying(&r), 1);

	/* Freed by a callback: when that callback returns. */
	memset(&r, 0, sizeof(r));
	util_enter(&r);
	ck_assert_int_eq(util_release(&r), 0);
	ck_assert_int_eq(util_dying(&r), 1);
	ck_assert_int_eq(util_leave(&r), 1);

	/* Nested callbacks: when the outermost returns. */
	memset(&r, 0, sizeof(r));
	util_enter(&r);
	util_enter(&r);
	ck_assert_int_eq(util_release(&r), 0);
	ck_assert_int_eq(util_leave(&r), 0);
	ck_assert_int_eq(util_leave(&r), 1);

	/* A callback that frees nothing. */
	memset(&r, 0, sizeof(r));
	util_enter(&r);
	ck_assert_int_eq(util_leave(&r), 0);
	ck_assert_int_eq(util_dying(&r), 0);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, clean_plain_and_quoted);
	tcase_add_test(tc, clean_controls);
	tcase_add_test(tc, clean_utf8);
	tcase_add_test(tc, clean_bounds);
	tcase_add_test(tc, clean_cuts_on_a_character);
	tcase_add_test(tc, clean_space_and_line);
	tcase_add_test(tc, redact_every_occurrence);
	tcase_add_test(tc, redact_longest_first);
	tcase_add_test(tc, redact_cut_secret);
	tcase_add_test(tc, redact_growth);
	tcase_add_test(tc, redact_unterminated);
	tcase_add_test(tc, reentry);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(util_suite());
}
