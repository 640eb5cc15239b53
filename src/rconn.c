/*
 * rconn: an asynchronous Redis connection, plain or TLS, on a libev loop
 * (the contract is in rconn.h).
 *
 * States: CONNECTING (the nonblocking connect, the write watcher waits for
 * it) -> HANDSHAKE (TLS only: SSL_connect, on whichever watcher OpenSSL
 * wants) -> CONNECTED (the read watcher always on, the write watcher while
 * output is queued) -> DEAD (the socket closed, callbacks being told).
 *
 * Output is formatted by hiredis into one buffer and written as the
 * socket takes it; input is fed to hiredis's reader and each complete
 * reply goes to the oldest callback.  OpenSSL over a nonblocking socket
 * may need the other direction to progress (a read that must first
 * write, a write that must first read): the want_* flags remember it and
 * the other watcher's event retries.  A TLS read loops until OpenSSL
 * wants more from the socket, since records it has already decrypted
 * raise no event.
 *
 * User callbacks may free the connection: depth counts the callbacks
 * running, and a free asked meanwhile happens when the outermost returns.
 * Nothing here calls back from inside rconn_command, rconn_disconnect or
 * rconn_free's caller's frame except rconn_free's NULL replies (as
 * hiredis's redisAsyncFree).
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "rconn.h"

/* TCP keepalive as hiredis sets it: probes after 15 s idle, 3 of them. */
#define RCONN_KEEPIDLE	15
#define RCONN_KEEPINTVL	5
#define RCONN_KEEPCNT	3
#define RCONN_READ_SIZE	16384
#define RCONN_KEEP_BUF	65536	/* output buffer kept between writes */
/*
 * Queued commands past this many bytes are sent at once rather than on
 * the next turn of the loop: a consumer that applies a few hundred
 * messages in one callback hands them to the kernel as it goes, instead
 * of holding them all twice (formatted here and as events) until then.
 */
#define RCONN_EAGER_BYTES 16384

struct rconn_tls {
	SSL_CTX		*ctx;
	int		 verify;
};

enum rstate {
	RC_CONNECTING,
	RC_HANDSHAKE,
	RC_CONNECTED,
	RC_DEAD
};

struct rcb {
	rconn_reply_fn	 fn;
	void		*arg;
	int		 sticky;	/* the subscription: every reply */
	struct rcb	*next;
};

struct rconn {
	struct ev_loop		*loop;
	int			 fd;
	SSL			*ssl;		/* NULL: plain TCP */
	ev_io			 rio, wio;
	enum rstate		 state;
	int			 disconnecting;
	int			 subscribed;
	int			 depth;		/* user callbacks running */
	int			 free_asked;
	int			 read_wants_write;
	int			 write_wants_read;
	int			 send_full;	/* send_some met EAGAIN */
	redisReader		*reader;
	char			*obuf;
	size_t			 olen, ooff, ocap;
	struct rcb		*head, *tail;
	rconn_connect_fn	 on_connect;
	rconn_disconnect_fn	 on_disconnect;
	void			*data;
	char			 errstr[256];
};

/* --- TLS context --- */

/* The key's passphrase, given to OpenSSL while the key is read. */
static int
passphrase_cb(char *buf, int size, int rwflag, void *userdata)
{
	const char *pass = userdata;
	size_t n;

	(void)rwflag;
	if (pass == NULL || size <= 0)
		return 0;
	n = strlen(pass);
	if (n > (size_t)size)
		return 0;
	memcpy(buf, pass, n);
	return (int)n;
}

/*
 * OpenSSL's first reason, the cause ("bad decrypt" under "PEM lib"), ""
 * when it gave none; the queue is emptied.
 */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : "";
}


/* The loaders of the TLS files, one signature for the table below. */
static int
load_ca_file(SSL_CTX *ctx, const char *path)
{
	return SSL_CTX_load_verify_locations(ctx, path, NULL);
}

