/*
 * cache: the consumer's Redis connection and the writes of events.
 *
 * Connection life cycle: resolve the host (resolve.c: off the loop, again
 * at every attempt, since a managed endpoint changes address on failover)
 * -> for each address in getaddrinfo's order, IPv6 and IPv4: connect to
 * the numeric address (rconn.c: plain or TLS; with a timeout) ->
 * AUTH (when a password is set) -> CLIENT SETNAME -> SELECT -> SCRIPT
 * LOAD -> write probe (EVALSHA of the script's probe step, which uses
 * every command the writes use on a key of the environment, so that an
 * ACL that forbids one shows now) -> PING, pipelined.  A connect that
 * fails or times out moves on to the next address; the PING's reply
 * makes the connection usable, unless a step failed: then the first
 * failure, named with Redis's answer, is the reason, the attempt ends
 * and, like a lookup that fails or the last address failing, comes back
 * with exponential backoff.  Afterwards a PING every second keeps it
 * honest: no reply within CACHE_PING_TIMEOUT drops the connection, and
 * TCP keepalive finds a peer gone without a word between the PINGs'
 * writes (the PINGs only fail a connection that still accepts writes).
 *
 * With Sentinel (redis_sentinels), each attempt starts with a discovery
 * step instead (sentinel.c): the primary's address is asked of the
 * sentinels, then resolved and tried as above, with ROLE in the handshake
 * (a replica ends the attempt).  A +switch-master drops the connection and
 * starts over at once; READONLY does the same once the replies in flight
 * are in.  Each write and purge is followed in its pipeline by WAIT 1
 * CACHE_WAIT_TIMEOUT_MS and counts only when a replica has it; otherwise
 * it fails and the cache refuses writes until the probe, with its own
 * WAIT, passes.
 *
 * A write refused by Redis for a reason of its own (OOM, READONLY,
 * MISCONF, BUSY, LOADING, NOPERM) fails, and the cache reports itself
 * down while keeping the connection: the write probe replaces the PING
 * every second until it passes.  Every change of usability is reported
 * through the state callback.
 *
 * Writes and purges of one entity are each one EVALSHA of cache_script:
 * version-checked key by key, ordered against purges by the entity's
 * "#purged" marker, atomic.  A NOSCRIPT answer (Redis restarted, SCRIPT
 * FLUSH) sends the same call once more as EVAL, which also caches the
 * script.  Only INVALIDATE_ALL scans: SCAN (with the prefix's glob
 * characters escaped) and UNLINK, a chunk per round trip, so Redis is
 * never blocked by one big command.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include "rconn.h"
#include <openssl/sha.h>

#include "backoff.h"
#include "cache.h"
#include "log.h"
#include "resolve.h"
#include "sentinel.h"
#include "util.h"

/*
 * Redis on loopback or a LAN answers in well under a millisecond; two
 * seconds without a reply means it is gone or stuck, and readiness must
 * say so within the three seconds operators expect.  The connect timeout
 * bounds the TCP connect and the handshake together, once per address:
 * a name with two dead addresses takes four seconds before the backoff.
 */
#define CACHE_CONNECT_TIMEOUT	2.0
/*
 * A lookup of the host is given up after twelve seconds: more than
 * glibc's 5 s wait on one nameserver before it asks the next, or asks
 * again after a lost datagram, plus a margin, so that a resolver that is
 * only slow still answers.  A lookup that takes longer is reported
 * (readiness says "no answer within 12s") and asked again after the
 * backoff, while the consumer's loop goes on.
 */
#define CACHE_RESOLVE_TIMEOUT	12.0
/* CLIENT SETNAME's name: "persistent-cache-service:<hostname>:<slot>". */
#define CACHE_CLIENT_NAME	"persistent-cache-service"
#define CACHE_PING_INTERVAL	1.0
#define CACHE_PING_TIMEOUT	2000	/* ms */
#define CACHE_BACKOFF_MIN_MS	100
#define CACHE_BACKOFF_MAX_MS	2000
/*
 * Sentinel mode: each write is followed, in the same pipeline, by WAIT 1
 * CACHE_WAIT_TIMEOUT_MS, and counts only once a replica has it, so that
 * a primary that dies before replicating loses no acknowledged write.  A
 * replica on a LAN acknowledges within a millisecond (WAIT makes Redis
 * ask at once); half a second is a replica that is gone or resyncing.
 * WAIT blocks the connection for that long, and the PINGs queue behind
 * it: well below CACHE_PING_TIMEOUT.
 */
#define CACHE_WAIT_TIMEOUT_MS	500
/* Keys per SCAN step and per UNLINK: small enough never to block Redis. */
#define CACHE_SCAN_COUNT	"500"
/*
 * TTL of a purge's marker (E#purged), in seconds: 14 days, the longest an
 * SQS message can stay on a queue (MessageRetentionPeriod, the dead-letter
 * queue's included), so no update older than the purge can arrive after
 * the marker is gone.  Bounded so that purged customers do not pile up.
 */
#define CACHE_PURGED_TTL	"1209600"
/* The probe's key: under the environment's customers, never kept. */
#define CACHE_PROBE_KEY		":c_#persistent-cache-service-probe"

