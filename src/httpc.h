/*
 * httpc: the consumer's HTTP client.  One instance per process drives
 * libcurl's multi socket interface from the process' own libev loop:
 * requests run concurrently, never block, and share a keep-alive pool of
 * connections, so a request does not open a connection of its own.
 * Callers (sqs, edge) see one call per request and one callback per call.
 */
#ifndef PCS_HTTPC_H
#define PCS_HTTPC_H

#include <stddef.h>

struct ev_loop;

/*
 * Responses above this are refused unless the request allows more
 * (max_body): a cap on what a broken or hostile server can make us
 * buffer.  Edge API answers and SQS batch results stay far below it.
 */
#define HTTPC_MAX_BODY		(1024 * 1024 + 64 * 1024)
#define HTTPC_ERROR_MAX		256
/* A Date header longer than this is no IMF-fixdate (29 bytes). */
#define HTTPC_DATE_MAX		63

/*
 * Signing (AWS Signature Version 4, sigv4.h): a request with a region is
 * signed at the signing clock's time (sigv4_now), so that a clock
 * corrected after a skew error (sqs.c) is the one AWS sees.  Where
 * libcurl can sign at a time it is given, it signs: httpc adds
 * "X-Amz-Date: <sigv4_now()>" and lets CURLOPT_AWS_SIGV4 do the rest.
 * That is libcurl 8.3.0 and later, asked at run time
 * (curl_version_info), since the library loaded may not be the one built
 * against: 7.86.0 was the first to sign with a caller's X-Amz-Date, but
 * up to 8.2.1 it also sent its own copy of the header (curl issue
 * 11738, fixed by commit b137634ba3 in 8.3.0), and AWS reads two values
 * where one was signed.  With an older libcurl (Debian 12 has 7.88), or
 * with own_signer, httpc signs with sigv4_sign, offset or not, and sends
 * the Host, X-Amz-Date, X-Amz-Security-Token and Authorization lines
 * itself: one rule per libcurl, not a second path that only a skewed
 * clock would take.
 */
struct httpc_request {
	const char		*method;	/* "GET", "POST", ... */
	const char		*url;		/* http:// or https:// */
	/* "Name: value" lines, NULL-terminated; NULL: none.  Signed too. */
	const char *const	*headers;
	const char		*body;		/* copied; NULL: none */
	size_t			 body_len;
	long			 timeout_ms;	/* whole request, > 0 */
	size_t			 max_body;	/* 0: HTTPC_MAX_BODY */
	/* "us-east-1"; NULL: unsigned, and no credentials allowed. */
	const char		*sigv4_region;
	const char		*sigv4_service;	/* "sqs"; signed only */
	const char		*access_key_id;	/* signed only, required */
	const char		*secret_key;	/* signed only, required */
	const char		*session_token;	/* signed only, optional */
	/* Sign with sigv4_sign even where libcurl could (the tests). */
	int			 own_signer;
};

struct httpc_result {
	int		 ok;		/* transport worked: a response came */
	long		 status;	/* HTTP status, 0 when none */
	const char	*body;		/* NUL-terminated, "" when none */
	size_t		 body_len;	/* without the NUL */
	/*
	 * The final response's Date header, its value trimmed (e.g. "Fri,
	 * 14 Nov 2025 20:05:12 GMT", for sigv4_skew); NULL when it had none
	 * or one longer than HTTPC_DATE_MAX.
	 */
	const char	*date;
	/*
	 * The final response's Retry-After in seconds from now (its
	 * delta-seconds, or its HTTP-date less the clock), 0 for a date
	 * past; -1 when it had none or one that is neither (a 429 or a 503
	 * says how long to wait: sentry.c).
	 */
	long		 retry_after;
	/* When !ok: curl's message, one line, never a secret. */
	char		 error[HTTPC_ERROR_MAX];
};

typedef void	(*httpc_done_fn)(void *arg, const struct httpc_result *r);

struct httpc;
struct httpc_call;

/*
 * A client on loop keeping at most max_connections connections, busy or
 * idle.  Requests beyond that wait for a free connection, so a caller
 * running long polls needs one connection for each, plus some.  NULL with
 * errno on failure.
 */
struct httpc	*httpc_new(struct ev_loop *loop, int max_connections);
/* Cancel every call (no callbacks) and close every connection. */
void		 httpc_free(struct httpc *h);
/*
 * Verify HTTPS servers against the PEM certificates of path (AWS_CA_BUNDLE)
 * instead of the system's store, for the requests started from now on.
 * 0, or -1 with errno.
 */
int		 httpc_set_ca_bundle(struct httpc *h, const char *path);

/*
 * Start a request; done runs once, from the loop, never from inside this
 * function; r and its body are valid while it runs.  Every string of req
 * is copied.  NULL with errno (ENOMEM, EINVAL) when the request cannot be
 * started (EINVAL also for one sigv4_sign refuses); done does not run
 * then.  The call handle is valid until done returns or httpc_cancel.
 * Callbacks may start and cancel calls and free the client.
 */
struct httpc_call *httpc_start(struct httpc *h, const struct httpc_request *req,
		    httpc_done_fn done, void *arg);
/*
 * Abandon a call: its callback never runs.  Harmless on the call whose
 * callback is running.
 */
void		 httpc_cancel(struct httpc_call *c);

/* Calls started and not yet finished or cancelled. */
size_t		 httpc_active(const struct httpc *h);

#endif