static int
load_ca_dir(SSL_CTX *ctx, const char *path)
{
	return SSL_CTX_load_verify_locations(ctx, NULL, path);
}

static int
load_key(SSL_CTX *ctx, const char *path)
{
	return SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM);
}

/*
 * Load one file (path NULL: not set) with fn: 0, or -1 with err naming
 * the setting, the file and OpenSSL's reason ("bad decrypt", "key values
 * mismatch", "no certificate or crl found": never the passphrase).
 */
static int
load_file(SSL_CTX *ctx, const struct config *cfg, const char *what,
    const char *path, int (*fn)(SSL_CTX *, const char *), char *err,
    size_t errlen)
{
	const char *reason;

	if (path == NULL)
		return 0;
	if (access(path, R_OK) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fn(ctx, path) == 1)
		return 0;
	reason = ssl_reason();
	snprintf(err, errlen, "%s %s: %s%s", what, path,
	    reason[0] ? reason : "cannot be used",
	    strcmp(reason, "bad decrypt") == 0 &&
	    cfg->redis_tls_key_passphrase == NULL ? " (an encrypted key: "
	    "set redis_tls_key_passphrase)" : "");
	return -1;
}

struct rconn_tls *
rconn_tls_new(const struct config *cfg, char *err, size_t errlen)
{
	const struct {
		const char	*what;
		const char	*path;
		int		(*fn)(SSL_CTX *, const char *);
	} files[] = {
		{ "redis_tls_ca_file (REDIS_TLS_CA_FILE)",
		    cfg->redis_tls_ca_file, load_ca_file },
		{ "redis_tls_ca_dir (REDIS_TLS_CA_DIR)",
		    cfg->redis_tls_ca_dir, load_ca_dir },
		{ "redis_tls_cert_file (REDIS_TLS_CERT_FILE)",
		    cfg->redis_tls_cert_file, SSL_CTX_use_certificate_chain_file },
		{ "redis_tls_key_file (REDIS_TLS_KEY_FILE)",
		    cfg->redis_tls_key_file, load_key }
	};
	struct rconn_tls *t;
	SSL_CTX *ctx;
	size_t i;
	int rc = 0;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "redis: TLS: out of memory");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		free(t);
		snprintf(err, errlen, "redis: TLS: cannot make a context: %s",
		    ssl_reason());
		return NULL;
	}
	t->ctx = ctx;
	t->verify = cfg->redis_tls_verify;
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/*
	 * OpenSSL 3 calls a close without close_notify an error; a Redis
	 * that died reads as "Server closed the connection" as over TCP
	 * (the reply parser still sees a reply cut short).
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_verify(ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	/* The key's passphrase is handed over only while the files load. */
	SSL_CTX_set_default_passwd_cb(ctx, passphrase_cb);
	SSL_CTX_set_default_passwd_cb_userdata(ctx,
	    cfg->redis_tls_key_passphrase);
	for (i = 0; i < sizeof(files) / sizeof(files[0]) && rc == 0; i++)
		rc = load_file(ctx, cfg, files[i].what, files[i].path,
		    files[i].fn, err, errlen);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	if (rc == 0 && cfg->redis_tls_ca_file == NULL &&
	    cfg->redis_tls_ca_dir == NULL &&
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "redis: TLS: the system trust store: %s",
		    ssl_reason());
		rc = -1;
	}
	/* OpenSSL 1.1.1 may take a key that is not the certificate's. */
	if (rc == 0 && cfg->redis_tls_key_file != NULL &&
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "redis_tls_key_file (REDIS_TLS_KEY_FILE) "
		    "%s: does not match redis_tls_cert_file %s",
		    cfg->redis_tls_key_file, cfg->redis_tls_cert_file != NULL ?
		    cfg->redis_tls_cert_file : "(none)");
		rc = -1;
	}
	ERR_clear_error();
	if (rc == -1) {
		rconn_tls_free(t);
		return NULL;
	}
	return t;
}

