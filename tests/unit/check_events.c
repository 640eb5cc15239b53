/*
 * Unit tests for the message parser: every example of spec/events.md
 * (copied into tests/data/examples/) with the exact JSON the SDK will
 * read, written here by hand from spec/redis-layout.md; both spellings of
 * every type; dates; ids; limits; the Edge API answer; and every kind of
 * bad message, which must be rejected whole with a reason naming the
 * problem.
 */
#include "autoconf.h"

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "events.h"

/*
 * glibc lets a program replace malloc; AddressSanitizer replaces it
 * first, and a second replacement breaks its start (the sanitizer run of
 * the suite), so there the out-of-memory test is left out.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PCS_ASAN 1
#endif
#endif
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(PCS_ASAN)
#define CAN_FAIL_MALLOC 1
#endif

#ifdef CAN_FAIL_MALLOC
/*
 * Out of memory on demand: the n-th allocation from now fails (-1: none
 * does).  glibc lets a program replace malloc, and json-c's allocations
 * and the parser's own come here.
 */
extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);
static long	 fail_in = -1;

static int
allocation_fails(void)
{
	if (fail_in < 0)
		return 0;
	return fail_in-- == 0;
}

void *
malloc(size_t n)
{
	return allocation_fails() ? NULL : __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	return allocation_fails() ? NULL : __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	return allocation_fails() ? NULL : __libc_realloc(p, n);
}
#endif

/* The SQS SentTimestamp the tests pass: the version of last resort. */
#define SENT	INT64_C(1763150499999)

static const struct event zero_event;

/* Where the examples are: $PCS_SRCDIR, or relative to the build dir. */
static const char *
examples_dir(void)
{
	static char dir[4096];
	static const char *const rel[] = {
		"../tests/data/examples", "tests/data/examples"
	};
	const char *src;
	DIR *d;
	size_t i;

	if ((src = getenv("PCS_SRCDIR")) != NULL && *src != '\0') {
		snprintf(dir, sizeof(dir), "%s/tests/data/examples", src);
		return dir;
	}
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((d = opendir(rel[i])) != NULL) {
			closedir(d);
			snprintf(dir, sizeof(dir), "%s", rel[i]);
			return dir;
		}
	}
	ck_abort_msg("cannot find tests/data/examples (set PCS_SRCDIR)");
	return NULL;
}

static char *
load(const char *name, size_t *lenp)
{
	char path[4200], *buf;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", examples_dir(), name);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	buf = malloc(1024 * 1024);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, 1024 * 1024 - 1, fp);
	ck_assert_msg(!ferror(fp), "cannot read %s", path);
	fclose(fp);
	buf[n] = '\0';
	*lenp = n;
	return buf;
}

