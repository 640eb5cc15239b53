/*
 * config: the daemon's settings.  They come from a libconfig file and are
 * overridden, one by one, by environment variables named as in Stigg's own
 * container (and its Helm chart), so this daemon is a drop-in for it.
 * Parsing and validation are pure: no logging, no exiting; errors are
 * written to the caller's buffer as one line naming the setting.
 */
#ifndef PCS_CONFIG_H
#define PCS_CONFIG_H

#include <stddef.h>

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/persistent-cache-service/persistent-cache-service.conf"

enum config_policy {
	CONFIG_POLICY_UPSERT = 0,
	CONFIG_POLICY_UPDATE_IF_EXISTS
};

enum config_poison {
	CONFIG_POISON_KEEP = 0,		/* leave for the queue's redrive policy */
	CONFIG_POISON_DELETE
};

enum config_package {
	CONFIG_PACKAGE_INVALIDATE = 0,	/* remove every cached customer */
	CONFIG_PACKAGE_IGNORE
};

/* Ordered by verbosity: a message is logged when its level <= the setting. */
enum config_log_level {
	CONFIG_LOG_ERROR = 0,
	CONFIG_LOG_WARN,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG
};

/* How a log line is written: see log.h. */
enum config_log_format {
	CONFIG_LOG_TEXT = 0,	/* time, [level], process[pid]: text */
	CONFIG_LOG_JSON		/* one JSON object a line */
};

/* Sentinels listed at most, and their port when none is given. */
#define CONFIG_MAX_SENTINELS	16
#define CONFIG_SENTINEL_PORT	26379

struct config_hostport {
	char	host[256];		/* a name or an address, no brackets */
	int	port;
};

struct config {
	/* Stigg's container settings. */
	char	*queue_url;		/* QUEUE_URL, required */
	char	*aws_region;		/* AWS_REGION, required */
	char	*aws_access_key_id;	/* secret */
	char	*aws_secret_access_key;	/* secret */
	char	*aws_session_token;	/* secret */
	/*
	 * The rest of the AWS credential chain (creds.c), after the three
	 * explicit settings above, in the AWS SDKs' order: web identity, the
	 * shared files' profile, container credentials, instance metadata.
	 * The environment names are the AWS SDKs'.
	 */
	char	*aws_profile;		/* AWS_PROFILE; NULL: "default" */
	/*
	 * Absolute: config_load expands a leading ~/ and, when unset, puts
	 * $HOME/.aws/credentials and $HOME/.aws/config; NULL without HOME.
	 */
	char	*aws_shared_credentials_file;
	char	*aws_config_file;
	char	*aws_web_identity_token_file;
	char	*aws_role_arn;		/* with the token file: web identity;
					   without: assumed on top of the
					   chain's credentials */
	char	*aws_role_session_name;	/* NULL: persistent-cache-service-<host> */
	char	*aws_role_external_id;	/* AWS_ROLE_EXTERNAL_ID (ours) */
	char	*aws_container_credentials_relative_uri;
	char	*aws_container_credentials_full_uri;
	char	*aws_container_authorization_token;	/* secret */
	char	*aws_container_authorization_token_file;
	int	 aws_ec2_metadata_disabled;	/* 0 */
	char	*aws_endpoint_url_sts;	/* NULL: https://sts.<region>.amazonaws.com */
	char	*aws_ec2_metadata_service_endpoint; /* NULL: http://169.254.169.254 */
	int	 aws_no_sign_request;	/* 1: unsigned (an emulator), no chain */
	char	*aws_ca_bundle;		/* AWS_CA_BUNDLE: SQS, STS, Edge API */
	int	 aws_region_from_url;	/* 1: aws_region taken from queue_url */
	char	*server_api_key;	/* secret */
	char	*environment_prefix;	/* "production" */
	char	*redis_host;		/* "localhost" */
	int	 redis_port;		/* 6379, 1..65535 */
	int	 redis_db;		/* 0, >= 0 */
	char	*redis_user;
	char	*redis_password;	/* secret */
	char	*redis_url;		/* secret; sets the five above */
	/*
	 * Sentinel (sentinel.c): the primary is discovered, never redis_host;
	 * redis_db, redis_user and redis_password are the data connection's.
	 */
	char	*redis_sentinels;	/* "host:port,[v6]:port,..." */
	char	*redis_sentinel_master;	/* required with redis_sentinels */
	char	*redis_sentinel_user;
	char	*redis_sentinel_password; /* secret */
	size_t	 nsentinels;		/* parsed redis_sentinels */
	struct config_hostport sentinels[CONFIG_MAX_SENTINELS];
	/*
	 * TLS (rconn.c), for the data connection and the sentinels'.  The
	 * files are absolute paths; cert and key go together.
	 */
	int	 redis_tls;		/* 0; a rediss:// redis_url sets it */
	int	 redis_tls_verify;	/* 1: the certificate and its name */
	char	*redis_tls_ca_file;	/* NULL: the system's trust store */
	char	*redis_tls_ca_dir;	/* c_rehash'd directory */
	char	*redis_tls_cert_file;	/* client certificate (mutual TLS) */
	char	*redis_tls_key_file;	/* its key */
	char	*redis_tls_key_passphrase; /* secret */
	char	*redis_tls_server_name;	/* NULL: the host connected to */
	int	 batch_size;		/* 10 (the container: 1), 1..10 */
	long long keys_ttl;		/* 604800; < 0: no expiry; never 0 */
	char	*edge_api_url;		/* "https://edge.api.stigg.io" */
	char	*sentry_dsn;		/* secret; sentry.c reports to it */
	int	 disable_sentry;
	char	*sentry_environment;	/* NULL: sentry_environment() */
	int	 sentry_redis_down_secs; /* 60, 1..86400 */
	int	 port;			/* 4000, 1..65535 */
	enum config_policy cache_update_policy;

