/*
 * consumer: the worker process.  Owns its libev loop, its Redis connection
 * (hiredis async, libev adapter) and its side of the status channel.
 *
 * Redis connection life cycle: connect (with a timeout) -> AUTH (when a
 * password is set) -> SELECT -> PING; the PING's reply makes the
 * connection usable.  Afterwards a PING every second keeps it honest: a
 * reply that takes longer than REDIS_PING_TIMEOUT drops the connection,
 * which then comes back with exponential backoff.  Readiness is "Redis
 * usable and not stopping", reported to the master on every change.
 */
#include "autoconf.h"

#include <sys/types.h>
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
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "backoff.h"
#include "consumer.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

/*
 * Redis on loopback or a LAN answers in well under a millisecond; two
 * seconds without a reply means it is gone or stuck, and readiness must
 * say so within the three seconds operators expect.
 */
#define REDIS_CONNECT_TIMEOUT	2.0
#define REDIS_PING_INTERVAL	1.0
#define REDIS_PING_TIMEOUT	2000	/* ms */
#define REDIS_BACKOFF_MIN_MS	100
#define REDIS_BACKOFF_MAX_MS	2000

enum redis_state {
	REDIS_DOWN,		/* no connection; reconnect timer may run */
	REDIS_CONNECTING,	/* TCP connect or handshake in progress */
	REDIS_UP		/* handshake done */
};

struct consumer {
	struct ev_loop		*loop;
	const struct config	*cfg;
	int			 slot;
	int			 fd;
	int			 ready;		/* last readiness reported */
	int			 stopping;
	int			 exit_status;
	char			 reason[IPC_REASON_MAX];
	struct ipc_msg		 stats;		/* counters and timestamps */

	ev_io			 ipc_io;
	ev_timer		 heartbeat;
	ev_timer		 drain_deadline;
	ev_signal		 sigterm, sigint, sigusr1;

	redisAsyncContext	*redis;
	enum redis_state	 rstate;
	int			 handshake_failed;
	ev_timer		 redis_timer;	/* connect timeout / reconnect */
	ev_timer		 ping_timer;
	uint64_t		 ping_sent_ms;	/* 0: no PING outstanding */
	struct backoff		 rbackoff;
	char			 rlast[IPC_REASON_MAX]; /* last outage logged */
};

static void	redis_connect(struct consumer *);
static void	consumer_stop(struct consumer *, const char *why);

static void
send_status(struct consumer *c, enum ipc_type type)
{
	struct ipc_msg m = c->stats;

	m.type = type;
	m.pid = (uint32_t)getpid();
	m.ready = (uint8_t)c->ready;
	m.redis_ok = c->rstate == REDIS_UP;
	snprintf(m.reason, sizeof(m.reason), "%s", c->ready ? "" : c->reason);
	/* EAGAIN: the master is busy; the next heartbeat carries the news. */
	if (ipc_send(c->fd, &m) == -1 && errno != EAGAIN)
		log_debug("ipc: send %s: %s", ipc_type_name(type),
		    strerror(errno));
}

/* Recompute readiness; tell the master when it changed. */
static void
update_ready(struct consumer *c, const char *reason)
{
	int ready = !c->stopping && c->rstate == REDIS_UP;

	if (reason != NULL)
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
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
schedule_reconnect(struct consumer *c)
{
	double delay;

	if (c->stopping)
		return;
	delay = backoff_next(&c->rbackoff, backoff_random()) / 1000.0;
	ev_timer_stop(c->loop, &c->redis_timer);
	ev_timer_set(&c->redis_timer, delay, 0.);
	ev_timer_start(c->loop, &c->redis_timer);
	log_debug("redis: reconnecting in %.2fs", delay);
}

/*
 * Every way of losing Redis ends here.  An outage is logged when it starts
 * and when its reason changes, not at every reconnect attempt.
 */
static void
redis_mark_down(struct consumer *c, const char *reason)
{
	if (strcmp(reason, c->rlast) != 0) {
		log_warn("%s", reason);
		snprintf(c->rlast, sizeof(c->rlast), "%s", reason);
	}
	c->rstate = REDIS_DOWN;
	c->ping_sent_ms = 0;
	ev_timer_stop(c->loop, &c->ping_timer);
	update_ready(c, reason);
	schedule_reconnect(c);
}

/* Drop the connection from outside any hiredis callback (timers). */
static void
redis_drop(struct consumer *c, const char *reason)
{
	redisAsyncContext *ac = c->redis;

	c->redis = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);	/* its disconnect callback sees c->redis != ac */
	c->stats.errors++;
	redis_mark_down(c, reason);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct consumer *c = ac->data;
	char reason[IPC_REASON_MAX];

	if (c->redis != ac)
		return;		/* dropped by us already */
	c->redis = NULL;
	if (c->stopping)
		return;
	if (c->handshake_failed)
		snprintf(reason, sizeof(reason), "%s", c->reason);
	else
		snprintf(reason, sizeof(reason),
		    "redis: connection to %s:%d lost%s%s", c->cfg->redis_host,
		    c->cfg->redis_port, status == REDIS_OK ? "" : ": ",
		    status == REDIS_OK ? "" :
		    (ac->errstr[0] ? ac->errstr : "error"));
	c->stats.errors++;
	redis_mark_down(c, reason);
}

