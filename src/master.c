/*
 * master: the supervisor process.  Everything happens on EV_DEFAULT and
 * nothing blocks: consumers are forked into slots of the process table,
 * watched through ev_child and their status channels, restarted with
 * per-slot exponential backoff (timers, never sleep), killed when their
 * heartbeat stops, and replaced one at a time on reload.  Readiness for
 * /readyz is computed from the last message of each consumer.
 *
 * Each configuration read is a generation (struct gen).  A reload makes a
 * new one current; the older ones live on while a slot still runs them,
 * as nginx keeps its old cycle until the last old worker is gone, so a
 * consumer the roll has not replaced yet (or will not: a roll that
 * stopped) restarts with the configuration it ran, not the new one.
 *
 * The master is also the one that reports to Sentry (sentry.c): what it
 * sees itself (a consumer's crash or hang, Redis unreachable for longer
 * than sentry_redis_down_secs by every consumer's status) and what the
 * consumers report to it.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "backoff.h"
#include "consumer.h"
#include "creds.h"
#include "health.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "notify.h"
#include "proc.h"
#include "rconn.h"
#include "sentry.h"
#include "util.h"

/*
 * A consumer that first became ready this long before it exited has
 * proved itself (even if an outage made it not-ready later): its backoff
 * starts over.
 */
#define STABLE_MS		10000
/* This many unexpected exits within the window is a crash storm. */
#define STORM_EXITS		10
#define STORM_WINDOW_MS		60000
/* A status older than this says nothing about Redis any more (3 heartbeats). */
#define STATUS_FRESH_MS		3000
#define TICK_SECS		1.0
/* Seconds the master's drain deadline trails the consumers' own. */
#define DRAIN_GRACE		2
/* "N of M consumers ready, redis disconnected, reloading: " and a reason. */
#define STATUS_MAX		(64 + HEALTH_REASON_MAX)

#define NSLOTS		CONFIG_MAX_CONSUMERS
#define NPROCS		(2 * NSLOTS)

/* A configuration read, and its number. */
struct gen {
	LIST_ENTRY(gen)	 entry;
	unsigned	 id;
	struct config	 cfg;
};

struct master {
	struct ev_loop	*loop;
	struct config	*cfg;		/* &cur->cfg */
	struct gen	*cur;		/* the current configuration */
	LIST_HEAD(, gen) old;		/* older ones some slot still runs */
	const char	*config_path;
	unsigned	 generation;	/* cur->id */
	/*
	 * procs[i] is slot i + 1's process; procs[NSLOTS + i] the one a
	 * reload is replacing in that slot (outgoing): it serves on until
	 * the replacement is ready.
	 */
	struct proc	 procs[NPROCS];

	struct health	*health;
	char		*health_addr;	/* what health listens on */
	int		 health_port;

	ev_signal	 sigterm, sigint, sighup, sigusr1;
	ev_timer	 tick;
	ev_timer	 watchdog;
	ev_timer	 drain_deadline;
	int		 notified_ready;	/* READY=1 sent (since reload) */
	char		 status_sent[STATUS_MAX];	/* last STATUS= sent */
	int		 draining;
	int		 exit_status;

	uint64_t	 exits[STORM_EXITS];	/* ring of unexpected exit times */
	unsigned	 nexits;
	int		 storm;

	int		 roll_slot;	/* slot being replaced, -1: none */
	uint64_t	 roll_since_ms;	/* when the roll came to it */
	struct proc	*spawning;	/* the entry a fork fills (child_run) */

	struct sentry	*sentry;	/* NULL: nothing is reported */
	uint64_t	 redis_down_ms;	/* since when no consumer reaches it; 0 */
	int		 redis_reported; /* this outage was reported */

	/* What the master counts itself (the exposition's master part). */
	struct metrics_master mm;
	uint64_t	 start_mono_ms;	/* for the uptime */
};

static void	spawn(struct master *, struct proc *, const struct config *);
static void	roll_next(struct master *);
static void	collect(struct master *);
static void	announce(struct master *);
static void	replaced(struct master *, struct proc *);
static void	roll_stop(struct master *);
static void	hand_restart(struct master *, struct proc *);

/* The outgoing process of p's slot. */
static struct proc *
outgoing(struct master *m, const struct proc *p)
{
	return &m->procs[NSLOTS + p->slot - 1];
}

static int
is_outgoing(const struct master *m, const struct proc *p)
{
	return p >= &m->procs[NSLOTS];
}

/* The slot's outgoing process, alive and not told to stop. */
static struct proc *
serving_outgoing(struct master *m, const struct proc *p)
{
	struct proc *o = outgoing(m, p);

	return proc_alive(o) && o->state != PROC_DRAINING ? o : NULL;
}

/*
 * What the slot falls back to if its replacement fails: its outgoing
 * process serving, or waiting to be restarted after a crash.
 */
static struct proc *
fallback(struct master *m, const struct proc *p)
{
	struct proc *o = outgoing(m, p);

	return serving_outgoing(m, p) != NULL || o->state == PROC_BACKOFF ?
	    o : NULL;
}

/* Consumer processes alive, outgoing ones included. */
static int
alive_count(const struct master *m)
{
	int i, n = 0;

	for (i = 0; i < NPROCS; i++)
		if (proc_alive(&m->procs[i]))
			n++;
	return n;
}

/*
 * The summary behind /readyz and STATUS=.  When not ready, reason says
 * why: the first live consumer's own reason (a consumer's reasons name no
 * secret), or what the master knows.
 */
static void
health_status(void *arg, struct health_status *out)
{
	struct master *m = arg;
	uint64_t now = util_mono_ms();
	const struct proc *p;
	const char *why = NULL;
	unsigned char ready[NSLOTS];
	int i, alive = 0;

	memset(out, 0, sizeof(*out));
	memset(ready, 0, sizeof(ready));
	/* A slot is ready when its process or its outgoing one is. */
	for (i = 0; i < NPROCS; i++) {
		p = &m->procs[i];
		if (!proc_alive(p))
			continue;
		alive++;
		if (now - p->last_msg_ms > STATUS_FRESH_MS)
			continue;
		if (p->state == PROC_READY)
			ready[p->slot - 1] = 1;
		else if (why == NULL && p->status.reason[0] != '\0')
			why = p->status.reason;
		if (p->status.redis_ok)
			out->redis_connected = 1;
	}
	for (i = 0; i < NSLOTS; i++)
		out->consumers_ready += ready[i];
	out->ready = !m->draining && out->consumers_ready > 0 &&
	    out->redis_connected;
	if (out->ready)
		return;
	if (m->draining)
		why = "draining";
	else if (alive == 0)
		why = "no consumer is running";
	else if (why == NULL)
		why = out->consumers_ready > 0 ? "no consumer reached redis "
		    "lately" : "no recent status from the consumers";
	snprintf(out->reason, sizeof(out->reason), "%s", why);
}

/*
 * A slot's gauges count when its process is alive and its last report is
 * fresh: a consumer that stopped reporting says nothing about now.
 */
static int
slot_live(const struct proc *p, uint64_t now)
{
	return proc_alive(p) && p->have_metrics &&
	    now - p->last_msg_ms <= STATUS_FRESH_MS;
}

/*
 * A slot's totals: its earlier processes', the live one's and its
 * outgoing one's.
 */
static void
slot_totals(struct master *m, const struct proc *p,
    struct metrics_counters *out)
{
	const struct proc *o = outgoing(m, p);

	*out = p->base;
	if (p->have_metrics)
		metrics_add(out, &p->metrics.counters);
	if (o->have_metrics)
		metrics_add(out, &o->metrics.counters);
}

