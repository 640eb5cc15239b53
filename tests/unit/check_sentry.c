/*
 * Unit tests for sentry's pure parts: a DSN into the envelope URL and the
 * X-Sentry-Auth header (prefix paths, ports, IPv6, http only to
 * loopback), the refusals and that none quotes the DSN; the envelope's
 * three lines, the item length, the event's fields, the DSN's key and
 * every secret kept out; the fingerprint words; the rate limits (one per
 * fingerprint per ten minutes with the count of those held back, thirty
 * an hour); the environment rule; the config's secrets list.
 */
#include "autoconf.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "sentry.h"
#include "testutil.h"

#define KEY	"0123456789abcdef0123456789abcdef"

START_TEST(dsn_good)
{
	static const struct {
		const char	*dsn, *url, *host, *project;
	} cases[] = {
		{ "https://" KEY "@o1.ingest.sentry.io/42",
		  "https://o1.ingest.sentry.io/api/42/envelope/",
		  "o1.ingest.sentry.io", "42" },
		{ "https://" KEY ":legacysecret@sentry.example.com:9000/x/y/7",
		  "https://sentry.example.com:9000/x/y/api/7/envelope/",
		  "sentry.example.com", "7" },
		{ "https://" KEY "@sentry.example.com/sentry/12/",
		  "https://sentry.example.com/sentry/api/12/envelope/",
		  "sentry.example.com", "12" },
		{ "http://" KEY "@127.0.0.1:8080/3",
		  "http://127.0.0.1:8080/api/3/envelope/", "127.0.0.1", "3" },
		{ "http://" KEY "@[::1]:8080/3",
		  "http://[::1]:8080/api/3/envelope/", "::1", "3" },
		{ "HTTP://" KEY "@localhost/3",
		  "http://localhost/api/3/envelope/", "localhost", "3" },
	};
	struct sentry_dsn d;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(sentry_dsn_parse(cases[i].dsn, &d, err,
		    sizeof(err)) == 0, "%s: %s", cases[i].dsn, err);
		ck_assert_str_eq(d.envelope_url, cases[i].url);
		ck_assert_str_eq(d.host, cases[i].host);
		ck_assert_str_eq(d.project, cases[i].project);
		ck_assert_str_eq(d.public_key, KEY);
		ck_assert_str_eq(d.auth, "Sentry sentry_version=7, "
		    "sentry_client=" PACKAGE_NAME "/" PACKAGE_VERSION ", "
		    "sentry_key=" KEY);
		/* The legacy secret is kept for redaction, never sent. */
		ck_assert_ptr_null(strstr(d.auth, "legacysecret"));
		sentry_dsn_free(&d);
		ck_assert_ptr_null(d.auth);
	}
}
END_TEST

static const struct {
	const char	*dsn, *why;
} bad_dsns[] = {
	{ "", "is empty" },
	{ "ftp://" KEY "@h/1", "must start with" },
	{ "http://" KEY "@sentry.example.com/1", "must be an https:// URL" },
	{ "http://" KEY "@10.0.0.1/1", "must be an https:// URL" },
	{ "https://sentry.example.com/1", "has no public key" },
	{ "https://:s3cr3tpw@sentry.example.com/1", "has no public key" },
	{ "https://ab%2Ccd@sentry.example.com/1", "has a public key" },
	{ "https://" KEY "@sentry.example.com/", "has no path" },
	{ "https://" KEY "@sentry.example.com/abc", "not a number" },
	{ "https://" KEY "@sentry.example.com/1?x=1", "query" },
	{ "https://" KEY "@/1", "has no host" },
	{ "https://" KEY "@sentry.example.com/123456789012345678901",
	  "has no project id" },
};

/*
 * A DSN of URL_MAX bytes is a valid URL, but its envelope URL, longer by
 * "api/<project>/envelope/", is not: refused (found by fuzz_sentry).
 */