/* The tests write JSON with single quotes; this makes it JSON. */
static char *
dq(const char *s)
{
	char *t = strdup(s), *p;

	ck_assert_ptr_nonnull(t);
	for (p = t; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

static void
parse_file(const char *name, struct event *ev)
{
	char err[256], *body;
	size_t len;
	int r;

	body = load(name, &len);
	r = events_parse(body, len, SENT, ev, err, sizeof(err));
	free(body);
	ck_assert_msg(r == 0, "%s: %s", name, err);
}

static void
parse_len(const char *body, size_t len, struct event *ev)
{
	char err[256];
	int r;

	r = events_parse(body, len, SENT, ev, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %s", body, err);
}

/* Parses a single-quoted JSON text. */
static void
parse_q(const char *q, struct event *ev)
{
	char *body = dq(q);

	parse_len(body, strlen(body), ev);
	free(body);
}

/* A rejected event: nothing but the labels for its log line (labels_of_bad). */
static void
assert_only_labels(const struct event *ev)
{
	struct event e = *ev;

	memset(e.type, 0, sizeof(e.type));
	memset(e.message_id, 0, sizeof(e.message_id));
	memset(e.trace_id, 0, sizeof(e.trace_id));
	ck_assert_int_eq(memcmp(&e, &zero_event, sizeof(e)), 0);
}

static void
bad_len(const char *body, size_t len, const char *want)
{
	struct event ev;
	char err[256];

	memset(&ev, 0x5a, sizeof(ev));
	ck_assert_int_eq(events_parse(body, len, SENT, &ev, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'",
	    err, want);
	ck_assert_msg(strchr(err, '\n') == NULL, "error on two lines");
	assert_only_labels(&ev);
}

static void
bad_q(const char *q, const char *want)
{
	char *body = dq(q);

	bad_len(body, strlen(body), want);
	free(body);
}

/* Compares got with a single-quoted JSON text. */
static void
json_eq(const char *got, const char *q)
{
	char *want = dq(q);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(want);
}

static void
assert_ids(const struct event *ev, const char *customer, const char *resource)
{
	if (customer == NULL)
		ck_assert_ptr_null(ev->customer_id);
	else
		ck_assert_str_eq(ev->customer_id, customer);
	if (resource == NULL)
		ck_assert_ptr_null(ev->resource_id);
	else
		ck_assert_str_eq(ev->resource_id, resource);
}

/* Nothing of the other kinds is set. */
static void
assert_no_entitlements(const struct event *ev)
{
	ck_assert_ptr_null(ev->entitlements_json);
	ck_assert_ptr_null(ev->metadata_json);
	ck_assert_ptr_null(ev->usage);
	ck_assert_uint_eq(ev->nusage, 0);
}

static void
assert_no_usage(const struct event *ev)
{
	ck_assert_ptr_null(ev->feature_id);
	ck_assert_ptr_null(ev->usage_json);
}

/* The examples, with what each must yield. */

static const char want_updated[] =
    "{\"api-calls\":{\"calculatedEntitlement\":{\"feature\":{\"id\":"
    "\"api-calls\",\"featureType\":\"NUMBER\",\"meterType\":"
    "\"Incremental\",\"units\":\"call\",\"unitsPlural\":\"calls\"},"
    "\"usageLimit\":1000,\"hasUnlimitedUsage\":false,\"hasSoftLimit\":"
    "false,\"enumValues\":[]},\"featureUsage\":{\"resetPeriod\":\"MONTH\","
    "\"resetPeriodConfiguration\":{\"accordingTo\":\"SubscriptionStart\"},"
    "\"currentUsage\":42,\"usagePeriodAnchor\":1761955200000,"
    "\"usagePeriodStart\":1761955200000,\"usagePeriodEnd\":1893456000000}},"
    "\"seats\":{\"calculatedEntitlement\":{\"feature\":{\"id\":\"seats\","
    "\"featureType\":\"NUMBER\",\"meterType\":\"Fluctuating\",\"units\":"
    "\"seat\",\"unitsPlural\":\"seats\"},\"usageLimit\":null,"
    "\"hasUnlimitedUsage\":true,\"hasSoftLimit\":false,\"enumValues\":[]},"
    "\"featureUsage\":{\"currentUsage\":7}},"
    "\"max-projects\":{\"calculatedEntitlement\":{\"feature\":{\"id\":"
    "\"max-projects\",\"featureType\":\"NUMBER\",\"units\":\"project\","
    "\"unitsPlural\":\"projects\"},\"usageLimit\":10,\"hasUnlimitedUsage\":"
    "false,\"hasSoftLimit\":false,\"enumValues\":[]},\"featureUsage\":"
    "{\"currentUsage\":0}},"
    "\"region\":{\"calculatedEntitlement\":{\"feature\":{\"id\":\"region\","
    "\"featureType\":\"ENUM\",\"units\":\"\",\"unitsPlural\":\"\"},"
    "\"hasUnlimitedUsage\":false,\"hasSoftLimit\":false,\"enumValues\":"
    "[\"eu\",\"us\"]},\"featureUsage\":{\"currentUsage\":0}},"
    "\"sso\":{\"calculatedEntitlement\":{\"feature\":{\"id\":\"sso\","
    "\"featureType\":\"BOOLEAN\",\"units\":\"\",\"unitsPlural\":\"\"},"
    "\"hasUnlimitedUsage\":false,\"hasSoftLimit\":false,\"enumValues\":[]},"
    "\"featureUsage\":{\"currentUsage\":0}}}";

static const char want_resource[] =
    "{\"api-calls\":{\"calculatedEntitlement\":{\"feature\":{\"id\":"
    "\"api-calls\",\"featureType\":\"NUMBER\",\"meterType\":"
    "\"Incremental\",\"units\":\"call\",\"unitsPlural\":\"calls\"},"
    "\"resourceId\":\"site:eu/1\",\"usageLimit\":1000,\"hasUnlimitedUsage\":"
    "false,\"hasSoftLimit\":false,\"enumValues\":[]},\"featureUsage\":"
    "{\"resetPeriod\":\"MONTH\",\"resetPeriodConfiguration\":"
    "{\"accordingTo\":\"SubscriptionStart\"},\"currentUsage\":42,"
    "\"usagePeriodAnchor\":1761955200000,\"usagePeriodStart\":1761955200000,"
    "\"usagePeriodEnd\":1893456000000}},"
    "\"sso\":{\"calculatedEntitlement\":{\"feature\":{\"id\":\"sso\","
    "\"featureType\":\"BOOLEAN\",\"units\":\"\",\"unitsPlural\":\"\"},"
    "\"resourceId\":\"site:eu/1\",\"hasUnlimitedUsage\":false,"
    "\"hasSoftLimit\":false,\"enumValues\":[]},\"featureUsage\":"
    "{\"currentUsage\":0}}}";

static const char want_api_calls_usage[] =
    "{\"currentUsage\":42,\"usagePeriodStart\":1761955200000,"
    "\"usagePeriodEnd\":1893456000000}";

/* Each example under the label pcs_messages_total{event} counts it by. */
START_TEST(ex_metrics_labels)
{
	static const struct {
		const char		*file;
		enum metrics_event	 want;
	} t[] = {
		{ "entitlements-updated.json", METRICS_EV_ENTITLEMENTS },
		{ "entitlements-updated-resource.json", METRICS_EV_ENTITLEMENTS },
		{ "entitlements-updated-thin.json", METRICS_EV_REFILL },
		{ "measurement-reported.json", METRICS_EV_USAGE },
		{ "customer-deleted.json", METRICS_EV_PURGE },
		{ "purge-requested.json", METRICS_EV_PURGE },
		{ "package-published.json", METRICS_EV_INVALIDATE_ALL },
		{ "ignored-subscription-created.json", METRICS_EV_OTHER },
	};
	struct event ev;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		parse_file(t[i].file, &ev);
		ck_assert_msg(events_metrics_event(ev.kind) == t[i].want,
		    "%s: label %d, expected %d", t[i].file,
		    (int)events_metrics_event(ev.kind), (int)t[i].want);
		events_free(&ev);
	}
}
END_TEST

START_TEST(ex_entitlements_updated)
{
	struct event ev;

	parse_file("entitlements-updated.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	ck_assert_str_eq(ev.type, "entitlements.updated");
	ck_assert_str_eq(ev.message_id, "m-ent-1");
	ck_assert_str_eq(ev.trace_id, "t-1");
	assert_ids(&ev, "acme", NULL);
	/* entitlementsUpdatedAt 2025-11-14T19:59:45.133Z, not timestamp */
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150385133));
	ck_assert_str_eq(ev.entitlements_json, want_updated);
	ck_assert_str_eq(ev.metadata_json, "{\"accessDeniedReason\":null}");
	ck_assert_uint_eq(ev.nusage, 2);
	ck_assert_str_eq(ev.usage[0].feature_id, "api-calls");
	ck_assert_str_eq(ev.usage[0].json, want_api_calls_usage);
	ck_assert_str_eq(ev.usage[1].feature_id, "seats");
	ck_assert_str_eq(ev.usage[1].json,
	    "{\"currentUsage\":7,\"usagePeriodStart\":null,"
	    "\"usagePeriodEnd\":null}");
	assert_no_usage(&ev);
	events_free(&ev);
	ck_assert_int_eq(memcmp(&ev, &zero_event, sizeof(ev)), 0);
}
END_TEST

START_TEST(ex_entitlements_updated_resource)
{
	struct event ev;

	parse_file("entitlements-updated-resource.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	ck_assert_str_eq(ev.message_id, "m-ent-2");
	assert_ids(&ev, "acme", "site:eu/1");
	/* 2025-11-14T20:10:00.000Z */
	ck_assert_int_eq(ev.version_ms, INT64_C(1763151000000));
	ck_assert_str_eq(ev.entitlements_json, want_resource);
	ck_assert_str_eq(ev.metadata_json, "{\"accessDeniedReason\":null}");
	ck_assert_uint_eq(ev.nusage, 1);
	ck_assert_str_eq(ev.usage[0].feature_id, "api-calls");
	ck_assert_str_eq(ev.usage[0].json, want_api_calls_usage);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_entitlements_updated_empty)
{
	struct event ev;

	/* No entitlements: a cached denial at the event's version, not a purge. */
	parse_file("entitlements-updated-empty.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	ck_assert_str_eq(ev.type, "ENTITLEMENTS_UPDATED");
	ck_assert_str_eq(ev.message_id, "m-ent-3");
	assert_ids(&ev, "acme", NULL);
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150400000));
	ck_assert_str_eq(ev.entitlements_json, "{}");
	ck_assert_str_eq(ev.metadata_json, "{\"accessDeniedReason\":null}");
	ck_assert_ptr_null(ev.usage);
	ck_assert_uint_eq(ev.nusage, 0);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_entitlements_updated_thin)
{
	struct event ev;

	parse_file("entitlements-updated-thin.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_REFILL);
	ck_assert_str_eq(ev.message_id, "m-ent-4");
	assert_ids(&ev, "globex", NULL);
	/* 2025-11-14T21:00:00Z: no milliseconds */
	ck_assert_int_eq(ev.version_ms, INT64_C(1763154000000));
	assert_no_entitlements(&ev);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

static void
assert_measurement_reported(const struct event *ev)
{
	ck_assert_int_eq(ev->kind, EVENT_USAGE);
	ck_assert_str_eq(ev->type, "measurement.reported");
	ck_assert_str_eq(ev->message_id, "m-meas-1");
	ck_assert_str_eq(ev->trace_id, "t-2");
	assert_ids(ev, "acme", NULL);
	/* timestamp 2025-11-14T20:00:01.002Z */
	ck_assert_int_eq(ev->version_ms, INT64_C(1763150401002));
	ck_assert_str_eq(ev->feature_id, "api-calls");
	ck_assert_str_eq(ev->usage_json, "{\"currentUsage\":43,"
	    "\"usagePeriodStart\":1761955200000,"
	    "\"usagePeriodEnd\":1893456000000}");
	assert_no_entitlements(ev);
}

START_TEST(ex_measurement_reported)
{
	struct event ev;

	parse_file("measurement-reported.json", &ev);
	assert_measurement_reported(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_sns_wrapped)
{
	struct event ev;

	parse_file("sns-wrapped.json", &ev);
	assert_measurement_reported(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_measurement_flat)
{
	struct event ev;

	parse_file("measurement-flat.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_USAGE);
	ck_assert_str_eq(ev.type, "MEASUREMENT_REPORTED");
	ck_assert_str_eq(ev.message_id, "");
	assert_ids(&ev, "acme", NULL);
	/* no timestamp: usageUpdatedAt */
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150402000));
	ck_assert_str_eq(ev.feature_id, "api-calls");
	ck_assert_str_eq(ev.usage_json, "{\"currentUsage\":44,"
	    "\"usagePeriodStart\":1761955200000,"
	    "\"usagePeriodEnd\":1893456000000}");
	assert_no_entitlements(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_customer_deleted)
{
	struct event ev;

	parse_file("customer-deleted.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_PURGE);
	ck_assert_str_eq(ev.type, "customer.deleted");
	ck_assert_str_eq(ev.message_id, "m-del-1");
	assert_ids(&ev, "acme", NULL);
	ck_assert_int_eq(ev.version_ms, INT64_C(1763164800000));
	assert_no_entitlements(&ev);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_purge_requested)
{
	struct event ev;

	parse_file("purge-requested.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_PURGE);
	ck_assert_str_eq(ev.type, "PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED");
	ck_assert_str_eq(ev.message_id, "");
	assert_ids(&ev, "acme", "site:eu/1");
	ck_assert_int_eq(ev.version_ms, SENT);
	assert_no_entitlements(&ev);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_package_published)
{
	struct event ev;

	parse_file("package-published.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_INVALIDATE_ALL);
	ck_assert_str_eq(ev.type, "PACKAGE_PUBLISHED");
	assert_ids(&ev, NULL, NULL);
	ck_assert_int_eq(ev.version_ms, SENT);
	assert_no_entitlements(&ev);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

START_TEST(ex_ignored)
{
	struct event ev;

	parse_file("ignored-subscription-created.json", &ev);
	ck_assert_int_eq(ev.kind, EVENT_IGNORED);
	ck_assert_str_eq(ev.type, "subscription.created");
	ck_assert_str_eq(ev.message_id, "m-sub-1");
	assert_ids(&ev, NULL, NULL);
	assert_no_entitlements(&ev);
	assert_no_usage(&ev);
	events_free(&ev);
}
END_TEST

static const struct {
	const char	*file;
	const char	*reason;	/* exact */
	const char	*message_id;	/* kept for the log line */
} bad_examples[] = {
	{ "bad-date.json",
	    "entitlementsUpdatedAt: 'yesterday' is not an ISO-8601 date",
	    "m-bad-3" },
	{ "bad-missing-customer.json", "customer id is missing", "m-bad-1" },
	{ "bad-no-type.json", "no type", "m-bad-4" },
	{ "bad-not-json.txt", "not JSON: unexpected end of data at offset 59",
	    "" },
	{ "bad-wrong-type.json", "currentUsage: expected a number", "m-bad-2" }
};

START_TEST(ex_bad)
{
	struct event ev;
	char err[256], *body;
	size_t len;

	body = load(bad_examples[_i].file, &len);
	memset(&ev, 0x5a, sizeof(ev));
	ck_assert_int_eq(events_parse(body, len, SENT, &ev, err, sizeof(err)),
	    -1);
	free(body);
	ck_assert_str_eq(err, bad_examples[_i].reason);
	ck_assert_str_eq(ev.message_id, bad_examples[_i].message_id);
	assert_only_labels(&ev);
}
END_TEST

/* Every file of the examples directory is one the tests above check. */
START_TEST(ex_all_covered)
{
	static const char *const good[] = {
		"customer-deleted.json", "entitlements-updated-empty.json",
		"entitlements-updated-resource.json",
		"entitlements-updated-thin.json", "entitlements-updated.json",
		"ignored-subscription-created.json", "measurement-flat.json",
		"measurement-reported.json", "package-published.json",
		"purge-requested.json", "sns-wrapped.json"
	};
	struct dirent *de;
	DIR *d;
	size_t i, n = 0;
	int known;

	d = opendir(examples_dir());
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		known = 0;
		for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
			known |= strcmp(de->d_name, good[i]) == 0;
		for (i = 0; i < sizeof(bad_examples) / sizeof(bad_examples[0]);
		    i++)
			known |= strcmp(de->d_name, bad_examples[i].file) == 0;
		ck_assert_msg(known, "example %s has no test", de->d_name);
		n++;
	}
	closedir(d);
	ck_assert_uint_eq(n, sizeof(good) / sizeof(good[0]) +
	    sizeof(bad_examples) / sizeof(bad_examples[0]));
}
END_TEST

/* Types. */

static const struct {
	const char	*type;
	enum event_kind	 kind;
} spellings[] = {
	{ "entitlements.updated", EVENT_ENTITLEMENTS },
	{ "ENTITLEMENTS_UPDATED", EVENT_ENTITLEMENTS },
	{ "Entitlements.Updated", EVENT_ENTITLEMENTS },
	{ "measurement.reported", EVENT_USAGE },
	{ "MEASUREMENT_REPORTED", EVENT_USAGE },
	{ "entitlement.usage_exceeded", EVENT_USAGE },
	{ "ENTITLEMENT_USAGE_EXCEEDED", EVENT_USAGE },
	{ "usage_threshold.exceeded", EVENT_USAGE },
	{ "USAGE_THRESHOLD_EXCEEDED", EVENT_USAGE },
	{ "customer.deleted", EVENT_PURGE },
	{ "CUSTOMER_DELETED", EVENT_PURGE },
	{ "purge_customer_persistent_cache.requested", EVENT_PURGE },
	{ "PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED", EVENT_PURGE },
	{ "package.published", EVENT_INVALIDATE_ALL },
	{ "PACKAGE_PUBLISHED", EVENT_INVALIDATE_ALL },
	{ "plan.updated", EVENT_INVALIDATE_ALL },
	{ "PLAN_UPDATED", EVENT_INVALIDATE_ALL },
	{ "addon.updated", EVENT_INVALIDATE_ALL },
	{ "ADDON_UPDATED", EVENT_INVALIDATE_ALL },
	{ "subscription.created", EVENT_IGNORED },
	{ "SUBSCRIPTION_CREATED", EVENT_IGNORED },
	{ "entitlements.updated.v2", EVENT_IGNORED },
	{ "", EVENT_IGNORED }
};

START_TEST(type_spellings)
{
	struct event ev;
	char body[512];

	/* One body that satisfies every handled type. */
	snprintf(body, sizeof(body), "{\"type\":\"%s\",\"messageId\":\"m\","
	    "\"customer\":{\"id\":\"acme\"},\"feature\":{\"id\":\"f\"},"
	    "\"currentUsage\":1,\"entitlements\":[],"
	    "\"migrationType\":\"all_customers\","
	    "\"timestamp\":\"2025-11-14T19:59:45.133Z\"}", spellings[_i].type);
	parse_len(body, strlen(body), &ev);
	ck_assert_msg(ev.kind == spellings[_i].kind, "%s: %s",
	    spellings[_i].type, events_kind_name(ev.kind));
	ck_assert_str_eq(ev.type, spellings[_i].type);
	ck_assert_str_eq(ev.message_id, "m");
	if (ev.kind != EVENT_IGNORED)
		ck_assert_int_eq(ev.version_ms, INT64_C(1763150385133));
	if (ev.kind == EVENT_PURGE || ev.kind == EVENT_USAGE ||
	    ev.kind == EVENT_ENTITLEMENTS)
		assert_ids(&ev, "acme", NULL);
	else
		assert_ids(&ev, NULL, NULL);
	events_free(&ev);
}
END_TEST

START_TEST(package_migration_types)
{
	struct event ev;

	parse_q("{'type':'plan.updated','migrationType':'NEW_CUSTOMERS'}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_IGNORED);
	events_free(&ev);
	parse_q("{'type':'addon.updated'}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_IGNORED);
	events_free(&ev);
	parse_q("{'type':'PACKAGE_PUBLISHED','migrationType':null}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_IGNORED);
	events_free(&ev);
	parse_q("{'type':'PACKAGE_PUBLISHED','migrationType':'All_Customers',"
	    "'timestamp':1763150400000}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_INVALIDATE_ALL);
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150400000));
	events_free(&ev);
	bad_q("{'type':'PACKAGE_PUBLISHED','migrationType':1}",
	    "migrationType: expected a string");
}
END_TEST

START_TEST(labels_are_bounded_and_printable)
{
	struct event ev;
	char body[1024], type[201];

	memset(type, 'x', 200);
	type[200] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"%s\",\"messageId\":"
	    "\"a\\nb\\u0001c\\u00e9%s\"}", type, type);
	parse_len(body, strlen(body), &ev);
	ck_assert_int_eq(ev.kind, EVENT_IGNORED);
	ck_assert_uint_eq(strlen(ev.type), sizeof(ev.type) - 1);
	ck_assert_int_eq(strncmp(ev.message_id, "a?b?c\xc3\xa9xxx", 10), 0);
	ck_assert_uint_eq(strlen(ev.message_id), sizeof(ev.message_id) - 1);
	events_free(&ev);

	/* Cut on a character boundary: 126 'x' and a 2-byte character. */
	memset(type, 'x', 126);
	type[126] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"t\",\"messageId\":"
	    "\"%s\\u00e9\"}", type);
	parse_len(body, strlen(body), &ev);
	ck_assert_str_eq(ev.message_id, type);
	events_free(&ev);

	/* A messageId that is not a string is no id, not an error. */
	parse_q("{'type':'t','messageId':42}", &ev);
	ck_assert_str_eq(ev.message_id, "");
	events_free(&ev);
}
END_TEST

/* Dates. */

static const struct {
	const char	*s;
	int64_t		 ms;
} good_dates[] = {
	{ "2025-11-14T19:59:45.133Z", INT64_C(1763150385133) },
	{ "2025-11-14T19:59:45Z", INT64_C(1763150385000) },
	{ "2025-11-14t19:59:45.133z", INT64_C(1763150385133) },
	{ "2025-11-14T21:59:45.133+02:00", INT64_C(1763150385133) },
	{ "2025-11-14T21:59:45.133+0200", INT64_C(1763150385133) },
	{ "2025-11-14T17:29:45.133-02:30", INT64_C(1763150385133) },
	{ "2025-11-14T19:59:45.133-00:00", INT64_C(1763150385133) },
	{ "2025-11-15T05:44:45+09:45", INT64_C(1763150385000) },
	{ "2024-02-29T00:00:00Z", INT64_C(1709164800000) },
	{ "2000-02-29T12:00:00Z", INT64_C(951825600000) },
	{ "2100-03-01T00:00:00Z", INT64_C(4107542400000) },
	{ "1972-02-29T23:59:59.999Z", INT64_C(68255999999) },
	{ "1970-01-01T00:00:00Z", 0 },
	{ "1970-01-01T01:00:00+01:00", 0 },
	{ "2016-12-31T23:59:60Z", INT64_C(1483228800000) },
	{ "9999-12-31T23:59:59.999Z", INT64_C(253402300799999) },
	{ "1763150385133", INT64_C(1763150385133) },
	{ "0", 0 }
};

START_TEST(date_good)
{
	int64_t ms = -1;

	ck_assert_msg(events_parse_date(good_dates[_i].s, &ms) == 0, "%s",
	    good_dates[_i].s);
	ck_assert_msg(ms == good_dates[_i].ms, "%s: %lld", good_dates[_i].s,
	    (long long)ms);
}
END_TEST

START_TEST(date_fraction_digits)
{
	static const int64_t want[] = {
		100, 120, 123, 123, 123, 123, 123, 123, 123
	};
	const char *digits = "123456789";
	char s[64];
	int64_t ms;
	int n;

	for (n = 1; n <= 9; n++) {
		snprintf(s, sizeof(s), "2025-11-14T19:59:45.%.*sZ", n, digits);
		ck_assert_msg(events_parse_date(s, &ms) == 0, "%s", s);
		ck_assert_int_eq(ms, INT64_C(1763150385000) + want[n - 1]);
	}
	/* Truncated, never rounded. */
	ck_assert_int_eq(events_parse_date("2025-11-14T19:59:45.9999999Z",
	    &ms), 0);
	ck_assert_int_eq(ms, INT64_C(1763150385999));
}
END_TEST

static const char *const bad_dates[] = {
	"2025-02-29T00:00:00Z",		/* not a leap year */
	"1900-02-29T00:00:00Z",		/* nor is 1900 */
	"2025-04-31T00:00:00Z",
	"2025-11-14T24:00:00Z",
	"2025-13-01T00:00:00Z",
	"2025-00-10T00:00:00Z",
	"2025-11-00T00:00:00Z",
	"2025-11-14T23:60:00Z",
	"2025-11-14T23:59:61Z",
	"2025-11-14T19:59:45",		/* no zone */
	"2025-11-14T19:59:45.Z",	/* empty fraction */
	"2025-11-14 19:59:45Z",
	"2025-11-14T19:59Z",
	"2025-11-14",
	"2025-1-14T19:59:45Z",
	"2025-11-14T19:59:45+2:00",
	"2025-11-14T19:59:45+02",
	"2025-11-14T19:59:45+24:00",
	"2025-11-14T19:59:45+02:60",
	"2025-11-14T19:59:45.133Zjunk",
	"2025-11-14T19:59:45.133Z ",
	" 2025-11-14T19:59:45.133Z",
	"1969-12-31T23:59:59Z",		/* before the epoch */
	"10000-01-01T00:00:00Z",
	"1234567890123456",		/* 16 digits */
	"999999999999999",		/* past year 9999 */
	"-1",
	"yesterday",
	""
};

START_TEST(date_bad)
{
	int64_t ms = 42;

	ck_assert_msg(events_parse_date(bad_dates[_i], &ms) == -1, "%s",
	    bad_dates[_i]);
	ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(date_numbers_in_events)
{
	struct event ev;

	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':1763150400000.0}", &ev);
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150400000));
	events_free(&ev);
	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':null,'timestamp':1.7631504e12}", &ev);
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150400000));
	events_free(&ev);
	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':'2025-11-14T21:59:45.133+02:00'}", &ev);
	ck_assert_int_eq(ev.version_ms, INT64_C(1763150385133));
	events_free(&ev);
	/* No date at all: the SQS SentTimestamp. */
	parse_q("{'type':'entitlements.updated','customerId':'c'}", &ev);
	ck_assert_int_eq(ev.version_ms, SENT);
	events_free(&ev);
	/* timestamp wins over usageUpdatedAt for usage. */
	parse_q("{'type':'measurement.reported','customerId':'c',"
	    "'featureId':'f','currentUsage':1,'usageUpdatedAt':5,"
	    "'timestamp':'1970-01-01T00:00:00.007Z','usagePeriodStart':"
	    "'2025-11-01T01:00:00+01:00','usagePeriodEnd':1893456000000}",
	    &ev);
	ck_assert_int_eq(ev.version_ms, 7);
	json_eq(ev.usage_json, "{'currentUsage':1,'usagePeriodStart':"
	    "1761955200000,'usagePeriodEnd':1893456000000}");
	events_free(&ev);

	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':1.5}",
	    "entitlementsUpdatedAt: '1.5' is not a number of epoch "
	    "milliseconds");
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':-1}",
	    "entitlementsUpdatedAt: '-1' is out of range");
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':true}",
	    "entitlementsUpdatedAt: expected an ISO-8601 date or epoch "
	    "milliseconds");
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':{}}", "entitlementsUpdatedAt: expected");
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':'2025-02-29T00:00:00Z'}",
	    "entitlementsUpdatedAt: '2025-02-29T00:00:00Z' is not an ISO-8601 "
	    "date");
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':'2025-11-14T24:00:00Z'}",
	    "entitlementsUpdatedAt: '2025-11-14T24:00:00Z' is not");
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':'2025-13-01T00:00:00Z'}",
	    "entitlementsUpdatedAt: '2025-13-01T00:00:00Z' is not");
	/* A bad fallback date is bad even when unused. */
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlementsUpdatedAt':1,'timestamp':'soon'}",
	    "timestamp: 'soon' is not an ISO-8601 date");
	bad_q("{'type':'measurement.reported','customerId':'c',"
	    "'featureId':'f','currentUsage':1,'usagePeriodEnd':'never'}",
	    "usagePeriodEnd: 'never' is not an ISO-8601 date");
	bad_q("{'type':'customer.deleted','id':'c','timestamp':false}",
	    "timestamp: expected an ISO-8601 date");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f'},'validUntil':'tomorrow'}]}",
	    "entitlements[0].validUntil: 'tomorrow' is not an ISO-8601 date");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f'},'usagePeriodStart':'2025-11-01'}]}",
	    "entitlements[0].usagePeriodStart: '2025-11-01' is not");
	/* A NUL inside the string is not part of a date. */
	bad_q("{'type':'entitlements.updated','customerId':'c',"
	    "'timestamp':'2025-11-14T19:59:45Z\\u0000x'}",
	    "timestamp: '2025-11-14T19:59:45Z?x' is not an ISO-8601 date");
}
END_TEST

