/*
 * config: builds a struct config from built-in defaults, then a libconfig
 * file, then environment variables, each overriding the one before.  All
 * the knowledge about the settings (names, environment spellings, types,
 * ranges, defaults, secrecy) lives in one table below; the code that reads
 * each source and validates each value is shared.  Pure: errors go to the
 * caller's buffer, one line, never with a secret's value in it, nor a
 * URL's password.  URLs are checked by url.c with the flags the
 * consumers use (URL_QUEUE, URL_BASE), so -t accepts what they accept.
 *
 * REDIS_URL is the one setting that stands for others: it sets
 * redis_host, redis_port, redis_db, redis_user and redis_password
 * together, once every source is read (resolve_redis_url).  Against
 * those, a source overrides a weaker one as usual, and the same or a
 * stronger source setting both is a conflict, never a silent merge.
 * A rediss:// URL also turns redis_tls on, and redis_tls off from the
 * same or a stronger source is a conflict; redis:// leaves it alone.
 * REDIS_SENTINELS stands instead of a fixed address: with redis_host,
 * redis_port or redis_url from any source it is a conflict
 * (resolve_sentinels), and it is parsed once into cfg->sentinels.
 * The other redis_tls_* settings mean nothing without redis_tls, and
 * are an error then (resolve_tls).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <netinet/in.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "sentry.h"
#include "url.h"
#include "util.h"

/* The table stores enums through an int pointer. */
_Static_assert(sizeof(enum config_policy) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_poison) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_package) == sizeof(int), "enum size");

/* A config file is a few dozen lines; refuse anything absurd. */
#define MAX_FILE_SIZE	(1024 * 1024)

/* Longest piece of a bad value quoted back in an error message. */
#define MAX_SHOWN	64

enum kind {
	K_STR,		/* char *; NULL when unset */
	K_INT,		/* int in [min, max] */
	K_INT64,	/* long long in [min, max] */
	K_BOOL,		/* int, 0 or 1 */
	K_ENUM,		/* int index into names */
	K_CONSUMERS	/* int in [min, max], or "auto" */
};

#define F_SECRET	0x01	/* never show the value */
#define F_REQUIRED	0x02	/* no default; must come from file or env */
#define F_NONZERO	0x04	/* 0 is invalid (why says so) */
#define F_URL		0x08	/* shown without its password */

struct load;
struct origin;

struct setting {
	const char	 *name;		/* in the file */
	const char	 *env[2];	/* environment spellings */
	enum kind	  kind;
	int		  flags;
	size_t		  off;		/* into struct config */
	long long	  min, max;
	const char	 *def;		/* K_STR default, or NULL */
	long long	  idef;		/* default for the other kinds */
	const char *const *names;	/* K_ENUM values, by enum order */
	int		(*check)(const char *);	/* K_STR: 0 when valid */
	const char	 *why;		/* what check or F_NONZERO wants */
	/* K_STR, instead of check: 0, or -1 with its own message. */
	int		(*verify)(struct load *, const struct setting *,
			    const struct origin *, const char *, const char *);
};

static int	check_url(const char *);
static int	check_queue_url(const char *);
static int	check_region(const char *);
static int	check_token(const char *);
static int	check_abspath(const char *);
static int	check_readable(const char *);
static int	check_server_name(const char *);
static int	check_aws_file(const char *);
static int	check_relative_uri(const char *);
static int	check_container_uri(const char *);
static int	verify_redis_url(struct load *, const struct setting *,
		    const struct origin *, const char *, const char *);
static int	verify_sentinels(struct load *, const struct setting *,
		    const struct origin *, const char *, const char *);
static int	verify_sentry_dsn(struct load *, const struct setting *,
		    const struct origin *, const char *, const char *);

static const char *const policy_names[] = {
	"UPSERT", "UPDATE_IF_EXISTS", NULL
};
static const char *const level_names[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const format_names[] = {
	"text", "json", NULL
};
static const char *const poison_names[] = {
	"keep", "delete", NULL
};
static const char *const package_names[] = {
	"invalidate", "ignore", NULL
};

#define OFF(f)		offsetof(struct config, f)
#define STR(n, e0, e1, fl, f, d, chk, w) {				\
	.name = n, .env = { e0, e1 }, .kind = K_STR, .flags = fl,	\
	.off = OFF(f), .def = d, .check = chk, .why = w }
#define SECRET(n, e, f)	STR(n, e, NULL, F_SECRET, f, NULL, NULL, NULL)
#define NUM(n, e0, e1, k, f, lo, hi, d) {				\
	.name = n, .env = { e0, e1 }, .kind = k, .off = OFF(f),		\
	.min = lo, .max = hi, .idef = d }
#define ENUM(n, e, f, d, v) {						\
	.name = n, .env = { e }, .kind = K_ENUM, .off = OFF(f),		\
	.idef = d, .names = v }

#define WHY_URL		"must be an http:// or https:// URL with a host, " \
			"without user name, query or fragment"
#define WHY_TOKEN	"must be non-empty, without whitespace"
#define WHY_ABSPATH	"must be an absolute path"
/* An optional absolute path. */
#define ABSPATH(n, e, f)						\
	STR(n, e, NULL, 0, f, NULL, check_abspath, WHY_ABSPATH)
/* The shared files: absolute, or under $HOME (resolve_aws). */
#define AWSFILE(n, e, f)						\
	STR(n, e, NULL, 0, f, NULL, check_aws_file,			\
	    "must be an absolute path, or one starting with ~/ (under $HOME)")
/* An optional http(s) URL without user name, query or fragment. */
#define BASEURL(n, e, f)						\
	STR(n, e, NULL, F_URL, f, NULL, check_url, WHY_URL)

