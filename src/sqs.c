/*
 * sqs: ReceiveMessage, DeleteMessageBatch and ChangeMessageVisibilityBatch
 * over the AWS JSON 1.0 protocol.  It owns the queue's endpoint, the
 * request bodies it builds, and one sqs_call per request in flight on the
 * caller's httpc client; the credentials are the provider's (creds.c).
 *
 * Every request is a POST to the queue URL's endpoint (scheme://host/,
 * the path stripped; the body names the queue in "QueueUrl") with
 * "Content-Type: application/x-amz-json-1.0" and "X-Amz-Target:
 * AmazonSQS.<Action>", signed with SigV4 for service "sqs" by httpc
 * (curl or sigv4_sign; temporary credentials add the signed
 * X-Amz-Security-Token header) with the provider's current credentials
 * when the request starts, so that a refresh takes effect at the next
 * request; while the provider has none a request fails at once, with its
 * reason.  An answer refusing the credentials as expired or unknown
 * (ExpiredToken, InvalidClientTokenId) asks the provider for new ones.
 * Without a provider (aws_no_sign_request) requests go unsigned, for an
 * emulator; real SQS answers 403 MissingAuthenticationToken, classified
 * SQS_AUTH like any other credential problem.
 *
 * A clock-skew error (sigv4_is_skew_error: "Signature expired", ...)
 * that comes with a Date header sets the process' signing clock to SQS'
 * time (sigv4_set_offset), logged when the offset moves by more than
 * SIGV4_SKEW_LOG_S, and is classified SQS_SERVER: retried soon, and the
 * next request is signed right.  Without a Date it stays SQS_AUTH.
 *
 * Secrets never reach an error line: AWS messages are cut at their first
 * line break (SignatureDoesNotMatch may append the canonical request,
 * which holds the signed headers), and any secret, session token or access
 * key id still in a line is replaced by "[redacted]" (util_redact; also
 * the start of one where a line was cut).  The queue URL passes url_parse
 * with URL_QUEUE, the rules -t applies.
 */

#include "autoconf.h"

#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "creds.h"
#include "httpc.h"
#include "jdoc.h"
#include "jw.h"
#include "log.h"
#include "sigv4.h"
#include "sqs.h"
#include "url.h"
#include "util.h"

/*
 * Beyond the long poll itself, the answer to a ReceiveMessage needs a few
 * seconds at worst (connect, TLS, up to 10 messages); ten more seconds
 * tell a slow answer from a dead connection.
 */
#define SQS_POLL_SLACK_MS	10000L
/*
 * The largest answer to a ReceiveMessage we accept, per message asked
 * for: a body of up to SQS' message size limit (1 MiB since 2025, 256 KiB
 * before), twice over for JSON escaping (a JSON body inside the JSON
 * answer grows by a backslash per quote), plus id, receipt handle and
 * attributes.  A lower cap would turn a batch of large messages into an
 * error on every poll until they reach the dead-letter queue.
 */
#define SQS_RECEIVE_BODY_PER_MSG	(2 * 1024 * 1024 + 16 * 1024)
/* Batch actions are answered in milliseconds; ten seconds is an outage. */
#define SQS_BATCH_TIMEOUT_MS	10000L
/* Longest AWS message kept in an error line. */
#define SQS_MESSAGE_MAX		200
/* How an AWS code or message is copied: its first line, on one line. */
#define SQS_CLEAN		(UTIL_CLEAN_LINE | UTIL_CLEAN_SPACE)
/* A set of credentials for util_redact: key id, secret, token. */
#define SQS_NSECRETS		3
/* An AWS error code, "InvalidClientTokenId", with its NUL. */
#define SQS_CODE_MAX		64
/*
 * A new offset of the signing clock is logged when it moves by more than
 * this: Date has a resolution of one second, and an answer takes some
 * time to come, so corrections a second or two apart are the same one.
 */

enum sqs_action {
	SQS_RECEIVE,
	SQS_DELETE,
	SQS_CHANGE
};

static const char *const action_names[] = {
	[SQS_RECEIVE] = "ReceiveMessage",
	[SQS_DELETE] = "DeleteMessageBatch",
	[SQS_CHANGE] = "ChangeMessageVisibilityBatch"
};

static const char *const target_headers[] = {
	[SQS_RECEIVE] = "X-Amz-Target: AmazonSQS.ReceiveMessage",
	[SQS_DELETE] = "X-Amz-Target: AmazonSQS.DeleteMessageBatch",
	[SQS_CHANGE] = "X-Amz-Target: AmazonSQS.ChangeMessageVisibilityBatch"
};