/* Rendering. */

START_TEST(meter_type_any_case)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "INCREMENTAL", "'meterType':'Incremental'," },
		{ "incremental", "'meterType':'Incremental'," },
		{ "Incremental", "'meterType':'Incremental'," },
		{ "FLUCTUATING", "'meterType':'Fluctuating'," },
		{ "fluctuating", "'meterType':'Fluctuating'," },
		{ "fLuCtUaTiNg", "'meterType':'Fluctuating'," },
		{ "NONE", "" },
		{ "none", "" },
		{ "None", "" }
	};
	struct event ev;
	char q[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(q, sizeof(q), "{'type':'entitlements.updated',"
		    "'customerId':'c','entitlements':[{'feature':{'id':'f',"
		    "'featureType':'number','meterType':'%s'}}]}", cases[i].in);
		parse_q(q, &ev);
		snprintf(want, sizeof(want), "{'f':{'calculatedEntitlement':"
		    "{'feature':{'id':'f','featureType':'NUMBER',%s'units':'',"
		    "'unitsPlural':''},'hasUnlimitedUsage':false,"
		    "'hasSoftLimit':false,'enumValues':[]},'featureUsage':"
		    "{'currentUsage':0}}}", cases[i].out);
		json_eq(ev.entitlements_json, want);
		ck_assert_uint_eq(ev.nusage, *cases[i].out != '\0');
		if (ev.nusage == 1)
			json_eq(ev.usage[0].json, "{'currentUsage':0,"
			    "'usagePeriodStart':null,'usagePeriodEnd':null}");
		events_free(&ev);
	}
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f','meterType':'LINEAR'}}]}",
	    "entitlements[0].feature.meterType: 'LINEAR' is not INCREMENTAL, "
	    "FLUCTUATING or NONE");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f','meterType':1}}]}",
	    "entitlements[0].feature.meterType: expected a string");
}
END_TEST

