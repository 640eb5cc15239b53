/*
 * cache: the consumer's Redis connection and the writes of events.
 *
 * Connection life cycle: connect (with a timeout) -> AUTH (when a password
 * is set) -> SELECT -> SCRIPT LOAD -> PING, pipelined; the PING's reply
 * makes the connection usable.  Afterwards a PING every second keeps it
 * honest: no reply within CACHE_PING_TIMEOUT drops the connection, which
 * comes back with exponential backoff.  Every change of usability is
 * reported through the state callback.
 *
 * Writes: an event's keys are written by one EVALSHA of cache_script,
 * which checks each key's #timestamp sibling and writes the key and its
 * sibling only where the stored version is absent or not newer, all in
 * one atomic step.  A NOSCRIPT answer (Redis restarted, SCRIPT FLUSH)
 * sends the same call once more as EVAL, which also caches the script.
 * Purges delete the exact keys, then SCAN (with the id's glob characters
 * escaped) and UNLINK what matches, a chunk per round trip, so Redis is
 * never blocked by one big command.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>
#include <openssl/sha.h>

#include "backoff.h"
#include "cache.h"
#include "log.h"
#include "util.h"

/*
 * Redis on loopback or a LAN answers in well under a millisecond; two
 * seconds without a reply means it is gone or stuck, and readiness must
 * say so within the three seconds operators expect.
 */
#define CACHE_CONNECT_TIMEOUT	2.0
#define CACHE_PING_INTERVAL	1.0
#define CACHE_PING_TIMEOUT	2000	/* ms */
#define CACHE_BACKOFF_MIN_MS	100
#define CACHE_BACKOFF_MAX_MS	2000
/* Keys per SCAN step and per UNLINK: small enough never to block Redis. */
#define CACHE_SCAN_COUNT	"500"

const char cache_script[] =
    "-- persistent-cache-service: version-checked write of one event.\n"
    "-- KEYS[1]: the entity (customer or resource) key; with ARGV[3] '1'\n"
    "--   nothing is written unless the entity is cached.\n"
    "-- KEYS[2..n]: keys to write with ARGV[i + 2], each only where its\n"
    "--   #timestamp is absent or not newer than ARGV[1] (epoch ms).\n"
    "-- ARGV[2]: TTL in seconds, '0' for none.  Returns the keys written,\n"
    "--   or -1 when the entity is not cached.\n"
    "if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1],\n"
    "    KEYS[1] .. '#timestamp') == 0 then\n"
    "  return -1\n"
    "end\n"
    "local ts = tonumber(ARGV[1])\n"
    "local n = 0\n"
    "for i = 2, #KEYS do\n"
    "  local tk = KEYS[i] .. '#timestamp'\n"
    "  local cur = tonumber(redis.call('GET', tk) or '')\n"
    "  if cur == nil or cur <= ts then\n"
    "    if ARGV[2] == '0' then\n"
    "      redis.call('SET', KEYS[i], ARGV[i + 2])\n"
    "      redis.call('SET', tk, ARGV[1])\n"
    "    else\n"
    "      redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ARGV[2])\n"
    "      redis.call('SET', tk, ARGV[1], 'EX', ARGV[2])\n"
    "    end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

enum conn_state {
	CONN_DOWN,		/* no connection; the reconnect timer may run */
	CONN_CONNECTING,	/* TCP connect or handshake in progress */
	CONN_UP			/* handshake done */
};

struct cache {
	struct ev_loop		*loop;
	const struct config	*cfg;
	cache_state_fn		 state_fn;
	void			*state_arg;

	redisAsyncContext	*ac;
	enum conn_state		 state;
	int			 handshake_failed;
	int			 closing;
	char			 reason[160];	/* why not up */
	char			 logged[160];	/* last outage logged */
	ev_timer		 timer;		/* connect timeout / reconnect */
	ev_timer		 ping_timer;
	uint64_t		 ping_sent_ms;	/* 0: no PING outstanding */
	struct backoff		 backoff;
	uint64_t		 last_ok_ms;
	uint64_t		 errors;
	size_t			 pending;

