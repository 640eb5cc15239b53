/*
 * consumer: the worker process.  Owns its libev loop, its HTTP client
 * (SQS and the Edge API), its Redis writer and its side of the status
 * channel.
 *
 * The pipeline: up to receives_in_flight long polls are outstanding at
 * once while Redis is usable and the SQS backoff allows; each message
 * received is parsed (events.c), refilled from the Edge API when it is a
 * thin notification (edge.c), and written to Redis (cache.c).  Only then
 * is it deleted: deletes are gathered and sent as DeleteMessageBatch, up
 * to ten entries, at the end of each loop iteration.  A message that
 * could not be written is released with a visibility timeout that grows
 * with its receive count; a bad one follows poison_policy.  Nothing is
 * deleted before its effect is in Redis.
 *
 * Stopping (the master's stop message, SIGTERM, or the master's death):
 * no new receive, the long polls in flight are abandoned (what they would
 * have returned stays invisible for visibility_timeout, then comes back),
 * the messages in hand are finished and settled, then the process exits.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/queue.h>
#ifdef HAVE_PRCTL
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "backoff.h"
#include "cache.h"
#include "consumer.h"
#include "edge.h"
#include "events.h"
#include "httpc.h"
#include "ipc.h"
#include "log.h"
#include "sqs.h"
#include "util.h"

/*
 * SQS trouble: throttling, 5xx and network errors back off from 100 ms to
 * 20 s; credentials and other client errors, which no quick retry fixes,
 * wait a minute between tries.  A consumer whose SQS calls have failed
 * for SQS_UNHEALTHY_MS (or at once, for those) reports not-ready.
 */
#define SQS_BACKOFF_MIN_MS	100
#define SQS_BACKOFF_MAX_MS	20000
#define SQS_LONG_BACKOFF_MS	60000
#define SQS_UNHEALTHY_MS	10000
/* With wait_time 0, an empty receive waits this long before the next. */
#define SHORT_POLL_PAUSE_MS	1000
/* A message whose write failed comes back after 2^receives s, at most this. */
#define RETRY_MAX_SECS		300

struct msg {
	struct consumer		*c;
	struct sqs_message	 m;
	struct event		 ev;
	int			 have_ev;
	struct edge_call	*edge;
	char			 name[256];	/* for logs: see log_id */
	TAILQ_ENTRY(msg)	 link;
};
TAILQ_HEAD(msg_list, msg);

/* A settled message waiting to be sent in a batch. */
struct settle {
	char	*receipt;
	char	*id;		/* SQS message id, for logs */
	int	 visibility;	/* visibility queue only */
};

struct settle_queue {
	const char	*action;	/* for logs */
	int		 visibility;	/* ChangeMessageVisibilityBatch */
	struct settle	 e[SQS_MAX_BATCH];
	size_t		 n;
};

/* One batch request in flight, with the entries it carries. */
struct batch_call {
	struct consumer		*c;
	struct settle_queue	 q;
	struct sqs_call		*call;
	LIST_ENTRY(batch_call)	 link;
};
LIST_HEAD(batch_list, batch_call);

struct consumer {
	struct ev_loop		*loop;
	const struct config	*cfg;
	int			 slot;
	int			 fd;
	int			 ready;		/* last readiness reported */
	int			 stopping;
	int			 exit_status;
	char			 reason[IPC_REASON_MAX];
	struct ipc_msg		 stats;

	struct cache		*cache;
	struct httpc		*http;
	struct sqs		*sqs;
	struct edge		*edge;

	struct sqs_call		*receives[32];	/* receives_in_flight at most */
	int			 nreceives;
	struct msg_list		 in_hand;
	size_t			 nin_hand;
	struct settle_queue	 delq, visq;
	struct batch_list	 batches;

	int			 sqs_waiting;	/* backoff timer running */
	int			 sqs_failing;	/* since sqs_fail_since_ms */
	int			 sqs_fatal;	/* auth or client error */
	uint64_t		 sqs_fail_since_ms;
	char			 sqs_logged[SQS_ERROR_MAX];
	struct backoff		 sqs_backoff;
	ev_timer		 sqs_timer;