/* GET /metrics */
static char *
page_metrics(struct master *m, size_t *len)
{
	/* 64 slots of 1.5 kB: off the stack; the master has one thread. */
	static struct metrics_counters c[NSLOTS];
	struct metrics_gauges g[NPROCS];
	struct health_status hs;
	int live[NPROCS], i;
	uint64_t now = util_mono_ms();

	health_status(m, &hs);
	m->mm.consumers_configured = m->cfg->consumers;
	m->mm.consumers_running = alive_count(m);
	m->mm.consumers_ready = hs.consumers_ready;
	m->mm.ready = hs.ready;
	m->mm.now_ms = util_now_ms();
	for (i = 0; i < NSLOTS; i++)
		slot_totals(m, &m->procs[i], &c[i]);
	/* Gauges count processes: an outgoing one's too. */
	for (i = 0; i < NPROCS; i++) {
		g[i] = m->procs[i].metrics.gauges;
		live[i] = slot_live(&m->procs[i], now);
	}
	return metrics_render(&m->mm, c, NSLOTS, g, live, NPROCS, len);
}

/* Epoch milliseconds as RFC 3339 UTC, or JSON null when 0 (never). */
static struct json_object *
json_time(uint64_t ms)
{
	char buf[96];	/* room for any int gmtime_r gives */
	struct tm tm;
	time_t t;

	if (ms == 0)
		return NULL;
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_object_new_string(buf);
}

/* One line for an operator, every secret of the slot's configuration out. */
static struct json_object *
json_text(const struct master *m, const struct proc *p, const char *text)
{
	const char *sec[2 * SENTRY_SECRETS_MAX];
	struct sentry_keys keys[2];
	char buf[IPC_REASON_MAX + 64];
	size_t n;

	if (text[0] == '\0')
		return NULL;
	(void)util_clean(buf, sizeof(buf), text, strlen(text), 0,
	    UTIL_CLEAN_ASCII | UTIL_CLEAN_SPACE | UTIL_CLEAN_LINE);
	n = sentry_secrets(m->cfg, sec, &keys[0]);
	if (p->cfg != NULL && p->cfg != m->cfg)
		n += sentry_secrets(p->cfg, sec + n, &keys[1]);
	(void)util_redact(buf, sizeof(buf), sec, n, 0);
	explicit_bzero(keys, sizeof(keys));
	return json_object_new_string(buf);
}

static void
json_add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

/* Milliseconds as seconds with three decimals, not a double's noise. */
static struct json_object *
json_seconds(uint64_t ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64 ".%03u", ms / 1000,
	    (unsigned)(ms % 1000));
	return json_object_new_double_s((double)ms / 1000.0, buf);
}

static struct json_object *
json_u64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static struct json_object *
status_slot(struct master *m, const struct proc *p, uint64_t now)
{
	struct metrics_counters c;
	struct json_object *o, *k;
	uint64_t applied = 0, skipped = 0, ignored = 0, rejected = 0;
	char state[32], how[96], *cut;
	int e, live = slot_live(p, now);

	slot_totals(m, p, &c);
	for (e = 0; e < METRICS_EV_N; e++) {
		applied += c.messages[e][METRICS_OUT_APPLIED];
		skipped += c.messages[e][METRICS_OUT_SKIPPED_OLDER] +
		    c.messages[e][METRICS_OUT_SKIPPED_UNCACHED];
		ignored += c.messages[e][METRICS_OUT_IGNORED];
		rejected += c.messages[e][METRICS_OUT_REJECTED];
	}
	/* "not-ready" in the logs, an identifier here. */
	snprintf(state, sizeof(state), "%s", proc_state_name(p->state));
	for (cut = state; *cut != '\0'; cut++)
		if (*cut == '-')
			*cut = '_';
	o = json_object_new_object();
	json_add(o, "slot", json_object_new_int(p->slot));
	json_add(o, "pid", proc_alive(p) ? json_object_new_int64(p->pid) :
	    NULL);
	/* The process a reload is replacing, serving or draining. */
	json_add(o, "outgoing_pid", proc_alive(outgoing(m, p)) ?
	    json_object_new_int64(outgoing(m, p)->pid) : NULL);
	json_add(o, "state", json_object_new_string(state));
	json_add(o, "uptime_seconds", proc_alive(p) ?
	    json_seconds(now - p->started_ms) : NULL);
	json_add(o, "restarts", json_object_new_int64(p->restarts));
	if (p->exited) {
		/* "killed by signal 9", without util_wait_status' name of it */
		util_wait_status(p->exit_status, how, sizeof(how));
		if ((cut = strstr(how, " (")) != NULL)
			*cut = '\0';
		json_add(o, "last_exit", json_object_new_string(how));
	} else
		json_add(o, "last_exit", NULL);
	json_add(o, "last_error", json_text(m, p, p->last_error));
	json_add(o, "last_sqs_ok", json_time(p->status.last_sqs_ok_ms));
	json_add(o, "last_redis_ok", json_time(p->status.last_redis_ok_ms));
	k = json_object_new_object();
	json_add(k, "received", json_u64(c.received));
	json_add(k, "applied", json_u64(applied));
	json_add(k, "skipped", json_u64(skipped));
	json_add(k, "ignored", json_u64(ignored));
	json_add(k, "rejected", json_u64(rejected));
	json_add(o, "counters", k);
	json_add(o, "in_hand", json_u64(live ? p->metrics.gauges.in_hand : 0));
	json_add(o, "held", json_u64(live ? p->metrics.gauges.held : 0));
	return o;
}

/* GET /status: the summary and one object per slot. */
static char *
page_status(struct master *m, size_t *len)
{
	struct json_object *o, *a;
	struct health_status hs;
	uint64_t now = util_mono_ms();
	const char *text;
	char *body;
	int i;

	health_status(m, &hs);
	o = json_object_new_object();
	json_add(o, "status", json_object_new_string(hs.ready ? "UP" :
	    "DOWN"));
	json_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	json_add(o, "uptime_seconds", json_seconds(now - m->start_mono_ms));
	a = json_object_new_array();
	/* The configured slots, and any beyond them still running. */
	for (i = 0; i < NSLOTS; i++)
		if (i < m->cfg->consumers || proc_alive(&m->procs[i]) ||
		    proc_alive(&m->procs[NSLOTS + i]))
			json_object_array_add(a, status_slot(m, &m->procs[i],
			    now));
	json_add(o, "consumers", a);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	body = text != NULL ? strdup(text) : NULL;
	if (body != NULL)
		*len = strlen(body);
	json_object_put(o);
	return body;
}

/* health's page hook: /metrics and /status. */
static char *
pages(void *arg, enum health_page page, size_t *len)
{
	struct master *m = arg;

	switch (page) {
	case HEALTH_PAGE_METRICS:
		return page_metrics(m, len);
	case HEALTH_PAGE_STATUS:
		return page_status(m, len);
	}
	return NULL;
}

/*
 * A reason goes into a JSON body and a STATUS= line: one line of
 * printable ASCII (a newline would end the STATUS= assignment).
 */
static void
clean_reason(char *s, size_t size)
{
	char tmp[IPC_REASON_MAX];

	(void)util_clean(tmp, sizeof(tmp), s, strnlen(s, size), 0,
	    UTIL_CLEAN_ASCII | UTIL_CLEAN_SPACE);
	snprintf(s, size, "%s", tmp);
}

/*
 * Tell systemd: READY=1 the first time the service is ready (and after a
 * reload), and STATUS= whenever the summary changes.
 */
