/*
 * Unit tests for metrics: the buckets of each histogram (a bound belongs
 * to its bucket, negative and NaN count as 0, the huge as +Inf), the sum
 * of the counters, the label values' escaping, and the exposition of a
 * fixed input compared byte for byte with tests/data/metrics/render.prom
 * (which tests/integration/metrics.sh hands to promtool check metrics):
 * gauges of slots not live left out, the nearest credential expiry, the
 * build information asked of each library.
 */
#include "autoconf.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "metrics.h"
#include "testutil.h"

/* In the golden file, the libraries' versions are these placeholders. */
#define GOLDEN_BUILD_INFO "pcs_build_info{version=\"VERSION\"," \
	"hiredis=\"HIREDIS\",libcurl=\"LIBCURL\",openssl=\"OPENSSL\"," \
	"json_c=\"JSON_C\",libev=\"LIBEV\"} 1\n"

static int
bucket_of(const struct metrics_hist *h)
{
	int i;

	for (i = 0; i <= METRICS_BUCKETS; i++)
		if (h->bucket[i] != 0)
			return i;
	return -1;
}

static int
observe1(enum metrics_hist_kind kind, double s)
{
	struct metrics_hist h;

	memset(&h, 0, sizeof(h));
	metrics_observe(&h, kind, s);
	ck_assert_uint_eq(h.count, 1);
	return bucket_of(&h);
}

START_TEST(observe_bounds)
{
	/* lag: 0.01 .. 3600 */
	ck_assert_int_eq(observe1(METRICS_H_LAG, 0.01), 0);
	ck_assert_int_eq(observe1(METRICS_H_LAG, 0.010001), 1);
	ck_assert_int_eq(observe1(METRICS_H_LAG, 3600), METRICS_BUCKETS - 1);
	ck_assert_int_eq(observe1(METRICS_H_LAG, 3600.001), METRICS_BUCKETS);
	/* processing: 0.001 .. 60 */
	ck_assert_int_eq(observe1(METRICS_H_PROCESSING, 0.001), 0);
	ck_assert_int_eq(observe1(METRICS_H_PROCESSING, 0.0011), 1);
	ck_assert_int_eq(observe1(METRICS_H_PROCESSING, 60),
	    METRICS_BUCKETS - 1);
	ck_assert_int_eq(observe1(METRICS_H_PROCESSING, 61), METRICS_BUCKETS);
	/* SQS: 0.005 .. 30; an empty 20 s long poll below 20.5 */
	ck_assert_int_eq(observe1(METRICS_H_SQS, 0.005), 0);
	ck_assert_int_eq(observe1(METRICS_H_SQS, 20.02),
	    observe1(METRICS_H_SQS, 20.5));
	ck_assert_int_gt(observe1(METRICS_H_SQS, 20.02),
	    observe1(METRICS_H_SQS, 19));
	ck_assert_int_eq(observe1(METRICS_H_SQS, 30), METRICS_BUCKETS - 1);
	ck_assert_int_eq(observe1(METRICS_H_SQS, 31), METRICS_BUCKETS);
	/* Redis: 0.0002 .. 5 */
	ck_assert_int_eq(observe1(METRICS_H_REDIS, 0.0002), 0);
	ck_assert_int_eq(observe1(METRICS_H_REDIS, 0.0003), 1);
	ck_assert_int_eq(observe1(METRICS_H_REDIS, 5), METRICS_BUCKETS - 1);
	ck_assert_int_eq(observe1(METRICS_H_REDIS, 5.1), METRICS_BUCKETS);
}
END_TEST

START_TEST(observe_edges)
{
	struct metrics_hist h;

	memset(&h, 0, sizeof(h));
	/* A clock step or a skewed SentTimestamp: counted as 0. */
	metrics_observe(&h, METRICS_H_LAG, -5);
	metrics_observe(&h, METRICS_H_LAG, NAN);
	metrics_observe(&h, METRICS_H_LAG, -INFINITY);
	metrics_observe(&h, METRICS_H_LAG, 0);
	ck_assert_uint_eq(h.bucket[0], 4);
	ck_assert_uint_eq(h.sum_us, 0);
	/* Huge and infinite: +Inf, the sum capped, not overflowed. */
	metrics_observe(&h, METRICS_H_LAG, INFINITY);
	metrics_observe(&h, METRICS_H_LAG, 1e300);
	ck_assert_uint_eq(h.bucket[METRICS_BUCKETS], 2);
	ck_assert_uint_eq(h.count, 6);
	ck_assert(h.sum_us > 0 && h.sum_us < UINT64_MAX / 2);
	/* Microseconds, rounded. */
	memset(&h, 0, sizeof(h));
	metrics_observe(&h, METRICS_H_REDIS, 0.0000015);
	metrics_observe(&h, METRICS_H_REDIS, 1.25);
	ck_assert_uint_eq(h.sum_us, 1250002);
	ck_assert_uint_eq(h.count, 2);
	/* A kind out of range is ignored. */
	metrics_observe(&h, (enum metrics_hist_kind)METRICS_H_KIND_N, 1);
	metrics_observe(&h, (enum metrics_hist_kind)-1, 1);
	ck_assert_uint_eq(h.count, 2);
}
END_TEST

