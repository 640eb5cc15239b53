/*
 * Unit tests for jdoc, the strict JSON parser of the event path: every
 * kind of value read back (numbers as int64 or as doubles with their
 * text, escapes, surrogate pairs and lone surrogates, raw UTF-8, NUL in
 * a string, nesting up to the limit), repeated names (the last value,
 * printed in the first place), and every kind of text refused, with the
 * error and the offset the log line names.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jdoc.h"
#include "testutil.h"

struct out {
	char	s[4096];
	size_t	len;
};

static void
put(struct out *o, const char *s, size_t n)
{
	ck_assert_uint_lt(o->len + n, sizeof(o->s));
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/*
 * v as text the tests compare: ints in decimal, doubles as d(<text>),
 * strings quoted with every byte outside printable ASCII as \xNN, every
 * member in its place, repeated or not.  Walks the nodes as a reader
 * does (jnode_next), so that a wrong size shows.
 */
static const struct jnode *
dump(struct out *o, const struct jnode *v)
{
	const struct jnode *e;
	char buf[64];
	uint32_t i, k;

	switch (v->type) {
	case JT_NULL:
		puts_(o, "null");
		break;
	case JT_BOOL:
		puts_(o, v->v.b ? "true" : "false");
		break;
	case JT_INT:
		snprintf(buf, sizeof(buf), "%lld", (long long)v->v.i);
		puts_(o, buf);
		ck_assert_uint_eq(strlen(v->s), v->len);
		break;
	case JT_DOUBLE:
		snprintf(buf, sizeof(buf), "d(%s)", v->s);
		puts_(o, buf);
		ck_assert_uint_eq(strlen(v->s), v->len);
		break;
	case JT_STRING:
		ck_assert_int_eq(v->s[v->len], '\0');
		puts_(o, "\"");
		for (k = 0; k < v->len; k++) {
			unsigned char c = (unsigned char)v->s[k];

			if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
				put(o, (const char *)&c, 1);
			else {
				snprintf(buf, sizeof(buf), "\\x%02x", c);
				puts_(o, buf);
			}
		}
		puts_(o, "\"");
		break;
	case JT_ARRAY:
	case JT_OBJECT:
		puts_(o, v->type == JT_ARRAY ? "[" : "{");
		for (i = 0, e = v + 1; i < v->len; i++) {
			if (i > 0)
				puts_(o, ",");
			if (v->type == JT_OBJECT) {
				ck_assert_int_eq(e->type, JT_STRING);
				e = dump(o, e);
				puts_(o, ":");
			}
			e = dump(o, e);
		}
		ck_assert_ptr_eq(e, jnode_next(v));
		puts_(o, v->type == JT_ARRAY ? "]" : "}");
		break;
	default:
		ck_abort_msg("node of unknown type %d", v->type);
	}
	return jnode_next(v);
}

static void
good_len(const char *text, size_t len, const char *want)
{
	struct jdoc d;
	struct out o = { "", 0 };

	ck_assert_msg(jdoc_parse(&d, text, len) == 0, "%s: %s at %zu", text,
	    d.what, d.at);
	ck_assert_ptr_eq(dump(&o, d.n), d.n + d.nn);
	ck_assert_str_eq(o.s, want);
	jdoc_free(&d);
}

static void
good(const char *text, const char *want)
{
	good_len(text, strlen(text), want);
}

static void
bad_len(const char *text, size_t len, const char *what, size_t at)
{
	struct jdoc d;

	ck_assert_msg(jdoc_parse(&d, text, len) == JDOC_BAD,
	    "%s: accepted", text);
	ck_assert_msg(strcmp(d.what, what) == 0 && d.at == at,
	    "%s: '%s' at %zu, not '%s' at %zu", text, d.what, d.at, what, at);
	jdoc_free(&d);
}

static void
bad(const char *text, const char *what, size_t at)
{
	bad_len(text, strlen(text), what, at);
}

START_TEST(values)
{
	good(" {\"a\" : 1 ,\"b\":[true,false,null],\r\n\t\"c\":\"x\"} ",
	    "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}");
	good("{}", "{}");
	good("[]", "[]");
	good("[[],{},[{}]]", "[[],{},[{}]]");
	good("\"\"", "\"\"");
	good("5", "5");
	good("null", "null");
	good("[\"a\",{\"b\":[1,{\"c\":null}]},\"d\"]",
	    "[\"a\",{\"b\":[1,{\"c\":null}]},\"d\"]");
}
END_TEST

START_TEST(numbers)
{
	/* Integers that fit int64; "-0" is 0. */
	good("[0,-0,12,-12,9223372036854775807,-9223372036854775808]",
	    "[0,0,12,-12,9223372036854775807,-9223372036854775808]");
	/* Beyond int64, fractions and exponents: doubles, as sent. */
	good("[9223372036854775808,-9223372036854775809,1.5,-1e3,1E+2,2e-1,"
	    "0.0,1e999]",
	    "[d(9223372036854775808),d(-9223372036854775809),d(1.5),"
	    "d(-1e3),d(1E+2),d(2e-1),d(0.0),d(1e999)]");
	/* The last number of the text, with no separator after it. */
	good("-12.5e-3", "d(-12.5e-3)");
	good("7", "7");
}
END_TEST

