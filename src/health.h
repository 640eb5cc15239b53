/*
 * health: the master's HTTP endpoint (/livez, /readyz, and the pages
 * /metrics and /status its owner renders) on its libev loop.
 * Small and strict: nonblocking, a timer per connection, a cap on
 * connections, GET and HEAD only, one request per connection.
 */
#ifndef PCS_HEALTH_H
#define PCS_HEALTH_H

#include <stddef.h>

struct ev_loop;

#define HEALTH_MAX_CONNECTIONS	128
#define HEALTH_IDLE_TIMEOUT	5.0	/* seconds a client has to send its request */

/* Longest reason kept, NUL included (a consumer's is shorter). */
#define HEALTH_REASON_MAX	256

struct health_status {
	int	ready;			/* overall readiness */
	int	consumers_ready;	/* consumers reporting ready */
	int	redis_connected;	/* some consumer reached Redis lately */
	char	reason[HEALTH_REASON_MAX]; /* not ready: why, one line */
};

typedef void (*health_status_fn)(void *arg, struct health_status *out);

enum health_page {
	HEALTH_PAGE_METRICS,	/* GET /metrics: Prometheus text format 0.0.4 */
	HEALTH_PAGE_STATUS	/* GET /status: JSON */
};

/*
 * Render a page for GET/HEAD: a malloc'd body (*len bytes; health frees
 * it) or NULL (answered 500).
 */
typedef char *(*health_page_fn)(void *arg, enum health_page page, size_t *len);

struct health;

/*
 * Listen on addr:port (IPv4 or IPv6 literal, or a host name) and serve
 * from loop.  NULL with err on failure.
 */
struct health *health_start(struct ev_loop *loop, const char *addr, int port,
	    health_status_fn status_fn, void *arg, char *err, size_t errlen);
/*
 * Serve /metrics and /status from fn, called with health_start's arg;
 * without it (or with NULL) they are 404 like any unknown path.
 */
void	health_set_pages(struct health *h, health_page_fn fn);
/* Close the listener and every connection. */
void	health_stop(struct health *h);

#endif
