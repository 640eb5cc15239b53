/*
 * consumer: the worker process.  Owns its libev loop, its HTTP client
 * (SQS and the Edge API), its Redis writer, its settling (settle.c) and
 * its side of the status channel.
 *
 * The pipeline: one long poll while the queue is idle, more while batches
 * come back full, up to receives_in_flight (polls.c), are outstanding at
 * once while Redis takes writes, the Edge API answers, nothing is held
 * and the SQS backoff allows; each message received is parsed (events.c),
 * refilled from the Edge API when it is a thin notification (edge.c), and
 * written to Redis (cache.c).  Only then is it deleted (settle.c gathers
 * the deletes into batches).  Nothing is deleted before its effect is in
 * Redis.
 *
 * Our own outages do not count against a message: one whose write failed
 * (Redis down or refusing writes) or whose refill failed (the Edge API
 * down) is held, kept invisible by settle.c's heartbeat, and tried again
 * when the dependency is back (Redis reports itself up; for the Edge API
 * one held message probes it with backoff).  While anything is held the
 * consumer receives nothing and is not ready, saying why.  At most
 * held_messages_max are held; past that, and at the drain deadline, they
 * are released (visible again at once).  Only a message that is itself
 * bad follows poison_policy and so counts towards the redrive policy.
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
#include "creds.h"
#include "edge.h"
#include "events.h"
#include "httpc.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "polls.h"
#include "settle.h"
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

/*
 * Held messages (see the file's comment) are tried again when Redis
 * reports itself up, and at the latest HOLD_RETRY_MIN_MS, doubling up to
 * HOLD_RETRY_MAX_MS, after a failure that left the cache up (a refusal
 * the cache did not report as an outage).  The Edge API is probed by one
 * held message at a time, EDGE_PROBE_MIN_MS doubling to EDGE_PROBE_MAX_MS
 * apart; the first answer lets the others go.
 */
#define HOLD_RETRY_MIN_MS	1000
#define HOLD_RETRY_MAX_MS	30000
/*
 * A write Redis answers with an error is held and tried again once the
 * write probe passes.  When Redis keeps refusing this one write while the
 * probe passes (an ACL that denies its keys only, say), the trouble is
 * the message's, not an outage: after this many refusals it is released
 * to the redrive policy, or it would stop the consumer's receives for
 * good.  A write whose connection went away does not count.
 */
#define REFUSALS_MAX		4
#define EDGE_PROBE_MIN_MS	1000
#define EDGE_PROBE_MAX_MS	30000
/*
 * Past the drain deadline, the releases of what is in hand may take this
 * long before the process exits anyway: within the master's own grace
 * (DRAIN_GRACE, 2 s) before it sends SIGKILL.
 */
#define RELEASE_GRACE_SECS	1.5

/* events.h names its out-of-memory return (older ones did not). */
#ifndef EVENTS_NOMEM
#define EVENTS_NOMEM		(-2)
#endif

/* Why a message is held: kept invisible, tried again later. */
enum hold {
	HOLD_NONE = 0,
	HOLD_CACHE,		/* the write failed: Redis down or refusing */
	HOLD_EDGE,		/* the refill failed: the Edge API is failing */
	HOLD_MEMORY		/* out of memory reading it or its refill */
};

struct msg {
	struct consumer		*c;
	struct sqs_message	 m;		/* its receipt is the lease's */
	struct settle_lease	*lease;		/* NULL once settled */
	struct event		 ev;
	int			 have_ev;
	int			 applying;	/* cache_apply answer pending */
	int			 probe;		/* its refill probes the Edge API */
	int			 refusals;	/* writes Redis answered with an error */
	uint64_t		 received_us;	/* monotonic: its receive */
	enum metrics_event	 mev;		/* its label, once parsed */
	enum hold		 held;
	struct edge_call	*edge;
	struct log_ids		 ids;		/* for logs: see log_id */
	TAILQ_ENTRY(msg)	 link;		/* in_hand */
	TAILQ_ENTRY(msg)	 hold_link;	/* held, oldest first */
};
TAILQ_HEAD(msg_list, msg);

struct consumer;

/* One long poll in flight. */
struct receive_ctx {
	struct consumer	*c;
	struct sqs_call	*call;
};

struct consumer {
	struct ev_loop		*loop;
	const struct config	*cfg;
	int			 slot;
	int			 fd;
	int			 ready;		/* last readiness reported */
	int			 stopping;
	int			 releasing;	/* past the drain deadline */
	int			 exit_status;
	char			 reason[IPC_REASON_MAX];
	struct ipc_msg		 stats;
	/*
	 * What this process counted, sent to the master with every
	 * heartbeat and once more before it exits; the modules that count
	 * (sqs, settle, cache, creds) are given a pointer to it.
	 */
	struct metrics_counters	 mc;

	struct cache		*cache;
	struct httpc		*http;
	struct creds_plan	*plan;		/* NULL: unsigned requests */
	struct creds		*creds;
	int			 creds_ok;	/* something to sign with */
	char			 creds_reason[IPC_REASON_MAX];
	char			 creds_desc[IPC_REASON_MAX];
	struct sqs		*sqs;
	struct edge		*edge;
	struct settle		*settle;