START_TEST(feature_type)
{
	struct event ev;

	/* Absent: BOOLEAN, and never metered even with a meterType. */
	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlements':"
	    "[{'feature':{'id':'f','meterType':'INCREMENTAL'}},"
	    "{'feature':{'id':'g','featureType':'enum'}}]}", &ev);
	json_eq(ev.entitlements_json, "{'f':{'calculatedEntitlement':"
	    "{'feature':{'id':'f','featureType':'BOOLEAN','meterType':"
	    "'Incremental','units':'','unitsPlural':''},'hasUnlimitedUsage':"
	    "false,'hasSoftLimit':false,'enumValues':[]},'featureUsage':"
	    "{'currentUsage':0}},'g':{'calculatedEntitlement':{'feature':"
	    "{'id':'g','featureType':'ENUM','units':'','unitsPlural':''},"
	    "'hasUnlimitedUsage':false,'hasSoftLimit':false,'enumValues':[]},"
	    "'featureUsage':{'currentUsage':0}}}");
	ck_assert_uint_eq(ev.nusage, 0);
	events_free(&ev);
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f','featureType':'CREDIT'}}]}",
	    "entitlements[0].feature.featureType: 'CREDIT' is not BOOLEAN, "
	    "NUMBER or ENUM");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f','featureType':true}}]}",
	    "entitlements[0].feature.featureType: expected a string");
}
END_TEST

static const char graphql_list[] =
    "[{'feature':{'refId':'api-calls','featureType':'NUMBER',"
    "'meterType':'INCREMENTAL','featureUnits':'call',"
    "'featureUnitsPlural':'calls','displayName':'API calls'},"
    "'usageLimit':1000,'hasUnlimitedUsage':false,'hasSoftLimit':false,"
    "'currentUsage':42,'usagePeriodAnchor':1761955200000,"
    "'usagePeriodStart':'2025-11-01T00:00:00.000Z',"
    "'usagePeriodEnd':'2030-01-01T01:00:00+01:00','resetPeriod':'MONTH',"
    "'resetPeriodConfiguration':{'accordingTo':'SubscriptionStart'},"
    "'enumValues':null},"
    "{'feature':{'refId':'sso','featureType':'BOOLEAN'},"
    "'hasUnlimitedUsage':false,'hasSoftLimit':false}]";

static const char want_graphql[] =
    "{'api-calls':{'calculatedEntitlement':{'feature':{'id':'api-calls',"
    "'featureType':'NUMBER','meterType':'Incremental','units':'call',"
    "'unitsPlural':'calls'},'usageLimit':1000,'hasUnlimitedUsage':false,"
    "'hasSoftLimit':false,'enumValues':[]},'featureUsage':{'resetPeriod':"
    "'MONTH','resetPeriodConfiguration':{'accordingTo':'SubscriptionStart'},"
    "'currentUsage':42,'usagePeriodAnchor':1761955200000,"
    "'usagePeriodStart':1761955200000,'usagePeriodEnd':1893456000000}},"
    "'sso':{'calculatedEntitlement':{'feature':{'id':'sso',"
    "'featureType':'BOOLEAN','units':'','unitsPlural':''},"
    "'hasUnlimitedUsage':false,'hasSoftLimit':false,'enumValues':[]},"
    "'featureUsage':{'currentUsage':0}}}";

START_TEST(graphql_spellings)
{
	struct event ev;
	char q[2048];

	snprintf(q, sizeof(q), "{'type':'ENTITLEMENTS_UPDATED','customerId':"
	    "'acme','entitlements':%s}", graphql_list);
	parse_q(q, &ev);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	json_eq(ev.entitlements_json, want_graphql);
	ck_assert_uint_eq(ev.nusage, 1);
	ck_assert_str_eq(ev.usage[0].json, want_api_calls_usage);
	events_free(&ev);

	/* GraphQL's feature.id is internal: refId wins. */
	parse_q("{'type':'ENTITLEMENTS_UPDATED','customerId':'acme',"
	    "'entitlements':[{'feature':{'id':'8c0e-uuid','refId':'sso'}}]}",
	    &ev);
	ck_assert_ptr_nonnull(strstr(ev.entitlements_json, "{\"sso\":"
	    "{\"calculatedEntitlement\":{\"feature\":{\"id\":\"sso\""));
	events_free(&ev);
}
END_TEST

START_TEST(optional_members)
{
	struct event ev;

	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'accessDeniedReason':'CustomerIsArchived','entitlements':["
	    "{'feature':{'id':'credits','featureType':'NUMBER','meterType':"
	    "'fluctuating','unit':'credit','units':null},'usageLimit':2.5,"
	    "'hasUnlimitedUsage':null,'hasSoftLimit':true,"
	    "'accessDeniedReason':'RequestedUsageExceedingLimit',"
	    "'validUntil':'2030-01-01T00:00:00Z','creditRate':{'amount':0.5,"
	    "'currencyId':'usd','extra':1},'resetPeriod':'monthly',"
	    "'resetPeriodConfiguration':{'monthlyAccordingTo':"
	    "'StartOfTheMonth',"
	    "'n':[1,2.5]},'currentUsage':4.3,'usagePeriodAnchor':null,"
	    "'usagePeriodEnd':1893456000000.0,'creditBalance':{'x':1},"
	    "'somethingNew':[1]}]}", &ev);
	json_eq(ev.entitlements_json, "{'credits':{'calculatedEntitlement':"
	    "{'feature':{'id':'credits','featureType':'NUMBER','meterType':"
	    "'Fluctuating','units':'credit','unitsPlural':''},'usageLimit':2.5,"
	    "'hasUnlimitedUsage':false,'hasSoftLimit':true,"
	    "'accessDeniedReason':'RequestedUsageExceedingLimit',"
	    "'enumValues':[],'validUntil':1893456000000,'creditRate':"
	    "{'amount':0.5,'currencyId':'usd'}},'featureUsage':{'resetPeriod':"
	    "'MONTH','resetPeriodConfiguration':{'monthlyAccordingTo':"
	    "'StartOfTheMonth','n':[1,2.5]},'currentUsage':4.3,"
	    "'usagePeriodEnd':1893456000000}}}");
	json_eq(ev.metadata_json,
	    "{'accessDeniedReason':'CustomerIsArchived'}");
	ck_assert_uint_eq(ev.nusage, 1);
	json_eq(ev.usage[0].json, "{'currentUsage':4.3,'usagePeriodStart':"
	    "null,'usagePeriodEnd':1893456000000}");
	events_free(&ev);
}
END_TEST