	char			 sha[41];	/* of cache_script */
	char			 ttl[24];	/* ARGV[2] */
	char			*scan_all;	/* "P:c_*", escaped */
	ev_prepare		 deliver;	/* runs queued completions */
	struct op		*done_head, *done_tail;
};

enum op_kind {
	OP_SCRIPT,		/* EVALSHA (EVAL after NOSCRIPT) */
	OP_PURGE		/* UNLINK exact keys, then SCAN + UNLINK */
};

/* One cache_apply in flight. */
struct op {
	struct cache	*c;
	enum op_kind	 kind;
	cache_done_fn	 done;
	void		*arg;
	enum cache_result result;
	char		 detail[160];
	struct op	*next;		/* in the completion queue */

	/* OP_SCRIPT: the call's arguments, kept for the EVAL retry. */
	int		 argc;
	char		**argv;
	size_t		*argvlen;
	int		 retried;

	/* OP_PURGE */
	char		*match;		/* SCAN MATCH pattern */
	char		 cursor[32];
	int		 removed;
};

static void	conn_start(struct cache *);

/* --- pure helpers --- */

static char *
concat(const char *a, const char *b, const char *c, const char *d,
    const char *e)
{
	const char *parts[] = { a, b, c, d, e };
	size_t len = 1, i, n;
	char *s, *p;

	for (i = 0; i < 5; i++)
		if (parts[i] != NULL)
			len += strlen(parts[i]);
	if ((s = p = malloc(len)) == NULL)
		return NULL;
	for (i = 0; i < 5; i++)
		if (parts[i] != NULL) {
			n = strlen(parts[i]);
			memcpy(p, parts[i], n);
			p += n;
		}
	*p = '\0';
	return s;
}

char *
cache_key(const char *prefix, const char *customer, const char *resource)
{
	return concat(prefix, ":c_", customer, resource ? ":r_" : NULL,
	    resource);
}

char *
cache_glob_escape(const char *s)
{
	size_t n = 0;
	const char *p;
	char *out, *q;

	for (p = s; *p != '\0'; p++)
		n += strchr("*?[]\\", *p) != NULL ? 2 : 1;
	if ((out = q = malloc(n + 1)) == NULL)
		return NULL;
	for (p = s; *p != '\0'; p++) {
		if (strchr("*?[]\\", *p) != NULL)
			*q++ = '\\';
		*q++ = *p;
	}
	*q = '\0';
	return out;
}

/* --- completions --- */

static void
op_free(struct op *op)
{
	int i;

	for (i = 0; i < op->argc; i++)
		free(op->argv[i]);
	free(op->argv);
	free(op->argvlen);
	free(op->match);
	free(op);
}

/*
 * Finish op: its callback runs from an ev_prepare watcher, never from
 * inside cache_apply or a hiredis callback, so the caller may apply or
 * free freely from it.  Prepare watchers run before every poll, so a
 * completion is delivered in the same loop iteration even under a load
 * that would starve an ev_idle watcher.
 */
static void
op_finish(struct op *op, enum cache_result r, const char *detail)
{
	struct cache *c = op->c;

	op->result = r;
	snprintf(op->detail, sizeof(op->detail), "%s", detail ? detail : "");
	op->next = NULL;
	if (c->done_tail != NULL)
		c->done_tail->next = op;
	else
		c->done_head = op;
	c->done_tail = op;
	ev_prepare_start(c->loop, &c->deliver);
}

static void
on_deliver(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct cache *c = w->data;
	struct op *op;

	(void)revents;
	ev_prepare_stop(loop, w);
	while ((op = c->done_head) != NULL) {
		c->done_head = op->next;
		if (c->done_head == NULL)
			c->done_tail = NULL;
		c->pending--;
		op->done(op->arg, op->result, op->detail);
		op_free(op);
	}
}

/* --- connection --- */

static void
report(struct cache *c)
{
	c->state_fn(c->state_arg, c->state == CONN_UP, c->reason);
}

