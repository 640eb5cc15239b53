/*
 * httpc: libcurl's multi socket interface on the consumer's libev loop.
 * It owns the multi handle (and with it the keep-alive connection pool
 * and the DNS cache), a share handle for TLS sessions, one ev_io per
 * socket curl asks us to watch, the single ev_timer curl asks for, and one
 * easy handle per call in flight.  A finished call's easy handle is reset
 * and kept for the next call (as many as the pool has connections), not
 * freed: creating one costs more allocations than a request's own work.
 *
 * Completions are delivered in two steps so that callbacks may start,
 * cancel and free freely: first every finished transfer is taken out of
 * curl (curl_multi_info_read, then curl_multi_remove_handle and
 * curl_easy_reset at once, so curl holds nothing of it any more) and
 * moved to the done list; then the done list is drained one call at a
 * time.  A callback that cancels a call still on the done list just frees
 * it; one that frees the client leaves the last free() to the loop that
 * called it (struct util_reentry).  No user code ever runs inside a
 * curl callback.
 *
 * Signing is curl's (CURLOPT_AWS_SIGV4, at our X-Amz-Date) or
 * sigv4_sign's, decided once per client from the libcurl loaded (see
 * httpc.h).  Each response's Date header is kept, from curl's header
 * callback (curl_easy_header would need 7.83), for the signing clock's
 * correction.
 *
 * Secrets (SigV4 secret, session token) go to curl and sigv4_sign and
 * nowhere else: nothing here logs a request, and errors are curl's own
 * messages, which name hosts and ports but never headers or credentials.
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <ev.h>

#include "httpc.h"
#include "sigv4.h"
#include "util.h"

/*
 * A connect (TCP plus TLS) to SQS or the Edge API takes well under a
 * second; ten seconds means the network is broken, not slow, and leaves a
 * long poll's whole budget for the answer once connected.
 */
#define HTTPC_CONNECT_TIMEOUT_MS	10000L
/*
 * libcurl's receive buffer, allocated for each transfer while it runs (16
 * kB by default).  A consumer has up to receives_in_flight receives and
 * their deletes running at once, most of them waiting: 4 kB each saves
 * more than half a megabyte at full speed, and costs a read or two more
 * for a batch's answer, which write_cb gathers anyway.
 */
#define HTTPC_RECV_BUFFER		4096L
/* First allocation for a response body; most answers fit. */
#define HTTPC_BODY_CHUNK		4096
/* Descriptors below this are checked for CLOEXEC after curl_multi_init. */
#define HTTPC_FD_SCAN			4096
/*
 * The first libcurl whose aws-sigv4 signs at a caller's X-Amz-Date and
 * sends that header once (8.3.0; see httpc.h).
 */
#define HTTPC_CURL_SIGV4_DATE		0x080300

enum call_state {
	CALL_RUNNING,	/* in curl, on h->running */
	CALL_DONE,	/* out of curl, on h->done, callback pending */
	CALL_CALLING	/* on no list, its callback is running */
};

struct httpc_sock {
	LIST_ENTRY(httpc_sock)	 entry;
	struct httpc		*h;
	curl_socket_t		 fd;
	ev_io			 io;
};

struct httpc_call {
	TAILQ_ENTRY(httpc_call)	 entry;
	struct httpc		*h;
	CURL			*easy;
	struct curl_slist	*headers;
	enum call_state		 state;
	httpc_done_fn		 done;
	void			*arg;
	char			*buf;
	size_t			 len;
	size_t			 cap;
	size_t			 max_body;
	int			 too_big;
	int			 nomem;
	CURLcode		 code;
	long			 status;
	int			 curl_signs;	/* CURLOPT_AWS_SIGV4 */
	char			 date[HTTPC_DATE_MAX + 1];	/* "": none */
	long			 retry_after;	/* -1: none */
	char			 errbuf[CURL_ERROR_SIZE];
};

TAILQ_HEAD(httpc_calls, httpc_call);

