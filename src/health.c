/*
 * health: the master's HTTP endpoint on its libev loop.  It owns the
 * listening socket, every connection accepted on it and their watchers,
 * and turns a request parsed by http.c plus a status snapshot from the
 * caller's status_fn (or a page from its page_fn) into a response.  One request per connection,
 * answered with Connection: close.  Nothing here blocks: a slow or
 * malicious client costs one connection slot until its timer fires.
 *
 * A connection goes READING (timer: HEALTH_IDLE_TIMEOUT from accept, not
 * reset by reads, so a client cannot trickle bytes to keep it) -> WRITING
 * (timer restarted) -> LINGERING (our side shut down; the client's unread
 * bytes are drained until it closes, so close() does not answer them with
 * an RST that would destroy the response in flight) -> closed.
 *
 * The port must hold against idle connections and slowloris clients from
 * anywhere that reaches it (it listens on 0.0.0.0 by default), because a
 * load balancer that cannot get /livez takes the host out.  So the
 * listener never stops accepting: it holds up to HEALTH_MAX_CONNECTIONS,
 * a few hundred bytes each while they wait (the request buffer is
 * allocated when bytes arrive, the response when it is ready), and at
 * that cap closes the oldest connection still waiting for its request to
 * take the new one, as nginx reuses connections.  A probe sends its
 * request at once and is answered within a loop iteration; only a client
 * that sits on its connection can lose it.
 */

#include "autoconf.h"	/* first: _GNU_SOURCE for accept4() */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "health.h"
#include "http.h"
#include "log.h"

/*
 * The kernel's listen queue: a burst of connections (an attack, a fleet of
 * probes) waits there for the next accept instead of having its SYNs
 * dropped and retried a second later.  The kernel caps it at somaxconn.
 */
#define HEALTH_BACKLOG		SOMAXCONN
/*
 * Accepts per wakeup of the listener: a flood of connections must not keep
 * the loop from reading the requests of those already accepted.
 */
#define HEALTH_ACCEPT_BATCH	64
/*
 * The request buffer starts at this and doubles up to HTTP_MAX_REQUEST: a
 * probe's request fits the first, a trickling client costs little.
 */
#define HEALTH_IN_FIRST		512
/*
 * After EMFILE/ENFILE the pending connection stays in the backlog and the
 * listener stays readable: retrying at once would spin.  A tenth of a
 * second lets other fds close without making probes wait noticeably.
 */
#define HEALTH_ACCEPT_PAUSE	0.1
/*
 * How long a client may go without taking a byte of its response (a page
 * can be tens of kilobytes, more than the socket buffer of a slow reader):
 * restarted on progress, so a slow reader gets the whole page and one that
 * stops reading loses its slot.
 */
#define HEALTH_SEND_TIMEOUT	10.0
/* How long a client gets to read the response and close after our FIN. */
#define HEALTH_LINGER_TIMEOUT	2.0
/* Warnings about evictions or fd exhaustion: once a minute. */
#define HEALTH_WARN_INTERVAL	60.0
/*
 * The longest body health writes itself: the 503 of /readyz, about 80
 * bytes plus a reason of HEALTH_REASON_MAX escaped (6 bytes a character at
 * worst).  Pages are the page_fn's and as long as it likes.
 */
#define HEALTH_BODY_MAX		(96 + 6 * HEALTH_REASON_MAX)
/* The headers: ~200 bytes. */
#define HEALTH_HEADERS_MAX	512
#define CONTENT_TYPE_JSON	"application/json"
#define CONTENT_TYPE_METRICS	"text/plain; version=0.0.4; charset=utf-8"
/* "[host]:port" */
#define HEALTH_NAME_MAX		(NI_MAXHOST + NI_MAXSERV + 4)
/*
 * A peer's numeric "[address%zone]:port" (see conn_new): kept small
 * because every one of thousands of connections has one.
 */
#define HEALTH_PEER_MAX		80

enum conn_state {
	CONN_READING,
	CONN_WRITING,
	CONN_LINGERING
};