static void
schedule_reconnect(struct cache *c)
{
	double delay;

	if (c->closing)
		return;
	delay = backoff_next(&c->backoff, backoff_random()) / 1000.0;
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, delay, 0.);
	ev_timer_start(c->loop, &c->timer);
	log_debug("redis: reconnecting in %.2fs", delay);
}

/*
 * Every way of losing Redis ends here.  An outage is logged when it
 * starts and when its reason changes, not at every reconnect attempt.
 */
static void
mark_down(struct cache *c, const char *reason)
{
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	if (strcmp(reason, c->logged) != 0) {
		log_warn("%s", reason);
		snprintf(c->logged, sizeof(c->logged), "%s", reason);
	}
	c->state = CONN_DOWN;
	c->ping_sent_ms = 0;
	c->errors++;
	ev_timer_stop(c->loop, &c->ping_timer);
	report(c);	/* the reason too, even if it was never up */
	schedule_reconnect(c);
}

/* Drop the connection from outside any hiredis callback (timers). */
static void
conn_drop(struct cache *c, const char *reason)
{
	redisAsyncContext *ac = c->ac;

	c->ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);	/* its callbacks see c->ac != ac */
	mark_down(c, reason);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cache *c = ac->data;
	char reason[160];

	if (c->ac != ac)
		return;		/* dropped by us already */
	c->ac = NULL;
	if (c->closing)
		return;
	if (c->handshake_failed)
		snprintf(reason, sizeof(reason), "%s", c->reason);
	else
		snprintf(reason, sizeof(reason),
		    "redis: connection to %s:%d lost%s%s", c->cfg->redis_host,
		    c->cfg->redis_port, status == REDIS_OK ? "" : ": ",
		    status == REDIS_OK ? "" :
		    (ac->errstr[0] ? ac->errstr : "error"));
	mark_down(c, reason);
}

/* A handshake reply: an error ends the connection attempt. */
static int
handshake_failed(struct cache *c, redisAsyncContext *ac, redisReply *r,
    const char *what)
{
	if (r == NULL || c->ac != ac)
		return 1;	/* the context is going away */
	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	if (!c->handshake_failed)	/* Redis' errors never echo the password */
		snprintf(c->reason, sizeof(c->reason), "redis: %s: %.*s", what,
		    (int)(r->len < 100 ? r->len : 100), r->str);
	c->handshake_failed = 1;
	redisAsyncDisconnect(ac);
	return 1;
}

static void
on_auth(redisAsyncContext *ac, void *reply, void *arg)
{
	(void)arg;
	handshake_failed(ac->data, ac, reply, "AUTH");
}

static void
on_select(redisAsyncContext *ac, void *reply, void *arg)
{
	(void)arg;
	handshake_failed(ac->data, ac, reply, "SELECT");
}

static void
on_script_load(redisAsyncContext *ac, void *reply, void *arg)
{
	(void)arg;
	handshake_failed(ac->data, ac, reply, "SCRIPT LOAD");
}

static void
on_ping(redisAsyncContext *ac, void *reply, void *arg)
{
	struct cache *c = ac->data;

	(void)arg;
	if (handshake_failed(c, ac, reply, "PING"))
		return;
	c->ping_sent_ms = 0;
	c->last_ok_ms = util_now_ms();
	if (c->state != CONN_UP) {
		ev_timer_stop(c->loop, &c->timer);
		c->state = CONN_UP;
		c->logged[0] = '\0';
		c->reason[0] = '\0';
		backoff_reset(&c->backoff);
		log_info("redis: connected to %s:%d db %d", c->cfg->redis_host,
		    c->cfg->redis_port, c->cfg->redis_db);
		ev_timer_again(c->loop, &c->ping_timer);
		report(c);
	}
}

static void
send_ping(struct cache *c)
{
	if (redisAsyncCommand(c->ac, on_ping, NULL, "PING") == REDIS_OK)
		c->ping_sent_ms = util_mono_ms();
}