int
rconn_tls_check(const struct config *cfg, char *err, size_t errlen)
{
	struct rconn_tls *t;

	if (!cfg->redis_tls)
		return 0;
	if ((t = rconn_tls_new(cfg, err, errlen)) == NULL)
		return -1;
	rconn_tls_free(t);
	return 0;
}

void
rconn_tls_free(struct rconn_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* --- the connection's end --- */

static void
set_err(struct rconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(struct rconn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errstr[0] != '\0')
		return;		/* the first reason is the one that counts */
	va_start(ap, fmt);
	vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
	va_end(ap);
}

static void
close_socket(struct rconn *c)
{
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->state = RC_DEAD;
}

static void
destroy(struct rconn *c)
{
	struct rcb *cb;

	close_socket(c);
	while ((cb = c->head) != NULL) {
		c->head = cb->next;
		free(cb);
	}
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	free(c->obuf);
	free(c);
}

/* Every reply still due gets NULL, oldest first. */
static void
fail_pending(struct rconn *c)
{
	struct rcb *cb;

	c->depth++;
	while ((cb = c->head) != NULL) {
		c->head = cb->next;
		if (c->head == NULL)
			c->tail = NULL;
		cb->fn(c, NULL, cb->arg);
		free(cb);
	}
	c->depth--;
}

/*
 * The end of a connection (from an I/O event, never inside a user
 * callback): the replies due get NULL, the connect or disconnect
 * callback is told, and the connection is freed.
 */
static void
finish(struct rconn *c, int status)
{
	enum rstate was = c->state;

	close_socket(c);
	if (was == RC_CONNECTING || was == RC_HANDSHAKE) {
		c->depth++;
		c->on_connect(c, -1);
		c->depth--;
		fail_pending(c);
	} else {
		fail_pending(c);
		if (!c->free_asked && c->on_disconnect != NULL) {
			c->depth++;
			c->on_disconnect(c, status);
			c->depth--;
		}
	}
	destroy(c);
}

static void
fail(struct rconn *c)
{
	set_err(c, "connection failed");
	finish(c, -1);
}

/* After a user callback: 1 when the connection was freed meanwhile. */
static int
freed_in_callback(struct rconn *c)
{
	if (!c->free_asked || c->depth > 0)
		return 0;
	close_socket(c);
	fail_pending(c);
	destroy(c);
	return 1;
}

/* --- TLS errors --- */

/* Why an SSL call that returned ret failed, into c->errstr. */
static void
tls_failed(struct rconn *c, int ret, int err, int saved_errno)
{
	long v;
	const char *r;

	switch (err) {
	case SSL_ERROR_ZERO_RETURN:
		set_err(c, "Server closed the connection");
		break;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (ret == 0 || saved_errno == 0)
			set_err(c, "%s", c->state == RC_HANDSHAKE ?
			    "TLS: connection closed during the handshake" :
			    "Server closed the connection");
		else
			set_err(c, "TLS: %s", strerror(saved_errno));
		break;
	default:
		/*
		 * The chain's verdict is kept with verification off too:
		 * it is the cause only when it was enforced.
		 */
		v = SSL_get_verify_result(c->ssl);
		if (c->state == RC_HANDSHAKE && v != X509_V_OK &&
		    SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE) {
			ERR_clear_error();
			set_err(c, "TLS: certificate verify failed: %s",
			    X509_verify_cert_error_string(v));
			break;
		}
		r = ssl_reason();
		/* A plain Redis answers the ClientHello with "-ERR ...". */
		set_err(c, "TLS: %s%s", r[0] ? r : "error",
		    strcmp(r, "wrong version number") == 0 ||
		    strcmp(r, "packet length too long") == 0 ?
		    " (is the server speaking TLS on this port?)" : "");
		break;
	}
}

/* --- I/O --- */

static void
want_write(struct rconn *c, int on)
{
	if (on)
		ev_io_start(c->loop, &c->wio);
	else
		ev_io_stop(c->loop, &c->wio);
}

/* No reply is due but the subscription's, which never ends. */
static int
idle(const struct rconn *c)
{
	return c->head == NULL || (c->head->sticky && c->head->next == NULL);
}

/* Hand every complete reply to its callback.  -1: the connection ended. */
static int
dispatch(struct rconn *c)
{
	struct rcb *cb;
	void *reply;

	while (c->state == RC_CONNECTED && !c->free_asked) {
		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
			set_err(c, "Protocol error: %s", c->reader->errstr);
			fail(c);
			return -1;
		}
		if (reply == NULL)
			break;
		if ((cb = c->head) == NULL) {
			/*
			 * A reply nobody asked for: an error the server sends
			 * as it closes ("-ERR max number of clients
			 * reached"), or a server at fault.
			 */
			if (((redisReply *)reply)->type == REDIS_REPLY_ERROR)
				set_err(c, "%.200s", ((redisReply *)reply)->str);
			else
				set_err(c, "Protocol error: a reply to no "
				    "command");
			freeReplyObject(reply);
			fail(c);
			return -1;
		}
		if (!cb->sticky) {
			c->head = cb->next;
			if (c->head == NULL)
				c->tail = NULL;
		}
		c->depth++;
		cb->fn(c, reply, cb->arg);
		c->depth--;
		freeReplyObject(reply);
		if (!cb->sticky)
			free(cb);
		if (freed_in_callback(c))
			return -1;
	}
	if (c->free_asked)
		return 0;	/* freed by the outer callback's return */
	if (c->disconnecting && idle(c)) {
		finish(c, 0);
		return -1;
	}
	return 0;
}