/* 256 bytes on amd64 with libev 4.33, plus its buffers while in use. */
struct health_conn {
	TAILQ_ENTRY(health_conn) entry;	/* in h->waiting or h->answering */
	struct health	*h;
	int		 fd;
	enum conn_state	 state;
	ev_io		 io;
	ev_timer	 timer;
	char		*in;		/* the request so far, or NULL */
	size_t		 inlen;
	size_t		 incap;
	char		*out;		/* the response: headers and body */
	size_t		 outlen;
	size_t		 outoff;
	char		 peer[HEALTH_PEER_MAX];
};

TAILQ_HEAD(health_conns, health_conn);

struct health {
	struct ev_loop	*loop;
	int		 fd;
	ev_io		 accept_io;
	ev_timer	 accept_pause;
	int		 paused;	/* accept_pause is running */
	int		 nconns;
	unsigned long	 evicted;	/* connections closed to make room */
	unsigned long	 evicted_warned; /* ... at the last warning */
	ev_tstamp	 last_warn_evict;
	ev_tstamp	 last_warn_accept;
	health_status_fn status_fn;
	health_page_fn	 page_fn;
	void		*arg;
	char		 name[HEALTH_NAME_MAX];
	/* READING, oldest (first accepted) first: the ones evicted. */
	struct health_conns waiting;
	/* WRITING and LINGERING, in the order they got there. */
	struct health_conns answering;
};

static void	accept_cb(struct ev_loop *, ev_io *, int);
static void	accept_pause_cb(struct ev_loop *, ev_timer *, int);
static void	conn_io_cb(struct ev_loop *, ev_io *, int);
static void	conn_timer_cb(struct ev_loop *, ev_timer *, int);
static void	conn_close(struct health_conn *);
static void	conn_write(struct health_conn *);

/*
 * On Linux the fd is released even when close() fails with EINTR, so it
 * must not be retried; there is nothing else useful to do with an error
 * closing a socket.
 */
static void
close_fd(int fd)
{
	if (close(fd) == -1 && errno != EINTR)
		log_debug("health: close: %s", strerror(errno));
}

/* "host:port", with brackets around an IPv6 literal. */
static void
format_name(char *buf, size_t len, const char *host, const char *port)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, len, "[%s]:%s", host, port);
	else
		snprintf(buf, len, "%s:%s", host, port);
}

static int
warn_due(struct health *h, ev_tstamp *last)
{
	ev_tstamp now = ev_now(h->loop);

	if (*last != 0 && now - *last < HEALTH_WARN_INTERVAL)
		return 0;
	*last = now;
	return 1;
}

/* The listener is watched unless accepting is paused (EMFILE...). */
static void
accept_update(struct health *h)
{
	if (h->paused)
		ev_io_stop(h->loop, &h->accept_io);
	else
		ev_io_start(h->loop, &h->accept_io);
}

static void
accept_pause(struct health *h)
{
	h->paused = 1;
	ev_timer_set(&h->accept_pause, HEALTH_ACCEPT_PAUSE, 0.);
	ev_timer_start(h->loop, &h->accept_pause);
	accept_update(h);
}

static void
accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health	*h = w->data;

	(void)loop;
	(void)revents;
	h->paused = 0;
	accept_update(h);
}

static void
conn_new(struct health *h, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct health_conn	*c;
	/* Numeric: an IPv6 literal, '%', an interface name; a port. */
	char			 host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char			 serv[8];
	int			 r;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		if (warn_due(h, &h->last_warn_accept))
			log_warn("health: accept: %s", strerror(errno));
		close_fd(fd);
		accept_pause(h);
		return;
	}
	c->h = h;
	c->fd = fd;
	c->state = CONN_READING;
	r = getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV);	/* numeric: no lookup */
	if (r == 0)
		format_name(c->peer, sizeof(c->peer), host, serv);
	else
		snprintf(c->peer, sizeof(c->peer), "fd %d", fd);

	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_timer_init(&c->timer, conn_timer_cb, HEALTH_IDLE_TIMEOUT, 0.);
	c->timer.data = c;
	ev_io_start(h->loop, &c->io);
	ev_timer_start(h->loop, &c->timer);

	TAILQ_INSERT_TAIL(&h->waiting, c, entry);
	h->nconns++;
}