static void
on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct cache *c = ac->data;
	const struct config *cfg = c->cfg;
	char reason[160];

	if (c->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		c->ac = NULL;
		snprintf(reason, sizeof(reason), "redis: connect to %s:%d: %s",
		    cfg->redis_host, cfg->redis_port, ac->errstr);
		mark_down(c, reason);
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
	redisAsyncCommand(ac, on_script_load, NULL, "SCRIPT LOAD %s",
	    cache_script);
	send_ping(c);
}

static void
conn_start(struct cache *c)
{
	redisAsyncContext *ac;
	char reason[160];

	c->state = CONN_CONNECTING;
	ac = redisAsyncConnect(c->cfg->redis_host, c->cfg->redis_port);
	if (ac == NULL || ac->err) {
		snprintf(reason, sizeof(reason), "redis: connect to %s:%d: %s",
		    c->cfg->redis_host, c->cfg->redis_port,
		    ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		mark_down(c, reason);
		return;
	}
	ac->data = c;
	c->ac = ac;
	redisLibevAttach(c->loop, ac);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	/* The same timer bounds the connect and the handshake. */
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, CACHE_CONNECT_TIMEOUT, 0.);
	ev_timer_start(c->loop, &c->timer);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cache *c = w->data;
	char reason[160];

	(void)loop;
	(void)revents;
	if (c->state == CONN_CONNECTING) {
		snprintf(reason, sizeof(reason),
		    "redis: connect to %s:%d: timed out after %.0fs",
		    c->cfg->redis_host, c->cfg->redis_port,
		    CACHE_CONNECT_TIMEOUT);
		conn_drop(c, reason);
	} else if (c->state == CONN_DOWN && !c->closing)
		conn_start(c);
}

static void
on_ping_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cache *c = w->data;
	char reason[160];

	(void)loop;
	(void)revents;
	if (c->state != CONN_UP || c->ac == NULL)
		return;
	if (c->ping_sent_ms != 0) {
		if (util_mono_ms() - c->ping_sent_ms < CACHE_PING_TIMEOUT)
			return;
		snprintf(reason, sizeof(reason),
		    "redis: PING: no reply within %dms", CACHE_PING_TIMEOUT);
		conn_drop(c, reason);
		return;
	}
	send_ping(c);
}

/* --- operations --- */

static enum cache_result
reply_error(struct cache *c, redisReply *r, char *detail, size_t len)
{
	if (r == NULL) {
		snprintf(detail, len, "redis: connection lost");
		return CACHE_FAILED;
	}
	snprintf(detail, len, "redis: %.*s", (int)(r->len < 120 ? r->len : 120),
	    r->str);
	c->errors++;
	return CACHE_FAILED;
}

static int	op_send_script(struct op *, int eval);

static void
on_script(redisAsyncContext *ac, void *reply, void *arg)
{
	struct op *op = arg;
	struct cache *c = op->c;
	redisReply *r = reply;
	char detail[160];

	(void)ac;
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0 && !op->retried) {
		op->retried = 1;
		if (op_send_script(op, 1) == 0)
			return;
		op_finish(op, CACHE_FAILED, "redis: not connected");
		return;
	}
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		if (r != NULL && r->type != REDIS_REPLY_ERROR)
			snprintf(detail, sizeof(detail),
			    "redis: unexpected reply type %d", r->type);
		else
			reply_error(c, r, detail, sizeof(detail));
		op_finish(op, CACHE_FAILED, detail);
		return;
	}
	c->last_ok_ms = util_now_ms();
	if (r->integer < 0)
		op_finish(op, CACHE_SKIPPED, "not cached");
	else if (r->integer == 0)
		op_finish(op, CACHE_SKIPPED, "newer data in Redis");
	else {
		snprintf(detail, sizeof(detail), "%lld keys written",
		    r->integer);
		op_finish(op, CACHE_APPLIED, detail);
	}
}