	struct receive_ctx	*receives[32];	/* receives_in_flight at most */
	int			 nreceives;
	struct polls		 polls;		/* how many to keep going */
	struct msg_list		 in_hand;
	size_t			 nin_hand;

	struct msg_list		 held;
	size_t			 nheld;
	char			 cache_reason[IPC_REASON_MAX];	/* when down */
	char			 hold_reason[IPC_REASON_MAX];	/* last refusal */
	struct backoff		 hold_backoff;
	ev_timer		 hold_timer;
	int			 edge_failing;
	int			 edge_probing;
	char			 edge_reason[IPC_REASON_MAX];
	struct backoff		 edge_backoff;
	ev_timer		 edge_timer;

	int			 sqs_waiting;	/* backoff timer running */
	int			 sqs_failing;	/* since sqs_fail_since_ms */
	int			 sqs_fatal;	/* auth or client error */
	int			 sqs_auth;	/* the credentials refused */
	int			 auth_reported;	/* this refusal, to the master */
	int			 creds_reported; /* this creds failure, likewise */
	uint64_t		 sqs_fail_since_ms;
	char			 sqs_logged[SQS_ERROR_MAX];
	struct backoff		 sqs_backoff;
	ev_timer		 sqs_timer;

	ev_io			 ipc_io;
	ev_timer		 heartbeat;
	ev_timer		 drain_deadline;
	ev_timer		 release_grace;
	ev_signal		 sigterm, sigint, sigusr1;
};

static void	consumer_stop(struct consumer *, const char *why);
static void	maybe_receive(struct consumer *);
static void	maybe_exit(struct consumer *);
static void	process(struct consumer *, struct msg *);

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

/*
 * The counters and gauges, to the master.  EAGAIN (the master is busy):
 * dropped, the next heartbeat carries the same totals, counters being
 * cumulative.
 */
static void
send_metrics(struct consumer *c)
{
	struct ipc_metrics m;
	const struct creds_value *v;

	memset(&m, 0, sizeof(m));
	m.pid = (uint32_t)getpid();
	m.counters = c->mc;
	m.gauges.in_hand = c->nin_hand;
	m.gauges.held = c->nheld;
	m.gauges.receives_in_flight = (uint64_t)c->nreceives;
	if (c->creds != NULL && (v = creds_current(c->creds)) != NULL &&
	    v->expires_ms > 0)
		m.gauges.creds_expiry_ms = (uint64_t)v->expires_ms;
	m.gauges.redis_connected = c->cache != NULL &&
	    cache_connected(c->cache);
	m.gauges.redis_primary_known = c->cache != NULL &&
	    cache_primary_known(c->cache);
	if (ipc_send_metrics(c->fd, &m) == -1 && errno != EAGAIN)
		log_debug("ipc: send metrics: %s", strerror(errno));
}

/*
 * An error for the master to report (Sentry): text one line, no secret,
 * no message body; m the message concerned, or NULL.  EAGAIN: dropped,
 * and unlike the counters this report is lost; the log line stays.
 */
static void
send_report(struct consumer *c, enum ipc_report_kind kind,
    const struct msg *m, const char *text)
{
	struct ipc_report r;

	memset(&r, 0, sizeof(r));
	r.pid = (uint32_t)getpid();
	r.kind = (uint8_t)kind;
	if (m != NULL && m->m.message_id != NULL)
		snprintf(r.sqs_message_id, sizeof(r.sqs_message_id), "%s",
		    m->m.message_id);
	/* events_parse keeps a rejected message's messageId too. */
	if (m != NULL && m->ev.message_id[0] != '\0')
		snprintf(r.event_id, sizeof(r.event_id), "%s",
		    m->ev.message_id);
	snprintf(r.text, sizeof(r.text), "%s", text);
	if (ipc_send_report(c->fd, &r) == -1 && errno != EAGAIN)
		log_debug("ipc: send report: %s", strerror(errno));
}

/*
 * m is done with (outcome): counted under its event, and for all but a
 * rejection its lag (now minus SentTimestamp, when SQS gave one) and its
 * time since the receive.
 */
static void
count_message(struct consumer *c, const struct msg *m,
    enum metrics_outcome outcome)
{
	uint64_t now = util_now_ms();

	c->mc.messages[m->mev][outcome]++;
	if (outcome == METRICS_OUT_REJECTED)
		return;
	if (m->m.sent_timestamp_ms > 0)
		metrics_observe(&c->mc.lag, METRICS_H_LAG,
		    ((double)now - (double)m->m.sent_timestamp_ms) / 1000.0);
	metrics_observe(&c->mc.processing, METRICS_H_PROCESSING,
	    (double)(util_mono_us() - m->received_us) / 1e6);
}

static int
sqs_healthy(const struct consumer *c)
{
	return !c->sqs_fatal && (!c->sqs_failing ||
	    util_mono_ms() - c->sqs_fail_since_ms < SQS_UNHEALTHY_MS);
}

/*
 * Recompute readiness; tell the master when it changed.  Not ready while
 * stopping, while Redis is down or refusing writes, while the Edge API is
 * failing, while messages are held, while there are no AWS credentials
 * to sign with, and while SQS is unhealthy; with
 * messages held the reason says how many ("holding 12 messages: redis:
 * ...").  The heartbeat carries a changed reason.
 */