/*
 * Make room: close the oldest connection still waiting for its request
 * (idle or trickling); failing that, with any, the oldest being answered
 * (its client is slow to read), so that a new one is never refused at the
 * cap.  0 if there was nothing to close.
 */
static int
evict(struct health *h, int any)
{
	struct health_conn *c;

	if ((c = TAILQ_FIRST(&h->waiting)) == NULL &&
	    (!any || (c = TAILQ_FIRST(&h->answering)) == NULL))
		return 0;
	conn_close(c);		/* no line each: the warning counts them */
	h->evicted++;
	if (warn_due(h, &h->last_warn_evict)) {
		log_warn("health: %s: %d connections open (the limit is %d): "
		    "closed %lu waiting for their requests to take new ones "
		    "(%lu in all)", h->name, h->nconns + 1,
		    HEALTH_MAX_CONNECTIONS, h->evicted - h->evicted_warned,
		    h->evicted);
		h->evicted_warned = h->evicted;
	}
	return 1;
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health		*h = w->data;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 fd, n, evicted_for_fd = 0;

	(void)loop;
	(void)revents;
	for (n = 0; n < HEALTH_ACCEPT_BATCH && !h->paused; n++) {
		sslen = sizeof(ss);
		fd = accept4(h->fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EINTR:
				continue;
			case EAGAIN:
#if EWOULDBLOCK != EAGAIN
			case EWOULDBLOCK:
#endif
				return;
			/*
			 * The connection died in the backlog, or (Linux
			 * accept(2)) a pending network error was reported
			 * on it: that connection is lost, the next is fine.
			 */
			case ECONNABORTED:
			case EPROTO:
			case ENETDOWN:
			case ENOPROTOOPT:
			case EHOSTDOWN:
			case ENONET:
			case EHOSTUNREACH:
			case EOPNOTSUPP:
			case ENETUNREACH:
			case ETIMEDOUT:
				continue;
			case EMFILE:
			case ENFILE:
				/*
				 * Out of descriptors: a waiting connection's
				 * is worth less than the new one, which may
				 * be a probe.  Once per accept, so that a
				 * descriptor someone else takes first
				 * cannot make this a loop.
				 */
				if (warn_due(h, &h->last_warn_accept))
					log_warn("health: %s: accept: %s",
					    h->name, strerror(errno));
				if (!evicted_for_fd && evict(h, 0)) {
					evicted_for_fd = 1;
					continue;
				}
				accept_pause(h);
				return;
			default:
				/* ENOBUFS, ENOMEM, the rest. */
				if (warn_due(h, &h->last_warn_accept))
					log_warn("health: %s: accept: %s",
					    h->name, strerror(errno));
				accept_pause(h);
				return;
			}
		}
		evicted_for_fd = 0;
		if (h->nconns >= HEALTH_MAX_CONNECTIONS)
			(void)evict(h, 1);
		conn_new(h, fd, (struct sockaddr *)&ss, sslen);
	}
}

static void
conn_close(struct health_conn *c)
{
	struct health	*h = c->h;

	ev_io_stop(h->loop, &c->io);
	ev_timer_stop(h->loop, &c->timer);
	close_fd(c->fd);
	if (c->state == CONN_READING)
		TAILQ_REMOVE(&h->waiting, c, entry);
	else
		TAILQ_REMOVE(&h->answering, c, entry);
	free(c->in);
	free(c->out);
	free(c);
	h->nconns--;
}

static void
conn_timer_restart(struct health_conn *c, ev_tstamp after)
{
	ev_timer_stop(c->h->loop, &c->timer);
	ev_timer_set(&c->timer, after, 0.);
	ev_timer_start(c->h->loop, &c->timer);
}

static void
conn_watch(struct health_conn *c, int events)
{
	ev_io_stop(c->h->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->h->loop, &c->io);
}

static const char *
status_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/*
 * Queue a response of bodylen bytes of body, typed ctype, and start
 * writing it.  HEAD gets the headers of the GET response, Content-Length
 * included.  c may be freed on return.
 */