static int	do_write(struct rconn *);


/* Read what the socket has.  -1: the connection ended. */
static int
do_read(struct rconn *c)
{
	char buf[RCONN_READ_SIZE];
	ssize_t n;
	int e, saved;

	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			n = SSL_read(c->ssl, buf, sizeof(buf));
			if (n <= 0) {
				saved = errno;
				e = SSL_get_error(c->ssl, (int)n);
				if (e == SSL_ERROR_WANT_READ)
					return 0;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->read_wants_write = 1;
					want_write(c, 1);
					return 0;
				}
				tls_failed(c, (int)n, e, saved);
				fail(c);
				return -1;
			}
		} else {
			n = read(c->fd, buf, sizeof(buf));
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR))
				return 0;
			if (n <= 0) {
				if (n == 0)
					set_err(c, "Server closed the "
					    "connection");
				else
					set_err(c, "%s", strerror(errno));
				fail(c);
				return -1;
			}
		}
		if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
			set_err(c, "Protocol error: %s", c->reader->errstr);
			fail(c);
			return -1;
		}
		if (dispatch(c) == -1)
			return -1;
		if (c->free_asked || c->state != RC_CONNECTED)
			return 0;
		/* A short plain read had all there was. */
		if (c->ssl == NULL && (size_t)n < sizeof(buf))
			return 0;
	}
}

/*
 * Send what is queued on a plain connection: 0 once all is sent, EAGAIN
 * when the socket is full (or the call interrupted), else its errno.
 */
static int
send_plain(struct rconn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EWOULDBLOCK || errno == EINTR ?
			    EAGAIN : errno;
		c->ooff += (size_t)n;
	}
	return 0;
}