START_TEST(dsn_envelope_too_long)
{
	struct sentry_dsn d;
	char dsn[URL_MAX + 1], err[256];
	int n;

	/* A short key: the envelope URL drops "<key>@" and adds 14 bytes. */
	n = snprintf(dsn, sizeof(dsn), "https://k@o/");
	memset(dsn + n, 'p', URL_MAX - n - 3);
	memcpy(dsn + URL_MAX - 3, "/42", 4);
	ck_assert_uint_eq(strlen(dsn), URL_MAX);
	ck_assert_int_eq(sentry_dsn_parse(dsn, &d, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is too long") != NULL, "got '%s'", err);
	ck_assert_ptr_null(d.envelope_url);
	ck_assert_ptr_null(d.auth);
}
END_TEST

START_TEST(dsn_bad)
{
	struct sentry_dsn d;
	char err[256];

	ck_assert_int_eq(sentry_dsn_parse(bad_dsns[_i].dsn, &d, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_dsns[_i].why) != NULL, "%s: got '%s'",
	    bad_dsns[_i].dsn, err);
	/* No piece of the DSN in the error: not its key, not its host. */
	ck_assert_ptr_null(strstr(err, KEY));
	ck_assert_ptr_null(strstr(err, "s3cr3tpw"));
	ck_assert_ptr_null(strstr(err, "example"));
	ck_assert_ptr_null(d.auth);
	ck_assert_ptr_null(d.envelope_url);
}
END_TEST

static const char *
env_none(const char *name)
{
	(void)name;
	return NULL;
}

static const char *dsn_value;

static const char *
env_dsn(const char *name)
{
	if (strcmp(name, "SENTRY_DSN") == 0)
		return dsn_value;
	if (strcmp(name, "QUEUE_URL") == 0)
		return "http://127.0.0.1:1/000000000000/q";
	if (strcmp(name, "AWS_REGION") == 0)
		return "us-east-1";
	if (strcmp(name, "SERVER_API_KEY") == 0)
		return "server-api-key-1234";
	if (strcmp(name, "REDIS_PASSWORD") == 0)
		return "redis-pw-5678";
	return NULL;
}

/* A bad DSN is a configuration error naming SENTRY_DSN, never its value. */
START_TEST(config_dsn)
{
	struct config cfg;
	struct sentry_keys keys;
	const char *sec[16], *secs[SENTRY_SECRETS_MAX];
	char err[512];
	size_t n, i;
	int found;

	(void)env_none;
	dsn_value = "http://" KEY "@sentry.example.com/1";
	ck_assert_int_eq(config_load(&cfg, "/dev/null", env_dsn, err,
	    sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "SENTRY_DSN: value must be an https://",
	    37) == 0, "%s", err);
	ck_assert_ptr_null(strstr(err, KEY));
	ck_assert_ptr_null(strstr(err, "example"));

	dsn_value = "https://" KEY "@sentry.example.com/1";
	ck_assert_msg(config_load(&cfg, "/dev/null", env_dsn, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(sentry_wanted(&cfg), 1);
	ck_assert_int_eq(cfg.sentry_redis_down_secs, 60);
	ck_assert_str_eq(sentry_environment(&cfg), "production");
	n = config_secrets(&cfg, sec, 16);
	ck_assert_uint_eq(n, 3);
	for (i = 0, found = 0; i < n; i++)
		found += strcmp(sec[i], "server-api-key-1234") == 0 ||
		    strcmp(sec[i], "redis-pw-5678") == 0 ||
		    strcmp(sec[i], dsn_value) == 0;
	ck_assert_int_eq(found, 3);
	/* sentry_secrets: those, and the key inside the DSN alone. */
	n = sentry_secrets(&cfg, secs, &keys);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(secs[3], KEY);
	cfg.disable_sentry = 1;
	ck_assert_int_eq(sentry_wanted(&cfg), 0);
	config_free(&cfg);

	/* A legacy secret (public:secret@) is one more. */
	dsn_value = "https://" KEY ":legacysecret99@sentry.example.com/1";
	ck_assert_msg(config_load(&cfg, "/dev/null", env_dsn, err,
	    sizeof(err)) == 0, "%s", err);
	n = sentry_secrets(&cfg, secs, &keys);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(secs[3], KEY);
	ck_assert_str_eq(secs[4], "legacysecret99");
	config_free(&cfg);
}
END_TEST

START_TEST(environment)
{
	struct config cfg;

	ck_assert_int_eq(sentry_check_environment("staging-eu"), 0);
	ck_assert_int_eq(sentry_check_environment(""), -1);
	ck_assert_int_eq(sentry_check_environment("a b"), -1);
	ck_assert_int_eq(sentry_check_environment("a/b"), -1);
	ck_assert_int_eq(sentry_check_environment("None"), -1);
	ck_assert_int_eq(sentry_check_environment(
	    "12345678901234567890123456789012345678901234567890123456789012345"),
	    -1);
	memset(&cfg, 0, sizeof(cfg));
	ck_assert_str_eq(sentry_environment(&cfg), "production");
	cfg.environment_prefix = "staging";
	ck_assert_str_eq(sentry_environment(&cfg), "staging");
	cfg.environment_prefix = "a/b";
	ck_assert_str_eq(sentry_environment(&cfg), "production");
	cfg.sentry_environment = "qa";
	ck_assert_str_eq(sentry_environment(&cfg), "qa");
	ck_assert_int_eq(sentry_wanted(&cfg), 0);
}
END_TEST

static json_object *
member(json_object *o, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return v;
}

static const char *
str(json_object *o, const char *key)
{
	return json_object_get_string(member(o, key));
}

START_TEST(envelope)
{
	static const char *const secrets[] = {
		KEY, "redis-pw-5678", "server-api-key-1234"
	};
	struct sentry_context ctx = {
		.release = PACKAGE_NAME "@" PACKAGE_VERSION,
		.environment = "staging", .server_name = "host1",
		.os_name = "Linux", .os_version = "6.1.0",
		.secrets = secrets, .nsecrets = 3,
	};
	struct sentry_event ev;
	json_object *head, *item, *event, *tags, *fp, *extra;
	char *env, *nl1, *nl2, *payload;
	size_t len, plen;

	sentry_event_init(&ev, "fatal", "crash", 2);
	ck_assert_int_eq(sentry_event_id(ev.event_id), 0);
	ck_assert_uint_eq(strlen(ev.event_id), 32);
	ck_assert_uint_eq(strspn(ev.event_id, "0123456789abcdef"), 32);
	ev.timestamp_ms = 1763150712345ULL;
	sentry_event_message(&ev, "consumer 2 killed by signal 11; "
	    "password redis-pw-5678 key %s\nsecond line", KEY);
	sentry_event_fingerprint(&ev, "SIGSEGV");
	sentry_event_tag(&ev, "signal", "SIGSEGV");
	sentry_event_tag(&ev, "empty", "");
	sentry_event_tag(&ev, "api", "server-api-key-1234");
	sentry_event_extra(&ev, "uptime_seconds", 0.145);
	sentry_event_extra(&ev, "pid", 4242);

	ck_assert_ptr_nonnull(env = sentry_envelope(&ev, &ctx,
	    1763150713000ULL, &len));
	ck_assert_uint_eq(strlen(env), len);
	/* Three lines, each ending in "\n". */
	ck_assert_ptr_nonnull(nl1 = strchr(env, '\n'));
	ck_assert_ptr_nonnull(nl2 = strchr(nl1 + 1, '\n'));
	payload = nl2 + 1;
	ck_assert_int_eq(env[len - 1], '\n');
	plen = len - 1 - (size_t)(payload - env);
	ck_assert_ptr_eq(strchr(payload, '\n'), env + len - 1);
	*nl1 = *nl2 = env[len - 1] = '\0';

	head = json_tokener_parse(env);
	ck_assert_ptr_nonnull(head);
	ck_assert_str_eq(str(head, "event_id"), ev.event_id);
	ck_assert_str_eq(str(head, "sent_at"), "2025-11-14T20:05:13.000Z");
	ck_assert_int_eq(json_object_object_get_ex(head, "dsn", NULL), 0);
	item = json_tokener_parse(nl1 + 1);
	ck_assert_ptr_nonnull(item);
	ck_assert_str_eq(str(item, "type"), "event");
	ck_assert_int_eq(json_object_get_int64(member(item, "length")),
	    (int64_t)plen);

	event = json_tokener_parse(payload);
	ck_assert_ptr_nonnull(event);
	ck_assert_str_eq(str(event, "event_id"), ev.event_id);
	ck_assert_str_eq(str(event, "timestamp"), "2025-11-14T20:05:12.345Z");
	ck_assert_str_eq(str(event, "platform"), "c");
	ck_assert_str_eq(str(event, "level"), "fatal");
	ck_assert_str_eq(str(event, "logger"), "master");
	ck_assert_str_eq(str(event, "server_name"), "host1");
	ck_assert_str_eq(str(event, "release"),
	    PACKAGE_NAME "@" PACKAGE_VERSION);
	ck_assert_str_eq(str(event, "environment"), "staging");
	/* One line, every secret redacted. */
	ck_assert_str_eq(str(event, "message"), "consumer 2 killed by signal "
	    "11; password [redacted] key [redacted] second line");
	tags = member(event, "tags");
	ck_assert_str_eq(str(tags, "kind"), "crash");
	ck_assert_str_eq(str(tags, "slot"), "2");
	ck_assert_str_eq(str(tags, "signal"), "SIGSEGV");
	ck_assert_str_eq(str(tags, "api"), "[redacted]");
	ck_assert_int_eq(json_object_object_get_ex(tags, "empty", NULL), 0);
	fp = member(event, "fingerprint");
	ck_assert_int_eq(json_object_array_length(fp), 2);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(fp,
	    0)), "crash");
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(fp,
	    1)), "SIGSEGV");
	extra = member(event, "extra");
	ck_assert(json_object_get_double(member(extra, "uptime_seconds")) ==
	    0.145);
	ck_assert_ptr_nonnull(strstr(payload, "\"uptime_seconds\":0.145,"));
	ck_assert_ptr_nonnull(strstr(payload, "\"pid\":4242}"));
	ck_assert_str_eq(str(member(member(event, "contexts"), "os"), "name"),
	    "Linux");
	/* Nowhere in the envelope: the key, the secrets. */
	ck_assert_ptr_null(strstr(payload, KEY));
	ck_assert_ptr_null(strstr(env, KEY));
	ck_assert_ptr_null(strstr(payload, "redis-pw-5678"));
	ck_assert_ptr_null(strstr(payload, "server-api-key-1234"));
	json_object_put(head);
	json_object_put(item);
	json_object_put(event);
	free(env);
}
END_TEST