	ev_io			 ipc_io;
	ev_timer		 heartbeat;
	ev_timer		 drain_deadline;
	ev_prepare		 flush;
	ev_signal		 sigterm, sigint, sigusr1;
};

static void	consumer_stop(struct consumer *, const char *why);
static void	maybe_receive(struct consumer *);
static void	maybe_exit(struct consumer *);

/* --- status --- */

static void
send_status(struct consumer *c, enum ipc_type type)
{
	struct ipc_msg m = c->stats;

	m.type = type;
	m.pid = (uint32_t)getpid();
	m.ready = (uint8_t)c->ready;
	m.redis_ok = c->cache != NULL && cache_is_up(c->cache);
	m.sqs_ok = !c->sqs_failing;
	m.last_redis_ok_ms = c->cache != NULL ? cache_last_ok_ms(c->cache) : 0;
	snprintf(m.reason, sizeof(m.reason), "%s", c->ready ? "" : c->reason);
	/* EAGAIN: the master is busy; the next heartbeat carries the news. */
	if (ipc_send(c->fd, &m) == -1 && errno != EAGAIN)
		log_debug("ipc: send %s: %s", ipc_type_name(type),
		    strerror(errno));
}

static int
sqs_healthy(const struct consumer *c)
{
	return !c->sqs_fatal && (!c->sqs_failing ||
	    util_mono_ms() - c->sqs_fail_since_ms < SQS_UNHEALTHY_MS);
}

/* Recompute readiness; tell the master when it changed. */
static void
update_ready(struct consumer *c)
{
	int ready;

	if (c->stopping)
		snprintf(c->reason, sizeof(c->reason), "stopping");
	else if (!cache_is_up(c->cache))
		; /* the reason is the cache's, set by on_cache_state */
	else if (!sqs_healthy(c))
		snprintf(c->reason, sizeof(c->reason), "%.*s",
		    (int)sizeof(c->reason) - 1, c->sqs_logged);
	ready = !c->stopping && cache_is_up(c->cache) && sqs_healthy(c);
	if (ready == c->ready)
		return;
	c->ready = ready;
	if (ready)
		log_info("ready");
	else
		log_info("not ready: %s", c->reason);
	send_status(c, ready ? IPC_READY : IPC_NOT_READY);
}

static void
on_cache_state(void *arg, int up, const char *reason)
{
	struct consumer *c = arg;

	if (!up)
		snprintf(c->reason, sizeof(c->reason), "%.*s",
		    (int)sizeof(c->reason) - 1, reason);
	update_ready(c);
	if (up)
		maybe_receive(c);
}

/* --- settling: delete or release, in batches --- */

static void	flush_queue(struct consumer *, struct settle_queue *);

static void
settle_free(struct settle *s)
{
	free(s->receipt);
	free(s->id);
}

static void
on_batch(void *arg, enum sqs_status st, const char *err,
    const struct sqs_entry_result *res, size_t n)
{
	struct batch_call *b = arg;
	struct consumer *c = b->c;
	size_t i;

	LIST_REMOVE(b, link);
	if (st != SQS_OK) {
		/* The messages come back after their visibility timeout. */
		log_warn("%s; %zu messages will be delivered again", err,
		    b->q.n);
		c->stats.errors++;
	} else {
		for (i = 0; i < n && i < b->q.n; i++) {
			if (res[i].ok)
				continue;
			log_warn("sqs: %s: message %s: %s: %s", b->q.action,
			    b->q.e[i].id, res[i].code, res[i].message);
			c->stats.errors++;
		}
	}
	for (i = 0; i < b->q.n; i++)
		settle_free(&b->q.e[i]);
	free(b);
	maybe_exit(c);
}