const char cache_script[] =
    "-- persistent-cache-service: each change it makes to Redis is one\n"
    "-- atomic step.  ARGV[1] names the step:\n"
    "--\n"
    "-- 'W' write: KEYS[1] the entity key E (customer P:c_<id> or resource\n"
    "--   P:c_<id>:r_<rid>), KEYS[2] its customer key C (E for a customer),\n"
    "--   KEYS[3..n] the keys to write with ARGV[i + 2]; ARGV[2] the version\n"
    "--   (epoch ms), ARGV[3] the TTL in seconds ('0': none), ARGV[4] '1'\n"
    "--   when nothing is written unless E is cached.  Nothing is written\n"
    "--   at or below a purge of E or C (E#purged, C#purged); otherwise\n"
    "--   each key is written, with its #timestamp, where that is absent,\n"
    "--   not a finite number, or not newer.  Usage keys are listed in the\n"
    "--   index E#keys, a resource in C#keys.  Returns the keys written,\n"
    "--   -1 when E is not cached, -2 when a purge is as new or newer.\n"
    "-- 'P' purge: KEYS[1] E, KEYS[2] C; ARGV[2] the version, ARGV[3] the\n"
    "--   marker's TTL.  E#purged becomes the newest purge version; then\n"
    "--   E, E:metadata, the keys E#keys lists, the usage keys E's value\n"
    "--   names (the SDK writes those itself) and, for a customer, each\n"
    "--   resource its index lists with the same keys of its own: each one\n"
    "--   removed where not newer than the purge.  No SCAN.  Returns the\n"
    "--   keys removed.\n"
    "-- 'T' probe: KEYS[1] a key of the environment; uses every command\n"
    "--   the other steps use and leaves nothing.  Returns 1.\n"
    "-- A version is a decimal number; anything else (NaN, inf, hex, a\n"
    "-- key of another type) counts as absent, so the key gets repaired.\n"
    "-- Types are asked with TYPE, a read: a pcall would also swallow an\n"
    "-- OOM or NOPERM answer, which must fail the script.\n"
    "local function kind(k)\n"
    "  return redis.call('TYPE', k).ok\n"
    "end\n"
    "local function get(k)\n"
    "  if kind(k) ~= 'string' then return false end\n"
    "  return redis.call('GET', k)\n"
    "end\n"
    "local function ver(s)\n"
    "  if type(s) ~= 'string' or not string.match(s, '^%-?%d+%.?%d*$') then\n"
    "    return nil\n"
    "  end\n"
    "  return tonumber(s)\n"
    "end\n"
    "local function stale(k, v)\n"
    "  local cur = ver(get(k .. '#timestamp'))\n"
    "  return cur == nil or cur <= v\n"
    "end\n"
    "-- An index that is not a set (someone else's key) is replaced.\n"
    "local function members(i)\n"
    "  local t = kind(i)\n"
    "  if t == 'set' then return redis.call('SMEMBERS', i) end\n"
    "  if t ~= 'none' then redis.call('UNLINK', i) end\n"
    "  return {}\n"
    "end\n"
    "local function index(i, k)\n"
    "  local t = kind(i)\n"
    "  if t ~= 'set' and t ~= 'none' then redis.call('UNLINK', i) end\n"
    "  redis.call('SADD', i, k)\n"
    "end\n"
    "local op, E, C = ARGV[1], KEYS[1], KEYS[2]\n"
    "if op == 'T' then\n"
    "  -- Reads first, so a command the ACL forbids fails before anything\n"
    "  -- is made; then SET, which Redis refuses when out of memory (a\n"
    "  -- script's first write decides that: UNLINK would let the rest\n"
    "  -- through); what is made expires in a minute; UNLINK last.\n"
    "  local i = E .. '#keys'\n"
    "  redis.call('GET', E)\n"
    "  redis.call('EXISTS', E)\n"
    "  redis.call('TYPE', i)\n"
    "  redis.call('SMEMBERS', i)\n"
    "  redis.call('SCARD', i)\n"
    "  redis.call('SET', E, '1', 'EX', 60)\n"
    "  redis.call('SADD', i, E)\n"
    "  redis.call('EXPIRE', i, 60)\n"
    "  redis.call('PERSIST', i)\n"
    "  redis.call('SREM', i, E)\n"
    "  redis.call('UNLINK', E, i)\n"
    "  return 1\n"
    "end\n"
    "local v = tonumber(ARGV[2])\n"
    "if op == 'W' then\n"
    "  local ttl = ARGV[3]\n"
    "  local function keep(k)\n"
    "    if ttl == '0' then\n"
    "      redis.call('PERSIST', k)\n"
    "    else\n"
    "      redis.call('EXPIRE', k, ttl)\n"
    "    end\n"
    "  end\n"
    "  local p = ver(get(E .. '#purged'))\n"
    "  if p ~= nil and v <= p then return -2 end\n"
    "  if C ~= E then\n"
    "    p = ver(get(C .. '#purged'))\n"
    "    if p ~= nil and v <= p then return -2 end\n"
    "  end\n"
    "  if ARGV[4] == '1' and\n"
    "      redis.call('EXISTS', E, E .. '#timestamp') == 0 then\n"
    "    return -1\n"
    "  end\n"
    "  local idx, meta, n, indexed = E .. '#keys', E .. ':metadata', 0, false\n"
    "  -- Every check before the first write, which is a SET: Redis\n"
    "  -- refuses it when out of memory, and then nothing is written.\n"
    "  local due = {}\n"
    "  for i = 3, #KEYS do due[i] = stale(KEYS[i], v) end\n"
    "  for i = 3, #KEYS do\n"
    "    local k = KEYS[i]\n"
    "    if due[i] then\n"
    "      if ttl == '0' then\n"
    "        redis.call('SET', k, ARGV[i + 2])\n"
    "        redis.call('SET', k .. '#timestamp', ARGV[2])\n"
    "      else\n"
    "        redis.call('SET', k, ARGV[i + 2], 'EX', ttl)\n"
    "        redis.call('SET', k .. '#timestamp', ARGV[2], 'EX', ttl)\n"
    "      end\n"
    "      n = n + 1\n"
    "    end\n"
    "    if k ~= E and k ~= meta then\n"
    "      index(idx, k)\n"
    "      indexed = true\n"
    "    end\n"
    "  end\n"
    "  if indexed then keep(idx) end\n"
    "  if C ~= E then\n"
    "    index(C .. '#keys', E)\n"
    "    keep(C .. '#keys')\n"
    "  end\n"
    "  return n\n"
    "end\n"
    "if op == 'P' then\n"
    "  local function drop(k)\n"
    "    if stale(k, v) then\n"
    "      return redis.call('UNLINK', k, k .. '#timestamp')\n"
    "    end\n"
    "    return 0\n"
    "  end\n"
    "  local function gone(k, ...)\n"
    "    return redis.call('EXISTS', k, k .. '#timestamp', ...) == 0\n"
    "  end\n"
    "  local function purge(X, customer)\n"
    "    local idx, rp, n = X .. '#keys', X .. ':r_', 0\n"
    "    local raw = get(X)\n"
    "    if raw then\n"
    "      local ok, t = pcall(cjson.decode, raw)\n"
    "      if ok and type(t) == 'table' then\n"
    "        for fid in pairs(t) do\n"
    "          if type(fid) == 'string' then\n"
    "            n = n + drop(X .. ':f_' .. fid)\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    for _, m in ipairs(members(idx)) do\n"
    "      if customer and string.sub(m, 1, #rp) == rp then\n"
    "        n = n + purge(m, false)\n"
    "        if gone(m, m .. '#keys', m .. ':metadata') then\n"
    "          redis.call('SREM', idx, m)\n"
    "        end\n"
    "      else\n"
    "        n = n + drop(m)\n"
    "        if gone(m) then redis.call('SREM', idx, m) end\n"
    "      end\n"
    "    end\n"
    "    return n + drop(X) + drop(X .. ':metadata')\n"
    "  end\n"
    "  local p = ver(get(E .. '#purged'))\n"
    "  if p == nil or p < v then\n"
    "    redis.call('SET', E .. '#purged', ARGV[2], 'EX', ARGV[3])\n"
    "  end\n"
    "  return purge(E, C == E)\n"
    "end\n"
    "return redis.error_reply('ERR persistent-cache-service: unknown step')\n";

enum conn_state {
	CONN_DOWN,		/* no connection; the reconnect timer may run */
	CONN_DISCOVERING,	/* asking the sentinels for the primary */
	CONN_RESOLVING,		/* the host's lookup is in progress */
	CONN_NEXT,		/* an address failed; the timer tries the next */
	CONN_CONNECTING,	/* TCP connect or handshake in progress */
	CONN_UP			/* handshake done */
};

struct cache {
	struct ev_loop		*loop;
	const struct config	*cfg;
	cache_state_fn		 state_fn;
	void			*state_arg;

	struct rconn		*ac;
	struct rconn_tls	*tls;		/* NULL: plain TCP */
	enum conn_state		 state;
	struct sentinel		*sentinel;	/* NULL: a fixed address */
	const char		*host;		/* cfg's, or found */
	int			 port;
	char			 found[256];	/* the primary's host */
	int			 probe_ok;	/* sentinel: before its WAIT */
	struct resolve		*lookup;	/* CONN_RESOLVING */
	struct resolve_result	 addrs;		/* of the last lookup */
	size_t			 addr_i;	/* the one tried now */
	char			 name[128];	/* CLIENT SETNAME's */
	int			 setname_warned;
	int			 handshake_failed;
	int			 refusing;	/* up, but writes refused */
	int			 closing;
	char			 reason[256];	/* why not up */
	char			 logged[256];	/* last outage logged */
	ev_timer		 timer;		/* connect timeout / reconnect */
	ev_timer		 ping_timer;
	uint64_t		 ping_sent_ms;	/* 0: no PING outstanding */
	uint64_t		 reply_ms;	/* monotonic: the last reply to an op */
	struct backoff		 backoff;
	uint64_t		 last_ok_ms;
	uint64_t		 errors;
	struct metrics_counters	*mc;		/* NULL: not counted */
	int			 primary_known;	/* Sentinel: found, not moved */
	size_t			 pending;

	char			 sha[41];	/* of cache_script */
	char			 ttl[24];	/* ARGV[2] */
	char			*scan_all;	/* "P:c_*", escaped */
	char			*probe_key;
	ev_prepare		 deliver;	/* runs queued completions */
	struct op		*done_head, *done_tail;
};