static int
reply_failed(struct consumer *c, redisAsyncContext *ac, redisReply *r,
    const char *what)
{
	if (r == NULL)
		return 1;	/* the context is going away */
	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	if (!c->handshake_failed) {
		/* Redis' error text never contains the password. */
		snprintf(c->reason, sizeof(c->reason), "redis: %s: %.*s", what,
		    (int)(r->len < 80 ? r->len : 80), r->str);
	}
	c->handshake_failed = 1;
	redisAsyncDisconnect(ac);
	return 1;
}

static void
on_auth(redisAsyncContext *ac, void *reply, void *arg)
{
	(void)arg;
	reply_failed(ac->data, ac, reply, "AUTH");
}

static void
on_select(redisAsyncContext *ac, void *reply, void *arg)
{
	(void)arg;
	reply_failed(ac->data, ac, reply, "SELECT");
}

static void
on_ping(redisAsyncContext *ac, void *reply, void *arg)
{
	struct consumer *c = ac->data;

	(void)arg;
	if (c->redis != ac || reply_failed(c, ac, reply, "PING"))
		return;
	c->ping_sent_ms = 0;
	c->stats.last_redis_ok_ms = util_now_ms();
	if (c->rstate != REDIS_UP) {
		ev_timer_stop(c->loop, &c->redis_timer);
		c->rstate = REDIS_UP;
		c->rlast[0] = '\0';
		backoff_reset(&c->rbackoff);
		log_info("redis: connected to %s:%d db %d", c->cfg->redis_host,
		    c->cfg->redis_port, c->cfg->redis_db);
		ev_timer_again(c->loop, &c->ping_timer);
		update_ready(c, NULL);
	}
}

static void
send_ping(struct consumer *c)
{
	if (redisAsyncCommand(c->redis, on_ping, NULL, "PING") == REDIS_OK)
		c->ping_sent_ms = util_mono_ms();
}

static void
on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct consumer *c = ac->data;
	const struct config *cfg = c->cfg;
	char reason[IPC_REASON_MAX];

	if (c->redis != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		c->redis = NULL;
		snprintf(reason, sizeof(reason), "redis: connect to %s:%d: %s",
		    cfg->redis_host, cfg->redis_port, ac->errstr);
		c->stats.errors++;
		redis_mark_down(c, reason);
		return;
	}
	/* Pipelined handshake: replies arrive in order, PING's last. */
	c->handshake_failed = 0;
	if (cfg->redis_password != NULL) {
		if (cfg->redis_user != NULL)
			redisAsyncCommand(ac, on_auth, NULL, "AUTH %s %s",
			    cfg->redis_user, cfg->redis_password);
		else
			redisAsyncCommand(ac, on_auth, NULL, "AUTH %s",
			    cfg->redis_password);
	}
	if (cfg->redis_db != 0)
		redisAsyncCommand(ac, on_select, NULL, "SELECT %d",
		    cfg->redis_db);
	send_ping(c);
}

static void
redis_connect(struct consumer *c)
{
	redisAsyncContext *ac;
	char reason[IPC_REASON_MAX];

	c->rstate = REDIS_CONNECTING;
	ac = redisAsyncConnect(c->cfg->redis_host, c->cfg->redis_port);
	if (ac == NULL || ac->err) {
		snprintf(reason, sizeof(reason), "redis: connect to %s:%d: %s",
		    c->cfg->redis_host, c->cfg->redis_port,
		    ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		c->stats.errors++;
		redis_mark_down(c, reason);
		return;
	}
	ac->data = c;
	c->redis = ac;
	redisLibevAttach(c->loop, ac);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	/* The same timer bounds the connect and the handshake. */
	ev_timer_stop(c->loop, &c->redis_timer);
	ev_timer_set(&c->redis_timer, REDIS_CONNECT_TIMEOUT, 0.);
	ev_timer_start(c->loop, &c->redis_timer);
}

static void
on_redis_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;
	char reason[IPC_REASON_MAX];

	(void)loop;
	(void)revents;
	if (c->rstate == REDIS_CONNECTING) {
		snprintf(reason, sizeof(reason),
		    "redis: connect to %s:%d: timed out after %.0fs",
		    c->cfg->redis_host, c->cfg->redis_port,
		    REDIS_CONNECT_TIMEOUT);
		redis_drop(c, reason);
	} else if (c->rstate == REDIS_DOWN && !c->stopping)
		redis_connect(c);
}

