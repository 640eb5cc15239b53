/*
 * edge: GET ${EDGE_API_URL}/v1/c/<customer>/entitlements.json with
 * X-API-KEY and X-API-VERSION: 1.  It owns a copy of the base URL, the
 * API key header, and per fetch its URL, its retry timer on the loop and
 * its backoff state.
 *
 * Up to EDGE_ATTEMPTS requests: a 5xx answer or a network error (no
 * answer, timeout) is retried after an exponential delay with jitter
 * (backoff.h), so that consumers hitting a struggling Edge API do not
 * retry in lockstep; a 4xx is final (the request itself is wrong, or the
 * customer does not exist).  Waiting is a timer, never a sleep.
 *
 * The API key travels in a request header only: it is not in the URL, so
 * it is in no error line; a body quoted in an error has it redacted.
 * The base URL passes url_parse with URL_BASE, the rules -t applies.
 */

#include "autoconf.h"

#include <sys/queue.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "backoff.h"
#include "edge.h"
#include "httpc.h"
#include "log.h"
#include "url.h"
#include "util.h"

/* Characters of an answer's body quoted in an error line. */
#define EDGE_BODY_QUOTE		120
/* How a body is quoted: one line of printable ASCII. */
#define EDGE_CLEAN		(UTIL_CLEAN_ASCII | UTIL_CLEAN_SPACE)

struct edge_call {
	LIST_ENTRY(edge_call)	 entry;
	struct edge		*e;
	struct httpc_call	*hc;		/* attempt in flight, or NULL */
	ev_timer		 retry;
	struct backoff		 backoff;
	int			 attempts;
	int			 calling;	/* its callback is running */
	edge_done_fn		 done;
	void			*arg;
	char			*url;
};

struct edge {
	struct ev_loop		*loop;
	struct httpc		*hc;
	char			*base;		/* no trailing slash */
	char			*api_key;	/* NULL: not configured */
	char			*key_shown;	/* as EDGE_CLEAN shows it */
	char			*key_header;
	struct util_reentry	 re;		/* callbacks running */
	LIST_HEAD(, edge_call)	 calls;
};

static int
append_raw(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	if (n >= len - *off)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 0;
}

int
edge_url(const char *base, const char *customer, const char *resource,
    char *buf, size_t len)
{
	size_t blen, off = 0;

	if (buf == NULL || len == 0)
		return -1;
	buf[0] = '\0';
	if (base == NULL || customer == NULL || *customer == '\0')
		return -1;
	for (blen = strlen(base); blen > 0 && base[blen - 1] == '/'; blen--)
		;
	if (append_raw(buf, len, &off, base, blen) == -1 ||
	    append_raw(buf, len, &off, "/v1/c/", 6) == -1 ||
	    util_pct_encode(buf, len, &off, customer,
	    strlen(customer)) == -1 ||
	    append_raw(buf, len, &off, "/entitlements.json", 18) == -1)
		return -1;
	if (resource != NULL && *resource != '\0' &&
	    (append_raw(buf, len, &off, "?resourceId=", 12) == -1 ||
	    util_pct_encode(buf, len, &off, resource,
	    strlen(resource)) == -1))
		return -1;
	return 0;
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * An answer's body, quoted on one line: printable ASCII, at most
 * EDGE_BODY_QUOTE characters, the API key (should a server echo it)
 * replaced.  The copy is redacted, with the key as the copy shows it:
 * a non-ASCII byte of the key is a '?' in both.
 */
static void
quote_body(const struct edge *e, const char *body, size_t blen, char *out,
    size_t outlen)
{
	const char *secrets[1];
	int cut;

	cut = util_clean(out, outlen, body, body != NULL ? blen : 0,
	    EDGE_BODY_QUOTE, EDGE_CLEAN);
	secrets[0] = e->key_shown;
	(void)util_redact(out, outlen, secrets, 1, cut);
}

static void
call_free(struct edge_call *c)
{
	ev_timer_stop(c->e->loop, &c->retry);
	free(c->url);
	free(c);
}

enum metrics_edge_outcome
edge_metrics_outcome(const struct edge_result *r)
{
	if (r->ok)
		return METRICS_EDGE_OK;
	if (r->status == 404)
		return METRICS_EDGE_NOT_FOUND;
	if (r->status == 401 || r->status == 403)
		return METRICS_EDGE_UNAUTHORIZED;
	return METRICS_EDGE_FAILED;
}

static void
destroy(struct edge *e)
{
	free(e->base);
	free(e->api_key);
	free(e->key_shown);
	free(e->key_header);
	free(e);
}

/* The fetch is over: run its callback, then forget it. */
static void
finish(struct edge_call *c, const struct edge_result *r)
{
	struct edge *e = c->e;

	LIST_REMOVE(c, entry);
	ev_timer_stop(e->loop, &c->retry);
	c->calling = 1;
	util_enter(&e->re);
	c->done(c->arg, r);
	call_free(c);
	if (util_leave(&e->re))
		destroy(e);
}

static void
fail(struct edge_call *c, long status, const char *why)
{
	struct edge_result r;
	char err[EDGE_ERROR_MAX];

	if (c->attempts > 1)
		snprintf(err, sizeof(err), "edge: GET %s: %s (%d attempts)",
		    c->url, why, c->attempts);
	else
		snprintf(err, sizeof(err), "edge: GET %s: %s", c->url, why);
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.attempts = c->attempts;
	r.error = err;
	finish(c, &r);
}

static void
on_done(void *arg, const struct httpc_result *hr)
{
	struct edge_call *c = arg;
	struct edge_result r;
	char why[EDGE_ERROR_MAX], quoted[EDGE_BODY_QUOTE + 1];
	uint32_t delay;
	int retry;

	c->hc = NULL;
	if (hr->ok && hr->status >= 200 && hr->status <= 299) {
		memset(&r, 0, sizeof(r));
		r.ok = 1;
		r.status = hr->status;
		r.attempts = c->attempts;
		r.body = hr->body;
		r.body_len = hr->body_len;
		finish(c, &r);
		return;
	}
	if (!hr->ok) {
		snprintf(why, sizeof(why), "%s", hr->error);
		retry = 1;
	} else {
		quote_body(c->e, hr->body, hr->body_len, quoted,
		    sizeof(quoted));
		snprintf(why, sizeof(why), "HTTP %ld%s%s", hr->status,
		    quoted[0] != '\0' ? ": " : "", quoted);
		retry = hr->status >= 500 && hr->status <= 599;
	}
	if (!retry || c->attempts >= EDGE_ATTEMPTS) {
		fail(c, hr->ok ? hr->status : 0, why);
		return;
	}
	delay = backoff_next(&c->backoff, backoff_random());
	log_info("edge: GET %s: %s; retrying in %ums (attempt %d of %d)",
	    c->url, why, (unsigned)delay, c->attempts + 1, EDGE_ATTEMPTS);
	ev_timer_set(&c->retry, delay / 1000.0, 0.);
	ev_timer_start(c->e->loop, &c->retry);
}

/* Start one request of the fetch; NULL with errno. */
static struct httpc_call *
send_request(struct edge_call *c)
{
	struct edge *e = c->e;
	struct httpc_request req;
	const char *headers[4];

	headers[0] = e->key_header;
	headers[1] = "X-API-VERSION: 1";
	headers[2] = "Accept: application/json";
	headers[3] = NULL;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = c->url;
	req.headers = headers;
	req.timeout_ms = EDGE_TIMEOUT_MS;
	c->attempts++;
	return httpc_start(e->hc, &req, on_done, c);
}

/* A retry, when its backoff delay has passed. */
static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct edge_call *c = w->data;
	char why[128];

	(void)loop;
	(void)revents;
	if ((c->hc = send_request(c)) == NULL) {
		snprintf(why, sizeof(why), "cannot start the request: %s",
		    strerror(errno));
		fail(c, 0, why);
	}
}