static void
announce(struct master *m)
{
	struct health_status hs;
	char status[STATUS_MAX], msg[STATUS_MAX + 32];

	if (!notify_enabled() || m->draining)
		return;
	health_status(m, &hs);
	/* systemctl status shows why it is not ready, too. */
	snprintf(status, sizeof(status), "%d of %d consumers ready, redis "
	    "%s%s%s%s", hs.consumers_ready, m->cfg->consumers,
	    hs.redis_connected ? "connected" : "disconnected",
	    m->roll_slot != -1 ? ", reloading" : "", hs.ready ? "" : ": ",
	    hs.ready ? "" : hs.reason);
	if (hs.ready && !m->notified_ready && m->roll_slot == -1) {
		m->notified_ready = 1;
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
		(void)notify_send(msg);
		snprintf(m->status_sent, sizeof(m->status_sent), "%s", status);
		return;
	}
	if (strcmp(status, m->status_sent) != 0) {
		snprintf(msg, sizeof(msg), "STATUS=%s", status);
		(void)notify_send(msg);
		snprintf(m->status_sent, sizeof(m->status_sent), "%s", status);
	}
}

static void
on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	(void)notify_send("WATCHDOG=1");
}

/* Ask a consumer to drain; a signal does it when the channel cannot. */
static void
ask_stop(struct proc *p)
{
	struct ipc_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = IPC_STOP;
	if (p->fd == -1 || ipc_send(p->fd, &msg) == -1)
		(void)kill(p->pid, SIGTERM);
	p->state = PROC_DRAINING;
}

static void
close_channel(struct master *m, struct proc *p)
{
	if (p->fd == -1)
		return;
	ev_io_stop(m->loop, &p->io);
	close(p->fd);
	p->fd = -1;
}

static void
finish_if_drained(struct master *m)
{
	if (m->draining && alive_count(m) == 0) {
		log_info("all consumers stopped; exiting");
		ev_break(m->loop, EVBREAK_ALL);
	}
}

/*
 * A consumer's report, to Sentry.  Poison messages group by the first
 * words of their reason (ids and quoted values left out), so that one bad
 * producer makes one issue; the refused credentials make one issue, the
 * internal errors one per kind of failure.
 */
static void
report_from(struct master *m, const struct proc *p,
    const struct ipc_report *r)
{
	struct sentry_event ev;
	char words[SENTRY_FINGERPRINT_MAX];

	if (m->sentry == NULL)
		return;
	switch (r->kind) {
	case IPC_REPORT_POISON:
		sentry_event_init(&ev, "warning", "poison", p->slot);
		sentry_event_message(&ev, "message %s rejected: %s",
		    r->sqs_message_id[0] != '\0' ? r->sqs_message_id : "-",
		    r->text);
		sentry_words(words, sizeof(words), r->text, 4);
		sentry_event_fingerprint(&ev, "%s", words);
		break;
	case IPC_REPORT_CREDENTIALS:
		sentry_event_init(&ev, "error", "credentials", p->slot);
		sentry_event_message(&ev, "no usable aws credentials: %s",
		    r->text);
		sentry_event_fingerprint(&ev, "refused");
		break;
	case IPC_REPORT_INTERNAL:
		sentry_event_init(&ev, "error", "internal", p->slot);
		sentry_event_message(&ev, "%s", r->text);
		sentry_words(words, sizeof(words), r->text, 4);
		sentry_event_fingerprint(&ev, "%s", words);
		break;
	default:
		/* IPC_REPORT_REDIS: the master's own to say (check_redis). */
		return;
	}
	ev.logger = "consumer";
	sentry_event_tag(&ev, "sqs_message_id", r->sqs_message_id);
	sentry_event_tag(&ev, "message_id", r->event_id);
	sentry_capture(m->sentry, &ev);
}

/*
 * Why a consumer cannot work, for /status' last_error: the reason of a
 * not-ready status, a heartbeat's included (one that never became ready
 * sends no NOT_READY), but not the consumer's own words for starting
 * and stopping, which are no error.
 */
static int
is_error_reason(const struct ipc_msg *msg)
{
	return msg->type != IPC_HELLO && !msg->ready &&
	    msg->reason[0] != '\0' && strcmp(msg->reason, "starting") != 0 &&
	    strcmp(msg->reason, "stopping") != 0;
}

/*
 * Read every message waiting on p's channel.  exited: the consumer is
 * gone (on_child), and what it sent last, its final counters above all,
 * is read before the channel is closed; its status no longer moves the
 * slot's state.
 */
static void
read_channel(struct master *m, struct proc *p, int exited)
{
	struct ipc_any any;
	struct ipc_msg msg;
	uint32_t pid;
	char err[128];
	int r;

	while (p->fd != -1) {
		r = ipc_recv_any(p->fd, &any, err, sizeof(err));
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		pid = r != 1 ? 0 : any.type == IPC_METRICS ? any.metrics.pid :
		    any.type == IPC_REPORT ? any.report.pid : any.status.pid;
		if (r == 1 && (pid != (uint32_t)p->pid ||
		    any.type == IPC_STOP)) {
			snprintf(err, sizeof(err), "%s from pid %u",
			    ipc_type_name(any.type), pid);
			r = -2;
		}
		if (r == -2) {
			log_error("consumer %d (pid %ld): malformed "
			    "status message: %s; killing it", p->slot,
			    (long)p->pid, err);
			/* Exited: the pid is reaped, maybe another's now. */
			if (!exited)
				(void)kill(p->pid, SIGKILL);
			close_channel(m, p);
			return;
		}
		if (r != 1) {
			/* EOF: the consumer is exiting; ev_child follows. */
			close_channel(m, p);
			return;
		}
		p->last_msg_ms = util_mono_ms();
		if (any.type == IPC_METRICS) {
			p->metrics = any.metrics;
			p->have_metrics = 1;
			continue;
		}
		if (any.type == IPC_REPORT) {
			clean_reason(any.report.text, sizeof(any.report.text));
			log_debug("consumer %d (pid %ld): %s report: %s",
			    p->slot, (long)p->pid,
			    ipc_report_kind_name(any.report.kind),
			    any.report.text);
			report_from(m, p, &any.report);
			continue;
		}
		msg = any.status;
		clean_reason(msg.reason, sizeof(msg.reason));
		p->status = msg;
		if (is_error_reason(&msg))
			memcpy(p->last_error, msg.reason, sizeof(p->last_error));
		if (exited || p->state == PROC_DRAINING)
			continue;
		if (msg.ready && p->state != PROC_READY) {
			p->state = PROC_READY;
			if (p->first_ready_ms == 0)
				p->first_ready_ms = p->last_msg_ms;
			log_info("consumer %d (pid %ld) is ready",
			    p->slot, (long)p->pid);
			if (!is_outgoing(m, p))
				replaced(m, p);
		} else if (!msg.ready && p->state != PROC_STARTING &&
		    p->state != PROC_NOT_READY) {
			p->state = PROC_NOT_READY;
			log_info("consumer %d (pid %ld) is not ready: %s",
			    p->slot, (long)p->pid, msg.reason);
		}
		announce(m);
	}
}

/*
 * Slot p's process is ready: the outgoing one it replaces, if any, stops
 * now, and the roll goes on to the next slot.
 */
static void
replaced(struct master *m, struct proc *p)
{
	struct proc *o = fallback(m, p);

	if (o != NULL && proc_alive(o)) {
		log_info("reload: consumer %d (pid %ld) replaced by pid %ld; "
		    "stopping it", p->slot, (long)o->pid, (long)p->pid);
		o->retire = 1;
		ask_stop(o);
	} else if (o != NULL) {
		/* It crashed meanwhile: no restart is needed any more. */
		ev_timer_stop(m->loop, &o->restart);
		o->state = PROC_EMPTY;
		collect(m);
	}
	if (m->roll_slot == p->slot - 1) {
		m->roll_slot = -1;
		roll_next(m);
	}
}

