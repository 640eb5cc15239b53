/*
 * sentinel: finding the primary through Redis Sentinel, and following it.
 *
 * A discovery asks the sentinels of REDIS_SENTINELS one at a time,
 * starting with the one that answered last: resolve its host (resolve.c,
 * off the loop) -> connect to its first address (with a timeout) -> AUTH
 * (when redis_sentinel_password is set) -> SENTINEL get-master-addr-by-name
 * <master> -> SUBSCRIBE +switch-master, pipelined.  The first address
 * answered ends the discovery, and that connection stays open as the
 * subscription: a +switch-master for our master's name tells cache.c,
 * which drops the data connection and discovers again.  A sentinel that
 * fails (refused, timed out, an error, or no such master) passes the turn
 * to the next; when none answered, the discovery reports why, and cache.c
 * comes back with its backoff.
 *
 * When the subscription is lost while the data connection is fine, a
 * discovery runs in the background (with backoff while it fails) to
 * subscribe again; if the primary it finds is not the one in use, the
 * failover was missed meanwhile and cache.c is told as for a switch.
 *
 * Failures seen in rconn callbacks are acted on from the timer, outside any
 * callback of the context that is to be freed.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include "rconn.h"

#include "backoff.h"
#include "config.h"
#include "log.h"
#include "resolve.h"
#include "sentinel.h"

/*
 * A sentinel on a LAN answers in a millisecond: two seconds bound the
 * connect, the AUTH and the answer together, so that three dead sentinels
 * cost six seconds, within what readiness is expected to take to say so.
 */
#define SENTINEL_TIMEOUT	2.0
/* As cache.c's lookup: more than glibc's 5 s per nameserver, and a margin. */
#define SENTINEL_RESOLVE_TIMEOUT 12.0
/* A lost subscription is sought again from 1 s, up to every 10 s. */
#define SENTINEL_RETRY_MIN_MS	1000
#define SENTINEL_RETRY_MAX_MS	10000

enum step {
	STEP_IDLE,		/* no discovery */
	STEP_START,		/* the timer starts it */
	STEP_RESOLVING,		/* the current sentinel's lookup */
	STEP_CONNECTING,	/* connect, AUTH, the question */
	STEP_NEXT,		/* failed: the timer asks the next */
	STEP_RETRY		/* in the background, after a backoff */
};

struct sentinel {
	struct ev_loop		*loop;
	const struct config	*cfg;
	struct rconn_tls	*tls;		/* cache.c's; NULL: plain */
	sentinel_moved_fn	 moved;
	void			*moved_arg;

	/* The discovery in progress. */
	enum step		 step;
	sentinel_found_fn	 fn;	/* NULL: in the background */
	void			*fn_arg;
	size_t			 start;		/* asked first */
	size_t			 tried;	/* asked in this round */
	size_t			 cur;		/* asked now */
	struct resolve		*lookup;
	struct rconn	*ac;
	char			 addr[RESOLVE_ADDRSTRLEN];
	int			 unknown;	/* some sentinel said nil */
	int			 failures;
	char			 first_err[512];
	ev_timer		 timer;

	/* The subscription, and what it last said. */
	struct rconn	*sub;
	int			 known;
	char			 primary[RESOLVE_ADDRSTRLEN + 8];
	int			 primary_port;
	struct backoff		 backoff;
	int			 closing;
};

static void	ask_next(struct sentinel *);

/* --- pure helpers --- */

int
sentinel_role_is_master(const void *reply, char *why, size_t whylen)
{
	const redisReply *r = reply, *e;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(why, whylen, "unexpected reply");
		return -1;
	}
	e = r->element[0];
	if (strcmp(e->str, "master") == 0)
		return 0;
	if (strcmp(e->str, "slave") == 0 && r->elements >= 3 &&
	    r->element[1]->type == REDIS_REPLY_STRING &&
	    r->element[2]->type == REDIS_REPLY_INTEGER)
		snprintf(why, whylen, "is a replica of %.64s:%lld",
		    r->element[1]->str, r->element[2]->integer);
	else if (strcmp(e->str, "slave") == 0)
		snprintf(why, whylen, "is a replica");
	else
		snprintf(why, whylen, "is a %.32s, not a master", e->str);
	return -1;
}

