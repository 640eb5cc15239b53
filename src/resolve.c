/*
 * resolve: getaddrinfo off the consumer's loop.
 *
 * One lookup of a name is two halves that share a struct job:
 *
 *   the loop's half, struct resolve: an ev_io on the read end of a pipe,
 *   an ev_timer for the lookup's timeout, the caller's callback;
 *
 *   the thread's half: a detached thread that calls getaddrinfo, stores
 *   the addresses (as numeric strings) in the job, and closes the pipe's
 *   write end.  The loop sees EOF on the read end and takes the result.
 *
 * Ownership and cleanup, the rules that make abandoning a lookup safe:
 *
 * - The job is reference counted (2: the loop and the thread), under
 *   job_lock; whichever half drops the last reference frees it.  The
 *   thread never touches the struct resolve, the caller or the loop: only
 *   the job, which it co-owns, so a cache freed, or a lookup given up on
 *   a timeout, while getaddrinfo still waits is never a use after free.
 * - The thread owns the write end and only ever closes it (it writes
 *   nothing): closing a pipe whose read end is gone raises no SIGPIPE and
 *   needs no reader.  The loop owns the read end and closes it when the
 *   lookup ends, answered or abandoned.  Both ends are CLOEXEC.
 * - The thread blocks every signal, so the loop's signal watchers keep
 *   running on the consumer's main thread.
 * - A thread still waiting when the consumer exits dies with the process;
 *   what it holds is memory and one fd, nothing that outlives it.
 *
 * A resolver that never answers keeps its thread for as long as
 * resolv.conf's timeout and attempts add up to; abandoned lookups are
 * counted, and past RESOLVE_MAX_THREADS no new one starts until some
 * finish, so a dead resolver never piles up threads without bound.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "resolve.h"

/*
 * Threads waiting on the resolver at once, abandoned ones included.
 * Resolving the Redis host starts one lookup per attempt, one every 5 s
 * (the cache's lookup timeout) or more while the resolver is dead; glibc
 * gives up after timeout x attempts per nameserver (90 s with
 * timeout:30 attempts:3, at most 450 s), so a dead resolver leaves up to
 * about 20 waiting in the usual worst case.  64 covers that with room,
 * and bounds the rest.
 */
#define RESOLVE_MAX_THREADS	64
/* getaddrinfo needs far less than the 8 MB default of a thread's stack. */
#define RESOLVE_STACK_SIZE	(256 * 1024)

struct job {
	int		 refs;		/* under job_lock */
	int		 done;		/* the thread's answer is in */
	int		 wfd;		/* the thread closes it */
	int		 gai;		/* getaddrinfo's return */
	int		 sys_errno;	/* errno for EAI_SYSTEM */
	struct resolve_result res;
	char		 host[];
};

struct resolve {
	struct ev_loop	*loop;
	resolve_fn	 fn;
	void		*arg;
	struct job	*job;		/* NULL: a numeric host */
	int		 rfd;
	ev_io		 io;
	ev_timer	 timer;
	double		 timeout;
	struct resolve_result numeric;
};

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static int running;		/* threads alive, under job_lock */

/* Drop one reference to j; the last one frees it. */
static void
job_release(struct job *j)
{
	int last;

	pthread_mutex_lock(&job_lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&job_lock);
	if (last)
		free(j);
}

/* Append "%<interface>" (or "%<index>") to the numeric address in buf. */
static void
scope(char *buf, size_t len, unsigned int id)
{
	char ifname[IF_NAMESIZE];
	size_t n = strlen(buf);

	if (if_indextoname(id, ifname) != NULL)
		snprintf(buf + n, len - n, "%%%s", ifname);
	else
		snprintf(buf + n, len - n, "%%%u", id);
}

static void *
job_main(void *p)
{
	struct job *j = p;
	struct addrinfo hints, *ai = NULL, *a;
	struct resolve_result res;
	const void *sa;
	int gai, err;

	/*
	 * No AI_ADDRCONFIG: it drops ::1 from a name when no other IPv6
	 * address is configured, and an unreachable family costs one failed
	 * connect before the next address.
	 */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	memset(&res, 0, sizeof(res));
	gai = getaddrinfo(j->host, NULL, &hints, &ai);
	err = errno;
	for (a = gai == 0 ? ai : NULL; a != NULL && res.n < RESOLVE_MAX_ADDRS;
	    a = a->ai_next) {
		if (a->ai_family == AF_INET)
			sa = &((struct sockaddr_in *)a->ai_addr)->sin_addr;
		else if (a->ai_family == AF_INET6)
			sa = &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(a->ai_family, sa, res.addr[res.n],
		    sizeof(res.addr[res.n])) == NULL)
			continue;
		/* A link-local address keeps its zone: "fe80::1%eth0". */
		if (a->ai_family == AF_INET6 &&
		    ((struct sockaddr_in6 *)a->ai_addr)->sin6_scope_id != 0)
			scope(res.addr[res.n], sizeof(res.addr[res.n]),
			    ((struct sockaddr_in6 *)a->ai_addr)->sin6_scope_id);
		res.n++;
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	if (gai == 0 && res.n == 0)
		gai = EAI_NONAME;

	pthread_mutex_lock(&job_lock);
	j->gai = gai;
	j->sys_errno = err;
	j->res = res;
	j->done = 1;
	running--;
	pthread_mutex_unlock(&job_lock);
	/* EOF on the loop's end says "done"; nothing is written. */
	(void)close(j->wfd);
	job_release(j);
	return NULL;
}