enum op_kind {
	OP_WRITE,		/* EVALSHA (EVAL after NOSCRIPT): a write */
	OP_PURGE,		/* the same, a purge */
	OP_INVALIDATE		/* SCAN + UNLINK of every customer */
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

	/*
	 * OP_WRITE, OP_PURGE: the call's arguments, kept for the EVAL retry:
	 * literals, copies in args, and the event's own values (cache_apply:
	 * the event outlives the operation).  argv, argvlen and args are one
	 * allocation (build_script), freed with argv.
	 */
	int		 argc;
	const char	**argv;
	size_t		*argvlen;
	char		*args;		/* the copies, each NUL-terminated */
	size_t		 args_len;
	size_t		 args_cap;
	int		 retried;
	uint64_t	 sent_us;	/* monotonic: the script's last send */
	/*
	 * Sentinel mode: the replies still due to on_script and on_wait
	 * (each send of the script is followed by a WAIT); the op ends when
	 * the last one is in, with the result kept here meanwhile.
	 */
	int		 outstanding;
	int		 ended;
	int		 nowait;	/* a WAIT could not be sent */

	/* OP_INVALIDATE */
	char		*match;		/* SCAN MATCH pattern */
	char		 cursor[32];
	int		 removed;
};

static void	conn_start(struct cache *);

static void
count_error(struct cache *c, enum metrics_redis_error kind)
{
	if (c->mc != NULL)
		c->mc->redis_errors[kind]++;
}

/* A result that did the op's job: written, or nothing to do. */
static int
succeeded(enum cache_result r)
{
	return r == CACHE_APPLIED || r == CACHE_SKIPPED ||
	    r == CACHE_SKIPPED_UNCACHED;
}

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

/*
 * The words Redis starts an error with when it refuses writes for a
 * reason of its own, not of the command's: until that passes, every write
 * would fail the same way.
 */
static const char *const outages[] = {
	"OOM", "READONLY", "MISCONF", "BUSY", "LOADING"
};

/* One of the words of a Redis that refuses every write for now. */
static int
error_is_outage(const char *err)
{
	size_t i, n = strcspn(err, " ");

	for (i = 0; i < sizeof(outages) / sizeof(outages[0]); i++)
		if (strlen(outages[i]) == n && strncmp(err, outages[i], n) == 0)
			return 1;
	return 0;
}

int
cache_error_refuses(const char *err)
{
	if (err == NULL)
		return 0;
	if (error_is_outage(err) || strncmp(err, "NOPERM ", 7) == 0)
		return 1;
	/* An ACL denial inside a script comes back as ERR. */
	return strncmp(err, "ERR The user executing the script can't run ",
	    44) == 0;
}

/*
 * Redis's answer for a log line: printable, bounded, and without the
 * " script: <sha>, on @user_script:1." that an error inside a script ends
 * with.
 */
static void
error_text(char *buf, size_t size, const redisReply *r)
{
	const char *cut;
	size_t n;

	n = r->str != NULL ? r->len : 0;
	if (n > 0 && (cut = strstr(r->str, " script: ")) != NULL)
		n = (size_t)(cut - r->str);
	(void)util_clean(buf, size, r->str, n, 120, UTIL_CLEAN_ASCII);
}

/* --- completions --- */

static void
op_free(struct op *op)
{
	free(op->argv);
	free(op->match);
	free(op);
}

/*
 * Finish op: its callback runs from an ev_prepare watcher, never from
 * inside cache_apply or an rconn callback, so the caller may apply or
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

static int
usable(const struct cache *c)
{
	return c->state == CONN_UP && !c->refusing && c->ac != NULL;
}

/*
 * "host:port" of the address tried now, with the address when the host
 * is a name: "redis.example:6379 (10.0.0.7)", "[::1]:6379".
 */
static void
endpoint(const struct cache *c, char *buf, size_t len)
{
	const char *host = c->host;
	const char *addr = c->addrs.n > 0 ? c->addrs.addr[c->addr_i] : host;
	int v6 = strchr(host, ':') != NULL;

	if (strcmp(host, addr) == 0)
		snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", host,
		    v6 ? "]" : "", c->port);
	else
		snprintf(buf, len, "%s:%d (%s)", host, c->port, addr);
}

static void
report(struct cache *c)
{
	c->state_fn(c->state_arg, usable(c), c->reason);
}

/* Log reason when it is not the one logged last. */
static void
log_outage(struct cache *c, const char *reason)
{
	if (strcmp(reason, c->logged) != 0) {
		log_warn("%s", reason);
		snprintf(c->logged, sizeof(c->logged), "%s", reason);
	}
}

/*
 * Redis refused a write (err: its answer).  The connection stays; the
 * write probe runs every second instead of the PING until it passes.
 */
static void
refuse(struct cache *c, const char *err)
{
	char reason[sizeof(c->reason)];
	int was = c->refusing;

	if (c->state != CONN_UP)
		return;
	count_error(c, METRICS_REDIS_REFUSING);
	snprintf(reason, sizeof(reason), "redis: refusing writes: %s", err);
	log_outage(c, reason);
	c->refusing = 1;
	if (was && strcmp(reason, c->reason) == 0)
		return;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	report(c);
}

/*
 * Sentinel mode: the server stopped being the primary (READONLY, from a
 * rconn callback).  The connection ends once the replies in flight are
 * in (they fail: held and retried), and the reconnect asks the sentinels.
 */
static void
lost_primary(struct cache *c, const char *err)
{
	char ep[160];

	if (c->state != CONN_UP || c->ac == NULL || c->handshake_failed)
		return;
	count_error(c, METRICS_REDIS_REFUSING);
	endpoint(c, ep, sizeof(ep));
	snprintf(c->reason, sizeof(c->reason), "redis: %s: no longer the "
	    "primary (%s); asking the sentinels", ep, err);
	c->handshake_failed = 1;	/* on_disconnect gives c->reason */
	c->refusing = 1;
	rconn_disconnect(c->ac);
}

static int
is_readonly(const char *err)
{
	return err != NULL && strncmp(err, "READONLY", 8) == 0;
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
	log_outage(c, reason);
	c->state = CONN_DOWN;
	c->refusing = 0;
	c->ping_sent_ms = 0;
	c->errors++;
	ev_timer_stop(c->loop, &c->ping_timer);
	report(c);	/* the reason too, even if it was never up */
	schedule_reconnect(c);
}

/* Drop the connection from outside any rconn callback (timers). */
static void
conn_drop(struct cache *c, const char *reason)
{
	struct rconn *ac = c->ac;

	c->ac = NULL;
	if (ac != NULL)
		rconn_free(ac);	/* its callbacks see c->ac != ac */
	mark_down(c, reason);
}

/*
 * The attempt on the current address failed (reason: how); the next
 * address, if any, is tried from the timer, outside any rconn callback.
 * After the last one, the backoff.
 */
static void
conn_next(struct cache *c, const char *reason)
{
	count_error(c, METRICS_REDIS_CONNECT);
	if (c->addr_i + 1 >= c->addrs.n) {
		mark_down(c, reason);
		return;
	}
	log_debug("%s; trying the next address", reason);
	c->addr_i++;
	c->state = CONN_NEXT;
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, 0., 0.);
	ev_timer_start(c->loop, &c->timer);
}

