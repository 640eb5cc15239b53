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

struct httpc_request {
	const char		*method;	/* "GET", "POST", ... */
	const char		*url;		/* http:// or https:// */
	/* "Name: value" lines, NULL-terminated; NULL: none. */
	const char *const	*headers;
	const char		*body;		/* copied; NULL: none */
	size_t			 body_len;
	long			 timeout_ms;	/* whole request, > 0 */
	size_t			 max_body;	/* 0: HTTPC_MAX_BODY */
	/* CURLOPT_AWS_SIGV4, e.g. "aws:amz:us-east-1:sqs"; NULL: unsigned. */
	const char		*sigv4;
	const char		*user;		/* access key id; sigv4 only */
	const char		*password;	/* secret key; sigv4 only */
};

struct httpc_result {
	int		 ok;		/* transport worked: a response came */
	long		 status;	/* HTTP status, 0 when none */
	const char	*body;		/* NUL-terminated, "" when none */
	size_t		 body_len;	/* without the NUL */
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
 * started; done does not run then.  The call handle is valid until done
 * returns or httpc_cancel.  Callbacks may start and cancel calls and free
 * the client.
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
