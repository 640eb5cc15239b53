/*
 * Unit tests for log: the JSON escaping of a line's text (controls, valid
 * and invalid UTF-8, cuts that never split an escape; each result read
 * back by json-c), the collapsing of repeated warnings (the window, the
 * key that ignores numbers, the count line, the slots running out; the
 * lines never collapsed: about a message, info, log_always), and
 * whole lines written to a file in both formats.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "log.h"
#include "testutil.h"

/* Escape s (len bytes) into a fresh buffer of size bytes. */
static int
esc(char *buf, size_t size, const char *s, size_t len)
{
	size_t off = 0;

	return log_json_escape(buf, size, &off, s, len);
}

/* "<escaped>" parsed by json-c (strict, UTF-8 checked): its string. */
static const char *
decoded(struct json_object **o, const char *escaped)
{
	char text[1024];
	struct json_tokener *tok = json_tokener_new();
	int flags = JSON_TOKENER_STRICT;

#ifdef JSON_TOKENER_VALIDATE_UTF8
	flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
	snprintf(text, sizeof(text), "\"%s\"", escaped);
	json_tokener_set_flags(tok, flags);
	*o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	json_tokener_free(tok);
	ck_assert_msg(*o != NULL, "not JSON: %s", text);
	return json_object_get_string(*o);
}

START_TEST(escape_plain_and_syntax)
{
	char buf[256];
	struct json_object *o;

	ck_assert_int_eq(esc(buf, sizeof(buf), "redis: connected", 16), 0);
	ck_assert_str_eq(buf, "redis: connected");
	ck_assert_int_eq(esc(buf, sizeof(buf), "a \"b\" \\c/", 9), 0);
	ck_assert_str_eq(buf, "a \\\"b\\\" \\\\c/");
	ck_assert_str_eq(decoded(&o, buf), "a \"b\" \\c/");
	json_object_put(o);
}
END_TEST

START_TEST(escape_controls)
{
	char buf[256];
	struct json_object *o;

	ck_assert_int_eq(esc(buf, sizeof(buf), "a\nb\rc\td\001e\177f\0g", 13),
	    0);
	ck_assert_str_eq(buf, "a\\nb\\rc\\td\\u0001e\\u007ff\\u0000g");
	json_object_put((decoded(&o, buf), o));
	/* C1 controls are valid UTF-8, escaped for terminals. */
	ck_assert_int_eq(esc(buf, sizeof(buf), "x\xc2\x85y", 4), 0);
	ck_assert_str_eq(buf, "x\\u0085y");
	ck_assert_str_eq(decoded(&o, buf), "x\xc2\x85y");
	json_object_put(o);
}
END_TEST

START_TEST(escape_utf8)
{
	char buf[256];
	struct json_object *o;
	const char *good = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0";

	ck_assert_int_eq(esc(buf, sizeof(buf), good, strlen(good)), 0);
	ck_assert_str_eq(buf, good);
	ck_assert_str_eq(decoded(&o, buf), good);
	json_object_put(o);
	/* Each byte of invalid UTF-8 is one U+FFFD. */
	ck_assert_int_eq(esc(buf, sizeof(buf), "a\xff" "b", 3), 0);
	ck_assert_str_eq(buf, "a\\ufffdb");
	ck_assert_int_eq(esc(buf, sizeof(buf), "\xc0\xaf", 2), 0);	/* overlong */
	ck_assert_str_eq(buf, "\\ufffd\\ufffd");
	ck_assert_int_eq(esc(buf, sizeof(buf), "\xed\xa0\x80", 3), 0); /* surrogate */
	ck_assert_str_eq(buf, "\\ufffd\\ufffd\\ufffd");
	ck_assert_int_eq(esc(buf, sizeof(buf), "\xf4\x90\x80\x80", 4), 0);
	ck_assert_str_eq(buf, "\\ufffd\\ufffd\\ufffd\\ufffd");
	ck_assert_int_eq(esc(buf, sizeof(buf), "x\xe2\x82", 3), 0);	/* cut short */
	ck_assert_str_eq(buf, "x\\ufffd\\ufffd");
	ck_assert_str_eq(decoded(&o, buf), "x\xef\xbf\xbd\xef\xbf\xbd");
	json_object_put(o);
}
END_TEST