static void
on_disconnect(struct rconn *ac, int status)
{
	struct cache *c = rconn_data(ac);
	char reason[256], ep[160];

	if (c->ac != ac)
		return;		/* dropped by us already */
	c->ac = NULL;
	if (c->closing)
		return;
	if (c->handshake_failed) {
		/* Up: no longer the primary, counted as a refusal. */
		if (c->state == CONN_CONNECTING)
			count_error(c, METRICS_REDIS_CONNECT);
		snprintf(reason, sizeof(reason), "%s", c->reason);
		mark_down(c, reason);
		return;
	}
	endpoint(c, ep, sizeof(ep));
	snprintf(reason, sizeof(reason), "redis: connection to %s lost%s%s",
	    ep, status == 0 ? "" : ": ", status == 0 ? "" :
	    (rconn_errstr(ac)[0] ? rconn_errstr(ac) : "error"));
	/*
	 * Closed during the handshake: another address may serve.  Redis
	 * answers a refusal (maxclients, protected mode) with an error
	 * first; a plain connection closed without a word is most often a
	 * TLS-only port.
	 */
	if (c->state == CONN_CONNECTING) {
		if (c->tls == NULL && status != 0)
			snprintf(reason + strlen(reason), sizeof(reason) -
			    strlen(reason), " (a TLS port? see REDIS_TLS)");
		conn_next(c, reason);
	} else {
		count_error(c, METRICS_REDIS_LOST);
		mark_down(c, reason);
	}
}

/*
 * A handshake reply: an error ends the connection attempt, and once a
 * step failed, no later answer (the pipelined PING's PONG) counts.
 */
static int
handshake_failed(struct cache *c, struct rconn *ac, redisReply *r,
    const char *what)
{
	char text[128];

	if (r == NULL || c->ac != ac)
		return 1;	/* the context is going away */
	if (c->handshake_failed)
		return 1;
	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	/* Redis's errors never echo the password. */
	error_text(text, sizeof(text), r);
	snprintf(c->reason, sizeof(c->reason), "redis: %s: %s", what, text);
	c->handshake_failed = 1;
	rconn_disconnect(ac);
	return 1;
}

static void
on_auth(struct rconn *ac, void *reply, void *arg)
{
	(void)arg;
	handshake_failed(rconn_data(ac), ac, reply, "AUTH");
}

static void
on_select(struct rconn *ac, void *reply, void *arg)
{
	struct cache *c = rconn_data(ac);
	char what[32];

	(void)arg;
	snprintf(what, sizeof(what), "SELECT %d", c->cfg->redis_db);
	handshake_failed(c, ac, reply, what);
}

static void
on_script_load(struct rconn *ac, void *reply, void *arg)
{
	(void)arg;
	handshake_failed(rconn_data(ac), ac, reply, "SCRIPT LOAD");
}

/* Writes pass again: the refusal is over. */
static void
accept_again(struct cache *c)
{
	if (!c->refusing)
		return;
	c->refusing = 0;
	c->reason[0] = '\0';
	c->logged[0] = '\0';
	log_info("redis: writes accepted again");
	report(c);
}

/*
 * Sentinel mode: ROLE's answer in the handshake.  A server that is not
 * the master (a replica the sentinel's answer is stale about, or one
 * demoted since) ends the attempt; the next one asks the sentinels.
 */
static void
on_role(struct rconn *ac, void *reply, void *arg)
{
	struct cache *c = rconn_data(ac);
	char why[80], ep[160];

	(void)arg;
	if (handshake_failed(c, ac, reply, "ROLE"))
		return;
	if (sentinel_role_is_master(reply, why, sizeof(why)) == 0)
		return;
	endpoint(c, ep, sizeof(ep));
	snprintf(c->reason, sizeof(c->reason), "redis: ROLE: %s %s", ep,
	    why);
	c->handshake_failed = 1;
	rconn_disconnect(ac);
}

/*
 * The write probe's answer: a step of the handshake, or, while writes are
 * refused, the check every second of whether they are accepted again.
 */
static void
on_probe(struct rconn *ac, void *reply, void *arg)
{
	struct cache *c = rconn_data(ac);
	redisReply *r = reply;
	char text[128];

	(void)arg;
	if (c->state == CONN_CONNECTING) {
		if (handshake_failed(c, ac, r, "EVALSHA (write probe)"))
			return;
		if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
			snprintf(c->reason, sizeof(c->reason),
			    "redis: EVALSHA (write probe): unexpected reply "
			    "type %d", r->type);
			c->handshake_failed = 1;
			rconn_disconnect(ac);
		}
		return;
	}
	if (r == NULL || c->ac != ac || c->state != CONN_UP)
		return;
	if (c->sentinel == NULL)
		c->ping_sent_ms = 0;
	c->probe_ok = 0;
	if (r->type == REDIS_REPLY_ERROR) {
		error_text(text, sizeof(text), r);
		if (c->sentinel != NULL && is_readonly(r->str))
			lost_primary(c, text);
		else
			refuse(c, text);
		return;
	}
	c->last_ok_ms = util_now_ms();
	if (c->sentinel != NULL) {
		c->probe_ok = 1;	/* and its WAIT decides */
		return;
	}
	accept_again(c);
}

/* Sentinel mode: the write probe's WAIT, after the probe. */
static void
on_probe_wait(struct rconn *ac, void *reply, void *arg)
{
	struct cache *c = rconn_data(ac);
	redisReply *r = reply;
	char text[128];

	(void)arg;
	if (r == NULL || c->ac != ac || c->state != CONN_UP)
		return;
	c->ping_sent_ms = 0;
	if (!c->probe_ok)
		return;
	c->probe_ok = 0;
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
		accept_again(c);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR)
		error_text(text, sizeof(text), r);
	else
		snprintf(text, sizeof(text), "WAIT: no replica acknowledged "
		    "within %dms", CACHE_WAIT_TIMEOUT_MS);
	refuse(c, text);
}

static int
send_probe(struct cache *c)
{
	if (rconn_command(c->ac, on_probe, NULL, "EVALSHA %s 2 %s %s T",
	    c->sha, c->probe_key, c->probe_key) != 0)
		return -1;
	/* Refusing, in Sentinel mode: writes count once a replica has them. */
	if (c->sentinel != NULL && c->state == CONN_UP)
		return rconn_command(c->ac, on_probe_wait, NULL,
		    "WAIT 1 %d", CACHE_WAIT_TIMEOUT_MS);
	return 0;
}

static void
on_ping(struct rconn *ac, void *reply, void *arg)
{
	struct cache *c = rconn_data(ac);
	char ep[160];

	(void)arg;
	if (handshake_failed(c, ac, reply, "PING"))
		return;
	c->ping_sent_ms = 0;
	c->last_ok_ms = util_now_ms();
	if (c->state != CONN_UP) {
		ev_timer_stop(c->loop, &c->timer);
		c->state = CONN_UP;
		c->refusing = 0;
		c->logged[0] = '\0';
		c->reason[0] = '\0';
		backoff_reset(&c->backoff);
		endpoint(c, ep, sizeof(ep));
		if (c->sentinel != NULL)
			log_info("redis: connected to %s db %d (master '%s')",
			    ep, c->cfg->redis_db,
			    c->cfg->redis_sentinel_master);
		else
			log_info("redis: connected to %s db %d", ep,
			    c->cfg->redis_db);
		ev_timer_again(c->loop, &c->ping_timer);
		report(c);
	}
}

static void
send_ping(struct cache *c)
{
	if (rconn_command(c->ac, on_ping, NULL, "PING") == 0)
		c->ping_sent_ms = util_mono_ms();
}

/*
 * CLIENT SETNAME's answer.  An ACL user without CLIENT still writes: a
 * refusal is logged once, never a reason to be down.
 */
static void
on_setname(struct rconn *ac, void *reply, void *arg)
{
	struct cache *c = rconn_data(ac);
	redisReply *r = reply;
	char text[128];

	(void)arg;
	/* After a failed AUTH, its NOAUTH answer says nothing new. */
	if (r == NULL || c->ac != ac || r->type != REDIS_REPLY_ERROR ||
	    c->handshake_failed)
		return;
	/*
	 * Only a refusal of the command itself (an ACL without CLIENT, a
	 * server that renamed it) leaves the connection usable unnamed;
	 * anything else (NOAUTH with no password set, "max number of
	 * clients reached") is the handshake's failure, with its reason.
	 */
	if (strncmp(r->str, "NOPERM", 6) != 0 &&
	    strncmp(r->str, "ERR unknown command", 19) != 0) {
		(void)handshake_failed(c, ac, r, "CLIENT SETNAME");
		return;
	}
	if (c->setname_warned)
		return;
	error_text(text, sizeof(text), r);
	log_warn("redis: CLIENT SETNAME %s: %s (the connection goes on "
	    "unnamed)", c->name, text);
	c->setname_warned = 1;
}