struct sqs_call {
	LIST_ENTRY(sqs_call)	 entry;
	struct sqs		*s;
	struct httpc_call	*hc;
	enum sqs_action		 action;
	int			 calling;	/* its callback is running */
	sqs_receive_fn		 rfn;
	sqs_batch_fn		 bfn;
	void			*arg;
	size_t			 n;		/* batch entries */
	uint64_t		 started_us;	/* monotonic */
	/* Copies of what signed it, for redaction; NULL: unsigned. */
	char			*signed_with[SQS_NSECRETS];
};

struct sqs {
	struct httpc		*hc;
	char			*queue_url;
	char			*endpoint;
	char			*region;
	struct creds		*creds;		/* NULL: unsigned */
	struct metrics_counters	*mc;		/* NULL: not counted */
	struct util_reentry	 re;		/* callbacks running */
	LIST_HEAD(, sqs_call)	 calls;
};

/* The credentials themselves refused: the provider fetches new ones. */
static const char *const stale_codes[] = {
	"ExpiredToken", "InvalidClientTokenId", NULL
};

static const char *const auth_codes[] = {
	"InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied",
	"UnrecognizedClient", "MissingAuthenticationToken", "ExpiredToken",
	"IncompleteSignature", NULL
};

/*
 * Slow down, whatever the HTTP status: SQS answers OverLimit (too many
 * messages in flight) and RequestThrottled with 403, which alone would
 * read as a credential problem, so codes are matched before statuses.
 * "Throttl" covers ThrottlingException, RequestThrottled, KmsThrottled
 * and the like; the rest is the throttling list of the AWS SDKs'
 * standard retry mode (botocore, aws-sdk-go-v2).
 */
static const char *const throttle_codes[] = {
	"Throttl", "TooManyRequests", "OverLimit", "RequestLimitExceeded",
	"BandwidthLimitExceeded", "LimitExceededException", "SlowDown",
	"ProvisionedThroughputExceeded", "PriorRequestNotComplete",
	"TransactionInProgress", NULL
};

/* A transient answer that may come without a 5xx: retried like one. */
static const char *const transient_codes[] = {
	"RequestTimeout", NULL
};

const char *
sqs_status_name(enum sqs_status st)
{
	switch (st) {
	case SQS_OK:		return "ok";
	case SQS_AUTH:		return "auth";
	case SQS_THROTTLED:	return "throttled";
	case SQS_SERVER:	return "server";
	case SQS_NETWORK:	return "network";
	case SQS_CLIENT:	return "client";
	case SQS_PROTOCOL:	return "protocol";
	}
	return "unknown";
}

/*
 * A numeric attribute: SQS sends strings of digits; a JSON integer is
 * accepted too.  Anything else reads as missing (0): attributes inform,
 * they do not decide whether a message is processed.
 */
static int64_t
get_attr_int(const struct jnode *attrs, const char *key, int64_t max)
{
	const struct jnode *v;
	const char *s;
	int64_t x = 0;

	if ((v = jnode_member(attrs, key)) == NULL)
		return 0;
	if (v->type == JT_INT) {
		x = v->v.i;
		return x >= 0 && x <= max ? x : 0;
	}
	if (v->type != JT_STRING)
		return 0;
	s = v->s;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || x > (max - (*s - '0')) / 10)
			return 0;
		x = x * 10 + (*s - '0');
	}
	return x;
}

void
sqs_messages_free(struct sqs_message *msgs, size_t n)
{
	size_t i;

	if (msgs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(msgs[i].message_id);
		free(msgs[i].receipt_handle);
		free(msgs[i].body);
	}
	free(msgs);
}

