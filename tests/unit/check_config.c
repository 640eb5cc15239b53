/*
 * check_config: unit tests for config_load.  Each test writes its own
 * config file under /tmp and hands config_load a fake getenv, so nothing
 * depends on the real environment or on /etc.  One test per error case,
 * plus the precedence rules (default < file < environment).
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "config.h"

#define MAX_ENV		16

static struct {
	const char	*name;
	const char	*value;
} fake_env[MAX_ENV];

static char	tmp_paths[4][64];
static int	ntmp;
static char	err[512];
static struct config cfg;

static const char *
fake_getenv(const char *name)
{
	int i;

	for (i = 0; i < MAX_ENV && fake_env[i].name != NULL; i++)
		if (strcmp(fake_env[i].name, name) == 0)
			return fake_env[i].value;
	return NULL;
}

static void
env_set(const char *name, const char *value)
{
	int i;

	for (i = 0; i < MAX_ENV - 1 && fake_env[i].name != NULL; i++)
		if (strcmp(fake_env[i].name, name) == 0)
			break;
	ck_assert_int_lt(i, MAX_ENV - 1);
	fake_env[i].name = name;
	fake_env[i].value = value;
}

/* The two settings without which nothing loads. */
static void
env_required(void)
{
	env_set("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q");
	env_set("AWS_REGION", "us-east-1");
}

/* Writes text to a fresh file under /tmp and returns its path. */
static const char *
conf(const char *text)
{
	char *path;
	size_t len = strlen(text);
	int fd;

	ck_assert_int_lt(ntmp, 4);
	path = tmp_paths[ntmp++];
	snprintf(path, sizeof(tmp_paths[0]), "/tmp/check_config.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	return path;
}

static int
load(const char *path)
{
	return config_load(&cfg, path, fake_getenv, err, sizeof(err));
}

/* Loading path must fail with exactly the message fmt makes. */
static void
expect_err(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
expect_err(const char *path, const char *fmt, ...)
{
	static const struct config zero;
	char want[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(load(path), -1);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strchr(err, '\n'));
	/* A failed load leaves nothing to free. */
	ck_assert(memcmp(&cfg, &zero, sizeof(cfg)) == 0);
}

static void
expect_ok(const char *path)
{
	if (load(path) != 0)
		ck_abort_msg("config_load failed: %s", err);
}

static void
setup(void)
{
	memset(fake_env, 0, sizeof(fake_env));
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	ntmp = 0;
}

static void
teardown(void)
{
	config_free(&cfg);
	while (ntmp > 0)
		unlink(tmp_paths[--ntmp]);
}

/* What "auto" is: one consumer per two online CPUs, 1 to 64. */
static int
auto_consumers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;

	return n < 1 ? 1 : n > CONFIG_MAX_CONSUMERS ? CONFIG_MAX_CONSUMERS :
	    (int)n;
}

/* Defaults and sources. */

START_TEST(test_defaults)
{
	const char *path = conf("");

	env_required();
	expect_ok(path);
	ck_assert_str_eq(cfg.queue_url,
	    "https://sqs.us-east-1.amazonaws.com/1/q");
	ck_assert_str_eq(cfg.aws_region, "us-east-1");
	ck_assert_ptr_null(cfg.aws_access_key_id);
	ck_assert_ptr_null(cfg.aws_secret_access_key);
	ck_assert_ptr_null(cfg.aws_session_token);
	ck_assert_ptr_null(cfg.server_api_key);
	ck_assert_str_eq(cfg.environment_prefix, "production");
	ck_assert_str_eq(cfg.redis_host, "localhost");
	ck_assert_int_eq(cfg.redis_port, 6379);
	ck_assert_int_eq(cfg.redis_db, 0);
	ck_assert_ptr_null(cfg.redis_user);
	ck_assert_ptr_null(cfg.redis_password);
	ck_assert_int_eq(cfg.batch_size, 10);	/* the container's: 1 */
	ck_assert(cfg.keys_ttl == 604800);
	ck_assert_str_eq(cfg.edge_api_url, "https://edge.api.stigg.io");
	ck_assert_ptr_null(cfg.sentry_dsn);
	ck_assert_int_eq(cfg.disable_sentry, 0);
	ck_assert_int_eq(cfg.port, 4000);
	ck_assert_int_eq(cfg.cache_update_policy, CONFIG_POLICY_UPSERT);
	ck_assert_int_eq(cfg.consumers_auto, 1);
	ck_assert_int_eq(cfg.consumers, auto_consumers());
	ck_assert_str_eq(cfg.listen_address, "0.0.0.0");
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_INFO);
	ck_assert_ptr_null(cfg.log_file);
	ck_assert_int_eq(cfg.drain_timeout, 30);
	ck_assert_int_eq(cfg.restart_backoff_min_ms, 100);
	ck_assert_int_eq(cfg.restart_backoff_max_ms, 30000);
	ck_assert_int_eq(cfg.hang_timeout, 30);
	ck_assert_int_eq(cfg.wait_time, 20);
	ck_assert_int_eq(cfg.visibility_timeout, 60);
	ck_assert_int_eq(cfg.receives_in_flight, 32);
	ck_assert_int_eq(cfg.poison_policy, CONFIG_POISON_KEEP);
	ck_assert_int_eq(cfg.poison_visibility_timeout, 600);
	ck_assert_int_eq(cfg.on_package_published, CONFIG_PACKAGE_INVALIDATE);
	ck_assert_int_eq(cfg.held_messages_max, 1000);
	ck_assert_int_eq(cfg.redis_tls, 0);
	ck_assert_int_eq(cfg.redis_tls_verify, 1);
	ck_assert_ptr_null(cfg.redis_tls_server_name);
	ck_assert_str_eq(cfg.path, path);
}
END_TEST

START_TEST(test_file_values)
{
	const char *path = conf(
	    "queue_url = \"http://localhost:4566/000000000000/q\";\n"
	    "aws_region = \"eu-west-1\";\n"
	    "aws_access_key_id = \"AKIDEXAMPLE\";\n"
	    "aws_secret_access_key = \"s3cr3t\";\n"
	    "aws_session_token = \"tok\";\n"
	    "server_api_key = \"key\";\n"
	    "environment_prefix = \"staging\";\n"
	    "redis_host = \"redis.internal\";\n"
	    "redis_port = 6380;\n"
	    "redis_db = 3;\n"
	    "redis_user = \"pcs\";\n"
	    "redis_password = \"pw\";\n"
	    "batch_size = 10;\n"
	    "keys_ttl = -1;\n"
	    "edge_api_url = \"http://edge.local:8080\";\n"
	    "sentry_dsn = \"https://x@sentry.example/1\";\n"
	    "disable_sentry = true;\n"
	    "port = 4001;\n"
	    "cache_update_policy = \"update_if_exists\";\n"
	    "consumers = 3;\n"
	    "listen_address = \"127.0.0.1\";\n"
	    "log_level = \"DEBUG\";\n"
	    "log_file = \"/var/log/pcs.log\";\n"
	    "drain_timeout = 3600;\n"
	    "restart_backoff_min_ms = 10;\n"
	    "restart_backoff_max_ms = 600000;\n"
	    "hang_timeout = 3;\n");

	expect_ok(path);
	ck_assert_str_eq(cfg.queue_url, "http://localhost:4566/000000000000/q");
	ck_assert_str_eq(cfg.aws_region, "eu-west-1");
	ck_assert_str_eq(cfg.aws_access_key_id, "AKIDEXAMPLE");
	ck_assert_str_eq(cfg.aws_secret_access_key, "s3cr3t");
	ck_assert_str_eq(cfg.aws_session_token, "tok");
	ck_assert_str_eq(cfg.server_api_key, "key");
	ck_assert_str_eq(cfg.environment_prefix, "staging");
	ck_assert_str_eq(cfg.redis_host, "redis.internal");
	ck_assert_int_eq(cfg.redis_port, 6380);
	ck_assert_int_eq(cfg.redis_db, 3);
	ck_assert_str_eq(cfg.redis_user, "pcs");
	ck_assert_str_eq(cfg.redis_password, "pw");
	ck_assert_int_eq(cfg.batch_size, 10);
	ck_assert(cfg.keys_ttl == -1);
	ck_assert_str_eq(cfg.edge_api_url, "http://edge.local:8080");
	ck_assert_str_eq(cfg.sentry_dsn, "https://x@sentry.example/1");
	ck_assert_int_eq(cfg.disable_sentry, 1);
	ck_assert_int_eq(cfg.port, 4001);
	ck_assert_int_eq(cfg.cache_update_policy,
	    CONFIG_POLICY_UPDATE_IF_EXISTS);
	ck_assert_int_eq(cfg.consumers, 3);
	ck_assert_int_eq(cfg.consumers_auto, 0);
	ck_assert_str_eq(cfg.listen_address, "127.0.0.1");
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_DEBUG);
	ck_assert_str_eq(cfg.log_file, "/var/log/pcs.log");
	ck_assert_int_eq(cfg.drain_timeout, 3600);
	ck_assert_int_eq(cfg.restart_backoff_min_ms, 10);
	ck_assert_int_eq(cfg.restart_backoff_max_ms, 600000);
	ck_assert_int_eq(cfg.hang_timeout, 3);
}
END_TEST

START_TEST(test_precedence)
{
	const char *path = conf(
	    "redis_port = 6380;\n"
	    "batch_size = 5;\n"
	    "redis_host = \"from-file\";\n"
	    "log_level = \"warn\";\n");

	env_required();
	env_set("REDIS_PORT", "6381");
	env_set("REDIS_HOST", "from-env");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_port, 6381);		/* env over file */
	ck_assert_str_eq(cfg.redis_host, "from-env");
	ck_assert_int_eq(cfg.batch_size, 5);		/* file over default */
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_WARN);
	ck_assert_int_eq(cfg.port, 4000);		/* default */
}
END_TEST

START_TEST(test_env_only_values)
{
	const char *path = conf("");

	env_required();
	env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
	env_set("AWS_SECRET_ACCESS_KEY", "s3cr3t");
	env_set("DISABLE_SENTRY", "YES");
	env_set("CACHE_UPDATE_POLICY", "Update_If_Exists");
	env_set("LOG_LEVEL", "Error");
	env_set("KEYS_TTL_IN_SECS", "-5");
	env_set("CONSUMERS", "8");
	env_set("REDIS_DB", "2147483647");
	env_set("PORT", "+80");
	expect_ok(path);
	ck_assert_str_eq(cfg.aws_secret_access_key, "s3cr3t");
	ck_assert_int_eq(cfg.disable_sentry, 1);
	ck_assert_int_eq(cfg.cache_update_policy,
	    CONFIG_POLICY_UPDATE_IF_EXISTS);
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_ERROR);
	ck_assert(cfg.keys_ttl == -5);
	ck_assert_int_eq(cfg.consumers, 8);
	ck_assert_int_eq(cfg.consumers_auto, 0);
	ck_assert_int_eq(cfg.redis_db, INT_MAX);
	ck_assert_int_eq(cfg.port, 80);
}
END_TEST

START_TEST(test_env_empty_string_is_unset)
{
	const char *path = conf("redis_host = \"from-file\";\n");

	env_required();
	env_set("REDIS_HOST", "");
	env_set("ENVIRONMENT_PREFIX", "");
	env_set("REDIS_PASSWORD", "");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_host, "from-file");
	ck_assert_str_eq(cfg.environment_prefix, "production");
	ck_assert_ptr_null(cfg.redis_password);
}
END_TEST

START_TEST(test_env_empty_required)
{
	const char *path = conf("");

	env_required();
	env_set("QUEUE_URL", "");
	expect_err(path, "queue_url: required setting is missing "
	    "(set queue_url in the file or QUEUE_URL)");
}
END_TEST

START_TEST(test_missing_required)
{
	const char *path = conf("queue_url = \"https://sqs.example/1/q\";\n");

	expect_err(path, "aws_region: required setting is missing, and the "
	    "queue URL's host names no region (set aws_region in the file or "
	    "AWS_REGION)");
}
END_TEST

START_TEST(test_env_empty_int)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_PORT", "");
	expect_err(path, "REDIS_PORT: '' is not an integer");
}
END_TEST

START_TEST(test_env_empty_bool)
{
	const char *path = conf("");

	env_required();
	env_set("DISABLE_SENTRY", "");
	expect_err(path, "DISABLE_SENTRY: '' is not a boolean "
	    "(true/false, 1/0, yes/no)");
}
END_TEST

START_TEST(test_env_empty_enum)
{
	const char *path = conf("");

	env_required();
	env_set("LOG_LEVEL", "");
	expect_err(path, "LOG_LEVEL: '' is not one of error, warn, info, "
	    "debug");
}
END_TEST

/* Files. */

START_TEST(test_explicit_path_missing)
{
	expect_err("/nonexistent/pcs.conf",
	    "/nonexistent/pcs.conf: cannot read: %s", strerror(ENOENT));
}
END_TEST

START_TEST(test_path_is_directory)
{
	expect_err("/tmp", "/tmp: cannot read: %s", strerror(EISDIR));
}
END_TEST

