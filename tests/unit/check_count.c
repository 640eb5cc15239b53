/*
 * Unit tests for the labels the consumer counts under: SQS statuses to
 * pcs_sqs_requests_total{outcome}, Edge API results to
 * pcs_edge_refills_total{outcome}, event kinds to
 * pcs_messages_total{event}; each a closed set, every value mapped.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "testutil.h"
#include "edge.h"
#include "events.h"
#include "metrics.h"
#include "sqs.h"

START_TEST(sqs_statuses)
{
	ck_assert_int_eq(sqs_metrics_outcome(SQS_OK), METRICS_SQS_OK);
	ck_assert_int_eq(sqs_metrics_outcome(SQS_AUTH), METRICS_SQS_AUTH);
	ck_assert_int_eq(sqs_metrics_outcome(SQS_THROTTLED),
	    METRICS_SQS_THROTTLED);
	ck_assert_int_eq(sqs_metrics_outcome(SQS_SERVER), METRICS_SQS_SERVER);
	ck_assert_int_eq(sqs_metrics_outcome(SQS_NETWORK),
	    METRICS_SQS_NETWORK);
	ck_assert_int_eq(sqs_metrics_outcome(SQS_CLIENT), METRICS_SQS_CLIENT);
	ck_assert_int_eq(sqs_metrics_outcome(SQS_PROTOCOL),
	    METRICS_SQS_PROTOCOL);
}
END_TEST

static enum metrics_edge_outcome
edge(int ok, long status)
{
	struct edge_result r;

	memset(&r, 0, sizeof(r));
	r.ok = ok;
	r.status = status;
	r.attempts = 1;
	return edge_metrics_outcome(&r);
}

START_TEST(edge_results)
{
	ck_assert_int_eq(edge(1, 200), METRICS_EDGE_OK);
	ck_assert_int_eq(edge(0, 404), METRICS_EDGE_NOT_FOUND);
	ck_assert_int_eq(edge(0, 401), METRICS_EDGE_UNAUTHORIZED);
	ck_assert_int_eq(edge(0, 403), METRICS_EDGE_UNAUTHORIZED);
	ck_assert_int_eq(edge(0, 503), METRICS_EDGE_FAILED);
	ck_assert_int_eq(edge(0, 429), METRICS_EDGE_FAILED);
	ck_assert_int_eq(edge(0, 0), METRICS_EDGE_FAILED);	/* no answer */
	ck_assert_int_eq(edge(0, 400), METRICS_EDGE_FAILED);
}
END_TEST

START_TEST(event_kinds)
{
	ck_assert_int_eq(events_metrics_event(EVENT_ENTITLEMENTS),
	    METRICS_EV_ENTITLEMENTS);
	ck_assert_int_eq(events_metrics_event(EVENT_REFILL), METRICS_EV_REFILL);
	ck_assert_int_eq(events_metrics_event(EVENT_USAGE), METRICS_EV_USAGE);
	ck_assert_int_eq(events_metrics_event(EVENT_PURGE), METRICS_EV_PURGE);
	ck_assert_int_eq(events_metrics_event(EVENT_INVALIDATE_ALL),
	    METRICS_EV_INVALIDATE_ALL);
	ck_assert_int_eq(events_metrics_event(EVENT_IGNORED), METRICS_EV_OTHER);
}
END_TEST

static Suite *
count_suite(void)
{
	Suite *s = suite_create("count");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sqs_statuses);
	tcase_add_test(tc, edge_results);
	tcase_add_test(tc, event_kinds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(count_suite());
}
