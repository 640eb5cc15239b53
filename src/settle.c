/*
 * settle: deletes, visibility changes and the visibility heartbeat of one
 * consumer, apart from its pipeline (as nginx keeps its event timers apart
 * from request handling).
 *
 * Each message in hand has a lease: its receipt handle and when its
 * visibility ends.  A lease is in one place at a time: in hand (on the
 * heartbeat's list), queued for a delete or a release, or in a batch in
 * flight.  A lease settled while its heartbeat extension is in flight
 * waits for that answer before its own batch goes, so a late extension
 * never undoes a release.
 *
 * Batches that fail whole for a reason that passes (throttling, 5xx, the
 * network), and entries that fail without SQS blaming the request, are
 * sent again after 200 ms, 400 ms, ... up to SETTLE_TRIES tries (about
 * 3 s in all: within the master's drain grace); then the messages are
 * given up to redelivery, which is safe: nothing is deleted before its
 * effect is in Redis, and writes are idempotent.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "backoff.h"
#include "log.h"
#include "settle.h"
#include "sqs.h"
#include "util.h"

#define SETTLE_TRIES		5	/* the first and four retries */
#define SETTLE_BACKOFF_MIN_MS	200
#define SETTLE_BACKOFF_MAX_MS	2000
/*
 * The heartbeat looks at the leases six times per visibility timeout (at
 * most every second), so one that turns due is extended well within the
 * third of the timeout it has left.  A failed extension is tried again
 * after BEAT_RETRY_MS, while time is left.
 */
#define BEAT_MAX_INTERVAL	1.0
#define BEAT_RETRY_MS		500

enum action {
	A_NONE = 0,	/* in hand */
	A_DELETE,
	A_RELEASE	/* ChangeMessageVisibility to l->visibility */
};

enum batch_kind {
	B_DELETE,
	B_RELEASE,
	B_EXTEND	/* the heartbeat */
};

struct batch;

struct settle_lease {
	struct settle		*s;
	char			*receipt;
	char			*id;		/* SQS message id, for logs */
	uint64_t		 expires_ms;	/* monotonic: visible from then */
	uint64_t		 beat_after_ms;	/* no extension before */
	int			 lost;		/* SQS refused to extend it */
	enum action		 action;
	int			 visibility;	/* A_RELEASE */
	struct batch		*beat;		/* extension in flight */
	TAILQ_ENTRY(settle_lease) link;		/* hand, delq or relq */
};
TAILQ_HEAD(lease_list, settle_lease);

struct batch {
	struct settle		*s;
	enum batch_kind		 kind;
	struct settle_lease	*e[SQS_MAX_BATCH];
	size_t			 n;
	int			 tries;
	uint64_t		 sent_ms;	/* monotonic */
	struct backoff		 backoff;
	struct sqs_call		*call;
	ev_timer		 retry;
	LIST_ENTRY(batch)	 link;
};
LIST_HEAD(batch_list, batch);

struct settle {
	struct ev_loop		*loop;
	struct sqs		*sqs;
	int			 vt;		/* visibility_timeout, s */
	settle_idle_fn		 idle;
	void			*arg;
	struct lease_list	 hand;
	struct lease_list	 delq, relq;
	size_t			 ndelq, nrelq;
	size_t			 busy;		/* settled, not yet answered */
	uint64_t		 errors;
	struct metrics_counters	*mc;		/* NULL: not counted */
	struct batch_list	 batches;
	char			 beat_logged[SQS_ERROR_MAX];
	ev_timer		 beat;
	ev_prepare		 flush;
};

static void	send_batch(struct batch *);
static void	on_retry(struct ev_loop *, ev_timer *, int);

static const char *
action_name(enum batch_kind k)
{
	return k == B_DELETE ? "DeleteMessageBatch" :
	    "ChangeMessageVisibilityBatch";
}

static void
lease_free(struct settle_lease *l)
{
	free(l->receipt);
	free(l->id);
	free(l);
}

/* A settled lease is answered (or given up): it is gone. */
static void
lease_finish(struct settle_lease *l)
{
	l->s->busy--;
	lease_free(l);
}

/* n entries of a batch of kind ended so (ok, retried, failed). */
static void
count(struct settle *s, enum batch_kind kind, enum metrics_entry_outcome o,
    size_t n)
{
	if (s->mc == NULL)
		return;
	if (kind == B_DELETE)
		s->mc->deletes[o] += n;
	else
		s->mc->visibility[o] += n;
}

static int
retryable(enum sqs_status st)
{
	return st == SQS_THROTTLED || st == SQS_SERVER || st == SQS_NETWORK;
}