/*
 * Why the connect to the current address failed, as a reason: "redis:
 * connect to host:port: Connection refused", and a TLS failure first, as
 * operators grep for it: "redis: TLS: certificate verify failed:
 * certificate has expired (host:port)".
 */
static void
connect_failed(struct cache *c, char *buf, size_t len, const char *err)
{
	char ep[160];

	endpoint(c, ep, sizeof(ep));
	if (strncmp(err, "TLS: ", 5) == 0)
		snprintf(buf, len, "redis: %s; connecting to %s", err, ep);
	else
		snprintf(buf, len, "redis: connect to %s: %s", ep,
		    err[0] ? err : "failed");
}

static void
on_connect(struct rconn *ac, int status)
{
	struct cache *c = rconn_data(ac);
	const struct config *cfg = c->cfg;
	char reason[256];

	if (c->ac != ac)
		return;
	if (status != 0) {
		/* rconn frees the connection after this callback. */
		c->ac = NULL;
		connect_failed(c, reason, sizeof(reason), rconn_errstr(ac));
		conn_next(c, reason);
		return;
	}
	/* Pipelined handshake: replies arrive in order, PING's last. */
	c->handshake_failed = 0;
	if (cfg->redis_password != NULL) {
		if (cfg->redis_user != NULL)
			rconn_command(ac, on_auth, NULL, "AUTH %s %s",
			    cfg->redis_user, cfg->redis_password);
		else
			rconn_command(ac, on_auth, NULL, "AUTH %s",
			    cfg->redis_password);
	}
	/* After AUTH: before it, Redis refuses every command but AUTH. */
	rconn_command(ac, on_setname, NULL, "CLIENT SETNAME %s", c->name);
	if (cfg->redis_db != 0)
		rconn_command(ac, on_select, NULL, "SELECT %d",
		    cfg->redis_db);
	if (c->sentinel != NULL)
		rconn_command(ac, on_role, NULL, "ROLE");
	rconn_command(ac, on_script_load, NULL, "SCRIPT LOAD %s",
	    cache_script);
	send_probe(c);
	send_ping(c);
}

/*
 * Connect to the current address, a numeric string (rconn never
 * resolves), over TLS when configured: the certificate must be valid for
 * REDIS_TLS_SERVER_NAME or else the host asked for (the name, or the
 * address the sentinels gave).  TCP keepalive is rconn's: a peer that
 * vanished without a FIN or RST (a failed-over host, a NAT that forgot
 * us) is found by the kernel too, not only by a PING.
 */
static void
conn_try(struct cache *c)
{
	struct rconn *ac;
	char reason[256], err[200];
	const char *name = c->cfg->redis_tls_server_name != NULL ?
	    c->cfg->redis_tls_server_name : c->host;

	c->state = CONN_CONNECTING;
	ac = rconn_connect(c->loop, c->addrs.addr[c->addr_i], c->port, c->tls,
	    name, on_connect, on_disconnect, c, err, sizeof(err));
	if (ac == NULL) {
		connect_failed(c, reason, sizeof(reason), err);
		conn_next(c, reason);
		return;
	}
	c->ac = ac;
	/*
	 * The same timer bounds the connect and the handshake, each address
	 * on its own: CACHE_CONNECT_TIMEOUT from here to the PING's reply.
	 */
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, CACHE_CONNECT_TIMEOUT, 0.);
	ev_timer_start(c->loop, &c->timer);
}

static void
on_resolved(void *arg, const struct resolve_result *res, const char *err)
{
	struct cache *c = arg;
	char reason[256], list[256];
	size_t i, len;

	c->lookup = NULL;	/* freed when this returns */
	if (res == NULL) {
		snprintf(reason, sizeof(reason), "redis: resolving %s: %s",
		    c->host, err);
		count_error(c, METRICS_REDIS_CONNECT);
		mark_down(c, reason);
		return;
	}
	c->addrs = *res;
	c->addr_i = 0;
	if (!resolve_is_numeric(c->host)) {
		for (i = 0, len = 0, list[0] = '\0'; i < res->n &&
		    len < sizeof(list); i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s", i ? " " : "", res->addr[i]);
		log_debug("redis: resolved %s: %s", c->host, list);
	}
	conn_try(c);
}

/* Look c->host up, then try its addresses. */
static void
conn_resolve(struct cache *c)
{
	char reason[256], err[128];

	c->state = CONN_RESOLVING;
	c->addrs.n = 0;
	c->addr_i = 0;
	c->lookup = resolve_start(c->loop, c->host, CACHE_RESOLVE_TIMEOUT,
	    on_resolved, c, err, sizeof(err));
	if (c->lookup == NULL) {
		snprintf(reason, sizeof(reason), "redis: resolving %s: %s",
		    c->host, err);
		count_error(c, METRICS_REDIS_CONNECT);
		mark_down(c, reason);
	}
}

/* Sentinel mode: the discovery's answer. */
static void
on_discovered(void *arg, const char *host, int port, const char *err)
{
	struct cache *c = arg;

	if (c->closing || c->state != CONN_DISCOVERING)
		return;
	if (host == NULL) {
		c->primary_known = 0;
		count_error(c, METRICS_REDIS_CONNECT);
		mark_down(c, err);
		return;
	}
	/* Another primary than the last one: a failover. */
	if (c->found[0] != '\0' && (strcmp(c->found, host) != 0 ||
	    c->port != port) && c->mc != NULL)
		c->mc->redis_primary_switches++;
	c->primary_known = 1;
	snprintf(c->found, sizeof(c->found), "%s", host);
	c->host = c->found;
	c->port = port;
	conn_resolve(c);
}

/*
 * Sentinel mode: the primary moved.  Whatever the connection was doing
 * ends (writes in flight fail, and are held and retried), and the next
 * attempt, at once, asks the sentinels.
 */
static void
on_moved(void *arg, const char *why)
{
	struct cache *c = arg;
	struct rconn *ac;

	if (c->closing)
		return;
	log_info("%s", why);
	c->primary_known = 0;
	resolve_cancel(c->lookup);
	c->lookup = NULL;
	sentinel_cancel(c->sentinel);
	/* Called from the sentinel's context: freeing this one is safe. */
	if ((ac = c->ac) != NULL) {
		c->ac = NULL;
		rconn_free(ac);
	}
	backoff_reset(&c->backoff);
	mark_down(c, why);
}

/*
 * A new attempt: ask the sentinels for the primary (Sentinel mode), look
 * the host up again, then try its addresses.
 */
static void
conn_start(struct cache *c)
{
	if (c->sentinel != NULL) {
		c->state = CONN_DISCOVERING;
		sentinel_discover(c->sentinel, on_discovered, c);
		return;
	}
	c->host = c->cfg->redis_host;
	c->port = c->cfg->redis_port;
	conn_resolve(c);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cache *c = w->data;
	struct rconn *ac;
	char reason[256], ep[160];

	(void)loop;
	(void)revents;
	if (c->closing)
		return;
	switch (c->state) {
	case CONN_CONNECTING:
		endpoint(c, ep, sizeof(ep));
		/* A plain server reads a ClientHello as a command, and waits. */
		if (c->ac != NULL && rconn_handshaking(c->ac))
			snprintf(reason, sizeof(reason), "redis: TLS: no "
			    "handshake within %.0fs (is the server speaking "
			    "TLS on this port?); connecting to %s",
			    CACHE_CONNECT_TIMEOUT, ep);
		else
			snprintf(reason, sizeof(reason),
			    "redis: connect to %s: timed out after %.0fs", ep,
			    CACHE_CONNECT_TIMEOUT);
		/* Its callbacks, run by the free, see c->ac != ac. */
		ac = c->ac;
		c->ac = NULL;
		if (ac != NULL)
			rconn_free(ac);
		conn_next(c, reason);
		break;
	case CONN_NEXT:
		conn_try(c);
		break;
	case CONN_DOWN:
		conn_start(c);
		break;
	default:
		break;
	}
}

static void
on_ping_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cache *c = w->data;
	char reason[256];

	(void)loop;
	(void)revents;
	if (c->state != CONN_UP || c->ac == NULL)
		return;
	if (c->ping_sent_ms != 0) {
		/*
		 * A PING queued behind WAITs (Sentinel mode, a replica slow
		 * to acknowledge) answers late: the connection is alive while
		 * any reply comes within the timeout.
		 */
		if (util_mono_ms() - (c->reply_ms > c->ping_sent_ms ?
		    c->reply_ms : c->ping_sent_ms) < CACHE_PING_TIMEOUT)
			return;
		snprintf(reason, sizeof(reason),
		    "redis: %s: no reply within %dms",
		    c->refusing ? "EVALSHA (write probe)" : "PING",
		    CACHE_PING_TIMEOUT);
		count_error(c, METRICS_REDIS_TIMEOUT);
		conn_drop(c, reason);
		return;
	}
	if (!c->refusing)
		send_ping(c);
	else if (send_probe(c) == 0)
		c->ping_sent_ms = util_mono_ms();
}