static void
flush_queue(struct consumer *c, struct settle_queue *q)
{
	struct sqs_entry e[SQS_MAX_BATCH];
	struct batch_call *b;
	char err[SQS_ERROR_MAX];
	size_t i;

	if (q->n == 0)
		return;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		log_error("%s: out of memory; %zu messages will be delivered "
		    "again", q->action, q->n);
		for (i = 0; i < q->n; i++)
			settle_free(&q->e[i]);
		q->n = 0;
		return;
	}
	b->c = c;
	b->q = *q;
	q->n = 0;
	for (i = 0; i < b->q.n; i++) {
		e[i].receipt_handle = b->q.e[i].receipt;
		e[i].visibility_timeout = b->q.e[i].visibility;
	}
	LIST_INSERT_HEAD(&c->batches, b, link);
	b->call = b->q.visibility ?
	    sqs_change_visibility_batch(c->sqs, e, b->q.n, on_batch, b, err,
	    sizeof(err)) :
	    sqs_delete_batch(c->sqs, e, b->q.n, on_batch, b, err, sizeof(err));
	if (b->call == NULL) {
		LIST_REMOVE(b, link);
		log_error("%s; %zu messages will be delivered again", err,
		    b->q.n);
		for (i = 0; i < b->q.n; i++)
			settle_free(&b->q.e[i]);
		free(b);
	}
}

/* End of each loop iteration: send what was settled during it. */
static void
on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct consumer *c = w->data;

	(void)loop;
	(void)revents;
	flush_queue(c, &c->delq);
	flush_queue(c, &c->visq);
	maybe_exit(c);
}

/* Queue m's receipt for deletion (vis < 0) or release after vis seconds. */
static void
settle(struct consumer *c, struct msg *m, int vis)
{
	struct settle_queue *q = vis < 0 ? &c->delq : &c->visq;
	struct settle *s;

	if (q->n == SQS_MAX_BATCH)
		flush_queue(c, q);
	s = &q->e[q->n];
	s->receipt = m->m.receipt_handle;
	s->id = m->m.message_id;
	s->visibility = vis < 0 ? 0 : vis;
	m->m.receipt_handle = m->m.message_id = NULL;	/* moved */
	if (s->receipt == NULL || s->id == NULL) {
		settle_free(s);
		return;
	}
	q->n++;
	if (q->n == SQS_MAX_BATCH)
		flush_queue(c, q);
}

/* Take m out of the hand and free it (its receipt may be settled already). */
static void
msg_free(struct consumer *c, struct msg *m)
{
	TAILQ_REMOVE(&c->in_hand, m, link);
	c->nin_hand--;
	if (m->edge != NULL)
		edge_cancel(m->edge);
	if (m->have_ev)
		events_free(&m->ev);
	free(m->m.body);
	free(m->m.receipt_handle);
	free(m->m.message_id);
	free(m);
}

static void
msg_done(struct consumer *c, struct msg *m, int vis)
{
	settle(c, m, vis);
	msg_free(c, m);
	maybe_receive(c);
	maybe_exit(c);
}

/* The visibility for a retry: 2^receives seconds, capped. */
static int
retry_visibility(const struct consumer *c, const struct msg *m)
{
	int n = m->m.receive_count > 0 ? m->m.receive_count : 1, v = 1;

	while (n-- > 0 && v < RETRY_MAX_SECS)
		v *= 2;
	if (v > RETRY_MAX_SECS)
		v = RETRY_MAX_SECS;
	return v < c->cfg->visibility_timeout ? v : c->cfg->visibility_timeout;
}

/*
 * How log lines name a message: its SQS message id, and the event's own
 * messageId once it is parsed and has one ("<sqs id> (event <id>)").
 */
static const char *
log_id(struct msg *m)
{
	const char *sqs_id = m->m.message_id != NULL ? m->m.message_id : "?";

	if (m->have_ev && m->ev.message_id[0] != '\0')
		snprintf(m->name, sizeof(m->name), "%s (event %s)", sqs_id,
		    m->ev.message_id);
	else
		snprintf(m->name, sizeof(m->name), "%s", sqs_id);
	return m->name;
}

/* --- applying --- */