static void
on_ping_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;
	char reason[IPC_REASON_MAX];

	(void)loop;
	(void)revents;
	if (c->rstate != REDIS_UP || c->redis == NULL)
		return;
	if (c->ping_sent_ms != 0) {
		if (util_mono_ms() - c->ping_sent_ms < REDIS_PING_TIMEOUT)
			return;
		snprintf(reason, sizeof(reason),
		    "redis: PING: no reply within %dms", REDIS_PING_TIMEOUT);
		redis_drop(c, reason);
		return;
	}
	send_ping(c);
}

static void
on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	send_status(w->data, IPC_HEARTBEAT);
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
on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct consumer *c = w->data;

	(void)revents;
	log_warn("drain deadline passed; exiting");
	c->exit_status = CONSUMER_EXIT_FAILURE;
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Stop: no new work, finish what is in hand, exit.  Nothing is held in
 * hand between loop iterations yet, so the loop can end at once; the
 * deadline still guards any future in-flight work.
 */
static void
consumer_stop(struct consumer *c, const char *why)
{
	if (c->stopping)
		return;
	log_info("stopping: %s", why);
	c->stopping = 1;
	update_ready(c, "stopping");
	ev_timer_stop(c->loop, &c->redis_timer);
	ev_timer_stop(c->loop, &c->ping_timer);
	ev_timer_stop(c->loop, &c->heartbeat);
	ev_timer_set(&c->drain_deadline, c->cfg->drain_timeout, 0.);
	ev_timer_start(c->loop, &c->drain_deadline);
	if (c->redis != NULL) {
		redisAsyncContext *ac = c->redis;

		c->redis = NULL;
		redisAsyncFree(ac);
	}
	ev_break(c->loop, EVBREAK_ALL);
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

void
consumer_main(const struct config *cfg, int slot, int fd)
{
	struct consumer c;
	char name[32];

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.slot = slot;
	c.fd = fd;
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
	backoff_init(&c.rbackoff, REDIS_BACKOFF_MIN_MS, REDIS_BACKOFF_MAX_MS);
	if (util_set_nonblock(fd) == -1) {
		log_error("ipc: fcntl: %s", strerror(errno));
		_exit(CONSUMER_EXIT_FAILURE);
	}

	ev_io_init(&c.ipc_io, on_ipc, fd, EV_READ);
	c.ipc_io.data = &c;
	ev_io_start(c.loop, &c.ipc_io);
	ev_timer_init(&c.heartbeat, on_heartbeat, CONSUMER_HEARTBEAT_SECS,
	    CONSUMER_HEARTBEAT_SECS);
	c.heartbeat.data = &c;
	ev_timer_start(c.loop, &c.heartbeat);
	ev_timer_init(&c.redis_timer, on_redis_timer, 0., 0.);
	c.redis_timer.data = &c;
	ev_timer_init(&c.ping_timer, on_ping_timer, 0., REDIS_PING_INTERVAL);
	c.ping_timer.data = &c;
	ev_timer_init(&c.drain_deadline, on_drain_deadline, 0., 0.);
	c.drain_deadline.data = &c;
	ev_signal_init(&c.sigterm, on_signal, SIGTERM);
	ev_signal_init(&c.sigint, on_signal, SIGINT);
	ev_signal_init(&c.sigusr1, on_signal, SIGUSR1);
	c.sigterm.data = c.sigint.data = c.sigusr1.data = &c;
	ev_signal_start(c.loop, &c.sigterm);
	ev_signal_start(c.loop, &c.sigint);
	ev_signal_start(c.loop, &c.sigusr1);
	/* SIGHUP belongs to the master; a group-wide one must not kill us. */
	signal(SIGHUP, SIG_IGN);

	send_status(&c, IPC_HELLO);
	log_debug("started (pid %ld)", (long)getpid());
	redis_connect(&c);

	ev_run(c.loop, 0);

	log_debug("exiting with status %d", c.exit_status);
	_exit(c.exit_status);
}