START_TEST(add_everything)
{
	struct metrics_counters a, b;
	uint64_t *pa = (uint64_t *)(void *)&a, *pb = (uint64_t *)(void *)&b;
	size_t i;

	ck_assert_uint_eq(sizeof(a), METRICS_NCOUNTERS * sizeof(uint64_t));
	for (i = 0; i < METRICS_NCOUNTERS; i++) {
		pa[i] = i;
		pb[i] = 1000 + 2 * i;
	}
	metrics_add(&a, &b);
	for (i = 0; i < METRICS_NCOUNTERS; i++)
		ck_assert_uint_eq(pa[i], 1000 + 3 * i);
	/* The last member too: the histograms travel with the counters. */
	ck_assert_uint_eq(a.redis.sum_us, 1000 + 3 * (METRICS_NCOUNTERS - 1));
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(metrics_event_name(METRICS_EV_ENTITLEMENTS),
	    "entitlements");
	ck_assert_str_eq(metrics_event_name(METRICS_EV_INVALIDATE_ALL),
	    "invalidate_all");
	ck_assert_str_eq(metrics_event_name(METRICS_EV_UNKNOWN), "unknown");
	ck_assert_str_eq(metrics_event_name((enum metrics_event)99),
	    "unknown");
	ck_assert_str_eq(metrics_outcome_name(METRICS_OUT_SKIPPED_UNCACHED),
	    "skipped_uncached");
	ck_assert_str_eq(metrics_outcome_name(METRICS_OUT_REJECTED),
	    "rejected");
	ck_assert_str_eq(metrics_sqs_action_name(METRICS_SQS_CHANGE),
	    "ChangeMessageVisibilityBatch");
}
END_TEST

START_TEST(escape_label)
{
	char buf[64];

	ck_assert_int_eq(metrics_escape_label(buf, sizeof(buf), "3.0.11"), 0);
	ck_assert_str_eq(buf, "3.0.11");
	ck_assert_int_eq(metrics_escape_label(buf, sizeof(buf),
	    "a\\b\"c\nd"), 0);
	ck_assert_str_eq(buf, "a\\\\b\\\"c\\nd");
	/* Cut at a whole escape. */
	ck_assert_int_eq(metrics_escape_label(buf, 3, "a\"b"), -1);
	ck_assert_str_eq(buf, "a");
	ck_assert_int_eq(metrics_escape_label(buf, 5, "\n\n"), 0);
	ck_assert_str_eq(buf, "\\n\\n");
	ck_assert_int_eq(metrics_escape_label(buf, 0, "x"), -1);
}
END_TEST

/* The fixed input of the golden file: two slots, the second not live. */
static void
fixture(struct metrics_master *mm, struct metrics_counters c[2],
    struct metrics_gauges g[2], int live[2])
{
	int e, o;

	memset(mm, 0, sizeof(*mm));
	memset(c, 0, 2 * sizeof(*c));
	memset(g, 0, 2 * sizeof(*g));
	mm->consumers_configured = 2;
	mm->consumers_running = 1;
	mm->consumers_ready = 1;
	mm->ready = 1;
	mm->exits[METRICS_EXIT_CRASH] = 1;
	mm->exits[METRICS_EXIT_HANG] = 2;
	mm->restarts = 3;
	mm->reloads = 4;
	mm->reload_failures = 5;
	mm->start_time_ms = 1700000000123ULL;
	mm->now_ms = 1700000100000ULL;