static int
op_send_script(struct op *op, int eval)
{
	struct cache *c = op->c;

	if (c->state != CONN_UP || c->ac == NULL)
		return -1;
	/* argv[0..1] are the command and the script or its SHA. */
	if (eval) {
		free(op->argv[0]);
		free(op->argv[1]);
		op->argv[0] = strdup("EVAL");
		op->argv[1] = strdup(cache_script);
		if (op->argv[0] == NULL || op->argv[1] == NULL)
			return -1;
		op->argvlen[0] = 4;
		op->argvlen[1] = strlen(cache_script);
	}
	if (redisAsyncCommandArgv(c->ac, on_script, op, op->argc,
	    (const char **)op->argv, op->argvlen) != REDIS_OK)
		return -1;
	return 0;
}

/* Append s (len bytes) to op's argument vector. */
static int
arg_add(struct op *op, const char *s, size_t len)
{
	char *copy;

	if ((copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	op->argv[op->argc] = copy;
	op->argvlen[op->argc++] = len;
	return 0;
}

static int
arg_str(struct op *op, const char *s)
{
	return arg_add(op, s, strlen(s));
}

/* Append the key base+suffix. */
static int
arg_key(struct op *op, const char *base, const char *suffix,
    const char *name)
{
	char *k = concat(base, suffix, name, NULL, NULL);
	int r;

	if (k == NULL)
		return -1;
	r = arg_str(op, k);
	free(k);
	return r;
}

/*
 * Build EVALSHA sha nkeys entity key... version ttl mode value...:
 * ENTITLEMENTS writes the entity key, its metadata key and one usage key
 * per metered feature; USAGE writes one usage key, and only for a cached
 * entity.
 */
static int
build_script(struct op *op, const struct event *ev, const char *base)
{
	struct cache *c = op->c;
	size_t nwrite, i;
	char num[32];
	int mode;

	if (ev->kind == EVENT_ENTITLEMENTS) {
		nwrite = 2 + ev->nusage;
		mode = c->cfg->cache_update_policy ==
		    CONFIG_POLICY_UPDATE_IF_EXISTS;
	} else {
		nwrite = 1;
		mode = 1;	/* usage only for cached customers */
	}
	op->argv = calloc(4 + 2 * (nwrite + 1) + 1, sizeof(*op->argv));
	op->argvlen = calloc(4 + 2 * (nwrite + 1) + 1, sizeof(*op->argvlen));
	if (op->argv == NULL || op->argvlen == NULL)
		return -1;
	snprintf(num, sizeof(num), "%zu", nwrite + 1);
	if (arg_str(op, "EVALSHA") || arg_str(op, c->sha) ||
	    arg_str(op, num) || arg_str(op, base))
		return -1;
	if (ev->kind == EVENT_ENTITLEMENTS) {
		if (arg_str(op, base) || arg_key(op, base, ":metadata", NULL))
			return -1;
		for (i = 0; i < ev->nusage; i++)
			if (arg_key(op, base, ":f_", ev->usage[i].feature_id))
				return -1;
	} else if (arg_key(op, base, ":f_", ev->feature_id))
		return -1;
	snprintf(num, sizeof(num), "%lld", (long long)ev->version_ms);
	if (arg_str(op, num) || arg_str(op, c->ttl) ||
	    arg_str(op, mode ? "1" : "0"))
		return -1;
	if (ev->kind == EVENT_ENTITLEMENTS) {
		if (arg_str(op, ev->entitlements_json) ||
		    arg_str(op, ev->metadata_json))
			return -1;
		for (i = 0; i < ev->nusage; i++)
			if (arg_str(op, ev->usage[i].json))
				return -1;
	} else if (arg_str(op, ev->usage_json))
		return -1;
	return 0;
}

static void	purge_scan(struct op *);

static void
on_purge_unlink(redisAsyncContext *ac, void *reply, void *arg)
{
	struct op *op = arg;
	redisReply *r = reply;
	char detail[160];

	(void)ac;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		reply_error(op->c, r, detail, sizeof(detail));
		op_finish(op, CACHE_FAILED, detail);
		return;
	}
	op->removed += (int)r->integer;
	if (strcmp(op->cursor, "done") == 0) {
		snprintf(detail, sizeof(detail), "%d keys removed",
		    op->removed);
		op->c->last_ok_ms = util_now_ms();
		op_finish(op, CACHE_APPLIED, detail);
		return;
	}
	purge_scan(op);
}

static void
on_purge_scan(redisAsyncContext *ac, void *reply, void *arg)
{
	struct op *op = arg;
	redisReply *r = reply, *keys;
	const char **argv;
	size_t *argvlen, i;
	char detail[160];

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		if (r != NULL && r->type != REDIS_REPLY_ERROR)
			snprintf(detail, sizeof(detail),
			    "redis: SCAN: unexpected reply");
		else
			reply_error(op->c, r, detail, sizeof(detail));
		op_finish(op, CACHE_FAILED, detail);
		return;
	}
	snprintf(op->cursor, sizeof(op->cursor), "%s",
	    strcmp(r->element[0]->str, "0") == 0 ? "done" : r->element[0]->str);
	keys = r->element[1];
	if (keys->elements == 0) {
		if (strcmp(op->cursor, "done") == 0) {
			snprintf(detail, sizeof(detail), "%d keys removed",
			    op->removed);
			op->c->last_ok_ms = util_now_ms();
			op_finish(op, CACHE_APPLIED, detail);
		} else
			purge_scan(op);
		return;
	}
	argv = calloc(keys->elements + 1, sizeof(*argv));
	argvlen = calloc(keys->elements + 1, sizeof(*argvlen));
	if (argv == NULL || argvlen == NULL) {
		free(argv);
		free(argvlen);
		op_finish(op, CACHE_FAILED, "out of memory");
		return;
	}
	argv[0] = "UNLINK";
	argvlen[0] = 6;
	for (i = 0; i < keys->elements; i++) {
		argv[i + 1] = keys->element[i]->str;
		argvlen[i + 1] = keys->element[i]->len;
	}
	if (redisAsyncCommandArgv(ac, on_purge_unlink, op,
	    (int)keys->elements + 1, argv, argvlen) != REDIS_OK)
		op_finish(op, CACHE_FAILED, "redis: not connected");
	free(argv);
	free(argvlen);
}

