/*
 * Unit tests for the cache writer's pure helpers (key building, SCAN
 * pattern escaping, which Redis errors refuse writes) and for its Lua
 * script, run by a real redis-server that the test starts on a free
 * loopback port: version ordering, equal versions, TTLs, the
 * update-if-exists policy and usage-only-if-cached, garbage in
 * #timestamp, purges in the version order (the #purged marker), exact
 * purges through the #keys index (no other customer touched), resources,
 * and the write probe.
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
#include "rconn.h"

static pid_t		 redis_pid;
static redisContext	*rc;

/*
 * rconn writes the writer's commands itself: byte for byte what hiredis'
 * redisFormatCommandArgv makes, for empty, binary and long arguments and
 * counts of every width.
 */
START_TEST(resp_format)
{
	static char big[12345];
	const char *argv[130];
	size_t lens[130], n, want_n;
	char *want, *got;
	int argc, i;

	memset(big, 'x', sizeof(big));
	big[7] = '\r';
	big[8] = '\n';
	big[9] = '\0';
	for (argc = 1; argc <= 130; argc += 43) {
		for (i = 0; i < argc; i++) {
			argv[i] = big + (i % 11);
			lens[i] = (size_t)(i * 97) % sizeof(big) - (i % 11) *
			    (i * 97 % sizeof(big) >= 11);
		}
		lens[0] = 0;
		want_n = (size_t)redisFormatCommandArgv(&want, argc, argv,
		    lens);
		n = rconn_format_argv(NULL, argc, argv, lens);
		ck_assert_uint_eq(n, want_n);
		ck_assert_ptr_nonnull(got = malloc(n));
		ck_assert_uint_eq(rconn_format_argv(got, argc, argv, lens), n);
		ck_assert(memcmp(got, want, n) == 0);
		free(got);
		redisFreeCommand(want);
	}
	/* Without lengths: each argument's strlen. */
	argv[0] = "EVALSHA";
	argv[1] = "";
	argv[2] = "0123456789";
	want_n = (size_t)redisFormatCommandArgv(&want, 3, argv, NULL);
	ck_assert_uint_eq(rconn_format_argv(NULL, 3, argv, NULL), want_n);
	ck_assert_ptr_nonnull(got = malloc(want_n));
	(void)rconn_format_argv(got, 3, argv, NULL);
	ck_assert(memcmp(got, want, want_n) == 0);
	free(got);
	redisFreeCommand(want);
}
END_TEST

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