int
sentinel_parse_switch(const char *msg, size_t len, const char *master,
    char *host, size_t hostlen, int *port)
{
	const char *f[5], *p = msg, *end = msg + len;
	size_t flen[5], n = 0;
	long v;
	char *q;
	char num[8];

	while (n < 5) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		f[n] = p;
		while (p < end && *p != ' ')
			p++;
		flen[n] = (size_t)(p - f[n]);
		n++;
	}
	while (p < end && *p == ' ')
		p++;
	if (n != 5 || p != end)
		return -1;
	if (flen[0] != strlen(master) || memcmp(f[0], master, flen[0]) != 0)
		return 0;
	if (flen[3] == 0 || flen[3] >= hostlen || flen[4] == 0 ||
	    flen[4] >= sizeof(num))
		return -1;
	memcpy(num, f[4], flen[4]);
	num[flen[4]] = '\0';
	v = strtol(num, &q, 10);
	if (*q != '\0' || !isdigit((unsigned char)num[0]) || v < 1 ||
	    v > 65535)
		return -1;
	memcpy(host, f[3], flen[3]);
	host[flen[3]] = '\0';
	*port = (int)v;
	return 1;
}

/* --- the discovery --- */

/* "host:port" of sentinel i, "[::1]:26379" for an IPv6 address. */
static void
sentinel_name(const struct sentinel *s, size_t i, char *buf, size_t len)
{
	const struct config_hostport *hp = &s->cfg->sentinels[i];
	int v6 = strchr(hp->host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", hp->host,
	    v6 ? "]" : "", hp->port);
}

static void
arm(struct sentinel *s, double after)
{
	ev_timer_stop(s->loop, &s->timer);
	ev_timer_set(&s->timer, after, 0.);
	ev_timer_start(s->loop, &s->timer);
}

/* Close the discovery's connection and lookup, from outside callbacks. */
static void
drop_attempt(struct sentinel *s)
{
	struct rconn *ac = s->ac;

	resolve_cancel(s->lookup);
	s->lookup = NULL;
	s->ac = NULL;
	if (ac != NULL)
		rconn_free(ac);	/* its callbacks see s->ac != ac */
}

/*
 * The current sentinel failed (what: how, its first letter made lower
 * case as in the rest of the line); the timer asks the next one.
 */
static void
attempt_failed(struct sentinel *s, const char *what)
{
	char name[280], text[160];

	if (s->step != STEP_RESOLVING && s->step != STEP_CONNECTING)
		return;
	sentinel_name(s, s->cur, name, sizeof(name));
	snprintf(text, sizeof(text), "%s", what);
	/* "Connection refused" (strerror) in a lowercase log line. */
	if (isupper((unsigned char)text[0]) && islower((unsigned char)text[1]))
		text[0] = (char)tolower((unsigned char)text[0]);
	if (s->failures++ == 0)
		snprintf(s->first_err, sizeof(s->first_err),
		    "redis: sentinel: %s: %s", name, text);
	log_debug("redis: sentinel: %s: %s", name, text);
	s->step = STEP_NEXT;
	arm(s, 0.);
}

/* A discovery is over: tell whoever asked. */
static void
finish(struct sentinel *s, const char *host, int port, const char *err)
{
	sentinel_found_fn fn = s->fn;
	char why[512];
	int moved;

	s->step = STEP_IDLE;
	ev_timer_stop(s->loop, &s->timer);
	if (host != NULL) {
		moved = s->known && (strcmp(s->primary, host) != 0 ||
		    s->primary_port != port);
		snprintf(s->primary, sizeof(s->primary), "%s", host);
		s->primary_port = port;
		s->known = 1;
		backoff_reset(&s->backoff);
		if (fn == NULL && moved) {
			snprintf(why, sizeof(why), "redis: sentinel: master "
			    "'%s' is now at %s:%d",
			    s->cfg->redis_sentinel_master, host, port);
			s->moved(s->moved_arg, why);
		}
	} else if (fn == NULL) {
		/* In the background: the data connection is not ours. */
		log_debug("%s", err);
		s->step = STEP_RETRY;
		arm(s, backoff_next(&s->backoff, backoff_random()) / 1000.0);
		return;
	}
	s->fn = NULL;
	if (fn != NULL)
		fn(s->fn_arg, host, port, err);
}

static void	on_switch(struct rconn *, void *, void *);