static void
conn_respond_body(struct health_conn *c, int code, const char *ctype,
    const char *extra, const char *body, size_t bodylen, int head)
{
	char	hdr[HEALTH_HEADERS_MAX];
	size_t	len;
	int	n;

	n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n",
	    code, status_reason(code), ctype, bodylen, extra);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		log_warn("health: %s: response headers too big", c->peer);
		conn_close(c);
		return;
	}
	len = (size_t)n + (head ? 0 : bodylen);
	free(c->out);
	if ((c->out = malloc(len)) == NULL) {
		log_warn("health: %s: response of %zu bytes: %s", c->peer,
		    len, strerror(errno));
		conn_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)n);
	if (!head && bodylen > 0)
		memcpy(c->out + n, body, bodylen);
	c->outlen = len;
	c->outoff = 0;
	if (c->state == CONN_READING) {
		TAILQ_REMOVE(&c->h->waiting, c, entry);
		TAILQ_INSERT_TAIL(&c->h->answering, c, entry);
		free(c->in);		/* the request is parsed */
		c->in = NULL;
		c->inlen = c->incap = 0;
	}
	c->state = CONN_WRITING;
	conn_timer_restart(c, HEALTH_SEND_TIMEOUT);
	conn_write(c);
}

/* conn_respond_body with a JSON body of health's own. */
static void
conn_respond(struct health_conn *c, int code, const char *extra,
    const char *body, int head)
{
	conn_respond_body(c, code, CONTENT_TYPE_JSON, extra, body,
	    strlen(body), head);
}

/*
 * /readyz: 200 {"status":"UP",...} exactly as Stigg's container answers;
 * a 503 adds "reason", why it is not ready.
 */
static void
readyz(struct health_conn *c, int head)
{
	struct health		*h = c->h;
	struct health_status	 st;
	char			 body[HEALTH_BODY_MAX];
	char			 reason[6 * HEALTH_REASON_MAX];
	const char		*why;
	size_t			 off = 0;

	memset(&st, 0, sizeof(st));
	if (h->status_fn != NULL)
		h->status_fn(h->arg, &st);
	st.reason[sizeof(st.reason) - 1] = '\0';
	if (st.ready) {
		snprintf(body, sizeof(body), "{\"status\":\"UP\","
		    "\"consumers\":%d,\"redis\":\"%s\"}", st.consumers_ready,
		    st.redis_connected ? "CONNECTED" : "DISCONNECTED");
		conn_respond(c, 200, "", body, head);
		return;
	}
	why = st.reason[0] != '\0' ? st.reason : "not ready";
	/* log.c's escaping: one JSON string escaper in the daemon. */
	(void)log_json_escape(reason, sizeof(reason), &off, why, strlen(why));
	snprintf(body, sizeof(body), "{\"status\":\"DOWN\",\"consumers\":%d,"
	    "\"redis\":\"%s\",\"reason\":\"%s\"}", st.consumers_ready,
	    st.redis_connected ? "CONNECTED" : "DISCONNECTED", reason);
	conn_respond(c, 503, "", body, head);
}

/*
 * /metrics and /status: the owner's page_fn renders the body (for HEAD
 * too, so Content-Length is the GET's); it failing is a 500.
 */
static void
page(struct health_conn *c, enum health_page which, int head)
{
	struct health	*h = c->h;
	char		*body;
	size_t		 len = 0;

	body = h->page_fn(h->arg, which, &len);
	if (body == NULL) {
		conn_respond(c, 500, "", "{\"error\":\"internal error\"}",
		    head);
		return;
	}
	conn_respond_body(c, 200, which == HEALTH_PAGE_METRICS ?
	    CONTENT_TYPE_METRICS : CONTENT_TYPE_JSON, "", body, len, head);
	free(body);
}

static void
conn_route(struct health_conn *c, const struct http_request *req)
{
	int	head = req->method == HTTP_METHOD_HEAD;

	if (req->method == HTTP_METHOD_OTHER) {
		conn_respond(c, 405, "Allow: GET, HEAD\r\n",
		    "{\"error\":\"method not allowed\"}", 0);
		return;
	}
	if (strcmp(req->path, "/livez") == 0) {
		conn_respond(c, 200, "", "{\"status\":\"UP\"}", head);
		return;
	}
	if (strcmp(req->path, "/readyz") == 0) {
		readyz(c, head);
		return;
	}
	if (c->h->page_fn != NULL && strcmp(req->path, "/metrics") == 0) {
		page(c, HEALTH_PAGE_METRICS, head);
		return;
	}
	if (c->h->page_fn != NULL && strcmp(req->path, "/status") == 0) {
		page(c, HEALTH_PAGE_STATUS, head);
		return;
	}
	conn_respond(c, 404, "", "{\"error\":\"not found\"}", head);
}