START_TEST(test_default_path_absent)
{
	if (access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		return;		/* installed here: cannot test its absence */
	env_required();
	ck_assert_int_eq(config_load(&cfg, NULL, fake_getenv, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(cfg.path);
	ck_assert_str_eq(cfg.aws_region, "us-east-1");
}
END_TEST

START_TEST(test_syntax_error)
{
	const char *path = conf("port = 4000;\nredis_port = = 5;\n");

	expect_err(path, "%s:2: syntax error", path);
}
END_TEST

START_TEST(test_duplicate_setting)
{
	const char *path = conf("port = 4000;\nport = 4001;\n");

	expect_err(path, "%s:2: duplicate setting name", path);
}
END_TEST

START_TEST(test_unknown_setting)
{
	const char *path = conf("\nredis_prot = 6379;\n");

	env_required();
	expect_err(path, "%s:2: unknown setting 'redis_prot'", path);
}
END_TEST

START_TEST(test_unknown_group)
{
	const char *path = conf("redis = { port = 6379; };\n");

	env_required();
	expect_err(path, "%s:1: unknown setting 'redis'", path);
}
END_TEST

START_TEST(test_include_error_names_included_file)
{
	char text[128];
	const char *inc = conf("\n\nport = 0;\n");
	const char *path;

	snprintf(text, sizeof(text), "@include \"%s\"\n", inc);
	path = conf(text);
	env_required();
	expect_err(path, "%s:3: port: 0 is out of range (1..65535)", inc);
}
END_TEST

/* Types in the file. */

START_TEST(test_wrong_type_string_for_int)
{
	const char *path = conf("port = 4000;\n\nredis_port = \"6379\";\n");

	env_required();
	expect_err(path, "%s:3: redis_port: wrong type: expected an integer",
	    path);
}
END_TEST

START_TEST(test_wrong_type_float_for_int)
{
	const char *path = conf("batch_size = 2.0;\n");

	env_required();
	expect_err(path, "%s:1: batch_size: wrong type: expected an integer",
	    path);
}
END_TEST

START_TEST(test_wrong_type_int_for_string)
{
	const char *path = conf("redis_host = 5;\n");

	env_required();
	expect_err(path, "%s:1: redis_host: wrong type: expected a string",
	    path);
}
END_TEST

START_TEST(test_wrong_type_int_for_bool)
{
	const char *path = conf("disable_sentry = 1;\n");

	env_required();
	expect_err(path, "%s:1: disable_sentry: wrong type: expected a "
	    "boolean (true or false)", path);
}
END_TEST

START_TEST(test_wrong_type_group_for_known)
{
	const char *path = conf("port = { value = 4000; };\n");

	env_required();
	expect_err(path, "%s:1: port: wrong type: expected an integer", path);
}
END_TEST

START_TEST(test_wrong_type_list_for_enum)
{
	const char *path = conf("cache_update_policy = [ \"UPSERT\" ];\n");

	env_required();
	expect_err(path, "%s:1: cache_update_policy: wrong type: "
	    "expected a string", path);
}
END_TEST

START_TEST(test_int64_and_hex_in_file)
{
	const char *path = conf("keys_ttl = 5000000000L;\nport = 0x1F90;\n");

	env_required();
	expect_ok(path);
	ck_assert(cfg.keys_ttl == 5000000000LL);
	ck_assert_int_eq(cfg.port, 8080);
}
END_TEST

/* libconfig 1.5 wraps plain literals past 32 bits; we must not. */
START_TEST(test_file_int_past_32_bits)
{
	const char *path = conf("keys_ttl = 3000000000;\n");

	env_required();
	expect_ok(path);
	ck_assert(cfg.keys_ttl == 3000000000LL);
}
END_TEST

START_TEST(test_file_int_wraps_into_range)
{
	/* 2^32 + 6295: libconfig 1.5 alone would read 6295. */
	const char *path = conf("redis_port = 4294973591;\n");

	env_required();
	expect_err(path, "%s:1: redis_port: 4294973591 is out of range "
	    "(1..65535)", path);
}
END_TEST

START_TEST(test_file_int_past_64_bits)
{
	const char *path = conf("keys_ttl = 99999999999999999999L;\n");

	env_required();
	expect_err(path, "%s:1: keys_ttl: 99999999999999999999L is out of "
	    "range (%lld..315360000000)", path, LLONG_MIN);
}
END_TEST

/* Ranges. */

START_TEST(test_range_file)
{
	const char *path = conf("redis_port = 70000;\n");

	env_required();
	expect_err(path, "%s:1: redis_port: 70000 is out of range (1..65535)",
	    path);
}
END_TEST

START_TEST(test_range_env)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_PORT", "70000");
	expect_err(path, "REDIS_PORT: '70000' is out of range (1..65535)");
}
END_TEST

START_TEST(test_range_bad_file_value_overridden_by_env)
{
	const char *path = conf("batch_size = 11;\n");

	env_required();
	env_set("BATCH_SIZE", "2");
	expect_err(path, "%s:1: batch_size: 11 is out of range (1..10)", path);
}
END_TEST

START_TEST(test_range_each_int)
{
	static const struct {
		const char	*env, *value, *range;
	} cases[] = {
		{ "PORT", "0", "1..65535" },
		{ "REDIS_DB", "-1", "0..2147483647" },
		{ "REDIS_DB", "2147483648", "0..2147483647" },
		{ "BATCH_SIZE", "0", "1..10" },
		{ "CONSUMERS", "0", "1..64" },
		{ "CONSUMERS", "65", "1..64" },
		{ "DRAIN_TIMEOUT_SECS", "3601", "1..3600" },
		{ "RESTART_BACKOFF_MIN_MS", "9", "10..60000" },
		{ "RESTART_BACKOFF_MAX_MS", "600001", "10..600000" },
		{ "HANG_TIMEOUT_SECS", "2", "3..3600" },
		{ "WAIT_TIME_SECONDS", "21", "0..20" },
		{ "WAIT_TIME_SECONDS", "-1", "0..20" },
		{ "VISIBILITY_TIMEOUT_SECS", "0", "1..43200" },
		{ "VISIBILITY_TIMEOUT_SECS", "43201", "1..43200" },
		{ "RECEIVES_IN_FLIGHT", "0", "1..32" },
		{ "RECEIVES_IN_FLIGHT", "33", "1..32" },
		{ "POISON_VISIBILITY_TIMEOUT_SECS", "43201", "0..43200" },
		{ "HELD_MESSAGES_MAX", "-1", "0..100000" },
		{ "HELD_MESSAGES_MAX", "100001", "0..100000" },
	};
	const char *path = conf("");
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup();
		env_required();
		env_set(cases[i].env, cases[i].value);
		snprintf(want, sizeof(want), "%s: '%s' is out of range (%s)",
		    cases[i].env, cases[i].value, cases[i].range);
		ck_assert_int_eq(load(path), -1);
		ck_assert_str_eq(err, want);
	}
	ntmp = 1;
}
END_TEST

START_TEST(test_env_int_trailing_junk)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_PORT", "63 79");
	expect_err(path, "REDIS_PORT: '63 79' is not an integer");
}
END_TEST

START_TEST(test_env_int_leading_space)
{
	const char *path = conf("");

	env_required();
	env_set("PORT", " 4000");
	expect_err(path, "PORT: ' 4000' is not an integer");
}
END_TEST

START_TEST(test_env_int_overflow)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_PORT", "99999999999999999999");
	expect_err(path, "REDIS_PORT: '99999999999999999999' is out of range "
	    "(1..65535)");
}
END_TEST

START_TEST(test_keys_ttl_zero_file)
{
	const char *path = conf("keys_ttl = 0;\n");

	env_required();
	expect_err(path, "%s:1: keys_ttl: 0 is invalid: must be positive, "
	    "or negative for no expiry", path);
}
END_TEST

START_TEST(test_keys_ttl_zero_env)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_KEYS_TTL_IN_SECS", "0");
	expect_err(path, "REDIS_KEYS_TTL_IN_SECS: '0' is invalid: must be "
	    "positive, or negative for no expiry");
}
END_TEST

START_TEST(test_backoff_max_below_min_file)
{
	const char *path = conf("restart_backoff_min_ms = 500;\n"
	    "restart_backoff_max_ms = 200;\n");

	env_required();
	expect_err(path, "restart_backoff_max_ms: 200 is less than "
	    "restart_backoff_min_ms (500)");
}
END_TEST

START_TEST(test_backoff_max_below_min_env)
{
	const char *path = conf("restart_backoff_min_ms = 500;\n");

	env_required();
	env_set("RESTART_BACKOFF_MAX_MS", "200");
	expect_err(path, "RESTART_BACKOFF_MAX_MS: '200' is less than "
	    "restart_backoff_min_ms (500)");
}
END_TEST

/* String checks. */

START_TEST(test_queue_url_valid_forms)
{
	static const char *const good[] = {
		"https://sqs.us-east-1.amazonaws.com/123456789012/q",
		"http://localhost:4566/000000000000/q",
		"HTTPS://sqs.example/1/q",
		"http://[::1]:4566/q",
	};
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		setup();
		env_required();
		env_set("QUEUE_URL", good[i]);
		expect_ok(path);
		ck_assert_str_eq(cfg.queue_url, good[i]);
		config_free(&cfg);
	}
	ntmp = 1;
}
END_TEST

START_TEST(test_queue_url_invalid)
{
	static const struct {
		const char *url, *shown;
	} badurls[] = {
		{ "ftp://sqs.example/q", NULL },
		{ "sqs.example/q", NULL },
		{ "https://", NULL },
		{ "https:///q", NULL },
		{ "https://:443/q", NULL },
		{ "https://host:44x/q", NULL },
		{ "https://ho st/q", NULL },
		{ "http://[]/q", NULL },
		{ "https://sqs.example", NULL },
		{ "https://sqs.example/", NULL },
		/* The rules the consumers apply (url.c): -t says so first. */
		{ "https://host:/1/q", NULL },
		{ "https://host:0/1/q", NULL },
		{ "https://host:65536/1/q", NULL },
		{ "http://[zz::1]/1/q", NULL },
		{ "https://a!b/1/q", NULL },
		/* User information is never shown: a password is a secret. */
		{ "https://user@host/1/q", "https://***@host/1/q" },
		{ "https://user:s3cr3t-pw@host/1/q",
		  "https://user:***@host/1/q" },
		{ "https://host/1/q?x=1", NULL },
		{ "https://host/1/q#f", NULL },
	};
	const char *path = conf("");
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(badurls) / sizeof(badurls[0]); i++) {
		setup();
		env_required();
		env_set("QUEUE_URL", badurls[i].url);
		snprintf(want, sizeof(want), "QUEUE_URL: '%s' is invalid: "
		    "must be an http:// or https:// queue URL with a host and "
		    "a path, without user name, query or fragment",
		    badurls[i].shown != NULL ? badurls[i].shown :
		    badurls[i].url);
		ck_assert_int_eq(load(path), -1);
		ck_assert_str_eq(err, want);
		ck_assert_ptr_null(strstr(err, "s3cr3t"));
	}
	ntmp = 1;
}
END_TEST

START_TEST(test_queue_url_password_file)
{
	const char *path = conf("queue_url = \"https://u:s3cr3t@h/1/q\";\n");

	env_set("AWS_REGION", "us-east-1");
	expect_err(path, "%s:1: queue_url: 'https://u:***@h/1/q' is invalid: "
	    "must be an http:// or https:// queue URL with a host and a path, "
	    "without user name, query or fragment", path);
}
END_TEST

/* Longer than the consumers take (url.c's URL_MAX): -t says so. */
START_TEST(test_queue_url_too_long)
{
	static char url[2100];
	const char *path = conf("");

	memset(url, 'q', sizeof(url) - 1);
	memcpy(url, "https://h/", 10);
	env_required();
	env_set("QUEUE_URL", url);
	expect_err(path, "QUEUE_URL: '%.64s...' is invalid: must be an http:// "
	    "or https:// queue URL with a host and a path, without user name, "
	    "query or fragment", url);
}
END_TEST

START_TEST(test_queue_url_invalid_file)
{
	const char *path = conf("queue_url = \"sqs.example/q\";\n");

	env_set("AWS_REGION", "us-east-1");
	expect_err(path, "%s:1: queue_url: 'sqs.example/q' is invalid: must "
	    "be an http:// or https:// queue URL with a host and a path, "
	    "without user name, query or fragment", path);
}
END_TEST

START_TEST(test_edge_api_url_invalid)
{
	const char *path = conf("");

	env_required();
	env_set("EDGE_API_URL", "edge.api.stigg.io");
	expect_err(path, "EDGE_API_URL: 'edge.api.stigg.io' is invalid: must "
	    "be an http:// or https:// URL with a host, without user name, "
	    "query or fragment");
	setup();
	env_required();
	env_set("EDGE_API_URL", "https://key@edge.example");
	expect_err(path, "EDGE_API_URL: 'https://***@edge.example' is invalid: "
	    "must be an http:// or https:// URL with a host, without user "
	    "name, query or fragment");
	ntmp = 1;
}
END_TEST

START_TEST(test_aws_region_invalid)
{
	const char *path = conf("");

	env_required();
	env_set("AWS_REGION", "US-East-1");
	expect_err(path, "AWS_REGION: 'US-East-1' is invalid: must be "
	    "1 to 32 lowercase letters, digits and '-'");
}
END_TEST

START_TEST(test_environment_prefix_whitespace)
{
	const char *path = conf("");

	env_required();
	env_set("ENVIRONMENT_PREFIX", "my env");
	expect_err(path, "ENVIRONMENT_PREFIX: 'my env' is invalid: must be "
	    "non-empty, without whitespace");
}
END_TEST