static void
update_ready(struct consumer *c)
{
	const char *why = NULL;
	char buf[IPC_REASON_MAX + 64];
	int ready;

	if (c->stopping)
		why = "stopping";
	else if (!cache_is_up(c->cache))
		why = c->cache_reason;
	else if (c->edge_failing)
		why = c->edge_reason;
	else if (c->nheld > 0)
		why = c->hold_reason;
	else if (!c->creds_ok)
		why = c->creds_reason;
	else if (!sqs_healthy(c))
		why = c->sqs_logged;
	ready = why == NULL;
	if (!ready) {
		if (c->nheld > 0 && !c->stopping)
			snprintf(buf, sizeof(buf), "holding %zu message%s: "
			    "%.*s", c->nheld, c->nheld == 1 ? "" : "s",
			    IPC_REASON_MAX - 1, why);
		else
			snprintf(buf, sizeof(buf), "%.*s", IPC_REASON_MAX - 1,
			    why);
		snprintf(c->reason, sizeof(c->reason), "%.*s",
		    (int)sizeof(c->reason) - 1, buf);
	}
	if (ready == c->ready)
		return;
	c->ready = ready;
	if (ready)
		log_info("ready");
	else
		log_info("not ready: %s", c->reason);
	/*
	 * The gauges first, as of this change: else /metrics says ready with
	 * the gauges of the last heartbeat (or none yet: a new consumer's
	 * first READY with pcs_redis_connected 0) until the next one.
	 */
	send_metrics(c);
	send_status(c, ready ? IPC_READY : IPC_NOT_READY);
}

/* --- messages in hand --- */

/* Take m out of the hand and free it (its lease is settled or gone). */
static void
msg_free(struct consumer *c, struct msg *m)
{
	TAILQ_REMOVE(&c->in_hand, m, link);
	c->nin_hand--;
	if (m->held != HOLD_NONE) {
		TAILQ_REMOVE(&c->held, m, hold_link);
		c->nheld--;
	}
	if (m->edge != NULL)
		edge_cancel(m->edge);
	if (m->have_ev)
		events_free(&m->ev);
	free(m->m.body);
	free(m->m.receipt_handle);
	free(m->m.message_id);
	free(m);
}

/* Delete m (vis < 0) or release it for vis seconds, and let it go. */
static void
msg_done(struct consumer *c, struct msg *m, int vis)
{
	if (m->lease != NULL)
		settle_done(m->lease, vis);
	m->lease = NULL;
	msg_free(c, m);
	maybe_receive(c);
	maybe_exit(c);
}

/*
 * The visibility for a message that is itself the trouble (an Edge API
 * answer that is not usable for it): 2^receives seconds, capped.
 */
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
 * How log lines name a message (log_msg): its SQS message id, and the
 * event's messageId, traceId and type once read, those of a rejected
 * message too as far as they could be read (events_parse keeps them).
 */
static const struct log_ids *
log_id(struct msg *m)
{
	m->ids.sqs_message_id = m->m.message_id;
	m->ids.message_id = m->ev.message_id;
	m->ids.trace_id = m->ev.trace_id;
	m->ids.event = m->ev.type;
	return &m->ids;
}

/* --- holding --- */

/* Start a retry timer after the next step of its backoff, unless running. */
static void
arm_retry(struct consumer *c, ev_timer *t, struct backoff *b)
{
	uint32_t ms;

	if (ev_is_active(t))
		return;
	ms = backoff_next(b, backoff_random());
	ev_timer_set(t, ms / 1000.0, 0.);
	ev_timer_start(c->loop, t);
}

static void
arm_hold_timer(struct consumer *c)
{
	arm_retry(c, &c->hold_timer, &c->hold_backoff);
}

/* One probe of the Edge API at a time. */
static void
arm_edge_probe(struct consumer *c)
{
	if (!c->edge_probing)
		arm_retry(c, &c->edge_timer, &c->edge_backoff);
}

/*
 * Abandon the long polls in flight: what they would have returned stays
 * invisible for visibility_timeout, then comes back.
 */
static void
abandon_receives(struct consumer *c)
{
	int i;

	for (i = 0; i < c->nreceives; i++) {
		sqs_cancel(c->receives[i]->call);
		free(c->receives[i]);
	}
	c->nreceives = 0;
}

/*
 * Keep m in hand, invisible (the heartbeat extends it), until what it
 * waits for is back.  Past held_messages_max, the oldest held are
 * released: visible again at once, counted as one more receive.  The
 * polls in flight are abandoned first, or they would take the released
 * messages back at once, a receive more each time, towards the
 * dead-letter queue; another consumer, or this one later, gets them.
 */
static void
hold(struct consumer *c, struct msg *m, enum hold kind, const char *why)
{
	struct msg *old;

	if (m->lease == NULL) {
		/* Released at the drain deadline: nothing to keep. */
		msg_free(c, m);
		maybe_exit(c);
		return;
	}
	m->held = kind;
	TAILQ_INSERT_TAIL(&c->held, m, hold_link);
	c->nheld++;
	if (why != NULL)
		snprintf(c->hold_reason, sizeof(c->hold_reason), "%.*s",
		    (int)sizeof(c->hold_reason) - 1, why);
	if (c->nheld > (size_t)c->cfg->held_messages_max)
		abandon_receives(c);
	while (c->nheld > (size_t)c->cfg->held_messages_max) {
		old = TAILQ_FIRST(&c->held);
		log_msg(CONFIG_LOG_WARN, log_id(old), "released, visible "
		    "again now: more than %d messages held "
		    "(held_messages_max); it counts as one more receive",
		    c->cfg->held_messages_max);
		c->mc.held_released++;
		msg_done(c, old, 0);
	}
	if (kind == HOLD_EDGE)
		arm_edge_probe(c);
	else
		arm_hold_timer(c);
	update_ready(c);
}