static void
conn_bad(struct health_conn *c, const char *why)
{
	/* Debug only: a flood of garbage must not become a flood of logs. */
	log_debug("health: %s: bad request: %s", c->peer, why);
	conn_respond(c, 400, "", "{\"error\":\"bad request\"}", 0);
}

/* recv() with EINTR retried; -1 with errno otherwise. */
static ssize_t
conn_recv(struct health_conn *c, char *buf, size_t len)
{
	ssize_t	n;

	do {
		n = recv(c->fd, buf, len, 0);
	} while (n == -1 && errno == EINTR);
	return n;
}

static void
conn_read(struct health_conn *c)
{
	struct http_request	 req;
	char			 why[64];
	ssize_t			 n;
	size_t			 cap;
	char			*p;
	int			 r;

	if (c->inlen == c->incap) {
		if (c->incap >= HTTP_MAX_REQUEST) {
			/* Cannot happen: a full buffer parses as TOO_LARGE. */
			conn_bad(c, "request too large");
			return;
		}
		cap = c->incap == 0 ? HEALTH_IN_FIRST : 2 * c->incap;
		if (cap > HTTP_MAX_REQUEST)
			cap = HTTP_MAX_REQUEST;
		if ((p = realloc(c->in, cap)) == NULL) {
			log_warn("health: %s: request buffer: %s", c->peer,
			    strerror(errno));
			conn_close(c);
			return;
		}
		c->in = p;
		c->incap = cap;
	}
	n = conn_recv(c, c->in + c->inlen, c->incap - c->inlen);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		log_debug("health: %s: recv: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	if (n == 0) {
		/* Half-closed before a whole request: answer if it sent any. */
		if (c->inlen == 0)
			conn_close(c);
		else
			conn_bad(c, "incomplete request");
		return;
	}
	c->inlen += (size_t)n;

	r = http_parse(c->in, c->inlen, &req, why, sizeof(why));
	switch (r) {
	case HTTP_PARSE_MORE:
		return;
	case HTTP_PARSE_DONE:
		conn_route(c, &req);
		return;
	default:
		conn_bad(c, why);
		return;
	}
}

/* The response is out: close our side, then drain until the client does. */
static void
conn_linger(struct health_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) == -1) {
		log_debug("health: %s: shutdown: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	c->state = CONN_LINGERING;
	conn_timer_restart(c, HEALTH_LINGER_TIMEOUT);
	conn_watch(c, EV_READ);
}

static void
conn_drain(struct health_conn *c)
{
	char	buf[512];
	ssize_t	n;

	n = conn_recv(c, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0)
		conn_close(c);
}

static void
conn_write(struct health_conn *c)
{
	ssize_t	n;
	int	progress = 0;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (progress)
					conn_timer_restart(c,
					    HEALTH_SEND_TIMEOUT);
				if (!(c->io.events & EV_WRITE))
					conn_watch(c, EV_WRITE);
				return;
			}
			log_debug("health: %s: send: %s", c->peer,
			    strerror(errno));
			conn_close(c);
			return;
		}
		c->outoff += (size_t)n;
		progress = 1;
	}
	free(c->out);		/* all in the kernel's hands */
	c->out = NULL;
	conn_linger(c);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_conn	*c = w->data;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case CONN_READING:
		conn_read(c);
		break;
	case CONN_WRITING:
		conn_write(c);
		break;
	case CONN_LINGERING:
		conn_drain(c);
		break;
	}
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_conn	*c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CONN_READING && c->inlen > 0) {
		log_debug("health: %s: request timeout", c->peer);
		conn_respond(c, 408, "", "{\"error\":\"request timeout\"}", 0);
		return;
	}
	conn_close(c);
}

