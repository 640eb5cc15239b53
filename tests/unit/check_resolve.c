/*
 * Unit tests for resolve: a numeric host answered from the loop without a
 * thread (never from inside resolve_start), a name from /etc/hosts
 * answered through a thread, a lookup abandoned before its answer never
 * calling back (the thread finishing alone: under ASan, no use after
 * free), and what counts as numeric.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "testutil.h"
#include "resolve.h"

struct answer {
	int		 calls;
	size_t		 n;
	char		 first[RESOLVE_ADDRSTRLEN];
	int		 has_loopback;
	char		 err[128];
};

static void
on_answer(void *arg, const struct resolve_result *res, const char *err)
{
	struct answer *a = arg;
	size_t i;

	a->calls++;
	if (res == NULL) {
		snprintf(a->err, sizeof(a->err), "%s", err);
		return;
	}
	a->n = res->n;
	snprintf(a->first, sizeof(a->first), "%s", res->addr[0]);
	for (i = 0; i < res->n; i++)
		if (strcmp(res->addr[i], "127.0.0.1") == 0 ||
		    strcmp(res->addr[i], "::1") == 0)
			a->has_loopback = 1;
}

static void
on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run loop until a answered or seconds passed. */
static void
run_for(struct ev_loop *loop, struct answer *a, double seconds)
{
	ev_timer stop;
	ev_tstamp end = ev_time() + seconds;

	ev_timer_init(&stop, on_stop, 0.01, 0.01);
	ev_timer_start(loop, &stop);
	while (ev_time() < end && (a == NULL || a->calls == 0))
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &stop);
}

START_TEST(numeric_hosts_need_no_lookup)
{
	ck_assert_int_eq(resolve_is_numeric("127.0.0.1"), 1);
	ck_assert_int_eq(resolve_is_numeric("::1"), 1);
	ck_assert_int_eq(resolve_is_numeric("2001:db8::7"), 1);
	ck_assert_int_eq(resolve_is_numeric("localhost"), 0);
	ck_assert_int_eq(resolve_is_numeric("redis.example.com"), 0);
	ck_assert_int_eq(resolve_is_numeric("[::1]"), 0);
}
END_TEST

START_TEST(numeric_answered_from_the_loop)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct answer a;
	char err[128];

	memset(&a, 0, sizeof(a));
	ck_assert_ptr_nonnull(resolve_start(loop, "::1", 5., on_answer, &a,
	    err, sizeof(err)));
	/* Never from inside resolve_start. */
	ck_assert_int_eq(a.calls, 0);
	run_for(loop, &a, 1.);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(a.first, "::1");
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(name_answered_through_a_thread)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct answer a;
	char err[128];

	memset(&a, 0, sizeof(a));
	ck_assert_ptr_nonnull(resolve_start(loop, "localhost", 5., on_answer,
	    &a, err, sizeof(err)));
	ck_assert_int_eq(a.calls, 0);
	run_for(loop, &a, 5.);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_msg(a.n >= 1 && a.has_loopback, "localhost: %zu addresses,"
	    " first '%s', error '%s'", a.n, a.first, a.err);
	run_for(loop, NULL, 0.1);
	ck_assert_int_eq(a.calls, 1);	/* exactly once */
	ev_loop_destroy(loop);
}
END_TEST

/* A link-local address keeps its zone, which connecting to it needs. */
START_TEST(zone_is_kept)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct answer a;
	char err[128];

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(resolve_is_numeric("fe80::1%lo"), 0);
	ck_assert_ptr_nonnull(resolve_start(loop, "fe80::1%lo", 5., on_answer,
	    &a, err, sizeof(err)));
	run_for(loop, &a, 5.);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_msg(a.n == 1, "fe80::1%%lo: error '%s'", a.err);
	ck_assert_str_eq(a.first, "fe80::1%lo");
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(cancelled_lookup_never_answers)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolve *r;
	struct answer a;
	char err[128];
	int i;

	memset(&a, 0, sizeof(a));
	/* Abandoned at once, and while their threads run: never called. */
	for (i = 0; i < 8; i++) {
		r = resolve_start(loop, "localhost", 5., on_answer, &a, err,
		    sizeof(err));
		ck_assert_ptr_nonnull(r);
		resolve_cancel(r);
	}
	r = resolve_start(loop, "127.0.0.1", 5., on_answer, &a, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(r);
	resolve_cancel(r);
	resolve_cancel(NULL);
	/* Long enough for the threads to finish and free their halves. */
	run_for(loop, NULL, 0.5);
	ck_assert_int_eq(a.calls, 0);
	ev_loop_destroy(loop);
}
END_TEST

static Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, numeric_hosts_need_no_lookup);
	tcase_add_test(tc, numeric_answered_from_the_loop);
	tcase_add_test(tc, name_answered_through_a_thread);
	tcase_add_test(tc, zone_is_kept);
	tcase_add_test(tc, cancelled_lookup_never_answers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(resolve_suite());
}