/* --- operations --- */

/*
 * An operation's error reply (r NULL: the connection went away) in
 * detail; a refusal makes the cache refuse writes until the probe passes.
 */
static enum cache_result
reply_error(struct cache *c, redisReply *r, char *detail, size_t len)
{
	char text[128];

	if (r == NULL) {
		snprintf(detail, len, "redis: connection lost");
		return CACHE_FAILED;
	}
	error_text(text, sizeof(text), r);
	snprintf(detail, len, "redis: %s", text);
	c->errors++;
	if (c->sentinel != NULL && is_readonly(r->str))
		lost_primary(c, text);
	else if (cache_error_refuses(r->str))
		refuse(c, text);
	else
		count_error(c, METRICS_REDIS_REPLY);
	/*
	 * OOM and its kin are Redis's outage, not the write's: they never
	 * count against the message.  An ACL denial the write probe passes
	 * (this message's keys alone) and any other error may be its own.
	 */
	return error_is_outage(r->str) ? CACHE_FAILED : CACHE_REFUSED;
}

static int	op_send_script(struct op *, int eval);

/*
 * The script's outcome.  In Sentinel mode a WAIT is still due (its
 * callback has op): the result is kept until that is in.  A write that
 * succeeded counts only when a replica acknowledged it.
 */
static void
op_end(struct op *op, enum cache_result r, const char *detail)
{
	if (op->nowait && succeeded(r)) {
		r = CACHE_FAILED;
		detail = "redis: WAIT: cannot send the command";
	}
	if (op->outstanding == 0) {
		op_finish(op, r, detail);
		return;
	}
	op->result = r;
	snprintf(op->detail, sizeof(op->detail), "%s", detail ? detail : "");
	op->ended = 1;
}

/* Sentinel mode: WAIT's answer after a send of the script. */
static void
on_wait(struct rconn *ac, void *reply, void *arg)
{
	struct op *op = arg;
	struct cache *c = op->c;
	redisReply *r = reply;
	char detail[160], text[128];
	enum cache_result res;

	(void)ac;
	if (r != NULL)
		c->reply_ms = util_mono_ms();
	if (--op->outstanding > 0)
		return;	/* an earlier send's, before NOSCRIPT's EVAL */
	res = op->ended ? op->result : CACHE_FAILED;
	snprintf(detail, sizeof(detail), "%s", op->ended ? op->detail :
	    "redis: connection lost");
	if (succeeded(res)) {
		if (r == NULL) {
			res = CACHE_FAILED;
			snprintf(detail, sizeof(detail),
			    "redis: connection lost");
		} else if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
			if (r->type == REDIS_REPLY_ERROR)
				error_text(text, sizeof(text), r);
			else
				snprintf(text, sizeof(text), "WAIT: no replica "
				    "acknowledged within %dms",
				    CACHE_WAIT_TIMEOUT_MS);
			snprintf(detail, sizeof(detail), "redis: %s", text);
			res = CACHE_FAILED;
			c->errors++;
			/* Until a replica is back: the probe, with WAIT. */
			if (c->ac == ac)
				refuse(c, text);
		}
	}
	op_finish(op, res, detail);
}

static void
on_script(struct rconn *ac, void *reply, void *arg)
{
	struct op *op = arg;
	struct cache *c = op->c;
	redisReply *r = reply;
	char detail[160];

	(void)ac;
	if (r != NULL) {
		c->reply_ms = util_mono_ms();
		if (c->mc != NULL)
			metrics_observe(&c->mc->redis, METRICS_H_REDIS,
			    (double)(util_mono_us() - op->sent_us) / 1e6);
	}
	if (op->outstanding > 0)
		op->outstanding--;
	if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0 && !op->retried) {
		op->retried = 1;
		if (op_send_script(op, 1) == 0)
			return;
		op_end(op, CACHE_FAILED, "redis: not connected");
		return;
	}
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		if (r != NULL && r->type != REDIS_REPLY_ERROR) {
			snprintf(detail, sizeof(detail),
			    "redis: unexpected reply type %d", r->type);
			count_error(c, METRICS_REDIS_REPLY);
			op_end(op, CACHE_REFUSED, detail);
		} else
			op_end(op, reply_error(c, r, detail,
			    sizeof(detail)), detail);
		return;
	}
	c->last_ok_ms = util_now_ms();
	if (op->kind == OP_PURGE) {
		snprintf(detail, sizeof(detail), "%lld keys removed",
		    r->integer);
		op_end(op, CACHE_APPLIED, detail);
	} else if (r->integer == -2)
		op_end(op, CACHE_SKIPPED, "purged at a newer version");
	else if (r->integer < 0)
		op_end(op, CACHE_SKIPPED_UNCACHED, "not cached");
	else if (r->integer == 0)
		op_end(op, CACHE_SKIPPED, "newer data in Redis");
	else {
		snprintf(detail, sizeof(detail), "%lld keys written",
		    r->integer);
		op_end(op, CACHE_APPLIED, detail);
	}
}

static int
op_send_script(struct op *op, int eval)
{
	struct cache *c = op->c;

	if (!usable(c))
		return -1;
	/* argv[0..1] are the command and the script or its SHA. */
	if (eval) {
		op->argv[0] = "EVAL";
		op->argv[1] = cache_script;
		op->argvlen[0] = 4;
		op->argvlen[1] = strlen(cache_script);
	}
	op->sent_us = util_mono_us();
	if (rconn_command_argv(c->ac, on_script, op, op->argc, op->argv,
	    op->argvlen) != 0)
		return -1;
	if (c->sentinel == NULL)
		return 0;
	op->outstanding++;
	/* In the same pipeline: the reply says whether a replica has it. */
	if (rconn_command(c->ac, on_wait, op, "WAIT 1 %d",
	    CACHE_WAIT_TIMEOUT_MS) == 0)
		op->outstanding++;
	else
		op->nowait = 1;
	return 0;
}

/*
 * Append the concatenation of up to three strings (NULL: none) to op's
 * arguments, copied into op->args: -1 when it does not fit, which
 * build_script's sizing rules out.
 */
