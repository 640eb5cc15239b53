/*
 * edge: fetches a customer's entitlements from Stigg's Edge API when a
 * thin notification arrives, on the consumer's httpc client and libev
 * loop, retrying 5xx answers and network errors with backoff.  It returns
 * the answer's body; parsing it (and its "errors" member) is the events
 * module's job.
 */
#ifndef PCS_EDGE_H
#define PCS_EDGE_H

#include "metrics.h"
#include <stddef.h>

struct ev_loop;
struct httpc;

/* The Edge API answers from a CDN edge in milliseconds; 10 s is an outage. */
#define EDGE_TIMEOUT_MS		10000L
#define EDGE_ATTEMPTS		3	/* the first try and two retries */
#define EDGE_BACKOFF_MIN_MS	250	/* first retry after 250 ms... */
#define EDGE_BACKOFF_MAX_MS	2000	/* ...the next after 250-500 ms */
#define EDGE_ERROR_MAX		512
/* Two ids of up to 1024 bytes, percent-encoded (x3), and the base URL. */
#define EDGE_URL_MAX		(2 * 3 * 1024 + 2048)

struct edge_result {
	int		 ok;		/* a 2xx answer arrived */
	long		 status;	/* the last HTTP status, 0 if none */
	int		 attempts;	/* requests made, 1..EDGE_ATTEMPTS */
	/* When ok: NUL-terminated, valid while the callback runs. */
	const char	*body;
	size_t		 body_len;
	/* When !ok: "edge: GET <url>: HTTP 404: <body>"; never the API key. */
	const char	*error;
};

typedef void	(*edge_done_fn)(void *arg, const struct edge_result *r);

/*
 * The label outcome of pcs_edge_refills_total for a fetch's result: ok
 * (an answer the caller still has to find usable), not_found (404: the
 * customer is gone), unauthorized (401, 403: the API key), failed.
 */
enum metrics_edge_outcome edge_metrics_outcome(const struct edge_result *r);

struct edge;
struct edge_call;

/*
 * Fetch from base_url (http:// or https://, e.g. EDGE_API_URL) with
 * api_key (SERVER_API_KEY; NULL or "" allowed: every fetch then fails at
 * once).  Copies both.  NULL with err on bad input.
 */
struct edge	*edge_new(struct ev_loop *loop, struct httpc *hc,
		    const char *base_url, const char *api_key, char *err,
		    size_t errlen);
/* Cancel every fetch (no callbacks, timers stopped); call before httpc_free. */
void		 edge_free(struct edge *e);

/*
 * Start fetching the entitlements of customer_id (and resource_id, NULL or
 * "" for none).  done runs once, from the loop, after the last attempt.
 * NULL with err when the fetch cannot start ("edge: SERVER_API_KEY is not
 * set", bad ids); done does not run then.  Callbacks may start and cancel
 * fetches and free e.
 */
struct edge_call *edge_fetch(struct edge *e, const char *customer_id,
		    const char *resource_id, edge_done_fn done, void *arg,
		    char *err, size_t errlen);
/* No callback afterwards; harmless on the call whose callback is running. */
void		 edge_cancel(struct edge_call *c);

/*
 * Pure: "<base>/v1/c/<customer>/entitlements.json[?resourceId=<resource>]"
 * with both ids percent-encoded (all but RFC 3986 unreserved characters)
 * and trailing slashes of base dropped.  0, or -1 if customer is empty or
 * buf is too small.
 */
int		 edge_url(const char *base, const char *customer,
		    const char *resource, char *buf, size_t len);

#endif