static void
unhold(struct consumer *c, struct msg *m)
{
	TAILQ_REMOVE(&c->held, m, hold_link);
	c->nheld--;
	m->held = HOLD_NONE;
}

static void	apply(struct consumer *, struct msg *);
static void	refill(struct consumer *, struct msg *, int probe);

/* Try every message held for kind again. */
static void
retry_held(struct consumer *c, enum hold kind)
{
	struct msg_list todo;
	struct msg *m, *next;

	TAILQ_INIT(&todo);
	for (m = TAILQ_FIRST(&c->held); m != NULL; m = next) {
		next = TAILQ_NEXT(m, hold_link);
		if (m->held != kind)
			continue;
		unhold(c, m);
		TAILQ_INSERT_TAIL(&todo, m, hold_link);
	}
	if (!TAILQ_EMPTY(&todo))
		log_debug("retrying the messages held for %s",
		    kind == HOLD_CACHE ? "Redis" : kind == HOLD_EDGE ?
		    "the Edge API" : "memory");
	/* Each settles or holds only itself: the others stay valid. */
	while ((m = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, m, hold_link);
		if (kind == HOLD_CACHE)
			apply(c, m);
		else if (kind == HOLD_EDGE || m->have_ev)
			/* Memory ran out in the Edge API's answer. */
			refill(c, m, 0);
		else
			process(c, m);
	}
	update_ready(c);
	maybe_receive(c);
}

static void
on_hold_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;

	(void)loop;
	(void)revents;
	retry_held(c, HOLD_MEMORY);
	/* While Redis is down its coming back triggers the retry. */
	if (cache_is_up(c->cache))
		retry_held(c, HOLD_CACHE);
}

static void
on_cache_state(void *arg, int up, const char *reason)
{
	struct consumer *c = arg;

	if (!up)
		snprintf(c->cache_reason, sizeof(c->cache_reason), "%.*s",
		    (int)sizeof(c->cache_reason) - 1, reason);
	update_ready(c);
	if (!up)
		return;
	backoff_reset(&c->hold_backoff);
	ev_timer_stop(c->loop, &c->hold_timer);
	if (c->nheld > 0)
		log_info("redis: usable again; retrying the messages held");
	retry_held(c, HOLD_CACHE);
	/* Those held for memory have only the timer to try them again. */
	if (c->nheld > 0)
		arm_hold_timer(c);
}

/* The Edge API failed for a message: hold thin notifications, probe. */
static void
edge_failed(struct consumer *c, const char *err)
{
	snprintf(c->edge_reason, sizeof(c->edge_reason), "%.*s",
	    (int)sizeof(c->edge_reason) - 1, err);
	if (c->edge_failing)
		return;
	c->edge_failing = 1;
	log_warn("%s; holding thin notifications and receiving nothing until "
	    "the Edge API answers", err);
}

/* An answer from the Edge API: let the held thin notifications go. */
static void
edge_recovered(struct consumer *c)
{
	if (!c->edge_failing)
		return;
	c->edge_failing = 0;
	backoff_reset(&c->edge_backoff);
	ev_timer_stop(c->loop, &c->edge_timer);
	log_info("edge: answering again; retrying the messages held");
	retry_held(c, HOLD_EDGE);
}

/* The probe: one held thin notification tries the Edge API again. */
static void
on_edge_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;
	struct msg *m;

	(void)loop;
	(void)revents;
	TAILQ_FOREACH(m, &c->held, hold_link)
		if (m->held == HOLD_EDGE)
			break;
	if (m == NULL) {
		/* Nothing held for it (released): the next one probes. */
		c->edge_failing = 0;
		backoff_reset(&c->edge_backoff);
		update_ready(c);
		maybe_receive(c);
		return;
	}
	unhold(c, m);
	refill(c, m, 1);
}

/* --- applying --- */

static void
on_applied(void *arg, enum cache_result r, const char *detail)
{
	struct msg *m = arg;
	struct consumer *c = m->c;

	m->applying = 0;
	switch (r) {
	case CACHE_APPLIED:
	case CACHE_SKIPPED:
	case CACHE_SKIPPED_UNCACHED:
		log_msg(CONFIG_LOG_DEBUG, log_id(m), "%s %s: %s", m->ev.type,
		    r == CACHE_APPLIED ? "applied" : "skipped", detail);
		count_message(c, m, r == CACHE_APPLIED ? METRICS_OUT_APPLIED :
		    r == CACHE_SKIPPED ? METRICS_OUT_SKIPPED_OLDER :
		    METRICS_OUT_SKIPPED_UNCACHED);
		/* Writes work: the next failure starts its retries afresh. */
		if (c->nheld == 0)
			backoff_reset(&c->hold_backoff);
		msg_done(c, m, -1);
		break;
	case CACHE_REFUSED:
	case CACHE_FAILED:
		if (r == CACHE_REFUSED && ++m->refusals >= REFUSALS_MAX) {
			log_msg(CONFIG_LOG_WARN, log_id(m), "%s not written: "
			    "%s; refused %d times while Redis took other "
			    "writes: delivered again in %ds", m->ev.type,
			    detail, m->refusals, retry_visibility(c, m));
			msg_done(c, m, retry_visibility(c, m));
			break;
		}
		log_msg(CONFIG_LOG_WARN, log_id(m), "%s not written: %s; "
		    "held until Redis takes writes", m->ev.type, detail);
		hold(c, m, HOLD_CACHE, detail);
		break;
	}
}

