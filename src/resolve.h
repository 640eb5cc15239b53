/*
 * resolve: host names to addresses without blocking the consumer's libev
 * loop.  getaddrinfo has no asynchronous form in glibc that works with
 * every NSS module, and hiredis 0.14 calls it inside redisAsyncConnect,
 * so a resolver that never answers would stop the loop (heartbeats
 * included) for as long as resolv.conf's timeouts add up to.  Here each
 * lookup of a name runs getaddrinfo in a detached thread of its own and
 * hands the result back to the loop; a numeric address (an IPv4 or IPv6
 * literal) needs no thread and is answered from the loop at once.
 */
#ifndef PCS_RESOLVE_H
#define PCS_RESOLVE_H

#include <stddef.h>

struct ev_loop;
struct resolve;

/* At most this many addresses of a name are kept, in getaddrinfo's order. */
#define RESOLVE_MAX_ADDRS	16
/* INET6_ADDRSTRLEN, "%", and an interface name (IF_NAMESIZE) for a zone. */
#define RESOLVE_ADDRSTRLEN	(46 + 1 + 16)

struct resolve_result {
	size_t	n;
	/* Numeric addresses ("127.0.0.1", "::1"), IPv6 and IPv4 mixed. */
	char	addr[RESOLVE_MAX_ADDRS][RESOLVE_ADDRSTRLEN];
};

/*
 * The answer: res with at least one address and err NULL, or res NULL
 * and err saying why ("Name or service not known", "no answer within
 * 5s").  Called exactly once per lookup, from the loop, never from
 * inside resolve_start; the lookup is freed when it returns, so the
 * caller forgets its pointer first.  res is valid during the call only.
 */
typedef void (*resolve_fn)(void *arg, const struct resolve_result *res,
	    const char *err);

/*
 * Look host up (TCP addresses, IPv6 and IPv4), answering through fn
 * within timeout seconds.  NULL, with the reason in err, when no lookup
 * could be started (out of memory, no thread or pipe to be had, too many
 * earlier lookups still waiting on the resolver).
 */
struct resolve *resolve_start(struct ev_loop *loop, const char *host,
	    double timeout, resolve_fn fn, void *arg, char *err,
	    size_t errlen);

/*
 * Abandon a lookup whose callback has not run: fn is never called.  A
 * thread still inside getaddrinfo finishes on its own and frees what it
 * shares with the loop; nothing of the caller's is touched after this.
 */
void	resolve_cancel(struct resolve *r);

/* 1 when host is an IPv4 or IPv6 literal (no lookup needed). */
int	resolve_is_numeric(const char *host);

#endif