START_TEST(number_values)
{
	struct jdoc d;

	ck_assert_int_eq(jdoc_parse(&d, "[1.25,-3e2,1e999,9007199254740993]",
	    34), 0);
	ck_assert(d.n[1].v.d == 1.25);
	ck_assert(d.n[2].v.d == -300.0);
	ck_assert(d.n[3].v.d > 1e308);	/* infinite: the caller refuses it */
	ck_assert_int_eq(d.n[4].type, JT_INT);
	ck_assert(d.n[4].v.i == INT64_C(9007199254740993));
	jdoc_free(&d);
}
END_TEST

START_TEST(strings)
{
	good("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	    "\"\\x22\\x5c/\\x08\\x0c\\x0a\\x0d\\x09\"");
	good("\"\\u0041\\u00e9\\u65E5\\ud83d\\ude00\"",
	    "\"A\\xc3\\xa9\\xe6\\x97\\xa5\\xf0\\x9f\\x98\\x80\"");
	/* Raw UTF-8 as it is. */
	good("\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\x7f\"",
	    "\"\\xc3\\xa9\\xe6\\x97\\xa5\\xf0\\x9f\\x98\\x80\\x7f\"");
	/* A surrogate without its pair is U+FFFD, as json-c has it. */
	good("\"\\ud800x\"", "\"\\xef\\xbf\\xbdx\"");
	good("\"\\udc00\"", "\"\\xef\\xbf\\xbd\"");
	good("\"\\ud800\\u0041\"", "\"\\xef\\xbf\\xbdA\"");
	good("\"\\ud800\\ud800\\udc00\"",
	    "\"\\xef\\xbf\\xbd\\xf0\\x90\\x80\\x80\"");
	/* A NUL inside a string counts in its length. */
	good("\"a\\u0000b\"", "\"a\\x00b\"");
	/* Names decode as strings do. */
	good("{\"\\u0061\\n\":1}", "{\"a\\x0a\":1}");
}
END_TEST

START_TEST(nesting)
{
	char text[2 * JDOC_MAX_DEPTH + 3], want[2 * JDOC_MAX_DEPTH + 3];
	int i;

	for (i = 0; i < JDOC_MAX_DEPTH; i++) {
		text[i] = '[';
		text[2 * JDOC_MAX_DEPTH - 1 - i] = ']';
	}
	text[2 * JDOC_MAX_DEPTH] = '\0';
	memcpy(want, text, sizeof(want));
	good(text, want);
	/* One more is refused where it opens. */
	text[0] = '[';
	memmove(text + 1, text, 2 * JDOC_MAX_DEPTH + 1);
	text[2 * JDOC_MAX_DEPTH + 1] = ']';
	text[2 * JDOC_MAX_DEPTH + 2] = '\0';
	bad(text, "nesting too deep", JDOC_MAX_DEPTH);
	/* And a scalar inside the 32: json-c counts it as one more. */
	text[JDOC_MAX_DEPTH] = '1';
	memmove(text + JDOC_MAX_DEPTH + 1, text + JDOC_MAX_DEPTH + 2,
	    JDOC_MAX_DEPTH + 1);
	bad(text, "nesting too deep", JDOC_MAX_DEPTH);
}
END_TEST

/* o's members as jnode_members gives them: "name=value,...". */
static void
members_are(const struct jnode *o, const char *want)
{
	struct jmember *m;
	struct out out = { "", 0 };
	size_t i, n;

	ck_assert_int_eq(jnode_members(o, &m, &n), 0);
	for (i = 0; i < n; i++) {
		if (i > 0)
			puts_(&out, ",");
		puts_(&out, m[i].key->s);
		puts_(&out, "=");
		dump(&out, m[i].value);
		/* The value printed is the one a lookup finds. */
		ck_assert_ptr_eq(m[i].value, jnode_member(o, m[i].key->s));
	}
	free(m);
	ck_assert_str_eq(out.s, want);
}

START_TEST(repeated_names)
{
	static const char big[] = "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,"
	    "\"e\":5,\"b\":6,\"f\":7,\"g\":8,\"h\":9,\"i\":10,\"a\":11,"
	    "\"j\":12,\"k\":13,\"a\":14}";
	struct jdoc d;
	const struct jnode *a, *b;

	ck_assert_int_eq(jdoc_parse(&d, "{\"a\":1,\"b\":2,\"a\":[3],\"a\":4}",
	    27), 0);
	a = jnode_member(d.n, "a");
	b = jnode_member(d.n, "b");
	ck_assert(a != NULL && a->type == JT_INT && a->v.i == 4);
	ck_assert(b != NULL && b->v.i == 2);
	ck_assert_ptr_null(jnode_member(d.n, "c"));
	ck_assert_ptr_null(jnode_member(d.n, ""));
	ck_assert_ptr_null(jnode_member(b, "a"));	/* not an object */
	/* Printed once, first, with the last value. */
	members_are(d.n, "a=4,b=2");
	jdoc_free(&d);

	/* Past MEMBERS_SCAN members, through the hash: the same rule. */
	ck_assert_int_eq(jdoc_parse(&d, big, sizeof(big) - 1), 0);
	members_are(d.n, "a=14,b=6,c=3,d=4,e=5,f=7,g=8,h=9,i=10,j=12,k=13");
	jdoc_free(&d);

	ck_assert_int_eq(jdoc_parse(&d, "{}", 2), 0);
	members_are(d.n, "");
	jdoc_free(&d);

	/* A JSON null is there, as a node. */
	ck_assert_int_eq(jdoc_parse(&d, "{\"n\":null}", 10), 0);
	a = jnode_member(d.n, "n");
	ck_assert(a != NULL && a->type == JT_NULL);
	jdoc_free(&d);
}
END_TEST