START_TEST(test_environment_prefix_empty_in_file)
{
	const char *path = conf("environment_prefix = \"\";\n");

	env_required();
	expect_err(path, "%s:1: environment_prefix: '' is invalid: must be "
	    "non-empty, without whitespace", path);
}
END_TEST

START_TEST(test_listen_address_empty_in_file)
{
	const char *path = conf("listen_address = \"\";\n");

	env_required();
	expect_err(path, "%s:1: listen_address: '' is invalid: must be "
	    "non-empty, without whitespace", path);
}
END_TEST

START_TEST(test_log_file_relative)
{
	const char *path = conf("");

	env_required();
	env_set("LOG_FILE", "pcs.log");
	expect_err(path, "LOG_FILE: 'pcs.log' is invalid: must be an "
	    "absolute path");
}
END_TEST

START_TEST(test_optional_empty_in_file_is_unset)
{
	const char *path = conf("log_file = \"\";\nredis_password = \"\";\n");

	env_required();
	expect_ok(path);
	ck_assert_ptr_null(cfg.log_file);
	ck_assert_ptr_null(cfg.redis_password);
}
END_TEST

START_TEST(test_bad_value_is_quoted_on_one_line)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_HOST", "a\nb");
	expect_err(path, "REDIS_HOST: 'a?b' is invalid: must be non-empty, "
	    "without whitespace");
}
END_TEST

/* Two spellings of one variable. */

START_TEST(test_two_spellings_differ)
{
	const char *path = conf("");

	env_required();
	env_set("ENVIRONMENT_PREFIX", "a");
	env_set("REDIS_ENVIRONMENT_PREFIX", "b");
	expect_err(path, "ENVIRONMENT_PREFIX ('a') and "
	    "REDIS_ENVIRONMENT_PREFIX ('b') are both set, to different values");
}
END_TEST

START_TEST(test_two_spellings_differ_ttl)
{
	const char *path = conf("");

	env_required();
	env_set("KEYS_TTL_IN_SECS", "60");
	env_set("REDIS_KEYS_TTL_IN_SECS", "61");
	expect_err(path, "KEYS_TTL_IN_SECS ('60') and REDIS_KEYS_TTL_IN_SECS "
	    "('61') are both set, to different values");
}
END_TEST

START_TEST(test_two_spellings_agree)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_USER", "pcs");
	env_set("REDIS_USERNAME", "pcs");
	env_set("KEYS_TTL_IN_SECS", "60");
	env_set("REDIS_KEYS_TTL_IN_SECS", "60");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_user, "pcs");
	ck_assert(cfg.keys_ttl == 60);
}
END_TEST

START_TEST(test_second_spelling_alone)
{
	const char *path = conf("environment_prefix = \"file\";\n");

	env_required();
	env_set("REDIS_ENVIRONMENT_PREFIX", "chart");
	env_set("REDIS_USERNAME", "u");
	env_set("REDIS_KEYS_TTL_IN_SECS", "120");
	expect_ok(path);
	ck_assert_str_eq(cfg.environment_prefix, "chart");
	ck_assert_str_eq(cfg.redis_user, "u");
	ck_assert(cfg.keys_ttl == 120);
}
END_TEST

START_TEST(test_second_spelling_empty_string)
{
	const char *path = conf("");

	env_required();
	env_set("ENVIRONMENT_PREFIX", "staging");
	env_set("REDIS_ENVIRONMENT_PREFIX", "");
	expect_ok(path);
	ck_assert_str_eq(cfg.environment_prefix, "staging");
}
END_TEST

/* Booleans, enums, consumers. */

START_TEST(test_bool_env_spellings)
{
	static const struct {
		const char	*v;
		int		 want;
	} cases[] = {
		{ "true", 1 }, { "TRUE", 1 }, { "1", 1 }, { "Yes", 1 },
		{ "false", 0 }, { "False", 0 }, { "0", 0 }, { "NO", 0 },
	};
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup();
		env_required();
		env_set("DISABLE_SENTRY", cases[i].v);
		expect_ok(path);
		ck_assert_int_eq(cfg.disable_sentry, cases[i].want);
		config_free(&cfg);
	}
	ntmp = 1;
}
END_TEST

START_TEST(test_bool_env_invalid)
{
	const char *path = conf("");

	env_required();
	env_set("DISABLE_SENTRY", "on");
	expect_err(path, "DISABLE_SENTRY: 'on' is not a boolean "
	    "(true/false, 1/0, yes/no)");
}
END_TEST

START_TEST(test_policy_invalid)
{
	const char *path = conf("cache_update_policy = \"INSERT\";\n");

	env_required();
	expect_err(path, "%s:1: cache_update_policy: 'INSERT' is not one of "
	    "UPSERT, UPDATE_IF_EXISTS", path);
}
END_TEST

START_TEST(test_queue_settings)
{
	const char *path = conf("wait_time = 0;\nvisibility_timeout = 5;\n"
	    "receives_in_flight = 32;\npoison_policy = \"DELETE\";\n"
	    "poison_visibility_timeout = 0;\n"
	    "on_package_published = \"ignore\";\n");

	env_required();
	expect_ok(path);
	ck_assert_int_eq(cfg.wait_time, 0);
	ck_assert_int_eq(cfg.visibility_timeout, 5);
	ck_assert_int_eq(cfg.receives_in_flight, 32);
	ck_assert_int_eq(cfg.poison_policy, CONFIG_POISON_DELETE);
	ck_assert_int_eq(cfg.poison_visibility_timeout, 0);
	ck_assert_int_eq(cfg.on_package_published, CONFIG_PACKAGE_IGNORE);
}
END_TEST

/* held_messages_max: from the file, overridden by HELD_MESSAGES_MAX. */
START_TEST(test_held_messages_max)
{
	const char *path = conf("held_messages_max = 0;\n");

	env_required();
	expect_ok(path);
	ck_assert_int_eq(cfg.held_messages_max, 0);
	config_free(&cfg);
	env_set("HELD_MESSAGES_MAX", "100000");
	expect_ok(path);
	ck_assert_int_eq(cfg.held_messages_max, 100000);
}
END_TEST

START_TEST(test_held_messages_max_invalid)
{
	const char *path = conf("held_messages_max = 100001;\n");

	env_required();
	expect_err(path, "%s:1: held_messages_max: 100001 is out of range "
	    "(0..100000)", path);
	env_set("HELD_MESSAGES_MAX", "many");
	expect_err(conf(""), "HELD_MESSAGES_MAX: 'many' is not an integer");
}
END_TEST

START_TEST(test_queue_enums_invalid)
{
	const char *path = conf("");

	env_required();
	env_set("POISON_POLICY", "drop");
	expect_err(path, "POISON_POLICY: 'drop' is not one of keep, delete");
	setup();
	env_required();
	env_set("ON_PACKAGE_PUBLISHED", "purge");
	expect_err(path, "ON_PACKAGE_PUBLISHED: 'purge' is not one of "
	    "invalidate, ignore");
	ntmp = 1;
}
END_TEST

START_TEST(test_aws_keys_go_together)
{
	const char *path = conf("");

	env_required();
	env_set("AWS_SECRET_ACCESS_KEY", "s3cr3t");
	expect_err(path, "aws_access_key_id: required with "
	    "aws_secret_access_key (AWS_ACCESS_KEY_ID and "
	    "AWS_SECRET_ACCESS_KEY go together)");
	setup();
	env_required();
	env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
	expect_err(path, "aws_secret_access_key: required with "
	    "aws_access_key_id (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
	    "go together)");
	setup();
	env_required();
	env_set("AWS_SESSION_TOKEN", "tok");
	expect_err(path, "aws_session_token: needs aws_access_key_id and "
	    "aws_secret_access_key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)");
	ntmp = 1;
}
END_TEST

/* The credential chain's settings: defaults, the file, the environment. */
START_TEST(test_aws_chain_values)
{
	const char *path = conf(
	    "aws_profile = \"ci\";\n"
	    "aws_shared_credentials_file = \"/etc/pcs/aws-credentials\";\n"
	    "aws_config_file = \"/etc/pcs/aws-config\";\n"
	    "aws_role_arn = \"arn:aws:iam::123456789012:role/pcs\";\n"
	    "aws_role_external_id = \"ext-1\";\n"
	    "aws_role_session_name = \"pcs@host-1\";\n"
	    "aws_ec2_metadata_disabled = true;\n"
	    "aws_endpoint_url_sts = \"http://127.0.0.1:9000\";\n"
	    "aws_ec2_metadata_service_endpoint = \"http://[::1]:9001/\";\n");
	const char *empty = conf("");

	env_required();
	expect_ok(path);
	ck_assert_str_eq(cfg.aws_profile, "ci");
	ck_assert_str_eq(cfg.aws_shared_credentials_file,
	    "/etc/pcs/aws-credentials");
	ck_assert_str_eq(cfg.aws_config_file, "/etc/pcs/aws-config");
	ck_assert_str_eq(cfg.aws_role_arn,
	    "arn:aws:iam::123456789012:role/pcs");
	ck_assert_str_eq(cfg.aws_role_external_id, "ext-1");
	ck_assert_str_eq(cfg.aws_role_session_name, "pcs@host-1");
	ck_assert_int_eq(cfg.aws_ec2_metadata_disabled, 1);
	ck_assert_int_eq(cfg.aws_no_sign_request, 0);
	ck_assert_str_eq(cfg.aws_endpoint_url_sts, "http://127.0.0.1:9000");
	ck_assert_str_eq(cfg.aws_ec2_metadata_service_endpoint,
	    "http://[::1]:9001/");
	config_free(&cfg);

	setup();
	env_required();
	env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token");
	env_set("AWS_ROLE_ARN", "arn:aws-us-gov:iam::123456789012:role/a/b");
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI",
	    "http://169.254.170.23/v1/credentials");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/ct");
	env_set("AWS_NO_SIGN_REQUEST", "false");
	expect_ok(empty);
	ck_assert_ptr_null(cfg.aws_profile);
	ck_assert_str_eq(cfg.aws_web_identity_token_file, "/var/run/token");
	ck_assert_str_eq(cfg.aws_container_credentials_full_uri,
	    "http://169.254.170.23/v1/credentials");
	ck_assert_str_eq(cfg.aws_container_authorization_token_file,
	    "/var/run/ct");
	ck_assert_int_eq(cfg.aws_ec2_metadata_disabled, 0);
	/* Without HOME, no shared files. */
	ck_assert_ptr_null(cfg.aws_shared_credentials_file);
	ck_assert_ptr_null(cfg.aws_config_file);
	ck_assert_ptr_null(cfg.aws_endpoint_url_sts);
	config_free(&cfg);

	setup();
	env_required();
	env_set("AWS_NO_SIGN_REQUEST", "true");
	env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer t0k3n");
	expect_ok(empty);
	ck_assert_int_eq(cfg.aws_no_sign_request, 1);
	ck_assert_str_eq(cfg.aws_container_credentials_relative_uri,
	    "/v2/credentials/x");
	ck_assert_str_eq(cfg.aws_container_authorization_token,
	    "Bearer t0k3n");
	ntmp = 2;
}
END_TEST

/* The shared files' paths: from HOME when unset, ~/ expanded. */
START_TEST(test_aws_files_from_home)
{
	const char *path = conf("");

	env_required();
	env_set("HOME", "/home/pcs/");
	expect_ok(path);
	ck_assert_str_eq(cfg.aws_shared_credentials_file,
	    "/home/pcs/.aws/credentials");
	ck_assert_str_eq(cfg.aws_config_file, "/home/pcs/.aws/config");
	config_free(&cfg);
	env_set("AWS_CONFIG_FILE", "~/etc/aws.conf");
	env_set("AWS_SHARED_CREDENTIALS_FILE", "/srv/creds");
	expect_ok(path);
	ck_assert_str_eq(cfg.aws_config_file, "/home/pcs/etc/aws.conf");
	ck_assert_str_eq(cfg.aws_shared_credentials_file, "/srv/creds");
	config_free(&cfg);
	env_set("HOME", "relative");
	expect_err(path, "AWS_CONFIG_FILE: '~/etc/aws.conf' starts with ~/, "
	    "and HOME is not an absolute path");
	setup();
	env_required();
	env_set("AWS_SHARED_CREDENTIALS_FILE", "~/c");
	expect_err(path, "AWS_SHARED_CREDENTIALS_FILE: '~/c' starts with ~/, "
	    "and HOME is unset");
	env_set("AWS_SHARED_CREDENTIALS_FILE", "aws/credentials");
	expect_err(path, "AWS_SHARED_CREDENTIALS_FILE: 'aws/credentials' is "
	    "invalid: must be an absolute path, or one starting with ~/ "
	    "(under $HOME)");
	env_set("AWS_SHARED_CREDENTIALS_FILE", "~");
	expect_err(path, "AWS_SHARED_CREDENTIALS_FILE: '~' is "
	    "invalid: must be an absolute path, or one starting with ~/ "
	    "(under $HOME)");
	ntmp = 1;
}
END_TEST