/*
 * Slot p's replacement failed (it timed out, or stopped on a
 * configuration error; p has no process now): its outgoing process takes
 * the slot back with the configuration it runs, serving or, when it
 * crashed meanwhile, as the restart it was waiting for.  0 when there is
 * none to.
 */
static int
take_back(struct master *m, struct proc *p)
{
	struct proc *o = fallback(m, p);
	ev_tstamp left;

	if (o == NULL || proc_alive(p))
		return 0;
	ev_timer_stop(m->loop, &p->restart);
	if (proc_alive(o)) {
		proc_move(m->loop, p, o);
		log_info("consumer %d (pid %ld) keeps serving on its previous "
		    "configuration", p->slot, (long)p->pid);
	} else {
		left = ev_timer_remaining(m->loop, &o->restart);
		ev_timer_stop(m->loop, &o->restart);
		p->cfg = o->cfg;	/* before collect() sees o empty */
		o->state = PROC_EMPTY;
		p->state = PROC_BACKOFF;
		ev_timer_set(&p->restart, left > 0 ? left : 0., 0.);
		ev_timer_start(m->loop, &p->restart);
		log_info("restarting consumer %d in %.2fs on its previous "
		    "configuration", p->slot, left > 0 ? left : 0.);
	}
	collect(m);
	announce(m);
	return 1;
}

static void
on_channel(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proc *p = w->data;

	(void)loop;
	(void)revents;
	read_channel(p->owner, p, 0);
}

/*
 * A consumer is gone: what it counted joins what the slot's earlier
 * processes counted (into, the slot's own), so the slot's totals never go
 * backwards.
 */
static void
settle_counters(struct proc *p, struct proc *into)
{
	if (p->have_metrics)
		metrics_add(&into->base, &p->metrics.counters);
	memset(&p->metrics, 0, sizeof(p->metrics));
	p->have_metrics = 0;
}

/* Count an unexpected exit; say when a crash storm starts. */
static void
note_exit(struct master *m, uint64_t now)
{
	uint64_t oldest;

	m->exits[m->nexits++ % STORM_EXITS] = now;
	if (m->nexits < STORM_EXITS || m->storm)
		return;
	oldest = m->exits[m->nexits % STORM_EXITS];
	if (now - oldest < STORM_WINDOW_MS) {
		m->storm = 1;
		log_error("crash storm: %d consumer exits within %ds; "
		    "restarts are held at %.1fs until it calms down",
		    STORM_EXITS, STORM_WINDOW_MS / 1000,
		    m->cfg->restart_backoff_max_ms / 1000.0);
	}
}

static void
check_storm_over(struct master *m, uint64_t now)
{
	uint64_t newest;

	if (!m->storm)
		return;
	newest = m->exits[(m->nexits - 1) % STORM_EXITS];
	if (now - newest >= STORM_WINDOW_MS) {
		m->storm = 0;
		log_info("crash storm over: no consumer exit for %ds",
		    STORM_WINDOW_MS / 1000);
	}
}

static int
none_can_run(const struct master *m)
{
	int i;

	for (i = 0; i < m->cfg->consumers; i++)
		if (m->procs[i].state != PROC_FAILED)
			return 0;
	/* An outgoing process still draining goes first, unkilled. */
	return alive_count(m) == 0;
}

/* Every slot failed on a configuration error: the master gives up. */
static void
check_none_can_run(struct master *m)
{
	if (m->draining || !none_can_run(m))
		return;
	log_error("no consumer can run with this configuration; exiting");
	m->exit_status = MASTER_EXIT_CONFIG;
	ev_break(m->loop, EVBREAK_ALL);
}

/*
 * Free each older configuration no slot runs any more.  A slot that is
 * empty or failed runs nothing: the next reload starts it with the
 * current one.
 */
static void
collect(struct master *m)
{
	struct gen *g, *next;
	struct proc *p;
	int i, used;

	for (g = LIST_FIRST(&m->old); g != NULL; g = next) {
		next = LIST_NEXT(g, entry);
		used = 0;
		for (i = 0; i < NPROCS; i++) {
			p = &m->procs[i];
			if (p->cfg == &g->cfg && p->state != PROC_EMPTY &&
			    p->state != PROC_FAILED)
				used = 1;
		}
		if (used)
			continue;
		for (i = 0; i < NPROCS; i++)
			if (m->procs[i].cfg == &g->cfg)
				m->procs[i].cfg = NULL;
		log_debug("configuration %u: no consumer runs it; freed",
		    g->id);
		LIST_REMOVE(g, entry);
		config_free(&g->cfg);
		free(g);
	}
}

static void
gen_free_all(struct master *m)
{
	struct gen *g;
	int i;

	for (i = 0; i < NPROCS; i++)
		m->procs[i].cfg = NULL;
	while ((g = LIST_FIRST(&m->old)) != NULL) {
		LIST_REMOVE(g, entry);
		config_free(&g->cfg);
		free(g);
	}
	if (m->cur != NULL) {
		config_free(&m->cur->cfg);
		free(m->cur);
		m->cur = NULL;
		m->cfg = NULL;
	}
}

/*
 * Report an exit nobody asked for: a signal (not the SIGKILL of a hang,
 * reported when it was sent, nor the drain deadline's), or an exit status
 * other than a stop's or a configuration error's (that one is logged and
 * stops the slot: the operator's to fix, no internal error).
 */
static void
report_exit(struct master *m, const struct proc *p, int status,
    double uptime)
{
	struct sentry_event ev;
	char sig[16], code[16];

	if (m->sentry == NULL || p->hang_killed)
		return;
	if (WIFSIGNALED(status)) {
		if (m->draining && WTERMSIG(status) == SIGKILL)
			return;
		sentry_signal_name(WTERMSIG(status), sig, sizeof(sig));
		sentry_event_init(&ev, "fatal", "crash", p->slot);
		sentry_event_message(&ev, "consumer %d (pid %ld) killed by "
		    "signal %d (%s) after %.1fs", p->slot, (long)p->pid,
		    WTERMSIG(status), sig, uptime);
		sentry_event_fingerprint(&ev, "%s", sig);
		sentry_event_tag(&ev, "signal", sig);
	} else if (WIFEXITED(status) &&
	    WEXITSTATUS(status) != CONSUMER_EXIT_CONFIG) {
		snprintf(code, sizeof(code), "%d", WEXITSTATUS(status));
		sentry_event_init(&ev, "error", "crash", p->slot);
		sentry_event_message(&ev, "consumer %d (pid %ld) exited with "
		    "status %d after %.1fs", p->slot, (long)p->pid,
		    WEXITSTATUS(status), uptime);
		sentry_event_fingerprint(&ev, "exit %s", code);
		sentry_event_tag(&ev, "exit_status", code);
	} else
		return;
	sentry_event_extra(&ev, "uptime_seconds", uptime);
	sentry_event_extra(&ev, "pid", (double)p->pid);
	sentry_capture(m->sentry, &ev);
}

/*
 * An unexpected exit of p's process, counted for the storm: its restart
 * after the backoff (which starts over after a stable run), or the
 * backoff's ceiling in a storm.  The delay, in seconds.
 */
