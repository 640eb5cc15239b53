/*
 * Unit tests for polls: the number of long polls in flight grows while
 * batches come back full, shrinks while they come back empty or short,
 * stays between 1 and the ceiling, and idles at 1.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>

#include "testutil.h"
#include "polls.h"

/*
 * One round: every poll of the target comes back with n messages, the
 * consumer starting new ones as the target allows (as maybe_receive
 * does).  Returns the polls started during the round.
 */
static int
round_of(struct polls *p, size_t n)
{
	int out = p->target, started = 0, left = p->target;

	while (left-- > 0) {
		polls_received(p, n, out);
		out--;
		while (out < p->target) {
			out++;
			started++;
		}
	}
	return started;
}

START_TEST(starts_at_one)
{
	struct polls p;

	polls_init(&p, 16, 10);
	ck_assert_int_eq(p.target, 1);
}
END_TEST

START_TEST(grows_on_full_batches_up_to_the_ceiling)
{
	struct polls p;
	int i, prev;

	polls_init(&p, 16, 10);
	ck_assert_int_eq(polls_received(&p, 10, 1), 2);
	ck_assert_int_eq(polls_received(&p, 10, 2), 3);
	/* A round of full batches doubles it: 1, 2, 4, 8, 16. */
	polls_init(&p, 16, 10);
	for (i = 0, prev = 1; i < 4; i++) {
		round_of(&p, 10);
		ck_assert_int_eq(p.target, prev * 2);
		prev = p.target;
	}
	for (i = 0; i < 100; i++)
		ck_assert_int_le(polls_received(&p, 10, p.target), 16);
	ck_assert_int_eq(p.target, 16);
}
END_TEST

START_TEST(grows_no_further_than_the_polls_in_flight)
{
	struct polls p;

	/* The in-hand limit kept 3 going: a target of 16 would be a lie. */
	polls_init(&p, 16, 10);
	p.target = 8;
	ck_assert_int_eq(polls_received(&p, 10, 3), 4);
	ck_assert_int_eq(polls_received(&p, 10, 4), 5);
}
END_TEST

START_TEST(shrinks_on_empty_and_short_batches_never_below_one)
{
	struct polls p;
	int i;

	polls_init(&p, 16, 10);
	p.target = 5;
	ck_assert_int_eq(polls_received(&p, 0, 5), 4);
	ck_assert_int_eq(polls_received(&p, 4, 4), 3);	/* under half */
	ck_assert_int_eq(polls_received(&p, 1, 3), 2);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(polls_received(&p, 0, 1), 1);
}
END_TEST

START_TEST(half_a_batch_or_more_holds)
{
	struct polls p;

	polls_init(&p, 16, 10);
	p.target = 6;
	ck_assert_int_eq(polls_received(&p, 5, 6), 6);
	ck_assert_int_eq(polls_received(&p, 9, 6), 6);
}
END_TEST

START_TEST(a_drained_queue_goes_back_to_one_without_extra_polls)
{
	struct polls p;
	int started;

	polls_init(&p, 16, 10);
	while (p.target < 16)
		round_of(&p, 10);
	/* The backlog is gone: the whole round answers empty. */
	started = round_of(&p, 0);
	ck_assert_int_eq(p.target, 1);
	ck_assert_int_eq(started, 1);	/* the one left to idle on */
	/* Idle: one poll, one new one per empty answer, for good. */
	ck_assert_int_eq(round_of(&p, 0), 1);
	ck_assert_int_eq(round_of(&p, 0), 1);
	ck_assert_int_eq(p.target, 1);
}
END_TEST

START_TEST(a_failure_goes_back_to_one)
{
	struct polls p;

	polls_init(&p, 32, 10);
	p.target = 20;
	ck_assert_int_eq(polls_failed(&p), 1);
	ck_assert_int_eq(polls_received(&p, 10, 1), 2);
}
END_TEST

START_TEST(batch_of_one_and_ceiling_of_one)
{
	struct polls p;

	/* BATCH_SIZE=1: a message is a full batch, none an empty one. */
	polls_init(&p, 4, 1);
	ck_assert_int_eq(polls_received(&p, 1, 1), 2);
	ck_assert_int_eq(polls_received(&p, 0, 2), 1);
	/* RECEIVES_IN_FLIGHT=1: always one, as before. */
	polls_init(&p, 1, 10);
	ck_assert_int_eq(polls_received(&p, 10, 1), 1);
	ck_assert_int_eq(polls_received(&p, 0, 1), 1);
	/* Nonsense settings are made sane, not trusted. */
	polls_init(&p, 0, 0);
	ck_assert_int_eq(p.target, 1);
	ck_assert_int_eq(polls_received(&p, 5, 1), 1);
}
END_TEST

static Suite *
polls_suite(void)
{
	Suite *s = suite_create("polls");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, starts_at_one);
	tcase_add_test(tc, grows_on_full_batches_up_to_the_ceiling);
	tcase_add_test(tc, grows_no_further_than_the_polls_in_flight);
	tcase_add_test(tc, shrinks_on_empty_and_short_batches_never_below_one);
	tcase_add_test(tc, half_a_batch_or_more_holds);
	tcase_add_test(tc, a_drained_queue_goes_back_to_one_without_extra_polls);
	tcase_add_test(tc, a_failure_goes_back_to_one);
	tcase_add_test(tc, batch_of_one_and_ceiling_of_one);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(polls_suite());
}
