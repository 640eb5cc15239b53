/*
 * cache: the Redis writer.  Owns the consumer's Redis connection (hiredis
 * async on the consumer's loop: connect, AUTH, SELECT, a PING every
 * second, reconnect with backoff) and turns events into writes in the
 * layout of spec/redis-layout.md.  Every write of an event is one EVALSHA
 * of a version-checked Lua script: one round trip, atomic, and never
 * older data over newer.
 */
#ifndef PCS_CACHE_H
#define PCS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "events.h"

struct ev_loop;
struct cache;

enum cache_result {
	CACHE_APPLIED,		/* written (or purged) */
	CACHE_SKIPPED,		/* nothing to do: older data, or not cached */
	CACHE_FAILED		/* Redis down or erroring: try again later */
};

/* Called on every change of the connection's usability. */
typedef void (*cache_state_fn)(void *arg, int up, const char *reason);
/* Called exactly once per cache_apply, never from inside cache_apply. */
typedef void (*cache_done_fn)(void *arg, enum cache_result r,
	    const char *detail);

struct cache *cache_new(struct ev_loop *loop, const struct config *cfg,
	    cache_state_fn state_fn, void *arg);
/* Close the connection; pending operations complete as CACHE_FAILED. */
void	cache_free(struct cache *c);
int	cache_is_up(const struct cache *c);
uint64_t cache_last_ok_ms(const struct cache *c);	/* wall clock */
uint64_t cache_errors(const struct cache *c);
/* Operations sent and not yet answered. */
size_t	cache_pending(const struct cache *c);

/* Apply ev (ENTITLEMENTS, USAGE, PURGE or INVALIDATE_ALL). */
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

/* The Lua script every write runs, for the tests that run it directly. */
extern const char cache_script[];

#endif