START_TEST(reset_periods)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "YEARLY", "YEAR" }, { "yearly", "YEAR" }, { "year", "YEAR" },
		{ "MONTHLY", "MONTH" }, { "Month", "MONTH" },
		{ "WEEKLY", "WEEK" }, { "week", "WEEK" },
		{ "DAILY", "DAY" }, { "day", "DAY" },
		{ "HOURLY", "HOUR" }, { "hour", "HOUR" },
		{ "fortnight", "FORTNIGHT" }
	};
	struct event ev;
	char q[512], want[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(q, sizeof(q), "{'type':'entitlements.updated',"
		    "'customerId':'c','entitlements':[{'feature':{'id':'f'},"
		    "'resetPeriod':'%s'}]}", cases[i].in);
		parse_q(q, &ev);
		snprintf(want, sizeof(want), "\"featureUsage\":"
		    "{\"resetPeriod\":\"%s\",\"currentUsage\":0}",
		    cases[i].out);
		ck_assert_msg(strstr(ev.entitlements_json, want) != NULL,
		    "%s: %s", cases[i].in, ev.entitlements_json);
		events_free(&ev);
	}
}
END_TEST

START_TEST(numbers)
{
	struct event ev;

	/* Integral values are integers, whatever their spelling. */
	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlements':"
	    "[{'feature':{'id':'f','featureType':'NUMBER','meterType':"
	    "'INCREMENTAL'},'usageLimit':1e3,'currentUsage':7.0}]}", &ev);
	ck_assert_ptr_nonnull(strstr(ev.entitlements_json,
	    "\"usageLimit\":1000,"));
	ck_assert_ptr_nonnull(strstr(ev.entitlements_json,
	    "{\"currentUsage\":7}"));
	json_eq(ev.usage[0].json, "{'currentUsage':7,'usagePeriodStart':null,"
	    "'usagePeriodEnd':null}");
	events_free(&ev);
	parse_q("{'type':'measurement.reported','customerId':'c',"
	    "'featureId':'f','currentUsage':-0.25}", &ev);
	json_eq(ev.usage_json, "{'currentUsage':-0.25,'usagePeriodStart':null,"
	    "'usagePeriodEnd':null}");
	events_free(&ev);
	parse_q("{'type':'measurement.reported','customerId':'c',"
	    "'featureId':'f','currentUsage':9007199254740993}", &ev);
	json_eq(ev.usage_json, "{'currentUsage':9007199254740993,"
	    "'usagePeriodStart':null,'usagePeriodEnd':null}");
	events_free(&ev);
	/*
	 * An integer beyond int64 is clamped, as json-c read it, however
	 * long: even one past a double's range (some 309 digits) is finite.
	 */
	{
		char big[400], q[1024];

		memset(big, '9', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		snprintf(q, sizeof(q), "{'type':'measurement.reported',"
		    "'customerId':'c','featureId':'f','currentUsage':%s}", big);
		parse_q(q, &ev);
		json_eq(ev.usage_json, "{'currentUsage':9223372036854775807,"
		    "'usagePeriodStart':null,'usagePeriodEnd':null}");
		events_free(&ev);
		snprintf(q, sizeof(q), "{'type':'measurement.reported',"
		    "'customerId':'c','featureId':'f','currentUsage':-%s}", big);
		parse_q(q, &ev);
		json_eq(ev.usage_json, "{'currentUsage':-9223372036854775808,"
		    "'usagePeriodStart':null,'usagePeriodEnd':null}");
		events_free(&ev);
		snprintf(q, sizeof(q), "{'type':'entitlements.updated',"
		    "'customerId':'c','entitlements':[{'feature':{'id':'f'},"
		    "'resetPeriodConfiguration':{'a':[%s,-%s,"
		    "18446744073709551615]}}]}", big, big);
		parse_q(q, &ev);
		ck_assert_ptr_nonnull(strstr(ev.entitlements_json,
		    "{\"a\":[18446744073709551615,-9223372036854775808,"
		    "18446744073709551615]}"));
		events_free(&ev);
	}
	/* JSON has no NaN; a number too large for a double is infinite. */
	bad_q("{'type':'measurement.reported','customerId':'c',"
	    "'featureId':'f','currentUsage':NaN}",
	    "not JSON: unexpected character at offset 79");
	bad_q("{'type':'measurement.reported','customerId':'c',"
	    "'featureId':'f','currentUsage':-1e999}",
	    "currentUsage: expected a finite number");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f'},'usageLimit':1e999}]}",
	    "entitlements[0].usageLimit: expected a finite number");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'f'},'resetPeriodConfiguration':{'a':[1E400]}}]}",
	    "entitlements[0].resetPeriodConfiguration: expected finite");
}
END_TEST

START_TEST(duplicate_features_last_wins)
{
	struct event ev;

	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'entitlements':"
	    "[{'feature':{'id':'a','featureType':'NUMBER','meterType':"
	    "'INCREMENTAL'},'currentUsage':1},{'feature':{'id':'b'}},"
	    "{'feature':{'id':'a','featureType':'NUMBER','meterType':"
	    "'INCREMENTAL'},'currentUsage':2},{'feature':{'id':'b',"
	    "'featureType':'NUMBER','meterType':'FLUCTUATING'},"
	    "'currentUsage':3},{'feature':{'id':'a'}}]}", &ev);
	json_eq(ev.entitlements_json, "{'b':{'calculatedEntitlement':"
	    "{'feature':{'id':'b','featureType':'NUMBER','meterType':"
	    "'Fluctuating','units':'','unitsPlural':''},'hasUnlimitedUsage':"
	    "false,'hasSoftLimit':false,'enumValues':[]},'featureUsage':"
	    "{'currentUsage':3}},'a':{'calculatedEntitlement':{'feature':"
	    "{'id':'a','featureType':'BOOLEAN','units':'','unitsPlural':''},"
	    "'hasUnlimitedUsage':false,'hasSoftLimit':false,'enumValues':[]},"
	    "'featureUsage':{'currentUsage':0}}}");
	/* 'a' ended up unmetered: no usage key for it. */
	ck_assert_uint_eq(ev.nusage, 1);
	ck_assert_str_eq(ev.usage[0].feature_id, "b");
	json_eq(ev.usage[0].json, "{'currentUsage':3,'usagePeriodStart':null,"
	    "'usagePeriodEnd':null}");
	events_free(&ev);
}
END_TEST

START_TEST(access_denied_with_no_entitlements)
{
	struct event ev;

	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'accessDeniedReason':'CustomerNotFound','entitlements':[]}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	ck_assert_str_eq(ev.entitlements_json, "{}");
	json_eq(ev.metadata_json, "{'accessDeniedReason':'CustomerNotFound'}");
	ck_assert_uint_eq(ev.nusage, 0);
	events_free(&ev);
	parse_q("{'type':'entitlements.updated','customerId':'c',"
	    "'accessDeniedReason':null,'entitlements':null}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_REFILL);
	events_free(&ev);
}
END_TEST

START_TEST(per_entitlement_resource)
{
	struct event ev;

	parse_q("{'type':'entitlements.updated','customerId':'c','resource':"
	    "null,'entitlements':[{'feature':{'id':'a'}},{'feature':{'id':'b'},"
	    "'resourceId':'r:1'},{'feature':{'id':'c'},'resourceId':null},"
	    "{'feature':{'id':'d'},'resourceId':'r:1'}]}", &ev);
	assert_ids(&ev, "c", "r:1");
	json_eq(ev.entitlements_json, "{'a':{'calculatedEntitlement':"
	    "{'feature':{'id':'a','featureType':'BOOLEAN','units':'',"
	    "'unitsPlural':''},'resourceId':'r:1','hasUnlimitedUsage':false,"
	    "'hasSoftLimit':false,'enumValues':[]},'featureUsage':"
	    "{'currentUsage':0}},'b':{'calculatedEntitlement':{'feature':"
	    "{'id':'b','featureType':'BOOLEAN','units':'','unitsPlural':''},"
	    "'resourceId':'r:1','hasUnlimitedUsage':false,'hasSoftLimit':false,"
	    "'enumValues':[]},'featureUsage':{'currentUsage':0}},'c':"
	    "{'calculatedEntitlement':{'feature':{'id':'c','featureType':"
	    "'BOOLEAN','units':'','unitsPlural':''},'resourceId':'r:1',"
	    "'hasUnlimitedUsage':false,'hasSoftLimit':false,'enumValues':[]},"
	    "'featureUsage':{'currentUsage':0}},'d':{'calculatedEntitlement':"
	    "{'feature':{'id':'d','featureType':'BOOLEAN','units':'',"
	    "'unitsPlural':''},'resourceId':'r:1','hasUnlimitedUsage':false,"
	    "'hasSoftLimit':false,'enumValues':[]},'featureUsage':"
	    "{'currentUsage':0}}}");
	events_free(&ev);

	/* Agreeing with the event's own resource is fine. */
	parse_q("{'type':'entitlements.updated','customerId':'c','resourceId':"
	    "'r:1','entitlements':[{'feature':{'id':'a'},'resourceId':'r:1'}]}",
	    &ev);
	assert_ids(&ev, "c", "r:1");
	events_free(&ev);

	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'resourceId':'r:1'},{'feature':{'id':'b'}},"
	    "{'feature':{'id':'c'},'resourceId':'r:2'}]}",
	    "entitlements[2].resourceId 'r:2' disagrees with "
	    "entitlements[0].resourceId 'r:1'");
	bad_q("{'type':'entitlements.updated','customerId':'c','resource':"
	    "{'id':'r:1'},'entitlements':[{'feature':{'id':'a'},'resourceId':"
	    "'r:2'}]}",
	    "entitlements[0].resourceId 'r:2' is not the event's resource "
	    "'r:1'");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'resourceId':7}]}",
	    "entitlements[0].resourceId: expected a string");
	bad_q("{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'resourceId':''}]}",
	    "entitlements[0].resourceId is empty");
}
END_TEST