/* Write m's event, or hold it while Redis is down. */
static void
apply(struct consumer *c, struct msg *m)
{
	if (!cache_is_up(c->cache)) {
		log_msg(CONFIG_LOG_DEBUG, log_id(m), "held: %s", c->cache_reason);
		hold(c, m, HOLD_CACHE, NULL);
		return;
	}
	m->applying = 1;
	cache_apply(c->cache, &m->ev, on_applied, m);
}

/*
 * An Edge API failure that is the API's (no answer, 5xx, throttling,
 * refused credentials), not the message's: the message is held.
 */
static int
edge_outage(const struct edge_result *r)
{
	return r->status == 0 || r->status >= 500 || r->status == 408 ||
	    r->status == 429 || r->status == 401 || r->status == 403;
}

static void
on_edge(void *arg, const struct edge_result *r)
{
	struct msg *m = arg;
	struct consumer *c = m->c;
	char perr[256];
	int rc = 0, probe = m->probe;

	m->edge = NULL;
	m->probe = 0;
	if (probe)
		c->edge_probing = 0;
	if (!r->ok)
		c->mc.edge_refills[edge_metrics_outcome(r)]++;
	if (!r->ok && edge_outage(r)) {
		edge_failed(c, r->error);
		log_msg(CONFIG_LOG_WARN, log_id(m), "refill of customer '%s' "
		    "from the Edge API failed: %s; held until the Edge API "
		    "answers", m->ev.customer_id, r->error);
		hold(c, m, HOLD_EDGE, NULL);
		return;
	}
	/* An answer of any kind (a 404 too) means the API is back. */
	edge_recovered(c);
	if (r->ok && (rc = events_apply_edge(&m->ev, r->body, r->body_len,
	    perr, sizeof(perr))) == EVENTS_NOMEM) {
		log_msg(CONFIG_LOG_ERROR, log_id(m), "out of memory; held");
		c->mc.edge_refills[METRICS_EDGE_OK]++;
		send_report(c, IPC_REPORT_INTERNAL, m, "out of memory while "
		    "reading the Edge API's answer");
		/* The event is still the notification: refilled again. */
		hold(c, m, HOLD_MEMORY, "out of memory");
		return;
	}
	if (r->ok)
		c->mc.edge_refills[rc == 0 ? METRICS_EDGE_OK :
		    METRICS_EDGE_FAILED]++;
	if (!r->ok || rc != 0) {
		/* An answer, but none usable for this message. */
		log_msg(CONFIG_LOG_WARN, log_id(m), "refill of customer '%s' "
		    "from the Edge API failed: %s; delivered again in %ds",
		    m->ev.customer_id, r->ok ? perr : r->error,
		    retry_visibility(c, m));
		msg_done(c, m, retry_visibility(c, m));
		return;
	}
	apply(c, m);
}

/* Fetch a thin notification's entitlements; hold it while the API fails. */
static void
refill(struct consumer *c, struct msg *m, int probe)
{
	char err[256];

	if (c->edge_failing && !probe) {
		log_msg(CONFIG_LOG_DEBUG, log_id(m), "held: %s", c->edge_reason);
		hold(c, m, HOLD_EDGE, NULL);
		return;
	}
	m->edge = edge_fetch(c->edge, m->ev.customer_id, m->ev.resource_id,
	    on_edge, m, err, sizeof(err));
	if (m->edge == NULL) {
		c->mc.edge_refills[METRICS_EDGE_FAILED]++;
		log_msg(CONFIG_LOG_WARN, log_id(m), "refill of customer '%s': "
		    "%s; delivered again in %ds", m->ev.customer_id, err,
		    retry_visibility(c, m));
		msg_done(c, m, retry_visibility(c, m));
		/* The probe did not happen: the next held message makes it. */
		if (probe)
			arm_edge_probe(c);
		return;
	}
	if (probe) {
		m->probe = 1;
		c->edge_probing = 1;
	}
}