static void
on_applied(void *arg, enum cache_result r, const char *detail)
{
	struct msg *m = arg;
	struct consumer *c = m->c;

	switch (r) {
	case CACHE_APPLIED:
	case CACHE_SKIPPED:
		log_debug("message %s: %s %s: %s", log_id(m), m->ev.type,
		    r == CACHE_APPLIED ? "applied" : "skipped", detail);
		c->stats.applied++;
		msg_done(c, m, -1);
		break;
	case CACHE_FAILED:
		log_warn("message %s: %s not written: %s; delivered again in "
		    "%ds", log_id(m), m->ev.type, detail,
		    retry_visibility(c, m));
		c->stats.errors++;
		msg_done(c, m, retry_visibility(c, m));
		break;
	}
}

static void
on_edge(void *arg, const struct edge_result *r)
{
	struct msg *m = arg;
	struct consumer *c = m->c;
	char perr[256];
	int ok = r->ok;

	m->edge = NULL;
	if (!ok || events_apply_edge(&m->ev, r->body, r->body_len, perr,
	    sizeof(perr)) == -1) {
		log_warn("message %s: refill of customer '%s' from the Edge "
		    "API failed: %s; delivered again in %ds", log_id(m),
		    m->ev.customer_id, ok ? perr : r->error,
		    retry_visibility(c, m));
		c->stats.errors++;
		msg_done(c, m, retry_visibility(c, m));
		return;
	}
	cache_apply(c->cache, &m->ev, on_applied, m);
}

static void
process(struct consumer *c, struct msg *m)
{
	char err[256];

	if (events_parse(m->m.body, m->m.body_len, m->m.sent_timestamp_ms,
	    &m->ev, err, sizeof(err)) == -1) {
		if (strcmp(err, "out of memory") == 0) {
			/* Our trouble, not the message's: try it again later. */
			log_error("message %s: out of memory; delivered again "
			    "in %ds", log_id(m), retry_visibility(c, m));
			c->stats.errors++;
			msg_done(c, m, retry_visibility(c, m));
			return;
		}
		c->stats.rejected++;
		if (c->cfg->poison_policy == CONFIG_POISON_DELETE) {
			log_warn("message %s: rejected: %s; deleted "
			    "(poison_policy delete)", log_id(m), err);
			msg_done(c, m, -1);
		} else {
			log_warn("message %s: rejected: %s; kept for the "
			    "queue's redrive policy, visible again in %ds",
			    log_id(m), err,
			    c->cfg->poison_visibility_timeout);
			msg_done(c, m, c->cfg->poison_visibility_timeout);
		}
		return;
	}
	m->have_ev = 1;
	switch (m->ev.kind) {
	case EVENT_IGNORED:
		log_debug("message %s: %s ignored", log_id(m), m->ev.type);
		c->stats.ignored++;
		msg_done(c, m, -1);
		return;
	case EVENT_INVALIDATE_ALL:
		if (c->cfg->on_package_published == CONFIG_PACKAGE_IGNORE) {
			log_info("message %s: %s for all customers ignored "
			    "(on_package_published ignore)", log_id(m),
			    m->ev.type);
			c->stats.ignored++;
			msg_done(c, m, -1);
			return;
		}
		log_info("message %s: %s: invalidating every cached customer",
		    log_id(m), m->ev.type);
		break;
	case EVENT_REFILL:
		m->edge = edge_fetch(c->edge, m->ev.customer_id,
		    m->ev.resource_id, on_edge, m, err, sizeof(err));
		if (m->edge == NULL) {
			log_warn("message %s: refill of customer '%s': %s; "
			    "delivered again in %ds", log_id(m),
			    m->ev.customer_id, err, retry_visibility(c, m));
			c->stats.errors++;
			msg_done(c, m, retry_visibility(c, m));
		}
		return;
	default:
		break;
	}
	cache_apply(c->cache, &m->ev, on_applied, m);
}

/* --- receiving --- */

static void
on_sqs_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;

	(void)loop;
	(void)revents;
	c->sqs_waiting = 0;
	maybe_receive(c);
}

/* No receive for ms milliseconds. */
static void
pause_receiving(struct consumer *c, uint32_t ms)
{
	c->sqs_waiting = 1;
	ev_timer_set(&c->sqs_timer, ms / 1000.0, 0.);
	ev_timer_start(c->loop, &c->sqs_timer);
}