struct httpc {
	struct ev_loop		*loop;
	CURLM			*multi;
	CURLSH			*share;
	ev_timer		 timer;
	struct util_reentry	 re;		/* delivering completions */
	size_t			 nactive;
	int			 curl_signs;	/* at our X-Amz-Date */
	struct httpc_calls	 running;
	struct httpc_calls	 done;
	LIST_HEAD(, httpc_sock)	 socks;
	char			*ca_bundle;	/* NULL: the system's store */
	CURL			**idle;		/* reset easy handles to reuse */
	int			 nidle;
	int			 idle_max;	/* the pool's connections */
};

static void
sock_free(struct httpc *h, struct httpc_sock *s)
{
	ev_io_stop(h->loop, &s->io);
	LIST_REMOVE(s, entry);
	free(s);
}

static void
call_free(struct httpc_call *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->buf);
	free(c);
}

/*
 * Take a call's easy handle out of curl, reset (every option, the
 * credentials and the call's pointers gone) and kept for the next call,
 * or freed when enough are kept; the call keeps only its own buffers.
 */
static void
call_detach(struct httpc_call *c)
{
	struct httpc *h = c->h;

	if (c->easy == NULL)
		return;
	curl_multi_remove_handle(h->multi, c->easy);
	if (h->nidle < h->idle_max) {
		curl_easy_reset(c->easy);
		h->idle[h->nidle++] = c->easy;
	} else
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
	curl_slist_free_all(c->headers);
	c->headers = NULL;
}

static void
fill_error(const struct httpc_call *c, char *buf, size_t len)
{
	const char *msg;

	if (c->nomem)
		snprintf(buf, len, "out of memory for the response");
	else if (c->too_big || c->code == CURLE_FILESIZE_EXCEEDED)
		snprintf(buf, len, "response larger than %zu bytes",
		    c->max_body);
	else {
		/* One line: curl ends some messages with a newline. */
		msg = c->errbuf[0] != '\0' ? c->errbuf :
		    curl_easy_strerror(c->code);
		(void)util_clean(buf, len, msg, strlen(msg), 0,
		    UTIL_CLEAN_SPACE);
	}
}

/*
 * Move every finished transfer out of curl onto the done list, then run
 * the callbacks.  Called after each curl_multi_socket_action.
 */
static void
dispatch(struct httpc *h)
{
	struct httpc_result r;
	struct httpc_call *c;
	CURLMsg *msg;
	CURL *easy;
	CURLcode code;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once its handle leaves the multi handle. */
		easy = msg->easy_handle;
		code = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		if ((c = (struct httpc_call *)priv) == NULL ||
		    c->state != CALL_RUNNING) {
			curl_multi_remove_handle(h->multi, easy);
			continue;
		}
		c->code = code;
		c->status = 0;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
		call_detach(c);
		TAILQ_REMOVE(&h->running, c, entry);
		c->state = CALL_DONE;
		TAILQ_INSERT_TAIL(&h->done, c, entry);
	}

	util_enter(&h->re);
	while (!util_dying(&h->re) && (c = TAILQ_FIRST(&h->done)) != NULL) {
		TAILQ_REMOVE(&h->done, c, entry);
		h->nactive--;
		c->state = CALL_CALLING;
		memset(&r, 0, sizeof(r));
		r.ok = c->code == CURLE_OK;
		r.status = c->status;
		r.body = c->buf != NULL ? c->buf : "";
		r.body_len = c->len;
		r.date = c->date[0] != '\0' ? c->date : NULL;
		r.retry_after = c->retry_after;
		if (!r.ok)
			fill_error(c, r.error, sizeof(r.error));
		c->done(c->arg, &r);
		call_free(c);
	}
	if (util_leave(&h->re))
		free(h);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct httpc *h = w->data;
	int running;

	(void)loop;
	(void)revents;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	dispatch(h);
}