static int
arg_cat(struct op *op, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t n, i, start = op->args_len;
	char *o = op->args + op->args_len;

	for (i = 0; i < 3; i++) {
		if (parts[i] == NULL)
			continue;
		n = strlen(parts[i]);
		if (n >= op->args_cap - (size_t)(o - op->args))
			return -1;
		memcpy(o, parts[i], n);
		o += n;
	}
	*o++ = '\0';
	op->argv[op->argc] = op->args + start;
	op->argvlen[op->argc++] = (size_t)(o - op->args) - start - 1;
	op->args_len = (size_t)(o - op->args);
	return 0;
}

static int
arg_str(struct op *op, const char *s)
{
	return arg_cat(op, s, NULL, NULL);
}

/* Append the key base+suffix+name. */
static int
arg_key(struct op *op, const char *base, const char *suffix,
    const char *name)
{
	return arg_cat(op, base, suffix, name);
}

/*
 * Append s itself, a literal or the event's value, not a copy: the
 * values are most of a write's bytes, and the event lives until the
 * operation's done.
 */
static void
arg_ref(struct op *op, const char *s)
{
	op->argv[op->argc] = s;
	op->argvlen[op->argc++] = strlen(s);
}

/*
 * Build EVALSHA sha nkeys entity customer key... W version ttl mode
 * value...: ENTITLEMENTS writes the entity key, its metadata key and one
 * usage key per metered feature; USAGE writes one usage key, and only for
 * a cached entity.  PURGE is EVALSHA sha 2 entity customer P version
 * marker-ttl.
 */
static int
build_script(struct op *op, const struct event *ev, const char *base,
    const char *customer)
{
	struct cache *c = op->c;
	size_t nwrite, nargs, cap, i, lb = strlen(base);
	char num[32], *block;
	int mode;

	if (ev->kind == EVENT_PURGE)
		nwrite = 0;
	else if (ev->kind == EVENT_ENTITLEMENTS)
		nwrite = 2 + ev->nusage;
	else
		nwrite = 1;
	mode = ev->kind == EVENT_USAGE || c->cfg->cache_update_policy ==
	    CONFIG_POLICY_UPDATE_IF_EXISTS;
	/*
	 * One block: the vector, the lengths, and room for the copies: the
	 * SHA, two numbers, the keys (base, customer, and base with a
	 * suffix, each with its NUL) and the short literals.
	 */
	nargs = 9 + 2 * nwrite;
	cap = strlen(c->sha) + 1 + 2 * sizeof(num) + 2 * (lb + 1) +
	    strlen(customer) + 1 + lb + sizeof(":metadata");
	if (ev->kind == EVENT_ENTITLEMENTS)
		for (i = 0; i < ev->nusage; i++)
			cap += lb + 3 + strlen(ev->usage[i].feature_id) + 1;
	else if (ev->kind == EVENT_USAGE)
		cap += lb + 3 + strlen(ev->feature_id) + 1;
	if ((block = malloc(nargs * (sizeof(*op->argv) +
	    sizeof(*op->argvlen)) + cap)) == NULL)
		return -1;
	op->argv = (const char **)(void *)block;
	op->argvlen = (size_t *)(void *)(block + nargs * sizeof(*op->argv));
	op->args = block + nargs * (sizeof(*op->argv) + sizeof(*op->argvlen));
	op->args_cap = cap;
	op->args_len = 0;
	snprintf(num, sizeof(num), "%zu", nwrite + 2);
	arg_ref(op, "EVALSHA");
	if (arg_str(op, c->sha) || arg_str(op, num) || arg_str(op, base) ||
	    arg_str(op, customer))
		return -1;
	if (ev->kind == EVENT_ENTITLEMENTS) {
		if (arg_str(op, base) || arg_key(op, base, ":metadata", NULL))
			return -1;
		for (i = 0; i < ev->nusage; i++)
			if (arg_key(op, base, ":f_", ev->usage[i].feature_id))
				return -1;
	} else if (ev->kind == EVENT_USAGE &&
	    arg_key(op, base, ":f_", ev->feature_id))
		return -1;
	snprintf(num, sizeof(num), "%lld", (long long)ev->version_ms);
	if (ev->kind == EVENT_PURGE) {
		arg_ref(op, "P");
		if (arg_str(op, num))
			return -1;
		arg_ref(op, CACHE_PURGED_TTL);
		return 0;
	}
	arg_ref(op, "W");
	if (arg_str(op, num))
		return -1;
	arg_ref(op, c->ttl);
	arg_ref(op, mode ? "1" : "0");
	if (ev->kind == EVENT_ENTITLEMENTS) {
		arg_ref(op, ev->entitlements_json);
		arg_ref(op, ev->metadata_json);
		for (i = 0; i < ev->nusage; i++)
			arg_ref(op, ev->usage[i].json);
	} else
		arg_ref(op, ev->usage_json);
	return 0;
}

static void	purge_scan(struct op *);
static void	on_wait(struct rconn *, void *, void *);

/*
 * An invalidation's last UNLINK is in.  In Sentinel mode it counts, as a
 * write does, only once a replica has it: one WAIT covers every UNLINK
 * sent before it on the connection.
 */
static void
invalidate_done(struct op *op, const char *detail)
{
	struct cache *c = op->c;

	c->last_ok_ms = util_now_ms();
	if (c->sentinel == NULL) {
		op_finish(op, CACHE_APPLIED, detail);
		return;
	}
	op->result = CACHE_APPLIED;
	snprintf(op->detail, sizeof(op->detail), "%s", detail);
	op->ended = 1;
	op->outstanding = 1;
	if (c->ac == NULL || rconn_command(c->ac, on_wait, op,
	    "WAIT 1 %d", CACHE_WAIT_TIMEOUT_MS) != 0) {
		op->outstanding = 0;
		op_finish(op, CACHE_FAILED, "redis: WAIT: cannot send the "
		    "command");
	}
}

/* A purge marker, "<entity>#purged" (see the script). */
static int
is_marker(const char *k, size_t len)
{
	static const char suffix[] = "#purged";

	return len >= sizeof(suffix) - 1 &&
	    memcmp(k + len - (sizeof(suffix) - 1), suffix,
	    sizeof(suffix) - 1) == 0;
}

static void
on_purge_unlink(struct rconn *ac, void *reply, void *arg)
{
	struct op *op = arg;
	redisReply *r = reply;
	char detail[160];

	(void)ac;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		op_finish(op, reply_error(op->c, r, detail, sizeof(detail)),
		    detail);
		return;
	}
	op->removed += (int)r->integer;
	if (strcmp(op->cursor, "done") == 0) {
		snprintf(detail, sizeof(detail), "%d keys removed",
		    op->removed);
		invalidate_done(op, detail);
		return;
	}
	purge_scan(op);
}

static void
on_purge_scan(struct rconn *ac, void *reply, void *arg)
{
	struct op *op = arg;
	redisReply *r = reply, *keys;
	const char **argv;
	size_t *argvlen, i, n;
	char detail[160];

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		if (r != NULL && r->type != REDIS_REPLY_ERROR) {
			snprintf(detail, sizeof(detail),
			    "redis: SCAN: unexpected reply");
			op_finish(op, CACHE_REFUSED, detail);
		} else
			op_finish(op, reply_error(op->c, r, detail,
			    sizeof(detail)), detail);
		return;
	}
	snprintf(op->cursor, sizeof(op->cursor), "%s",
	    strcmp(r->element[0]->str, "0") == 0 ? "done" : r->element[0]->str);
	keys = r->element[1];
	/*
	 * Purge markers stay: an invalidation is not a purge, and without
	 * its marker a purged customer would come back with a late update.
	 */
	for (i = n = 0; i < keys->elements; i++)
		if (keys->element[i]->type == REDIS_REPLY_STRING &&
		    !is_marker(keys->element[i]->str, keys->element[i]->len))
			n++;
	if (n == 0) {
		if (strcmp(op->cursor, "done") == 0) {
			snprintf(detail, sizeof(detail), "%d keys removed",
			    op->removed);
			invalidate_done(op, detail);
		} else
			purge_scan(op);
		return;
	}
	argv = calloc(n + 1, sizeof(*argv));
	argvlen = calloc(n + 1, sizeof(*argvlen));
	if (argv == NULL || argvlen == NULL) {
		free(argv);
		free(argvlen);
		op_finish(op, CACHE_FAILED, "out of memory");
		return;
	}
	argv[0] = "UNLINK";
	argvlen[0] = 6;
	for (i = 0, n = 1; i < keys->elements; i++) {
		if (keys->element[i]->type != REDIS_REPLY_STRING ||
		    is_marker(keys->element[i]->str, keys->element[i]->len))
			continue;
		argv[n] = keys->element[i]->str;
		argvlen[n++] = keys->element[i]->len;
	}
	if (rconn_command_argv(ac, on_purge_unlink, op, (int)n, argv,
	    argvlen) != 0)
		op_finish(op, CACHE_FAILED, "redis: not connected");
	free(argv);
	free(argvlen);
}