START_TEST(escape_cut)
{
	char buf[8];
	size_t off = 0;

	/* "ab" and \n fit (7 bytes and the NUL); the \u0001 does not. */
	ck_assert_int_eq(log_json_escape(buf, sizeof(buf), &off, "ab\n\001c", 5),
	    1);
	ck_assert_str_eq(buf, "ab\\n");
	ck_assert_uint_eq(off, 4);
	/* A character is never split. */
	off = 0;
	ck_assert_int_eq(log_json_escape(buf, 6, &off, "abcd\xe2\x82\xac", 7),
	    1);
	ck_assert_str_eq(buf, "abcd");
	/* Appending goes on from *off. */
	off = 2;
	memcpy(buf, "xy", 2);
	ck_assert_int_eq(log_json_escape(buf, sizeof(buf), &off, "\"", 1), 0);
	ck_assert_str_eq(buf, "xy\\\"");
	ck_assert_int_eq(log_json_escape(buf, 0, &off, "a", 1), 1);
}
END_TEST

#define W	LOG_REPEAT_WINDOW_MS

START_TEST(repeat_key)
{
	const char *f = "%s; retrying in %.1fs";
	uint64_t k = log_repeat_key(1, f, "sqs: down; retrying in 1.6s");

	ck_assert(k != 0);
	ck_assert(k == log_repeat_key(1, f, "sqs: down; retrying in 1.6s"));
	/* Another number says something else. */
	ck_assert(k != log_repeat_key(1, f, "sqs: down; retrying in 12.8s"));
	ck_assert(k != log_repeat_key(1, f, "sqs: 403; retrying in 1.6s"));
	ck_assert(k != log_repeat_key(0, f, "sqs: down; retrying in 1.6s"));
	ck_assert(k != log_repeat_key(1, "%s; again in %.1fs",
	    "sqs: down; retrying in 1.6s"));
}
END_TEST