static char *
dup_len(const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * An answer of SQS as JSON, in d (jdoc_free it in every case): strict,
 * as AWS writes it; an error names the offset.
 */
static const struct jnode *
parse_answer(struct jdoc *d, const char *body, size_t len, char *err,
    size_t errlen)
{
	switch (jdoc_parse(d, body, len)) {
	case 0:
		if (d->n->type == JT_OBJECT)
			return d->n;
		util_set_err(err, errlen, "answer is not a JSON object");
		return NULL;
	case JDOC_NOMEM:
		util_set_err(err, errlen, "out of memory");
		return NULL;
	default:
		if (len == 0)
			util_set_err(err, errlen, "empty answer");
		else
			util_set_err(err, errlen, "malformed JSON: %s at offset "
			    "%zu", d->what, d->at);
		return NULL;
	}
}

static int
parse_message(const struct jnode *m, size_t i, struct sqs_message *out,
    char *err, size_t errlen)
{
	const struct jnode *attrs;
	const char *id, *rh, *body;
	size_t idlen, rhlen, bodylen;

	if (m->type != JT_OBJECT) {
		util_set_err(err, errlen, "Messages[%zu] is not an object", i);
		return -1;
	}
	if (jnode_string(m, "MessageId", &id, &idlen) != 1 || idlen == 0) {
		util_set_err(err, errlen, "Messages[%zu]: MessageId is missing or "
		    "not a string", i);
		return -1;
	}
	if (jnode_string(m, "ReceiptHandle", &rh, &rhlen) != 1 ||
	    rhlen == 0) {
		util_set_err(err, errlen, "Messages[%zu]: ReceiptHandle is missing "
		    "or not a string", i);
		return -1;
	}
	if (jnode_string(m, "Body", &body, &bodylen) != 1) {
		util_set_err(err, errlen, "Messages[%zu]: Body is missing or not a "
		    "string", i);
		return -1;
	}
	if ((attrs = jnode_member(m, "Attributes")) != NULL &&
	    attrs->type != JT_NULL && attrs->type != JT_OBJECT) {
		util_set_err(err, errlen, "Messages[%zu]: Attributes is not an "
		    "object", i);
		return -1;
	}
	if ((out->message_id = dup_len(id, idlen)) == NULL ||
	    (out->receipt_handle = dup_len(rh, rhlen)) == NULL ||
	    (out->body = dup_len(body, bodylen)) == NULL) {
		util_set_err(err, errlen, "out of memory");
		return -1;
	}
	out->body_len = bodylen;
	out->sent_timestamp_ms = get_attr_int(attrs, "SentTimestamp",
	    INT64_MAX);
	out->receive_count = (int)get_attr_int(attrs,
	    "ApproximateReceiveCount", INT_MAX);
	return 0;
}

int
sqs_parse_receive(const char *body, size_t len, struct sqs_message **out,
    size_t *n, char *err, size_t errlen)
{
	const struct jnode *root, *msgs, *e;
	struct sqs_message *m = NULL;
	struct jdoc d;
	size_t i, count;

	*out = NULL;
	*n = 0;
	/*
	 * SQS answers "{}" when a poll ends empty; some emulators
	 * (local-aws-sqs) send no body at all.  Both mean no messages.
	 */
	for (i = 0; i < len && isspace((unsigned char)body[i]); i++)
		;
	if (i == len)
		return 0;
	if ((root = parse_answer(&d, body, len, err, errlen)) == NULL)
		goto fail;
	if ((msgs = jnode_member(root, "Messages")) == NULL ||
	    msgs->type == JT_NULL) {
		jdoc_free(&d);
		return 0;
	}
	if (msgs->type != JT_ARRAY) {
		util_set_err(err, errlen, "Messages is not an array");
		goto fail;
	}
	if ((count = msgs->len) == 0) {
		jdoc_free(&d);
		return 0;
	}
	if ((m = calloc(count, sizeof(*m))) == NULL) {
		util_set_err(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0, e = msgs + 1; i < count; i++, e = jnode_next(e)) {
		if (parse_message(e, i, &m[i], err, errlen) == -1) {
			sqs_messages_free(m, i + 1);
			goto fail;
		}
	}
	jdoc_free(&d);
	*out = m;
	*n = count;
	return 0;

fail:
	jdoc_free(&d);
	return -1;
}

/* An entry Id we sent: its index, "0".."n-1", nothing else. */
static int
parse_id(const char *id, size_t n, size_t *idx)
{
	size_t x = 0;
	const char *p;

	if (id == NULL || *id == '\0' || (id[0] == '0' && id[1] != '\0'))
		return -1;
	for (p = id; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || x >= n)
			return -1;
		x = x * 10 + (size_t)(*p - '0');
	}
	if (x >= n)
		return -1;
	*idx = x;
	return 0;
}

/* An AWS code or message for an error line; 1 when it was cut. */
static int
copy_clean(char *dst, size_t dstlen, const char *src, size_t max)
{
	return util_clean(dst, dstlen, src, src != NULL ? strlen(src) : 0,
	    max, SQS_CLEAN);
}

/* SenderFault: AWS sends a boolean; "true" as a string is read so too. */
static int
sf_true(const struct jnode *v)
{
	if (v->type == JT_BOOL)
		return v->v.b;
	return v->type == JT_STRING && strcasecmp(v->s, "true") == 0;
}

static int
parse_batch_list(const struct jnode *root, const char *key, int failed,
    struct sqs_entry_result *res, size_t n, char *err, size_t errlen)
{
	const struct jnode *list, *e, *sf;
	const char *id, *code, *msg;
	size_t i, count, idx;

	if ((list = jnode_member(root, key)) == NULL || list->type == JT_NULL)
		return 0;
	if (list->type != JT_ARRAY) {
		util_set_err(err, errlen, "%s is not an array", key);
		return -1;
	}
	count = list->len;
	for (i = 0, e = list + 1; i < count; i++, e = jnode_next(e)) {
		if (e->type != JT_OBJECT) {
			util_set_err(err, errlen, "%s[%zu] is not an object", key,
			    i);
			return -1;
		}
		if (jnode_string(e, "Id", &id, NULL) != 1 ||
		    parse_id(id, n, &idx) == -1) {
			util_set_err(err, errlen, "%s[%zu]: Id is missing or not "
			    "one we sent", key, i);
			return -1;
		}
		if (!failed) {
			memset(&res[idx], 0, sizeof(res[idx]));
			res[idx].ok = 1;
			continue;
		}
		if (jnode_string(e, "Code", &code, NULL) == -1 ||
		    jnode_string(e, "Message", &msg, NULL) == -1) {
			util_set_err(err, errlen, "%s[%zu]: Code or Message is not "
			    "a string", key, i);
			return -1;
		}
		res[idx].ok = 0;
		res[idx].sender_fault = 0;
		if ((sf = jnode_member(e, "SenderFault")) != NULL)
			res[idx].sender_fault = sf_true(sf);
		(void)copy_clean(res[idx].code, sizeof(res[idx].code), code,
		    sizeof(res[idx].code) - 1);
		(void)copy_clean(res[idx].message, sizeof(res[idx].message),
		    msg, sizeof(res[idx].message) - 1);
	}
	return 0;
}

int
sqs_parse_batch(const char *body, size_t len, struct sqs_entry_result *res,
    size_t n, char *err, size_t errlen)
{
	const struct jnode *root;
	struct jdoc d;
	size_t i;
	int nfailed = 0;

	for (i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		snprintf(res[i].message, sizeof(res[i].message),
		    "no result for this entry in the answer");
	}
	if ((root = parse_answer(&d, body, len, err, errlen)) == NULL ||
	    parse_batch_list(root, "Successful", 0, res, n, err,
	    errlen) == -1 ||
	    parse_batch_list(root, "Failed", 1, res, n, err, errlen) == -1) {
		jdoc_free(&d);
		return -1;
	}
	jdoc_free(&d);
	for (i = 0; i < n; i++)
		if (!res[i].ok)
			nfailed++;
	return nfailed;
}

static int
matches(const char *code, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strstr(code, *list) != NULL)
			return 1;
	return 0;
}