static void
sqs_failed(struct consumer *c, enum sqs_status st, const char *err)
{
	uint32_t delay;

	c->stats.errors++;
	if (!c->sqs_failing) {
		c->sqs_failing = 1;
		c->sqs_fail_since_ms = util_mono_ms();
	}
	c->sqs_fatal = st == SQS_AUTH || st == SQS_CLIENT;
	/*
	 * The other long polls in flight fail alike: one step of backoff per
	 * round of failures, not one per poll.
	 */
	if (c->sqs_waiting) {
		update_ready(c);
		return;
	}
	delay = backoff_next(&c->sqs_backoff, backoff_random());
	if (c->sqs_fatal && delay < SQS_LONG_BACKOFF_MS)
		delay = SQS_LONG_BACKOFF_MS;
	if (strcmp(err, c->sqs_logged) != 0) {
		if (st == SQS_AUTH)
			log_error("%s; check AWS_ACCESS_KEY_ID, "
			    "AWS_SECRET_ACCESS_KEY and the queue's policy; "
			    "retrying every %us", err, delay / 1000);
		else
			log_warn("%s; retrying in %.1fs", err, delay / 1000.0);
		snprintf(c->sqs_logged, sizeof(c->sqs_logged), "%s", err);
	}
	pause_receiving(c, delay);
	update_ready(c);
}

static void
sqs_succeeded(struct consumer *c)
{
	c->stats.last_sqs_ok_ms = util_now_ms();
	if (!c->sqs_failing)
		return;
	log_info("sqs: receiving again");
	c->sqs_failing = c->sqs_fatal = 0;
	c->sqs_logged[0] = '\0';
	backoff_reset(&c->sqs_backoff);
	update_ready(c);
}

static void
forget_receive(struct consumer *c, struct sqs_call *call)
{
	int i;

	for (i = 0; i < c->nreceives; i++)
		if (c->receives[i] == call) {
			c->receives[i] = c->receives[--c->nreceives];
			return;
		}
}

struct receive_ctx {
	struct consumer	*c;
	struct sqs_call	*call;
};

static void
on_receive(void *arg, enum sqs_status st, const char *err,
    struct sqs_message *msgs, size_t n)
{
	struct receive_ctx *rx = arg;
	struct consumer *c = rx->c;
	struct msg *m, **fresh = NULL;
	size_t i;

	forget_receive(c, rx->call);
	free(rx);
	if (st != SQS_OK) {
		sqs_failed(c, st, err);
		maybe_exit(c);
		return;
	}
	sqs_succeeded(c);
	if (n == 0 && c->cfg->wait_time == 0) {
		/* Short polling on an empty queue: pause instead of spinning. */
		if (!c->sqs_waiting)
			pause_receiving(c, SHORT_POLL_PAUSE_MS);
		return;
	}
	if (n > 0 && (fresh = calloc(n, sizeof(*fresh))) == NULL) {
		log_error("sqs: out of memory; %zu messages will be delivered "
		    "again", n);
		sqs_messages_free(msgs, n);
		maybe_receive(c);
		return;
	}
	for (i = 0; i < n; i++) {
		c->stats.received++;
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			log_error("message %s: out of memory; delivered again "
			    "later", msgs[i].message_id);
			continue;
		}
		m->c = c;
		m->m = msgs[i];
		memset(&msgs[i], 0, sizeof(msgs[i]));	/* moved */
		TAILQ_INSERT_TAIL(&c->in_hand, m, link);
		c->nin_hand++;
		fresh[i] = m;
	}
	sqs_messages_free(msgs, n);
	/* Each settles only itself, so the others stay valid meanwhile. */
	for (i = 0; i < n; i++)
		if (fresh[i] != NULL)
			process(c, fresh[i]);
	free(fresh);
	maybe_receive(c);
}

