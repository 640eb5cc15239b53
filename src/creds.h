/*
 * creds: the AWS credentials a consumer signs with, found as the AWS SDKs'
 * default chain finds them, and kept fresh.
 *
 * The chain, first source configured wins (creds_plan): the explicit
 * settings (aws_access_key_id...), web identity (a token file and a role:
 * STS AssumeRoleWithWebIdentity), the shared files' profile (static keys,
 * credential_process, role_arn with source_profile or credential_source:
 * STS AssumeRole), container credentials (ECS, EKS Pod Identity), EC2
 * instance metadata (IMDSv2).  aws_role_arn without a token file is a role
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

struct config;
struct ev_loop;
struct httpc;

struct creds_value {
	char	*access_key_id;
	char	*secret_access_key;	/* secret */
	char	*session_token;		/* secret; NULL for long-term keys */
	int64_t	 expires_ms;		/* wall clock; 0: never */
};

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
 * One line for -t and the start's log, never a secret: "profile 'ci' in
 * /root/.aws/config: credential_process", "web identity: role
 * arn:aws:iam::1:role/r (AWS_WEB_IDENTITY_TOKEN_FILE)", "instance
 * metadata (IMDSv2) at http://169.254.169.254", "then role ... assumed".
 */
void	creds_plan_describe(const struct creds_plan *p, char *buf, size_t len);
void	creds_plan_free(struct creds_plan *p);

struct creds;

/*
 * Called when the credentials become usable (ok 1) or stop being so (ok
 * 0, reason one line: "aws: credentials: instance metadata: no answer
 * within 1s"); a refresh that fails while the current ones are still
 * valid is logged, not reported.
 */
typedef void (*creds_state_fn)(void *arg, int ok, const char *reason);

/*
 * A provider for plan on loop, fetching over hc; the first fetch starts
 * from the loop, never from inside creds_new.  NULL with err on bad
 * input.  plan is the caller's and outlives the provider.
 */
struct creds *creds_new(struct ev_loop *loop, struct httpc *hc,
	    const struct config *cfg, const struct creds_plan *plan,
	    creds_state_fn fn, void *arg, char *err, size_t errlen);
void	creds_free(struct creds *c);
/* The credentials to sign with now, NULL while there are none. */
const struct creds_value *creds_current(const struct creds *c);
/*
 * A request signed with the current credentials was refused as if they
 * were expired or revoked (ExpiredToken, InvalidClientTokenId): fetch
 * again now rather than at the planned time.  Harmless for static keys.
 */
void	creds_invalidate(struct creds *c);

#endif