int
settle_due(uint64_t expires_ms, uint64_t now_ms, int visibility_timeout)
{
	uint64_t third = (uint64_t)visibility_timeout * 1000 / 3;

	return expires_ms <= now_ms || expires_ms - now_ms < third;
}

static struct batch *
batch_new(struct settle *s, enum batch_kind kind)
{
	struct batch *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->s = s;
	b->kind = kind;
	backoff_init(&b->backoff, SETTLE_BACKOFF_MIN_MS,
	    SETTLE_BACKOFF_MAX_MS);
	ev_timer_init(&b->retry, on_retry, 0., 0.);
	b->retry.data = b;
	LIST_INSERT_HEAD(&s->batches, b, link);
	return b;
}

static void
batch_free(struct batch *b)
{
	ev_timer_stop(b->s->loop, &b->retry);
	LIST_REMOVE(b, link);
	free(b);
}

/* Queue a settled lease for its batch. */
static void
enqueue(struct settle_lease *l)
{
	struct settle *s = l->s;

	if (l->action == A_DELETE) {
		TAILQ_INSERT_TAIL(&s->delq, l, link);
		s->ndelq++;
	} else {
		TAILQ_INSERT_TAIL(&s->relq, l, link);
		s->nrelq++;
	}
}

/* Give up on the settled leases of b from index i on. */
static void
give_up(struct batch *b, size_t from, const char *why)
{
	size_t i;

	if (b->n > from)
		log_warn("%s; %zu messages will be delivered again", why,
		    b->n - from);
	for (i = from; i < b->n; i++)
		lease_finish(b->e[i]);
	b->n = from;
}

static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct batch *b = w->data;

	(void)loop;
	(void)revents;
	send_batch(b);
}

/* Send b again later (its entries are those still to settle). */
static void
retry_later(struct batch *b, const char *why)
{
	uint32_t ms = backoff_next(&b->backoff, backoff_random());

	log_debug("%s; retrying %zu entries in %u ms (try %d of %d)", why,
	    b->n, ms, b->tries + 1, SETTLE_TRIES);
	b->call = NULL;
	ev_timer_stop(b->s->loop, &b->retry);
	ev_timer_set(&b->retry, ms / 1000.0, 0.);
	ev_timer_start(b->s->loop, &b->retry);
}

/* The heartbeat's answer: record the new expiry, or try again soon. */
static void
extended(struct batch *b, enum sqs_status st, const char *err,
    const struct sqs_entry_result *res, size_t n)
{
	struct settle *s = b->s;
	struct settle_lease *l;
	uint64_t now = util_mono_ms();
	size_t i;
	int ok;

	if (st != SQS_OK) {
		s->errors++;
		if (strcmp(err, s->beat_logged) != 0) {
			log_warn("%s; %zu messages in hand may become visible "
			    "again; retrying", err, b->n);
			snprintf(s->beat_logged, sizeof(s->beat_logged), "%s",
			    err);
		}
	} else
		s->beat_logged[0] = '\0';
	for (i = 0; i < b->n; i++) {
		l = b->e[i];
		l->beat = NULL;
		ok = st == SQS_OK && i < n && res[i].ok;
		if (ok)
			l->expires_ms = b->sent_ms + (uint64_t)s->vt * 1000;
		else
			l->beat_after_ms = now + BEAT_RETRY_MS;
		if (ok)
			count(s, B_EXTEND, METRICS_ENTRY_OK, 1);
		if (!ok && (st != SQS_OK || l->action != A_NONE))
			count(s, B_EXTEND, METRICS_ENTRY_RETRIED, 1);
		if (st == SQS_OK && !ok && l->action == A_NONE) {
			s->errors++;
			/*
			 * Our request was wrong for this message (a receipt
			 * that is no longer valid, the 12-hour cap on its
			 * visibility): asking again changes nothing, so the
			 * heartbeat gives it up, saying so once.
			 */
			l->lost = i < n && res[i].sender_fault;
			count(s, B_EXTEND, l->lost ? METRICS_ENTRY_FAILED :
			    METRICS_ENTRY_RETRIED, 1);
			log_warn("sqs: ChangeMessageVisibilityBatch: message "
			    "%s: %s: %s%s", l->id, i < n ? res[i].code : "?",
			    i < n ? res[i].message : "no answer", l->lost ?
			    "; no longer extended: it may be delivered again" :
			    "");
		}
		/* Settled meanwhile: its own batch may go now. */
		if (l->action != A_NONE)
			enqueue(l);
	}
	b->n = 0;
}