/* Start long polls up to the limits. */
static void
maybe_receive(struct consumer *c)
{
	struct receive_ctx *rx;
	char err[SQS_ERROR_MAX];
	size_t limit = (size_t)c->cfg->receives_in_flight *
	    (size_t)c->cfg->batch_size * 2;

	while (!c->stopping && !c->sqs_waiting && cache_is_up(c->cache) &&
	    c->nreceives < c->cfg->receives_in_flight &&
	    c->nin_hand < limit) {
		if ((rx = calloc(1, sizeof(*rx))) == NULL)
			return;
		rx->c = c;
		rx->call = sqs_receive(c->sqs, c->cfg->batch_size,
		    c->cfg->wait_time, c->cfg->visibility_timeout, on_receive,
		    rx, err, sizeof(err));
		if (rx->call == NULL) {
			free(rx);
			sqs_failed(c, SQS_NETWORK, err);
			return;
		}
		c->receives[c->nreceives++] = rx->call;
	}
}

/* --- stopping --- */

/* Exit once stopping and nothing is in hand or in flight. */
static void
maybe_exit(struct consumer *c)
{
	if (!c->stopping || c->nin_hand > 0 || c->delq.n > 0 ||
	    c->visq.n > 0 || !LIST_EMPTY(&c->batches))
		return;
	ev_break(c->loop, EVBREAK_ALL);
}

static void
on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;

	(void)revents;
	log_warn("drain deadline passed with %zu messages in hand; they will "
	    "be delivered again", c->nin_hand);
	c->exit_status = CONSUMER_EXIT_FAILURE;
	ev_break(loop, EVBREAK_ALL);
}

static void
consumer_stop(struct consumer *c, const char *why)
{
	int i;

	if (c->stopping)
		return;
	log_info("stopping: %s; %zu messages in hand", why, c->nin_hand);
	c->stopping = 1;
	update_ready(c);
	for (i = 0; i < c->nreceives; i++)
		sqs_cancel(c->receives[i]);
	c->nreceives = 0;
	ev_timer_stop(c->loop, &c->sqs_timer);
	ev_timer_set(&c->drain_deadline, c->cfg->drain_timeout, 0.);
	ev_timer_start(c->loop, &c->drain_deadline);
	maybe_exit(c);
}

/* --- the master's channel, signals, timers --- */

static void
on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;

	(void)loop;
	(void)revents;
	update_ready(c);	/* an SQS outage turns unhealthy with time */
	send_status(c, IPC_HEARTBEAT);
}