static void
on_sock(struct ev_loop *loop, ev_io *w, int revents)
{
	struct httpc_sock *s = w->data;
	struct httpc *h = s->h;
	curl_socket_t fd = s->fd;
	int action = 0, running;

	(void)loop;
	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	if (revents & EV_ERROR)
		action |= CURL_CSELECT_ERR;
	/* s may be freed from here on (CURL_POLL_REMOVE). */
	curl_multi_socket_action(h->multi, fd, action, &running);
	dispatch(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants, or stop. */
static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct httpc *h = arg;
	struct httpc_sock *s = sockp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(h, s);
		return 0;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;	/* curl fails the transfers on it */
		s->h = h;
		s->fd = fd;
		ev_io_init(&s->io, on_sock, fd, 0);
		s->io.data = s;
		LIST_INSERT_HEAD(&h->socks, s, entry);
		if (curl_multi_assign(h->multi, fd, s) != CURLM_OK) {
			sock_free(h, s);
			return -1;
		}
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	ev_io_stop(h->loop, &s->io);
	ev_io_set(&s->io, fd, events);
	if (events != 0)
		ev_io_start(h->loop, &s->io);
	return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle.  Zero
 * means "as soon as possible": the timer fires on the next loop
 * iteration, since curl must not be re-entered from this callback.
 */
static int
timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct httpc *h = arg;

	(void)multi;
	ev_timer_stop(h->loop, &h->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&h->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(h->loop, &h->timer);
	}
	return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: curl's own socket(), plus CLOEXEC. */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct httpc_call *c = arg;
	size_t n = size * nmemb, cap;
	char *nbuf;

	if (n > c->max_body - c->len) {
		c->too_big = 1;
		return 0;	/* != n: curl fails the transfer */
	}
	if (c->len + n + 1 > c->cap) {
		cap = c->cap > 0 ? c->cap : HTTPC_BODY_CHUNK;
		while (cap < c->len + n + 1)
			cap *= 2;
		if (cap > c->max_body + 1)
			cap = c->max_body + 1;
		if ((nbuf = realloc(c->buf, cap)) == NULL) {
			c->nomem = 1;
			return 0;
		}
		c->buf = nbuf;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, ptr, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

/*
 * A Retry-After value (RFC 9110 10.2.3), len bytes at v, trimmed:
 * delta-seconds or an HTTP-date, as seconds from now; -1 for anything
 * else.  A day at most: a server's typo does not silence us for a year.
 */
static long
retry_after(const char *v, size_t len)
{
	char tmp[HTTPC_DATE_MAX + 1];
	time_t when;
	long secs = 0;
	size_t i;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		if ((secs = secs * 10 + (v[i] - '0')) > 86400)
			secs = 86400;
	if (i == len)
		return secs;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	if ((when = curl_getdate(tmp, NULL)) == -1)
		return -1;
	when -= time(NULL);
	return when < 0 ? 0 : when > 86400 ? 86400 : (long)when;
}

/*
 * CURLOPT_HEADERFUNCTION: keep the Date and the Retry-After of the last
 * response (a status line starts each, 1xx ones included), trimmed;
 * "" (-1) when too long.
 */
static size_t
header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct httpc_call *c = arg;
	size_t n = size * nitems, len;
	const char *v;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		c->date[0] = '\0';
		c->retry_after = -1;
	} else if (n >= 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
		for (v = buf + 12, len = n - 12; len > 0 && (*v == ' ' ||
		    *v == '\t'); v++, len--)
			;
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
		    v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		c->retry_after = retry_after(v, len);
	} else if (n >= 5 && strncasecmp(buf, "date:", 5) == 0) {
		for (v = buf + 5, len = n - 5; len > 0 && (*v == ' ' ||
		    *v == '\t'); v++, len--)
			;
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
		    v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len < sizeof(c->date)) {
			memcpy(c->date, v, len);
			c->date[len] = '\0';
		} else
			c->date[0] = '\0';
	}
	return n;
}

/*
 * The open descriptors below HTTPC_FD_SCAN, as a bitmap, from Linux'
 * /proc/self/fd.  NULL without /proc (or memory): then nothing is marked.
 */