static const struct setting settings[] = {
	/* Stigg's container settings, spelled as in its image and chart. */
	STR("queue_url", "QUEUE_URL", NULL, F_REQUIRED | F_URL, queue_url, NULL,
	    check_queue_url, "must be an http:// or https:// queue URL with a "
	    "host and a path, without user name, query or fragment"),
	/* Required unless the queue URL names it (resolve_region). */
	STR("aws_region", "AWS_REGION", NULL, 0, aws_region, NULL,
	    check_region, "must be 1 to 32 lowercase letters, digits and '-'"),
	SECRET("aws_access_key_id", "AWS_ACCESS_KEY_ID", aws_access_key_id),
	SECRET("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY",
	    aws_secret_access_key),
	SECRET("aws_session_token", "AWS_SESSION_TOKEN", aws_session_token),
	/*
	 * The rest of the AWS credential chain (creds.c), spelled as the
	 * AWS SDKs spell them; AWS_ROLE_EXTERNAL_ID and AWS_NO_SIGN_REQUEST
	 * are ours (the SDKs take an external id from a profile only, and
	 * the CLI's --no-sign-request from its command line).
	 */
	STR("aws_profile", "AWS_PROFILE", NULL, 0, aws_profile, NULL,
	    check_token, WHY_TOKEN),
	AWSFILE("aws_shared_credentials_file", "AWS_SHARED_CREDENTIALS_FILE",
	    aws_shared_credentials_file),
	AWSFILE("aws_config_file", "AWS_CONFIG_FILE", aws_config_file),
	ABSPATH("aws_web_identity_token_file", "AWS_WEB_IDENTITY_TOKEN_FILE",
	    aws_web_identity_token_file),
	STR("aws_role_arn", "AWS_ROLE_ARN", NULL, 0, aws_role_arn, NULL,
	    config_check_role_arn, CONFIG_WHY_ROLE_ARN),
	STR("aws_role_session_name", "AWS_ROLE_SESSION_NAME", NULL, 0,
	    aws_role_session_name, NULL, config_check_session_name,
	    CONFIG_WHY_SESSION_NAME),
	STR("aws_role_external_id", "AWS_ROLE_EXTERNAL_ID", NULL, 0,
	    aws_role_external_id, NULL, config_check_external_id,
	    CONFIG_WHY_EXTERNAL_ID),
	STR("aws_container_credentials_relative_uri",
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", NULL, 0,
	    aws_container_credentials_relative_uri, NULL, check_relative_uri,
	    "must be a path starting with '/', printable ASCII without "
	    "spaces"),
	STR("aws_container_credentials_full_uri",
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL, F_URL,
	    aws_container_credentials_full_uri, NULL, check_container_uri,
	    "must be an https:// URL, or an http:// one to a loopback "
	    "address, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23], "
	    "without user name"),
	SECRET("aws_container_authorization_token",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	    aws_container_authorization_token),
	ABSPATH("aws_container_authorization_token_file",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    aws_container_authorization_token_file),
	NUM("aws_ec2_metadata_disabled", "AWS_EC2_METADATA_DISABLED", NULL,
	    K_BOOL, aws_ec2_metadata_disabled, 0, 1, 0),
	BASEURL("aws_endpoint_url_sts", "AWS_ENDPOINT_URL_STS",
	    aws_endpoint_url_sts),
	BASEURL("aws_ec2_metadata_service_endpoint",
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	    aws_ec2_metadata_service_endpoint),
	NUM("aws_no_sign_request", "AWS_NO_SIGN_REQUEST", NULL, K_BOOL,
	    aws_no_sign_request, 0, 1, 0),
	SECRET("server_api_key", "SERVER_API_KEY", server_api_key),
	STR("environment_prefix", "ENVIRONMENT_PREFIX",
	    "REDIS_ENVIRONMENT_PREFIX", 0, environment_prefix, "production",
	    check_token, WHY_TOKEN),
	STR("redis_host", "REDIS_HOST", NULL, 0, redis_host, "localhost",
	    check_token, WHY_TOKEN),
	NUM("redis_port", "REDIS_PORT", NULL, K_INT, redis_port, 1, 65535,
	    6379),
	NUM("redis_db", "REDIS_DB", NULL, K_INT, redis_db, 0, INT_MAX, 0),
	STR("redis_user", "REDIS_USER", "REDIS_USERNAME", 0, redis_user, NULL,
	    NULL, NULL),
	SECRET("redis_password", "REDIS_PASSWORD", redis_password),
	/* A secret for its password; shown masked (F_URL) in errors. */
	{ .name = "redis_url", .env = { "REDIS_URL" }, .kind = K_STR,
	    .flags = F_SECRET | F_URL, .off = OFF(redis_url),
	    .verify = verify_redis_url },
	/* Sentinel: the primary is asked of these (sentinel.c). */
	{ .name = "redis_sentinels", .env = { "REDIS_SENTINELS" },
	    .kind = K_STR, .off = OFF(redis_sentinels),
	    .verify = verify_sentinels },
	STR("redis_sentinel_master", "REDIS_SENTINEL_MASTER", NULL, 0,
	    redis_sentinel_master, NULL, check_token, WHY_TOKEN),
	STR("redis_sentinel_username", "REDIS_SENTINEL_USERNAME", NULL, 0,
	    redis_sentinel_user, NULL, NULL, NULL),
	SECRET("redis_sentinel_password", "REDIS_SENTINEL_PASSWORD",
	    redis_sentinel_password),
	/*
	 * TLS (rconn.c), for the data connection and the sentinels'.  The
	 * Helm chart of Stigg's container has REDIS_TLS; the rest are ours.
	 */
	NUM("redis_tls", "REDIS_TLS", NULL, K_BOOL, redis_tls, 0, 1, 0),
	NUM("redis_tls_verify", "REDIS_TLS_VERIFY", NULL, K_BOOL,
	    redis_tls_verify, 0, 1, 1),
	ABSPATH("redis_tls_ca_file", "REDIS_TLS_CA_FILE", redis_tls_ca_file),
	ABSPATH("redis_tls_ca_dir", "REDIS_TLS_CA_DIR", redis_tls_ca_dir),
	ABSPATH("redis_tls_cert_file", "REDIS_TLS_CERT_FILE",
	    redis_tls_cert_file),
	ABSPATH("redis_tls_key_file", "REDIS_TLS_KEY_FILE",
	    redis_tls_key_file),
	SECRET("redis_tls_key_passphrase", "REDIS_TLS_KEY_PASSPHRASE",
	    redis_tls_key_passphrase),
	STR("redis_tls_server_name", "REDIS_TLS_SERVER_NAME", NULL, 0,
	    redis_tls_server_name, NULL, check_server_name, "must be a host "
	    "name or an IP address, at most 253 characters, without blanks, "
	    "control characters, '/', '@', brackets or a port"),
	/*
	 * The container's default is 1; ours is SQS' most: the same
	 * results (a message is handled alone whatever its batch) for a
	 * tenth of the requests.  BATCH_SIZE=1 is still honoured.
	 */
	NUM("batch_size", "BATCH_SIZE", NULL, K_INT, batch_size, 1, 10, 10),
	{ .name = "keys_ttl",
	    .env = { "KEYS_TTL_IN_SECS", "REDIS_KEYS_TTL_IN_SECS" },
	    .kind = K_INT64, .flags = F_NONZERO, .off = OFF(keys_ttl),
	    /* Redis refuses expiries past ~9.2e15 s: cap at 10 000 years. */
	    .min = LLONG_MIN, .max = 315360000000LL, .idef = 604800,
	    .why = "must be positive, or negative for no expiry" },
	STR("edge_api_url", "EDGE_API_URL", NULL, F_URL, edge_api_url,
	    "https://edge.api.stigg.io", check_url, WHY_URL),
	/* The AWS SDKs' trust store override: SQS, STS and the Edge API. */
	STR("aws_ca_bundle", "AWS_CA_BUNDLE", NULL, 0, aws_ca_bundle, NULL,
	    check_readable, "must be an absolute path to a readable file of "
	    "PEM certificates"),
	/* Sentry (sentry.c): the master reports there. */
	{ .name = "sentry_dsn", .env = { "SENTRY_DSN" }, .kind = K_STR,
	    .flags = F_SECRET, .off = OFF(sentry_dsn),
	    .verify = verify_sentry_dsn },
	NUM("disable_sentry", "DISABLE_SENTRY", NULL, K_BOOL, disable_sentry,
	    0, 1, 0),
	STR("sentry_environment", "SENTRY_ENVIRONMENT", NULL, 0,
	    sentry_environment, NULL, sentry_check_environment, "must be 1 "
	    "to 64 printable characters without blanks or '/', not 'None'"),
	NUM("sentry_redis_down_secs", "SENTRY_REDIS_DOWN_SECS", NULL, K_INT,
	    sentry_redis_down_secs, 1, 86400, 60),
	NUM("port", "PORT", NULL, K_INT, port, 1, 65535, 4000),
	ENUM("cache_update_policy", "CACHE_UPDATE_POLICY", cache_update_policy,
	    CONFIG_POLICY_UPSERT, policy_names),

	/*
	 * The daemon's own settings.  The queue: SQS caps long polls at 20 s
	 * and visibility at 12 h.  A minute of visibility covers an Edge API
	 * refill with its retries; a poison message waits ten minutes between
	 * tries until the redrive policy moves it.
	 */
	NUM("wait_time", "WAIT_TIME_SECONDS", NULL, K_INT, wait_time, 0, 20,
	    20),
	NUM("visibility_timeout", "VISIBILITY_TIMEOUT_SECS", NULL, K_INT,
	    visibility_timeout, 1, 43200, 60),
	/*
	 * The most long polls a consumer keeps in flight; it keeps one
	 * while the queue is idle and grows towards this while batches come
	 * back full (polls.c).  By Little's law (polls = rate x time a
	 * poll takes / batch_size) a consumer's 10 000 msg/s take 13 polls
	 * on loopback (13 ms a receive) and more than the 32 allowed at 20
	 * ms of round trip to SQS (33 ms): the most, since an idle queue
	 * costs one all the same (bench/run.sh, 2026-12-02: 32 beat 16 and
	 * 24 on loopback, and 64, tried in a build that allowed it, did
	 * worse).
	 */
	NUM("receives_in_flight", "RECEIVES_IN_FLIGHT", NULL, K_INT,
	    receives_in_flight, 1, 32, 32),
	ENUM("poison_policy", "POISON_POLICY", poison_policy,
	    CONFIG_POISON_KEEP, poison_names),
	NUM("poison_visibility_timeout", "POISON_VISIBILITY_TIMEOUT_SECS", NULL,
	    K_INT, poison_visibility_timeout, 0, 43200, 600),
	ENUM("on_package_published", "ON_PACKAGE_PUBLISHED",
	    on_package_published, CONFIG_PACKAGE_INVALIDATE, package_names),
	/*
	 * Messages a consumer holds while Redis or the Edge API fails: more
	 * than one consumer's messages in hand at the largest settings
	 * (receives_in_flight 32 x batch_size 10, twice, and the polls in
	 * flight), few enough to keep in memory (bodies are a few KiB).
	 */
	NUM("held_messages_max", "HELD_MESSAGES_MAX", NULL, K_INT,
	    held_messages_max, 0, 100000, 1000),

	/* Processes and logs. */
	NUM("consumers", "CONSUMERS", NULL, K_CONSUMERS, consumers, 1,
	    CONFIG_MAX_CONSUMERS, 0),
	STR("listen_address", "LISTEN_ADDRESS", NULL, 0, listen_address,
	    "0.0.0.0", check_token, WHY_TOKEN),
	ENUM("log_level", "LOG_LEVEL", log_level, CONFIG_LOG_INFO,
	    level_names),
	ENUM("log_format", "LOG_FORMAT", log_format, CONFIG_LOG_TEXT,
	    format_names),
	ABSPATH("log_file", "LOG_FILE", log_file),
	NUM("drain_timeout", "DRAIN_TIMEOUT_SECS", NULL, K_INT, drain_timeout,
	    1, 3600, 30),
	NUM("restart_backoff_min_ms", "RESTART_BACKOFF_MIN_MS", NULL, K_INT,
	    restart_backoff_min_ms, 10, 60000, 100),
	NUM("restart_backoff_max_ms", "RESTART_BACKOFF_MAX_MS", NULL, K_INT,
	    restart_backoff_max_ms, 10, 600000, 30000),
	NUM("hang_timeout", "HANG_TIMEOUT_SECS", NULL, K_INT, hang_timeout,
	    3, 3600, 30),
};