static double
schedule_restart(struct master *m, struct proc *p, uint64_t now)
{
	double delay;

	if (p->first_ready_ms != 0 && now - p->first_ready_ms >= STABLE_MS)
		backoff_reset(&p->backoff);
	note_exit(m, now);
	delay = backoff_next(&p->backoff, backoff_random()) / 1000.0;
	if (m->storm)
		delay = m->cfg->restart_backoff_max_ms / 1000.0;
	p->state = PROC_BACKOFF;
	ev_timer_set(&p->restart, delay, 0.);
	ev_timer_start(m->loop, &p->restart);
	return delay;
}

static void
on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct proc *p = w->data;
	struct master *m = p->owner;
	uint64_t now = util_mono_ms();
	int status = w->rstatus, expected;
	double uptime, delay;
	char how[96];

	(void)revents;
	ev_child_stop(loop, w);
	/* Its last heartbeat and final counters may still be unread. */
	read_channel(m, p, 1);
	close_channel(m, p);
	settle_counters(p, &m->procs[p->slot - 1]);
	util_wait_status(status, how, sizeof(how));
	uptime = (now - p->started_ms) / 1000.0;
	expected = p->state == PROC_DRAINING && WIFEXITED(status) &&
	    WEXITSTATUS(status) == CONSUMER_EXIT_OK;
	p->exited = 1;
	p->exit_status = status;
	if (expected)
		m->mm.exits[METRICS_EXIT_NORMAL]++;
	else if (WIFEXITED(status) &&
	    WEXITSTATUS(status) == CONSUMER_EXIT_CONFIG)
		m->mm.exits[METRICS_EXIT_CONFIG]++;
	else if (p->hang_killed)
		m->mm.exits[METRICS_EXIT_HANG]++;
	else
		m->mm.exits[METRICS_EXIT_CRASH]++;
	if (expected)
		log_info("consumer %d (pid %ld) %s after %.1fs",
		    p->slot, (long)p->pid, how, uptime);
	else
		log_warn("consumer %d (pid %ld) %s after %.1fs",
		    p->slot, (long)p->pid, how, uptime);
	if (!expected)
		report_exit(m, p, status, uptime);
	p->pid = 0;

	/*
	 * An outgoing process that exits unasked while its replacement is
	 * not ready yet is restarted on its configuration, in its entry, so
	 * the slot still has it to fall back to; otherwise it is done.
	 */
	if (is_outgoing(m, p) && !m->draining && !p->retire &&
	    p->state != PROC_DRAINING &&
	    m->procs[p->slot - 1].state != PROC_READY &&
	    !(WIFEXITED(status) &&
	    WEXITSTATUS(status) == CONSUMER_EXIT_CONFIG)) {
		delay = schedule_restart(m, p, now);
		log_info("restarting consumer %d in %.2fs on its previous "
		    "configuration, its replacement not being ready", p->slot,
		    delay);
		return;
	}
	if (m->draining || p->retire || is_outgoing(m, p)) {
		p->state = PROC_EMPTY;
		p->retire = p->replace = p->revert = 0;
		collect(m);
		finish_if_drained(m);
		check_none_can_run(m);
		/* A roll waiting for this outgoing process to go goes on. */
		if (is_outgoing(m, p) && m->roll_slot == p->slot - 1 &&
		    !m->draining) {
			m->roll_slot = -1;
			roll_next(m);
		}
		announce(m);
		return;
	}
	if (p->replace) {
		if (m->roll_slot == p->slot - 1)
			m->roll_since_ms = now;
		spawn(m, p, m->cfg);
		return;
	}
	if (p->revert) {
		p->revert = 0;
		p->state = PROC_EMPTY;
		if (take_back(m, p))
			return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == CONSUMER_EXIT_CONFIG) {
		p->state = PROC_EMPTY;
		if (fallback(m, p) != NULL) {
			log_always(CONFIG_LOG_ERROR, "consumer %d stopped on a "
			    "configuration error; it keeps its previous "
			    "configuration%s", p->slot, m->roll_slot == p->slot - 1 ?
			    ", and the reload stops there" : "");
			(void)take_back(m, p);
			if (m->roll_slot == p->slot - 1)
				roll_stop(m);
			return;
		}
		p->state = PROC_FAILED;
		collect(m);
		log_always(CONFIG_LOG_ERROR, "consumer %d stopped on a "
		    "configuration error; not restarting it", p->slot);
		if (m->roll_slot == p->slot - 1)
			roll_stop(m);
		check_none_can_run(m);
		return;
	}
	delay = schedule_restart(m, p, now);
	log_info("restarting consumer %d in %.2fs%s", p->slot, delay,
	    p->cfg != m->cfg ? " on its previous configuration" : "");
}

static void
on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proc *p = w->data;
	struct master *m = p->owner;

	(void)loop;
	(void)revents;
	if (!m->draining && p->state == PROC_BACKOFF) {
		p->restarts++;
		m->mm.restarts++;
		spawn(m, p, p->cfg != NULL ? p->cfg : m->cfg);
	}
}

/* In a new consumer: the master's signal watchers are not its own. */
static void
child_atfork(void *arg)
{
	struct master *m = arg;

	ev_signal_stop(m->loop, &m->sigterm);
	ev_signal_stop(m->loop, &m->sigint);
	ev_signal_stop(m->loop, &m->sighup);
	ev_signal_stop(m->loop, &m->sigusr1);
}

/* In a new consumer: run the configuration of its slot. */
static void
child_run(void *arg, int slot, int fd)
{
	struct master *m = arg;

	(void)slot;
	consumer_main(m->spawning->cfg, m->spawning->slot, fd);
}

/* Start a consumer in slot p running cfg (the current or p's own). */
static void
spawn(struct master *m, struct proc *p, const struct config *cfg)
{
	uint64_t now = util_mono_ms();
	double delay;

	ev_timer_stop(m->loop, &p->restart);
	p->cfg = cfg;
	p->replace = p->retire = p->revert = 0;
	p->first_ready_ms = 0;
	/* Also on a failed fork: a roll's timeout counts from here. */
	p->started_ms = p->last_msg_ms = now;
	memset(&p->status, 0, sizeof(p->status));
	settle_counters(p, p);
	p->hang_killed = 0;
	m->spawning = p;	/* what child_run runs, in the child */
	if (proc_spawn(p, child_atfork, child_run, m, log_fd()) == -1) {
		delay = backoff_next(&p->backoff, backoff_random()) / 1000.0;
		log_error("fork consumer %d: %s; retrying in %.2fs",
		    p->slot, strerror(errno), delay);
		p->state = PROC_BACKOFF;
		ev_timer_set(&p->restart, delay, 0.);
		ev_timer_start(m->loop, &p->restart);
		collect(m);
		return;
	}
	p->state = PROC_STARTING;
	ev_io_init(&p->io, on_channel, p->fd, EV_READ);
	p->io.data = p;
	ev_io_start(m->loop, &p->io);
	ev_child_init(&p->child, on_child, p->pid, 0);
	p->child.data = p;
	ev_child_start(m->loop, &p->child);
	log_info("consumer %d started (pid %ld)%s", p->slot,
	    (long)p->pid, cfg != m->cfg ? " on its previous configuration" :
	    "");
	collect(m);
}

/*
 * Rolling reload: replace one consumer of an older generation at a time,
 * starting the replacement first, as nginx starts new workers before it
 * stops the old ones: the consumer being replaced moves to its slot's
 * outgoing entry and serves on until the replacement reports ready
 * (replaced()), so a reload never stops consumption, not even with one
 * consumer; then the next slot goes.  A replacement that is not ready
 * within hang_timeout of its start, or that stops on a configuration
 * error, stops the roll (on_tick, on_child), and the outgoing consumer
 * takes its slot back (take_back()), so a configuration that cannot work
 * (a wrong Redis host, say) costs no consumer; the others run on, and
 * restart, with the configuration they had.  A slot whose outgoing entry
 * is still taken (a second reload before the first one's replacement
 * was ready) has its replacement replaced the old way, stopped first:
 * the outgoing consumer serves meanwhile.  A slot of an older generation
 * waiting to be restarted is started with the new one, as its turn.
 */