/* Write what is queued.  -1: the connection ended. */
static int
do_write(struct rconn *c)
{
	ssize_t n;
	int e, saved;

	c->send_full = 0;
	if (c->ssl == NULL && (e = send_plain(c)) != 0) {
		if (e == EAGAIN) {
			want_write(c, 1);
			return 0;
		}
		set_err(c, "%s", strerror(e));
		fail(c);
		return -1;
	}
	/* TLS (a plain connection has sent it all by now). */
	while (c->ooff < c->olen) {
		ERR_clear_error();
		n = SSL_write(c->ssl, c->obuf + c->ooff,
		    (int)(c->olen - c->ooff));
		if (n <= 0) {
			saved = errno;
			e = SSL_get_error(c->ssl, (int)n);
			if (e == SSL_ERROR_WANT_WRITE) {
				want_write(c, 1);
				return 0;
			}
			if (e == SSL_ERROR_WANT_READ) {
				c->write_wants_read = 1;
				want_write(c, c->read_wants_write);
				return 0;
			}
			tls_failed(c, (int)n, e, saved);
			fail(c);
			return -1;
		}
		c->ooff += (size_t)n;
	}
	c->olen = c->ooff = 0;
	/* A big pipeline once is no reason to keep its buffer. */
	if (c->ocap > RCONN_KEEP_BUF) {
		free(c->obuf);
		c->obuf = NULL;
		c->ocap = 0;
	}
	want_write(c, c->read_wants_write);
	if (c->disconnecting && idle(c) && c->depth == 0) {
		finish(c, 0);
		return -1;
	}
	return 0;
}

static void
connected(struct rconn *c)
{
	c->state = RC_CONNECTED;
	ev_io_start(c->loop, &c->rio);
	want_write(c, 0);
	c->depth++;
	c->on_connect(c, 0);
	c->depth--;
	if (freed_in_callback(c))
		return;
	if (c->olen > c->ooff || c->disconnecting)
		want_write(c, 1);
}

static void
do_handshake(struct rconn *c)
{
	int r, e, saved;

	ERR_clear_error();
	if ((r = SSL_connect(c->ssl)) == 1) {
		connected(c);
		return;
	}
	saved = errno;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		want_write(c, 0);
		ev_io_start(c->loop, &c->rio);
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		ev_io_stop(c->loop, &c->rio);
		want_write(c, 1);
		return;
	}
	tls_failed(c, r, e, saved);
	finish(c, -1);
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == RC_HANDSHAKE) {
		do_handshake(c);
		return;
	}
	if (c->state != RC_CONNECTED)
		return;
	if (c->write_wants_read) {
		c->write_wants_read = 0;
		if (do_write(c) == -1)
			return;
	}
	(void)do_read(c);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn *c = w->data;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)loop;
	(void)revents;
	switch (c->state) {
	case RC_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err != 0) {
			set_err(c, "%s", strerror(err));
			finish(c, -1);
			return;
		}
		if (c->ssl == NULL) {
			connected(c);
			return;
		}
		c->state = RC_HANDSHAKE;
		do_handshake(c);
		return;
	case RC_HANDSHAKE:
		do_handshake(c);
		return;
	case RC_CONNECTED:
		if (c->read_wants_write) {
			c->read_wants_write = 0;
			if (do_read(c) == -1 || c->free_asked ||
			    c->state != RC_CONNECTED)
				return;
		}
		(void)do_write(c);
		return;
	default:
		return;
	}
}

/* --- connecting --- */

static void
set_socket_options(int fd)
{
	int on = 1, idle = RCONN_KEEPIDLE, intvl = RCONN_KEEPINTVL;
	int cnt = RCONN_KEEPCNT;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle,
	    sizeof(idle)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) == -1)
		log_warn("redis: TCP keepalive: %s", strerror(errno));
}

/* An address, not a name: SNI takes names only. */
static int
is_address(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 1];
	size_t n = strcspn(s, "%");

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &a4) == 1 ||
	    inet_pton(AF_INET6, buf, &a6) == 1;
}