#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

/* The sources, weakest first. */
enum source {
	SRC_DEFAULT = 0,
	SRC_FILE,
	SRC_ENV,
	SRC_CREDENTIAL
};

/* Where a setting's current value came from, for error messages. */
struct origin {
	const char	*file;		/* NULL: not from a file */
	int		 line;
	const char	*env;		/* NULL: not from the environment */
	enum source	 src;
};

struct load {
	struct config	 cfg;
	const char	*envsrc[NSETTINGS];	/* variable that set it */
	enum source	 src[NSETTINGS];	/* source that set it */
	config_getenv_fn get;		/* HOME, for the shared files */
	char		*err;
	size_t		 errlen;
};

static int	fail(struct load *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	bad(struct load *, const struct setting *,
		    const struct origin *, const char *, const char *, ...)
		    __attribute__((format(printf, 5, 6)));

static const char *
default_getenv(const char *name)
{
	return getenv(name);
}

static int
fail(struct load *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	util_vset_err(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "file:line: name", the environment variable, or the name. */
static const char *
where(char *buf, size_t len, const struct setting *s, const struct origin *o)
{
	if (o->env != NULL)
		snprintf(buf, len, "%s", o->env);
	else if (o->file != NULL)
		snprintf(buf, len, "%s:%d: %s", o->file, o->line, s->name);
	else
		snprintf(buf, len, "%s", s->name);
	return buf;
}

/*
 * A bad value: "<where>: <value> <problem>", and a secret's value is
 * never shown (a secret URL is, masked by quote_value: F_URL).
 */
static int
bad(struct load *ld, const struct setting *s, const struct origin *o,
    const char *shown, const char *fmt, ...)
{
	char w[512], problem[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	return fail(ld, "%s: %s %s", where(w, sizeof(w), s, o),
	    (s->flags & (F_SECRET | F_URL)) == F_SECRET ? "value" : shown,
	    problem);
}

/* Quotes v for an error message: printable ASCII, one line, bounded. */
static const char *
quote(char *buf, size_t len, const char *v)
{
	(void)util_clean(buf, len, v, strlen(v), MAX_SHOWN, UTIL_CLEAN_QUOTE |
	    UTIL_CLEAN_DOTS | UTIL_CLEAN_ASCII);
	return buf;
}

/* Quotes the value v of s: a URL's user information (a password) masked. */
static const char *
quote_value(char *buf, size_t len, const struct setting *s, const char *v)
{
	char masked[2 * MAX_SHOWN];

	if (!(s->flags & F_URL))
		return quote(buf, len, v);
	url_mask(v, masked, sizeof(masked));
	/*
	 * A secret URL with nothing url_mask could mask ("redis://u:pw",
	 * no "@") may still carry its password where a host would be: only
	 * its scheme is shown.
	 */
	if ((s->flags & F_SECRET) && strcmp(masked, v) == 0) {
		const char *p = strstr(v, "://");

		if (p != NULL && p - v <= 16)
			snprintf(masked, sizeof(masked), "%.*s://***",
			    (int)(p - v), v);
		else
			snprintf(masked, sizeof(masked), "***");
	}
	return quote(buf, len, masked);
}

/* The consumers sign and send to this URL: nothing but a location. */
static int
check_url(const char *v)
{
	return url_check(v, URL_BASE);
}

/* A queue URL names a queue: a path after the host (".../<account>/<name>"). */
static int
check_queue_url(const char *v)
{
	return url_check(v, URL_QUEUE);
}

static int
check_region(const char *v)
{
	if (*v == '\0' || strlen(v) > 32)
		return -1;
	for (; *v != '\0'; v++)
		if ((*v < 'a' || *v > 'z') && (*v < '0' || *v > '9') &&
		    *v != '-')
			return -1;
	return 0;
}

static int
check_token(const char *v)
{
	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++)
		if (!isgraph((unsigned char)*v))
			return -1;
	return 0;
}

static int
check_abspath(const char *v)
{
	return v[0] == '/' ? 0 : -1;
}

/* An absolute path to a file that can be read now (a CA bundle). */
static int
check_readable(const char *v)
{
	return v[0] == '/' && access(v, R_OK) == 0 ? 0 : -1;
}

/* A control character: a secret with one cannot go into a header. */
static int
has_control(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 1;
	return 0;
}

/* The AWS SDKs expand a leading ~/ in the shared files' paths. */
static int
check_aws_file(const char *v)
{
	return v[0] == '/' || (v[0] == '~' && v[1] == '/' && v[2] != '\0') ?
	    0 : -1;
}

/* Each of v's bytes is in set, and there are lo to hi of them. */
static int
only(const char *v, const char *set, size_t lo, size_t hi)
{
	size_t n = strlen(v), i;

	if (n < lo || n > hi)
		return -1;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && strchr(set, v[i]) == NULL)
			return -1;
	return 0;
}

/*
 * arn:<partition>:iam::<account>:role/<path/name>: the partition "aws"
 * or one of its kin (aws-cn, aws-us-gov, aws-iso...), twelve digits, and
 * IAM's characters in the name.
 */
int
config_check_role_arn(const char *v)
{
	const char *p;
	size_t i;

	if (strncmp(v, "arn:aws", 7) != 0)
		return -1;
	for (p = v + 7; islower((unsigned char)*p) || *p == '-'; p++)
		;
	if (strncmp(p, ":iam::", 6) != 0)
		return -1;
	for (p += 6, i = 0; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return -1;
	p += 12;
	if (strncmp(p, ":role/", 6) != 0)
		return -1;
	return only(p + 6, "+=,.@_-/", 1, 512);
}

/* STS' RoleSessionName: [\w+=,.@-]{2,64}. */
int
config_check_session_name(const char *v)
{
	return only(v, "+=,.@_-", 2, 64);
}

/* STS' ExternalId: [\w+=,.@:\/-]{2,1224}. */
int
config_check_external_id(const char *v)
{
	return only(v, "+=,.@:/_-", 2, 1224);
}

/* Appended to http://169.254.170.2, as the ECS agent hands it out. */
static int
check_relative_uri(const char *v)
{
	return v[0] == '/' ? check_token(v) : -1;
}

/*
 * The container credentials' URL the SDKs accept: https://, or plain
 * http:// only where the traffic stays on the host or goes to the ECS
 * agent (169.254.170.2) or EKS Pod Identity (169.254.170.23,
 * fd00:ec2::23), since the answer is credentials.
 */
static int
check_container_uri(const char *v)
{
	static const unsigned char eks6[16] = {
		0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x23
	};
	struct in_addr a4;
	struct in6_addr a6;
	struct url u;
	int ok;

	if (url_parse(v, URL_HTTP, &u, NULL, 0) == -1)
		return -1;
	ok = u.tls || strcasecmp(u.host, "localhost") == 0 ||
	    strcmp(u.host, "169.254.170.2") == 0 ||
	    strcmp(u.host, "169.254.170.23") == 0;
	if (!ok && inet_pton(AF_INET, u.host, &a4) == 1)
		ok = (ntohl(a4.s_addr) >> 24) == 127;
	if (!ok && inet_pton(AF_INET6, u.host, &a6) == 1)
		ok = IN6_IS_ADDR_LOOPBACK(&a6) ||
		    memcmp(&a6, eks6, sizeof(eks6)) == 0;
	url_free(&u);
	return ok ? 0 : -1;
}

/* A character a host name or address may hold (a sentinel's, a TLS name). */
static int
host_char(char c)
{
	return isgraph((unsigned char)c) && c != '[' && c != ']' && c != '/' &&
	    c != '@';
}

/*
 * REDIS_TLS_SERVER_NAME, what the server's certificate must match
 * (rconn.c: a name, sent as SNI too, or an address): at most the 253
 * characters of a DNS name, a host's characters, and a ':' only in an
 * IPv6 address, so that "host:6380" is refused, not never matched.
 */
static int
check_server_name(const char *v)
{
	struct in6_addr a6;
	size_t n = strlen(v), i;

	if (n == 0 || n > 253)
		return -1;
	for (i = 0; i < n; i++)
		if (!host_char(v[i]))
			return -1;
	if (strchr(v, ':') != NULL && inet_pton(AF_INET6, v, &a6) != 1)
		return -1;
	return 0;
}

/*
 * REDIS_URL: url.c's rules (URL_REDIS_URL), the reason in the message;
 * rediss:// too, which resolve_redis_url turns into redis_tls.
 */
static int
verify_redis_url(struct load *ld, const struct setting *s,
    const struct origin *o, const char *v, const char *shown)
{
	struct url u;
	char why[128];

	if (url_parse(v, URL_REDIS_URL, &u, why, sizeof(why)) == -1)
		return bad(ld, s, o, shown, "%s", why);
	url_free(&u);
	return 0;
}

/* A DSN the client can use; why never quotes it (it holds the key). */
static int
verify_sentry_dsn(struct load *ld, const struct setting *s,
    const struct origin *o, const char *v, const char *shown)
{
	struct sentry_dsn d;
	char why[160];

	if (sentry_dsn_parse(v, &d, why, sizeof(why)) == -1)
		return bad(ld, s, o, shown, "%s", why);
	sentry_dsn_free(&d);
	return 0;
}

/* One entry of a sentinel list, s[0..n), into out. */
static int
parse_hostport(const char *s, size_t n, struct config_hostport *out,
    char *why, size_t whylen)
{
	const char *host, *colon, *p;
	size_t hlen;
	long port;

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0) {
		snprintf(why, whylen, "has an empty entry");
		return -1;
	}
	if (*s == '[') {
		if ((p = memchr(s, ']', n)) == NULL) {
			snprintf(why, whylen, "has a '[' without its ']'");
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(p - host);
		colon = p + 1 < s + n ? p + 1 : NULL;
		if (colon != NULL && *colon != ':') {
			snprintf(why, whylen, "has something after ']' other "
			    "than ':port'");
			return -1;
		}
		if (hlen == 0 || memchr(host, ':', hlen) == NULL) {
			snprintf(why, whylen, "has brackets around something "
			    "not an IPv6 address");
			return -1;
		}
	} else {
		host = s;
		colon = memchr(s, ':', n);
		hlen = colon != NULL ? (size_t)(colon - s) : n;
		if (colon != NULL && memchr(colon + 1, ':',
		    (size_t)(s + n - colon - 1)) != NULL) {
			snprintf(why, whylen, "has an IPv6 address without "
			    "brackets (write [addr]:port)");
			return -1;
		}
		if (hlen == 0) {
			snprintf(why, whylen, "has an entry without a host");
			return -1;
		}
	}
	for (p = host; p < host + hlen; p++)
		if (!host_char(*p)) {
			snprintf(why, whylen, "has a host with a character "
			    "not allowed in a host name");
			return -1;
		}
	if (hlen >= sizeof(out->host)) {
		snprintf(why, whylen, "has a host name that is too long");
		return -1;
	}
	port = CONFIG_SENTINEL_PORT;
	if (colon != NULL) {
		p = colon + 1;
		if (p >= s + n) {
			snprintf(why, whylen, "has an empty port");
			return -1;
		}
		for (port = 0; p < s + n; p++) {
			if (*p < '0' || *p > '9' || port > 65535) {
				snprintf(why, whylen, "has a port that is not "
				    "a number from 1 to 65535");
				return -1;
			}
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535) {
			snprintf(why, whylen, "has a port that is not a "
			    "number from 1 to 65535");
			return -1;
		}
	}
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = (int)port;
	return 0;
}

int
config_parse_sentinels(const char *v, struct config_hostport *out,
    size_t max, char *why, size_t whylen)
{
	const char *p = v, *comma;
	size_t n = 0;

	for (;;) {
		comma = strchr(p, ',');
		if (n == max) {
			snprintf(why, whylen, "lists more than %zu sentinels",
			    max);
			return -1;
		}
		if (parse_hostport(p, comma != NULL ? (size_t)(comma - p) :
		    strlen(p), &out[n], why, whylen) == -1)
			return -1;
		n++;
		if (comma == NULL)
			return (int)n;
		p = comma + 1;
	}
}

/* REDIS_SENTINELS: a list config_parse_sentinels takes. */
static int
verify_sentinels(struct load *ld, const struct setting *s,
    const struct origin *o, const char *v, const char *shown)
{
	struct config_hostport hp[CONFIG_MAX_SENTINELS];
	char why[128];

	if (config_parse_sentinels(v, hp, CONFIG_MAX_SENTINELS, why,
	    sizeof(why)) == -1)
		return bad(ld, s, o, shown, "%s", why);
	return 0;
}

static void *
field(struct config *cfg, const struct setting *s)
{
	return (char *)cfg + s->off;
}

static void
free_str(char **p, int secret)
{
	if (*p != NULL && secret)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

static int
set_str(struct load *ld, const struct setting *s, const struct origin *o,
    const char *v, const char *shown)
{
	char **p = field(&ld->cfg, s);
	char *copy = NULL;

	/* An empty optional string without a default just means unset. */
	if (*v != '\0' || s->def != NULL || (s->flags & F_REQUIRED)) {
		/*
		 * A secret goes into a header or a command: a line break
		 * (a file saved with one, a value pasted with one) or
		 * another control character would cut the request.
		 */
		if ((s->flags & F_SECRET) && has_control(v))
			return bad(ld, s, o, shown, "contains a control "
			    "character (a line break?); it is not shown");
		if (s->check != NULL && s->check(v) != 0)
			return bad(ld, s, o, shown, "is invalid: %s", s->why);
		if (s->verify != NULL && s->verify(ld, s, o, v, shown) != 0)
			return -1;
		if ((copy = strdup(v)) == NULL)
			return fail(ld, "%s: out of memory", s->name);
	}
	free_str(p, s->flags & F_SECRET);
	*p = copy;
	ld->envsrc[s - settings] = o->env;
	ld->src[s - settings] = o->src;
	return 0;
}

static int
set_int(struct load *ld, const struct setting *s, const struct origin *o,
    long long v, const char *shown)
{
	if (v < s->min || v > s->max)
		return bad(ld, s, o, shown, "is out of range (%lld..%lld)",
		    s->min, s->max);
	if ((s->flags & F_NONZERO) && v == 0)
		return bad(ld, s, o, shown, "is invalid: %s", s->why);
	if (s->kind == K_INT64)
		*(long long *)field(&ld->cfg, s) = v;
	else
		*(int *)field(&ld->cfg, s) = (int)v;
	if (s->kind == K_CONSUMERS)
		ld->cfg.consumers_auto = 0;
	ld->envsrc[s - settings] = o->env;
	ld->src[s - settings] = o->src;
	return 0;
}

static int
set_enum(struct load *ld, const struct setting *s, const struct origin *o,
    const char *v, const char *shown)
{
	char list[128];
	size_t n;
	int i;

	for (i = 0; s->names[i] != NULL; i++) {
		if (strcasecmp(v, s->names[i]) == 0) {
			*(int *)field(&ld->cfg, s) = i;
			ld->envsrc[s - settings] = o->env;
			ld->src[s - settings] = o->src;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0, n = 0; s->names[i] != NULL && n < sizeof(list); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s",
		    i > 0 ? ", " : "", s->names[i]);
	return bad(ld, s, o, shown, "is not one of %s", list);
}

static int
set_auto(struct load *ld, const struct setting *s, const struct origin *o,
    const char *v, const char *shown)
{
	if (strcasecmp(v, "auto") != 0)
		return bad(ld, s, o, shown, "is neither an integer nor 'auto'");
	ld->cfg.consumers_auto = 1;
	ld->envsrc[s - settings] = o->env;
	ld->src[s - settings] = o->src;
	return 0;
}

static int
set_defaults(struct load *ld)
{
	static const struct origin none;
	const struct setting *s;

	for (s = settings; s < settings + NSETTINGS; s++) {
		switch (s->kind) {
		case K_STR:
			if (s->def != NULL && set_str(ld, s, &none, s->def,
			    s->def) != 0)
				return -1;
			break;
		case K_CONSUMERS:
			ld->cfg.consumers_auto = 1;
			break;
		case K_INT64:
			*(long long *)field(&ld->cfg, s) = s->idef;
			break;
		default:
			*(int *)field(&ld->cfg, s) = (int)s->idef;
			break;
		}
	}
	return 0;
}

/*
 * libconfig 1.5 reads a plain integer literal with atoi(), so one past 32
 * bits wraps silently (keys_ttl = 3000000000 turns negative: no expiry),
 * and an L literal past 64 bits saturates.  Find the literal on the
 * setting's line, check it is the one libconfig read (same low bits), and
 * take its true value.  Returns 1 with *v and shown set, 0 when it cannot
 * be found (libconfig's value stands), -1 when it overflows 64 bits.
 */
static int
int_literal(const char *text, int line, const char *name, long long libval,
    long long *v, char *shown, size_t shownlen)
{
	const unsigned long long low = 0xffffffffULL;
	const char *p, *end, *q, *r;
	size_t n = strlen(name);
	char *ep;
	long long x;
	int hex;

	for (p = text; line > 1 && p != NULL; line--)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return 0;
	if ((end = strchr(p, '\n')) == NULL)
		end = p + strlen(p);
	for (q = p; q + n <= end; q++) {
		if (strncmp(q, name, n) != 0 || (q > p &&
		    (isalnum((unsigned char)q[-1]) || strchr("_-*", q[-1]))))
			continue;
		for (r = q + n; *r == ' ' || *r == '\t'; r++)
			;
		if (*r != '=' && *r != ':')
			continue;
		for (r++; *r == ' ' || *r == '\t'; r++)
			;
		hex = r[0] == '0' && (r[1] == 'x' || r[1] == 'X');
		errno = 0;
		x = strtoll(r, &ep, hex ? 16 : 10);
		if (ep == r || ep > end || (((unsigned long long)x & low) !=
		    ((unsigned long long)libval & low)))
			continue;
		if (*ep == 'L')
			ep++;
		snprintf(shown, shownlen, "%.*s", (int)(ep - r), r);
		*v = x;
		return errno == ERANGE ? -1 : 1;
	}
	return 0;
}

static const char *
expected(const struct setting *s)
{
	switch (s->kind) {
	case K_STR:
	case K_ENUM:
		return "a string";
	case K_BOOL:
		return "a boolean (true or false)";
	case K_CONSUMERS:
		return "an integer or \"auto\"";
	default:
		return "an integer";
	}
}

static int
file_setting(struct load *ld, const char *text, config_setting_t *cs,
    const struct setting *s, const struct origin *o)
{
	char shown[MAX_SHOWN + 40];
	const char *str;
	long long v;
	int type, rc;

	type = config_setting_type(cs);
	if ((str = config_setting_get_string(cs)) != NULL)
		quote_value(shown, sizeof(shown), s, str);
	if (type == CONFIG_TYPE_STRING && s->kind == K_STR)
		return set_str(ld, s, o, str, shown);
	if (type == CONFIG_TYPE_STRING && s->kind == K_ENUM)
		return set_enum(ld, s, o, str, shown);
	if (type == CONFIG_TYPE_STRING && s->kind == K_CONSUMERS)
		return set_auto(ld, s, o, str, shown);
	if (type == CONFIG_TYPE_BOOL && s->kind == K_BOOL)
		return set_int(ld, s, o, config_setting_get_bool(cs), "");
	if ((type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) &&
	    s->kind != K_STR && s->kind != K_BOOL && s->kind != K_ENUM) {
		v = config_setting_get_int64(cs);
		snprintf(shown, sizeof(shown), "%lld", v);
		rc = 0;
		if (config_setting_source_file(cs) == NULL)
			rc = int_literal(text, o->line, s->name, v, &v,
			    shown, sizeof(shown));
		if (rc == -1)
			return bad(ld, s, o, shown,
			    "is out of range (%lld..%lld)", s->min, s->max);
		return set_int(ld, s, o, v, shown);
	}
	return fail(ld, "%s:%d: %s: wrong type: expected %s", o->file, o->line,
	    s->name, expected(s));
}

static const struct setting *
find_setting(const char *name)
{
	const struct setting *s;

	for (s = settings; s < settings + NSETTINGS; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* Reads all of path into a NUL-terminated buffer. */
static int
slurp(struct load *ld, const char *path, int must_exist, char **textp)
{
	FILE *fp;
	char *text;
	size_t n;

	*textp = NULL;
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return fail(ld, "%s: cannot read: %s", path, strerror(errno));
	}
	if ((text = malloc(MAX_FILE_SIZE + 1)) == NULL) {
		fclose(fp);
		return fail(ld, "%s: out of memory", path);
	}
	n = fread(text, 1, MAX_FILE_SIZE + 1, fp);
	if (ferror(fp)) {
		fail(ld, "%s: cannot read: %s", path, strerror(errno));
		goto bad;
	}
	if (n > MAX_FILE_SIZE) {
		fail(ld, "%s: cannot read: larger than %d bytes", path,
		    MAX_FILE_SIZE);
		goto bad;
	}
	if (memchr(text, '\0', n) != NULL) {
		fail(ld, "%s: cannot read: contains a NUL byte", path);
		goto bad;
	}
	fclose(fp);
	text[n] = '\0';
	*textp = text;
	return 0;
bad:
	fclose(fp);
	free(text);
	return -1;
}

static int
read_file(struct load *ld, const char *path, int must_exist)
{
	config_t lc;
	config_setting_t *root, *cs;
	const struct setting *s;
	struct origin o;
	char *text, name[MAX_SHOWN + 8];
	int i, rc = -1;

	if (slurp(ld, path, must_exist, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if ((ld->cfg.path = strdup(path)) == NULL) {
		free(text);
		return fail(ld, "%s: out of memory", path);
	}
	config_init(&lc);
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		fail(ld, "%s:%d: %s", config_error_file(&lc) != NULL ?
		    config_error_file(&lc) : path, config_error_line(&lc),
		    config_error_text(&lc));
		goto out;
	}
	root = config_root_setting(&lc);
	for (i = 0; i < config_setting_length(root); i++) {
		cs = config_setting_get_elem(root, i);
		o.file = config_setting_source_file(cs) != NULL ?
		    config_setting_source_file(cs) : path;
		o.line = config_setting_source_line(cs);
		o.env = NULL;
		o.src = SRC_FILE;
		if ((s = find_setting(config_setting_name(cs))) == NULL) {
			fail(ld, "%s:%d: unknown setting %s", o.file, o.line,
			    quote(name, sizeof(name), config_setting_name(cs)));
			goto out;
		}
		if (file_setting(ld, text, cs, s, &o) == -1)
			goto out;
	}
	rc = 0;
out:
	config_destroy(&lc);
	free(text);
	return rc;
}

/*
 * The value of s from the environment, or NULL.  Two spellings that are
 * both set must agree.  For strings an empty value counts as unset.
 */
static int
env_value(struct load *ld, const struct setting *s, config_getenv_fn get,
    const char **vp, const char **envp)
{
	const char *v[2] = { NULL, NULL };
	char a[MAX_SHOWN + 8], b[MAX_SHOWN + 8];
	int i;

	*vp = *envp = NULL;
	for (i = 1; i >= 0; i--) {
		if (s->env[i] == NULL)
			continue;
		v[i] = get(s->env[i]);
		if (v[i] != NULL && s->kind == K_STR && *v[i] == '\0')
			v[i] = NULL;
		if (v[i] != NULL) {
			*vp = v[i];
			*envp = s->env[i];
		}
	}
	if (v[0] == NULL || v[1] == NULL || strcmp(v[0], v[1]) == 0)
		return 0;
	if (s->flags & F_SECRET)
		return fail(ld, "%s and %s are both set, to different values",
		    s->env[0], s->env[1]);
	return fail(ld, "%s (%s) and %s (%s) are both set, to different values",
	    s->env[0], quote_value(a, sizeof(a), s, v[0]), s->env[1],
	    quote_value(b, sizeof(b), s, v[1]));
}

/* Strict: an optional sign, digits, nothing else, no overflow. */
static int
parse_ll(const char *v, long long *out)
{
	char *ep;

	if (*v == '\0' || isspace((unsigned char)*v))
		return -1;
	errno = 0;
	*out = strtoll(v, &ep, 10);
	if (*ep != '\0')
		return -1;
	return errno == ERANGE ? 1 : 0;
}

static int
parse_bool(const char *v)
{
	static const char *const yes[] = { "true", "1", "yes" };
	static const char *const no[] = { "false", "0", "no" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int
env_setting(struct load *ld, const struct setting *s, const char *v,
    const struct origin *o)
{
	char shown[MAX_SHOWN + 8];
	long long ll;
	int rc;

	quote_value(shown, sizeof(shown), s, v);
	switch (s->kind) {
	case K_STR:
		return set_str(ld, s, o, v, shown);
	case K_ENUM:
		return set_enum(ld, s, o, v, shown);
	case K_BOOL:
		if ((rc = parse_bool(v)) == -1)
			return bad(ld, s, o, shown,
			    "is not a boolean (true/false, 1/0, yes/no)");
		return set_int(ld, s, o, rc, shown);
	case K_CONSUMERS:
		if (parse_ll(v, &ll) == -1)
			return set_auto(ld, s, o, v, shown);
		/* FALLTHROUGH */
	default:
		if ((rc = parse_ll(v, &ll)) == -1)
			return bad(ld, s, o, shown, "is not an integer");
		if (rc == 1)
			return bad(ld, s, o, shown,
			    "is out of range (%lld..%lld)", s->min, s->max);
		return set_int(ld, s, o, ll, shown);
	}
}

static int
read_env(struct load *ld, config_getenv_fn get)
{
	const struct setting *s;
	struct origin o = { NULL, 0, NULL, SRC_ENV };
	const char *v;

	for (s = settings; s < settings + NSETTINGS; s++) {
		if (env_value(ld, s, get, &v, &o.env) == -1)
			return -1;
		if (v != NULL && env_setting(ld, s, v, &o) == -1)
			return -1;
	}
	return 0;
}

/*
 * Secrets from files: systemd's LoadCredential= puts them in
 * $CREDENTIALS_DIRECTORY, one file per credential, named like the setting
 * ("aws_secret_access_key", "redis_url").  A credential overrides the
 * file and the environment; one trailing newline is dropped.
 */
#define MAX_CREDENTIAL	(64 * 1024)

static int
read_credentials(struct load *ld, config_getenv_fn get)
{
	const struct setting *s;
	struct origin o = { NULL, 0, NULL, SRC_CREDENTIAL };
	const char *dir = get("CREDENTIALS_DIRECTORY");
	char path[4096], *buf, shown[MAX_SHOWN + 8];
	FILE *f;
	size_t n;
	int rc;

	if (dir == NULL || *dir == '\0')
		return 0;
	for (s = settings; s < settings + NSETTINGS; s++) {
		if (!(s->flags & F_SECRET))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, s->name);
		if ((f = fopen(path, "re")) == NULL) {
			if (errno == ENOENT)
				continue;
			return fail(ld, "%s: cannot read: %s", path,
			    strerror(errno));
		}
		if ((buf = malloc(MAX_CREDENTIAL + 1)) == NULL) {
			fclose(f);
			return fail(ld, "config: out of memory");
		}
		n = fread(buf, 1, MAX_CREDENTIAL + 1, f);
		rc = ferror(f);
		fclose(f);
		if (rc || n > MAX_CREDENTIAL || memchr(buf, '\0', n) != NULL) {
			free(buf);
			return fail(ld, "%s: %s", path, rc ? "cannot read" :
			    "not a credential (too large, or binary)");
		}
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		buf[n] = '\0';
		if (n == 0) {
			free(buf);
			return fail(ld, "%s: is empty", path);
		}
		o.env = s->name;
		rc = set_str(ld, s, &o, buf, (s->flags & F_URL) ?
		    quote_value(shown, sizeof(shown), s, buf) : "value");
		explicit_bzero(buf, n);
		free(buf);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Who set setting i, for a conflict: its variable, credential or file. */
static const char *
setter(struct load *ld, size_t i, char *buf, size_t len)
{
	switch (ld->src[i]) {
	case SRC_ENV:
		snprintf(buf, len, "%s", ld->envsrc[i]);
		break;
	case SRC_CREDENTIAL:
		snprintf(buf, len, "credential %s", settings[i].name);
		break;
	default:
		snprintf(buf, len, "%s (%s)", settings[i].name,
		    ld->cfg.path != NULL ? ld->cfg.path : "file");
		break;
	}
	return buf;
}

/*
 * Settings k and i, each from a source that does not give way to the
 * other's, conflict: "<k><mid><i><tail>", each named by its setter, or
 * the file named once when both are from it.
 */
static int
conflict(struct load *ld, size_t k, size_t i, const char *mid,
    const char *tail)
{
	char a[512], b[512];

	if (ld->src[i] == SRC_FILE && ld->src[k] == SRC_FILE)
		return fail(ld, "%s: %s%s%s%s", ld->cfg.path, settings[k].name,
		    mid, settings[i].name, tail);
	return fail(ld, "%s%s%s%s", setter(ld, k, a, sizeof(a)), mid,
	    setter(ld, i, b, sizeof(b)), tail);
}

/* conflict's mid and tail for two settings that stand for each other. */
#define BOTH_SET	" and ", " both set; use one"

/* Whether a source gave s a value (an empty string gives none). */
static int
given(struct load *ld, const struct setting *s)
{
	return ld->src[s - settings] != SRC_DEFAULT && (s->kind != K_STR ||
	    *(char **)field(&ld->cfg, s) != NULL);
}

/*
 * The first of the n settings names that was given, which means nothing
 * without need (the caller found need off): "<setter>: needs <need>
 * (<NEED>)".  0 when none was given.
 */
static int
needs(struct load *ld, const char *const *names, size_t n,
    const struct setting *need)
{
	const struct setting *s;
	char a[512];
	size_t i;

	for (i = 0; i < n; i++) {
		s = find_setting(names[i]);
		if (given(ld, s))
			return fail(ld, "%s: needs %s (%s)", setter(ld,
			    (size_t)(s - settings), a, sizeof(a)), need->name,
			    need->env[0]);
	}
	return 0;
}

/* missing is required with present, which is set. */
static int
required_with(struct load *ld, const struct setting *missing,
    const struct setting *present)
{
	char a[512];

	return fail(ld, "%s: required with %s (set %s in the file or %s)",
	    missing->name, setter(ld, (size_t)(present - settings), a,
	    sizeof(a)), missing->name, missing->env[0]);
}

/*
 * A redis_url sets redis_host, redis_port, redis_db, redis_user and
 * redis_password, and a rediss:// one redis_tls.  One of those from a
 * weaker source than the URL is replaced, as a stronger source replaces
 * a weaker one; from the same or a stronger source it is a conflict,
 * named both ways (redis_tls only when it is off: it agrees otherwise).
 */
static int
resolve_redis_url(struct load *ld)
{
	static const char *const parts[] = {
		"redis_host", "redis_port", "redis_db", "redis_user",
		"redis_password"
	};
	const struct setting *url = find_setting("redis_url"), *s;
	struct config *cfg = &ld->cfg;
	size_t i, k, n;
	struct url u;
	char why[128];

	if (cfg->redis_url == NULL)
		return 0;
	k = (size_t)(url - settings);
	for (n = 0; n < sizeof(parts) / sizeof(parts[0]); n++) {
		s = find_setting(parts[n]);
		i = (size_t)(s - settings);
		if (given(ld, s) && ld->src[i] >= ld->src[k])
			return conflict(ld, k, i, BOTH_SET);
	}
	/* Checked when it was set: this cannot fail but on memory. */
	if (url_parse(cfg->redis_url, URL_REDIS_URL, &u, why,
	    sizeof(why)) == -1)
		return fail(ld, "%s: %s", url->name, why);
	/*
	 * rediss:// is redis_tls on, and replaces it as it replaces the
	 * five; redis:// says nothing about TLS, so redis_tls stands.
	 */
	i = (size_t)(find_setting("redis_tls") - settings);
	if (u.tls && !cfg->redis_tls && ld->src[i] >= ld->src[k]) {
		url_free(&u);
		return conflict(ld, k, i, " is rediss:// but ",
		    " is false; use one");
	}
	if (u.tls)
		cfg->redis_tls = 1;
	free_str(&cfg->redis_host, 0);
	if ((cfg->redis_host = strdup(u.host)) == NULL) {
		url_free(&u);
		return fail(ld, "%s: out of memory", url->name);
	}
	cfg->redis_port = u.port;
	cfg->redis_db = u.db;
	free_str(&cfg->redis_user, 0);
	free_str(&cfg->redis_password, 1);
	cfg->redis_user = u.user;
	cfg->redis_password = u.password;
	u.user = u.password = NULL;
	return 0;
}

/*
 * REDIS_SENTINELS stands instead of a fixed address: with redis_host,
 * redis_port or redis_url set by any source it is a conflict, named both
 * ways.  The master's name is required with it; the master's name and
 * the sentinels' credentials mean nothing without it.
 */
static int
resolve_sentinels(struct load *ld)
{
	static const char *const fixed[] = {
		"redis_url", "redis_host", "redis_port"
	};
	static const char *const with[] = {
		"redis_sentinel_master", "redis_sentinel_username",
		"redis_sentinel_password"
	};
	const struct setting *sl = find_setting("redis_sentinels"), *s;
	struct config *cfg = &ld->cfg;
	size_t i, k, n;
	char why[128];
	int r;

	k = (size_t)(sl - settings);
	if (cfg->redis_sentinels == NULL)
		return needs(ld, with, sizeof(with) / sizeof(with[0]), sl);
	for (n = 0; n < sizeof(fixed) / sizeof(fixed[0]); n++) {
		s = find_setting(fixed[n]);
		i = (size_t)(s - settings);
		if (given(ld, s))
			return conflict(ld, k, i, BOTH_SET);
	}
	if (cfg->redis_sentinel_master == NULL)
		return required_with(ld, find_setting("redis_sentinel_master"),
		    sl);
	/* Checked when it was set: this cannot fail. */
	r = config_parse_sentinels(cfg->redis_sentinels, cfg->sentinels,
	    CONFIG_MAX_SENTINELS, why, sizeof(why));
	if (r == -1)
		return fail(ld, "%s: %s", sl->name, why);
	cfg->nsentinels = (size_t)r;
	return 0;
}

/*
 * The redis_tls_* settings mean nothing without redis_tls (which a
 * rediss:// redis_url has turned on by now): given with it off, even
 * at their defaults, they are an error, so that no one believes a
 * connection verified that has no TLS at all.  A client certificate
 * and its key go together, and a passphrase is the key's.
 */
static int
resolve_tls(struct load *ld)
{
	static const char *const tls[] = {
		"redis_tls_verify", "redis_tls_ca_file", "redis_tls_ca_dir",
		"redis_tls_cert_file", "redis_tls_key_file",
		"redis_tls_key_passphrase", "redis_tls_server_name"
	};
	static const char *const passphrase[] = { "redis_tls_key_passphrase" };
	const struct setting *cert = find_setting("redis_tls_cert_file"),
	    *key = find_setting("redis_tls_key_file");
	struct config *cfg = &ld->cfg;

	if (!cfg->redis_tls)
		return needs(ld, tls, sizeof(tls) / sizeof(tls[0]),
		    find_setting("redis_tls"));
	if (cfg->redis_tls_key_file != NULL && cfg->redis_tls_cert_file == NULL)
		return required_with(ld, cert, key);
	if (cfg->redis_tls_cert_file != NULL && cfg->redis_tls_key_file == NULL)
		return required_with(ld, key, cert);
	if (cfg->redis_tls_key_file == NULL)
		return needs(ld, passphrase, 1, key);
	return 0;
}

/*
 * A shared file's path: $HOME's file dflt when unset (nothing without an
 * absolute HOME: the chain then has no shared files), a leading ~/
 * replaced by HOME, as the AWS SDKs do.
 */
static int
home_file(struct load *ld, const char *name, const char *dflt)
{
	const struct setting *s = find_setting(name);
	const char *home = ld->get("HOME");
	char **p = field(&ld->cfg, s), *v, a[512], b[MAX_SHOWN + 8];
	size_t hlen;
	int n;

	if (*p != NULL && (*p)[0] != '~')
		return 0;
	if (home == NULL || home[0] != '/') {
		if (*p == NULL)
			return 0;
		return fail(ld, "%s: %s starts with ~/, and HOME is %s",
		    setter(ld, (size_t)(s - settings), a, sizeof(a)),
		    quote(b, sizeof(b), *p), home == NULL ? "unset" :
		    "not an absolute path");
	}
	for (hlen = strlen(home); hlen > 0 && home[hlen - 1] == '/'; hlen--)
		;
	n = *p == NULL ? asprintf(&v, "%.*s/%s", (int)hlen, home, dflt) :
	    asprintf(&v, "%.*s%s", (int)hlen, home, *p + 1);
	if (n == -1)
		return fail(ld, "%s: out of memory", name);
	free(*p);
	*p = v;
	return 0;
}

/*
 * The AWS credential chain's settings together; which source signs is
 * creds.c's to decide (creds_plan), this only refuses what cannot mean
 * anything.  SigV4 needs both halves of a key, and a session token the
 * key; unsigned requests (aws_no_sign_request) with a key or a role is a
 * conflict; a web identity token needs its role, and a session name or
 * an external id a role to be given to; the container credentials have
 * one URL, and one token (or none) that needs it.
 */
static int
resolve_aws(struct load *ld)
{
	static const char *const signing[] = {
		"aws_access_key_id", "aws_role_arn"
	};
	static const char *const role_parts[] = {
		"aws_role_session_name", "aws_role_external_id"
	};
	static const char *const tokens[] = {
		"aws_container_authorization_token",
		"aws_container_authorization_token_file"
	};
	const struct setting *role = find_setting("aws_role_arn"),
	    *rel = find_setting("aws_container_credentials_relative_uri"),
	    *full = find_setting("aws_container_credentials_full_uri"), *s;
	struct config *cfg = &ld->cfg;
	char a[512];
	size_t k, i, n;

	if (home_file(ld, "aws_shared_credentials_file",
	    ".aws/credentials") == -1 ||
	    home_file(ld, "aws_config_file", ".aws/config") == -1)
		return -1;
	if ((cfg->aws_access_key_id == NULL) !=
	    (cfg->aws_secret_access_key == NULL))
		return fail(ld, "%s: required with %s (%s and %s go together)",
		    cfg->aws_access_key_id == NULL ? "aws_access_key_id" :
		    "aws_secret_access_key",
		    cfg->aws_access_key_id == NULL ? "aws_secret_access_key" :
		    "aws_access_key_id", "AWS_ACCESS_KEY_ID",
		    "AWS_SECRET_ACCESS_KEY");
	if (cfg->aws_session_token != NULL && cfg->aws_access_key_id == NULL)
		return fail(ld, "aws_session_token: needs aws_access_key_id and "
		    "aws_secret_access_key (AWS_ACCESS_KEY_ID, "
		    "AWS_SECRET_ACCESS_KEY)");
	if (cfg->aws_no_sign_request) {
		k = (size_t)(find_setting("aws_no_sign_request") - settings);
		for (n = 0; n < sizeof(signing) / sizeof(signing[0]); n++) {
			s = find_setting(signing[n]);
			if (given(ld, s))
				return conflict(ld, k, (size_t)(s - settings),
				    BOTH_SET);
		}
	}
	if (cfg->aws_web_identity_token_file != NULL &&
	    cfg->aws_role_arn == NULL)
		return required_with(ld, role,
		    find_setting("aws_web_identity_token_file"));
	if (cfg->aws_role_arn == NULL && needs(ld, role_parts,
	    sizeof(role_parts) / sizeof(role_parts[0]), role) == -1)
		return -1;
	if (given(ld, rel) && given(ld, full))
		return conflict(ld, (size_t)(rel - settings),
		    (size_t)(full - settings), BOTH_SET);
	k = (size_t)(find_setting(tokens[0]) - settings);
	i = (size_t)(find_setting(tokens[1]) - settings);
	if (given(ld, &settings[k]) && given(ld, &settings[i]))
		return conflict(ld, k, i, BOTH_SET);
	if (!given(ld, rel) && !given(ld, full))
		for (n = 0; n < 2; n++) {
			s = find_setting(tokens[n]);
			if (given(ld, s))
				return fail(ld, "%s: needs %s or %s (%s, %s)",
				    setter(ld, (size_t)(s - settings), a,
				    sizeof(a)), full->name, rel->name,
				    full->env[0], rel->env[0]);
		}
	return 0;
}

/* What the settings must satisfy together, once all sources are read. */
/* A region name: lowercase letters, digits and '-', with a digit in it. */
static int
region_like(const char *p, size_t n)
{
	size_t i, digits = 0;

	if (n < 4 || n > 32)
		return 0;
	for (i = 0; i < n; i++) {
		if (isdigit((unsigned char)p[i]))
			digits++;
		else if (!islower((unsigned char)p[i]) && p[i] != '-')
			return 0;
	}
	return digits > 0 && p[0] != '-' && p[n - 1] != '-';
}

int
config_region_from_host(const char *host, char *out, size_t len)
{
	static const char *const suffixes[] = {
		".amazonaws.com", ".amazonaws.com.cn", ".api.aws"
	};
	char h[256], *lab[8], *p;
	const char *r = NULL;
	size_t n = 0, i, hl = strlen(host), sl;

	if (hl == 0 || hl >= sizeof(h))
		return -1;
	/* Case does not matter in a host name; a trailing dot neither. */
	for (i = 0; i < hl; i++)
		h[i] = (char)tolower((unsigned char)host[i]);
	h[hl] = '\0';
	if (h[hl - 1] == '.')
		h[--hl] = '\0';
	for (i = 0, sl = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		sl = strlen(suffixes[i]);
		if (hl > sl && strcmp(h + hl - sl, suffixes[i]) == 0)
			break;
	}
	if (i == sizeof(suffixes) / sizeof(suffixes[0]))
		return -1;
	h[hl - sl] = '\0';
	/* The labels before the suffix, left to right. */
	for (p = h; n < sizeof(lab) / sizeof(lab[0]); p++) {
		lab[n++] = p;
		if ((p = strchr(p, '.')) == NULL)
			break;
		*p = '\0';
	}
	if (p != NULL)
		return -1;	/* too many labels for an endpoint */
	/* <vpce-id>.sqs.<region>.vpce: the interface endpoint's name. */
	if (n >= 3 && strcmp(lab[n - 1], "vpce") == 0)
		n--;
	if (n >= 2 && (strcmp(lab[n - 2], "sqs") == 0 ||
	    strcmp(lab[n - 2], "sqs-fips") == 0))
		r = lab[n - 1];
	else if (n == 2 && strcmp(lab[1], "queue") == 0)
		r = lab[0];
	else if (n == 1 && (strcmp(lab[0], "queue") == 0 ||
	    strcmp(lab[0], "sqs") == 0))
		r = "us-east-1";
	if (r == NULL || !region_like(r, strlen(r)) || strlen(r) + 1 > len)
		return -1;
	memcpy(out, r, strlen(r) + 1);
	return 0;
}

/*
 * aws_region: required unless the queue URL's host names it; when both
 * do and disagree, an error naming both (SQS refuses a signature scoped
 * to the wrong region with a 403 that reads as a credentials problem).
 */
static int
resolve_region(struct load *ld)
{
	struct config *cfg = &ld->cfg;
	const struct setting *rs = find_setting("aws_region");
	const char *renv = ld->envsrc[rs - settings];
	struct url u;
	char why[128], found[40];
	int has;

	if (cfg->queue_url == NULL ||
	    url_parse(cfg->queue_url, URL_QUEUE, &u, why, sizeof(why)) == -1)
		return 0;	/* queue_url's own check has spoken */
	has = config_region_from_host(u.host, found, sizeof(found)) == 0;
	url_free(&u);
	if (cfg->aws_region == NULL) {
		if (!has)
			return fail(ld, "aws_region: required setting is "
			    "missing, and the queue URL's host names no region "
			    "(set aws_region in the file or AWS_REGION)");
		if ((cfg->aws_region = strdup(found)) == NULL)
			return fail(ld, "aws_region: out of memory");
		cfg->aws_region_from_url = 1;
		return 0;
	}
	if (has && strcmp(found, cfg->aws_region) != 0)
		return fail(ld, "%s %s does not match the queue URL's region "
		    "%s (%s); SQS would refuse the signature", renv != NULL ?
		    renv : "aws_region", cfg->aws_region, found,
		    ld->envsrc[find_setting("queue_url") - settings] != NULL ?
		    "QUEUE_URL" : "queue_url");
	return 0;
}

static int
finish(struct load *ld)
{
	const struct setting *s, *min, *max;
	struct config *cfg = &ld->cfg;
	struct origin o = { NULL, 0, NULL, SRC_DEFAULT };
	char shown[32];
	long n;

	for (s = settings; s < settings + NSETTINGS; s++)
		if ((s->flags & F_REQUIRED) &&
		    *(char **)field(cfg, s) == NULL)
			return fail(ld, "%s: required setting is missing "
			    "(set %s in the file or %s)", s->name, s->name,
			    s->env[0]);
	if (resolve_sentinels(ld) == -1 || resolve_redis_url(ld) == -1 ||
	    resolve_tls(ld) == -1 || resolve_region(ld) == -1)
		return -1;
	min = find_setting("restart_backoff_min_ms");
	max = find_setting("restart_backoff_max_ms");
	if (cfg->restart_backoff_max_ms < cfg->restart_backoff_min_ms) {
		o.env = ld->envsrc[max - settings];
		snprintf(shown, sizeof(shown), o.env != NULL ? "'%d'" : "%d",
		    cfg->restart_backoff_max_ms);
		return bad(ld, max, &o, shown,
		    "is less than %s (%d)", min->name,
		    cfg->restart_backoff_min_ms);
	}
	if (resolve_aws(ld) == -1)
		return -1;
	if (cfg->consumers_auto) {
		/*
		 * One per two CPUs: a consumer is an event loop that keeps
		 * up to 32 polls going and drains some 10 000 msg/s on a
		 * quarter of a core, so on a 2-core host a second one mostly
		 * takes CPU and memory from Redis and the rest (bench/run.sh).
		 * A reload starts each replacement before it stops the
		 * consumer it replaces (master.c), so even one never stops
		 * consumption there; only a crash does, for its restart.
		 */
		n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
		if (n < 1)
			n = 1;
		if (n > CONFIG_MAX_CONSUMERS)
			n = CONFIG_MAX_CONSUMERS;
		cfg->consumers = (int)n;
	}
	return 0;
}

int
config_load(struct config *cfg, const char *path, config_getenv_fn getenv_fn,
    char *err, size_t errlen)
{
	struct load *ld;

	memset(cfg, 0, sizeof(*cfg));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((ld = calloc(1, sizeof(*ld))) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "config: out of memory");
		return -1;
	}
	ld->err = err;
	ld->errlen = errlen;
	if (getenv_fn == NULL)
		getenv_fn = default_getenv;
	ld->get = getenv_fn;
	if (set_defaults(ld) == -1 ||
	    read_file(ld, path != NULL ? path : CONFIG_DEFAULT_PATH,
	    path != NULL) == -1 ||
	    read_env(ld, getenv_fn) == -1 ||
	    read_credentials(ld, getenv_fn) == -1 ||
	    finish(ld) == -1) {
		config_free(&ld->cfg);
		free(ld);
		return -1;
	}
	*cfg = ld->cfg;
	free(ld);
	return 0;
}

void
config_free(struct config *cfg)
{
	const struct setting *s;

	for (s = settings; s < settings + NSETTINGS; s++)
		if (s->kind == K_STR)
			free_str(field(cfg, s), s->flags & F_SECRET);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

size_t
config_secrets(const struct config *cfg, const char **out, size_t max)
{
	const struct setting *s;
	const char *v;
	size_t n = 0;

	for (s = settings; s < settings + NSETTINGS && n < max; s++) {
		if (s->kind != K_STR || !(s->flags & F_SECRET))
			continue;
		v = *(char *const *)((const char *)cfg + s->off);
		if (v != NULL && *v != '\0')
			out[n++] = v;
	}
	return n;
}

/* The name of value v in a NULL-terminated list, "unknown" when out of range. */
static const char *
enum_name(const char *const *names, size_t n, unsigned v)
{
	return v < n - 1 ? names[v] : "unknown";
}

#define ENUM_NAME(names, v) \
	enum_name(names, sizeof(names) / sizeof(names[0]), (unsigned)(v))

const char *
config_policy_name(enum config_policy p)
{
	return ENUM_NAME(policy_names, p);
}

const char *
config_log_level_name(enum config_log_level l)
{
	return ENUM_NAME(level_names, l);
}

const char *
config_log_format_name(enum config_log_format f)
{
	return ENUM_NAME(format_names, f);
}

const char *
config_poison_name(enum config_poison p)
{
	return ENUM_NAME(poison_names, p);
}

const char *
config_package_name(enum config_package p)
{
	return ENUM_NAME(package_names, p);
}