START_TEST(test_aws_chain_invalid)
{
	static const struct {
		const char *name, *value, *why;
	} cases[] = {
		{ "AWS_ROLE_ARN", "arn:aws:iam::12345678901:role/r",
		  CONFIG_WHY_ROLE_ARN },
		{ "AWS_ROLE_ARN", "arn:aws:iam::123456789012:user/r",
		  CONFIG_WHY_ROLE_ARN },
		{ "AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/",
		  CONFIG_WHY_ROLE_ARN },
		{ "AWS_ROLE_ARN", "arn:aws:sts::123456789012:role/r",
		  CONFIG_WHY_ROLE_ARN },
		{ "AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/a b",
		  CONFIG_WHY_ROLE_ARN },
		{ "AWS_ROLE_SESSION_NAME", "x", CONFIG_WHY_SESSION_NAME },
		{ "AWS_ROLE_SESSION_NAME", "a b", CONFIG_WHY_SESSION_NAME },
		{ "AWS_ROLE_EXTERNAL_ID", "a", CONFIG_WHY_EXTERNAL_ID },
		{ "AWS_ROLE_EXTERNAL_ID", "a;b", CONFIG_WHY_EXTERNAL_ID },
		{ "AWS_WEB_IDENTITY_TOKEN_FILE", "token",
		  "must be an absolute path" },
		{ "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "token",
		  "must be an absolute path" },
		{ "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/creds",
		  "must be a path starting with '/', printable ASCII without "
		  "spaces" },
		{ "AWS_ENDPOINT_URL_STS", "sts.amazonaws.com",
		  "must be an http:// or https:// URL with a host, without "
		  "user name, query or fragment" },
		{ "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://h/?x",
		  "must be an http:// or https:// URL with a host, without "
		  "user name, query or fragment" },
		{ "AWS_PROFILE", "my profile", "must be non-empty, without "
		  "whitespace" },
	};
	/* Plain http:// only to the host itself or the container agents. */
	static const char *const uris[] = {
		"http://10.0.0.1/creds", "http://169.254.170.3/", "http://h/",
		"http://[fd00:ec2::24]/", "https://u@h/", "ftp://h/",
	};
	static const char *const good_uris[] = {
		"https://h.example/creds", "http://127.0.0.1:8080/c",
		"http://127.1.2.3/c", "http://localhost/c", "http://[::1]/c",
		"http://169.254.170.2/v2/c", "http://[fd00:ec2::23]/v1/c",
	};
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup();
		env_required();
		if (strcmp(cases[i].name, "AWS_ROLE_SESSION_NAME") == 0 ||
		    strcmp(cases[i].name, "AWS_ROLE_EXTERNAL_ID") == 0)
			env_set("AWS_ROLE_ARN",
			    "arn:aws:iam::123456789012:role/r");
		env_set(cases[i].name, cases[i].value);
		expect_err(path, "%s: '%s' is invalid: %s", cases[i].name,
		    cases[i].value, cases[i].why);
	}
	for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		setup();
		env_required();
		env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", uris[i]);
		expect_err(path, "AWS_CONTAINER_CREDENTIALS_FULL_URI: '%s' is "
		    "invalid: must be an https:// URL, or an http:// one to a "
		    "loopback address, 169.254.170.2, 169.254.170.23 or "
		    "[fd00:ec2::23], without user name", strcmp(uris[i],
		    "https://u@h/") == 0 ? "https://***@h/" : uris[i]);
	}
	for (i = 0; i < sizeof(good_uris) / sizeof(good_uris[0]); i++) {
		setup();
		env_required();
		env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", good_uris[i]);
		expect_ok(path);
		config_free(&cfg);
	}
	setup();
	env_required();
	env_set("AWS_EC2_METADATA_DISABLED", "sometimes");
	expect_err(path, "AWS_EC2_METADATA_DISABLED: 'sometimes' is not a "
	    "boolean (true/false, 1/0, yes/no)");
	ntmp = 1;
}
END_TEST

/* Settings that need another, and settings that exclude each other. */
START_TEST(test_aws_chain_together)
{
	const char *file = conf("aws_no_sign_request = true;\n"
	    "aws_role_arn = \"arn:aws:iam::123456789012:role/r\";\n");
	const char *path = conf("");

	env_required();
	expect_err(file, "%s: aws_no_sign_request and aws_role_arn both set; "
	    "use one", file);
	setup();
	env_required();
	env_set("AWS_NO_SIGN_REQUEST", "yes");
	env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
	env_set("AWS_SECRET_ACCESS_KEY", "s3cr3t");
	expect_err(path, "AWS_NO_SIGN_REQUEST and AWS_ACCESS_KEY_ID "
	    "both set; use one");
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	ck_assert_ptr_null(strstr(err, "AKIDEXAMPLE"));
	setup();
	env_required();
	env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token");
	expect_err(path, "aws_role_arn: required with AWS_WEB_IDENTITY_TOKEN_FILE "
	    "(set aws_role_arn in the file or AWS_ROLE_ARN)");
	setup();
	env_required();
	env_set("AWS_ROLE_EXTERNAL_ID", "ext-1");
	expect_err(path, "AWS_ROLE_EXTERNAL_ID: needs aws_role_arn "
	    "(AWS_ROLE_ARN)");
	setup();
	env_required();
	env_set("AWS_ROLE_SESSION_NAME", "pcs");
	expect_err(path, "AWS_ROLE_SESSION_NAME: needs aws_role_arn "
	    "(AWS_ROLE_ARN)");
	setup();
	env_required();
	env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/c");
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c");
	expect_err(path, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI both set; use one");
	setup();
	env_required();
	env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t0k3n-value");
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/run/t");
	expect_err(path, "AWS_CONTAINER_AUTHORIZATION_TOKEN and "
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE both set; use one");
	setup();
	env_required();
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t0k3n-value");
	expect_err(path, "AWS_CONTAINER_AUTHORIZATION_TOKEN: needs "
	    "aws_container_credentials_full_uri or "
	    "aws_container_credentials_relative_uri "
	    "(AWS_CONTAINER_CREDENTIALS_FULL_URI, "
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)");
	ck_assert_ptr_null(strstr(err, "t0k3n"));
	setup();
	env_required();
	env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/run/t");
	expect_err(path, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: needs "
	    "aws_container_credentials_full_uri or "
	    "aws_container_credentials_relative_uri "
	    "(AWS_CONTAINER_CREDENTIALS_FULL_URI, "
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)");
	ntmp = 2;
}
END_TEST

/* The identifiers creds.c checks in the shared files too. */
START_TEST(test_aws_identifiers)
{
	ck_assert_int_eq(config_check_role_arn(
	    "arn:aws:iam::123456789012:role/service-role/pcs+x=,.@_-"), 0);
	ck_assert_int_eq(config_check_role_arn(
	    "arn:aws-cn:iam::123456789012:role/r"), 0);
	ck_assert_int_eq(config_check_role_arn(
	    "arn:aws:iam::1234567890123:role/r"), -1);
	ck_assert_int_eq(config_check_role_arn("arn:aws:iam::1:role/r"), -1);
	ck_assert_int_eq(config_check_role_arn(""), -1);
	ck_assert_int_eq(config_check_session_name("ab"), 0);
	ck_assert_int_eq(config_check_session_name(
	    "0123456789012345678901234567890123456789012345678901234567890123"),
	    0);
	ck_assert_int_eq(config_check_session_name(
	    "01234567890123456789012345678901234567890123456789012345678901234"),
	    -1);
	ck_assert_int_eq(config_check_session_name("a/b"), -1);
	ck_assert_int_eq(config_check_external_id("urn:x/y"), 0);
	ck_assert_int_eq(config_check_external_id("a\nb"), -1);
}
END_TEST

START_TEST(test_keys_ttl_too_large)
{
	const char *path = conf("");

	env_required();
	env_set("KEYS_TTL_IN_SECS", "315360000001");
	expect_err(path, "KEYS_TTL_IN_SECS: '315360000001' is out of range "
	    "(%lld..315360000000)", LLONG_MIN);
}
END_TEST

/* A credentials directory holding name=value files; removed by the caller. */
static char *
credentials(const char *name, const char *value, size_t len)
{
	static char dir[64];
	char path[128];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/check_config.creds.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, value, len), (ssize_t)len);
	close(fd);
	return dir;
}

static void
credentials_rm(const char *dir, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	rmdir(dir);
}

START_TEST(test_credentials_override_secrets)
{
	const char *path = conf("redis_password = \"from-file\";\n");
	char *dir = credentials("redis_password", "from-cred\n", 10);

	env_required();
	env_set("REDIS_PASSWORD", "from-env");
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_password, "from-cred");
	credentials_rm(dir, "redis_password");
}
END_TEST

START_TEST(test_credentials_bad)
{
	const char *path = conf("");
	char *dir = credentials("server_api_key", "", 0);
	char want[256];

	env_required();
	env_set("CREDENTIALS_DIRECTORY", dir);
	snprintf(want, sizeof(want), "%s/server_api_key: is empty", dir);
	expect_err(path, "%s", want);
	credentials_rm(dir, "server_api_key");
	setup();
	dir = credentials("server_api_key", "a\0b", 3);
	env_required();
	env_set("CREDENTIALS_DIRECTORY", dir);
	snprintf(want, sizeof(want), "%s/server_api_key: not a credential "
	    "(too large, or binary)", dir);
	expect_err(path, "%s", want);
	credentials_rm(dir, "server_api_key");
	ntmp = 1;
}
END_TEST

START_TEST(test_credentials_only_secrets)
{
	const char *path = conf("");
	char *dir = credentials("redis_port", "1234", 4);

	env_required();
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_port, 6379);
	credentials_rm(dir, "redis_port");
}
END_TEST

/*
 * REDIS_URL.  Its password is PW: no error may hold it.  The URL sets
 * host, port, db, user and password; a discrete one from the same or a
 * stronger source is a conflict, from a weaker one it is replaced.
 */
#define PW	"s3cr3t-redis-pw"

START_TEST(test_redis_url_sets_parts)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_URL", "redis://stigg:" PW "%40x@redis.internal:6380/3");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_host, "redis.internal");
	ck_assert_int_eq(cfg.redis_port, 6380);
	ck_assert_int_eq(cfg.redis_db, 3);
	ck_assert_str_eq(cfg.redis_user, "stigg");
	ck_assert_str_eq(cfg.redis_password, PW "@x");
	ck_assert_str_eq(cfg.redis_url,
	    "redis://stigg:" PW "%40x@redis.internal:6380/3");
}
END_TEST

START_TEST(test_redis_url_forms)
{
	static const struct {
		const char	*url, *host, *user, *password;
		int		 port, db;
	} good[] = {
		{ "redis://h", "h", NULL, NULL, 6379, 0 },
		{ "redis://:" PW "@h/0", "h", NULL, PW, 6379, 0 },
		/* A user name alone (ioredis, redis-py), no password. */
		{ "redis://worker@h:1", "h", "worker", NULL, 1, 0 },
		{ "redis://[::1]:7000/15", "::1", NULL, NULL, 7000, 15 },
		{ "Redis://u:p@[2001:db8::1]/", "2001:db8::1", "u", "p", 6379,
		  0 },
	};
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		setup();
		env_required();
		env_set("REDIS_URL", good[i].url);
		expect_ok(path);
		ck_assert_str_eq(cfg.redis_host, good[i].host);
		if (good[i].user == NULL)
			ck_assert_ptr_null(cfg.redis_user);
		else
			ck_assert_str_eq(cfg.redis_user, good[i].user);
		if (good[i].password == NULL)
			ck_assert_ptr_null(cfg.redis_password);
		else
			ck_assert_str_eq(cfg.redis_password, good[i].password);
		ck_assert_int_eq(cfg.redis_port, good[i].port);
		ck_assert_int_eq(cfg.redis_db, good[i].db);
		config_free(&cfg);
	}
	ntmp = 1;
}
END_TEST

START_TEST(test_redis_url_invalid)
{
	static const struct {
		const char *url, *want;
	} badurls[] = {
		{ "redis://u:" PW "@h:0",
		  "REDIS_URL: 'redis://u:***@h:0' has a port that is not a "
		  "number from 1 to 65535" },
		{ "redis://:" PW "@h/db1",
		  "REDIS_URL: 'redis://:***@h/db1' has a path that is not a "
		  "database number from 0 to 2147483647" },
		{ "redis://h/1/x",
		  "REDIS_URL: 'redis://***' has a path beyond the database "
		  "number (/<db>)" },
		{ "redis://u:" PW "@h/1?db=2",
		  "REDIS_URL: 'redis://u:***@h/1?db=2' must not have a query "
		  "or fragment" },
		{ "redis://u:" PW "%4@h", "REDIS_URL: 'redis://u:***@h' has a "
		  "password with a '%' not followed by two hex digits" },
		{ "redis://%zz:" PW "@h",
		  "REDIS_URL: 'redis://%zz:***@h' has a user name with a '%' "
		  "not followed by two hex digits" },
		{ "http://u:" PW "@h", "REDIS_URL: 'http://u:***@h' must start "
		  "with redis:// or rediss://" },
		{ PW "@h", "REDIS_URL: '***@h' must start with redis:// or "
		  "rediss://" },
		{ "rediss://u:" PW "@h:6380/1?ssl=1", "REDIS_URL: "
		  "'rediss://u:***@h:6380/1?ssl=1' must not have a query or "
		  "fragment" },
		/* No "@": the password would stand where the host is. */
		{ "redis://default:" PW, "REDIS_URL: 'redis://***' has a port "
		  "that is not a number from 1 to 65535" },
		{ "redis://:" PW, "REDIS_URL: 'redis://***' has no host" },
	};
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(badurls) / sizeof(badurls[0]); i++) {
		setup();
		env_required();
		env_set("REDIS_URL", badurls[i].url);
		expect_err(path, "%s", badurls[i].want);
		ck_assert_ptr_null(strstr(err, PW));
	}
	ntmp = 1;
}
END_TEST