static void
roll_next(struct master *m)
{
	struct proc *p, *o;
	int i;

	if (m->roll_slot != -1 || m->draining)
		return;
	for (i = 0; i < m->cfg->consumers; i++) {
		p = &m->procs[i];
		o = outgoing(m, p);
		/*
		 * Replaced already, unless its replacement is not ready yet
		 * and an outgoing process still stands in for it (a reload
		 * started it, or it restarted): the roll waits for it.
		 */
		if (p->cfg == m->cfg && p->state != PROC_DRAINING &&
		    (p->state == PROC_READY || fallback(m, p) == NULL))
			continue;
		m->roll_slot = i;
		m->roll_since_ms = util_mono_ms();
		if (p->cfg == m->cfg || p->state == PROC_DRAINING)
			return;	/* to get ready, or stopping to be replaced */
		if (proc_alive(p) && o->state == PROC_DRAINING)
			return;	/* the outgoing one goes first (on_child) */
		if (proc_alive(p) && fallback(m, p) != NULL) {
			/* A replacement not ready: the outgoing one serves. */
			log_info("reload: replacing consumer %d "
			    "(pid %ld)", p->slot, (long)p->pid);
			p->replace = 1;
			ask_stop(p);
			return;
		}
		if (proc_alive(p)) {
			log_info("reload: replacing consumer %d (pid %ld), "
			    "which serves until its replacement is ready",
			    p->slot, (long)p->pid);
			proc_move(m->loop, o, p);
			spawn(m, p, m->cfg);
			return;
		}
		if (p->state == PROC_BACKOFF || p->state == PROC_FAILED) {
			log_info("reload: starting consumer %d on the new "
			    "configuration", p->slot);
			if (p->state == PROC_BACKOFF && o->state == PROC_EMPTY)
				hand_restart(m, p);
			spawn(m, p, m->cfg);
			return;
		}
		m->roll_slot = -1;	/* empty: the reload started it */
	}
	log_info("reload complete: %d consumers on the new "
	    "configuration", m->cfg->consumers);
	m->notified_ready = 0;	/* READY=1 again closes the RELOADING=1 */
	announce(m);
}

/*
 * Hand slot p's pending restart (BACKOFF, on an older configuration) to
 * its outgoing entry, so that the slot falls back to it while its
 * replacement starts: the restart keeps its time, its configuration and
 * its backoff.
 */
static void
hand_restart(struct master *m, struct proc *p)
{
	struct proc *o = outgoing(m, p);
	ev_tstamp left = ev_timer_remaining(m->loop, &p->restart);

	ev_timer_stop(m->loop, &p->restart);
	o->cfg = p->cfg;
	o->backoff = p->backoff;
	o->state = PROC_BACKOFF;
	ev_timer_set(&o->restart, left > 0 ? left : 0., 0.);
	ev_timer_start(m->loop, &o->restart);
	p->state = PROC_EMPTY;
}

/*
 * The roll stops (its slot's replacement timed out or cannot run): every
 * slot whose replacement on this configuration is not ready and that has
 * something to fall back to falls back, the roll's own and any started
 * outside it (a slot restarted by the reload); the others keep what they
 * run until the next reload.
 */
static void
roll_stop(struct master *m)
{
	struct proc *p;
	int i;

	m->roll_slot = -1;
	m->notified_ready = 0;
	for (i = 0; i < m->cfg->consumers; i++) {
		p = &m->procs[i];
		if (p->cfg != m->cfg || p->state == PROC_READY ||
		    p->state == PROC_DRAINING || fallback(m, p) == NULL)
			continue;
		/* Stopped first, taken back when it is gone. */
		if (proc_alive(p)) {
			p->revert = 1;
			ask_stop(p);
		} else
			(void)take_back(m, p);
	}
}

/* The configuration a slot's consumer runs (the current one if none). */
static const struct config *
slot_cfg(const struct master *m, const struct proc *p)
{
	return p->cfg != NULL ? p->cfg : m->cfg;
}

/*
 * The longest drain_timeout of the consumers alive: after a reload that
 * shortened it, one still on the previous configuration keeps its own.
 */
static int
drain_timeout(const struct master *m)
{
	int i, t = m->cfg->drain_timeout;

	for (i = 0; i < NPROCS; i++)
		if (proc_alive(&m->procs[i]) &&
		    slot_cfg(m, &m->procs[i])->drain_timeout > t)
			t = slot_cfg(m, &m->procs[i])->drain_timeout;
	return t;
}

static void
report_hang(struct master *m, const struct proc *p, uint64_t now)
{
	struct sentry_event ev;

	if (m->sentry == NULL)
		return;
	sentry_event_init(&ev, "error", "hang", p->slot);
	sentry_event_message(&ev, "consumer %d (pid %ld) sent no heartbeat "
	    "for %ds; killed", p->slot, (long)p->pid,
	    slot_cfg(m, p)->hang_timeout);
	sentry_event_fingerprint(&ev, "no heartbeat");
	sentry_event_extra(&ev, "uptime_seconds",
	    (now - p->started_ms) / 1000.0);
	sentry_capture(m->sentry, &ev);
}

/*
 * Redis unreachable: no consumer's fresh status has reached it for
 * sentry_redis_down_secs.  Reported once an outage; the outage ends when
 * one does.  Without a consumer alive nothing is known: the clock stands.
 */