/* Ids are used verbatim, whatever bytes they hold. */
START_TEST(ids_verbatim)
{
	struct event ev;

	parse_q("{'type':'entitlements.updated','customer':{'id':"
	    "'a:b*c?d[e]\\\\f g \\u00e9\\u65e5'},'resource':{'id':'r *:[x]?'},"
	    "'entitlements':[{'feature':{'id':'f:*?[]\\\\ \\u00e9',"
	    "'featureType':'NUMBER','meterType':'INCREMENTAL'}}]}", &ev);
	assert_ids(&ev, "a:b*c?d[e]\\f g \xc3\xa9\xe6\x97\xa5", "r *:[x]?");
	ck_assert_str_eq(ev.entitlements_json,
	    "{\"f:*?[]\\\\ \xc3\xa9\":{\"calculatedEntitlement\":{\"feature\":"
	    "{\"id\":\"f:*?[]\\\\ \xc3\xa9\",\"featureType\":\"NUMBER\","
	    "\"meterType\":\"Incremental\",\"units\":\"\","
	    "\"unitsPlural\":\"\"},"
	    "\"resourceId\":\"r *:[x]?\",\"hasUnlimitedUsage\":false,"
	    "\"hasSoftLimit\":false,\"enumValues\":[]},\"featureUsage\":"
	    "{\"currentUsage\":0}}}");
	ck_assert_str_eq(ev.usage[0].feature_id, "f:*?[]\\ \xc3\xa9");
	events_free(&ev);

	parse_q("{'type':'measurement.reported','customerId':' ',"
	    "'resourceId':'/','feature':{'refId':'x/y'},'currentUsage':0}",
	    &ev);
	assert_ids(&ev, " ", "/");
	ck_assert_str_eq(ev.feature_id, "x/y");
	events_free(&ev);

	/* customer.id before customerId before (customer.deleted) id. */
	parse_q("{'type':'customer.deleted','customer':{'id':'one'},"
	    "'customerId':'two','id':'three'}", &ev);
	assert_ids(&ev, "one", NULL);
	events_free(&ev);
	parse_q("{'type':'customer.deleted','customerId':'two','id':'three'}",
	    &ev);
	assert_ids(&ev, "two", NULL);
	events_free(&ev);
	parse_q("{'type':'customer.deleted','customer':null,'id':'three',"
	    "'resource':{'id':'r'}}", &ev);
	assert_ids(&ev, "three", "r");
	events_free(&ev);
	/* Only customer.deleted's body is the customer itself. */
	bad_q("{'type':'PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED','id':'x'}",
	    "customer id is missing");
}
END_TEST

/* pre, then an id of idlen bytes, then post. */
static char *
body_with_id(const char *pre, size_t idlen, const char *post)
{
	size_t npre = strlen(pre), npost = strlen(post);
	char *body;

	body = malloc(npre + idlen + npost + 1);
	ck_assert_ptr_nonnull(body);
	memcpy(body, pre, npre);
	memset(body + npre, 'i', idlen);
	memcpy(body + npre + idlen, post, npost + 1);
	return body;
}

START_TEST(id_lengths)
{
	static const struct {
		const char *pre, *post, *why;
	} cases[] = {
		{ "{\"type\":\"customer.deleted\",\"customerId\":\"", "\"}",
		    "customerId is longer than 1024 bytes" },
		{ "{\"type\":\"customer.deleted\",\"customerId\":\"c\","
		    "\"resource\":{\"id\":\"", "\"}}",
		    "resource.id is longer than 1024 bytes" },
		{ "{\"type\":\"measurement.reported\",\"customerId\":\"c\","
		    "\"featureId\":\"", "\",\"currentUsage\":1}",
		    "featureId is longer than 1024 bytes" },
		{ "{\"type\":\"entitlements.updated\",\"customerId\":\"c\","
		    "\"entitlements\":[{\"feature\":{\"id\":\"", "\"}}]}",
		    "entitlements[0].feature.id is longer than 1024 bytes" }
	};
	struct event ev;
	char *body;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = body_with_id(cases[i].pre, 1024, cases[i].post);
		parse_len(body, strlen(body), &ev);
		events_free(&ev);
		free(body);
		body = body_with_id(cases[i].pre, 1025, cases[i].post);
		bad_len(body, strlen(body), cases[i].why);
		free(body);
	}
	parse_q("{'type':'customer.deleted','customerId':'\\u00e9'}", &ev);
	ck_assert_str_eq(ev.customer_id, "\xc3\xa9");
	events_free(&ev);
}
END_TEST

START_TEST(body_size)
{
	const char *ev_text = "{\"type\":\"customer.deleted\",\"id\":\"c\"}";
	struct event ev;
	char *body;

	body = malloc(EVENTS_MAX_BODY + 2);
	ck_assert_ptr_nonnull(body);
	memset(body, ' ', EVENTS_MAX_BODY + 1);
	memcpy(body, ev_text, strlen(ev_text));
	parse_len(body, EVENTS_MAX_BODY, &ev);
	ck_assert_int_eq(ev.kind, EVENT_PURGE);
	events_free(&ev);
	bad_len(body, EVENTS_MAX_BODY + 1, "over the limit of 262144");
	free(body);
}
END_TEST

START_TEST(trailing_garbage)
{
	static const char ok[] = "{\"type\":\"x\"} \r\n\t";
	static const char nul[] = "{\"type\":\"x\"}\0";
	struct event ev;

	parse_len(ok, sizeof(ok) - 1, &ev);
	events_free(&ev);
	bad_q("{'type':'x'}x", "not JSON");
	bad_q("{'type':'x'} {}", "not JSON");
	bad_q("{'type':'x'}{'type':'x'}", "not JSON");
	bad_q("{'type':'x'},", "not JSON");
	bad_len(nul, sizeof(nul) - 1, "not JSON: trailing characters at "
	    "offset 12");
}
END_TEST

/* Every kind of bad message of events.md, and the reason given. */
static const struct {
	const char	*q;
	const char	*why;
} bad_cases[] = {
	/* not JSON, not an object */
	{ "", "not JSON" },
	{ "   ", "not JSON" },
	{ "{'type':", "not JSON" },
	{ "{'type':'x',}", "not JSON" },
	{ "{'type':'x' 'y':1}", "not JSON" },
	{ "[]", "not a JSON object" },
	{ "[{'type':'customer.deleted','id':'c'}]", "not a JSON object" },
	{ "'entitlements.updated'", "not a JSON object" },
	{ "42", "not a JSON object" },
	{ "null", "not a JSON object" },
	/* type */
	{ "{}", "no type" },
	{ "{'type':null,'customerId':'c'}", "no type" },
	{ "{'type':1}", "type is not a string" },
	{ "{'type':['entitlements.updated']}", "type is not a string" },
	/* customer id */
	{ "{'type':'entitlements.updated','entitlements':[]}",
	    "customer id is missing" },
	{ "{'type':'entitlements.updated','customer':{'name':'x'}}",
	    "customer id is missing" },
	{ "{'type':'entitlements.updated','customer':{'id':null}}",
	    "customer id is missing" },
	{ "{'type':'measurement.reported','featureId':'f','currentUsage':1}",
	    "customer id is missing" },
	{ "{'type':'ENTITLEMENT_USAGE_EXCEEDED','feature':{'id':'f'}}",
	    "customer id is missing" },
	{ "{'type':'customer.deleted','name':'x'}", "customer id is missing" },
	{ "{'type':'PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED'}",
	    "customer id is missing" },
	{ "{'type':'customer.deleted','customerId':''}",
	    "customerId is empty" },
	{ "{'type':'customer.deleted','customer':{'id':5}}",
	    "customer.id: expected a string" },
	{ "{'type':'customer.deleted','customerId':'a\\u0000b'}",
	    "customerId contains a NUL byte" },
	{ "{'type':'customer.deleted','customer':'acme'}",
	    "customer: expected an object or null" },
	{ "{'type':'customer.deleted','customerId':'c','resource':'r'}",
	    "resource: expected an object or null" },
	{ "{'type':'customer.deleted','customerId':'c','resource':{}}",
	    "resource id is missing" },
	{ "{'type':'customer.deleted','customerId':'c','resourceId':3}",
	    "resourceId: expected a string" },
	{ "{'type':'customer.deleted','customerId':'c','resourceId':''}",
	    "resourceId is empty" },
	/* entitlements.updated */
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':{}}",
	    "entitlements: expected an array" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':'x'}",
	    "entitlements: expected an array" },
	{ "{'type':'entitlements.updated','customerId':'c',"
	    "'accessDeniedReason':5}",
	    "accessDeniedReason: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c',"
	    "'accessDeniedReason':true,'entitlements':[]}",
	    "accessDeniedReason: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':[1]}",
	    "entitlements[0]: expected an object" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[null]}", "entitlements[0]: expected an object" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{}]}", "entitlements[0].feature.id is missing" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'}},{'feature':{'name':'b'}}]}",
	    "entitlements[1].feature.id is missing" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':'a'}]}",
	    "entitlements[0].feature: expected an object or null" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':''}}]}", "entitlements[0].feature.id is empty" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':1}}]}",
	    "entitlements[0].feature.id: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a','unit':1}}]}",
	    "entitlements[0].feature.unit: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a','featureUnitsPlural':[]}}]}",
	    "entitlements[0].feature.featureUnitsPlural: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'usageLimit':'1000'}]}",
	    "entitlements[0].usageLimit: expected a number or null" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'hasUnlimitedUsage':'false'}]}",
	    "entitlements[0].hasUnlimitedUsage: expected a boolean" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'hasSoftLimit':0}]}",
	    "entitlements[0].hasSoftLimit: expected a boolean" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'accessDeniedReason':{}}]}",
	    "entitlements[0].accessDeniedReason: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'enumValues':'eu'}]}",
	    "entitlements[0].enumValues: expected an array of strings" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'enumValues':['eu',1]}]}",
	    "entitlements[0].enumValues[1]: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'creditRate':1}]}",
	    "entitlements[0].creditRate: expected an object or null" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'creditRate':{'amount':'1'}}]}",
	    "entitlements[0].creditRate.amount: expected a number" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'creditRate':{'currencyId':1}}]}",
	    "entitlements[0].creditRate.currencyId: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'resetPeriod':1}]}",
	    "entitlements[0].resetPeriod: expected a string" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'resetPeriodConfiguration':'x'}]}",
	    "entitlements[0].resetPeriodConfiguration: expected an object" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'currentUsage':'42'}]}",
	    "entitlements[0].currentUsage: expected a number" },
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a'},'validUntil':true}]}",
	    "entitlements[0].validUntil: expected an ISO-8601 date" },
	/* Bad after usage keys were collected: all of it is dropped. */
	{ "{'type':'entitlements.updated','customerId':'c','entitlements':"
	    "[{'feature':{'id':'a','featureType':'NUMBER','meterType':"
	    "'INCREMENTAL'}},{'feature':{'id':'b','featureType':'NUMBER',"
	    "'meterType':'FLUCTUATING'}},{'feature':{'id':'c'},"
	    "'hasSoftLimit':'yes'}]}",
	    "entitlements[2].hasSoftLimit: expected a boolean" },
	/* measurement.reported */
	{ "{'type':'measurement.reported','customerId':'c','currentUsage':1}",
	    "feature id is missing" },
	{ "{'type':'measurement.reported','customerId':'c','feature':{},"
	    "'currentUsage':1}", "feature id is missing" },
	{ "{'type':'measurement.reported','customerId':'c','feature':'f',"
	    "'currentUsage':1}", "feature: expected an object or null" },
	{ "{'type':'measurement.reported','customerId':'c','featureId':1,"
	    "'currentUsage':1}", "featureId: expected a string" },
	{ "{'type':'measurement.reported','customerId':'c','featureId':'f'}",
	    "currentUsage is missing" },
	{ "{'type':'measurement.reported','customerId':'c','featureId':'f',"
	    "'currentUsage':null}", "currentUsage is missing" },
	{ "{'type':'measurement.reported','customerId':'c','featureId':'f',"
	    "'currentUsage':true}", "currentUsage: expected a number" },
	{ "{'type':'USAGE_THRESHOLD_EXCEEDED','customerId':'c','featureId':'f',"
	    "'currentUsage':[1]}", "currentUsage: expected a number" },
	{ "{'type':'measurement.reported','customerId':'c','featureId':'f',"
	    "'currentUsage':1,'usagePeriodStart':'2025-11-31T00:00:00Z'}",
	    "usagePeriodStart: '2025-11-31T00:00:00Z' is not an ISO-8601 "
	    "date" },
	{ "{'type':'measurement.reported','customerId':'c','featureId':'f',"
	    "'currentUsage':1,'usageUpdatedAt':'now'}",
	    "usageUpdatedAt: 'now' is not an ISO-8601 date" }
};

