/*
 * sentinel: the discovery step of the Redis connection when Redis is run
 * by Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER).  cache.c asks for
 * the primary's address before every connection attempt; this module asks
 * the sentinels in turn (SENTINEL get-master-addr-by-name), keeps a
 * subscription to +switch-master on the sentinel that answered, and tells
 * cache.c when the primary moved, so that it drops the data connection and
 * asks again.  A lost subscription is replaced in the background; the data
 * connection is left alone unless the primary has changed meanwhile.
 */
#ifndef PCS_SENTINEL_H
#define PCS_SENTINEL_H

#include <stddef.h>

struct ev_loop;
struct config;
struct sentinel;
struct rconn_tls;

/*
 * A discovery's answer: host (a name or address, no brackets) and port of
 * the primary and err NULL, or host NULL and err the reason, a line for
 * readiness ("redis: sentinel: no sentinel knows master 'mymaster'",
 * "redis: sentinel: 127.0.0.1:26379: connection refused").  Called once
 * per sentinel_discover, from the loop, never from inside it.
 */
typedef void (*sentinel_found_fn)(void *arg, const char *host, int port,
	    const char *err);

/*
 * The primary moved (a +switch-master for our master's name, or a
 * background discovery that found another address than the last one):
 * why says so, for the log.
 */
typedef void (*sentinel_moved_fn)(void *arg, const char *why);

/* tls (NULL: plain TCP) is the caller's and outlives the sentinel. */
struct sentinel *sentinel_new(struct ev_loop *loop, const struct config *cfg,
	    struct rconn_tls *tls, sentinel_moved_fn moved, void *arg);
/* Closes every connection; a pending discovery's fn is never called. */
void	sentinel_free(struct sentinel *s);

/*
 * Ask the sentinels for the primary, the one that answered last first;
 * an earlier discovery still going is abandoned (its fn never called).
 */
void	sentinel_discover(struct sentinel *s, sentinel_found_fn fn,
	    void *arg);
/* Abandon a discovery in progress: its fn is never called. */
void	sentinel_cancel(struct sentinel *s);

/*
 * The answer to ROLE, for the handshake: 0 when reply (a redisReply) says
 * the server is a master, -1 with why otherwise ("is a replica of
 * 127.0.0.1:6380").  Pure.
 */
int	sentinel_role_is_master(const void *reply, char *why, size_t whylen);

/*
 * A +switch-master message ("<name> <old-ip> <old-port> <new-ip>
 * <new-port>"): 1 when it is about master, with the new address in
 * host/port; 0 when about another master; -1 when malformed.  Pure.
 */
int	sentinel_parse_switch(const char *msg, size_t len,
	    const char *master, char *host, size_t hostlen, int *port);

#endif