static void
on_addr(struct rconn *ac, void *reply, void *arg)
{
	struct sentinel *s = rconn_data(ac);
	redisReply *r = reply;
	struct rconn *old;
	char text[160], host[RESOLVE_ADDRSTRLEN + 8];
	long port;

	(void)arg;
	if (r == NULL || ac != s->ac || s->step != STEP_CONNECTING)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(text, sizeof(text), "SENTINEL get-master-addr-by-name:"
		    " %.120s", r->str);
		attempt_failed(s, text);
		return;
	}
	if (r->type == REDIS_REPLY_NIL) {
		s->unknown = 1;
		snprintf(text, sizeof(text), "does not know master '%.64s'",
		    s->cfg->redis_sentinel_master);
		attempt_failed(s, text);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len >= sizeof(host) ||
	    (port = strtol(r->element[1]->str, NULL, 10)) < 1 ||
	    port > 65535) {
		attempt_failed(s, "SENTINEL get-master-addr-by-name: "
		    "unexpected reply");
		return;
	}
	snprintf(host, sizeof(host), "%s", r->element[0]->str);
	/* This connection, SUBSCRIBEd already, is the subscription now. */
	old = s->sub;
	s->sub = ac;
	s->ac = NULL;
	s->start = s->cur;
	if (old != NULL)
		rconn_free(old);	/* not in a callback of its own */
	log_debug("redis: sentinel: master '%s' is at %s:%ld",
	    s->cfg->redis_sentinel_master, host, port);
	finish(s, host, (int)port, NULL);
}

static void
on_auth(struct rconn *ac, void *reply, void *arg)
{
	struct sentinel *s = rconn_data(ac);
	redisReply *r = reply;
	char text[160];

	(void)arg;
	if (r == NULL || ac != s->ac || r->type != REDIS_REPLY_ERROR)
		return;
	snprintf(text, sizeof(text), "AUTH: %.120s", r->str);
	attempt_failed(s, text);
}

/* A message of the subscription: the answer to SUBSCRIBE, or a switch. */
static void
on_switch(struct rconn *ac, void *reply, void *arg)
{
	struct sentinel *s = rconn_data(ac);
	redisReply *r = reply, *m;
	char host[RESOLVE_ADDRSTRLEN + 8], why[512];
	int port, rc;

	(void)arg;
	if (r == NULL || ac != s->sub || r->type != REDIS_REPLY_ARRAY ||
	    r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->element[0]->str, "message") != 0)
		return;
	m = r->element[2];
	if (m->type != REDIS_REPLY_STRING)
		return;
	rc = sentinel_parse_switch(m->str, m->len,
	    s->cfg->redis_sentinel_master, host, sizeof(host), &port);
	if (rc == -1) {
		log_warn("redis: sentinel: +switch-master: malformed message");
		return;
	}
	if (rc == 0)
		return;
	snprintf(s->primary, sizeof(s->primary), "%s", host);
	s->primary_port = port;
	s->known = 1;
	snprintf(why, sizeof(why), "redis: sentinel: +switch-master: master "
	    "'%s' is now at %s:%d", s->cfg->redis_sentinel_master, host, port);
	s->moved(s->moved_arg, why);
}

static void
on_connect(struct rconn *ac, int status)
{
	struct sentinel *s = rconn_data(ac);
	const struct config *cfg = s->cfg;

	if (ac != s->ac)
		return;
	if (status != 0) {
		s->ac = NULL;	/* rconn frees it after this callback */
		attempt_failed(s, rconn_errstr(ac)[0] ? rconn_errstr(ac) :
		    "connect failed");
		return;
	}
	if (cfg->redis_sentinel_password != NULL) {
		if (cfg->redis_sentinel_user != NULL)
			rconn_command(ac, on_auth, NULL, "AUTH %s %s",
			    cfg->redis_sentinel_user,
			    cfg->redis_sentinel_password);
		else
			rconn_command(ac, on_auth, NULL, "AUTH %s",
			    cfg->redis_sentinel_password);
	}
	rconn_command(ac, on_addr, NULL,
	    "SENTINEL get-master-addr-by-name %s", cfg->redis_sentinel_master);
	/* In the same pipeline: no switch can fall between the two. */
	if (rconn_subscribe(ac, on_switch, NULL, "+switch-master") != 0)
		attempt_failed(s, "SUBSCRIBE +switch-master: cannot send");
}

static void
on_disconnect(struct rconn *ac, int status)
{
	struct sentinel *s = rconn_data(ac);

	(void)status;
	if (s->closing)
		return;
	if (ac == s->ac) {
		s->ac = NULL;
		attempt_failed(s, rconn_errstr(ac)[0] ? rconn_errstr(ac) :
		    "connection closed");
		return;
	}
	if (ac != s->sub)
		return;
	s->sub = NULL;
	log_info("redis: sentinel: subscription lost%s%s; asking again",
	    rconn_errstr(ac)[0] ? ": " : "", rconn_errstr(ac));
	/* Subscribe again from the background, unless a discovery runs. */
	if (s->step == STEP_IDLE) {
		s->fn = NULL;
		s->step = STEP_RETRY;
		arm(s, backoff_next(&s->backoff, backoff_random()) / 1000.0);
	}
}