static void
process(struct consumer *c, struct msg *m)
{
	char err[256];
	int rc;

	rc = events_parse(m->m.body, m->m.body_len, m->m.sent_timestamp_ms,
	    &m->ev, err, sizeof(err));
	if (rc == EVENTS_NOMEM) {
		/* Our trouble, not the message's: try it again later. */
		log_msg(CONFIG_LOG_ERROR, log_id(m), "%s; held", err);
		send_report(c, IPC_REPORT_INTERNAL, m, err);
		hold(c, m, HOLD_MEMORY, "out of memory");
		return;
	}
	if (rc != 0) {
		m->mev = METRICS_EV_UNKNOWN;
		count_message(c, m, METRICS_OUT_REJECTED);
		send_report(c, IPC_REPORT_POISON, m, err);
		if (c->cfg->poison_policy == CONFIG_POISON_DELETE) {
			log_msg(CONFIG_LOG_WARN, log_id(m), "rejected: %s; "
			    "deleted (poison_policy delete)", err);
			msg_done(c, m, -1);
		} else {
			log_msg(CONFIG_LOG_WARN, log_id(m), "rejected: %s; "
			    "kept for the queue's redrive policy, visible "
			    "again in %ds", err,
			    c->cfg->poison_visibility_timeout);
			msg_done(c, m, c->cfg->poison_visibility_timeout);
		}
		return;
	}
	/*
	 * The event holds all that is needed from here on (only a parse
	 * that ran out of memory reads the body again; a refill that did
	 * fetches the answer again): no body kept in hand while the write
	 * and the delete are pending.
	 */
	free(m->m.body);
	m->m.body = NULL;
	m->m.body_len = 0;
	m->have_ev = 1;
	m->mev = events_metrics_event(m->ev.kind);
	switch (m->ev.kind) {
	case EVENT_IGNORED:
		log_msg(CONFIG_LOG_DEBUG, log_id(m), "%s ignored", m->ev.type);
		count_message(c, m, METRICS_OUT_IGNORED);
		msg_done(c, m, -1);
		return;
	case EVENT_INVALIDATE_ALL:
		if (c->cfg->on_package_published == CONFIG_PACKAGE_IGNORE) {
			log_msg(CONFIG_LOG_INFO, log_id(m), "%s for all "
			    "customers ignored (on_package_published ignore)",
			    m->ev.type);
			count_message(c, m, METRICS_OUT_IGNORED);
			msg_done(c, m, -1);
			return;
		}
		log_msg(CONFIG_LOG_INFO, log_id(m), "%s: invalidating every "
		    "cached customer", m->ev.type);
		break;
	case EVENT_REFILL:
		refill(c, m, 0);
		return;
	default:
		break;
	}
	apply(c, m);
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

	if (!c->sqs_failing) {
		c->sqs_failing = 1;
		c->sqs_fail_since_ms = util_mono_ms();
	}
	/* One poll again: the others would fail alike (polls.c). */
	if (c->polls.target > 1)
		log_debug("sqs: receives in flight: back to 1 after an error");
	polls_failed(&c->polls);
	c->sqs_fatal = st == SQS_AUTH || st == SQS_CLIENT;
	c->sqs_auth = st == SQS_AUTH;
	/* Once per episode: until SQS takes a request again. */
	if (c->sqs_auth && !c->auth_reported) {
		c->auth_reported = 1;
		send_report(c, IPC_REPORT_CREDENTIALS, NULL, err);
	}
	/*
	 * The other long polls in flight fail alike: one step of backoff per
	 * round of failures, not one per poll.
	 */
	if (c->sqs_waiting) {
		/* A success meanwhile cleared it: readiness needs a reason. */
		if (c->sqs_logged[0] == '\0')
			snprintf(c->sqs_logged, sizeof(c->sqs_logged), "%s",
			    err);
		update_ready(c);
		return;
	}
	delay = backoff_next(&c->sqs_backoff, backoff_random());
	if (c->sqs_fatal && delay < SQS_LONG_BACKOFF_MS)
		delay = SQS_LONG_BACKOFF_MS;
	if (strcmp(err, c->sqs_logged) != 0) {
		if (st == SQS_AUTH)
			log_error("%s; check the AWS credentials (%s) and the "
			    "queue's policy; retrying every %us, or with the "
			    "next credentials", err, c->creds_desc,
			    delay / 1000);
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
	c->auth_reported = 0;
	if (!c->sqs_failing)
		return;
	log_info("sqs: receiving again");
	c->sqs_failing = c->sqs_fatal = c->sqs_auth = 0;
	c->sqs_logged[0] = '\0';
	backoff_reset(&c->sqs_backoff);
	update_ready(c);
}

static void
forget_receive(struct consumer *c, struct receive_ctx *rx)
{
	int i;

	for (i = 0; i < c->nreceives; i++)
		if (c->receives[i] == rx) {
			c->receives[i] = c->receives[--c->nreceives];
			return;
		}
}


/*
 * A receive brought n messages, in_flight polls out (itself included):
 * the number of polls to keep going (polls.c).  The moments it reaches
 * the ceiling and comes back to one are logged (debug).
 */
static void
adapt_polls(struct consumer *c, size_t n, int in_flight)
{
	int was = c->polls.target, now;

	now = polls_received(&c->polls, n, in_flight);
	if (now == was)
		return;
	if (now == c->polls.ceiling)
		log_debug("sqs: receives in flight: up to %d (the ceiling, "
		    "receives_in_flight): batches come back full", now);
	else if (now == 1)
		log_debug("sqs: receives in flight: back to 1: receives come "
		    "back %s", n == 0 ? "empty" : "short");
}

static void
on_receive(void *arg, enum sqs_status st, const char *err,
    struct sqs_message *msgs, size_t n)
{
	struct receive_ctx *rx = arg;
	struct consumer *c = rx->c;
	struct msg *m, **fresh = NULL;
	size_t i;
	int in_flight = c->nreceives;

	forget_receive(c, rx);
	free(rx);
	if (st != SQS_OK) {
		sqs_failed(c, st, err);
		maybe_exit(c);
		return;
	}
	sqs_succeeded(c);
	adapt_polls(c, n, in_flight);
	if (n == 0 && c->cfg->wait_time == 0) {
		/* Short polling on an empty queue: pause instead of spinning. */
		if (!c->sqs_waiting)
			pause_receiving(c, SHORT_POLL_PAUSE_MS);
		return;
	}
	c->mc.received += n;
	if (n > 0 && (fresh = calloc(n, sizeof(*fresh))) == NULL) {
		log_error("sqs: out of memory; %zu messages will be delivered "
		    "again", n);
		send_report(c, IPC_REPORT_INTERNAL, NULL, "out of memory "
		    "taking a batch of messages in hand");
		sqs_messages_free(msgs, n);
		maybe_receive(c);
		return;
	}
	for (i = 0; i < n; i++) {
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			log_msg(CONFIG_LOG_ERROR, &(struct log_ids){
			    .sqs_message_id = msgs[i].message_id },
			    "out of memory; delivered again later");
			send_report(c, IPC_REPORT_INTERNAL, NULL,
			    "out of memory taking a message in hand");
			continue;
		}
		m->c = c;
		m->received_us = util_mono_us();
		m->mev = METRICS_EV_UNKNOWN;
		m->m = msgs[i];
		memset(&msgs[i], 0, sizeof(msgs[i]));	/* moved */
		m->lease = settle_track(c->settle, m->m.receipt_handle,
		    m->m.message_id);
		m->m.receipt_handle = NULL;		/* the lease's */
		if (m->lease == NULL) {
			log_msg(CONFIG_LOG_ERROR, log_id(m), "out of memory; "
			    "delivered again later");
			send_report(c, IPC_REPORT_INTERNAL, m,
			    "out of memory taking a message in hand");
			free(m->m.body);
			free(m->m.message_id);
			free(m);
			continue;
		}
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

/*
 * Start long polls up to the limits: as many as polls.c says the backlog
 * wants (receives_in_flight at most), and only while Redis takes writes,
 * the Edge API answers, nothing is held, there are credentials to sign
 * with and fewer than 2 x receives_in_flight x batch_size messages are in
 * hand (the polls in flight when one of them fails are not cancelled:
 * what they bring is held).
 */
static void
maybe_receive(struct consumer *c)
{
	struct receive_ctx *rx;
	char err[SQS_ERROR_MAX];
	size_t limit = (size_t)c->cfg->receives_in_flight *
	    (size_t)c->cfg->batch_size * 2;

	while (!c->stopping && !c->sqs_waiting && cache_is_up(c->cache) &&
	    !c->edge_failing && c->nheld == 0 && c->creds_ok &&
	    c->nreceives < c->polls.target && c->nin_hand < limit) {
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
		c->receives[c->nreceives++] = rx;
	}
}

/*
 * The provider's news: credentials to sign with (the first ones, or new
 * ones, which end a wait after SQS refused the old ones), or none.
 */
static void
on_creds_state(void *arg, int ok, const char *reason)
{
	struct consumer *c = arg;

	c->creds_ok = ok;
	if (!ok)
		snprintf(c->creds_reason, sizeof(c->creds_reason), "%.*s",
		    (int)sizeof(c->creds_reason) - 1, reason);
	update_ready(c);
	/*
	 * No credentials (STS refused the role, the chain found none): as
	 * SQS refusing them, reported once until credentials come back.
	 */
	if (!ok && !c->creds_reported) {
		c->creds_reported = 1;
		send_report(c, IPC_REPORT_CREDENTIALS, NULL, reason);
	}
	if (!ok)
		return;
	c->creds_reported = 0;
	if (c->sqs_auth && c->sqs_waiting) {
		log_info("sqs: new AWS credentials; receiving again now");
		ev_timer_stop(c->loop, &c->sqs_timer);
		c->sqs_waiting = 0;
	}
	maybe_receive(c);
}

/* --- stopping --- */

/*
 * Exit once stopping and nothing is in hand or being settled; past the
 * drain deadline, once the releases are answered.
 */
static void
maybe_exit(struct consumer *c)
{
	if (!c->stopping || (!c->releasing && c->nin_hand > 0) ||
	    settle_busy(c->settle) > 0)
		return;
	ev_break(c->loop, EVBREAK_ALL);
}

static void
on_settled(void *arg)
{
	maybe_exit(arg);
}

static void
on_release_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;

	(void)revents;
	log_warn("exiting with %zu releases unanswered; those messages come "
	    "back after their visibility timeout", settle_busy(c->settle));
	ev_break(loop, EVBREAK_ALL);
}

/*
 * The drain deadline: what is in hand (held or being worked on) is
 * released, visible again at once, for another consumer to take; the
 * process exits when SQS has answered, or after RELEASE_GRACE_SECS.
 */
static void
on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;
	struct msg *m, *next;

	(void)revents;
	log_warn("drain deadline passed with %zu messages in hand (%zu held); "
	    "releasing them to be delivered again", c->nin_hand, c->nheld);
	c->exit_status = CONSUMER_EXIT_FAILURE;
	c->releasing = 1;
	ev_timer_stop(loop, &c->hold_timer);
	ev_timer_stop(loop, &c->edge_timer);
	for (m = TAILQ_FIRST(&c->in_hand); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (m->held != HOLD_NONE && m->lease != NULL)
			c->mc.held_released++;
		if (m->lease != NULL)
			settle_done(m->lease, 0);
		m->lease = NULL;
		/* A write in flight answers later; then m goes. */
		if (!m->applying)
			msg_free(c, m);
	}
	ev_timer_set(&c->release_grace, RELEASE_GRACE_SECS, 0.);
	ev_timer_start(loop, &c->release_grace);
	maybe_exit(c);
}