static void
on_batch(void *arg, enum sqs_status st, const char *err,
    const struct sqs_entry_result *res, size_t n)
{
	struct batch *b = arg;
	struct settle *s = b->s;
	size_t i, keep;

	b->call = NULL;
	b->tries++;
	if (b->kind == B_EXTEND) {
		extended(b, st, err, res, n);
		batch_free(b);
		s->idle(s->arg);
		return;
	}
	if (st != SQS_OK) {
		s->errors++;
		if (retryable(st) && b->tries < SETTLE_TRIES) {
			count(s, b->kind, METRICS_ENTRY_RETRIED, b->n);
			retry_later(b, err);
			return;
		}
		count(s, b->kind, METRICS_ENTRY_FAILED, b->n);
		give_up(b, 0, err);
		batch_free(b);
		s->idle(s->arg);
		return;
	}
	/* Keep the entries worth another try, in order; the rest are done. */
	for (i = 0, keep = 0; i < b->n; i++) {
		if (i < n && res[i].ok) {
			count(s, b->kind, METRICS_ENTRY_OK, 1);
			lease_finish(b->e[i]);
			continue;
		}
		s->errors++;
		if (i < n && !res[i].sender_fault && b->tries < SETTLE_TRIES) {
			count(s, b->kind, METRICS_ENTRY_RETRIED, 1);
			b->e[keep++] = b->e[i];
			continue;
		}
		count(s, b->kind, METRICS_ENTRY_FAILED, 1);
		log_warn("sqs: %s: message %s: %s: %s", action_name(b->kind),
		    b->e[i]->id, i < n ? res[i].code : "?",
		    i < n ? res[i].message : "no answer");
		lease_finish(b->e[i]);
	}
	b->n = keep;
	if (keep > 0) {
		retry_later(b, "sqs: some batch entries failed");
		return;
	}
	batch_free(b);
	s->idle(s->arg);
}

static void
send_batch(struct batch *b)
{
	struct settle *s = b->s;
	struct sqs_entry e[SQS_MAX_BATCH];
	char err[SQS_ERROR_MAX];
	size_t i;

	for (i = 0; i < b->n; i++) {
		e[i].receipt_handle = b->e[i]->receipt;
		e[i].visibility_timeout = b->kind == B_EXTEND ? s->vt :
		    b->e[i]->visibility;
	}
	b->sent_ms = util_mono_ms();
	b->call = b->kind == B_DELETE ?
	    sqs_delete_batch(s->sqs, e, b->n, on_batch, b, err, sizeof(err)) :
	    sqs_change_visibility_batch(s->sqs, e, b->n, on_batch, b, err,
	    sizeof(err));
	if (b->call != NULL)
		return;
	/* Not even started (out of memory, most likely): as a failure. */
	s->errors++;
	if (b->kind == B_EXTEND) {
		extended(b, SQS_NETWORK, err, NULL, 0);
		batch_free(b);
		return;
	}
	if (++b->tries < SETTLE_TRIES) {
		count(s, b->kind, METRICS_ENTRY_RETRIED, b->n);
		retry_later(b, err);
		return;
	}
	count(s, b->kind, METRICS_ENTRY_FAILED, b->n);
	give_up(b, 0, err);
	batch_free(b);
	s->idle(s->arg);
}

/* Send up to ten queued leases of q as one batch. */
static void
flush_list(struct settle *s, struct lease_list *q, size_t *nq,
    enum batch_kind kind)
{
	struct settle_lease *l;
	struct batch *b;

	while (*nq > 0) {
		if ((b = batch_new(s, kind)) == NULL) {
			log_error("%s: out of memory; %zu messages will be "
			    "delivered again", action_name(kind), *nq);
			count(s, kind, METRICS_ENTRY_FAILED, *nq);
			while ((l = TAILQ_FIRST(q)) != NULL) {
				TAILQ_REMOVE(q, l, link);
				lease_finish(l);
			}
			*nq = 0;
			return;
		}
		while (b->n < SQS_MAX_BATCH && (l = TAILQ_FIRST(q)) != NULL) {
			TAILQ_REMOVE(q, l, link);
			(*nq)--;
			b->e[b->n++] = l;
		}
		send_batch(b);
	}
}

/* End of each loop iteration: send what was settled during it. */
static void
on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct settle *s = w->data;

	(void)loop;
	(void)revents;
	flush_list(s, &s->delq, &s->ndelq, B_DELETE);
	flush_list(s, &s->relq, &s->nrelq, B_RELEASE);
}