static unsigned char *
open_fds(void)
{
	unsigned char *bits;
	struct dirent *de;
	DIR *d;
	char *end;
	long fd;

	if ((bits = calloc(HTTPC_FD_SCAN / 8, 1)) == NULL)
		return NULL;
	if ((d = opendir("/proc/self/fd")) == NULL) {
		free(bits);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		fd = strtol(de->d_name, &end, 10);
		if (*end != '\0' || end == de->d_name || fd < 0 ||
		    fd >= HTTPC_FD_SCAN || fd == dirfd(d))
			continue;
		bits[fd / 8] |= (unsigned char)(1 << (fd % 8));
	}
	closedir(d);
	return bits;
}

/*
 * curl_multi_init opens a socketpair (the curl_multi_wakeup channel)
 * without CLOEXEC in curl 7.88; mark what appeared since before.  The
 * sockets of connections get CLOEXEC from open_socket; the threaded
 * resolver's short-lived socketpair during a name lookup stays as curl
 * makes it.
 */
static int
cloexec_new_fds(const unsigned char *before)
{
	unsigned char *after;
	int fd, rc = 0;

	if (before == NULL || (after = open_fds()) == NULL)
		return 0;
	for (fd = 0; fd < HTTPC_FD_SCAN; fd++)
		if ((after[fd / 8] & ~before[fd / 8]) & (1 << (fd % 8)) &&
		    util_set_cloexec(fd) == -1)
			rc = -1;
	free(after);
	return rc;
}

struct httpc *
httpc_new(struct ev_loop *loop, int max_connections)
{
	struct httpc *h;
	unsigned char *before;
	CURLMcode mc = CURLM_OK;
	int rc;

	if (loop == NULL || max_connections < 1) {
		errno = EINVAL;
		return NULL;
	}
	/* What curl opens from here on gets CLOEXEC (see cloexec_new_fds). */
	before = open_fds();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(before);
		errno = ENOMEM;
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		free(before);
		curl_global_cleanup();
		return NULL;
	}
	h->loop = loop;
	h->idle_max = max_connections;
	if ((h->idle = calloc((size_t)max_connections,
	    sizeof(*h->idle))) == NULL) {
		free(before);
		free(h);
		curl_global_cleanup();
		return NULL;
	}
	h->curl_signs = curl_version_info(CURLVERSION_NOW)->version_num >=
	    HTTPC_CURL_SIGV4_DATE;
	TAILQ_INIT(&h->running);
	TAILQ_INIT(&h->done);
	LIST_INIT(&h->socks);
	ev_timer_init(&h->timer, on_timer, 0., 0.);
	h->timer.data = h;

	h->multi = curl_multi_init();
	h->share = curl_share_init();
	rc = cloexec_new_fds(before);
	free(before);
	if (h->multi == NULL || h->share == NULL || rc == -1)
		goto fail;
	/*
	 * One process, one thread: the share needs no lock callbacks.  TLS
	 * sessions are shared so that a new connection to a host we already
	 * talked to resumes instead of a full handshake.
	 */
	if (curl_share_setopt(h->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
		goto fail;
#define MSET(opt, val) do {						\
	if (mc == CURLM_OK)						\
		mc = curl_multi_setopt(h->multi, (opt), (val));		\
} while (0)
	MSET(CURLMOPT_SOCKETFUNCTION, sock_cb);
	MSET(CURLMOPT_SOCKETDATA, h);
	MSET(CURLMOPT_TIMERFUNCTION, timer_cb);
	MSET(CURLMOPT_TIMERDATA, h);
	/* The pool: this many connections at most, idle ones kept. */
	MSET(CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_connections);
	MSET(CURLMOPT_MAXCONNECTS, (long)max_connections);
#undef MSET
	if (mc != CURLM_OK)
		goto fail;
	return h;

fail:
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	if (h->share != NULL)
		curl_share_cleanup(h->share);
	free(h->idle);
	free(h);
	curl_global_cleanup();
	errno = ENOMEM;
	return NULL;
}