START_TEST(words)
{
	char out[64];

	sentry_words(out, sizeof(out), "event 'abc-123' has no customerId "
	    "field", 4);
	ck_assert_str_eq(out, "event has no customerid");
	sentry_words(out, sizeof(out), "Invalid JSON at offset 17: "
	    "unexpected '}'", 3);
	ck_assert_str_eq(out, "invalid json at");
	sentry_words(out, sizeof(out), "  42 \"x y\" ", 3);
	ck_assert_str_eq(out, "");
	sentry_words(out, 8, "abcdefghijkl mnop", 3);
	ck_assert_str_eq(out, "abcdefg");
}
END_TEST

START_TEST(signals)
{
	char b[16];

	sentry_signal_name(SIGSEGV, b, sizeof(b));
	ck_assert_str_eq(b, "SIGSEGV");
	sentry_signal_name(SIGABRT, b, sizeof(b));
	ck_assert_str_eq(b, "SIGABRT");
	sentry_signal_name(SIGKILL, b, sizeof(b));
	ck_assert_str_eq(b, "SIGKILL");
	sentry_signal_name(63, b, sizeof(b));
	ck_assert_str_eq(b, "SIG63");
}
END_TEST

START_TEST(limit_repeat)
{
	struct sentry_limit l;
	unsigned sup;
	uint64_t t = 1000;

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sentry_limit_admit(&l, "crash SIGSEGV", t, &sup), 1);
	ck_assert_uint_eq(sup, 0);
	/* The same within ten minutes: held back, counted. */
	ck_assert_int_eq(sentry_limit_admit(&l, "crash SIGSEGV", t + 1000,
	    &sup), 0);
	ck_assert_uint_eq(sup, 1);
	ck_assert_int_eq(sentry_limit_admit(&l, "crash SIGSEGV",
	    t + SENTRY_REPEAT_MS - 1, &sup), 0);
	ck_assert_uint_eq(sup, 2);
	/* Another fingerprint is not. */
	ck_assert_int_eq(sentry_limit_admit(&l, "crash SIGABRT", t + 2000,
	    &sup), 1);
	ck_assert_uint_eq(sup, 0);
	/* Ten minutes on: sent, saying two were held back. */
	ck_assert_int_eq(sentry_limit_admit(&l, "crash SIGSEGV",
	    t + SENTRY_REPEAT_MS, &sup), 1);
	ck_assert_uint_eq(sup, 2);
	ck_assert_int_eq(sentry_limit_admit(&l, "crash SIGSEGV",
	    t + 2 * SENTRY_REPEAT_MS + 1, &sup), 1);
	ck_assert_uint_eq(sup, 0);
	/* A clock starting at 0 is no "never sent". */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sentry_limit_admit(&l, "x", 0, &sup), 1);
	ck_assert_int_eq(sentry_limit_admit(&l, "x", 5, &sup), 0);
}
END_TEST