static void
consumer_stop(struct consumer *c, const char *why)
{
	if (c->stopping)
		return;
	log_info("stopping: %s; %zu messages in hand", why, c->nin_hand);
	c->stopping = 1;
	update_ready(c);
	abandon_receives(c);
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
	send_metrics(c);
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
			log_always(CONFIG_LOG_ERROR, "log: reopen: %s",
			    strerror(errno));
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

/* Free whatever is left at exit: no request of it outlives us. */
static void
teardown(struct consumer *c)
{
	struct msg *m;

	/* The cache first: its writes still pending borrow the events. */
	cache_free(c->cache);
	while ((m = TAILQ_FIRST(&c->in_hand)) != NULL)
		msg_free(c, m);
	settle_free(c->settle);
	edge_free(c->edge);
	sqs_free(c->sqs);
	creds_free(c->creds);
	httpc_free(c->http);
	creds_plan_free(c->plan);
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
	TAILQ_INIT(&c.held);
	polls_init(&c.polls, cfg->receives_in_flight, cfg->batch_size);
	snprintf(c.reason, sizeof(c.reason), "starting");
	snprintf(c.cache_reason, sizeof(c.cache_reason), "starting");
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
	backoff_init(&c.hold_backoff, HOLD_RETRY_MIN_MS, HOLD_RETRY_MAX_MS);
	backoff_init(&c.edge_backoff, EDGE_PROBE_MIN_MS, EDGE_PROBE_MAX_MS);

	/*
	 * One connection per long poll, plus batches, the Edge API and the
	 * credentials' fetches.
	 */
	if ((c.http = httpc_new(c.loop, k->receives_in_flight + 5)) == NULL ||
	    httpc_set_ca_bundle(c.http, k->aws_ca_bundle) == -1) {
		log_error("httpc: %s", strerror(errno));
		_exit(CONSUMER_EXIT_FAILURE);
	}
	/* The master checked the plan: the shared files changed since. */
	if (creds_plan(cfg, &c.plan, err, sizeof(err)) == -1) {
		log_error("%s", err);
		_exit(CONSUMER_EXIT_CONFIG);
	}
	creds_plan_describe(c.plan, c.creds_desc, sizeof(c.creds_desc));
	log_debug("aws: credentials: %s", c.creds_desc);
	snprintf(c.creds_reason, sizeof(c.creds_reason), "aws: credentials: "
	    "waiting for the first ones");
	c.creds_ok = c.plan == NULL;
	if (c.plan != NULL && (c.creds = creds_new(c.loop, c.http, cfg, c.plan,
	    on_creds_state, &c, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		_exit(CONSUMER_EXIT_FAILURE);
	}
	if ((c.sqs = sqs_new(c.http, k->queue_url, k->aws_region, c.creds,
	    err, sizeof(err))) == NULL ||
	    (c.edge = edge_new(c.loop, c.http, k->edge_api_url,
	    k->server_api_key, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		_exit(CONSUMER_EXIT_CONFIG);
	}
	if ((c.settle = settle_new(c.loop, c.sqs, k->visibility_timeout,
	    on_settled, &c)) == NULL) {
		log_error("settle: out of memory");
		_exit(CONSUMER_EXIT_FAILURE);
	}
	sqs_set_counters(c.sqs, &c.mc);
	settle_set_counters(c.settle, &c.mc);
	if (c.creds != NULL)
		creds_set_counters(c.creds, &c.mc);

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
	ev_timer_init(&c.release_grace, on_release_grace, 0., 0.);
	c.release_grace.data = &c;
	ev_timer_init(&c.hold_timer, on_hold_timer, 0., 0.);
	c.hold_timer.data = &c;
	ev_timer_init(&c.edge_timer, on_edge_timer, 0., 0.);
	c.edge_timer.data = &c;
	watch_signal(&c, &c.sigterm, SIGTERM);
	watch_signal(&c, &c.sigint, SIGINT);
	watch_signal(&c, &c.sigusr1, SIGUSR1);
	/* SIGHUP belongs to the master; a group-wide one must not kill us. */
	signal(SIGHUP, SIG_IGN);

	send_status(&c, IPC_HELLO);
	log_debug("started (pid %ld)", (long)getpid());
	if ((c.cache = cache_new(c.loop, cfg, slot, on_cache_state, &c, err,
	    sizeof(err))) == NULL) {
		log_error("%s", err);
		/* The master checked the TLS files: they changed since. */
		_exit(strcmp(err, "out of memory") == 0 ?
		    CONSUMER_EXIT_FAILURE : CONSUMER_EXIT_CONFIG);
	}
	cache_set_counters(c.cache, &c.mc);

	ev_run(c.loop, 0);

	/* After the last settle: the master accounts for everything. */
	send_metrics(&c);
	teardown(&c);
	log_debug("exiting with status %d", c.exit_status);
	log_flush();
	_exit(c.exit_status);
}
