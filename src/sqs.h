/*
 * sqs: the three SQS actions a consumer needs (ReceiveMessage,
 * DeleteMessageBatch, ChangeMessageVisibilityBatch) over the AWS JSON
 * protocol, signed with SigV4 by httpc, on an httpc client.  The request
 * building and answer parsing are pure and exported for the unit tests.
 */
#ifndef PCS_SQS_H
#define PCS_SQS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "metrics.h"

struct creds;
struct httpc;

/* SQS' own limits. */
#define SQS_MAX_BATCH		10	/* entries per batch request */
#define SQS_MAX_MESSAGES	10	/* messages per ReceiveMessage */
#define SQS_MAX_WAIT		20	/* long poll, seconds */
#define SQS_MAX_VISIBILITY	43200	/* seconds (12 hours) */
#define SQS_ERROR_MAX		512	/* error lines handed to callbacks */

enum sqs_status {
	SQS_OK = 0,
	SQS_AUTH,	/* credentials, signature, permissions: 403 and kin */
	SQS_THROTTLED,	/* slow down: 429, throttling codes (OverLimit and
			   RequestThrottled come with a 403) */
	SQS_SERVER,	/* 5xx, 408 and transient codes: retry */
	SQS_NETWORK,	/* no answer: connect, TLS, timeout */
	SQS_CLIENT,	/* other 4xx, e.g. QueueDoesNotExist */
	SQS_PROTOCOL	/* an answer we cannot read */
};

struct sqs_message {
	char	*message_id;
	char	*receipt_handle;
	char	*body;			/* NUL-terminated */
	size_t	 body_len;
	int64_t	 sent_timestamp_ms;	/* SentTimestamp, 0 if missing */
	int	 receive_count;		/* ApproximateReceiveCount, or 0 */
};

/* One entry of a batch request; the entry's Id is its index. */
struct sqs_entry {
	const char	*receipt_handle;
	int		 visibility_timeout;	/* visibility changes only */
};

/* The outcome of one batch entry, in request order. */
struct sqs_entry_result {
	int	ok;
	int	sender_fault;		/* our request was wrong: no retry */
	char	code[64];		/* e.g. "ReceiptHandleIsInvalid" */
	char	message[160];
};

/*
 * Receive callback.  On SQS_OK the callback owns msgs (n may be 0 and msgs
 * NULL: the long poll ended empty) and frees them with sqs_messages_free.
 * Otherwise msgs is NULL and err is one line: "sqs: ReceiveMessage: ...".
 */
typedef void	(*sqs_receive_fn)(void *arg, enum sqs_status st,
		    const char *err, struct sqs_message *msgs, size_t n);
/*
 * Batch callback.  On SQS_OK res holds n results, one per entry sent (some
 * may have failed); otherwise res is NULL and err says why the whole
 * request failed.  res is valid during the callback.
 */
typedef void	(*sqs_batch_fn)(void *arg, enum sqs_status st, const char *err,
		    const struct sqs_entry_result *res, size_t n);

struct sqs;
struct sqs_call;

/*
 * Keep copies of the queue URL (url_parse with URL_QUEUE: what -t checks)
 * and region.  Each request is signed with creds_current(creds) when it
 * starts, and fails to start (NULL with err naming the provider's
 * reason) while there is none; creds NULL: requests go unsigned and the
 * server decides (emulators accept them).  creds outlives s.  NULL with
 * err on bad input.
 */
struct sqs	*sqs_new(struct httpc *hc, const char *queue_url,
		    const char *region, struct creds *creds, char *err,
		    size_t errlen);
/* Cancel every call (no callbacks); call before httpc_free. */
void		 sqs_free(struct sqs *s);
/*
 * Count every request answered (or failed) into mc, by action and
 * outcome, with its duration from start to answer in the action's
 * histogram; a cancelled one counts nothing.  mc NULL: no counting.
 */
void		 sqs_set_counters(struct sqs *s, struct metrics_counters *mc);

/*
 * Start an action; the callback runs once, from the loop.  NULL with err
 * on bad arguments or when the request cannot be started (no callback).
 * The handle is valid until the callback returns or sqs_cancel.
 * Callbacks may start and cancel calls and free s.
 */
struct sqs_call	*sqs_receive(struct sqs *s, int max_messages, int wait_seconds,
		    int visibility_timeout, sqs_receive_fn fn, void *arg,
		    char *err, size_t errlen);
struct sqs_call	*sqs_delete_batch(struct sqs *s, const struct sqs_entry *e,
		    size_t n, sqs_batch_fn fn, void *arg, char *err,
		    size_t errlen);
struct sqs_call	*sqs_change_visibility_batch(struct sqs *s,
		    const struct sqs_entry *e, size_t n, sqs_batch_fn fn,
		    void *arg, char *err, size_t errlen);
/* No callback afterwards; harmless on the call whose callback is running. */
void		 sqs_cancel(struct sqs_call *c);

void		 sqs_messages_free(struct sqs_message *msgs, size_t n);

/* Pure helpers, exported for the unit tests. */

/*
 * Parse a ReceiveMessage answer.  0 with *out and *n (NULL and 0 when
 * there is no "Messages" or no body at all), or -1 with err.  Free with
 * sqs_messages_free.
 */
int		 sqs_parse_receive(const char *body, size_t len,
		    struct sqs_message **out, size_t *n, char *err,
		    size_t errlen);
/*
 * Parse a batch answer for n entries with Ids "0".."n-1" into res[0..n).
 * Entries the answer does not mention count as failed.  Returns the
 * number of failed entries, or -1 with err when the answer is unreadable.
 */
int		 sqs_parse_batch(const char *body, size_t len,
		    struct sqs_entry_result *res, size_t n, char *err,
		    size_t errlen);
/*
 * Classify an HTTP answer to action (the same rules for every action).
 * SQS_OK for 2xx (err untouched); otherwise the class, decided by the
 * error code before the status, and one line in err:
 * "sqs: ReceiveMessage: HTTP 400 QueueDoesNotExist: <message>".
 */
enum sqs_status	 sqs_classify(long status, const char *body, size_t len,
		    char *err, size_t errlen, const char *action);

/* What an answer's Date says of our clock. */
struct sqs_skew {
	const char	*date;		/* in: its Date header; NULL: none */
	time_t		 now;		/* in: our clock when it came */
	int		 corrected;	/* out: offset holds SQS' time */
	long		 offset;	/* out: for sigv4_set_offset */
};

/*
 * sqs_classify for an answer with a Date: a clock-skew error
 * (sigv4_is_skew_error on the status, code and message) is SQS_SERVER
 * when the Date is readable (sigv4_skew), with sk->corrected and
 * sk->offset, so that it is retried with the clock corrected; without a
 * readable Date it is SQS_AUTH.  The error line is sqs_classify's.
 */
enum sqs_status	 sqs_classify_skew(long status, const char *body, size_t len,
		    struct sqs_skew *sk, char *err, size_t errlen,
		    const char *action);
/*
 * "scheme://host[:port]/" of a queue URL: 0, or -1 if it is no http(s)
 * URL to url_parse (a query is allowed here) or buf is too small.
 */
int		 sqs_endpoint(const char *queue_url, char *buf, size_t len);
const char	*sqs_status_name(enum sqs_status st);
/* The label of pcs_sqs_requests_total{outcome} for st. */
enum metrics_sqs_outcome sqs_metrics_outcome(enum sqs_status st);

#endif