START_TEST(repeat_window)
{
	struct log_repeats *r = calloc(1, sizeof(*r));
	char buf[LOG_TEXT_MAX];
	int level = -1;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(log_repeat_admit(r, 7, 1, "down 1", 1000), 1);
	ck_assert_int_eq(log_repeat_admit(r, 7, 1, "down 2", 2000), 0);
	ck_assert_int_eq(log_repeat_admit(r, 7, 1, "down 3", 1000 + W - 1), 0);
	/* Another line is followed on its own. */
	ck_assert_int_eq(log_repeat_admit(r, 8, 0, "other", 1500), 1);
	ck_assert_int_eq(log_repeat_due(r, 1000 + W - 1, 0, &level, buf,
	    sizeof(buf)), 0);
	/* Its window over: the count, with the last line not written. */
	ck_assert_int_eq(log_repeat_due(r, 1000 + W, 0, &level, buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "down 3 (repeated 2 times in 10s)");
	ck_assert_int_eq(level, 1);
	/* Key 8 never repeated: no line, and its slot is freed at its end. */
	ck_assert_int_eq(log_repeat_due(r, 1500 + W, 0, &level, buf,
	    sizeof(buf)), 0);
	/* Written again after the window, and a new window starts. */
	ck_assert_int_eq(log_repeat_admit(r, 7, 1, "down 4", 1000 + W), 1);
	ck_assert_int_eq(log_repeat_admit(r, 7, 1, "down 5", 2000 + W), 0);
	/* At exit, before its end: the time it took, rounded up. */
	ck_assert_int_eq(log_repeat_due(r, 3500 + W, 1, &level, buf,
	    sizeof(buf)), 1);
	ck_assert_str_eq(buf, "down 5 (repeated 1 time in 3s)");
	ck_assert_int_eq(log_repeat_due(r, 3500 + W, 1, &level, buf,
	    sizeof(buf)), 0);
	ck_assert_int_eq(log_repeat_admit(r, 7, 1, "down 6", 3600 + W), 1);
	free(r);
}
END_TEST

START_TEST(repeat_slots_run_out)
{
	struct log_repeats *r = calloc(1, sizeof(*r));
	char buf[LOG_TEXT_MAX], longtext[LOG_TEXT_MAX];
	int level;
	uint64_t k;

	ck_assert_ptr_nonnull(r);
	for (k = 1; k <= LOG_REPEAT_SLOTS; k++)
		ck_assert_int_eq(log_repeat_admit(r, k, 1, "x", 0), 1);
	/* No slot left: written every time, never lost. */
	ck_assert_int_eq(log_repeat_admit(r, 1000, 1, "y", 1), 1);
	ck_assert_int_eq(log_repeat_admit(r, 1000, 1, "y", 2), 1);
	ck_assert_int_eq(log_repeat_admit(r, 1, 1, "x", 3), 0);
	/* A text as long as can be still gets its count. */
	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	ck_assert_int_eq(log_repeat_admit(r, 2, 1, longtext, 4), 0);
	while (log_repeat_due(r, W, 0, &level, buf, sizeof(buf)))
		if (buf[0] == 'a')
			ck_assert_msg(strstr(buf, " (repeated 1 time in 10s)")
			    != NULL, "%s", buf + strlen(buf) - 40);
	/* Slots free again: followed. */
	ck_assert_int_eq(log_repeat_admit(r, 1000, 1, "y", W + 1), 1);
	ck_assert_int_eq(log_repeat_admit(r, 1000, 1, "y", W + 2), 0);
	free(r);
}
END_TEST

/* The lines of the log file so far, then emptied. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char text[65536];
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_int_eq(truncate(path, 0), 0);
	return text;
}

static struct json_object *
json_line(const char *line)
{
	struct json_object *o = json_tokener_parse(line);

	ck_assert_msg(o != NULL && json_object_is_type(o, json_type_object),
	    "not a JSON object: %s", line);
	return o;
}

static const char *
member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

START_TEST(lines_in_both_formats)
{
	char path[] = "/tmp/check_log.XXXXXX";
	int fd = mkstemp(path);
	char *text, *nl, pid[32];
	struct json_object *o;
	const struct log_ids ids = { "sqs-1", "m-\"1\"", "t\n1",
	    "entitlements.updated" };

	ck_assert_int_ne(fd, -1);
	close(fd);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	log_init("consumer 2", CONFIG_LOG_INFO);
	ck_assert_int_eq(log_open(path), 0);

	log_set_format(CONFIG_LOG_TEXT);
	log_msg(CONFIG_LOG_WARN, &ids, "rejected: %s", "no type");
	log_msg(CONFIG_LOG_WARN, &(struct log_ids){ .sqs_message_id = "s2",
	    .trace_id = "t2" }, "x");
	log_msg(CONFIG_LOG_WARN, &(struct log_ids){ .sqs_message_id = "s3" },
	    "y");
	text = slurp(path);
	ck_assert_msg(strstr(text, "[warn] consumer 2[") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "]: message sqs-1 (event m-\"1\", trace t "
	    "1): rejected: no type\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "]: message s2 (trace t2): x\n") != NULL,
	    "%s", text);
	ck_assert_msg(strstr(text, "]: message s3: y\n") != NULL, "%s", text);

	log_set_format(CONFIG_LOG_JSON);
	log_msg(CONFIG_LOG_WARN, &ids, "rejected: %s", "bad \xff\001");
	log_info("plain");
	log_debug("filtered");
	text = slurp(path);
	nl = strchr(text, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	o = json_line(text);
	ck_assert_str_eq(member(o, "level"), "warn");
	ck_assert_str_eq(member(o, "process"), "consumer 2");
	ck_assert_str_eq(member(o, "pid"), pid);
	ck_assert_str_eq(member(o, "msg"), "rejected: bad \xef\xbf\xbd\001");
	ck_assert_str_eq(member(o, "sqs_message_id"), "sqs-1");
	ck_assert_str_eq(member(o, "message_id"), "m-\"1\"");
	ck_assert_str_eq(member(o, "trace_id"), "t\n1");
	ck_assert_str_eq(member(o, "event"), "entitlements.updated");
	ck_assert_int_eq((int)strlen(member(o, "time")), 24);
	ck_assert(member(o, "time")[23] == 'Z');
	json_object_put(o);
	o = json_line(nl + 1);
	ck_assert_str_eq(member(o, "msg"), "plain");
	ck_assert_str_eq(member(o, "level"), "info");
	ck_assert_ptr_null(member(o, "sqs_message_id"));
	json_object_put(o);
	/* Two lines: the debug one is filtered. */
	ck_assert_ptr_nonnull(strchr(nl + 1, '\n'));
	ck_assert_str_eq(strchr(nl + 1, '\n'), "\n");

	/* A text as long as can be still makes one valid object. */
	{
		char big[LOG_TEXT_MAX * 2];

		memset(big, '\001', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		log_msg(CONFIG_LOG_ERROR, &ids, "%s", big);
		text = slurp(path);
		*strchr(text, '\n') = '\0';
		o = json_line(text);
		ck_assert_str_eq(member(o, "trace_id"), "t\n1");
		ck_assert_uint_eq(strlen(member(o, "msg")), LOG_TEXT_MAX - 1);
		json_object_put(o);
	}
	ck_assert_int_eq(log_open(NULL), 0);
	unlink(path);
}
END_TEST

/* How many times needle occurs in text. */
static int
occurrences(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(lines_collapsed)
{
	char path[] = "/tmp/check_log.XXXXXX";
	int fd = mkstemp(path), i;
	char *text;

	ck_assert_int_ne(fd, -1);
	close(fd);
	log_init("master", CONFIG_LOG_INFO);
	log_set_format(CONFIG_LOG_TEXT);
	ck_assert_int_eq(log_open(path), 0);
	for (i = 0; i < 50; i++) {
		log_warn("redis: connect: refused; retrying in %d.%ds", 1, 6);
		/* Another text is another line, written. */
		log_warn("redis: connect: refused; retrying in %d.%ds", i, 5);
		/* Lines about a message, and info lines, are never collapsed. */
		log_msg(CONFIG_LOG_WARN, &(struct log_ids){
		    .sqs_message_id = "s" }, "not written");
		log_info("tick");
		/* Nor are the answers to an operator's action. */
		log_always(CONFIG_LOG_ERROR, "reload: %s", "syntax error");
	}
	log_flush();
	text = slurp(path);
	ck_assert_msg(strstr(text, "]: redis: connect: refused; retrying in "
	    "1.6s\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "]: redis: connect: refused; retrying in "
	    "1.6s (repeated 49 times in ") != NULL, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "retrying in 0.5s\n"));
	ck_assert_ptr_nonnull(strstr(text, "retrying in 49.5s\n"));
	/* The line and its count line, nothing more. */
	ck_assert_int_eq(occurrences(text, "retrying in 1.6s"), 2);
	ck_assert_int_eq(occurrences(text, "message s: not written"), 50);
	ck_assert_int_eq(occurrences(text, ": tick\n"), 50);
	ck_assert_int_eq(occurrences(text, "]: reload: syntax error\n"), 50);
	ck_assert_ptr_null(strstr(text, "syntax error (repeated"));
	/* In JSON the count line is an object of the line's level. */
	log_set_format(CONFIG_LOG_JSON);
	log_error("sqs: %s", "down");
	log_error("sqs: %s", "down");
	log_flush();
	text = slurp(path);
	{
		struct json_object *o;
		char *nl = strchr(text, '\n');

		ck_assert_ptr_nonnull(nl);
		o = json_line(nl + 1);
		ck_assert_str_eq(member(o, "level"), "error");
		ck_assert_str_eq(member(o, "msg"),
		    "sqs: down (repeated 1 time in 1s)");
		json_object_put(o);
	}
	log_set_format(CONFIG_LOG_TEXT);
	/* A new process (a forked consumer) does not inherit the counts. */
	log_warn("same %d", 1);
	log_warn("same %d", 2);
	log_set_procname("consumer 1");
	log_flush();
	text = slurp(path);
	ck_assert_ptr_null(strstr(text, "repeated"));
	ck_assert_int_eq(log_open(NULL), 0);
	unlink(path);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, escape_plain_and_syntax);
	tcase_add_test(tc, escape_controls);
	tcase_add_test(tc, escape_utf8);
	tcase_add_test(tc, escape_cut);
	tcase_add_test(tc, repeat_key);
	tcase_add_test(tc, repeat_window);
	tcase_add_test(tc, repeat_slots_run_out);
	tcase_add_test(tc, lines_in_both_formats);
	tcase_add_test(tc, lines_collapsed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(log_suite());
}