START_TEST(bad_messages)
{
	bad_q(bad_cases[_i].q, bad_cases[_i].why);
}
END_TEST

START_TEST(error_strings_are_bounded)
{
	struct event ev;
	char body[1024], err[256], value[301];

	memset(value, 'x', 300);
	value[300] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"entitlements.updated\","
	    "\"customerId\":\"c\",\"timestamp\":\"\\n\\u0007\\u00e9%s\"}",
	    value);
	ck_assert_int_eq(events_parse(body, strlen(body), SENT, &ev, err,
	    sizeof(err)), -1);
	/* 64 characters of the value, control and non-ASCII bytes as '?'. */
	snprintf(body, sizeof(body), "timestamp: '????%.60s...' is not an "
	    "ISO-8601 date", value);
	ck_assert_str_eq(err, body);

	/* A short buffer is filled, cut and terminated; none is fine. */
	ck_assert_int_eq(events_parse("{}", 2, SENT, &ev, err, 4), -1);
	ck_assert_str_eq(err, "no ");
	ck_assert_int_eq(events_parse("{}", 2, SENT, &ev, NULL, 0), -1);
	ck_assert_int_eq(events_parse("{}", 2, SENT, &ev, err, 0), -1);
	ck_assert_int_eq(events_parse(NULL, 0, SENT, &ev, err, sizeof(err)),
	    -1);
	assert_only_labels(&ev);
}
END_TEST

