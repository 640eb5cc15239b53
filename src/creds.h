/*
 * creds: the AWS credentials a consumer signs with, found as the AWS SDKs'
 * default chain finds them, and kept fresh.
 *
 * The chain, first source configured wins (creds_plan): the explicit
 * settings (aws_access_key_id...), web identity (a token file and a role:
 * STS AssumeRoleWithWebIdentity), the shared files' profile (static keys,
 * credential_process, role_arn with source_profile or credential_source:
 * STS AssumeRole), container credentials (ECS, EKS Pod Identity), EC2
 * instance metadata (IMDSv2).  aws_profile set puts its profile first,
 * as the AWS SDK for Go does, so that its credential_source = Environment
 * can take the explicit keys.  aws_role_arn without a token file is a role
 * assumed on top of what the chain found.  aws_no_sign_request: none.
 *
 * A live provider (creds_new) fetches on the consumer's loop, never
 * blocking it (HTTP through httpc, credential_process as a child process
 * read through a pipe), and refreshes temporary credentials ahead of
 * their expiry, keeping the current ones until the new ones are in: a
 * failed refresh is retried with backoff while the current ones last.
 */
#ifndef PCS_CREDS_H
#define PCS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct config;
struct ev_loop;
struct httpc;

struct creds_value {
	char	*access_key_id;
	char	*secret_access_key;	/* secret */
	char	*session_token;		/* secret; NULL for long-term keys */
	int64_t	 expires_ms;		/* wall clock; 0: never */
};

/* The longest reason a provider gives (creds_state_fn, creds_reason). */
#define CREDS_REASON_MAX	512

/* The chain's choice for cfg: what -t prints and a provider follows. */
struct creds_plan;

/*
 * Decide the source for cfg, reading the shared files when the chain
 * gets to them.  0 with *out (NULL when aws_no_sign_request), or -1 with
 * one line in err naming the setting or the file ("aws: profile 'ci' is
 * in neither /root/.aws/credentials nor /root/.aws/config"; "aws: no
 * credentials: ... and AWS_EC2_METADATA_DISABLED is set").
 */
int	creds_plan(const struct config *cfg, struct creds_plan **out,
	    char *err, size_t errlen);
/*
 * One line for -t and the start's log, never a secret: "profile 'ci'
 * (credential_process) in /root/.aws/config", "web identity: role
 * arn:aws:iam::1:role/r (AWS_WEB_IDENTITY_TOKEN_FILE ...)", "instance
 * metadata (IMDSv2) at http://169.254.169.254", a role on top first:
 * "role arn:... (AWS_ROLE_ARN), from ...".  p NULL: unsigned requests.
 */
void	creds_plan_describe(const struct creds_plan *p, char *buf, size_t len);
void	creds_plan_free(struct creds_plan *p);

struct creds;

/*
 * Called when the credentials become usable (ok 1) or stop being so (ok
 * 0, reason one line: "aws: credentials: instance metadata: no answer
 * within 1s"); ok 1 also after each refresh that brought new ones, so
 * that a caller waiting out a refusal of the old ones can try again.  A
 * refresh that fails while the current ones are still valid is logged,
 * not reported.
 */
typedef void (*creds_state_fn)(void *arg, int ok, const char *reason);

/*
 * A provider for plan on loop, fetching over hc; the first fetch starts
 * from the loop, never from inside creds_new (static keys are current
 * at once, and reported from the loop too).  NULL with err on bad input.
 * plan is the caller's and outlives the provider.  fn may free the
 * provider.
 */
struct creds *creds_new(struct ev_loop *loop, struct httpc *hc,
	    const struct config *cfg, const struct creds_plan *plan,
	    creds_state_fn fn, void *arg, char *err, size_t errlen);
/*
 * Count each refresh into mc (credentials in: ok; a fetch of the chain
 * failed: failed).  mc NULL: no counting.
 */
void	creds_set_counters(struct creds *c, struct metrics_counters *mc);
/* Stops every fetch (a credential_process is killed); no callbacks. */
void	creds_free(struct creds *c);
/* The credentials to sign with now, NULL while there are none. */
const struct creds_value *creds_current(const struct creds *c);
/* Why there are none (the last failure), for an error line. */
const char *creds_reason(const struct creds *c);
/*
 * A request signed with the current credentials was refused as if they
 * were expired or revoked (ExpiredToken, InvalidClientTokenId): fetch
 * again now rather than at the planned time.  Harmless for static keys;
 * at most once every few seconds, so that the other requests refused
 * alike do not each start a fetch.
 */
void	creds_invalidate(struct creds *c);

/* Pure helpers, exported for the unit tests. */

/*
 * When to fetch again credentials fetched at now_ms (wall clock) that
 * expire at expires_ms: ahead of the expiry by a third of their lifetime,
 * at most five minutes, less a jitter from rnd (up to a quarter of that
 * lead), so that consumers do not all ask at once.  0 when they never
 * expire.
 */
int64_t	creds_refresh_at(int64_t now_ms, int64_t expires_ms, uint32_t rnd);
/* ISO 8601 / RFC 3339 ("2026-12-02T01:44:35Z", ".5+01:00"): 0 or -1. */
int	creds_parse_time(const char *s, int64_t *ms);
/*
 * An STS AssumeRole or AssumeRoleWithWebIdentity answer's Credentials
 * into *out (free with creds_value_free): 0, or -1 with err.
 */
int	creds_parse_sts(const char *body, size_t len, struct creds_value *out,
	    char *err, size_t errlen);
/* An STS ErrorResponse's Code and Message: 0, or -1 when it is none. */
int	creds_parse_sts_error(const char *body, size_t len, char *code,
	    size_t codelen, char *message, size_t messagelen);

enum creds_json {
	CREDS_JSON_PROCESS,	/* credential_process: Version 1 */
	CREDS_JSON_CONTAINER,	/* ECS, EKS Pod Identity */
	CREDS_JSON_IMDS		/* instance metadata: Code "Success" */
};

/* A JSON source's answer into *out: 0, or -1 with err. */
int	creds_parse_json(enum creds_json kind, const char *body, size_t len,
	    struct creds_value *out, char *err, size_t errlen);
/* Fit for a header: every byte printable ASCII, no space; 0 or -1. */
int	creds_check_value(const struct creds_value *v, char *err,
	    size_t errlen);
/* Zero the secrets and free them; v is empty afterwards. */
void	creds_value_free(struct creds_value *v);

/* The AWS shared files, as the SDKs read them. */
struct creds_ini;

/*
 * Parse text: sections, "key = value" (or ':'), comments on lines of
 * their own (# or ;), indented lines continuing a value (joined with a
 * space), or, after a key with no value, a nested section (s3 = ...)
 * that is skipped.  In the
 * config file (config 1) a profile is "[profile name]" or "[default]";
 * other sections are skipped.  0 with *out, or -1 with err ("line 3:
 * ...").
 */
int	creds_ini_parse(const char *text, size_t len, int config,
	    struct creds_ini **out, char *err, size_t errlen);
/* Whether the profile has a section; a key of it (keys are lowercase). */
int	creds_ini_has(const struct creds_ini *ini, const char *profile);
const char *creds_ini_get(const struct creds_ini *ini, const char *profile,
	    const char *key);
void	creds_ini_free(struct creds_ini *ini);

#endif