static void
on_ipc(struct ev_loop *loop, ev_io *w, int revents)
{
	struct consumer *c = w->data;
	struct ipc_msg m;
	char err[128];
	int r;

	(void)revents;
	for (;;) {
		r = ipc_recv(c->fd, &m, err, sizeof(err));
		if (r == 1) {
			if (m.type == IPC_STOP)
				consumer_stop(c, "asked by the master");
			else
				log_warn("ipc: unexpected %s from the master",
				    ipc_type_name(m.type));
			continue;
		}
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r == -2) {
			log_error("ipc: malformed message from the master: %s",
			    err);
			continue;
		}
		/* EOF or error: the master is gone; nobody to report to. */
		ev_io_stop(loop, w);
		consumer_stop(c, "the master went away");
		return;
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct consumer *c = w->data;

	(void)loop;
	(void)revents;
	if (w->signum == SIGUSR1) {
		if (log_reopen() == -1)
			log_error("log: reopen: %s", strerror(errno));
		return;
	}
	consumer_stop(c, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void
watch_signal(struct consumer *c, ev_signal *w, int signum)
{
	ev_signal_init(w, on_signal, signum);
	w->data = c;
	ev_signal_start(c->loop, w);
}

/* Release whatever is left at exit: no request of it outlives us. */
static void
teardown(struct consumer *c)
{
	struct batch_call *b;
	struct msg *m;
	size_t i;

	while ((b = LIST_FIRST(&c->batches)) != NULL) {
		LIST_REMOVE(b, link);
		sqs_cancel(b->call);
		for (i = 0; i < b->q.n; i++)
			settle_free(&b->q.e[i]);
		free(b);
	}
	while ((m = TAILQ_FIRST(&c->in_hand)) != NULL)
		msg_free(c, m);
	for (i = 0; i < c->delq.n; i++)
		settle_free(&c->delq.e[i]);
	for (i = 0; i < c->visq.n; i++)
		settle_free(&c->visq.e[i]);
	cache_free(c->cache);
	edge_free(c->edge);
	sqs_free(c->sqs);
	httpc_free(c->http);
	ev_loop_destroy(c->loop);
}

void
consumer_main(const struct config *cfg, int slot, int fd)
{
	struct consumer c;
	const struct config *k = cfg;
	char name[32], err[SQS_ERROR_MAX];

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.slot = slot;
	c.fd = fd;
	c.sqs_failing = 0;
	TAILQ_INIT(&c.in_hand);
	LIST_INIT(&c.batches);
	c.delq.action = "DeleteMessageBatch";
	c.visq.action = "ChangeMessageVisibilityBatch";
	c.visq.visibility = 1;
	snprintf(c.reason, sizeof(c.reason), "starting");
	snprintf(name, sizeof(name), "consumer %d", slot);
	log_set_procname(name);
#ifdef HAVE_PRCTL
	/* ps and top tell consumers from the master: "pcs consumer 3". */
	snprintf(name, sizeof(name), "pcs consumer %d", slot);
	(void)prctl(PR_SET_NAME, name);
#endif

	if ((c.loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		log_error("ev_loop_new: cannot create the event loop");
		_exit(CONSUMER_EXIT_FAILURE);
	}
	if (util_set_nonblock(fd) == -1) {
		log_error("ipc: fcntl: %s", strerror(errno));
		_exit(CONSUMER_EXIT_FAILURE);
	}
	backoff_init(&c.sqs_backoff, SQS_BACKOFF_MIN_MS, SQS_BACKOFF_MAX_MS);

	/* One connection per long poll, plus batches and the Edge API. */
	if ((c.http = httpc_new(c.loop, k->receives_in_flight + 4)) == NULL) {
		log_error("httpc: %s", strerror(errno));
		_exit(CONSUMER_EXIT_FAILURE);
	}
	if ((c.sqs = sqs_new(c.http, k->queue_url, k->aws_region,
	    k->aws_access_key_id, k->aws_secret_access_key,
	    k->aws_session_token, err, sizeof(err))) == NULL ||
	    (c.edge = edge_new(c.loop, c.http, k->edge_api_url,
	    k->server_api_key, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		_exit(CONSUMER_EXIT_CONFIG);
	}

	ev_io_init(&c.ipc_io, on_ipc, fd, EV_READ);
	c.ipc_io.data = &c;
	ev_io_start(c.loop, &c.ipc_io);
	ev_timer_init(&c.heartbeat, on_heartbeat, CONSUMER_HEARTBEAT_SECS,
	    CONSUMER_HEARTBEAT_SECS);
	c.heartbeat.data = &c;
	ev_timer_start(c.loop, &c.heartbeat);
	ev_timer_init(&c.sqs_timer, on_sqs_timer, 0., 0.);
	c.sqs_timer.data = &c;
	ev_timer_init(&c.drain_deadline, on_drain_deadline, 0., 0.);
	c.drain_deadline.data = &c;
	/* Lowest priority: runs after the cache's completions are delivered. */
	ev_prepare_init(&c.flush, on_flush);
	ev_set_priority(&c.flush, EV_MINPRI);
	c.flush.data = &c;
	ev_prepare_start(c.loop, &c.flush);
	watch_signal(&c, &c.sigterm, SIGTERM);
	watch_signal(&c, &c.sigint, SIGINT);
	watch_signal(&c, &c.sigusr1, SIGUSR1);
	/* SIGHUP belongs to the master; a group-wide one must not kill us. */
	signal(SIGHUP, SIG_IGN);

	send_status(&c, IPC_HELLO);
	log_debug("started (pid %ld)", (long)getpid());
	if ((c.cache = cache_new(c.loop, cfg, on_cache_state, &c)) == NULL) {
		log_error("cache: out of memory");
		_exit(CONSUMER_EXIT_FAILURE);
	}

	ev_run(c.loop, 0);

	teardown(&c);
	log_debug("exiting with status %d", c.exit_status);
	_exit(c.exit_status);
}