static void
check_redis(struct master *m, uint64_t now)
{
	struct sentry_event ev;
	const struct proc *p;
	const char *why = NULL;
	char target[300];
	int i, alive = 0, ok = 0;

	for (i = 0; i < NPROCS; i++) {
		p = &m->procs[i];
		if (!proc_alive(p))
			continue;
		alive++;
		if (now - p->last_msg_ms > STATUS_FRESH_MS)
			continue;
		if (p->status.redis_ok)
			ok = 1;
		else if (why == NULL && p->status.reason[0] != '\0')
			why = p->status.reason;
	}
	if (m->draining || ok) {
		m->redis_down_ms = 0;
		m->redis_reported = 0;
		return;
	}
	if (alive == 0)
		return;
	if (m->redis_down_ms == 0)
		m->redis_down_ms = now;
	if (m->redis_reported || m->sentry == NULL || now - m->redis_down_ms <
	    m->cfg->sentry_redis_down_secs * 1000ULL)
		return;
	m->redis_reported = 1;
	if (m->cfg->nsentinels > 0)
		snprintf(target, sizeof(target), "sentinel master %s",
		    m->cfg->redis_sentinel_master);
	else
		snprintf(target, sizeof(target), "%s:%d", m->cfg->redis_host,
		    m->cfg->redis_port);
	sentry_event_init(&ev, "error", "redis", 0);
	sentry_event_message(&ev, "redis (%s) unreachable for %ds by every "
	    "consumer%s%s", target, m->cfg->sentry_redis_down_secs,
	    why != NULL ? ": " : "", why != NULL ? why : "");
	sentry_event_fingerprint(&ev, "unreachable");
	sentry_event_tag(&ev, "redis", target);
	sentry_event_extra(&ev, "down_seconds",
	    (now - m->redis_down_ms) / 1000.0);
	sentry_capture(m->sentry, &ev);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct master *m = w->data;
	uint64_t now = util_mono_ms(), hang = m->cfg->hang_timeout * 1000ULL;
	struct proc *p;
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < NPROCS; i++) {
		p = &m->procs[i];
		/* Each by the hang_timeout of the configuration it runs. */
		if (!proc_alive(p) || now - p->last_msg_ms <=
		    slot_cfg(m, p)->hang_timeout * 1000ULL)
			continue;
		log_error("consumer %d (pid %ld) sent no heartbeat "
		    "for %ds; killing it", p->slot, (long)p->pid,
		    slot_cfg(m, p)->hang_timeout);
		(void)kill(p->pid, SIGKILL);
		p->hang_killed = 1;
		/* Once: its exit, not another kill, comes next. */
		p->last_msg_ms = now;
		report_hang(m, p, now);
	}
	check_storm_over(m, now);
	check_redis(m, now);
	/*
	 * The replacement's time counts from its start, not from the
	 * stop of the consumer it replaces: that drain is bounded by the
	 * consumer's own drain_timeout.  The slots not replaced keep the
	 * configuration they run (their slot says which), and the roll
	 * does not resume by itself: the next reload starts a new one.
	 */
	p = m->roll_slot != -1 ? &m->procs[m->roll_slot] : NULL;
	if (p != NULL && p->cfg == m->cfg && p->state != PROC_DRAINING &&
	    now - m->roll_since_ms > hang) {
		if (fallback(m, p) == NULL)
			log_always(CONFIG_LOG_ERROR, "reload: consumer %d did "
			    "not become ready within %ds; the remaining "
			    "consumers keep the previous configuration", p->slot,
			    m->cfg->hang_timeout);
		else
			log_always(CONFIG_LOG_ERROR, "reload: consumer %d did "
			    "not become ready within %ds; it and the remaining "
			    "consumers keep the previous configuration", p->slot,
			    m->cfg->hang_timeout);
		roll_stop(m);
	}
	announce(m);
}

static void
on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct master *m = w->data;
	int i;

	(void)loop;
	(void)revents;
	log_warn("drain deadline of %ds passed; killing %d "
	    "consumers", drain_timeout(m), alive_count(m));
	for (i = 0; i < NPROCS; i++)
		if (proc_alive(&m->procs[i]))
			(void)kill(m->procs[i].pid, SIGKILL);
}

static void
kill_now(struct master *m)
{
	struct proc *p;
	int i, status;

	for (i = 0; i < NPROCS; i++) {
		p = &m->procs[i];
		if (!proc_alive(p))
			continue;
		(void)kill(p->pid, SIGKILL);
		/* Exiting: blocking on a SIGKILLed child is brief. */
		while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
			;
		ev_child_stop(m->loop, &p->child);
		close_channel(m, p);
		p->pid = 0;
		p->state = PROC_EMPTY;
	}
	ev_break(m->loop, EVBREAK_ALL);
}

static void
start_drain(struct master *m, const char *why)
{
	struct proc *p;
	int i;

	if (m->draining) {
		log_warn("%s again: stopping now", why);
		kill_now(m);
		return;
	}
	m->draining = 1;
	m->roll_slot = -1;
	(void)notify_send("STOPPING=1\nSTATUS=draining");
	log_info("%s: draining %d consumers (deadline %ds)", why,
	    alive_count(m), drain_timeout(m));
	for (i = 0; i < NPROCS; i++) {
		p = &m->procs[i];
		ev_timer_stop(m->loop, &p->restart);
		if (proc_alive(p))
			ask_stop(p);
		else
			p->state = PROC_EMPTY;
	}
	/*
	 * The consumers keep their own deadline of drain_timeout; ours comes
	 * a little later, so theirs (settling what they can) comes first;
	 * the longest of theirs, since an old configuration's may be longer.
	 */
	ev_timer_set(&m->drain_deadline, drain_timeout(m) + DRAIN_GRACE, 0.);
	ev_timer_start(m->loop, &m->drain_deadline);
	finish_if_drained(m);
}

/*
 * A reload's configuration, its TLS files read and its AWS credential
 * chain decided as at the start (the source's description in desc).
 */
static int
load_config(struct config *next, const char *path, char *err, size_t len,
    char *desc, size_t desclen)
{
	struct creds_plan *plan;

	if (config_load(next, path, NULL, err, len) == -1)
		return -1;
	if (rconn_tls_check(next, err, len) == -1 ||
	    creds_plan(next, &plan, err, len) == -1) {
		config_free(next);
		return -1;
	}
	creds_plan_describe(plan, desc, desclen);
	creds_plan_free(plan);
	return 0;
}

/*
 * Listen where cfg says, unless health already does.  A new address on
 * the same port cannot be bound while the old listener holds the port, so
 * that case closes the old one first and, if the new one fails, takes
 * the old one back: the endpoint is never left without a listener.
 */
static int
health_listen(struct master *m, const struct config *cfg)
{
	struct health *h;
	char err[256], err2[256], *addr;

	if (m->health != NULL && m->health_port == cfg->port &&
	    strcmp(m->health_addr, cfg->listen_address) == 0)
		return 0;
	if ((addr = strdup(cfg->listen_address)) == NULL) {
		log_always(CONFIG_LOG_ERROR, "out of memory");
		return -1;
	}
	h = health_start(m->loop, cfg->listen_address, cfg->port,
	    health_status, m, err, sizeof(err));
	if (h == NULL && m->health != NULL && m->health_port == cfg->port) {
		health_stop(m->health);
		m->health = NULL;
		h = health_start(m->loop, cfg->listen_address, cfg->port,
		    health_status, m, err, sizeof(err));
		if (h == NULL) {
			m->health = health_start(m->loop, m->health_addr,
			    m->health_port, health_status, m, err2,
			    sizeof(err2));
			if (m->health == NULL)
				log_always(CONFIG_LOG_ERROR, "%s", err2);
			else
				health_set_pages(m->health, pages);
		}
	}
	if (h == NULL) {
		log_always(CONFIG_LOG_ERROR, "%s%s", err, m->health != NULL ?
		    "; the health endpoint stays where it was" : "");
		free(addr);
		return -1;
	}
	if (m->health != NULL)
		health_stop(m->health);
	free(m->health_addr);
	health_set_pages(h, pages);
	m->health = h;
	m->health_addr = addr;
	m->health_port = cfg->port;
	return 0;
}

/* Stop p's process for good (a reload's smaller count). */
static void
retire(struct master *m, struct proc *p)
{
	ev_timer_stop(m->loop, &p->restart);
	if (proc_alive(p)) {
		p->retire = 1;
		p->replace = p->revert = 0;
		if (p->state != PROC_DRAINING)
			ask_stop(p);
	} else
		p->state = PROC_EMPTY;
}