static void
purge_scan(struct op *op)
{
	struct cache *c = op->c;

	if (c->state != CONN_UP || c->ac == NULL ||
	    rconn_command(c->ac, on_purge_scan, op,
	    "SCAN %s MATCH %s COUNT " CACHE_SCAN_COUNT, op->cursor,
	    op->match) != 0)
		op_finish(op, CACHE_FAILED, "redis: not connected");
}

/*
 * INVALIDATE_ALL: SCAN every customer of the environment and UNLINK what
 * is found, a chunk per round trip.
 */
static int
start_invalidate(struct op *op)
{
	snprintf(op->cursor, sizeof(op->cursor), "0");
	if ((op->match = strdup(op->c->scan_all)) == NULL)
		return -1;
	purge_scan(op);
	return 0;
}

void
cache_apply(struct cache *c, const struct event *ev, cache_done_fn done,
    void *arg)
{
	struct op *op;
	char *base = NULL, *customer = NULL;
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
	if (!usable(c)) {
		op_finish(op, CACHE_FAILED, c->reason[0] ? c->reason :
		    "redis: not connected");
		return;
	}
	if (ev->kind != EVENT_INVALIDATE_ALL && ((base = cache_key(
	    c->cfg->environment_prefix, ev->customer_id,
	    ev->resource_id)) == NULL || (customer = cache_key(
	    c->cfg->environment_prefix, ev->customer_id, NULL)) == NULL)) {
		free(base);
		op_finish(op, CACHE_FAILED, "out of memory");
		return;
	}
	switch (ev->kind) {
	case EVENT_ENTITLEMENTS:
	case EVENT_USAGE:
	case EVENT_PURGE:
		op->kind = ev->kind == EVENT_PURGE ? OP_PURGE : OP_WRITE;
		r = build_script(op, ev, base, customer);
		if (r == 0)
			r = op_send_script(op, 0);
		break;
	case EVENT_INVALIDATE_ALL:
		op->kind = OP_INVALIDATE;
		r = start_invalidate(op);
		break;
	default:
		op_finish(op, CACHE_SKIPPED, "nothing to write");
		r = 0;
		break;
	}
	free(base);
	free(customer);
	if (r == -1)
		op_finish(op, CACHE_FAILED, "redis: cannot send the command");
}

/*
 * The connection's name, "persistent-cache-service:<hostname>:<slot>", so
 * that CLIENT LIST tells which machine and consumer a connection is.  A
 * name may not hold spaces (Redis refuses it): anything but printable
 * ASCII other than a space becomes '_'.
 */
static void
client_name(char *buf, size_t len, int slot)
{
	char host[64];
	size_t i;

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] <= ' ' || host[i] > '~')
			host[i] = '_';
	snprintf(buf, len, "%s:%s:%d", CACHE_CLIENT_NAME,
	    host[0] ? host : "unknown", slot);
}

struct cache *
cache_new(struct ev_loop *loop, const struct config *cfg, int slot,
    cache_state_fn state_fn, void *arg, char *err, size_t errlen)
{
	struct cache *c;
	unsigned char md[SHA_DIGEST_LENGTH];
	char *esc;
	int i;

	snprintf(err, errlen, "out of memory");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->cfg = cfg;
	c->state_fn = state_fn;
	c->state_arg = arg;
	client_name(c->name, sizeof(c->name), slot);
	snprintf(c->reason, sizeof(c->reason), "redis: connecting");
	SHA1((const unsigned char *)cache_script, strlen(cache_script), md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(c->sha + 2 * i, 3, "%02x", md[i]);
	snprintf(c->ttl, sizeof(c->ttl), "%lld",
	    cfg->keys_ttl > 0 ? cfg->keys_ttl : 0);
	if ((esc = cache_glob_escape(cfg->environment_prefix)) == NULL ||
	    (c->scan_all = concat(esc, ":c_*", NULL, NULL, NULL)) == NULL ||
	    (c->probe_key = concat(cfg->environment_prefix, CACHE_PROBE_KEY,
	    NULL, NULL, NULL)) == NULL) {
		free(esc);
		free(c->scan_all);
		free(c);
		return NULL;
	}
	free(esc);
	c->host = cfg->redis_host;
	c->port = cfg->redis_port;
	if (cfg->redis_tls && (c->tls = rconn_tls_new(cfg, err,
	    errlen)) == NULL) {
		free(c->scan_all);
		free(c->probe_key);
		free(c);
		return NULL;
	}
	if (cfg->nsentinels > 0 && (c->sentinel = sentinel_new(loop, cfg,
	    c->tls, on_moved, c)) == NULL) {
		rconn_tls_free(c->tls);
		free(c->scan_all);
		free(c->probe_key);
		free(c);
		return NULL;
	}
	backoff_init(&c->backoff, CACHE_BACKOFF_MIN_MS, CACHE_BACKOFF_MAX_MS);
	ev_timer_init(&c->timer, on_timer, 0., 0.);
	c->timer.data = c;
	ev_timer_init(&c->ping_timer, on_ping_timer, 0., CACHE_PING_INTERVAL);
	c->ping_timer.data = c;
	ev_prepare_init(&c->deliver, on_deliver);
	c->deliver.data = c;
	/*
	 * The first connect starts from the loop: an attempt that fails at
	 * once (no thread for the lookup) reports through state_fn, and the
	 * caller must have its cache pointer by then.
	 */
	c->state = CONN_DOWN;
	ev_timer_set(&c->timer, 0., 0.);
	ev_timer_start(loop, &c->timer);
	return c;
}

void
cache_free(struct cache *c)
{
	struct rconn *ac;

	if (c == NULL)
		return;
	c->closing = 1;
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->ping_timer);
	/* A lookup's thread may go on: it never touches c (resolve.c). */
	resolve_cancel(c->lookup);
	c->lookup = NULL;
	sentinel_free(c->sentinel);
	c->sentinel = NULL;
	if ((ac = c->ac) != NULL) {
		/* Pending replies' callbacks run now, with NULL: FAILED. */
		c->ac = NULL;
		rconn_free(ac);
	}
	/* Completions are dropped unannounced: the caller is going away. */
	while (c->done_head != NULL) {
		struct op *op = c->done_head;

		c->done_head = op->next;
		op_free(op);
	}
	ev_prepare_stop(c->loop, &c->deliver);
	rconn_tls_free(c->tls);
	free(c->scan_all);
	free(c->probe_key);
	free(c);
}

int
cache_is_up(const struct cache *c)
{
	return usable(c);
}

int
cache_connected(const struct cache *c)
{
	return c->state == CONN_UP && c->ac != NULL;
}

int
cache_primary_known(const struct cache *c)
{
	return c->sentinel == NULL || c->primary_known;
}

void
cache_set_counters(struct cache *c, struct metrics_counters *mc)
{
	c->mc = mc;
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