void
httpc_free(struct httpc *h)
{
	struct httpc_sock *s;

	if (h == NULL || util_dying(&h->re))
		return;
	while (!TAILQ_EMPTY(&h->running))
		httpc_cancel(TAILQ_FIRST(&h->running));
	while (!TAILQ_EMPTY(&h->done))
		httpc_cancel(TAILQ_FIRST(&h->done));
	/* Closes the pool; curl may still report sockets removed. */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while ((s = LIST_FIRST(&h->socks)) != NULL)
		sock_free(h, s);
	ev_timer_stop(h->loop, &h->timer);
	/* Before the share: a handle still attached keeps it in use. */
	while (h->nidle > 0)
		curl_easy_cleanup(h->idle[--h->nidle]);
	free(h->idle);
	h->idle = NULL;
	curl_share_cleanup(h->share);
	h->share = NULL;
	curl_global_cleanup();
	free(h->ca_bundle);
	h->ca_bundle = NULL;
	if (util_release(&h->re))
		free(h);
}

int
httpc_set_ca_bundle(struct httpc *h, const char *path)
{
	char *copy = NULL;

	if (path != NULL && (copy = strdup(path)) == NULL)
		return -1;
	free(h->ca_bundle);
	h->ca_bundle = copy;
	return 0;
}

size_t
httpc_active(const struct httpc *h)
{
	return h->nactive;
}

static int
add_header(struct httpc_call *c, const char *line)
{
	struct curl_slist *l;

	if ((l = curl_slist_append(c->headers, line)) == NULL)
		return -1;
	c->headers = l;
	return 0;
}

static int
add_headers(struct httpc_call *c, const char *const *lines)
{
	for (; lines != NULL && *lines != NULL; lines++)
		if (add_header(c, *lines) == -1)
			return -1;
	/*
	 * No "Expect:" here to suppress 100-continue: curl 7.88 would sign
	 * that empty header and AWS would reject the signature.  Curl only
	 * asks for 100-continue above 1 MiB, which our bodies never reach.
	 */
	return 0;
}

/*
 * The signing headers of a signed request, at sigv4_now(): the date (and
 * token) for curl to sign, or all of sigv4_sign's lines.  -1 with errno.
 */
static int
sign(struct httpc_call *c, const struct httpc_request *req)
{
	struct sigv4_request sr;
	struct sigv4_signature sig;
	char date[SIGV4_DATE_SIZE], line[sizeof("X-Amz-Date: ") +
	    SIGV4_DATE_SIZE], *tok;
	time_t now = sigv4_now();
	int rc;

	if (c->curl_signs) {
		if (sigv4_amz_date(now, date) == -1) {
			errno = EINVAL;
			return -1;
		}
		snprintf(line, sizeof(line), "X-Amz-Date: %s", date);
		if (add_header(c, line) == -1)
			return -1;
		if (req->session_token == NULL || *req->session_token == '\0')
			return 0;
		/* A line break would end the header and start another. */
		if (strpbrk(req->session_token, "\r\n") != NULL) {
			errno = EINVAL;
			return -1;
		}
		if (asprintf(&tok, "X-Amz-Security-Token: %s",
		    req->session_token) == -1)
			return -1;
		rc = add_header(c, tok);
		explicit_bzero(tok, strlen(tok));
		free(tok);
		return rc;
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = req->method;
	sr.url = req->url;
	sr.headers = req->headers;
	sr.body = req->body;
	sr.body_len = req->body_len;
	sr.region = req->sigv4_region;
	sr.service = req->sigv4_service;
	sr.access_key_id = req->access_key_id;
	sr.secret_key = req->secret_key;
	sr.session_token = req->session_token;
	sr.when = now;
	/* Its message names the request's fault; errno says enough here. */
	if (sigv4_sign(&sr, &sig, NULL, 0) == -1)
		return -1;
	rc = add_headers(c, (const char *const *)sig.lines);
	sigv4_signature_free(&sig);
	return rc;
}

static int
setup(struct httpc *h, struct httpc_call *c, const struct httpc_request *req)
{
	CURL *e = c->easy;
	CURLcode rc = CURLE_OK;
	long connect_ms;
	char sigv4[128];

#define SET(opt, val) do {						\
	if (rc == CURLE_OK)						\
		rc = curl_easy_setopt(e, (opt), (val));			\
} while (0)
	SET(CURLOPT_PRIVATE, (void *)c);
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_SHARE, h->share);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85.0 */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SET(CURLOPT_TIMEOUT_MS, req->timeout_ms);
	connect_ms = req->timeout_ms < HTTPC_CONNECT_TIMEOUT_MS ?
	    req->timeout_ms : HTTPC_CONNECT_TIMEOUT_MS;
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	SET(CURLOPT_BUFFERSIZE, HTTPC_RECV_BUFFER);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, (void *)c);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, (void *)c);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	if (h->ca_bundle != NULL)
		SET(CURLOPT_CAINFO, h->ca_bundle);
	if (strcmp(req->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else {
		if (strcmp(req->method, "POST") == 0)
			SET(CURLOPT_POST, 1L);
		else
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)req->body_len);
			SET(CURLOPT_COPYPOSTFIELDS, req->body);
		} else if (strcmp(req->method, "POST") == 0) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
			SET(CURLOPT_COPYPOSTFIELDS, "");
		}
	}
	if (c->curl_signs) {
		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s",
		    req->sigv4_region, req->sigv4_service);
		SET(CURLOPT_AWS_SIGV4, sigv4);
		SET(CURLOPT_USERNAME, req->access_key_id);
		SET(CURLOPT_PASSWORD, req->secret_key);
	}
	if (c->headers != NULL)
		SET(CURLOPT_HTTPHEADER, c->headers);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