struct edge *
edge_new(struct ev_loop *loop, struct httpc *hc, const char *base_url,
    const char *api_key, char *err, size_t errlen)
{
	struct edge *e;
	struct url u;
	char why[128];
	size_t blen, klen;

	if (loop == NULL || hc == NULL) {
		util_set_err(err, errlen, "edge: no event loop or HTTP client");
		return NULL;
	}
	if (url_parse(base_url, URL_BASE, &u, why, sizeof(why)) == -1) {
		util_set_err(err, errlen, "edge: API URL %s", why);
		return NULL;
	}
	if (api_key != NULL && *api_key != '\0' && has_control(api_key)) {
		util_set_err(err, errlen, "edge: the API key contains control "
		    "characters");
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		goto nomem;
	e->loop = loop;
	e->hc = hc;
	LIST_INIT(&e->calls);
	for (blen = strlen(base_url); blen > 0 && base_url[blen - 1] == '/';
	    blen--)
		;
	if ((e->base = strndup(base_url, blen)) == NULL)
		goto nomem;
	if (api_key != NULL && *api_key != '\0') {
		klen = strlen(api_key);
		if ((e->api_key = strdup(api_key)) == NULL ||
		    (e->key_shown = malloc(klen + 1)) == NULL ||
		    asprintf(&e->key_header, "X-API-KEY: %s", api_key) == -1) {
			e->key_header = NULL;
			goto nomem;
		}
		(void)util_clean(e->key_shown, klen + 1, api_key, klen, 0,
		    EDGE_CLEAN);
	}
	return e;

nomem:
	if (e != NULL)
		destroy(e);
	util_set_err(err, errlen, "edge: out of memory");
	return NULL;
}

void
edge_free(struct edge *e)
{
	if (e == NULL || util_dying(&e->re))
		return;
	while (!LIST_EMPTY(&e->calls))
		edge_cancel(LIST_FIRST(&e->calls));
	if (util_release(&e->re))
		destroy(e);
}

struct edge_call *
edge_fetch(struct edge *e, const char *customer_id, const char *resource_id,
    edge_done_fn done, void *arg, char *err, size_t errlen)
{
	struct edge_call *c;
	char url[EDGE_URL_MAX];

	if (e == NULL || util_dying(&e->re) || done == NULL) {
		util_set_err(err, errlen, "edge: no client");
		return NULL;
	}
	if (e->api_key == NULL) {
		util_set_err(err, errlen, "edge: SERVER_API_KEY is not set");
		return NULL;
	}
	if (edge_url(e->base, customer_id, resource_id, url,
	    sizeof(url)) == -1) {
		util_set_err(err, errlen, "edge: customer id empty or ids too long");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->url = strdup(url)) == NULL) {
		free(c);
		util_set_err(err, errlen, "edge: out of memory");
		return NULL;
	}
	c->e = e;
	c->done = done;
	c->arg = arg;
	backoff_init(&c->backoff, EDGE_BACKOFF_MIN_MS, EDGE_BACKOFF_MAX_MS);
	ev_timer_init(&c->retry, on_retry, 0., 0.);
	c->retry.data = c;
	if ((c->hc = send_request(c)) == NULL) {
		util_set_err(err, errlen, "edge: GET %s: cannot start the request: "
		    "%s", c->url, strerror(errno));
		call_free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&e->calls, c, entry);
	return c;
}

void
edge_cancel(struct edge_call *c)
{
	if (c == NULL || c->calling)
		return;
	LIST_REMOVE(c, entry);
	httpc_cancel(c->hc);
	call_free(c);
}