static void
on_resolved(void *arg, const struct resolve_result *res, const char *err)
{
	struct sentinel *s = arg;
	const struct config_hostport *hp = &s->cfg->sentinels[s->cur];
	struct rconn *ac;
	char text[160], why[200];
	const char *name = s->cfg->redis_tls_server_name != NULL ?
	    s->cfg->redis_tls_server_name : hp->host;

	s->lookup = NULL;
	if (res == NULL) {
		snprintf(text, sizeof(text), "resolving: %s", err);
		attempt_failed(s, text);
		return;
	}
	snprintf(s->addr, sizeof(s->addr), "%s", res->addr[0]);
	s->step = STEP_CONNECTING;
	/* Over TLS when the data connection is (REDIS_TLS). */
	ac = rconn_connect(s->loop, s->addr, hp->port, s->tls, name,
	    on_connect, on_disconnect, s, why, sizeof(why));
	if (ac == NULL) {
		attempt_failed(s, why);
		return;
	}
	s->ac = ac;
	arm(s, SENTINEL_TIMEOUT);
}

/* Ask the next sentinel of the round; after the last, the round failed. */
static void
ask_next(struct sentinel *s)
{
	const struct config *cfg = s->cfg;
	char reason[640], err[128];

	drop_attempt(s);
	if (s->tried == cfg->nsentinels) {
		if (s->unknown)
			snprintf(reason, sizeof(reason), "redis: sentinel: "
			    "no sentinel knows master '%s'",
			    cfg->redis_sentinel_master);
		else if (s->failures > 1)
			snprintf(reason, sizeof(reason), "%s (and %d more "
			    "sentinel%s)", s->first_err, s->failures - 1,
			    s->failures > 2 ? "s" : "");
		else
			snprintf(reason, sizeof(reason), "%s", s->first_err);
		finish(s, NULL, 0, reason);
		return;
	}
	s->cur = (s->start + s->tried++) % cfg->nsentinels;
	s->step = STEP_RESOLVING;
	s->lookup = resolve_start(s->loop, cfg->sentinels[s->cur].host,
	    SENTINEL_RESOLVE_TIMEOUT, on_resolved, s, err, sizeof(err));
	if (s->lookup == NULL) {
		snprintf(reason, sizeof(reason), "resolving: %s", err);
		attempt_failed(s, reason);
	}
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sentinel *s = w->data;

	(void)loop;
	(void)revents;
	if (s->closing)
		return;
	switch (s->step) {
	case STEP_CONNECTING:
		attempt_failed(s, "no answer within 2s");
		break;
	case STEP_NEXT:
		ask_next(s);
		break;
	case STEP_RETRY:
		if (s->sub != NULL) {
			s->step = STEP_IDLE;	/* subscribed meanwhile */
			break;
		}
		/* FALLTHROUGH */
	case STEP_START:
		s->tried = 0;
		s->failures = 0;
		s->unknown = 0;
		s->first_err[0] = '\0';
		ask_next(s);
		break;
	default:
		break;
	}
}

void
sentinel_discover(struct sentinel *s, sentinel_found_fn fn, void *arg)
{
	drop_attempt(s);
	s->fn = fn;
	s->fn_arg = arg;
	s->step = STEP_START;
	arm(s, 0.);
}

void
sentinel_cancel(struct sentinel *s)
{
	drop_attempt(s);
	s->fn = NULL;
	s->step = STEP_IDLE;
	ev_timer_stop(s->loop, &s->timer);
}

struct sentinel *
sentinel_new(struct ev_loop *loop, const struct config *cfg,
    struct rconn_tls *tls, sentinel_moved_fn moved, void *arg)
{
	struct sentinel *s;

	if (cfg->nsentinels == 0 || cfg->redis_sentinel_master == NULL)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->loop = loop;
	s->cfg = cfg;
	s->tls = tls;
	s->moved = moved;
	s->moved_arg = arg;
	s->step = STEP_IDLE;
	backoff_init(&s->backoff, SENTINEL_RETRY_MIN_MS, SENTINEL_RETRY_MAX_MS);
	ev_timer_init(&s->timer, on_timer, 0., 0.);
	s->timer.data = s;
	return s;
}

void
sentinel_free(struct sentinel *s)
{
	struct rconn *sub;

	if (s == NULL)
		return;
	s->closing = 1;
	ev_timer_stop(s->loop, &s->timer);
	drop_attempt(s);
	if ((sub = s->sub) != NULL) {
		s->sub = NULL;
		rconn_free(sub);
	}
	free(s);
}