/*
 * sqs_classify_skew (sk NULL: sqs_classify), the AWS message redacted of
 * the n secrets before its cut, and the code in code[SQS_CODE_MAX].
 */
static enum sqs_status
classify(long status, const char *body, size_t len, struct sqs_skew *sk,
    char *err, size_t errlen, const char *action, const char *const *secrets,
    size_t n, char *code)
{
	struct json_object *root = NULL;
	const char *type = NULL, *msg = NULL, *p;
	char message[SQS_MESSAGE_MAX + 1];
	enum sqs_status st;
	size_t i;
	int cut, skewed;

	if (status >= 200 && status <= 299)
		return SQS_OK;
	code[0] = message[0] = '\0';
	if (body != NULL && len > 0 &&
	    (root = util_json_parse(body, len, NULL, 0)) != NULL &&
	    json_object_is_type(root, json_type_object)) {
		if (util_json_string(root, "__type", &type, NULL) != 1 &&
		    util_json_string(root, "code", &type, NULL) != 1)
			util_json_string(root, "Code", &type, NULL);
		if (util_json_string(root, "message", &msg, NULL) != 1)
			util_json_string(root, "Message", &msg, NULL);
	}
	if (type != NULL) {
		/* "com.amazonaws.sqs#QueueDoesNotExist": after the '#'. */
		if ((p = strrchr(type, '#')) != NULL)
			type = p + 1;
		if (strncmp(type, "AWS.SimpleQueueService.", 23) == 0)
			type += 23;
		for (i = 0; type[i] != '\0' && i + 1 < SQS_CODE_MAX; i++) {
			if (!isalnum((unsigned char)type[i]) &&
			    type[i] != '.' && type[i] != '_' && type[i] != '-')
				break;
			code[i] = type[i];
		}
		code[i] = '\0';
	}
	cut = copy_clean(message, sizeof(message), msg, SQS_MESSAGE_MAX);
	(void)util_redact(message, sizeof(message), secrets, n, cut);
	skewed = sigv4_is_skew_error(status, code, msg);
	json_object_put(root);

	/*
	 * A clock that SQS' Date can correct first: retried at once, it
	 * works.  The code next: it says more than the status (see
	 * throttle_codes).
	 */
	if (skewed && sk != NULL && sk->date != NULL &&
	    sigv4_skew(sk->date, sk->now, &sk->offset) == 0) {
		sk->corrected = 1;
		st = SQS_SERVER;
	} else if (skewed)
		st = SQS_AUTH;
	else if (matches(code, throttle_codes))
		st = SQS_THROTTLED;
	else if (matches(code, auth_codes))
		st = SQS_AUTH;
	else if (status == 429)
		st = SQS_THROTTLED;
	else if (status == 403)
		st = SQS_AUTH;
	else if ((status >= 500 && status <= 599) || status == 408 ||
	    matches(code, transient_codes))
		st = SQS_SERVER;
	else if (status >= 400 && status <= 499)
		st = SQS_CLIENT;
	else
		st = SQS_PROTOCOL;

	util_set_err(err, errlen, "sqs: %s: HTTP %ld%s%s%s%s%s", action, status,
	    code[0] != '\0' ? " " : "", code,
	    message[0] != '\0' ? ": " : "", message,
	    st == SQS_PROTOCOL ? " (unexpected status)" : "");
	return st;
}

