/*
 * check_health: unit tests for the health listener over real loopback
 * sockets.  A forked child runs health on its own libev loop with a page
 * callback of the test's; the parent is the client: /metrics and /status
 * with their Content-Type, a 100 kB page read whole by a slow reader (and
 * an 8 MB one, more than any socket buffer takes at once, so the server
 * must wait for the reader to drain its buffer), HEAD
 * with the GET's Content-Length, 500 when the callback fails, 404 without
 * a callback.
 */

#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "testutil.h"
#include "health.h"

static pid_t	server = -1;
static int	port;
static size_t	page_size = 100000;	/* of /metrics */

static void
status(void *arg, struct health_status *out)
{
	(void)arg;
	out->ready = 1;
	out->consumers_ready = 1;
	out->redis_connected = 1;
}

/* /metrics: page_size bytes of lettered lines; /status: NULL (a failure). */
static char *
pages(void *arg, enum health_page page, size_t *len)
{
	char	*p;
	size_t	 i;

	(void)arg;
	if (page == HEALTH_PAGE_STATUS)
		return NULL;
	if ((p = malloc(page_size)) == NULL)
		return NULL;
	for (i = 0; i < page_size; i++)
		p[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i / 64 % 26);
	*len = page_size;
	return p;
}

/* A port nothing listens on now (the kernel's pick, released). */
static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Fork a server: with_pages says whether it serves the page callback. */
static void
start_server(int with_pages)
{
	struct ev_loop	*loop;
	struct health	*h = NULL;
	char		 err[256];
	int		 tries;

	loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(loop);
	for (tries = 0; h == NULL && tries < 20; tries++) {
		port = free_port();
		h = health_start(loop, "127.0.0.1", port, status, NULL, err,
		    sizeof(err));
	}
	ck_assert_msg(h != NULL, "health_start: %s", err);
	if (with_pages)
		health_set_pages(h, pages);
	server = fork();
	ck_assert_int_ge(server, 0);
	if (server == 0) {
		/* A failed check ends the test process: the server too. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		ev_loop_fork(loop);
		ev_run(loop, 0);
		_exit(0);
	}
	/* The parent only connects: the child owns the listener now. */
}

static void
stop_server(void)
{
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		server = -1;
	}
}

/*
 * Send req and read the whole response into a malloc'd buffer (*len).
 * rcvbuf > 0: a small receive buffer, and a pause after every read of
 * chunk bytes, so the server's send() must wait for the reader.
 */
static char *
request(const char *req, int rcvbuf, size_t chunk, size_t *len)
{
	struct sockaddr_in	sin;
	struct timespec		ts = { 0, 1000 * 1000 };
	size_t			cap = 4096, n = 0;
	ssize_t			r;
	char			*buf;
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	if (rcvbuf > 0)
		ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf)), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (cap - n < chunk + 1) {
			cap = cap * 2 + chunk;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		r = read(fd, buf + n, chunk);
		if (r == -1 && errno == EINTR)
			continue;
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		n += (size_t)r;
		if (rcvbuf > 0)
			nanosleep(&ts, NULL);
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The body of a response (after the blank line), or NULL. */
static const char *
body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p != NULL ? p + 4 : NULL;
}

/* GET /metrics of size bytes, read chunk bytes a millisecond. */
static void
check_big_page(size_t size, size_t chunk)
{
	char		*want, *resp, hdr[64];
	const char	*body;
	size_t		 wantlen = 0, len;

	page_size = size;
	start_server(1);
	want = pages(NULL, HEALTH_PAGE_METRICS, &wantlen);
	resp = request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 4096,
	    chunk, &len);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
	    "status line: %.40s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Type: text/plain; "
	    "version=0.0.4; charset=utf-8\r\n"));
	snprintf(hdr, sizeof(hdr), "\r\nContent-Length: %zu\r\n", size);
	ck_assert_ptr_nonnull(strstr(resp, hdr));
	body = body_of(resp);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len - (size_t)(body - resp), size);
	ck_assert_int_eq(memcmp(body, want, size), 0);
	free(resp);
	free(want);
	stop_server();
}

/* 100 kB in 1 kB reads through a 4 kB buffer: about 0.1 s. */
START_TEST(big_page_to_slow_reader)
{
	check_big_page(100000, 1024);
}
END_TEST

/* 8 MB, over the kernel's largest send buffer, in 64 kB reads. */
START_TEST(huge_page_waits_for_reader)
{
	check_big_page(8 * 1024 * 1024, 65536);
}
END_TEST

START_TEST(head_has_get_length)
{
	char		*resp, hdr[64];
	const char	*body;
	size_t		 len;

	start_server(1);
	resp = request("HEAD /metrics HTTP/1.1\r\n\r\n", 0, 4096, &len);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
	    "status line: %.40s", resp);
	snprintf(hdr, sizeof(hdr), "\r\nContent-Length: %zu\r\n", page_size);
	ck_assert_ptr_nonnull(strstr(resp, hdr));
	body = body_of(resp);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(body, "");
	free(resp);
	stop_server();
}
END_TEST

START_TEST(failed_page_is_500)
{
	char	*resp;
	size_t	 len;

	start_server(1);
	resp = request("GET /status HTTP/1.1\r\n\r\n", 0, 4096, &len);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 500 Internal Server Error\r\n",
	    36) == 0, "status line: %.40s", resp);
	ck_assert_ptr_nonnull(strstr(resp,
	    "\r\nContent-Type: application/json\r\n"));
	ck_assert_str_eq(body_of(resp), "{\"error\":\"internal error\"}");
	free(resp);
	/* The other endpoints are unchanged beside the pages. */
	resp = request("GET /livez HTTP/1.1\r\n\r\n", 0, 4096, &len);
	ck_assert_str_eq(body_of(resp), "{\"status\":\"UP\"}");
	free(resp);
	resp = request("GET /readyz HTTP/1.1\r\n\r\n", 0, 4096, &len);
	ck_assert_str_eq(body_of(resp),
	    "{\"status\":\"UP\",\"consumers\":1,\"redis\":\"CONNECTED\"}");
	free(resp);
	stop_server();
}
END_TEST

START_TEST(no_callback_is_404)
{
	char	*resp;
	size_t	 len;

	start_server(0);
	resp = request("GET /metrics HTTP/1.1\r\n\r\n", 0, 4096, &len);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 404 Not Found\r\n", 24) == 0,
	    "status line: %.40s", resp);
	free(resp);
	resp = request("GET /status HTTP/1.1\r\n\r\n", 0, 4096, &len);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 404 Not Found\r\n", 24) == 0,
	    "status line: %.40s", resp);
	free(resp);
	stop_server();
}
END_TEST

static Suite *
health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("pages");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, big_page_to_slow_reader);
	tcase_add_test(tc, huge_page_waits_for_reader);
	tcase_add_test(tc, head_has_get_length);
	tcase_add_test(tc, failed_page_is_500);
	tcase_add_test(tc, no_callback_is_404);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(health_suite());
}