START_TEST(limit_hour)
{
	struct sentry_limit l;
	char fp[32];
	unsigned sup;
	int i;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < SENTRY_HOUR_MAX; i++) {
		snprintf(fp, sizeof(fp), "poison %d", i);
		ck_assert_int_eq(sentry_limit_admit(&l, fp, 1000 + i, &sup), 1);
	}
	ck_assert_int_eq(sentry_limit_admit(&l, "poison new", 5000, &sup), 0);
	ck_assert_int_eq(sentry_limit_admit(&l, "poison new", 6000, &sup), 0);
	/* The first send is an hour old: one more goes, with the count. */
	ck_assert_int_eq(sentry_limit_admit(&l, "poison new",
	    1000 + SENTRY_HOUR_MS, &sup), 1);
	ck_assert_uint_eq(sup, 2);
	ck_assert_int_eq(sentry_limit_admit(&l, "poison newer",
	    1000 + SENTRY_HOUR_MS, &sup), 0);
	/*
	 * A full table forgets the fingerprint seen least lately: f0, sent
	 * first, is new again after 64 others (the hour's budget aside).
	 */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sentry_limit_admit(&l, "f0", 1, &sup), 1);
	ck_assert_int_eq(sentry_limit_admit(&l, "f0", 2, &sup), 0);
	for (i = 1; i <= SENTRY_FINGERPRINTS; i++) {
		snprintf(fp, sizeof(fp), "f%d", i);
		(void)sentry_limit_admit(&l, fp, 2 + (uint64_t)i, &sup);
	}
	l.nsent = 0;
	ck_assert_int_eq(sentry_limit_admit(&l, "f0", 100, &sup), 1);
	ck_assert_uint_eq(sup, 0);
}
END_TEST

static Suite *
sentry_suite(void)
{
	Suite *s = suite_create("sentry");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, dsn_good);
	tcase_add_test(tc, dsn_envelope_too_long);
	tcase_add_loop_test(tc, dsn_bad, 0,
	    sizeof(bad_dsns) / sizeof(bad_dsns[0]));
	tcase_add_test(tc, config_dsn);
	tcase_add_test(tc, environment);
	tcase_add_test(tc, envelope);
	tcase_add_test(tc, words);
	tcase_add_test(tc, signals);
	tcase_add_test(tc, limit_repeat);
	tcase_add_test(tc, limit_hour);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(sentry_suite());
}