START_TEST(test_redis_url_invalid_file)
{
	const char *path = conf("redis_url = \"redis://u:" PW "@h:99999\";\n"),
	    *tls = conf("\n  redis_url = \"rediss://:" PW "\";\n");

	env_required();
	expect_err(path, "%s:1: redis_url: 'redis://u:***@h:99999' has a port "
	    "that is not a number from 1 to 65535", path);
	ck_assert_ptr_null(strstr(err, PW));
	expect_err(tls, "%s:2: redis_url: 'rediss://***' has no host", tls);
	ck_assert_ptr_null(strstr(err, PW));
}
END_TEST

START_TEST(test_redis_url_conflicts)
{
	static const struct {
		const char *name, *value, *want;
	} envs[] = {
		{ "REDIS_HOST", "other", "REDIS_URL and REDIS_HOST both set; "
		  "use one" },
		{ "REDIS_PORT", "6379", "REDIS_URL and REDIS_PORT both set; "
		  "use one" },
		{ "REDIS_DB", "0", "REDIS_URL and REDIS_DB both set; use one" },
		{ "REDIS_USER", "u", "REDIS_URL and REDIS_USER both set; "
		  "use one" },
		{ "REDIS_USERNAME", "u",
		  "REDIS_URL and REDIS_USERNAME both set; use one" },
		{ "REDIS_PASSWORD", PW,
		  "REDIS_URL and REDIS_PASSWORD both set; use one" },
	};
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		setup();
		env_required();
		env_set("REDIS_URL", "redis://u:" PW "@h/1");
		env_set(envs[i].name, envs[i].value);
		expect_err(path, "%s", envs[i].want);
		ck_assert_ptr_null(strstr(err, PW));
	}
	/* An empty variable is unset: no conflict. */
	setup();
	env_required();
	env_set("REDIS_URL", "redis://h/1");
	env_set("REDIS_HOST", "");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_host, "h");
	ntmp = 1;
}
END_TEST

/*
 * REDIS_SENTINELS: host:port entries, IPv6 in brackets, the port
 * defaulting to 26379, blanks around entries ignored.
 */
START_TEST(test_sentinels_parse)
{
	struct config_hostport hp[CONFIG_MAX_SENTINELS];
	static const struct {
		const char *v, *why;
	} bads[] = {
		{ "", "has an empty entry" },
		{ "a:1,,b:2", "has an empty entry" },
		{ "a:1,", "has an empty entry" },
		{ ":26379", "has an entry without a host" },
		{ "a:", "has an empty port" },
		{ "a:0", "has a port that is not a number from 1 to 65535" },
		{ "a:65536", "has a port that is not a number from 1 to "
		  "65535" },
		{ "a:99999999999", "has a port that is not a number from 1 to "
		  "65535" },
		{ "a:2x", "has a port that is not a number from 1 to 65535" },
		{ "::1:26379", "has an IPv6 address without brackets (write "
		  "[addr]:port)" },
		{ "[::1:26379", "has a '[' without its ']'" },
		{ "[::1]26379", "has something after ']' other than ':port'" },
		{ "[host]:1", "has brackets around something not an IPv6 "
		  "address" },
		{ "a b:1", "has a host with a character not allowed in a host "
		  "name" },
		{ "u@h:1", "has a host with a character not allowed in a host "
		  "name" },
	};
	char why[128], many[256];
	size_t i;
	int n;

	n = config_parse_sentinels("10.0.0.1:26379, s2.example:26380 ,"
	    "[::1]:26381,s4,[fe80::1]", hp, CONFIG_MAX_SENTINELS, why,
	    sizeof(why));
	ck_assert_int_eq(n, 5);
	ck_assert_str_eq(hp[0].host, "10.0.0.1");
	ck_assert_int_eq(hp[0].port, 26379);
	ck_assert_str_eq(hp[1].host, "s2.example");
	ck_assert_int_eq(hp[1].port, 26380);
	ck_assert_str_eq(hp[2].host, "::1");
	ck_assert_int_eq(hp[2].port, 26381);
	ck_assert_str_eq(hp[3].host, "s4");
	ck_assert_int_eq(hp[3].port, CONFIG_SENTINEL_PORT);
	ck_assert_str_eq(hp[4].host, "fe80::1");
	ck_assert_int_eq(hp[4].port, CONFIG_SENTINEL_PORT);
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(config_parse_sentinels(bads[i].v, hp,
		    CONFIG_MAX_SENTINELS, why, sizeof(why)) == -1,
		    "'%s' accepted", bads[i].v);
		ck_assert_str_eq(why, bads[i].why);
	}
	for (i = 0, many[0] = '\0'; i <= CONFIG_MAX_SENTINELS; i++)
		strcat(many, i ? ",h:1" : "h:1");
	ck_assert_int_eq(config_parse_sentinels(many, hp, CONFIG_MAX_SENTINELS,
	    why, sizeof(why)), -1);
	ck_assert_str_eq(why, "lists more than 16 sentinels");
}
END_TEST

START_TEST(test_sentinels_load)
{
	const char *path = conf("redis_sentinels = \"a:1,[::1]:2\";\n"
	    "redis_sentinel_master = \"mymaster\";\n"
	    "redis_sentinel_username = \"su\";\n"
	    "redis_db = 2;\nredis_password = \"data-pw\";\n"),
	    *empty = conf("");
	char *dir = credentials("redis_sentinel_password", PW "\n",
	    strlen(PW) + 1);

	env_required();
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_ok(path);
	ck_assert_uint_eq(cfg.nsentinels, 2);
	ck_assert_str_eq(cfg.sentinels[0].host, "a");
	ck_assert_int_eq(cfg.sentinels[0].port, 1);
	ck_assert_str_eq(cfg.sentinels[1].host, "::1");
	ck_assert_int_eq(cfg.sentinels[1].port, 2);
	ck_assert_str_eq(cfg.redis_sentinel_master, "mymaster");
	ck_assert_str_eq(cfg.redis_sentinel_user, "su");
	ck_assert_str_eq(cfg.redis_sentinel_password, PW);
	/* The data connection's own settings stay its own. */
	ck_assert_int_eq(cfg.redis_db, 2);
	ck_assert_str_eq(cfg.redis_password, "data-pw");
	config_free(&cfg);
	credentials_rm(dir, "redis_sentinel_password");

	setup();
	env_required();
	env_set("REDIS_SENTINELS", "127.0.0.1:26379");
	env_set("REDIS_SENTINEL_MASTER", "m");
	env_set("REDIS_SENTINEL_PASSWORD", PW);
	expect_ok(empty);
	ck_assert_uint_eq(cfg.nsentinels, 1);
	ck_assert_str_eq(cfg.redis_sentinel_password, PW);
	config_free(&cfg);
	ntmp = 2;
}
END_TEST

START_TEST(test_sentinels_invalid)
{
	const char *path = conf("");
	const char *file = conf("\nredis_sentinels = \"h:0\";\n");

	env_required();
	env_set("REDIS_SENTINEL_MASTER", "m");
	env_set("REDIS_SENTINELS", "h:1,::1:2");
	expect_err(path, "REDIS_SENTINELS: 'h:1,::1:2' has an IPv6 address "
	    "without brackets (write [addr]:port)");
	setup();
	env_required();
	expect_err(file, "%s:2: redis_sentinels: 'h:0' has a port that is "
	    "not a number from 1 to 65535", file);
	ntmp = 2;
}
END_TEST

START_TEST(test_sentinels_conflicts)
{
	static const struct {
		const char *name, *value, *want;
	} envs[] = {
		{ "REDIS_HOST", "other", "REDIS_SENTINELS and REDIS_HOST both "
		  "set; use one" },
		{ "REDIS_PORT", "6379", "REDIS_SENTINELS and REDIS_PORT both "
		  "set; use one" },
		{ "REDIS_URL", "redis://u:" PW "@h/1", "REDIS_SENTINELS and "
		  "REDIS_URL both set; use one" },
	};
	const char *path = conf(""),
	    *both = conf("redis_sentinels = \"a:1\";\n"
	    "redis_sentinel_master = \"m\";\nredis_host = \"h\";\n"),
	    *fromfile = conf("redis_port = 6380;\n");
	size_t i;

	for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		setup();
		env_required();
		env_set("REDIS_SENTINELS", "a:1,b:2");
		env_set("REDIS_SENTINEL_MASTER", "m");
		env_set(envs[i].name, envs[i].value);
		expect_err(path, "%s", envs[i].want);
		ck_assert_ptr_null(strstr(err, PW));
	}
	setup();
	env_required();
	expect_err(both, "%s: redis_sentinels and redis_host both set; use "
	    "one", both);
	/* A file's fixed address beside the environment's sentinels. */
	setup();
	env_required();
	env_set("REDIS_SENTINELS", "a:1");
	env_set("REDIS_SENTINEL_MASTER", "m");
	expect_err(fromfile, "REDIS_SENTINELS and redis_port (%s) both set; "
	    "use one", fromfile);
	/* An empty variable is unset: no conflict. */
	setup();
	env_required();
	env_set("REDIS_SENTINELS", "a:1");
	env_set("REDIS_SENTINEL_MASTER", "m");
	env_set("REDIS_HOST", "");
	expect_ok(path);
	config_free(&cfg);
	ntmp = 3;
}
END_TEST

START_TEST(test_sentinels_go_together)
{
	const char *path = conf("");

	env_required();
	env_set("REDIS_SENTINELS", "a:1");
	expect_err(path, "redis_sentinel_master: required with "
	    "REDIS_SENTINELS (set redis_sentinel_master in the file or "
	    "REDIS_SENTINEL_MASTER)");
	setup();
	env_required();
	env_set("REDIS_SENTINEL_MASTER", "m");
	expect_err(path, "REDIS_SENTINEL_MASTER: needs redis_sentinels "
	    "(REDIS_SENTINELS)");
	setup();
	env_required();
	env_set("REDIS_SENTINEL_PASSWORD", PW);
	expect_err(path, "REDIS_SENTINEL_PASSWORD: needs redis_sentinels "
	    "(REDIS_SENTINELS)");
	ck_assert_ptr_null(strstr(err, PW));
	ntmp = 1;
}
END_TEST

START_TEST(test_redis_url_conflicts_file)
{
	const char *both = conf("redis_url = \"redis://h/1\";\n"
	    "redis_port = 6380;\n"),
	    *url = conf("redis_url = \"redis://u:" PW "@h/1\";\n");

	env_required();
	expect_err(both, "%s: redis_url and redis_port both set; use one",
	    both);
	/* A stronger source than the URL's, for one part: a conflict too. */
	env_set("REDIS_PASSWORD", PW);
	expect_err(url, "redis_url (%s) and REDIS_PASSWORD both set; use one",
	    url);
	ck_assert_ptr_null(strstr(err, PW));
}
END_TEST

/* A stronger source's URL replaces the weaker one's discrete settings. */
START_TEST(test_redis_url_layering)
{
	const char *path = conf("redis_host = \"filehost\";\n"
	    "redis_port = 7000;\nredis_db = 5;\nredis_user = \"fileuser\";\n"
	    "redis_password = \"filepw\";\n"),
	    *url = conf("redis_url = \"redis://fromfile/2\";\n");

	env_required();
	env_set("REDIS_URL", "redis://envhost");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_host, "envhost");
	ck_assert_int_eq(cfg.redis_port, 6379);
	ck_assert_int_eq(cfg.redis_db, 0);
	ck_assert_ptr_null(cfg.redis_user);
	ck_assert_ptr_null(cfg.redis_password);
	config_free(&cfg);
	/* And an environment URL overrides a file's URL. */
	expect_ok(url);
	ck_assert_str_eq(cfg.redis_host, "envhost");
	ck_assert_int_eq(cfg.redis_db, 0);
	config_free(&cfg);
	/* Without one, the file's URL stands. */
	setup();
	ntmp = 2;
	env_required();
	expect_ok(url);
	ck_assert_str_eq(cfg.redis_host, "fromfile");
	ck_assert_int_eq(cfg.redis_db, 2);
}
END_TEST

START_TEST(test_redis_url_credential)
{
	const char *path = conf("");
	char *dir = credentials("redis_url", "redis://c:" PW "@credhost/4\n",
	    strlen("redis://c:" PW "@credhost/4\n"));

	/* It overrides an environment URL and replaces REDIS_HOST. */
	env_required();
	env_set("REDIS_URL", "redis://envhost");
	env_set("REDIS_HOST", "envhost");
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_host, "credhost");
	ck_assert_int_eq(cfg.redis_db, 4);
	ck_assert_str_eq(cfg.redis_user, "c");
	ck_assert_str_eq(cfg.redis_password, PW);
	credentials_rm(dir, "redis_url");
	config_free(&cfg);

	/* A bad one is named by its name, masked. */
	dir = credentials("redis_url", "redis://c:" PW "@h:0", strlen(
	    "redis://c:" PW "@h:0"));
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_err(path, "redis_url: 'redis://c:***@h:0' has a port that is "
	    "not a number from 1 to 65535");
	ck_assert_ptr_null(strstr(err, PW));
	credentials_rm(dir, "redis_url");

	/* An environment URL and a password credential: a conflict. */
	setup();
	ntmp = 1;
	dir = credentials("redis_password", PW, strlen(PW));
	env_required();
	env_set("REDIS_URL", "redis://h");
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_err(path, "REDIS_URL and credential redis_password both set; "
	    "use one");
	credentials_rm(dir, "redis_password");
}
END_TEST