START_TEST(sns_envelope)
{
	struct event ev;

	bad_q("{'Type':'Notification','MessageId':'s','Message':"
	    "'{\\'type\\':\\'customer.deleted\\'}'}",
	    "sns message: customer id is missing");
	bad_q("{'Type':'Notification','Message':'{not json'}",
	    "sns message: not JSON");
	bad_q("{'Type':'Notification','Message':'[1]'}",
	    "sns message: not a JSON object");
	bad_q("{'Type':'Notification','Message':{'type':'customer.deleted'}}",
	    "sns Message: expected a string");
	bad_q("{'Type':'Notification','Message':null}",
	    "sns Message: expected a string");
	/* No Message: not an SNS envelope, and not an event either. */
	bad_q("{'Type':'Notification','MessageId':'s'}", "no type");
	/* One level only. */
	parse_q("{'Type':'Notification','Message':'{\\'Type\\':"
	    "\\'Notification\\',\\'Message\\':\\'{}\\',\\'type\\':"
	    "\\'customer.deleted\\',\\'id\\':\\'c\\'}'}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_PURGE);
	assert_ids(&ev, "c", NULL);
	events_free(&ev);
	/* A body with a type of its own and Type other than Notification. */
	parse_q("{'Type':'SubscriptionConfirmation','type':'customer.deleted',"
	    "'id':'c'}", &ev);
	ck_assert_int_eq(ev.kind, EVENT_PURGE);
	events_free(&ev);
}
END_TEST

/*
 * A rejected message keeps what could be read of its messageId, traceId
 * and type, cleaned and bounded, for its log line; nothing else.
 */
static void
labels(const char *q, int want, const char *type, const char *mid,
    const char *tid)
{
	struct event ev;
	char err[256], *body = dq(q);

	memset(&ev, 0x5a, sizeof(ev));
	ck_assert_int_eq(events_parse(body, strlen(body), SENT, &ev, err,
	    sizeof(err)), want);
	free(body);
	ck_assert_str_eq(ev.type, type);
	ck_assert_str_eq(ev.message_id, mid);
	ck_assert_str_eq(ev.trace_id, tid);
	ck_assert_ptr_null(ev.customer_id);
	ck_assert_ptr_null(ev.entitlements_json);
}

START_TEST(labels_of_bad)
{
	char q[1024], want[128];

	/* Bad for want of a customer, of a type, of a valid date. */
	labels("{'type':'entitlements.updated','messageId':'m-1',"
	    "'traceId':'t-1','entitlements':[]}", -1, "entitlements.updated",
	    "m-1", "t-1");
	labels("{'messageId':'m-2','traceId':'t-2'}", -1, "", "m-2", "t-2");
	labels("{'type':7,'traceId':'t-3'}", -1, "", "", "t-3");
	labels("{'type':'measurement.reported','messageId':'m-4',"
	    "'customer':{'id':'acme'},'feature':{'id':'f'},'currentUsage':1,"
	    "'timestamp':'yesterday'}", -1, "measurement.reported", "m-4", "");
	/* Inside an SNS notification. */
	labels("{'Type':'Notification','Message':'{\\'type\\':\\'x.y\\',"
	    "\\'messageId\\':\\'m-5\\',\\'traceId\\':5}'}", 0,
	    "x.y", "m-5", "");
	/* Not strings: not labels.  Control characters cleaned; bounded. */
	labels("{'messageId':{'a':1},'traceId':['t']}", -1, "", "", "");
	labels("{'messageId':'m\\n6\\u0007','traceId':'t\\u00e96'}", -1,
	    "", "m?6?", "t\xc3\xa9" "6");
	snprintf(q, sizeof(q), "{'messageId':'%0300d'}", 7);
	memset(want, '0', 127);
	want[127] = '\0';
	labels(q, -1, "", want, "");
}
END_TEST

/* The Edge API answer. */

static void
thin(struct event *ev, const char *resource)
{
	char q[256];

	snprintf(q, sizeof(q), "{'type':'entitlements.updated','messageId':"
	    "'m-ent-4','customer':{'id':'globex'},%s%s%s"
	    "'entitlementsUpdatedAt':'2025-11-14T21:00:00Z'}",
	    resource ? "'resource':{'id':'" : "", resource ? resource : "",
	    resource ? "'}," : "");
	parse_q(q, ev);
	ck_assert_int_eq(ev->kind, EVENT_REFILL);
}

static int
edge_q(struct event *ev, const char *q, char *err, size_t errlen)
{
	char *body = dq(q);
	int r;

	r = events_apply_edge(ev, body, strlen(body), err, errlen);
	free(body);
	return r;
}

START_TEST(edge_renders_as_the_event)
{
	struct event ev, full;
	char q[2048], err[256];

	thin(&ev, NULL);
	snprintf(q, sizeof(q), "{'data':{'entitlements':%s}}", graphql_list);
	ck_assert_msg(edge_q(&ev, q, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	assert_ids(&ev, "globex", NULL);
	ck_assert_str_eq(ev.message_id, "m-ent-4");
	ck_assert_int_eq(ev.version_ms, INT64_C(1763154000000));
	json_eq(ev.entitlements_json, want_graphql);
	ck_assert_str_eq(ev.metadata_json, "{\"accessDeniedReason\":null}");
	ck_assert_uint_eq(ev.nusage, 1);
	ck_assert_str_eq(ev.usage[0].feature_id, "api-calls");
	ck_assert_str_eq(ev.usage[0].json, want_api_calls_usage);

	/* Byte for byte what the full notification would have written. */
	snprintf(q, sizeof(q), "{'type':'ENTITLEMENTS_UPDATED','customerId':"
	    "'globex','entitlements':%s}", graphql_list);
	parse_q(q, &full);
	ck_assert_str_eq(ev.entitlements_json, full.entitlements_json);
	ck_assert_str_eq(ev.metadata_json, full.metadata_json);
	ck_assert_str_eq(ev.usage[0].json, full.usage[0].json);
	events_free(&full);
	events_free(&ev);
}
END_TEST

START_TEST(edge_resource)
{
	struct event ev;
	char err[256];

	thin(&ev, "site:eu/1");
	ck_assert_int_eq(edge_q(&ev, "{'data':{'entitlements':[{'feature':"
	    "{'refId':'sso','featureType':'BOOLEAN'},'resourceId':null}]}}",
	    err, sizeof(err)), 0);
	assert_ids(&ev, "globex", "site:eu/1");
	json_eq(ev.entitlements_json, "{'sso':{'calculatedEntitlement':"
	    "{'feature':{'id':'sso','featureType':'BOOLEAN','units':'',"
	    "'unitsPlural':''},'resourceId':'site:eu/1','hasUnlimitedUsage':"
	    "false,'hasSoftLimit':false,'enumValues':[]},'featureUsage':"
	    "{'currentUsage':0}}}");
	events_free(&ev);

	thin(&ev, "site:eu/1");
	ck_assert_int_eq(edge_q(&ev, "{'data':{'entitlements':[{'feature':"
	    "{'refId':'sso'},'resourceId':'site:us/2'}]}}", err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "edge: data.entitlements[0].resourceId "
	    "'site:us/2' is not the event's resource 'site:eu/1'");
	ck_assert_int_eq(ev.kind, EVENT_REFILL);
	events_free(&ev);
}
END_TEST

START_TEST(edge_empty_is_denial)
{
	static const char *const empty_errors[] = {
		"", ",'errors':null", ",'errors':[]", ",'errors':{}",
		",'errors':''"
	};
	struct event ev;
	char q[128], err[256];
	size_t i;

	for (i = 0; i < sizeof(empty_errors) / sizeof(empty_errors[0]); i++) {
		thin(&ev, NULL);
		snprintf(q, sizeof(q), "{'data':{'entitlements':[]}%s}",
		    empty_errors[i]);
		ck_assert_msg(edge_q(&ev, q, err, sizeof(err)) == 0, "%s", err);
		ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
		assert_ids(&ev, "globex", NULL);
		ck_assert_int_eq(ev.version_ms, INT64_C(1763154000000));
		ck_assert_str_eq(ev.entitlements_json, "{}");
		ck_assert_str_eq(ev.metadata_json,
		    "{\"accessDeniedReason\":null}");
		ck_assert_uint_eq(ev.nusage, 0);
		events_free(&ev);
	}

	/* As for the event: a reason with no entitlements is written. */
	thin(&ev, NULL);
	ck_assert_int_eq(edge_q(&ev, "{'data':{'accessDeniedReason':"
	    "'CustomerNotFound','entitlements':[]}}", err, sizeof(err)), 0);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	ck_assert_str_eq(ev.entitlements_json, "{}");
	json_eq(ev.metadata_json, "{'accessDeniedReason':'CustomerNotFound'}");
	events_free(&ev);
}
END_TEST

static const struct {
	const char	*q;
	const char	*why;	/* exact */
} edge_bad[] = {
	{ "{'errors':[{'message':'Customer not found','extensions':{}}],"
	    "'data':null}", "edge: Customer not found" },
	{ "{'errors':[{'message':'a\\nb'},{'message':'second'}],"
	    "'data':{'entitlements':[]}}", "edge: a?b" },
	{ "{'errors':[{'code':1}]}", "edge: the answer carries errors" },
	{ "{'errors':'Unauthorized'}", "edge: Unauthorized" },
	{ "{'errors':{'message':'Bad key'}}", "edge: Bad key" },
	{ "{}", "edge: data is missing" },
	{ "{'data':null}", "edge: data is missing" },
	{ "{'data':[]}", "edge: data: expected an object or null" },
	{ "{'data':{}}", "edge: data.entitlements is missing" },
	{ "{'data':{'entitlements':null}}",
	    "edge: data.entitlements is missing" },
	{ "{'data':{'entitlements':{}}}",
	    "edge: data.entitlements: expected an array" },
	{ "{'data':{'accessDeniedReason':5,'entitlements':[]}}",
	    "edge: data.accessDeniedReason: expected a string" },
	{ "{'data':{'entitlements':[{'feature':{}}]}}",
	    "edge: data.entitlements[0].feature.id is missing" },
	{ "{'data':{'entitlements':[{'feature':{'refId':'f'},"
	    "'currentUsage':'1'}]}}",
	    "edge: data.entitlements[0].currentUsage: expected a number" },
	{ "{'data':{'entitlements':[{'feature':{'refId':'f'},"
	    "'usagePeriodEnd':'soon'}]}}",
	    "edge: data.entitlements[0].usagePeriodEnd: 'soon' is not an "
	    "ISO-8601 date" },
	{ "<html>502</html>", "edge: not JSON: unexpected character at "
	    "offset 0" },
	{ "[]", "edge: not a JSON object" },
	{ "{'data':{'entitlements':[]}} x",
	    "edge: not JSON: trailing characters at offset 29" }
};

START_TEST(edge_failures)
{
	struct event ev, before;
	char err[256];

	thin(&ev, NULL);
	before = ev;
	ck_assert_int_eq(edge_q(&ev, edge_bad[_i].q, err, sizeof(err)), -1);
	ck_assert_str_eq(err, edge_bad[_i].why);
	/* The event is as it was: still a refill, nothing added. */
	ck_assert_int_eq(memcmp(&ev, &before, sizeof(ev)), 0);
	events_free(&ev);
}
END_TEST

START_TEST(edge_needs_a_refill)
{
	struct event ev;
	char err[256];

	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(edge_q(&ev, "{'data':{'entitlements':[]}}", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "edge: the event is not a refill");
	parse_file("entitlements-updated.json", &ev);
	ck_assert_int_eq(edge_q(&ev, "{'data':{'entitlements':[]}}", err,
	    sizeof(err)), -1);
	ck_assert_int_eq(ev.kind, EVENT_ENTITLEMENTS);
	events_free(&ev);
}
END_TEST

#ifdef CAN_FAIL_MALLOC
/*
 * Out of memory is told by its cause, EVENTS_NOMEM, never by comparing
 * the error text: an SNS-wrapped message's error carries a prefix.  Each
 * allocation of the parse fails in turn; none is reported as a bad
 * message saying "out of memory", and some are EVENTS_NOMEM.
 */
START_TEST(out_of_memory_is_its_own_result)
{
	static const char *const files[] = {
		"sns-wrapped.json", "entitlements-updated.json"
	};
	struct event ev;
	char err[256], *body;
	size_t len;
	long n;
	int r, nomem = 0;

	body = load(files[_i], &len);
	for (n = 0; n < 100000; n++) {
		fail_in = n;
		r = events_parse(body, len, SENT, &ev, err, sizeof(err));
		fail_in = -1;
		if (r == 0) {
			events_free(&ev);
			break;	/* every allocation of the parse passed */
		}
		ck_assert_msg(r == EVENTS_NOMEM || strstr(err,
		    "out of memory") == NULL, "allocation %ld: %d '%s'", n, r,
		    err);
		if (r == EVENTS_NOMEM) {
			ck_assert_msg(strstr(err, "out of memory") != NULL,
			    "allocation %ld: '%s'", n, err);
			nomem++;
		}
	}
	free(body);
	ck_assert_int_gt(nomem, 0);
	/* A bad message is not out of memory. */
	ck_assert_int_eq(events_parse("{}", 2, SENT, &ev, err, sizeof(err)),
	    -1);
}
END_TEST
#endif

START_TEST(free_is_safe)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	events_free(&ev);
	events_free(&ev);
	events_free(NULL);
	parse_file("entitlements-updated.json", &ev);
	events_free(&ev);
	events_free(&ev);
	ck_assert_int_eq(memcmp(&ev, &zero_event, sizeof(ev)), 0);
}
END_TEST

START_TEST(kind_names)
{
	ck_assert_str_eq(events_kind_name(EVENT_IGNORED), "ignored");
	ck_assert_str_eq(events_kind_name(EVENT_ENTITLEMENTS), "entitlements");
	ck_assert_str_eq(events_kind_name(EVENT_REFILL), "refill");
	ck_assert_str_eq(events_kind_name(EVENT_USAGE), "usage");
	ck_assert_str_eq(events_kind_name(EVENT_PURGE), "purge");
	ck_assert_str_eq(events_kind_name(EVENT_INVALIDATE_ALL),
	    "invalidate-all");
	ck_assert_str_eq(events_kind_name((enum event_kind)99), "unknown");
}
END_TEST

#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *tc;

	tc = tcase_create("examples");
	tcase_add_test(tc, ex_metrics_labels);
	tcase_add_test(tc, ex_entitlements_updated);
	tcase_add_test(tc, labels_of_bad);
	tcase_add_test(tc, ex_entitlements_updated_resource);
	tcase_add_test(tc, ex_entitlements_updated_empty);
	tcase_add_test(tc, ex_entitlements_updated_thin);
	tcase_add_test(tc, ex_measurement_reported);
	tcase_add_test(tc, ex_sns_wrapped);
	tcase_add_test(tc, ex_measurement_flat);
	tcase_add_test(tc, ex_customer_deleted);
	tcase_add_test(tc, ex_purge_requested);
	tcase_add_test(tc, ex_package_published);
	tcase_add_test(tc, ex_ignored);
	tcase_add_loop_test(tc, ex_bad, 0, NELEM(bad_examples));
	tcase_add_test(tc, ex_all_covered);
	suite_add_tcase(s, tc);

	tc = tcase_create("types");
	tcase_add_loop_test(tc, type_spellings, 0, NELEM(spellings));
	tcase_add_test(tc, package_migration_types);
	tcase_add_test(tc, labels_are_bounded_and_printable);
	tcase_add_test(tc, sns_envelope);
	suite_add_tcase(s, tc);

	tc = tcase_create("dates");
	tcase_add_loop_test(tc, date_good, 0, NELEM(good_dates));
	tcase_add_test(tc, date_fraction_digits);
	tcase_add_loop_test(tc, date_bad, 0, NELEM(bad_dates));
	tcase_add_test(tc, date_numbers_in_events);
	suite_add_tcase(s, tc);

	tc = tcase_create("render");
	tcase_add_test(tc, meter_type_any_case);
	tcase_add_test(tc, feature_type);
	tcase_add_test(tc, graphql_spellings);
	tcase_add_test(tc, optional_members);
	tcase_add_test(tc, reset_periods);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, duplicate_features_last_wins);
	tcase_add_test(tc, access_denied_with_no_entitlements);
	tcase_add_test(tc, per_entitlement_resource);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, ids_verbatim);
	tcase_add_test(tc, id_lengths);
	tcase_add_test(tc, body_size);
	tcase_add_test(tc, trailing_garbage);
	tcase_add_loop_test(tc, bad_messages, 0, NELEM(bad_cases));
	tcase_add_test(tc, error_strings_are_bounded);
	tcase_add_test(tc, free_is_safe);
	tcase_add_test(tc, kind_names);
#ifdef CAN_FAIL_MALLOC
	tcase_add_loop_test(tc, out_of_memory_is_its_own_result, 0, 2);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("edge");
	tcase_add_test(tc, edge_renders_as_the_event);
	tcase_add_test(tc, edge_resource);
	tcase_add_test(tc, edge_empty_is_denial);
	tcase_add_loop_test(tc, edge_failures, 0, NELEM(edge_bad));
	tcase_add_test(tc, edge_needs_a_refill);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return testutil_run(events_suite());
}