static void
purge_scan(struct op *op)
{
	struct cache *c = op->c;

	if (c->state != CONN_UP || c->ac == NULL ||
	    redisAsyncCommand(c->ac, on_purge_scan, op,
	    "SCAN %s MATCH %s COUNT " CACHE_SCAN_COUNT, op->cursor,
	    op->match) != REDIS_OK)
		op_finish(op, CACHE_FAILED, "redis: not connected");
}

/*
 * Purge an entity: its key, metadata key and their timestamps exactly,
 * then everything below "<key>:" (usage keys and, for a customer, its
 * resources) by SCAN.  INVALIDATE_ALL is the SCAN alone, over every
 * customer of the environment.
 */
static int
start_purge(struct op *op, const struct event *ev, const char *base)
{
	struct cache *c = op->c;
	char *exact[4], *esc;
	size_t len[4];
	int i, r;

	snprintf(op->cursor, sizeof(op->cursor), "0");
	if (ev->kind == EVENT_INVALIDATE_ALL) {
		if ((op->match = strdup(c->scan_all)) == NULL)
			return -1;
		purge_scan(op);
		return 0;
	}
	if ((esc = cache_glob_escape(base)) == NULL)
		return -1;
	op->match = concat(esc, ":*", NULL, NULL, NULL);
	free(esc);
	exact[0] = concat("UNLINK", NULL, NULL, NULL, NULL);
	exact[1] = concat(base, NULL, NULL, NULL, NULL);
	exact[2] = concat(base, "#timestamp", NULL, NULL, NULL);
	exact[3] = NULL;
	if (op->match == NULL || exact[0] == NULL || exact[1] == NULL ||
	    exact[2] == NULL) {
		for (i = 0; i < 3; i++)
			free(exact[i]);
		return -1;
	}
	for (i = 0; i < 3; i++)
		len[i] = strlen(exact[i]);
	/* The metadata key and its timestamp fall under the SCAN. */
	r = redisAsyncCommandArgv(c->ac, on_purge_unlink, op, 3,
	    (const char **)exact, len);
	for (i = 0; i < 3; i++)
		free(exact[i]);
	return r == REDIS_OK ? 0 : -1;
}