/* The heartbeat: extend every lease in hand that runs short. */
static void
on_beat(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct settle *s = w->data;
	struct settle_lease *l;
	struct batch *b = NULL;
	uint64_t now = util_mono_ms();

	(void)loop;
	(void)revents;
	TAILQ_FOREACH(l, &s->hand, link) {
		if (l->beat != NULL || l->lost || l->beat_after_ms > now ||
		    !settle_due(l->expires_ms, now, s->vt))
			continue;
		if (b == NULL && (b = batch_new(s, B_EXTEND)) == NULL)
			return;	/* out of memory: the next beat tries */
		l->beat = b;
		b->e[b->n++] = l;
		if (b->n == SQS_MAX_BATCH) {
			send_batch(b);
			b = NULL;
		}
	}
	if (b != NULL)
		send_batch(b);
}

struct settle *
settle_new(struct ev_loop *loop, struct sqs *sqs, int visibility_timeout,
    settle_idle_fn idle, void *arg)
{
	struct settle *s;
	double every;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->loop = loop;
	s->sqs = sqs;
	s->vt = visibility_timeout > 0 ? visibility_timeout : 1;
	s->idle = idle;
	s->arg = arg;
	TAILQ_INIT(&s->hand);
	TAILQ_INIT(&s->delq);
	TAILQ_INIT(&s->relq);
	LIST_INIT(&s->batches);
	every = s->vt / 6.0;
	if (every > BEAT_MAX_INTERVAL)
		every = BEAT_MAX_INTERVAL;
	ev_timer_init(&s->beat, on_beat, every, every);
	s->beat.data = s;
	ev_timer_start(loop, &s->beat);
	/* Lowest priority: after the cache's completions of this iteration. */
	ev_prepare_init(&s->flush, on_flush);
	ev_set_priority(&s->flush, EV_MINPRI);
	s->flush.data = s;
	ev_prepare_start(loop, &s->flush);
	return s;
}

void
settle_free(struct settle *s)
{
	struct settle_lease *l;
	struct batch *b;
	size_t i;

	if (s == NULL)
		return;
	ev_timer_stop(s->loop, &s->beat);
	ev_prepare_stop(s->loop, &s->flush);
	while ((b = LIST_FIRST(&s->batches)) != NULL) {
		if (b->call != NULL)
			sqs_cancel(b->call);
		/* A heartbeat's in-hand leases are freed from the hand. */
		for (i = 0; i < b->n; i++)
			if (b->kind != B_EXTEND || b->e[i]->action != A_NONE)
				lease_free(b->e[i]);
		batch_free(b);
	}
	while ((l = TAILQ_FIRST(&s->hand)) != NULL) {
		TAILQ_REMOVE(&s->hand, l, link);
		lease_free(l);
	}
	while ((l = TAILQ_FIRST(&s->delq)) != NULL) {
		TAILQ_REMOVE(&s->delq, l, link);
		lease_free(l);
	}
	while ((l = TAILQ_FIRST(&s->relq)) != NULL) {
		TAILQ_REMOVE(&s->relq, l, link);
		lease_free(l);
	}
	free(s);
}

struct settle_lease *
settle_track(struct settle *s, char *receipt, const char *id)
{
	struct settle_lease *l = NULL;

	if (receipt == NULL || (l = calloc(1, sizeof(*l))) == NULL ||
	    (l->id = strdup(id != NULL ? id : "?")) == NULL) {
		free(l);
		free(receipt);
		return NULL;
	}
	l->s = s;
	l->receipt = receipt;
	l->expires_ms = util_mono_ms() + (uint64_t)s->vt * 1000;
	TAILQ_INSERT_TAIL(&s->hand, l, link);
	return l;
}

void
settle_done(struct settle_lease *l, int visibility)
{
	struct settle *s = l->s;

	TAILQ_REMOVE(&s->hand, l, link);
	s->busy++;
	l->action = visibility < 0 ? A_DELETE : A_RELEASE;
	l->visibility = visibility < 0 ? 0 : visibility;
	if (l->beat != NULL)
		return;		/* queued when the extension is answered */
	enqueue(l);
	if (s->ndelq >= SQS_MAX_BATCH)
		flush_list(s, &s->delq, &s->ndelq, B_DELETE);
	if (s->nrelq >= SQS_MAX_BATCH)
		flush_list(s, &s->relq, &s->nrelq, B_RELEASE);
}

size_t
settle_busy(const struct settle *s)
{
	return s->busy;
}

void
settle_set_counters(struct settle *s, struct metrics_counters *mc)
{
	s->mc = mc;
}

uint64_t
settle_errors(const struct settle *s)
{
	return s->errors;
}