	/* The daemon's own settings: the queue. */
	int	 wait_time;		/* long poll, seconds, 20, 0..20 */
	int	 visibility_timeout;	/* seconds, 60, 1..43200 */
	int	 receives_in_flight;	/* per consumer, the most, 32, 1..32 */
	enum config_poison poison_policy;
	int	 poison_visibility_timeout; /* seconds, 600, 0..43200 */
	int	 held_messages_max;	/* per consumer, 1000, 0..100000 */
	enum config_package on_package_published;

	/* The daemon's own settings: processes and logs. */
	int	 consumers;		/* resolved count, 1..CONFIG_MAX_CONSUMERS */
	int	 consumers_auto;	/* 1 when "auto" picked the count */
	char	*listen_address;	/* "0.0.0.0" */
	enum config_log_level log_level;
	enum config_log_format log_format; /* text */
	char	*log_file;		/* NULL: stderr */
	int	 drain_timeout;		/* seconds, 30, 1..3600 */
	int	 restart_backoff_min_ms; /* 100, 10..60000 */
	int	 restart_backoff_max_ms; /* 30000, min..600000 */
	int	 hang_timeout;		/* seconds, 30, 3..3600 */

	char	*path;			/* file read, NULL if none */
};

#define CONFIG_MAX_CONSUMERS 64

/* Where config_load reads environment variables from (tests pass their own). */
typedef const char *(*config_getenv_fn)(const char *name);

/*
 * Fills cfg with defaults, then the file at path (when path is NULL the
 * default path is read if it exists; an explicit path must exist), then
 * the environment through getenv_fn (getenv when NULL), then validates.
 * Returns 0, or -1 with one line in err naming the setting (and file:line
 * for a parse error).  On -1 cfg holds nothing that needs freeing.
 * Never puts a secret's value in err.
 */
int	config_load(struct config *cfg, const char *path,
	    config_getenv_fn getenv_fn, char *err, size_t errlen);
void	config_free(struct config *cfg);

/*
 * Parse a REDIS_SENTINELS list, "host:port,host:port,..." (IPv6 as
 * [addr]:port; a missing port is CONFIG_SENTINEL_PORT; blanks around an
 * entry are ignored) into out.  Returns the count (1..max), or -1 with
 * why.  Pure.
 */
int	config_parse_sentinels(const char *v, struct config_hostport *out,
	    size_t max, char *why, size_t whylen);

/*
 * The region an SQS endpoint host names: sqs.<region>.amazonaws.com,
 * sqs-fips.<region>.amazonaws.com, <vpce-id>.sqs.<region>.vpce.amazonaws.com,
 * <region>.queue.amazonaws.com, sqs.<region>.api.aws, the .amazonaws.com.cn
 * forms, and queue.amazonaws.com (us-east-1).  0 with out, or -1 when the
 * host is none of those (an emulator, a proxy).  Pure.
 */
int	config_region_from_host(const char *host, char *out, size_t len);

/*
 * The AWS identifiers a setting or a shared file's profile gives (creds.c
 * checks the profiles' with these): 0 when v is valid, else -1; the
 * CONFIG_WHY_ strings say what is wanted.  Pure.
 */
int	config_check_role_arn(const char *v);
int	config_check_session_name(const char *v);
int	config_check_external_id(const char *v);
#define CONFIG_WHY_ROLE_ARN	"must be a role's ARN, " \
				"arn:aws:iam::<12 digits>:role/<name>"
#define CONFIG_WHY_SESSION_NAME	"must be 2 to 64 letters, digits and +=,.@_-"
#define CONFIG_WHY_EXTERNAL_ID	"must be 2 to 1224 letters, digits and " \
				"+=,.@:/_-"

/*
 * The values of the secret settings that are set (the AWS keys, the API
 * key, the Redis passwords and URL, the DSN...), for util_redact: at
 * most max of them into out, pointers into cfg; their count.  Pure.
 */
size_t	config_secrets(const struct config *cfg, const char **out, size_t max);

const char *config_policy_name(enum config_policy);
const char *config_log_level_name(enum config_log_level);
const char *config_log_format_name(enum config_log_format);
const char *config_poison_name(enum config_poison);
const char *config_package_name(enum config_package);

#endif