enum sqs_status
sqs_classify(long status, const char *body, size_t len, char *err,
    size_t errlen, const char *action)
{
	char code[SQS_CODE_MAX];

	return classify(status, body, len, NULL, err, errlen, action, NULL, 0,
	    code);
}

enum sqs_status
sqs_classify_skew(long status, const char *body, size_t len,
    struct sqs_skew *sk, char *err, size_t errlen, const char *action)
{
	sk->corrected = 0;
	char code[SQS_CODE_MAX];

	return classify(status, body, len, sk, err, errlen, action, NULL, 0,
	    code);
}

int
sqs_endpoint(const char *queue_url, char *buf, size_t len)
{
	struct url u;

	if (url_parse(queue_url, URL_HTTP, &u, NULL, 0) == -1)
		return -1;
	return url_origin(&u, buf, len);
}

/*
 * The secrets to redact from c's lines: those it was signed with, and
 * the current ones (2 * SQS_NSECRETS at most in out); their count.
 */
static size_t
call_secrets(const struct sqs_call *c, const char **out)
{
	const struct creds_value *v = c->s->creds != NULL ?
	    creds_current(c->s->creds) : NULL;
	size_t n = 0, i;

	for (i = 0; i < SQS_NSECRETS; i++)
		out[n++] = c->signed_with[i];
	if (v != NULL) {
		out[n++] = v->secret_access_key;
		out[n++] = v->session_token;
		out[n++] = v->access_key_id;
	}
	return n;
}

/*
 * Redact c's secrets from a line in buf, of size bytes; a full buffer
 * may have cut the line in the middle of one.
 */
static void
redact(const struct sqs_call *c, char *buf, size_t size)
{
	const char *secrets[2 * SQS_NSECRETS];

	(void)util_redact(buf, size, secrets, call_secrets(c, secrets),
	    strnlen(buf, size) + 1 >= size);
}

static void
call_free(struct sqs_call *c)
{
	size_t i;

	for (i = 0; i < SQS_NSECRETS; i++) {
		if (c->signed_with[i] != NULL)
			explicit_bzero(c->signed_with[i],
			    strlen(c->signed_with[i]));
		free(c->signed_with[i]);
	}
	free(c);
}

static int
valid_region(const char *r)
{
	size_t i;

	for (i = 0; r[i] != '\0'; i++)
		if (!islower((unsigned char)r[i]) &&
		    !isdigit((unsigned char)r[i]) && r[i] != '-')
			return 0;
	return i > 0 && i <= 32;
}

static void
destroy(struct sqs *s)
{
	free(s->queue_url);
	free(s->endpoint);
	free(s->region);
	free(s);
}

