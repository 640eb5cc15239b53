/*
 * rconn: one asynchronous Redis connection on a libev loop, plain TCP or
 * TLS (OpenSSL over the nonblocking socket), the transport being the
 * project's own so that TLS works with every hiredis the packages build
 * against (Debian 12's 0.14 has none).  hiredis does what it does well:
 * its reply reader and its command formatter (public API since 0.14).
 *
 * The contract follows hiredis's redisAsyncContext, which cache.c and
 * sentinel.c were written against:
 *  - rconn_connect starts a nonblocking connect to a numeric address (it
 *    never resolves a name) and, with TLS, the handshake after it; the
 *    connect callback then reports 0 (usable) or -1 (rconn_errstr says
 *    why: "Connection refused", "TLS: certificate verify failed:
 *    certificate has expired"), and after a -1 the connection is freed
 *    when the callback returns.  There is no timeout: the callers bound
 *    connect and handshake with their own timers and rconn_free.
 *  - Commands may be sent once connected, and are answered in order;
 *    each reply callback runs once, with the reply (freed when it
 *    returns) or with NULL when the connection goes away first.
 *  - The disconnect callback runs once, for a connection that had been
 *    connected, when it ends by itself: 0 after rconn_disconnect once
 *    the replies in flight are in, -1 on an error (rconn_errstr).  The
 *    replies still due have had their NULL first.  The connection is
 *    freed when it returns.
 *  - rconn_free ends the connection now: the replies still due get NULL,
 *    the disconnect callback is not called.  It may be called from any
 *    callback, of this connection too (the free is deferred until the
 *    callback returns).
 *  - rconn_subscribe sends SUBSCRIBE: its callback runs for the answer
 *    and then for every message; no other command may follow.
 * Every connection has TCP_NODELAY and TCP keepalive (probes after 15 s
 * idle, as hiredis).
 */
#ifndef PCS_RCONN_H
#define PCS_RCONN_H

#include <stddef.h>

struct ev_loop;
struct config;
struct rconn;
struct rconn_tls;

typedef void (*rconn_connect_fn)(struct rconn *, int status);
typedef void (*rconn_disconnect_fn)(struct rconn *, int status);
/* reply is a redisReply *, or NULL: the connection went away. */
typedef void (*rconn_reply_fn)(struct rconn *, void *reply, void *arg);

/*
 * The TLS settings of cfg (redis_tls_*) as one OpenSSL context, shared by
 * the connections made with it: the trust store (redis_tls_ca_file and
 * redis_tls_ca_dir, or the system's), TLS 1.2 or newer, the client
 * certificate and key (the key's passphrase from
 * redis_tls_key_passphrase), verification unless redis_tls_verify is off.
 * NULL with one line in err naming the setting ("redis_tls_key_file
 * /etc/x.key: bad decrypt") when a file cannot be used; never a secret.
 * Loading it is how -t checks the files.
 */
struct rconn_tls *rconn_tls_new(const struct config *cfg, char *err,
	    size_t errlen);
void	rconn_tls_free(struct rconn_tls *);
/*
 * With redis_tls on, load the TLS files as rconn_tls_new does and let
 * them go: 0, or -1 with its error.  0 at once with TLS off.  -t, the
 * start and every reload check them, so that a consumer never meets a
 * file it cannot use.
 */
int	rconn_tls_check(const struct config *cfg, char *err, size_t errlen);

/*
 * Connect to addr (numeric: "10.0.0.7", "::1", "fe80::1%eth0") and port.
 * With tls, the server's certificate must be valid for server_name (a
 * host name, checked and sent as SNI; or an address, checked against the
 * certificate's IP addresses); cfg's redis_tls_server_name, when set,
 * replaces it (the caller passes it).  data is the caller's
 * (rconn_data).  NULL with why in err when the connect fails at once.
 */
struct rconn *rconn_connect(struct ev_loop *loop, const char *addr, int port,
	    struct rconn_tls *tls, const char *server_name,
	    rconn_connect_fn on_connect, rconn_disconnect_fn on_disconnect,
	    void *data, char *err, size_t errlen);
void	*rconn_data(const struct rconn *);
/* 1 while the TLS handshake is in progress (the TCP connect is done). */
int	rconn_handshaking(const struct rconn *);
/* Why the connection failed, "" when it has not. */
const char *rconn_errstr(const struct rconn *);

/* 0, or -1 when the connection is failing, closing or subscribed. */
int	rconn_command(struct rconn *, rconn_reply_fn fn, void *arg,
	    const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/*
 * The command of argc arguments (argvlen[i] bytes each, or strlen when
 * argvlen is NULL; argc >= 1) in RESP, as redisFormatCommandArgv makes
 * it, at dst unless NULL: its length.
 */
size_t	rconn_format_argv(char *dst, int argc, const char **argv,
	    const size_t *argvlen);
int	rconn_command_argv(struct rconn *, rconn_reply_fn fn, void *arg,
	    int argc, const char **argv, const size_t *argvlen);
int	rconn_subscribe(struct rconn *, rconn_reply_fn fn, void *arg,
	    const char *channel);

/* End the connection once the replies in flight are in. */
void	rconn_disconnect(struct rconn *);
void	rconn_free(struct rconn *);

#endif