static long long
eval(int argc, const char **argv)
{
	redisReply *r;
	long long v;

	r = redisCommandArgv(rc, argc, argv, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "reply type %d: %s",
	    r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/*
 * Run the script's write step for entity (of customer cust: NULL for a
 * customer entity), writing keys[i] = vals[i].
 */
static long long
write_as(const char *ts, const char *ttl, const char *mode,
    const char *entity, const char *cust, int n, const char *const *keys,
    const char *const *vals)
{
	const char *argv[40];
	char nk[16];
	int i, argc = 0;

	snprintf(nk, sizeof(nk), "%d", n + 2);
	argv[argc++] = "EVAL";
	argv[argc++] = cache_script;
	argv[argc++] = nk;
	argv[argc++] = entity;
	argv[argc++] = cust != NULL ? cust : entity;
	for (i = 0; i < n; i++)
		argv[argc++] = keys[i];
	argv[argc++] = "W";
	argv[argc++] = ts;
	argv[argc++] = ttl;
	argv[argc++] = mode;
	for (i = 0; i < n; i++)
		argv[argc++] = vals[i];
	return eval(argc, argv);
}

static long long
run(const char *ts, const char *ttl, const char *mode, const char *entity,
    int n, const char *const *keys, const char *const *vals)
{
	return write_as(ts, ttl, mode, entity, NULL, n, keys, vals);
}

/* The script's purge step; returns the keys removed. */
static long long
purge(const char *ts, const char *entity, const char *cust)
{
	const char *argv[] = { "EVAL", cache_script, "2", entity,
	    cust != NULL ? cust : entity, "P", ts, "1209600" };

	return eval(8, argv);
}

static void
set(const char *key, const char *value)
{
	freeReplyObject(redisCommand(rc, "SET %s %s", key, value));
}

static long long
dbsize(void)
{
	redisReply *r = redisCommand(rc, "DBSIZE");
	long long v = r->integer;

	freeReplyObject(r);
	return v;
}

static long long
ismember(const char *set, const char *member)
{
	redisReply *r = redisCommand(rc, "SISMEMBER %s %s", set, member);
	long long v = r->integer;

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

START_TEST(refusing_errors)
{
	ck_assert_int_eq(cache_error_refuses("OOM command not allowed when "
	    "used memory > 'maxmemory'. script: 1f, on @user_script:1."), 1);
	ck_assert_int_eq(cache_error_refuses("READONLY You can't write "
	    "against a read only replica."), 1);
	ck_assert_int_eq(cache_error_refuses("MISCONF Redis is configured "
	    "to save RDB snapshots"), 1);
	ck_assert_int_eq(cache_error_refuses("BUSY Redis is busy running a "
	    "script."), 1);
	ck_assert_int_eq(cache_error_refuses("LOADING Redis is loading the "
	    "dataset in memory"), 1);
	ck_assert_int_eq(cache_error_refuses("NOPERM this user has no "
	    "permissions to run the 'evalsha' command"), 1);
	ck_assert_int_eq(cache_error_refuses("ERR The user executing the "
	    "script can't run this command or subcommand script: 04, on "
	    "@user_script:1."), 1);
	/* The word, not a prefix of it, and not somewhere in the text. */
	ck_assert_int_eq(cache_error_refuses("OOMPH nothing"), 0);
	ck_assert_int_eq(cache_error_refuses("BUSYKEY Target key name "
	    "already exists."), 0);
	ck_assert_int_eq(cache_error_refuses("ERR Error running script: "
	    "OOM in a message"), 0);
	ck_assert_int_eq(cache_error_refuses("WRONGTYPE Operation against a "
	    "key holding the wrong kind of value"), 0);
	ck_assert_int_eq(cache_error_refuses("NOSCRIPT No matching script."),
	    0);
	ck_assert_int_eq(cache_error_refuses(""), 0);
	ck_assert_int_eq(cache_error_refuses(NULL), 0);
}
END_TEST

/* NaN, inf or any non-number in #timestamp is absent: repaired. */
START_TEST(garbage_timestamp_is_absent)
{
	static const char *const garbage[] = {
		"NaN", "nan", "inf", "-inf", "Infinity", "", "garbage", "1e999",
		"0x7fffffffffff", " 12 "
	};
	const char *keys[] = { "p:c_g", "p:c_g:f_x" };
	const char *v[] = { "{\"new\":1}", "{\"currentUsage\":2}" };
	size_t i;

	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		flush();
		set("p:c_g", "{\"old\":1}");
		set("p:c_g#timestamp", garbage[i]);
		set("p:c_g:f_x", "{\"currentUsage\":1}");
		set("p:c_g:f_x#timestamp", garbage[i]);
		ck_assert_msg(run("5", "0", "0", "p:c_g", 2, keys, v) == 2,
		    "#timestamp '%s' not treated as absent", garbage[i]);
		expect("p:c_g", "{\"new\":1}");
		expect("p:c_g#timestamp", "5");
		expect("p:c_g:f_x#timestamp", "5");
	}
	/* Usage over a garbage usage timestamp, the customer cached. */
	flush();
	set("p:c_g", "{}");
	set("p:c_g#timestamp", "1");
	set("p:c_g:f_x", "{\"currentUsage\":1}");
	set("p:c_g:f_x#timestamp", "NaN");
	ck_assert_int_eq(run("6", "0", "1", "p:c_g", 1, keys + 1, v + 1), 1);
	expect("p:c_g:f_x#timestamp", "6");
	/* A garbage purge marker is no marker. */
	set("p:c_g#purged", "NaN");
	ck_assert_int_eq(run("7", "0", "0", "p:c_g", 1, keys, v), 1);
}
END_TEST

/*
 * The reproduction: grant@T2, then an empty list@T1 (now a write
 * of {}, older: skipped), then a late duplicate grant@T0 (skipped); and
 * with a real purge in between, a late older grant does not come back.
 */
START_TEST(purge_takes_part_in_the_order)
{
	const char *keys[] = { "p:c_o", "p:c_o:metadata", "p:c_o:f_x" };
	const char *grant[] = { "{\"x\":{}}", "{\"accessDeniedReason\":null}",
	    "{\"currentUsage\":1}" };
	const char *empty[] = { "{}", "{\"accessDeniedReason\":null}" };

	flush();
	ck_assert_int_eq(run("2000", "0", "0", "p:c_o", 3, keys, grant), 3);
	ck_assert_int_eq(run("1000", "0", "0", "p:c_o", 2, keys, empty), 0);
	ck_assert_int_eq(run("0", "0", "0", "p:c_o", 3, keys, grant), 0);
	expect("p:c_o", "{\"x\":{}}");
	expect("p:c_o#timestamp", "2000");

	/* Purge@3000 removes all of it; a late grant@2500 stays out. */
	ck_assert_int_eq(purge("3000", "p:c_o", NULL), 6);
	expect("p:c_o", NULL);
	expect("p:c_o#timestamp", NULL);
	expect("p:c_o:metadata", NULL);
	expect("p:c_o:f_x", NULL);
	expect("p:c_o#purged", "3000");
	ck_assert_int_ge(ttl("p:c_o#purged"), 1209590);
	ck_assert_int_eq(run("2500", "0", "0", "p:c_o", 3, keys, grant), -2);
	ck_assert_int_eq(run("3000", "0", "0", "p:c_o", 3, keys, grant), -2);
	expect("p:c_o", NULL);
	/* Usage at or below the purge neither. */
	set("p:c_o", "{}");
	ck_assert_int_eq(run("2999", "0", "1", "p:c_o", 1, keys + 2,
	    grant + 2), -2);
	freeReplyObject(redisCommand(rc, "DEL p:c_o"));
	/* Newer than the purge: written. */
	ck_assert_int_eq(run("4000", "0", "0", "p:c_o", 2, keys, empty), 2);
	expect("p:c_o", "{}");
	expect("p:c_o#timestamp", "4000");
	/* A re-delivered older purge deletes nothing newer... */
	ck_assert_int_eq(purge("3000", "p:c_o", NULL), 0);
	expect("p:c_o", "{}");
	expect("p:c_o:metadata", "{\"accessDeniedReason\":null}");
	/* ...and does not move the marker back. */
	ck_assert_int_eq(purge("1000", "p:c_o", NULL), 0);
	expect("p:c_o#purged", "3000");
}
END_TEST

/*
 * After a purge, the SDK's own refill (it checks only K#timestamp, then
 * writes K and K#timestamp, with the version of the entitlements or 0 for
 * an empty list) is not stopped: nothing it reads is left.
 */
START_TEST(purge_leaves_nothing_the_sdk_checks)
{
	const char *keys[] = { "p:c_s", "p:c_s:metadata", "p:c_s:f_x" };
	const char *grant[] = { "{\"x\":{}}", "{\"accessDeniedReason\":null}",
	    "{\"currentUsage\":1}" };
	redisReply *r;

	flush();
	ck_assert_int_eq(run("2000", "0", "0", "p:c_s", 3, keys, grant), 3);
	purge("3000", "p:c_s", NULL);
	r = redisCommand(rc, "MGET p:c_s#timestamp p:c_s:f_x#timestamp "
	    "p:c_s p:c_s:f_x");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(r->element[0]->type, REDIS_REPLY_NIL);
	ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_NIL);
	ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_NIL);
	ck_assert_int_eq(r->element[3]->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	/* Only the marker is left. */
	ck_assert_int_eq(dbsize(), 1);
}
END_TEST

/*
 * A customer purge removes exactly the customer's keys: its value,
 * metadata, usage keys (indexed, or named only by its value: written by
 * the SDK), its resources with theirs, all with their #timestamp; and
 * nothing of customer "acme:eu", whose keys start with "p:c_acme:".
 */
START_TEST(purge_is_exact)
{
	const char *ak[] = { "p:c_acme", "p:c_acme:metadata", "p:c_acme:f_x" };
	const char *av[] = { "{\"x\":{},\"sdk\":{}}",
	    "{\"accessDeniedReason\":null}", "{\"currentUsage\":1}" };
	const char *rk[] = { "p:c_acme:r_site", "p:c_acme:r_site:metadata",
	    "p:c_acme:r_site:f_y" };
	const char *ek[] = { "p:c_acme:eu", "p:c_acme:eu:metadata",
	    "p:c_acme:eu:f_x" };
	redisReply *r;
	size_t i;
	int eu = 0;

	flush();
	ck_assert_int_eq(run("10", "604800", "0", "p:c_acme", 3, ak, av), 3);
	ck_assert_int_eq(write_as("10", "604800", "0", "p:c_acme:r_site",
	    "p:c_acme", 3, rk, av), 3);
	ck_assert_int_eq(run("10", "604800", "0", "p:c_acme:eu", 3, ek, av),
	    3);
	/* The SDK's own usage key, named by the value only. */
	set("p:c_acme:f_sdk", "{\"currentUsage\":3}");
	set("p:c_acme:f_sdk#timestamp", "10");
	/* The index: usage keys, and the customer's resources. */
	ck_assert_int_eq(ismember("p:c_acme#keys", "p:c_acme:f_x"), 1);
	ck_assert_int_eq(ismember("p:c_acme#keys", "p:c_acme:r_site"), 1);
	ck_assert_int_eq(ismember("p:c_acme:r_site#keys",
	    "p:c_acme:r_site:f_y"), 1);
	ck_assert_int_eq(ismember("p:c_acme#keys", "p:c_acme:eu"), 0);
	ck_assert_int_ge(ttl("p:c_acme#keys"), 604790);

	/* 3 + 3 keys with timestamps, the SDK's pair: 14. */
	ck_assert_int_eq(purge("20", "p:c_acme", NULL), 14);
	r = redisCommand(rc, "KEYS p:c_acme*");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	for (i = 0; i < r->elements; i++) {
		if (strncmp(r->element[i]->str, "p:c_acme:eu", 11) == 0)
			eu++;
		else
			ck_assert_msg(strcmp(r->element[i]->str,
			    "p:c_acme#purged") == 0, "left after the purge: %s",
			    r->element[i]->str);
	}
	freeReplyObject(r);
	/* 3 keys, 3 timestamps and the index of acme:eu. */
	ck_assert_int_eq(eu, 7);
	expect("p:c_acme:eu", av[0]);
	expect("p:c_acme:eu:f_x#timestamp", "10");
}
END_TEST

/* A key newer than the purge stays, and so does its index entry. */
START_TEST(purge_keeps_what_is_newer)
{
	const char *ak[] = { "p:c_n", "p:c_n:metadata", "p:c_n:f_x" };
	const char *av[] = { "{\"x\":{}}", "{\"accessDeniedReason\":null}",
	    "{\"currentUsage\":1}" };
	const char *uv[] = { "{\"currentUsage\":9}" };

	flush();
	ck_assert_int_eq(run("10", "0", "0", "p:c_n", 3, ak, av), 3);
	ck_assert_int_eq(run("30", "0", "1", "p:c_n", 1, ak + 2, uv), 1);
	ck_assert_int_eq(purge("20", "p:c_n", NULL), 4);
	expect("p:c_n", NULL);
	expect("p:c_n:f_x", "{\"currentUsage\":9}");
	ck_assert_int_eq(ismember("p:c_n#keys", "p:c_n:f_x"), 1);
	ck_assert_int_eq(purge("40", "p:c_n", NULL), 2);
	ck_assert_int_eq(dbsize(), 1);	/* the marker */
}
END_TEST

/*
 * Resources: a customer purge orders its resources' writes too; a
 * resource purge removes that resource only.
 */
START_TEST(resources_follow_purges)
{
	const char *ck[] = { "p:c_r", "p:c_r:metadata" };
	const char *cv[] = { "{}", "{\"accessDeniedReason\":null}" };
	const char *r1[] = { "p:c_r:r_1", "p:c_r:r_1:metadata",
	    "p:c_r:r_1:f_y" };
	const char *r2[] = { "p:c_r:r_2", "p:c_r:r_2:metadata" };
	const char *rv[] = { "{\"y\":{}}", "{\"accessDeniedReason\":null}",
	    "{\"currentUsage\":1}" };

	flush();
	ck_assert_int_eq(run("10", "0", "0", "p:c_r", 2, ck, cv), 2);
	ck_assert_int_eq(write_as("10", "0", "0", "p:c_r:r_1", "p:c_r", 3,
	    r1, rv), 3);
	ck_assert_int_eq(write_as("10", "0", "0", "p:c_r:r_2", "p:c_r", 2,
	    r2, rv), 2);
	/* A resource purge: that resource only. */
	ck_assert_int_eq(purge("20", "p:c_r:r_1", "p:c_r"), 6);
	expect("p:c_r:r_1", NULL);
	expect("p:c_r:r_1:f_y", NULL);
	expect("p:c_r:r_2", "{\"y\":{}}");
	expect("p:c_r", "{}");
	expect("p:c_r:r_1#purged", "20");
	ck_assert_int_eq(write_as("15", "0", "0", "p:c_r:r_1", "p:c_r", 3,
	    r1, rv), -2);
	ck_assert_int_eq(write_as("15", "0", "0", "p:c_r:r_2", "p:c_r", 2,
	    r2, rv), 2);
	/* A customer purge takes its resources, and orders their writes. */
	ck_assert_int_eq(purge("30", "p:c_r", NULL), 8);
	expect("p:c_r:r_2", NULL);
	ck_assert_int_eq(write_as("25", "0", "0", "p:c_r:r_2", "p:c_r", 2,
	    r2, rv), -2);
	ck_assert_int_eq(write_as("35", "0", "0", "p:c_r:r_2", "p:c_r", 2,
	    r2, rv), 2);
	expect("p:c_r:r_2#timestamp", "35");
}
END_TEST

/* The script's answer to argv: an error's text, or "" for an integer. */
static void
eval_error(int argc, const char **argv, char *buf, size_t len)
{
	redisReply *r = redisCommandArgv(rc, argc, argv, NULL);

	ck_assert_ptr_nonnull(r);
	snprintf(buf, len, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
	freeReplyObject(r);
}

/*
 * Out of memory (maxmemory below use, noeviction), every write step fails
 * whole, even one whose first key is older than Redis's (its first write
 * would be the index's): nothing written, no index lost.  And the probe
 * fails too, so the cache does not report itself usable meanwhile.
 */
START_TEST(out_of_memory_fails_whole)
{
	const char *ck[] = { "p:c_o", "p:c_o:metadata", "p:c_o:f_u" };
	const char *cv[] = { "{}", "{\"accessDeniedReason\":null}",
	    "{\"currentUsage\":1}" };
	const char *uk[] = { "p:c_o:f_u", "p:c_o:f_v" };
	const char *argv[40], *probe[] = { "EVAL", cache_script, "2",
	    "p:c_#probe", "p:c_#probe", "T" };
	char err[256];
	int argc = 0, i;

	flush();
	ck_assert_int_eq(run("50", "0", "0", "p:c_o", 3, ck, cv), 3);
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory-policy "
	    "noeviction"));
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory 1"));
	/* f_u is newer in Redis (50): not due; f_v is new. */
	argv[argc++] = "EVAL";
	argv[argc++] = cache_script;
	argv[argc++] = "4";
	argv[argc++] = "p:c_o";
	argv[argc++] = "p:c_o";
	for (i = 0; i < 2; i++)
		argv[argc++] = uk[i];
	argv[argc++] = "W";
	argv[argc++] = "40";
	argv[argc++] = "0";
	argv[argc++] = "0";
	argv[argc++] = "{\"currentUsage\":2}";
	argv[argc++] = "{\"currentUsage\":3}";
	eval_error(argc, argv, err, sizeof(err));
	ck_assert_msg(strncmp(err, "OOM", 3) == 0, "write under OOM: '%s'",
	    err);
	eval_error(6, probe, err, sizeof(err));
	ck_assert_msg(strncmp(err, "OOM", 3) == 0, "probe under OOM: '%s'",
	    err);
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory 0"));
	expect("p:c_o:f_v", NULL);
	ck_assert_int_eq(ismember("p:c_o#keys", "p:c_o:f_u"), 1);
}
END_TEST

