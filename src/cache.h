/*
 * cache: the Redis writer.  Owns the consumer's Redis connection (rconn.c,
 * plain TCP or TLS, on the consumer's loop: the host resolved off the
 * loop, each of its addresses tried in turn, TCP keepalive, AUTH, CLIENT
 * SETNAME,
 * SELECT, SCRIPT LOAD, a write probe, a PING every second, reconnect
 * with backoff) and turns
 * events into writes in the layout of spec/redis-layout.md.  Every write
 * or purge of an entity is one EVALSHA of a version-checked Lua script:
 * one round trip, atomic, never older data over newer, and purges in the
 * same order (the entity's "#purged" marker).
 */
#ifndef PCS_CACHE_H
#define PCS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "events.h"
#include "metrics.h"

struct ev_loop;
struct cache;

enum cache_result {
	CACHE_APPLIED,		/* written (or purged) */
	CACHE_SKIPPED,		/* nothing to do: Redis has newer data (or
				   a newer purge) */
	CACHE_SKIPPED_UNCACHED,	/* nothing to do: the customer is not
				   cached (a usage update) */
	CACHE_FAILED,		/* no answer (Redis down, connection lost), or
				   Redis refusing every write (OOM, READONLY,
				   MISCONF, BUSY, LOADING): try again once the
				   state is up again */
	CACHE_REFUSED		/* Redis answered this write with another error
				   (an ACL denial of its keys...): again once
				   up, but one refused time after time is the
				   message's own trouble */
};

/*
 * Called on every change of the connection's usability.  up is 1 only
 * when connected, every handshake step (AUTH, SELECT, SCRIPT LOAD, the
 * write probe) passed, and Redis is not refusing writes; reason says why
 * not ("redis: SELECT 99: ERR DB index is out of range", "redis: refusing
 * writes: OOM command not allowed ...").  After a write failed with
 * CACHE_FAILED or CACHE_REFUSED, up=1 again means a retry may succeed.
 * The first attempt to connect starts from the loop, never from inside
 * cache_new, so state_fn never runs before cache_new has returned.
 */
typedef void (*cache_state_fn)(void *arg, int up, const char *reason);
/* Called exactly once per cache_apply, never from inside cache_apply. */
typedef void (*cache_done_fn)(void *arg, enum cache_result r,
	    const char *detail);

/*
 * slot, the consumer's, names the connection in CLIENT LIST
 * ("persistent-cache-service:<hostname>:<slot>").  NULL with why in err:
 * out of memory, or TLS files that cannot be used (rconn_tls_new's
 * error, a configuration error).
 */
struct cache *cache_new(struct ev_loop *loop, const struct config *cfg,
	    int slot, cache_state_fn state_fn, void *arg, char *err,
	    size_t errlen);
/* Close the connection; pending operations complete as CACHE_FAILED. */
void	cache_free(struct cache *c);
int	cache_is_up(const struct cache *c);
/* Connected and past the handshake (up, or up but refusing writes). */
int	cache_connected(const struct cache *c);
/* Sentinel mode: the sentinels named the primary; a fixed address: 1. */
int	cache_primary_known(const struct cache *c);
/*
 * Count into mc: Redis errors by kind, primary switches (Sentinel), the
 * time from each script's send to its reply.  mc NULL: no counting.
 */
void	cache_set_counters(struct cache *c, struct metrics_counters *mc);
uint64_t cache_last_ok_ms(const struct cache *c);	/* wall clock */
uint64_t cache_errors(const struct cache *c);
/* Operations sent and not yet answered. */
size_t	cache_pending(const struct cache *c);

/*
 * Apply ev (ENTITLEMENTS, USAGE, PURGE or INVALIDATE_ALL).  The values of
 * ev are sent as they are, not copied: ev must stay as it is until done
 * is called (or cache_free).
 */
void	cache_apply(struct cache *c, const struct event *ev,
	    cache_done_fn done, void *arg);

/*
 * Pure helpers, exported for the tests.  cache_key returns a malloc'd
 * "P:c_<customer>[:r_<resource>]" (NULL on allocation failure);
 * cache_glob_escape returns a malloc'd copy of s with the SCAN MATCH
 * metacharacters * ? [ ] \ escaped by a backslash.
 */
char	*cache_key(const char *prefix, const char *customer,
	    const char *resource);
char	*cache_glob_escape(const char *s);
/*
 * 1 when err, a Redis error reply, refuses writes for a reason of Redis's
 * own (its first word OOM, READONLY, MISCONF, BUSY, LOADING or NOPERM, or
 * an ACL denial inside a script): every write fails so until it passes.
 */
int	cache_error_refuses(const char *err);

/* The Lua script of every write and purge, for the tests that run it. */
extern const char cache_script[];

#endif