/*
 * TLS.  The key's passphrase is PP: no error may hold it.  Every
 * redis_tls_* setting needs redis_tls (or a rediss:// URL); cert and
 * key go together; the passphrase needs the key.
 */
#define PP	"s3cr3t-key-passphrase"
#define WHY_SERVER_NAME	"is invalid: must be a host name or an IP address, " \
	"at most 253 characters, without blanks, control characters, '/', " \
	"'@', brackets or a port"

/* A fresh load: the required settings and REDIS_TLS=true. */
static void
env_tls_on(void)
{
	setup();
	env_required();
	env_set("REDIS_TLS", "true");
}

/* The same, and name=value. */
static void
env_tls(const char *name, const char *value)
{
	env_tls_on();
	env_set(name, value);
}

START_TEST(test_tls_defaults)
{
	const char *path = conf("redis_tls = false;\n");

	env_required();
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 0);
	ck_assert_int_eq(cfg.redis_tls_verify, 1);
	ck_assert_ptr_null(cfg.redis_tls_ca_file);
	ck_assert_ptr_null(cfg.redis_tls_ca_dir);
	ck_assert_ptr_null(cfg.redis_tls_cert_file);
	ck_assert_ptr_null(cfg.redis_tls_key_file);
	ck_assert_ptr_null(cfg.redis_tls_key_passphrase);
	ck_assert_ptr_null(cfg.redis_tls_server_name);
}
END_TEST

START_TEST(test_tls_file_values)
{
	const char *path = conf("redis_tls = true;\n"
	    "redis_tls_verify = false;\n"
	    "redis_tls_ca_file = \"/etc/pcs/ca.pem\";\n"
	    "redis_tls_ca_dir = \"/etc/ssl/certs\";\n"
	    "redis_tls_cert_file = \"/etc/pcs/client.pem\";\n"
	    "redis_tls_key_file = \"/etc/pcs/client.key\";\n"
	    "redis_tls_key_passphrase = \"" PP "\";\n"
	    "redis_tls_server_name = \"redis.internal\";\n");

	env_required();
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_int_eq(cfg.redis_tls_verify, 0);
	ck_assert_str_eq(cfg.redis_tls_ca_file, "/etc/pcs/ca.pem");
	ck_assert_str_eq(cfg.redis_tls_ca_dir, "/etc/ssl/certs");
	ck_assert_str_eq(cfg.redis_tls_cert_file, "/etc/pcs/client.pem");
	ck_assert_str_eq(cfg.redis_tls_key_file, "/etc/pcs/client.key");
	ck_assert_str_eq(cfg.redis_tls_key_passphrase, PP);
	ck_assert_str_eq(cfg.redis_tls_server_name, "redis.internal");
}
END_TEST

/* The environment over the file, the booleans spelled as DISABLE_SENTRY's. */
START_TEST(test_tls_env_values)
{
	const char *path = conf("redis_tls = false;\n"
	    "redis_tls_ca_file = \"/file/ca.pem\";\n");

	env_required();
	env_set("REDIS_TLS", "Yes");
	env_set("REDIS_TLS_VERIFY", "0");
	env_set("REDIS_TLS_CA_FILE", "/env/ca.pem");
	env_set("REDIS_TLS_CA_DIR", "/env/certs");
	env_set("REDIS_TLS_CERT_FILE", "/env/c.pem");
	env_set("REDIS_TLS_KEY_FILE", "/env/c.key");
	env_set("REDIS_TLS_KEY_PASSPHRASE", PP);
	env_set("REDIS_TLS_SERVER_NAME", "10.0.0.5");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_int_eq(cfg.redis_tls_verify, 0);
	ck_assert_str_eq(cfg.redis_tls_ca_file, "/env/ca.pem");
	ck_assert_str_eq(cfg.redis_tls_ca_dir, "/env/certs");
	ck_assert_str_eq(cfg.redis_tls_cert_file, "/env/c.pem");
	ck_assert_str_eq(cfg.redis_tls_key_file, "/env/c.key");
	ck_assert_str_eq(cfg.redis_tls_key_passphrase, PP);
	ck_assert_str_eq(cfg.redis_tls_server_name, "10.0.0.5");
	config_free(&cfg);
	/* "1", "true", "no", and an empty string is unset. */
	setup();
	env_required();
	env_set("REDIS_TLS", "1");
	env_set("REDIS_TLS_VERIFY", "TRUE");
	env_set("REDIS_TLS_CA_FILE", "");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_int_eq(cfg.redis_tls_verify, 1);
	ck_assert_str_eq(cfg.redis_tls_ca_file, "/file/ca.pem");
	config_free(&cfg);
	setup();
	env_required();
	env_set("REDIS_TLS", "true");
	env_set("REDIS_TLS_VERIFY", "no");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls_verify, 0);
	ntmp = 1;
}
END_TEST

START_TEST(test_tls_bool_invalid)
{
	const char *path = conf(""), *file = conf("redis_tls = 1;\n"),
	    *verify = conf("redis_tls = true;\nredis_tls_verify = \"no\";\n");

	env_required();
	env_set("REDIS_TLS", "on");
	expect_err(path, "REDIS_TLS: 'on' is not a boolean (true/false, 1/0, "
	    "yes/no)");
	env_tls("REDIS_TLS_VERIFY", "");
	expect_err(path, "REDIS_TLS_VERIFY: '' is not a boolean (true/false, "
	    "1/0, yes/no)");
	setup();
	env_required();
	expect_err(file, "%s:1: redis_tls: wrong type: expected a boolean "
	    "(true or false)", file);
	expect_err(verify, "%s:2: redis_tls_verify: wrong type: expected a "
	    "boolean (true or false)", verify);
	ntmp = 3;
}
END_TEST

/* The four files are absolute paths, as log_file. */
START_TEST(test_tls_paths_relative)
{
	static const char *const envs[] = {
		"REDIS_TLS_CA_FILE", "REDIS_TLS_CA_DIR", "REDIS_TLS_CERT_FILE",
		"REDIS_TLS_KEY_FILE"
	};
	const char *path = conf(""),
	    *file = conf("redis_tls = true;\n"
	    "redis_tls_key_file = \"tls/client.key\";\n");
	size_t i;

	for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		env_tls(envs[i], "certs/x.pem");
		expect_err(path, "%s: 'certs/x.pem' is invalid: must be an "
		    "absolute path", envs[i]);
		env_tls(envs[i], "~/x.pem");
		expect_err(path, "%s: '~/x.pem' is invalid: must be an "
		    "absolute path", envs[i]);
	}
	setup();
	env_required();
	expect_err(file, "%s:2: redis_tls_key_file: 'tls/client.key' is "
	    "invalid: must be an absolute path", file);
	ntmp = 2;
}
END_TEST

START_TEST(test_tls_server_name)
{
	static const char *const good[] = {
		"redis.internal", "10.0.0.5", "::1", "2001:db8::7",
		"master.redis_1.svc.cluster.local", "localhost",
		"redis.example.com.",
	};
	static const struct {
		const char *v, *shown;
	} badnames[] = {
		{ "redis internal", "redis internal" }, { "a\tb", "a?b" },
		{ "redis.internal/x", "redis.internal/x" },
		{ "redis:6380", "redis:6380" }, { "[::1]", "[::1]" },
		{ "u@redis", "u@redis" }, { "fe80::1%eth0", "fe80::1%eth0" },
		{ "::g", "::g" }, { "\x01x", "?x" },
	};
	char longest[254], too_long[255];
	const char *path = conf("");
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		env_tls("REDIS_TLS_SERVER_NAME", good[i]);
		expect_ok(path);
		ck_assert_str_eq(cfg.redis_tls_server_name, good[i]);
		config_free(&cfg);
	}
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	env_tls("REDIS_TLS_SERVER_NAME", longest);
	expect_ok(path);
	config_free(&cfg);
	for (i = 0; i < sizeof(badnames) / sizeof(badnames[0]); i++) {
		env_tls("REDIS_TLS_SERVER_NAME", badnames[i].v);
		expect_err(path, "REDIS_TLS_SERVER_NAME: '%s' " WHY_SERVER_NAME,
		    badnames[i].shown);
	}
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	env_tls("REDIS_TLS_SERVER_NAME", too_long);
	expect_err(path, "REDIS_TLS_SERVER_NAME: '%.64s...' " WHY_SERVER_NAME,
	    too_long);
	ntmp = 1;
}
END_TEST

/*
 * Given with TLS off, even at its default or with REDIS_TLS=false said
 * outright, each redis_tls_* setting is an error naming redis_tls.
 */
START_TEST(test_tls_settings_need_tls)
{
	static const struct {
		const char *name, *value;
	} envs[] = {
		{ "REDIS_TLS_VERIFY", "false" },
		{ "REDIS_TLS_VERIFY", "true" },
		{ "REDIS_TLS_CA_FILE", "/etc/pcs/ca.pem" },
		{ "REDIS_TLS_CA_DIR", "/etc/ssl/certs" },
		{ "REDIS_TLS_CERT_FILE", "/etc/pcs/c.pem" },
		{ "REDIS_TLS_KEY_FILE", "/etc/pcs/c.key" },
		{ "REDIS_TLS_KEY_PASSPHRASE", PP },
		{ "REDIS_TLS_SERVER_NAME", "redis.internal" },
	};
	const char *path = conf(""),
	    *file = conf("redis_tls_server_name = \"redis.internal\";\n"),
	    *off = conf("redis_tls = false;\nredis_tls_verify = true;\n");
	char *dir;
	size_t i, j;

	for (j = 0; j < 2; j++) {
		for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
			setup();
			env_required();
			if (j == 1)
				env_set("REDIS_TLS", "false");
			env_set(envs[i].name, envs[i].value);
			expect_err(path, "%s: needs redis_tls (REDIS_TLS)",
			    envs[i].name);
			ck_assert_ptr_null(strstr(err, PP));
		}
	}
	setup();
	env_required();
	expect_err(file, "redis_tls_server_name (%s): needs redis_tls "
	    "(REDIS_TLS)", file);
	expect_err(off, "redis_tls_verify (%s): needs redis_tls (REDIS_TLS)",
	    off);
	/* An empty one is unset, as everywhere. */
	env_set("REDIS_TLS_CA_FILE", "");
	env_set("REDIS_TLS_KEY_PASSPHRASE", "");
	expect_ok(path);
	config_free(&cfg);
	/* A credential, named as one. */
	setup();
	dir = credentials("redis_tls_key_passphrase", PP "\n",
	    strlen(PP) + 1);
	env_required();
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_err(path, "credential redis_tls_key_passphrase: needs "
	    "redis_tls (REDIS_TLS)");
	ck_assert_ptr_null(strstr(err, PP));
	credentials_rm(dir, "redis_tls_key_passphrase");
	ntmp = 3;
}
END_TEST

START_TEST(test_tls_cert_key_together)
{
	const char *path = conf(""),
	    *cert = conf("redis_tls = true;\n"
	    "redis_tls_cert_file = \"/etc/pcs/c.pem\";\n"),
	    *key = conf("redis_tls = true;\n"
	    "redis_tls_key_file = \"/etc/pcs/c.key\";\n");

	env_tls("REDIS_TLS_CERT_FILE", "/etc/pcs/c.pem");
	expect_err(path, "redis_tls_key_file: required with "
	    "REDIS_TLS_CERT_FILE (set redis_tls_key_file in the file or "
	    "REDIS_TLS_KEY_FILE)");
	env_tls("REDIS_TLS_KEY_FILE", "/etc/pcs/c.key");
	env_set("REDIS_TLS_KEY_PASSPHRASE", PP);
	expect_err(path, "redis_tls_cert_file: required with "
	    "REDIS_TLS_KEY_FILE (set redis_tls_cert_file in the file or "
	    "REDIS_TLS_CERT_FILE)");
	ck_assert_ptr_null(strstr(err, PP));
	setup();
	env_required();
	expect_err(cert, "redis_tls_key_file: required with "
	    "redis_tls_cert_file (%s) (set redis_tls_key_file in the file or "
	    "REDIS_TLS_KEY_FILE)", cert);
	expect_err(key, "redis_tls_cert_file: required with "
	    "redis_tls_key_file (%s) (set redis_tls_cert_file in the file or "
	    "REDIS_TLS_CERT_FILE)", key);
	/* The file's one and the environment's other: together. */
	env_set("REDIS_TLS_CERT_FILE", "/env/c.pem");
	expect_ok(key);
	ck_assert_str_eq(cfg.redis_tls_cert_file, "/env/c.pem");
	ck_assert_str_eq(cfg.redis_tls_key_file, "/etc/pcs/c.key");
	ck_assert_ptr_null(cfg.redis_tls_key_passphrase);
	ntmp = 3;
}
END_TEST