struct sqs *
sqs_new(struct httpc *hc, const char *queue_url, const char *region,
    struct creds *creds, char *err, size_t errlen)
{
	struct sqs *s;
	struct url u;
	char endpoint[URL_MAX + 1], why[128];

	if (hc == NULL) {
		util_set_err(err, errlen, "sqs: no HTTP client");
		return NULL;
	}
	if (url_parse(queue_url, URL_QUEUE, &u, why, sizeof(why)) == -1 ||
	    url_origin(&u, endpoint, sizeof(endpoint)) == -1) {
		util_set_err(err, errlen, "sqs: queue URL %s", why);
		return NULL;
	}
	if (region == NULL || !valid_region(region)) {
		util_set_err(err, errlen, "sqs: region must be a name like "
		    "us-east-1");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	s->hc = hc;
	LIST_INIT(&s->calls);
	if ((s->queue_url = strdup(queue_url)) == NULL ||
	    (s->endpoint = strdup(endpoint)) == NULL ||
	    (s->region = strdup(region)) == NULL)
		goto nomem;
	s->creds = creds;
	return s;

nomem:
	if (s != NULL)
		destroy(s);
	util_set_err(err, errlen, "sqs: out of memory");
	return NULL;
}

void
sqs_free(struct sqs *s)
{
	if (s == NULL || util_dying(&s->re))
		return;
	while (!LIST_EMPTY(&s->calls))
		sqs_cancel(LIST_FIRST(&s->calls));
	if (util_release(&s->re))
		destroy(s);
}

void
sqs_cancel(struct sqs_call *c)
{
	if (c == NULL || c->calling)
		return;
	LIST_REMOVE(c, entry);
	httpc_cancel(c->hc);
	call_free(c);
}

enum metrics_sqs_outcome
sqs_metrics_outcome(enum sqs_status st)
{
	switch (st) {
	case SQS_OK:
		return METRICS_SQS_OK;
	case SQS_AUTH:
		return METRICS_SQS_AUTH;
	case SQS_THROTTLED:
		return METRICS_SQS_THROTTLED;
	case SQS_SERVER:
		return METRICS_SQS_SERVER;
	case SQS_NETWORK:
		return METRICS_SQS_NETWORK;
	case SQS_CLIENT:
		return METRICS_SQS_CLIENT;
	case SQS_PROTOCOL:
		break;
	}
	return METRICS_SQS_PROTOCOL;
}

void
sqs_set_counters(struct sqs *s, struct metrics_counters *mc)
{
	s->mc = mc;
}

/* One answered request, by action and outcome, and its duration. */
static void
count(const struct sqs_call *c, enum sqs_status st)
{
	struct metrics_counters *mc = c->s->mc;
	enum metrics_sqs_action a = c->action == SQS_RECEIVE ?
	    METRICS_SQS_RECEIVE : c->action == SQS_DELETE ?
	    METRICS_SQS_DELETE : METRICS_SQS_CHANGE;

	if (mc == NULL)
		return;
	mc->sqs_requests[a][sqs_metrics_outcome(st)]++;
	metrics_observe(&mc->sqs[a], METRICS_H_SQS,
	    (double)(util_mono_us() - c->started_us) / 1e6);
}

static void
deliver(struct sqs_call *c, const struct httpc_result *r)
{
	struct sqs *s = c->s;
	struct sqs_entry_result res[SQS_MAX_BATCH];
	struct sqs_message *msgs = NULL;
	const char *name = action_names[c->action];
	const char *secrets[2 * SQS_NSECRETS];
	char err[SQS_ERROR_MAX], perr[256], code[SQS_CODE_MAX];
	struct sqs_skew sk;
	enum sqs_status st;
	size_t n = 0;

	err[0] = code[0] = '\0';
	memset(&sk, 0, sizeof(sk));
	sk.date = r->date;
	sk.now = time(NULL);
	if (!r->ok) {
		st = SQS_NETWORK;
		snprintf(err, sizeof(err), "sqs: %s: %s", name, r->error);
	} else
		st = classify(r->status, r->body, r->body_len, &sk, err,
		    sizeof(err), name, secrets, call_secrets(c, secrets), code);
	if (sk.corrected)
		sigv4_follow(sk.offset, "SQS");
	if (st == SQS_OK && (c->action == SQS_RECEIVE ?
	    sqs_parse_receive(r->body, r->body_len, &msgs, &n, perr,
	    sizeof(perr)) : sqs_parse_batch(r->body, r->body_len, res, c->n,
	    perr, sizeof(perr))) == -1) {
		st = SQS_PROTOCOL;
		snprintf(err, sizeof(err), "sqs: %s: unreadable answer: %s",
		    name, perr);
	}
	redact(c, err, sizeof(err));
	count(c, st);
	/* Only what it was signed with can have been refused. */
	if (st == SQS_AUTH && c->signed_with[0] != NULL &&
	    matches(code, stale_codes))
		creds_invalidate(s->creds);

	if (c->action == SQS_RECEIVE)
		c->rfn(c->arg, st, err, msgs, n);
	else {
		if (st == SQS_OK)
			for (n = 0; n < c->n; n++)
				redact(c, res[n].message,
				    sizeof(res[n].message));
		c->bfn(c->arg, st, err, st == SQS_OK ? res : NULL,
		    st == SQS_OK ? c->n : 0);
	}
}

static void
on_http_done(void *arg, const struct httpc_result *r)
{
	struct sqs_call *c = arg;
	struct sqs *s = c->s;

	LIST_REMOVE(c, entry);
	c->hc = NULL;
	c->calling = 1;
	util_enter(&s->re);
	deliver(c, r);
	call_free(c);
	if (util_leave(&s->re))
		destroy(s);
}

/*
 * Start action with the request body in req (jw: written directly, not
 * built as a json-c tree to be printed; freed here either way).
 */
static struct sqs_call *
start(struct sqs *s, enum sqs_action action, struct jw *req,
    long timeout_ms, size_t max_body, char *err, size_t errlen)
{
	struct httpc_request hr;
	struct sqs_call *c;
	const struct creds_value *v = NULL;
	const char *headers[3];
	char *body = NULL;

	/*
	 * Signed with what the provider has now; without, not at all (and
	 * the provider, whose credentials may have expired by a clock that
	 * jumped, is asked for new ones).
	 */
	if (s->creds != NULL && (v = creds_current(s->creds)) == NULL) {
		creds_invalidate(s->creds);
		util_set_err(err, errlen, "sqs: %s: no AWS credentials to sign "
		    "with: %s", action_names[action], creds_reason(s->creds));
		jw_free(req);
		return NULL;
	}
	if (jw_room(req, 0) == -1 || (c = calloc(1, sizeof(*c))) == NULL) {
		util_set_err(err, errlen, "sqs: %s: out of memory",
		    action_names[action]);
		jw_free(req);
		return NULL;
	}
	body = req->s;		/* httpc copies it; freed below */
	body[req->len] = '\0';
	headers[0] = "Content-Type: application/x-amz-json-1.0";
	headers[1] = target_headers[action];
	headers[2] = NULL;
	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = s->endpoint;
	hr.headers = headers;
	hr.body = body;
	hr.body_len = req->len;
	hr.timeout_ms = timeout_ms;
	hr.max_body = max_body;
	c->s = s;
	c->action = action;
	c->started_us = util_mono_us();
	if (v != NULL) {
		hr.sigv4_region = s->region;
		hr.sigv4_service = "sqs";
		hr.access_key_id = v->access_key_id;
		hr.secret_key = v->secret_access_key;
		hr.session_token = v->session_token;
		if ((c->signed_with[0] = strdup(v->secret_access_key)) == NULL ||
		    (c->signed_with[1] = strdup(v->access_key_id)) == NULL ||
		    (v->session_token != NULL && (c->signed_with[2] =
		    strdup(v->session_token)) == NULL)) {
			util_set_err(err, errlen, "sqs: %s: out of memory",
			    action_names[action]);
			call_free(c);
			jw_free(req);
			return NULL;
		}
	}
	c->hc = httpc_start(s->hc, &hr, on_http_done, c);
	jw_free(req);
	if (c->hc == NULL) {
		util_set_err(err, errlen, "sqs: %s: cannot start the request: %s",
		    action_names[action], strerror(errno));
		call_free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&s->calls, c, entry);
	return c;
}

/* {"QueueUrl":"<the queue>", to go on with. */
static void
open_request(const struct sqs *s, struct jw *w)
{
	jw_lit(w, "{\"QueueUrl\":");
	jw_str(w, s->queue_url, strlen(s->queue_url), 0);
}

struct sqs_call *
sqs_receive(struct sqs *s, int max_messages, int wait_seconds,
    int visibility_timeout, sqs_receive_fn fn, void *arg, char *err,
    size_t errlen)
{
	struct jw req = JW_INIT;
	struct sqs_call *c;

	if (s == NULL || util_dying(&s->re) || fn == NULL) {
		util_set_err(err, errlen, "sqs: ReceiveMessage: no client");
		return NULL;
	}
	if (max_messages < 1 || max_messages > SQS_MAX_MESSAGES ||
	    wait_seconds < 0 || wait_seconds > SQS_MAX_WAIT ||
	    visibility_timeout < 0 || visibility_timeout > SQS_MAX_VISIBILITY) {
		util_set_err(err, errlen, "sqs: ReceiveMessage: messages %d, wait "
		    "%ds or visibility %ds out of range", max_messages,
		    wait_seconds, visibility_timeout);
		return NULL;
	}
	open_request(s, &req);
	jw_lit(&req, ",\"MaxNumberOfMessages\":");
	jw_int(&req, max_messages);
	jw_lit(&req, ",\"WaitTimeSeconds\":");
	jw_int(&req, wait_seconds);
	jw_lit(&req, ",\"VisibilityTimeout\":");
	jw_int(&req, visibility_timeout);
	/* Both names: the newer one, and the one emulators know. */
	jw_lit(&req, ",\"MessageSystemAttributeNames\":[\"SentTimestamp\","
	    "\"ApproximateReceiveCount\"],\"AttributeNames\":"
	    "[\"SentTimestamp\",\"ApproximateReceiveCount\"]}");
	if ((c = start(s, SQS_RECEIVE, &req,
	    wait_seconds * 1000L + SQS_POLL_SLACK_MS,
	    (size_t)max_messages * SQS_RECEIVE_BODY_PER_MSG, err,
	    errlen)) != NULL) {
		c->rfn = fn;
		c->arg = arg;
	}
	return c;
}

static struct sqs_call *
batch(struct sqs *s, enum sqs_action action, const struct sqs_entry *e,
    size_t n, sqs_batch_fn fn, void *arg, char *err, size_t errlen)
{
	const char *name = action_names[action];
	struct jw req = JW_INIT;
	struct sqs_call *c;
	size_t i;

	if (s == NULL || util_dying(&s->re) || fn == NULL) {
		util_set_err(err, errlen, "sqs: %s: no client", name);
		return NULL;
	}
	if (e == NULL || n < 1 || n > SQS_MAX_BATCH) {
		util_set_err(err, errlen, "sqs: %s: %zu entries, must be 1 to %d",
		    name, n, SQS_MAX_BATCH);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (e[i].receipt_handle == NULL ||
		    e[i].receipt_handle[0] == '\0') {
			util_set_err(err, errlen, "sqs: %s: entry %zu has no "
			    "receipt handle", name, i);
			return NULL;
		}
		if (action == SQS_CHANGE && (e[i].visibility_timeout < 0 ||
		    e[i].visibility_timeout > SQS_MAX_VISIBILITY)) {
			util_set_err(err, errlen, "sqs: %s: entry %zu: visibility "
			    "timeout %ds out of range", name, i,
			    e[i].visibility_timeout);
			return NULL;
		}
	}
	open_request(s, &req);
	jw_lit(&req, ",\"Entries\":[");
	for (i = 0; i < n; i++) {
		/* The entry's index is its Id (parse_id reads it back). */
		jw_lit(&req, "{\"Id\":\"");
		jw_int(&req, (int64_t)i);
		jw_lit(&req, "\",\"ReceiptHandle\":");
		jw_str(&req, e[i].receipt_handle,
		    strlen(e[i].receipt_handle), 0);
		if (action == SQS_CHANGE) {
			jw_lit(&req, ",\"VisibilityTimeout\":");
			jw_int(&req, e[i].visibility_timeout);
		}
		if (i + 1 < n)
			jw_lit(&req, "},");
		else
			jw_lit(&req, "}]}");
	}
	if ((c = start(s, action, &req, SQS_BATCH_TIMEOUT_MS, 0, err,
	    errlen)) != NULL) {
		c->bfn = fn;
		c->arg = arg;
		c->n = n;
	}
	return c;
}

struct sqs_call *
sqs_delete_batch(struct sqs *s, const struct sqs_entry *e, size_t n,
    sqs_batch_fn fn, void *arg, char *err, size_t errlen)
{
	return batch(s, SQS_DELETE, e, n, fn, arg, err, errlen);
}

struct sqs_call *
sqs_change_visibility_batch(struct sqs *s, const struct sqs_entry *e,
    size_t n, sqs_batch_fn fn, void *arg, char *err, size_t errlen)
{
	return batch(s, SQS_CHANGE, e, n, fn, arg, err, errlen);
}