void
cache_apply(struct cache *c, const struct event *ev, cache_done_fn done,
    void *arg)
{
	struct op *op;
	char *base = NULL;
	int r = -1;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		/* Nothing to queue the failure on: report it at once. */
		done(arg, CACHE_FAILED, "out of memory");
		return;
	}
	op->c = c;
	op->done = done;
	op->arg = arg;
	c->pending++;
	if (c->state != CONN_UP || c->ac == NULL) {
		op_finish(op, CACHE_FAILED, c->reason[0] ? c->reason :
		    "redis: not connected");
		return;
	}
	if (ev->kind != EVENT_INVALIDATE_ALL &&
	    (base = cache_key(c->cfg->environment_prefix, ev->customer_id,
	    ev->resource_id)) == NULL) {
		op_finish(op, CACHE_FAILED, "out of memory");
		return;
	}
	switch (ev->kind) {
	case EVENT_ENTITLEMENTS:
	case EVENT_USAGE:
		op->kind = OP_SCRIPT;
		r = build_script(op, ev, base);
		if (r == 0)
			r = op_send_script(op, 0);
		break;
	case EVENT_PURGE:
	case EVENT_INVALIDATE_ALL:
		op->kind = OP_PURGE;
		r = start_purge(op, ev, base);
		break;
	default:
		free(base);
		op_finish(op, CACHE_SKIPPED, "nothing to write");
		return;
	}
	free(base);
	if (r == -1)
		op_finish(op, CACHE_FAILED, "redis: cannot send the command");
}

struct cache *
cache_new(struct ev_loop *loop, const struct config *cfg,
    cache_state_fn state_fn, void *arg)
{
	struct cache *c;
	unsigned char md[SHA_DIGEST_LENGTH];
	char *esc;
	int i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->cfg = cfg;
	c->state_fn = state_fn;
	c->state_arg = arg;
	snprintf(c->reason, sizeof(c->reason), "redis: connecting");
	SHA1((const unsigned char *)cache_script, strlen(cache_script), md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(c->sha + 2 * i, 3, "%02x", md[i]);
	snprintf(c->ttl, sizeof(c->ttl), "%lld",
	    cfg->keys_ttl > 0 ? cfg->keys_ttl : 0);
	if ((esc = cache_glob_escape(cfg->environment_prefix)) == NULL ||
	    (c->scan_all = concat(esc, ":c_*", NULL, NULL, NULL)) == NULL) {
		free(esc);
		free(c);
		return NULL;
	}
	free(esc);
	backoff_init(&c->backoff, CACHE_BACKOFF_MIN_MS, CACHE_BACKOFF_MAX_MS);
	ev_timer_init(&c->timer, on_timer, 0., 0.);
	c->timer.data = c;
	ev_timer_init(&c->ping_timer, on_ping_timer, 0., CACHE_PING_INTERVAL);
	c->ping_timer.data = c;
	ev_prepare_init(&c->deliver, on_deliver);
	c->deliver.data = c;
	conn_start(c);
	return c;
}

void
cache_free(struct cache *c)
{
	redisAsyncContext *ac;

	if (c == NULL)
		return;
	c->closing = 1;
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->ping_timer);
	if ((ac = c->ac) != NULL) {
		/* Pending replies' callbacks run now, with NULL: FAILED. */
		c->ac = NULL;
		redisAsyncFree(ac);
	}
	/* Completions are dropped unannounced: the caller is going away. */
	while (c->done_head != NULL) {
		struct op *op = c->done_head;

		c->done_head = op->next;
		op_free(op);
	}
	ev_prepare_stop(c->loop, &c->deliver);
	free(c->scan_all);
	free(c);
}

int
cache_is_up(const struct cache *c)
{
	return c->state == CONN_UP;
}

uint64_t
cache_last_ok_ms(const struct cache *c)
{
	return c->last_ok_ms;
}

uint64_t
cache_errors(const struct cache *c)
{
	return c->errors;
}

size_t
cache_pending(const struct cache *c)
{
	return c->pending;
}