/* Stop r's watchers, close its end and drop its job; r itself is freed. */
static void
resolve_end(struct resolve *r)
{
	ev_timer_stop(r->loop, &r->timer);
	if (r->job != NULL) {
		ev_io_stop(r->loop, &r->io);
		(void)close(r->rfd);
		job_release(r->job);
	}
	free(r);
}

static void
on_done(struct ev_loop *loop, ev_io *w, int revents)
{
	struct resolve *r = w->data;
	struct resolve_result res;
	char buf[16], err[128];
	ssize_t n;
	int done, gai, sys_errno;

	(void)loop;
	(void)revents;
	n = read(r->rfd, buf, sizeof(buf));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	pthread_mutex_lock(&job_lock);
	done = r->job->done;
	gai = r->job->gai;
	sys_errno = r->job->sys_errno;
	res = r->job->res;
	pthread_mutex_unlock(&job_lock);
	/* Not done cannot be: the thread closes only when done. */
	if (!done)
		return;
	if (gai == 0) {
		r->fn(r->arg, &res, NULL);
	} else {
		snprintf(err, sizeof(err), "%s", gai == EAI_SYSTEM ?
		    strerror(sys_errno) : gai_strerror(gai));
		r->fn(r->arg, NULL, err);
	}
	resolve_end(r);
}

/* The timeout, or for a numeric host the answer given from the loop. */
static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct resolve *r = w->data;
	char err[64];

	(void)loop;
	(void)revents;
	if (r->job == NULL)
		r->fn(r->arg, &r->numeric, NULL);
	else {
		/* The thread goes on alone and frees the job when done. */
		snprintf(err, sizeof(err), "no answer within %.0fs",
		    r->timeout);
		r->fn(r->arg, NULL, err);
	}
	resolve_end(r);
}

int
resolve_is_numeric(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
}

/* Start r's thread; -1 with err filled when it cannot. */
static int
start_thread(struct resolve *r, const char *host, char *err, size_t errlen)
{
	struct job *j;
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int fds[2], e;
	size_t len = strlen(host);

	if ((j = calloc(1, sizeof(*j) + len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(j->host, host, len + 1);
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(j);
		return -1;
	}
	j->wfd = fds[1];
	j->refs = 2;
	pthread_mutex_lock(&job_lock);
	if (running >= RESOLVE_MAX_THREADS) {
		pthread_mutex_unlock(&job_lock);
		snprintf(err, errlen, "%d earlier lookups still unanswered",
		    RESOLVE_MAX_THREADS);
		goto fail;
	}
	running++;
	pthread_mutex_unlock(&job_lock);

	if ((e = pthread_attr_init(&attr)) != 0) {
		snprintf(err, errlen, "pthread_attr_init: %s", strerror(e));
		goto unrun;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_attr_setstacksize(&attr, RESOLVE_STACK_SIZE);
	/* The thread inherits a mask blocking every signal. */
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&tid, &attr, job_main, j);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
	if (e != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(e));
		goto unrun;
	}
	r->job = j;
	r->rfd = fds[0];
	return 0;

unrun:
	pthread_mutex_lock(&job_lock);
	running--;
	pthread_mutex_unlock(&job_lock);
fail:
	(void)close(fds[0]);
	(void)close(fds[1]);
	free(j);
	return -1;
}

struct resolve *
resolve_start(struct ev_loop *loop, const char *host, double timeout,
    resolve_fn fn, void *arg, char *err, size_t errlen)
{
	struct resolve *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->loop = loop;
	r->fn = fn;
	r->arg = arg;
	r->timeout = timeout;
	r->rfd = -1;
	ev_timer_init(&r->timer, on_timer, timeout, 0.);
	r->timer.data = r;
	if (resolve_is_numeric(host)) {
		/* Answered from the loop, never from inside resolve_start. */
		snprintf(r->numeric.addr[0], sizeof(r->numeric.addr[0]), "%s",
		    host);
		r->numeric.n = 1;
		ev_timer_set(&r->timer, 0., 0.);
	} else {
		if (start_thread(r, host, err, errlen) == -1) {
			free(r);
			return NULL;
		}
		ev_io_init(&r->io, on_done, r->rfd, EV_READ);
		r->io.data = r;
		ev_io_start(loop, &r->io);
	}
	ev_timer_start(loop, &r->timer);
	return r;
}

void
resolve_cancel(struct resolve *r)
{
	if (r != NULL)
		resolve_end(r);
}