/* The write probe answers 1 and leaves nothing behind. */
START_TEST(probe_leaves_nothing)
{
	const char *argv[] = { "EVAL", cache_script, "2", "p:c_#probe",
	    "p:c_#probe", "T" };

	flush();
	ck_assert_int_eq(eval(6, argv), 1);
	ck_assert_int_eq(dbsize(), 0);
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

	tcase_add_test(pure, resp_format);
	tcase_add_test(pure, key_building);
	tcase_add_test(pure, glob_escaping);
	tcase_add_test(pure, refusing_errors);
	tcase_add_unchecked_fixture(script, setup, teardown);
	tcase_add_test(script, newer_wins_older_skipped_equal_overwrites);
	tcase_add_test(script, each_key_checked_on_its_own);
	tcase_add_test(script, ttl_applies_to_value_and_timestamp);
	tcase_add_test(script, mode_requires_cached_entity);
	tcase_add_test(script, garbage_timestamp_is_absent);
	tcase_add_test(script, purge_takes_part_in_the_order);
	tcase_add_test(script, purge_leaves_nothing_the_sdk_checks);
	tcase_add_test(script, purge_is_exact);
	tcase_add_test(script, purge_keeps_what_is_newer);
	tcase_add_test(script, resources_follow_purges);
	tcase_add_test(script, probe_leaves_nothing);
	tcase_add_test(script, out_of_memory_fails_whole);
	suite_add_tcase(s, pure);
	suite_add_tcase(s, script);
	return s;
}

int
main(void)
{
	return testutil_run(cache_suite());
}
