/*
 * Unit tests for the cache writer's pure helpers (key building, SCAN
 * pattern escaping) and for its Lua script, run by a real redis-server
 * that the test starts on a free loopback port: version ordering, equal
 * versions, TTLs, the update-if-exists policy and usage-only-if-cached.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "testutil.h"
#include "cache.h"

static pid_t		 redis_pid;
static redisContext	*rc;

START_TEST(key_building)
{
	char *k;

	k = cache_key("production", "acme", NULL);
	ck_assert_str_eq(k, "production:c_acme");
	free(k);
	k = cache_key("p", "a:b*c", "site:eu/1");
	ck_assert_str_eq(k, "p:c_a:b*c:r_site:eu/1");
	free(k);
	k = cache_key("p", "ünï cødé", NULL);
	ck_assert_str_eq(k, "p:c_ünï cødé");
	free(k);
}
END_TEST

START_TEST(glob_escaping)
{
	char *e;

	e = cache_glob_escape("a*b?c[d]e\\f g:h");
	ck_assert_str_eq(e, "a\\*b\\?c\\[d\\]e\\\\f g:h");
	free(e);
	e = cache_glob_escape("");
	ck_assert_str_eq(e, "");
	free(e);
}
END_TEST

/* Run the script for entity, writing keys[i] = vals[i]. */
static long long
run(const char *ts, const char *ttl, const char *mode, const char *entity,
    int n, const char *const *keys, const char *const *vals)
{
	const char *argv[32];
	char nk[16];
	redisReply *r;
	long long v;
	int i, argc = 0;

	snprintf(nk, sizeof(nk), "%d", n + 1);
	argv[argc++] = "EVAL";
	argv[argc++] = cache_script;
	argv[argc++] = nk;
	argv[argc++] = entity;
	for (i = 0; i < n; i++)
		argv[argc++] = keys[i];
	argv[argc++] = ts;
	argv[argc++] = ttl;
	argv[argc++] = mode;
	for (i = 0; i < n; i++)
		argv[argc++] = vals[i];
	r = redisCommandArgv(rc, argc, argv, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "reply type %d: %s",
	    r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static char *
get(const char *key)
{
	redisReply *r = redisCommand(rc, "GET %s", key);
	char *s = NULL;

	ck_assert_ptr_nonnull(r);
	if (r->type == REDIS_REPLY_STRING)
		s = strdup(r->str);
	freeReplyObject(r);
	return s;
}

static long long
ttl(const char *key)
{
	redisReply *r = redisCommand(rc, "TTL %s", key);
	long long v = r->integer;

	freeReplyObject(r);
	return v;
}

static void
expect(const char *key, const char *want)
{
	char *got = get(key);

	if (want == NULL)
		ck_assert_msg(got == NULL, "%s: got '%s', want nothing", key,
		    got);
	else {
		ck_assert_msg(got != NULL, "%s: missing, want '%s'", key, want);
		ck_assert_str_eq(got, want);
	}
	free(got);
}

static void
flush(void)
{
	freeReplyObject(redisCommand(rc, "FLUSHALL"));
}

START_TEST(newer_wins_older_skipped_equal_overwrites)
{
	const char *keys[] = { "p:c_a", "p:c_a:metadata" };
	const char *v1[] = { "{\"v\":1}", "{\"m\":1}" };
	const char *v2[] = { "{\"v\":2}", "{\"m\":2}" };
	const char *v3[] = { "{\"v\":3}", "{\"m\":3}" };

	flush();
	ck_assert_int_eq(run("2000", "0", "0", "p:c_a", 2, keys, v2), 2);
	ck_assert_int_eq(run("1000", "0", "0", "p:c_a", 2, keys, v1), 0);
	expect("p:c_a", "{\"v\":2}");
	expect("p:c_a:metadata", "{\"m\":2}");
	expect("p:c_a#timestamp", "2000");
	expect("p:c_a:metadata#timestamp", "2000");
	/* Equal versions overwrite, as the SDK does. */
	ck_assert_int_eq(run("2000", "0", "0", "p:c_a", 2, keys, v3), 2);
	expect("p:c_a", "{\"v\":3}");
	ck_assert_int_eq(ttl("p:c_a"), -1);
}
END_TEST

START_TEST(each_key_checked_on_its_own)
{
	const char *ent[] = { "p:c_a", "p:c_a:f_x" };
	const char *v[] = { "{\"e\":1}", "{\"currentUsage\":1}" };
	const char *ukey[] = { "p:c_a:f_x" };
	const char *u[] = { "{\"currentUsage\":9}" };

	flush();
	ck_assert_int_eq(run("1000", "0", "0", "p:c_a", 2, ent, v), 2);
	/* Usage moves on at 3000. */
	ck_assert_int_eq(run("3000", "0", "1", "p:c_a", 1, ukey, u), 1);
	/* Entitlements at 2000 update the customer, not the newer usage. */
	ck_assert_int_eq(run("2000", "0", "0", "p:c_a", 2, ent, v), 1);
	expect("p:c_a#timestamp", "2000");
	expect("p:c_a:f_x", "{\"currentUsage\":9}");
	expect("p:c_a:f_x#timestamp", "3000");
}
END_TEST

START_TEST(ttl_applies_to_value_and_timestamp)
{
	const char *keys[] = { "p:c_t" };
	const char *v[] = { "{}" };

	flush();
	ck_assert_int_eq(run("1", "604800", "0", "p:c_t", 1, keys, v), 1);
	ck_assert_int_ge(ttl("p:c_t"), 604790);
	ck_assert_int_ge(ttl("p:c_t#timestamp"), 604790);
	/* No TTL ('0'): a later write removes an earlier expiry. */
	ck_assert_int_eq(run("2", "0", "0", "p:c_t", 1, keys, v), 1);
	ck_assert_int_eq(ttl("p:c_t"), -1);
	ck_assert_int_eq(ttl("p:c_t#timestamp"), -1);
}
END_TEST

START_TEST(mode_requires_cached_entity)
{
	const char *ukey[] = { "p:c_new:f_x" };
	const char *u[] = { "{\"currentUsage\":1}" };
	const char *ekey[] = { "p:c_new" };
	const char *e[] = { "{}" };

	flush();
	/* Usage, or UPDATE_IF_EXISTS, for an uncached customer: -1. */
	ck_assert_int_eq(run("5", "0", "1", "p:c_new", 1, ukey, u), -1);
	expect("p:c_new:f_x", NULL);
	ck_assert_int_eq(run("5", "0", "1", "p:c_new", 1, ekey, e), -1);
	expect("p:c_new", NULL);
	/* Once cached (UPSERT), both go through. */
	ck_assert_int_eq(run("5", "0", "0", "p:c_new", 1, ekey, e), 1);
	ck_assert_int_eq(run("6", "0", "1", "p:c_new", 1, ukey, u), 1);
	expect("p:c_new:f_x", "{\"currentUsage\":1}");
}
END_TEST

static int
free_port(void)
{
	/* Below the ephemeral range (32768-), where clients take ports. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	return 10000 + rand() % 22000;
}

/* Start redis-server on a random port; another port if that one is taken. */
static void
setup(void)
{
	char port[16];
	int attempt, i;

	for (attempt = 0; attempt < 5; attempt++) {
		snprintf(port, sizeof(port), "%d", free_port() + attempt);
		if ((redis_pid = fork()) == 0) {
			execlp("redis-server", "redis-server", "--port", port,
			    "--bind", "127.0.0.1", "--save", "", "--appendonly",
			    "no", "--logfile", "/dev/null", (char *)NULL);
			_exit(127);
		}
		for (i = 0; i < 100; i++) {
			if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid)
				break;	/* exited: the port was taken */
			rc = redisConnect("127.0.0.1", atoi(port));
			if (rc != NULL && rc->err == 0)
				return;
			if (rc != NULL)
				redisFree(rc);
			rc = NULL;
			usleep(50000);
		}
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
	ck_abort_msg("redis-server did not start");
}

static void
teardown(void)
{
	if (rc != NULL)
		redisFree(rc);
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
}

static Suite *
cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *pure = tcase_create("pure");
	TCase *script = tcase_create("script");

	tcase_add_test(pure, key_building);
	tcase_add_test(pure, glob_escaping);
	tcase_add_unchecked_fixture(script, setup, teardown);
	tcase_add_test(script, newer_wins_older_skipped_equal_overwrites);
	tcase_add_test(script, each_key_checked_on_its_own);
	tcase_add_test(script, ttl_applies_to_value_and_timestamp);
	tcase_add_test(script, mode_requires_cached_entity);
	suite_add_tcase(s, pure);
	suite_add_tcase(s, script);
	return s;
}

int
main(void)
{
	return testutil_run(cache_suite());
}