/* Open, bind and listen on the first address of ai that binds. */
static int
listen_on(struct addrinfo *ai0, int *fdp)
{
	struct addrinfo	*ai;
	int		 fd, on = 1, off = 0, saved = EADDRNOTAVAIL;

	for (ai = ai0; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1 ||
		    (ai->ai_family == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof(off)) == -1) ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			saved = errno;
			close_fd(fd);
			continue;
		}
		if (listen(fd, HEALTH_BACKLOG) == -1) {
			saved = errno;
			close_fd(fd);
			continue;
		}
		*fdp = fd;
		return 0;
	}
	errno = saved;
	return -1;
}

struct health *
health_start(struct ev_loop *loop, const char *addr, int port,
    health_status_fn status_fn, void *arg, char *err, size_t errlen)
{
	struct health	*h;
	struct addrinfo	 hints, *ai;
	char		 portstr[16], name[HEALTH_NAME_MAX];
	const char	*node;
	int		 r, fd;

	node = addr != NULL && addr[0] != '\0' ? addr : NULL;
	snprintf(portstr, sizeof(portstr), "%d", port);
	format_name(name, sizeof(name), node != NULL ? node : "*", portstr);
	if (port < 0 || port > 65535) {
		snprintf(err, errlen, "health: listen on %s: bad port", name);
		return NULL;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(node, portstr, &hints, &ai);
	if (r != 0) {
		snprintf(err, errlen, "health: listen on %s: %s", name,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return NULL;
	}
	r = listen_on(ai, &fd);
	freeaddrinfo(ai);
	if (r == -1) {
		snprintf(err, errlen, "health: listen on %s: %s", name,
		    strerror(errno));
		return NULL;
	}

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "health: listen on %s: %s", name,
		    strerror(errno));
		close_fd(fd);
		return NULL;
	}
	h->loop = loop;
	h->fd = fd;
	h->status_fn = status_fn;
	h->arg = arg;
	memcpy(h->name, name, sizeof(h->name));
	TAILQ_INIT(&h->waiting);
	TAILQ_INIT(&h->answering);
	ev_io_init(&h->accept_io, accept_cb, fd, EV_READ);
	h->accept_io.data = h;
	ev_timer_init(&h->accept_pause, accept_pause_cb, HEALTH_ACCEPT_PAUSE,
	    0.);
	h->accept_pause.data = h;
	accept_update(h);
	log_info("health: listening on %s", h->name);
	return h;
}

/*
 * The soft limit is often 1024 (the default systemd and shells give),
 * too few for HEALTH_MAX_CONNECTIONS; the hard limit is what the operator
 * allows, so take it all.  Under the shipped unit (LimitNOFILE=) both are
 * already equal and nothing is called, which matters: its system call
 * filter denies setrlimit().
 */
void
health_raise_nofile(void)
{
	struct rlimit	rl;
	rlim_t		was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("health: getrlimit(RLIMIT_NOFILE): %s",
		    strerror(errno));
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_debug("health: setrlimit(RLIMIT_NOFILE, %ju): %s",
			    (uintmax_t)rl.rlim_cur, strerror(errno));
			rl.rlim_cur = was;
		} else
			log_debug("health: open files limit raised from %ju "
			    "to %ju", (uintmax_t)was, (uintmax_t)rl.rlim_cur);
	} else
		log_debug("health: open files limit %ju", (uintmax_t)was);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < HEALTH_FDS_NEEDED)
		log_warn("health: the open files limit is %ju, below the %d "
		    "that %d health connections need: idle ones will be "
		    "closed sooner to take new ones (raise LimitNOFILE= or "
		    "ulimit -n)", (uintmax_t)rl.rlim_cur, HEALTH_FDS_NEEDED,
		    HEALTH_MAX_CONNECTIONS);
}

void
health_set_pages(struct health *h, health_page_fn fn)
{
	h->page_fn = fn;
}

void
health_stop(struct health *h)
{
	if (h == NULL)
		return;
	ev_io_stop(h->loop, &h->accept_io);
	ev_timer_stop(h->loop, &h->accept_pause);
	while (!TAILQ_EMPTY(&h->waiting))
		conn_close(TAILQ_FIRST(&h->waiting));
	while (!TAILQ_EMPTY(&h->answering))
		conn_close(TAILQ_FIRST(&h->answering));
	close_fd(h->fd);
	free(h);
}