static void
reload(struct master *m)
{
	struct config next;
	struct proc *p;
	struct gen *g;
	char err[1024], desc[1024];
	int i, old_n;

	if (m->draining) {
		log_always(CONFIG_LOG_WARN, "SIGHUP while draining: ignored");
		return;
	}
	(void)notify_send("RELOADING=1\nSTATUS=reloading");
	if (load_config(&next, m->config_path, err, sizeof(err), desc,
	    sizeof(desc)) == -1) {
		log_always(CONFIG_LOG_ERROR, "reload: %s; keeping the current "
		    "configuration", err);
		m->mm.reload_failures++;
		/* The old configuration runs on: the reload is over. */
		m->notified_ready = 0;
		m->status_sent[0] = '\0';
		announce(m);
		return;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		log_always(CONFIG_LOG_ERROR, "reload: out of memory; keeping "
		    "the current configuration");
		m->mm.reload_failures++;
		config_free(&next);
		m->notified_ready = 0;
		m->status_sent[0] = '\0';
		announce(m);
		return;
	}
	g->cfg = next;
	m->mm.reloads++;
	log_info("reload: configuration read; replacing consumers "
	    "one at a time");
	log_info("aws: credentials: %s", desc);
	log_set_level(next.log_level);
	log_set_format(next.log_format);
	/* Compared with where logs go now, so a failed path is retried. */
	if (next.log_file == NULL ? log_path() != NULL :
	    log_path() == NULL || strcmp(next.log_file, log_path()) != 0)
		if (log_open(next.log_file) == -1)
			log_always(CONFIG_LOG_ERROR, "reload: log_file: cannot "
			    "open %s: %s; logging stays where it was",
			    next.log_file, strerror(errno));
	/* A new address that cannot be bound leaves the old one serving. */
	(void)health_listen(m, &g->cfg);

	/* The old one lives on while a slot runs it (collect frees it). */
	old_n = m->cfg->consumers;
	LIST_INSERT_HEAD(&m->old, m->cur, entry);
	g->id = ++m->generation;
	m->cur = g;
	m->cfg = &g->cfg;
	for (i = 0; i < NPROCS; i++)
		backoff_init(&m->procs[i].backoff,
		    m->cfg->restart_backoff_min_ms,
		    m->cfg->restart_backoff_max_ms);
	for (i = 0; i < NSLOTS; i++) {
		p = &m->procs[i];
		/*
		 * A slot already draining (from an earlier reload) gets the
		 * fate this configuration gives it: retired beyond the new
		 * count, replaced within it.
		 */
		if (i >= m->cfg->consumers) {
			retire(m, p);
			retire(m, outgoing(m, p));
		} else if (p->state == PROC_EMPTY || p->state == PROC_FAILED ||
		    p->state == PROC_BACKOFF) {
			/* A pending restart stays as the slot's fallback. */
			if (p->state == PROC_BACKOFF && p->cfg != NULL &&
			    p->cfg != m->cfg &&
			    outgoing(m, p)->state == PROC_EMPTY)
				hand_restart(m, p);
			spawn(m, p, m->cfg);
		}
		else if (p->state == PROC_DRAINING &&
		    (p->retire || p->revert)) {
			p->retire = p->revert = 0;
			p->replace = 1;
		}
	}
	if (m->cfg->consumers != old_n)
		log_info("reload: consumers %d -> %d", old_n,
		    m->cfg->consumers);
	if (sentry_start(m->loop, m->cfg, m->sentry, &m->sentry, err,
	    sizeof(err)) == -1)
		log_always(CONFIG_LOG_ERROR, "reload: %s; nothing is reported "
		    "to Sentry", err);
	m->roll_slot = -1;
	collect(m);
	roll_next(m);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct master *m = w->data;
	int i;

	(void)loop;
	(void)revents;
	switch (w->signum) {
	case SIGTERM:
		start_drain(m, "SIGTERM");
		break;
	case SIGINT:
		start_drain(m, "SIGINT");
		break;
	case SIGHUP:
		reload(m);
		break;
	case SIGUSR1:
		if (log_path() == NULL)
			log_info("SIGUSR1: logging to stderr, nothing to "
			    "reopen");
		else if (log_reopen() == -1)
			log_always(CONFIG_LOG_ERROR, "SIGUSR1: reopen %s: %s",
			    log_path(), strerror(errno));
		else
			log_info("SIGUSR1: reopened %s", log_path());
		for (i = 0; i < NPROCS; i++)
			if (proc_alive(&m->procs[i]))
				(void)kill(m->procs[i].pid, SIGUSR1);
		break;
	}
}

static void
signal_watch(struct master *m, ev_signal *w, int signum)
{
	ev_signal_init(w, on_signal, signum);
	w->data = m;
	ev_signal_start(m->loop, w);
}

int
master_run(struct config *cfg, const char *config_path)
{
	struct master m;
	struct proc *p;
	char err[256];
	int i;

	memset(&m, 0, sizeof(m));
	m.loop = EV_DEFAULT;
	LIST_INIT(&m.old);
	/* What cfg holds moves into generation 0; the caller frees cfg. */
	if ((m.cur = calloc(1, sizeof(*m.cur))) == NULL) {
		log_error("out of memory");
		config_free(cfg);
		return MASTER_EXIT_FAILURE;
	}
	m.cur->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	cfg = m.cfg = &m.cur->cfg;
	m.config_path = config_path;
	m.roll_slot = -1;
	m.exit_status = MASTER_EXIT_OK;
	m.mm.start_time_ms = util_now_ms();
	m.start_mono_ms = util_mono_ms();

	signal(SIGPIPE, SIG_IGN);
	signal_watch(&m, &m.sigterm, SIGTERM);
	signal_watch(&m, &m.sigint, SIGINT);
	signal_watch(&m, &m.sighup, SIGHUP);
	signal_watch(&m, &m.sigusr1, SIGUSR1);

	if (health_listen(&m, cfg) == -1) {
		gen_free_all(&m);
		return MASTER_EXIT_FAILURE;
	}
	/* Without Sentry the daemon runs on: the log has every report. */
	if (sentry_start(m.loop, cfg, NULL, &m.sentry, err, sizeof(err)) == -1)
		log_error("%s; nothing is reported to Sentry", err);
	for (i = 0; i < NPROCS; i++) {
		p = &m.procs[i];
		p->slot = i % NSLOTS + 1;
		p->fd = -1;
		p->owner = &m;
		backoff_init(&p->backoff, cfg->restart_backoff_min_ms,
		    cfg->restart_backoff_max_ms);
		ev_timer_init(&p->restart, on_restart, 0., 0.);
		p->restart.data = p;
	}
	ev_timer_init(&m.tick, on_tick, TICK_SECS, TICK_SECS);
	m.tick.data = &m;
	ev_timer_start(m.loop, &m.tick);
	ev_timer_init(&m.drain_deadline, on_drain_deadline, 0., 0.);
	m.drain_deadline.data = &m;
	if (notify_watchdog_usec() > 0) {
		/* Twice per interval, as sd_watchdog_enabled(3) advises. */
		ev_timer_init(&m.watchdog, on_watchdog, 0.,
		    notify_watchdog_usec() / 2e6);
		m.watchdog.data = &m;
		ev_timer_again(m.loop, &m.watchdog);
		(void)notify_send("WATCHDOG=1");
	}

	if (cfg->nsentinels > 0)
		log_info("starting %d consumers%s (redis: master '%s' of "
		    "sentinels %s, db %d, prefix '%s')", cfg->consumers,
		    cfg->consumers_auto ? " (auto)" : "",
		    cfg->redis_sentinel_master, cfg->redis_sentinels,
		    cfg->redis_db, cfg->environment_prefix);
	else
		log_info("starting %d consumers%s (redis %s:%d db %d, "
		    "prefix '%s')", cfg->consumers, cfg->consumers_auto ?
		    " (auto)" : "", cfg->redis_host, cfg->redis_port,
		    cfg->redis_db, cfg->environment_prefix);
	for (i = 0; i < cfg->consumers; i++)
		spawn(&m, &m.procs[i], m.cfg);

	ev_run(m.loop, 0);

	kill_now(&m);	/* nothing alive is left behind, whatever ended the loop */
	sentry_free(m.sentry);
	if (m.health != NULL)
		health_stop(m.health);
	free(m.health_addr);
	gen_free_all(&m);
	return m.exit_status;
}