	c[0].received = 10;
	c[1].received = 7;
	for (e = 0; e < METRICS_EV_N; e++)
		for (o = 0; o < METRICS_OUT_N; o++)
			c[0].messages[e][o] = (uint64_t)(10 * e + o);
	c[1].messages[METRICS_EV_ENTITLEMENTS][METRICS_OUT_APPLIED] = 100;
	c[0].sqs_requests[METRICS_SQS_RECEIVE][METRICS_SQS_OK] = 12;
	c[1].sqs_requests[METRICS_SQS_RECEIVE][METRICS_SQS_OK] = 1;
	c[0].sqs_requests[METRICS_SQS_DELETE][METRICS_SQS_THROTTLED] = 2;
	c[0].sqs_requests[METRICS_SQS_CHANGE][METRICS_SQS_PROTOCOL] = 1;
	c[0].deletes[METRICS_ENTRY_OK] = 9;
	c[0].deletes[METRICS_ENTRY_RETRIED] = 1;
	c[1].visibility[METRICS_ENTRY_FAILED] = 2;
	c[0].redis_errors[METRICS_REDIS_LOST] = 1;
	c[1].redis_errors[METRICS_REDIS_REFUSING] = 3;
	c[1].redis_primary_switches = 1;
	c[0].edge_refills[METRICS_EDGE_OK] = 4;
	c[0].edge_refills[METRICS_EDGE_UNAUTHORIZED] = 1;
	c[0].credential_refreshes[METRICS_REFRESH_OK] = 2;
	c[0].held_released = 6;
	metrics_observe(&c[0].lag, METRICS_H_LAG, 0.02);
	metrics_observe(&c[1].lag, METRICS_H_LAG, 7200);
	metrics_observe(&c[0].processing, METRICS_H_PROCESSING, 0.0015);
	metrics_observe(&c[0].sqs[METRICS_SQS_RECEIVE], METRICS_H_SQS, 20.01);
	metrics_observe(&c[0].sqs[METRICS_SQS_DELETE], METRICS_H_SQS, 0.004);
	metrics_observe(&c[0].redis, METRICS_H_REDIS, 0.000321);
	metrics_observe(&c[1].redis, METRICS_H_REDIS, 0.5);

	g[0].in_hand = 3;
	g[0].held = 1;
	g[0].receives_in_flight = 1;
	g[0].creds_expiry_ms = 1700003700500ULL;
	g[0].redis_connected = 1;
	g[0].redis_primary_known = 1;
	/* Not live: none of these may show. */
	g[1].in_hand = 1000;
	g[1].held = 1000;
	g[1].receives_in_flight = 1000;
	g[1].creds_expiry_ms = 1700000000001ULL;
	live[0] = 1;
	live[1] = 0;
}

static char *
read_file(const char *rel)
{
	const char *srcdir = getenv("PCS_SRCDIR");
	char path[1024], *text;
	FILE *fp;
	size_t n;

	/* make check sets PCS_SRCDIR; else find it from this file's path. */
	if (srcdir != NULL)
		snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
	else
		snprintf(path, sizeof(path), "%.*s%s", (int)(strlen(__FILE__) -
		    strlen("tests/unit/check_metrics.c")), __FILE__, rel);
	ck_assert_msg((fp = fopen(path, "r")) != NULL, "open %s", path);
	ck_assert_ptr_nonnull(text = calloc(1, 1 << 20));
	n = fread(text, 1, (1 << 20) - 1, fp);
	ck_assert(n > 0 && n < (1 << 20) - 1);
	fclose(fp);
	return text;
}

/* The line starting with prefix, cut out of text; its copy returned. */
static char *
cut_line(char *text, const char *prefix)
{
	char *s, *e, *line;

	ck_assert_ptr_nonnull(s = strstr(text, prefix));
	ck_assert(s == text || s[-1] == '\n');
	ck_assert_ptr_nonnull(e = strchr(s, '\n'));
	e++;
	ck_assert_ptr_nonnull(line = strndup(s, (size_t)(e - s)));
	memmove(s, e, strlen(e) + 1);
	return line;
}

START_TEST(render_golden)
{
	struct metrics_master mm;
	struct metrics_counters c[2];
	struct metrics_gauges g[2];
	int live[2];
	char *text, *golden, *bi, want[1024];
	size_t len;

	fixture(&mm, c, g, live);
	ck_assert_ptr_nonnull(text = metrics_render(&mm, c, 2, g, live, 2,
	    &len));
	ck_assert_uint_eq(len, strlen(text));
	if (getenv("PCS_METRICS_DUMP") != NULL)
		fputs(text, stderr);

	/* build_info: what each library says of itself. */
	bi = cut_line(text, "pcs_build_info{");
	snprintf(want, sizeof(want), "pcs_build_info{version=\"%s\","
	    "hiredis=\"%d.%d.%d\",libcurl=\"%s\",openssl=\"%s\","
	    "json_c=\"%s\",libev=\"%d.%d\"} 1\n", PACKAGE_VERSION,
	    HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH,
	    curl_version_info(CURLVERSION_NOW)->version,
	    OpenSSL_version(OPENSSL_VERSION_STRING), json_c_version(),
	    ev_version_major(), ev_version_minor());
	ck_assert_str_eq(bi, want);

	golden = read_file("tests/data/metrics/render.prom");
	free(cut_line(golden, GOLDEN_BUILD_INFO));
	ck_assert_str_eq(text, golden);
	free(bi);
	free(golden);
	free(text);
}
END_TEST