START_TEST(test_tls_passphrase_needs_key)
{
	const char *path = conf(""),
	    *file = conf("redis_tls = true;\n"
	    "redis_tls_key_passphrase = \"" PP "\";\n");
	char *dir;

	env_tls("REDIS_TLS_KEY_PASSPHRASE", PP);
	expect_err(path, "REDIS_TLS_KEY_PASSPHRASE: needs redis_tls_key_file "
	    "(REDIS_TLS_KEY_FILE)");
	ck_assert_ptr_null(strstr(err, PP));
	setup();
	env_required();
	expect_err(file, "redis_tls_key_passphrase (%s): needs "
	    "redis_tls_key_file (REDIS_TLS_KEY_FILE)", file);
	ck_assert_ptr_null(strstr(err, PP));
	dir = credentials("redis_tls_key_passphrase", PP, strlen(PP));
	env_tls("CREDENTIALS_DIRECTORY", dir);
	expect_err(path, "credential redis_tls_key_passphrase: needs "
	    "redis_tls_key_file (REDIS_TLS_KEY_FILE)");
	ck_assert_ptr_null(strstr(err, PP));
	/* With the key (and its certificate), the credential wins. */
	env_set("REDIS_TLS_KEY_PASSPHRASE", "from-env");
	env_set("REDIS_TLS_CERT_FILE", "/etc/pcs/c.pem");
	env_set("REDIS_TLS_KEY_FILE", "/etc/pcs/c.key");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_tls_key_passphrase, PP);
	credentials_rm(dir, "redis_tls_key_passphrase");
	ntmp = 2;
}
END_TEST

/* The passphrase is a secret like the others: in no error, whatever fails. */
START_TEST(test_tls_passphrase_never_in_errors)
{
	const char *path = conf("redis_tls = true;\n"
	    "redis_tls_cert_file = \"/c.pem\";\n"
	    "redis_tls_key_file = \"/c.key\";\n"
	    "redis_tls_key_passphrase = \"" PP "\";\n"),
	    *wrong = conf("redis_tls_key_passphrase = 12345;\n");
	char *dir;

	env_required();
	env_set("PORT", "0");
	expect_err(path, "PORT: '0' is out of range (1..65535)");
	setup();
	env_required();
	env_set("REDIS_TLS_KEY_PASSPHRASE", PP);
	env_set("REDIS_TLS_CA_FILE", "ca.pem");
	ck_assert_int_eq(load(path), -1);
	ck_assert_str_eq(err, "REDIS_TLS_CA_FILE: 'ca.pem' is invalid: must "
	    "be an absolute path");
	setup();
	env_required();
	expect_err(wrong, "%s:1: redis_tls_key_passphrase: wrong type: "
	    "expected a string", wrong);
	ck_assert_ptr_null(strstr(err, "12345"));
	/* A credential, then a conflict after it. */
	setup();
	dir = credentials("redis_tls_key_passphrase", PP "\r\n",
	    strlen(PP) + 2);
	env_required();
	env_set("CREDENTIALS_DIRECTORY", dir);
	env_set("REDIS_URL", "rediss://h");
	env_set("REDIS_TLS", "false");
	expect_err(path, "REDIS_URL is rediss:// but REDIS_TLS is false; use "
	    "one");
	ck_assert_ptr_null(strstr(err, PP));
	env_set("REDIS_TLS", "true");
	expect_ok(path);
	ck_assert_str_eq(cfg.redis_tls_key_passphrase, PP);
	credentials_rm(dir, "redis_tls_key_passphrase");
	ntmp = 2;
}
END_TEST

/* rediss:// turns redis_tls on; redis:// leaves it as it is. */
START_TEST(test_rediss_sets_tls)
{
	const char *path = conf(""),
	    *file = conf("redis_url = \"rediss://u:" PW "@h:6380/1\";\n"
	    "redis_tls_ca_file = \"/etc/pcs/ca.pem\";\n"),
	    *weaker = conf("redis_tls = false;\n");

	env_required();
	env_set("REDIS_URL", "rediss://u:" PW "@redis.internal:6380/1");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_int_eq(cfg.redis_tls_verify, 1);
	ck_assert_str_eq(cfg.redis_host, "redis.internal");
	ck_assert_int_eq(cfg.redis_port, 6380);
	ck_assert_int_eq(cfg.redis_db, 1);
	ck_assert_str_eq(cfg.redis_user, "u");
	ck_assert_str_eq(cfg.redis_password, PW);
	config_free(&cfg);
	/* Any case; REDIS_TLS=true agrees. */
	env_set("REDIS_URL", "REDISS://h");
	env_set("REDIS_TLS", "true");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_int_eq(cfg.redis_port, 6379);
	config_free(&cfg);
	/* redis:// with REDIS_TLS=true: TLS. */
	env_set("REDIS_URL", "redis://h");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	config_free(&cfg);
	/* redis:// alone: none. */
	setup();
	env_required();
	env_set("REDIS_URL", "redis://h");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 0);
	config_free(&cfg);
	/*
	 * The environment's redis:// replaces the file's rediss:// and so
	 * leaves the file's CA without TLS; alone, the file's enables it.
	 */
	expect_err(file, "redis_tls_ca_file (%s): needs redis_tls "
	    "(REDIS_TLS)", file);
	setup();
	env_required();
	expect_ok(file);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_str_eq(cfg.redis_tls_ca_file, "/etc/pcs/ca.pem");
	config_free(&cfg);
	/* A weaker source's redis_tls = false gives way, as the five do. */
	env_set("REDIS_URL", "rediss://h");
	expect_ok(weaker);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ntmp = 3;
}
END_TEST

/* rediss:// and redis_tls off, from the same or a stronger source. */
START_TEST(test_rediss_tls_false_conflict)
{
	const char *path = conf(""),
	    *both = conf("redis_url = \"rediss://u:" PW "@h\";\n"
	    "redis_tls = false;\n"),
	    *url = conf("redis_url = \"rediss://u:" PW "@h\";\n");
	const char *const url_cred = "rediss://c:" PW "@credhost";
	char *dir;

	env_required();
	env_set("REDIS_URL", "rediss://u:" PW "@h");
	env_set("REDIS_TLS", "false");
	expect_err(path, "REDIS_URL is rediss:// but REDIS_TLS is false; use "
	    "one");
	ck_assert_ptr_null(strstr(err, PW));
	env_set("REDIS_TLS", "0");
	expect_err(path, "REDIS_URL is rediss:// but REDIS_TLS is false; use "
	    "one");
	setup();
	env_required();
	expect_err(both, "%s: redis_url is rediss:// but redis_tls is false; "
	    "use one", both);
	ck_assert_ptr_null(strstr(err, PW));
	env_set("REDIS_TLS", "no");
	expect_err(url, "redis_url (%s) is rediss:// but REDIS_TLS is false; "
	    "use one", url);
	ck_assert_ptr_null(strstr(err, PW));
	/* A redis_url credential is stronger than the environment. */
	setup();
	dir = credentials("redis_url", url_cred, strlen(url_cred));
	env_required();
	env_set("REDIS_TLS", "false");
	env_set("CREDENTIALS_DIRECTORY", dir);
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_str_eq(cfg.redis_host, "credhost");
	credentials_rm(dir, "redis_url");
	ntmp = 3;
}
END_TEST

/* The sentinels' connections are TLS too: the settings apply as they are. */
START_TEST(test_tls_with_sentinels)
{
	const char *path = conf("");

	env_tls("REDIS_SENTINELS", "s1:26379,s2:26379");
	env_set("REDIS_SENTINEL_MASTER", "mymaster");
	env_set("REDIS_TLS_CA_FILE", "/etc/pcs/ca.pem");
	env_set("REDIS_TLS_SERVER_NAME", "redis.internal");
	expect_ok(path);
	ck_assert_int_eq(cfg.redis_tls, 1);
	ck_assert_uint_eq(cfg.nsentinels, 2);
	ck_assert_str_eq(cfg.redis_tls_server_name, "redis.internal");
	ntmp = 1;
}
END_TEST

START_TEST(test_log_level_invalid)
{
	const char *path = conf("");

	env_required();
	env_set("LOG_LEVEL", "verbose");
	expect_err(path, "LOG_LEVEL: 'verbose' is not one of error, warn, "
	    "info, debug");
}
END_TEST

START_TEST(test_consumers_auto)
{
	const char *path = conf("consumers = 4;\n");

	env_required();
	env_set("CONSUMERS", "AUTO");
	expect_ok(path);
	ck_assert_int_eq(cfg.consumers_auto, 1);
	ck_assert_int_eq(cfg.consumers, auto_consumers());
}
END_TEST

START_TEST(test_consumers_auto_in_file)
{
	const char *path = conf("consumers = \"auto\";\n");

	env_required();
	expect_ok(path);
	ck_assert_int_eq(cfg.consumers_auto, 1);
}
END_TEST

START_TEST(test_consumers_invalid_string)
{
	const char *path = conf("consumers = \"many\";\n");

	env_required();
	expect_err(path, "%s:1: consumers: 'many' is neither an integer nor "
	    "'auto'", path);
}
END_TEST

START_TEST(test_consumers_invalid_env)
{
	const char *path = conf("");

	env_required();
	env_set("CONSUMERS", "4x");
	expect_err(path, "CONSUMERS: '4x' is neither an integer nor 'auto'");
}
END_TEST

START_TEST(test_consumers_wrong_type)
{
	const char *path = conf("consumers = true;\n");

	env_required();
	expect_err(path, "%s:1: consumers: wrong type: expected an integer "
	    "or \"auto\"", path);
}
END_TEST

/* Secrets. */

START_TEST(test_secret_wrong_type_hides_value)
{
	const char *path = conf("aws_secret_access_key = 123456789;\n");

	env_required();
	expect_err(path, "%s:1: aws_secret_access_key: wrong type: expected "
	    "a string", path);
}
END_TEST

START_TEST(test_secrets_never_in_errors)
{
	const char *path = conf("redis_password = \"filepw\";\n");

	env_required();
	env_set("AWS_ACCESS_KEY_ID", "AKIDSECRET");
	env_set("AWS_SECRET_ACCESS_KEY", "topsecret");
	env_set("AWS_SESSION_TOKEN", "sessionsecret");
	env_set("SERVER_API_KEY", "apisecret");
	env_set("SENTRY_DSN", "https://dsnsecret@sentry.example/1");
	env_set("PORT", "0");
	ck_assert_int_eq(load(path), -1);
	ck_assert_ptr_null(strstr(err, "secret"));
	ck_assert_ptr_null(strstr(err, "filepw"));
	ck_assert_str_eq(err, "PORT: '0' is out of range (1..65535)");
}
END_TEST

/* The API around config_load. */

START_TEST(test_free_is_safe)
{
	const char *path = conf("redis_port = 0;\n");

	config_free(&cfg);		/* zeroed */
	env_required();
	ck_assert_int_eq(load(path), -1);
	config_free(&cfg);		/* after a failed load */
	ck_assert_int_eq(load(conf("")), 0);
	config_free(&cfg);
	ck_assert_ptr_null(cfg.queue_url);
	ck_assert_ptr_null(cfg.path);
	config_free(&cfg);		/* twice */
}
END_TEST

START_TEST(test_small_error_buffer)
{
	const char *path = conf("redis_prot = 1;\n");
	char small[8];

	env_required();
	ck_assert_int_eq(config_load(&cfg, path, fake_getenv, small,
	    sizeof(small)), -1);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(config_load(&cfg, path, fake_getenv, NULL, 0), -1);
}
END_TEST