START_TEST(syntax_errors)
{
	bad("", "unexpected end of data", 0);
	bad("   ", "unexpected end of data", 3);
	bad("{", "unexpected end of data", 1);
	bad("{\"a\":", "unexpected end of data", 5);
	bad("{\"a\":1,}", "unexpected character", 7);
	bad("{\"a\" 1}", "unexpected character", 5);
	bad("{\"a\":1 \"b\":2}", "unexpected character", 7);
	bad("{1:2}", "unexpected character", 1);
	bad("[1,]", "unexpected character", 3);
	bad("[1 2]", "unexpected character", 3);
	bad("[,1]", "unexpected character", 1);
	bad("{'a':1}", "unexpected character", 1);
	bad("/* c */ {}", "unexpected character", 0);
	bad("tru", "unexpected end of data", 3);
	bad("trUe", "unexpected character", 2);
	bad("True", "unexpected character", 0);
	bad("[nul]", "unexpected character", 4);
	bad("NaN", "unexpected character", 0);
	bad("[Infinity]", "unexpected character", 1);
	bad("[-Infinity]", "unexpected character", 2);
	bad("{\"a\":1} x", "trailing characters", 8);
	bad("{}{}", "trailing characters", 2);
	bad_len("{}\0", 3, "trailing characters", 2);
	bad_len("\0{}", 3, "unexpected character", 0);
}
END_TEST

START_TEST(number_errors)
{
	bad("01", "trailing characters", 1);
	bad("[01]", "unexpected character", 2);
	bad("[-01]", "unexpected character", 3);
	bad("-", "unexpected end of data", 1);
	bad("[-a]", "unexpected character", 2);
	bad("1.", "unexpected end of data", 2);
	bad("[1.e3]", "unexpected character", 3);
	bad("1e", "unexpected end of data", 2);
	bad("1e+", "unexpected end of data", 3);
	bad("[.5]", "unexpected character", 1);
	bad("[+1]", "unexpected character", 1);
	bad("[0x10]", "unexpected character", 2);
}
END_TEST

START_TEST(string_errors)
{
	bad("\"a", "unexpected end of data", 2);
	bad("\"a\\", "unexpected end of data", 3);
	bad("\"\\q\"", "invalid string sequence", 1);
	bad("\"x\\'\"", "invalid string sequence", 2);
	bad("\"\\u12\"", "unexpected end of data", 6);
	bad("\"\\u12G4\"", "invalid string sequence", 1);
	bad("\"a\tb\"", "control character in a string", 2);
	bad("\"a\nb\"", "control character in a string", 2);
	bad_len("\"a\0b\"", 5, "control character in a string", 2);
	/* UTF-8 as RFC 3629 has it. */
	bad("\"\x80\"", "invalid utf-8 string", 1);
	bad("\"\xc0\x80\"", "invalid utf-8 string", 1);	/* overlong */
	bad("\"\xc1\xbf\"", "invalid utf-8 string", 1);
	bad("\"\xe0\x80\x80\"", "invalid utf-8 string", 1);
	bad("\"\xf0\x80\x80\x80\"", "invalid utf-8 string", 1);
	bad("\"\xed\xa0\x80\"", "invalid utf-8 string", 1); /* a surrogate */
	bad("\"\xf4\x90\x80\x80\"", "invalid utf-8 string", 1); /* > U+10FFFF */
	bad("\"\xf5\x80\x80\x80\"", "invalid utf-8 string", 1);
	bad("\"a\xe2\x82\"", "invalid utf-8 string", 2);	/* cut short */
	bad_len("\"\xe2\x82", 3, "invalid utf-8 string", 1);
	bad("\"\xc3\xa9\xff\"", "invalid utf-8 string", 3);
	/* Outside a string, any byte above ASCII is unexpected. */
	bad("\xc3\xa9", "unexpected character", 0);
}
END_TEST

static Suite *
jdoc_suite(void)
{
	Suite *s = suite_create("jdoc");
	TCase *tc = tcase_create("jdoc");

	tcase_add_test(tc, values);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, number_values);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, nesting);
	tcase_add_test(tc, repeated_names);
	tcase_add_test(tc, syntax_errors);
	tcase_add_test(tc, number_errors);
	tcase_add_test(tc, string_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(jdoc_suite());
}