/* The value of the series that is exactly name (with its labels). */
static int
value_of(const char *text, const char *series, char *out, size_t len)
{
	const char *s = text;
	size_t n = strlen(series);

	while ((s = strstr(s, series)) != NULL) {
		if ((s == text || s[-1] == '\n') && s[n] == ' ') {
			snprintf(out, len, "%.*s", (int)strcspn(s + n + 1,
			    "\n"), s + n + 1);
			return 1;
		}
		s += n;
	}
	return 0;
}

START_TEST(render_live_and_expiry)
{
	struct metrics_master mm;
	struct metrics_counters c[2];
	struct metrics_gauges g[2];
	int live[2];
	char *text, v[64];
	size_t len;

	fixture(&mm, c, g, live);
	/* Both live: the gauges add up, the nearest expiry is the past. */
	live[1] = 1;
	ck_assert_ptr_nonnull(text = metrics_render(&mm, c, 2, g, live, 2,
	    &len));
	ck_assert(value_of(text, "pcs_messages_in_hand", v, sizeof(v)));
	ck_assert_str_eq(v, "1003");
	ck_assert(value_of(text, "pcs_aws_credentials_expiry_seconds", v,
	    sizeof(v)));
	ck_assert_str_eq(v, "-99.999");
	free(text);

	/* None live: no expiry series, its family still described. */
	live[0] = live[1] = 0;
	ck_assert_ptr_nonnull(text = metrics_render(&mm, c, 2, g, live, 2,
	    &len));
	ck_assert(!value_of(text, "pcs_aws_credentials_expiry_seconds", v,
	    sizeof(v)));
	ck_assert_ptr_nonnull(strstr(text,
	    "# TYPE pcs_aws_credentials_expiry_seconds gauge\n"));
	ck_assert(value_of(text, "pcs_redis_connected", v, sizeof(v)));
	ck_assert_str_eq(v, "0");
	ck_assert(value_of(text, "pcs_messages_in_hand", v, sizeof(v)));
	ck_assert_str_eq(v, "0");
	/* The counters of every slot still count. */
	ck_assert(value_of(text, "pcs_messages_received_total", v,
	    sizeof(v)));
	ck_assert_str_eq(v, "17");
	free(text);

	/* No slot at all: every family, all zero. */
	ck_assert_ptr_nonnull(text = metrics_render(&mm, NULL, 0, NULL, NULL,
	    0, &len));
	ck_assert(value_of(text, "pcs_message_lag_seconds_bucket{le=\"+Inf\"}",
	    v, sizeof(v)));
	ck_assert_str_eq(v, "0");
	ck_assert(value_of(text, "pcs_messages_total{event=\"unknown\","
	    "outcome=\"rejected\"}", v, sizeof(v)));
	ck_assert_str_eq(v, "0");
	free(text);
}
END_TEST

/*
 * Every family has one # HELP and one # TYPE before its samples, every
 * sample line belongs to the family last described, the text ends with a
 * line feed.
 */
START_TEST(render_shape)
{
	struct metrics_master mm;
	struct metrics_counters c[2];
	struct metrics_gauges g[2];
	int live[2], families = 0;
	char *text, *line, *save, fam[128] = "", type[32] = "";
	size_t len, n;

	fixture(&mm, c, g, live);
	ck_assert_ptr_nonnull(text = metrics_render(&mm, c, 2, g, live, 2,
	    &len));
	ck_assert(len > 0 && text[len - 1] == '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			n = strcspn(line + 7, " ");
			ck_assert(n < sizeof(fam));
			snprintf(fam, sizeof(fam), "%.*s", (int)n, line + 7);
			type[0] = '\0';
			families++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert(strncmp(line + 7, fam, strlen(fam)) == 0);
			ck_assert(type[0] == '\0');
			snprintf(type, sizeof(type), "%s",
			    line + 7 + strlen(fam) + 1);
			continue;
		}
		ck_assert_msg(type[0] != '\0', "sample before TYPE: %s", line);
		ck_assert_msg(strncmp(line, fam, strlen(fam)) == 0,
		    "%s outside family %s", line, fam);
		if (strcmp(type, "counter") == 0)
			ck_assert(strstr(fam, "_total") != NULL);
	}
	/* 13 counters, 12 gauges, 4 histograms */
	ck_assert_int_eq(families, 29);
	free(text);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, observe_bounds);
	tcase_add_test(tc, observe_edges);
	tcase_add_test(tc, add_everything);
	tcase_add_test(tc, names);
	tcase_add_test(tc, escape_label);
	tcase_add_test(tc, render_golden);
	tcase_add_test(tc, render_live_and_expiry);
	tcase_add_test(tc, render_shape);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(metrics_suite());
}