/* The TLS session of a connection, checked against server_name. */
static int
tls_setup(struct rconn *c, struct rconn_tls *tls, const char *server_name,
    char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	int ok = 1;

	if ((c->ssl = SSL_new(tls->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(err, errlen, "TLS: %s", ssl_reason());
		return -1;
	}
	if (tls->verify && (server_name == NULL || server_name[0] == '\0')) {
		snprintf(err, errlen, "TLS: no server name to verify");
		return -1;
	}
	if (server_name != NULL && server_name[0] != '\0') {
		if (is_address(server_name)) {
			/* The certificate's IP addresses, without the zone. */
			snprintf(addr, sizeof(addr), "%.*s",
			    (int)strcspn(server_name, "%"), server_name);
			if (tls->verify)
				ok = X509_VERIFY_PARAM_set1_ip_asc(
				    SSL_get0_param(c->ssl), addr) == 1;
		} else {
			ok = SSL_set_tlsext_host_name(c->ssl,
			    server_name) == 1;
			if (ok && tls->verify)
				ok = SSL_set1_host(c->ssl, server_name) == 1;
		}
	}
	if (!ok) {
		snprintf(err, errlen, "TLS: server name %s: %s", server_name,
		    ssl_reason());
		return -1;
	}
	SSL_set_connect_state(c->ssl);
	return 0;
}

struct rconn *
rconn_connect(struct ev_loop *loop, const char *addr, int port,
    struct rconn_tls *tls, const char *server_name,
    rconn_connect_fn on_connect, rconn_disconnect_fn on_disconnect,
    void *data, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	struct rconn *c;
	char service[8];
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->reader = redisReaderCreate()) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->fd = -1;
	c->on_connect = on_connect;
	c->on_disconnect = on_disconnect;
	c->data = data;
	c->state = RC_CONNECTING;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	/* Numeric: answered at once, no resolver asked. */
	if ((rc = getaddrinfo(addr, service, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(rc));
		goto fail;
	}
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	set_socket_options(c->fd);
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	ai = NULL;
	if (tls != NULL && tls_setup(c, tls, server_name, err, errlen) == -1)
		goto fail;
	ev_io_init(&c->rio, on_read, c->fd, EV_READ);
	ev_io_init(&c->wio, on_write, c->fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	/* Connected or not, the write watcher says (SO_ERROR). */
	ev_io_start(loop, &c->wio);
	return c;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	destroy(c);
	return NULL;
}

void *
rconn_data(const struct rconn *c)
{
	return c->data;
}

int
rconn_handshaking(const struct rconn *c)
{
	return c->state == RC_HANDSHAKE;
}

const char *
rconn_errstr(const struct rconn *c)
{
	return c->errstr;
}

/* --- commands --- */

/*
 * Send what the socket takes now, leaving any error (and the rest) to the
 * write watcher: nothing is called back from here, so a caller queuing
 * commands is never re-entered.  Plain connections only: OpenSSL wants a
 * write it refused repeated as it was.
 */
static void
send_some(struct rconn *c)
{
	/* A socket found full stays so until the write watcher says. */
	if (c->send_full)
		return;
	if (send_plain(c) != 0)
		c->send_full = 1;
	else
		c->olen = c->ooff = 0;
}

/*
 * A command of len bytes about to be queued: its callback's record, and
 * room at the end of the output buffer.  NULL when either cannot be had
 * (and nothing changed).
 */
static struct rcb *
reserve(struct rconn *c, size_t len)
{
	struct rcb *cb;
	size_t need;
	char *p;

	if ((cb = malloc(sizeof(*cb))) == NULL)
		return NULL;
	if (c->ooff > 0 && c->ooff == c->olen)
		c->olen = c->ooff = 0;
	need = c->olen + len;
	if (need > c->ocap) {
		if ((p = realloc(c->obuf, need + 4096)) == NULL) {
			free(cb);
			return NULL;
		}
		c->obuf = p;
		c->ocap = need + 4096;
	}
	return cb;
}

/* The command just written at the end of the output buffer, queued. */
static int
queue(struct rconn *c, struct rcb *cb, rconn_reply_fn fn, void *arg,
    int sticky)
{
	cb->fn = fn;
	cb->arg = arg;
	cb->sticky = sticky;
	cb->next = NULL;
	if (c->tail != NULL)
		c->tail->next = cb;
	else
		c->head = cb;
	c->tail = cb;
	if (c->state == RC_CONNECTED)
		want_write(c, 1);
	if (c->state == RC_CONNECTED && c->ssl == NULL &&
	    c->olen - c->ooff >= RCONN_EAGER_BYTES)
		send_some(c);
	return 0;
}

static int
enqueue(struct rconn *c, rconn_reply_fn fn, void *arg, const char *cmd,
    size_t len, int sticky)
{
	struct rcb *cb;

	if ((cb = reserve(c, len)) == NULL)
		return -1;
	memcpy(c->obuf + c->olen, cmd, len);
	c->olen += len;
	return queue(c, cb, fn, arg, sticky);
}

/* The decimal digits of n. */
static size_t
digits(size_t n)
{
	size_t d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* prefix, n in decimal and CRLF at p: the bytes written. */
static size_t
put_count(char *p, char prefix, size_t n)
{
	size_t d = digits(n), i;

	p[0] = prefix;
	for (i = d; i > 0; i--) {
		p[i] = (char)('0' + n % 10);
		n /= 10;
	}
	p[d + 1] = '\r';
	p[d + 2] = '\n';
	return d + 3;
}

static int
can_send(const struct rconn *c)
{
	return c->state != RC_DEAD && !c->disconnecting && !c->subscribed &&
	    !c->free_asked;
}

int
rconn_command(struct rconn *c, rconn_reply_fn fn, void *arg,
    const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int len, rc;

	if (!can_send(c))
		return -1;
	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	rc = enqueue(c, fn, arg, cmd, (size_t)len, 0);
	redisFreeCommand(cmd);
	return rc;
}

size_t
rconn_format_argv(char *dst, int argc, const char **argv,
    const size_t *argvlen)
{
	size_t len, n;
	char *p = dst;
	int i;

	len = digits((size_t)argc) + 3;
	if (p != NULL)
		p += put_count(p, '*', (size_t)argc);
	for (i = 0; i < argc; i++) {
		n = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
		len += digits(n) + 3 + n + 2;
		if (p == NULL)
			continue;
		p += put_count(p, '$', n);
		if (n > 0)
			memcpy(p, argv[i], n);
		p += n;
		*p++ = '\r';
		*p++ = '\n';
	}
	return len;
}

int
rconn_command_argv(struct rconn *c, rconn_reply_fn fn, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct rcb *cb;
	size_t len;

	if (!can_send(c) || argc < 1)
		return -1;
	/*
	 * Written straight into the output buffer: hiredis'
	 * redisFormatCommandArgv takes a sprintf per argument and a copy,
	 * a tenth of a consumer's time at full speed.
	 */
	len = rconn_format_argv(NULL, argc, argv, argvlen);
	if ((cb = reserve(c, len)) == NULL)
		return -1;
	(void)rconn_format_argv(c->obuf + c->olen, argc, argv, argvlen);
	c->olen += len;
	return queue(c, cb, fn, arg, 0);
}

int
rconn_subscribe(struct rconn *c, rconn_reply_fn fn, void *arg,
    const char *channel)
{
	const char *argv[2] = { "SUBSCRIBE", channel };
	char *cmd;
	int len, rc;

	if (!can_send(c))
		return -1;
	if ((len = redisFormatCommandArgv(&cmd, 2, argv, NULL)) < 0)
		return -1;
	rc = enqueue(c, fn, arg, cmd, (size_t)len, 1);
	redisFreeCommand(cmd);
	if (rc == 0)
		c->subscribed = 1;
	return rc;
}

void
rconn_disconnect(struct rconn *c)
{
	if (c->state == RC_DEAD || c->disconnecting)
		return;
	c->disconnecting = 1;
	/*
	 * The end comes from the write watcher (a connected socket is
	 * writable) once no reply is due, never from inside the caller's
	 * frame.
	 */
	if (c->state == RC_CONNECTED)
		want_write(c, 1);
}

void
rconn_free(struct rconn *c)
{
	if (c == NULL)
		return;
	if (c->depth > 0) {
		c->free_asked = 1;
		close_socket(c);	/* nothing more comes in or goes out */
		return;
	}
	close_socket(c);
	fail_pending(c);
	destroy(c);
}