START_TEST(test_real_getenv_when_null)
{
	const char *path = conf("");

	ck_assert_int_eq(clearenv(), 0);
	ck_assert_int_eq(setenv("QUEUE_URL", "https://sqs.example/1/q", 1), 0);
	ck_assert_int_eq(setenv("AWS_REGION", "ap-south-1", 1), 0);
	ck_assert_int_eq(config_load(&cfg, path, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.aws_region, "ap-south-1");
	unsetenv("QUEUE_URL");
	unsetenv("AWS_REGION");
}
END_TEST

/*
 * The shipped example must load as it is (everything commented out, the
 * two required settings from the environment), and with every setting
 * uncommented, showing the defaults that config_load really has.
 */
START_TEST(test_example_config)
{
	static const char example[] = "etc/persistent-cache-service.conf";
	const char *srcdir = getenv("PCS_SRCDIR");
	char path[1024], *text, *line, *out;
	struct config defaults;
	FILE *fp;
	size_t n;

	/* make check sets PCS_SRCDIR; else find it from this file's path. */
	if (srcdir != NULL)
		snprintf(path, sizeof(path), "%s/%s", srcdir, example);
	else
		snprintf(path, sizeof(path), "%.*s%s", (int)(strlen(__FILE__) -
		    strlen("tests/unit/check_config.c")), __FILE__, example);
	env_required();
	expect_ok(path);
	defaults = cfg;
	memset(&cfg, 0, sizeof(cfg));

	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	ck_assert_ptr_nonnull(text = calloc(1, 65536));
	ck_assert_ptr_nonnull(out = calloc(1, 65536));
	n = fread(text, 1, 65535, fp);
	ck_assert(n > 0 && n < 65535);
	fclose(fp);
	/* "#name = value;" becomes "name = value;". */
	for (line = strtok(text, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
		    strstr(line, " = ") != NULL)
			line++;
		strcat(strcat(out, line), "\n");
	}
	memset(fake_env, 0, sizeof(fake_env));
	expect_ok(conf(out));
	free(text);
	free(out);
	ck_assert_str_eq(cfg.environment_prefix, defaults.environment_prefix);
	ck_assert_str_eq(cfg.redis_host, defaults.redis_host);
	ck_assert_str_eq(cfg.edge_api_url, defaults.edge_api_url);
	ck_assert_str_eq(cfg.listen_address, defaults.listen_address);
	ck_assert_ptr_null(cfg.redis_user);
	ck_assert_ptr_null(cfg.redis_password);
	ck_assert_ptr_null(cfg.sentry_dsn);
	ck_assert_ptr_nonnull(cfg.log_file);
	ck_assert_int_eq(cfg.redis_port, defaults.redis_port);
	ck_assert_int_eq(cfg.redis_db, defaults.redis_db);
	ck_assert_int_eq(cfg.batch_size, defaults.batch_size);
	ck_assert(cfg.keys_ttl == defaults.keys_ttl);
	ck_assert_int_eq(cfg.disable_sentry, defaults.disable_sentry);
	ck_assert_int_eq(cfg.port, defaults.port);
	ck_assert_int_eq(cfg.cache_update_policy, defaults.cache_update_policy);
	ck_assert_int_eq(cfg.consumers_auto, defaults.consumers_auto);
	ck_assert_int_eq(cfg.log_level, defaults.log_level);
	ck_assert_int_eq(cfg.drain_timeout, defaults.drain_timeout);
	ck_assert_int_eq(cfg.restart_backoff_min_ms,
	    defaults.restart_backoff_min_ms);
	ck_assert_int_eq(cfg.restart_backoff_max_ms,
	    defaults.restart_backoff_max_ms);
	ck_assert_int_eq(cfg.hang_timeout, defaults.hang_timeout);
	ck_assert_int_eq(cfg.wait_time, defaults.wait_time);
	ck_assert_int_eq(cfg.visibility_timeout, defaults.visibility_timeout);
	ck_assert_int_eq(cfg.receives_in_flight, defaults.receives_in_flight);
	ck_assert_int_eq(cfg.poison_policy, defaults.poison_policy);
	ck_assert_int_eq(cfg.poison_visibility_timeout,
	    defaults.poison_visibility_timeout);
	ck_assert_int_eq(cfg.on_package_published,
	    defaults.on_package_published);
	ck_assert_int_eq(cfg.held_messages_max, defaults.held_messages_max);
	ck_assert_int_eq(cfg.redis_tls, defaults.redis_tls);
	ck_assert_int_eq(cfg.redis_tls_verify, defaults.redis_tls_verify);
	config_free(&defaults);
}
END_TEST

/* The region an SQS endpoint's host names, and hosts that name none. */
START_TEST(test_region_from_host)
{
	static const struct {
		const char *host, *region;
	} cases[] = {
		{ "sqs.us-east-1.amazonaws.com", "us-east-1" },
		{ "SQS.EU-WEST-1.AMAZONAWS.COM.", "eu-west-1" },
		{ "sqs-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1" },
		{ "vpce-0a1b2c3d-4e5f.sqs.eu-central-1.vpce.amazonaws.com",
		    "eu-central-1" },
		{ "ap-south-1.queue.amazonaws.com", "ap-south-1" },
		{ "queue.amazonaws.com", "us-east-1" },
		{ "sqs.amazonaws.com", "us-east-1" },
		{ "sqs.cn-north-1.amazonaws.com.cn", "cn-north-1" },
		{ "sqs.us-west-2.api.aws", "us-west-2" },
		{ "127.0.0.1", NULL },
		{ "localhost", NULL },
		{ "sqs.example.com", NULL },
		{ "sqs.us-east-1.amazonaws.com.example.com", NULL },
		{ "s3.us-east-1.amazonaws.com", NULL },
		{ "sqs.notaregion.amazonaws.com", NULL },
		{ "amazonaws.com", NULL },
		{ "a.b.c.d.e.f.g.h.i.sqs.us-east-1.amazonaws.com", NULL },
	};
	char out[40];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = config_region_from_host(cases[i].host, out,
		    sizeof(out));

		if (cases[i].region == NULL) {
			ck_assert_msg(rc == -1, "%s: %s", cases[i].host, out);
			continue;
		}
		ck_assert_msg(rc == 0, "%s: no region", cases[i].host);
		ck_assert_str_eq(out, cases[i].region);
	}
	ck_assert_int_eq(config_region_from_host("sqs.us-east-1.amazonaws.com",
	    out, 9), -1);	/* no room */
}
END_TEST

/* AWS_REGION may be left out when the queue URL names it. */
START_TEST(test_region_from_queue_url)
{
	const char *path = conf("");

	env_set("QUEUE_URL",
	    "https://sqs.eu-west-3.amazonaws.com/123456789012/events");
	expect_ok(path);
	ck_assert_str_eq(cfg.aws_region, "eu-west-3");
	ck_assert_int_eq(cfg.aws_region_from_url, 1);
	config_free(&cfg);
	env_set("AWS_REGION", "eu-west-3");
	expect_ok(path);
	ck_assert_int_eq(cfg.aws_region_from_url, 0);
	config_free(&cfg);
	/* An emulator's URL names none: the region is required. */
	setup();
	env_set("QUEUE_URL", "http://127.0.0.1:4566/000000000000/events");
	expect_err(path, "aws_region: required setting is missing, and the "
	    "queue URL's host names no region (set aws_region in the file or "
	    "AWS_REGION)");
	ntmp = 1;
}
END_TEST

/* Both given and disagreeing: one line naming both. */
START_TEST(test_region_mismatch)
{
	const char *path = conf(""), *file = conf("aws_region = \"us-west-2\";\n"
	    "queue_url = \"https://sqs.us-east-1.amazonaws.com/1/q\";\n");

	env_set("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q");
	env_set("AWS_REGION", "eu-west-1");
	expect_err(path, "AWS_REGION eu-west-1 does not match the queue URL's "
	    "region us-east-1 (QUEUE_URL); SQS would refuse the signature");
	setup();
	expect_err(file, "aws_region us-west-2 does not match the queue URL's "
	    "region us-east-1 (queue_url); SQS would refuse the signature");
	ntmp = 2;
}
END_TEST

/* A secret with a control character is refused, never shown. */
START_TEST(test_secret_control_characters)
{
	static const char *const names[] = {
		"AWS_SECRET_ACCESS_KEY", "SERVER_API_KEY", "REDIS_PASSWORD",
		"AWS_SESSION_TOKEN"
	};
	static const char *const values[] = {
		"abc\ndef", "abc\r", "a\tb", "x\x7fy", "\x1b[31m"
	};
	const char *path = conf("");
	size_t i, j;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (j = 0; j < sizeof(values) / sizeof(values[0]); j++) {
			setup();
			env_required();
			env_set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
			env_set("AWS_SECRET_ACCESS_KEY", "s");
			env_set(names[i], values[j]);
			expect_err(path, "%s: value contains a control "
			    "character (a line break?); it is not shown",
			    names[i]);
		}
	ntmp = 1;
}
END_TEST

/* AWS_CA_BUNDLE: an absolute path to a file that can be read. */
START_TEST(test_ca_bundle)
{
	const char *path = conf(""), *bundle = conf("-----BEGIN CERT");

	env_required();
	env_set("AWS_CA_BUNDLE", bundle);
	expect_ok(path);
	ck_assert_str_eq(cfg.aws_ca_bundle, bundle);
	config_free(&cfg);
	env_set("AWS_CA_BUNDLE", "/nonexistent/ca.pem");
	expect_err(path, "AWS_CA_BUNDLE: '/nonexistent/ca.pem' is invalid: "
	    "must be an absolute path to a readable file of PEM certificates");
	env_set("AWS_CA_BUNDLE", "ca.pem");
	expect_err(path, "AWS_CA_BUNDLE: 'ca.pem' is invalid: must be an "
	    "absolute path to a readable file of PEM certificates");
	ntmp = 2;
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(config_policy_name(CONFIG_POLICY_UPSERT), "UPSERT");
	ck_assert_str_eq(config_policy_name(CONFIG_POLICY_UPDATE_IF_EXISTS),
	    "UPDATE_IF_EXISTS");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_ERROR), "error");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_WARN), "warn");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_INFO), "info");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_DEBUG), "debug");
	ck_assert_str_eq(config_poison_name(CONFIG_POISON_KEEP), "keep");
	ck_assert_str_eq(config_poison_name(CONFIG_POISON_DELETE), "delete");
	ck_assert_str_eq(config_package_name(CONFIG_PACKAGE_INVALIDATE),
	    "invalidate");
	ck_assert_str_eq(config_package_name(CONFIG_PACKAGE_IGNORE), "ignore");
	ck_assert_str_eq(config_poison_name(7), "unknown");
}
END_TEST

static Suite *
config_suite(void)
{
	/* Not static: the TTest pointers are variables, not constants. */
	const struct {
		const char		*name;
		const TTest		*test;
	} tests[] = {
#define T(t)	{ #t, t }
		T(test_defaults), T(test_file_values), T(test_precedence),
		T(test_env_only_values), T(test_env_empty_string_is_unset),
		T(test_env_empty_required), T(test_missing_required),
		T(test_env_empty_int), T(test_env_empty_bool),
		T(test_env_empty_enum), T(test_explicit_path_missing),
		T(test_queue_settings), T(test_queue_enums_invalid),
		T(test_aws_keys_go_together), T(test_aws_chain_values),
		T(test_aws_files_from_home), T(test_aws_chain_invalid),
		T(test_aws_chain_together), T(test_aws_identifiers),
		T(test_keys_ttl_too_large),
		T(test_credentials_override_secrets), T(test_credentials_bad),
		T(test_credentials_only_secrets),
		T(test_redis_url_sets_parts), T(test_redis_url_forms),
		T(test_redis_url_invalid), T(test_redis_url_invalid_file),
		T(test_redis_url_conflicts), T(test_redis_url_conflicts_file),
		T(test_sentinels_parse), T(test_sentinels_load),
		T(test_sentinels_invalid), T(test_sentinels_conflicts),
		T(test_sentinels_go_together),
		T(test_redis_url_layering), T(test_redis_url_credential),
		T(test_tls_defaults), T(test_tls_file_values),
		T(test_tls_env_values), T(test_tls_bool_invalid),
		T(test_tls_paths_relative), T(test_tls_server_name),
		T(test_tls_settings_need_tls), T(test_tls_cert_key_together),
		T(test_tls_passphrase_needs_key),
		T(test_tls_passphrase_never_in_errors),
		T(test_rediss_sets_tls), T(test_rediss_tls_false_conflict),
		T(test_tls_with_sentinels),
		T(test_path_is_directory), T(test_default_path_absent),
		T(test_syntax_error), T(test_duplicate_setting),
		T(test_unknown_setting), T(test_unknown_group),
		T(test_include_error_names_included_file),
		T(test_wrong_type_string_for_int),
		T(test_wrong_type_float_for_int),
		T(test_wrong_type_int_for_string),
		T(test_wrong_type_int_for_bool),
		T(test_wrong_type_group_for_known),
		T(test_wrong_type_list_for_enum),
		T(test_int64_and_hex_in_file), T(test_file_int_past_32_bits),
		T(test_file_int_wraps_into_range),
		T(test_file_int_past_64_bits), T(test_range_file),
		T(test_range_env),
		T(test_range_bad_file_value_overridden_by_env),
		T(test_range_each_int), T(test_env_int_trailing_junk),
		T(test_env_int_leading_space), T(test_env_int_overflow),
		T(test_keys_ttl_zero_file), T(test_keys_ttl_zero_env),
		T(test_backoff_max_below_min_file),
		T(test_backoff_max_below_min_env),
		T(test_queue_url_valid_forms), T(test_queue_url_invalid),
		T(test_queue_url_invalid_file), T(test_queue_url_too_long),
		T(test_queue_url_password_file),
		T(test_edge_api_url_invalid),
		T(test_aws_region_invalid),
		T(test_region_from_host), T(test_region_from_queue_url),
		T(test_region_mismatch), T(test_secret_control_characters),
		T(test_ca_bundle),
		T(test_environment_prefix_whitespace),
		T(test_environment_prefix_empty_in_file),
		T(test_listen_address_empty_in_file),
		T(test_log_file_relative),
		T(test_optional_empty_in_file_is_unset),
		T(test_bad_value_is_quoted_on_one_line),
		T(test_two_spellings_differ), T(test_two_spellings_differ_ttl),
		T(test_two_spellings_agree), T(test_second_spelling_alone),
		T(test_second_spelling_empty_string),
		T(test_bool_env_spellings), T(test_bool_env_invalid),
		T(test_policy_invalid), T(test_log_level_invalid),
		T(test_held_messages_max), T(test_held_messages_max_invalid),
		T(test_consumers_auto), T(test_consumers_auto_in_file),
		T(test_consumers_invalid_string),
		T(test_consumers_invalid_env), T(test_consumers_wrong_type),
		T(test_secret_wrong_type_hides_value),
		T(test_secrets_never_in_errors), T(test_free_is_safe),
		T(test_small_error_buffer), T(test_real_getenv_when_null),
		T(test_example_config),
		T(test_names),
#undef T
	};
	Suite *s;
	TCase *tc;
	size_t i;

	s = suite_create("config");
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		tc = tcase_create(tests[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, tests[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	return testutil_run(config_suite());
}
