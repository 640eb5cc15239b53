/*
 * Unit tests for backoff: the floor, doubling, the ceiling, jitter bounds
 * and reset.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"
#include "backoff.h"

START_TEST(first_delay_is_the_floor)
{
	struct backoff b;

	backoff_init(&b, 100, 30000);
	/* Whatever the jitter, the first retry waits the floor. */
	ck_assert_uint_eq(backoff_next(&b, 0), 100);
	backoff_reset(&b);
	ck_assert_uint_eq(backoff_next(&b, UINT32_MAX), 100);
}
END_TEST

START_TEST(delays_double_within_jitter)
{
	struct backoff b;
	uint32_t d, ceiling = 100;
	int i;

	backoff_init(&b, 100, 30000);
	for (i = 0; i < 8; i++) {
		d = backoff_next(&b, (uint32_t)rand());
		ck_assert_uint_ge(d, ceiling / 2 < 100 ? 100 : ceiling / 2);
		ck_assert_uint_le(d, ceiling);
		ceiling *= 2;
	}
}
END_TEST

START_TEST(max_jitter_reaches_the_full_step)
{
	struct backoff b;

	backoff_init(&b, 100, 30000);
	(void)backoff_next(&b, 0);
	(void)backoff_next(&b, 0);
	/* Third step: d = 400, range [200, 400]. */
	ck_assert_uint_eq(backoff_next(&b, 200), 400);
	backoff_init(&b, 100, 30000);
	(void)backoff_next(&b, 0);
	(void)backoff_next(&b, 0);
	ck_assert_uint_eq(backoff_next(&b, 0), 200);
}
END_TEST

START_TEST(ceiling_holds_after_many_failures)
{
	struct backoff b;
	int i;

	backoff_init(&b, 100, 5000);
	for (i = 0; i < 1000; i++)
		ck_assert_uint_le(backoff_next(&b, (uint32_t)rand()), 5000);
	ck_assert_uint_ge(backoff_next(&b, 0), 2500);
	ck_assert_uint_eq(b.failures, 1001);
}
END_TEST

START_TEST(reset_starts_over)
{
	struct backoff b;
	int i;

	backoff_init(&b, 50, 10000);
	for (i = 0; i < 10; i++)
		(void)backoff_next(&b, 7);
	ck_assert_uint_gt(backoff_next(&b, 0), 50);
	backoff_reset(&b);
	ck_assert_uint_eq(b.failures, 0);
	ck_assert_uint_eq(backoff_next(&b, 12345), 50);
}
END_TEST

START_TEST(init_repairs_bad_bounds)
{
	struct backoff b;

	backoff_init(&b, 0, 0);
	ck_assert_uint_eq(b.min_ms, 1);
	ck_assert_uint_eq(b.max_ms, 1);
	ck_assert_uint_eq(backoff_next(&b, 99), 1);
	backoff_init(&b, 500, 100);
	ck_assert_uint_eq(b.max_ms, 500);
}
END_TEST

START_TEST(random_varies)
{
	uint32_t a = backoff_random(), c;
	int i, differs = 0;

	for (i = 0; i < 16; i++)
		if ((c = backoff_random()) != a)
			differs = 1;
	ck_assert_int_eq(differs, 1);
}
END_TEST

static Suite *
backoff_suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, first_delay_is_the_floor);
	tcase_add_test(tc, delays_double_within_jitter);
	tcase_add_test(tc, max_jitter_reaches_the_full_step);
	tcase_add_test(tc, ceiling_holds_after_many_failures);
	tcase_add_test(tc, reset_starts_over);
	tcase_add_test(tc, init_repairs_bad_bounds);
	tcase_add_test(tc, random_varies);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(backoff_suite());
}