struct httpc_call *
httpc_start(struct httpc *h, const struct httpc_request *req,
    httpc_done_fn done, void *arg)
{
	struct httpc_call *c;
	int saved;

	/*
	 * Credentials only go out signed: without SigV4 curl would send
	 * them as Basic authentication, in the clear.
	 */
	if (h == NULL || util_dying(&h->re) || req == NULL ||
	    req->method == NULL || req->url == NULL || done == NULL ||
	    req->timeout_ms <= 0 ||
	    (req->sigv4_region == NULL && (req->access_key_id != NULL ||
	    req->secret_key != NULL || req->session_token != NULL)) ||
	    (req->sigv4_region != NULL && (req->sigv4_service == NULL ||
	    req->access_key_id == NULL || req->secret_key == NULL))) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->h = h;
	c->done = done;
	c->arg = arg;
	c->retry_after = -1;
	c->max_body = req->max_body > 0 ? req->max_body : HTTPC_MAX_BODY;
	c->curl_signs = req->sigv4_region != NULL && h->curl_signs &&
	    !req->own_signer;
	errno = ENOMEM;
	c->easy = h->nidle > 0 ? h->idle[--h->nidle] : curl_easy_init();
	if (c->easy == NULL ||
	    add_headers(c, req->headers) == -1 ||
	    (req->sigv4_region != NULL && sign(c, req) == -1) ||
	    setup(h, c, req) == -1) {
		saved = errno == EINVAL ? EINVAL : ENOMEM;
		call_free(c);
		errno = saved;
		return NULL;
	}
	if (curl_multi_add_handle(h->multi, c->easy) != CURLM_OK) {
		call_free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->state = CALL_RUNNING;
	TAILQ_INSERT_TAIL(&h->running, c, entry);
	h->nactive++;
	return c;
}

void
httpc_cancel(struct httpc_call *c)
{
	struct httpc *h;

	if (c == NULL)
		return;
	h = c->h;
	switch (c->state) {
	case CALL_CALLING:
		return;		/* freed when its callback returns */
	case CALL_RUNNING:
		TAILQ_REMOVE(&h->running, c, entry);
		call_detach(c);
		break;
	case CALL_DONE:
		TAILQ_REMOVE(&h->done, c, entry);
		break;
	}
	h->nactive--;
	call_free(c);
}
