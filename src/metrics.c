/*
 * metrics: the histograms' buckets, the sums of the consumers' counters
 * and the Prometheus text exposition (format 0.0.4), the only place that
 * knows that format.
 *
 * Times are kept in whole microseconds, bucket bounds too, so that an
 * observation falls in the same bucket on every machine and the rendered
 * bounds and sums are exact decimals, not a double's approximation.
 * Every series of the catalogue is rendered, 0 or not: a series that
 * appears only after its first event breaks rate() over the first one.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "metrics.h"

/* The struct is carried as an array of uint64_t: no padding, no other type. */
_Static_assert(sizeof(struct metrics_counters) % sizeof(uint64_t) == 0,
    "struct metrics_counters holds uint64_t only");
_Static_assert(sizeof(struct metrics_hist) ==
    (METRICS_BUCKETS + 3) * sizeof(uint64_t), "struct metrics_hist packed");

#define US	((uint64_t)1000000)

/*
 * The finite upper bounds, in microseconds, of each histogram.
 * lag: a message waits in SQS from milliseconds (a busy consumer) to an
 * hour (a long outage, the messages held); processing: a write takes a
 * millisecond, an Edge refill or a held message up to a minute; SQS: a
 * delete takes milliseconds, a long poll up to 20 s (WaitTimeSeconds), so
 * the bounds around 20 s tell an empty poll from a slow call; Redis: a
 * script takes a fraction of a millisecond on loopback, seconds when
 * the server is in trouble.
 */
static const uint64_t bounds[METRICS_H_KIND_N][METRICS_BUCKETS] = {
	[METRICS_H_LAG] = {
		10000, 25000, 50000, 100000, 250000, 500000, 1 * US,
		2500000, 5 * US, 10 * US, 30 * US, 60 * US, 120 * US,
		300 * US, 900 * US, 3600 * US
	},
	[METRICS_H_PROCESSING] = {
		1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
		500000, 1 * US, 2500000, 5 * US, 10 * US, 20 * US, 30 * US,
		60 * US
	},
	[METRICS_H_SQS] = {
		5000, 10000, 25000, 50000, 100000, 250000, 500000, 1 * US,
		2500000, 5 * US, 10 * US, 15 * US, 19 * US, 20500000,
		25 * US, 30 * US
	},
	[METRICS_H_REDIS] = {
		200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
		200000, 500000, 1 * US, 2 * US, 3 * US, 4 * US, 5 * US
	},
};

/* A single observation longer than this (11.6 days) counts as this. */
#define OBSERVE_MAX_US	(1000000 * US)

void
metrics_observe(struct metrics_hist *h, enum metrics_hist_kind kind,
    double seconds)
{
	uint64_t us;
	int i;

	if ((unsigned)kind >= METRICS_H_KIND_N)
		return;
	/* Negative (a clock step, a skewed SentTimestamp) and NaN: 0. */
	if (!(seconds > 0))
		us = 0;
	else if (seconds >= (double)OBSERVE_MAX_US / US)
		us = OBSERVE_MAX_US;
	else
		us = (uint64_t)llround(seconds * US);
	for (i = 0; i < METRICS_BUCKETS; i++)
		if (us <= bounds[kind][i])
			break;
	h->bucket[i]++;		/* i == METRICS_BUCKETS: +Inf */
	h->count++;
	h->sum_us += us;
}

void
metrics_add(struct metrics_counters *dst, const struct metrics_counters *src)
{
	uint64_t *d = (uint64_t *)(void *)dst;
	const uint64_t *s = (const uint64_t *)(const void *)src;
	size_t i;

	for (i = 0; i < METRICS_NCOUNTERS; i++)
		d[i] += s[i];
}

static const char *const event_names[METRICS_EV_N] = {
	"entitlements", "refill", "usage", "purge", "invalidate_all",
	"other", "unknown"
};
static const char *const outcome_names[METRICS_OUT_N] = {
	"applied", "skipped_older", "skipped_uncached", "ignored", "rejected"
};
static const char *const sqs_action_names[METRICS_SQS_N] = {
	"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"
};
static const char *const sqs_outcome_names[METRICS_SQS_OUT_N] = {
	"ok", "auth", "throttled", "server_error", "network_error",
	"client_error", "protocol_error"
};
static const char *const entry_names[METRICS_ENTRY_N] = {
	"ok", "retried", "failed"
};
static const char *const redis_error_names[METRICS_REDIS_N] = {
	"connect", "connection_lost", "timeout", "refusing_writes",
	"error_reply"
};
static const char *const edge_names[METRICS_EDGE_N] = {
	"ok", "not_found", "failed", "unauthorized"
};
static const char *const refresh_names[METRICS_REFRESH_N] = {
	"ok", "failed"
};
static const char *const exit_names[METRICS_EXIT_N] = {
	"normal", "crash", "hang_kill", "config_error"
};

const char *
metrics_event_name(enum metrics_event e)
{
	return (unsigned)e < METRICS_EV_N ? event_names[e] : "unknown";
}

const char *
metrics_outcome_name(enum metrics_outcome o)
{
	return (unsigned)o < METRICS_OUT_N ? outcome_names[o] : "unknown";
}

const char *
metrics_sqs_action_name(enum metrics_sqs_action a)
{
	return (unsigned)a < METRICS_SQS_N ? sqs_action_names[a] : "unknown";
}

/* The text being built; a failed allocation sticks (oom) until the end. */
struct buf {
	char	*s;
	size_t	 len, cap;
	int	 oom;
};

static void
put(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *s;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		cap = b->cap * 2 + (size_t)n;
		if ((s = realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* Microseconds as an exact decimal number of seconds: "0.0002", "3600". */
static void
put_us(struct buf *b, uint64_t us)
{
	char frac[8];
	int n;

	if (us % US == 0) {
		put(b, "%" PRIu64, us / US);
		return;
	}
	snprintf(frac, sizeof(frac), "%06" PRIu64, us % US);
	for (n = 6; frac[n - 1] == '0'; n--)
		;
	frac[n] = '\0';
	put(b, "%" PRIu64 ".%s", us / US, frac);
}

int
metrics_escape_label(char *dst, size_t size, const char *src)
{
	size_t o = 0;
	const char *e;
	char one[2];

	if (size == 0)
		return -1;
	for (; *src != '\0'; src++) {
		if (*src == '\\')
			e = "\\\\";
		else if (*src == '"')
			e = "\\\"";
		else if (*src == '\n')
			e = "\\n";
		else {
			one[0] = *src;
			one[1] = '\0';
			e = one;
		}
		if (o + strlen(e) >= size) {
			dst[o] = '\0';
			return -1;
		}
		memcpy(dst + o, e, strlen(e));
		o += strlen(e);
	}
	dst[o] = '\0';
	return 0;
}

/*
 * A label value, escaped.  The values are the catalogue's and the
 * libraries' versions, none from a message, but a library's string is
 * not ours.
 */
static void
put_label(struct buf *b, const char *s)
{
	size_t size = 2 * strlen(s) + 1;
	char *e;

	if ((e = malloc(size)) == NULL) {
		b->oom = 1;
		return;
	}
	(void)metrics_escape_label(e, size, s);
	put(b, "%s", e);
	free(e);
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP " METRICS_PREFIX "%s %s\n", name, help);
	put(b, "# TYPE " METRICS_PREFIX "%s %s\n", name, type);
}

/* A series with no label or one: name{label="value"} v */
static void
sample(struct buf *b, const char *name, const char *label, const char *value,
    uint64_t v)
{
	put(b, METRICS_PREFIX "%s", name);
	if (label != NULL) {
		put(b, "{%s=\"", label);
		put_label(b, value);
		put(b, "\"}");
	}
	put(b, " %" PRIu64 "\n", v);
}

/* A counter family with one label over the names given. */
static void
counter1(struct buf *b, const char *name, const char *help, const char *label,
    const char *const *names, const uint64_t *v, size_t n)
{
	size_t i;

	family(b, name, "counter", help);
	for (i = 0; i < n; i++)
		sample(b, name, label, names[i], v[i]);
}

static void
gauge(struct buf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "gauge", help);
	sample(b, name, NULL, NULL, v);
}

/*
 * One histogram's series: cumulative buckets, +Inf (equal to _count),
 * _sum in seconds, _count; label="value", when label is not NULL, first.
 */
static void
hist(struct buf *b, const char *name, enum metrics_hist_kind kind,
    const char *label, const char *value, const struct metrics_hist *h)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i <= METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		put(b, METRICS_PREFIX "%s_bucket{", name);
		if (label != NULL) {
			put(b, "%s=\"", label);
			put_label(b, value);
			put(b, "\",");
		}
		put(b, "le=\"");
		if (i == METRICS_BUCKETS)
			put(b, "+Inf");
		else
			put_us(b, bounds[kind][i]);
		put(b, "\"} %" PRIu64 "\n", cum);
	}
	put(b, METRICS_PREFIX "%s_sum", name);
	if (label != NULL) {
		put(b, "{%s=\"", label);
		put_label(b, value);
		put(b, "\"}");
	}
	put(b, " ");
	put_us(b, h->sum_us);
	put(b, "\n" METRICS_PREFIX "%s_count", name);
	if (label != NULL) {
		put(b, "{%s=\"", label);
		put_label(b, value);
		put(b, "\"}");
	}
	put(b, " %" PRIu64 "\n", h->count);
}

/* The libraries' versions, each asked of the library this process runs. */
static void
put_build_info(struct buf *b)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	char hiredis[32], libev[32];

	snprintf(hiredis, sizeof(hiredis), "%d.%d.%d", HIREDIS_MAJOR,
	    HIREDIS_MINOR, HIREDIS_PATCH);
	snprintf(libev, sizeof(libev), "%d.%d", ev_version_major(),
	    ev_version_minor());
	family(b, "build_info", "gauge", "The version of persistent-cache-"
	    "service and of the libraries it runs with (always 1).");
	put(b, METRICS_PREFIX "build_info{version=\"");
	put_label(b, PACKAGE_VERSION);
	put(b, "\",hiredis=\"");
	put_label(b, hiredis);
	put(b, "\",libcurl=\"");
	put_label(b, cv != NULL && cv->version != NULL ? cv->version : "");
	put(b, "\",openssl=\"");
#ifdef OPENSSL_VERSION_STRING
	/* OpenSSL 3: "3.0.11"; before, only "OpenSSL 1.1.1w  11 Sep 2023". */
	put_label(b, OpenSSL_version(OPENSSL_VERSION_STRING));
#else
	put_label(b, OpenSSL_version(OPENSSL_VERSION));
#endif
	put(b, "\",json_c=\"");
	put_label(b, json_c_version());
	put(b, "\",libev=\"");
	put_label(b, libev);
	put(b, "\"} 1\n");
}

/* Seconds, signed, with milliseconds: "-1.5", "3599.25", "1700000000.123". */
static void
put_ms(struct buf *b, int64_t ms)
{
	uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;

	if (ms < 0)
		put(b, "-");
	put_us(b, a * 1000);
}

char *
metrics_render(const struct metrics_master *mm,
    const struct metrics_counters *counters, size_t ncounters,
    const struct metrics_gauges *gauges, const int *live, size_t ngauges,
    size_t *len)
{
	struct metrics_counters c;
	struct metrics_gauges g;
	struct buf b;
	uint64_t expiry = 0, reloads[2];
	size_t i, j;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < ncounters; i++)
		metrics_add(&c, &counters[i]);
	memset(&g, 0, sizeof(g));
	for (i = 0; i < ngauges; i++) {
		if (live == NULL || !live[i])
			continue;
		g.in_hand += gauges[i].in_hand;
		g.held += gauges[i].held;
		g.receives_in_flight += gauges[i].receives_in_flight;
		/* 0/1: some live consumer is connected, knows the primary. */
		g.redis_connected |= gauges[i].redis_connected != 0;
		g.redis_primary_known |= gauges[i].redis_primary_known != 0;
		if (gauges[i].creds_expiry_ms != 0 && (expiry == 0 ||
		    gauges[i].creds_expiry_ms < expiry))
			expiry = gauges[i].creds_expiry_ms;
	}

	memset(&b, 0, sizeof(b));
	if ((b.s = malloc(16384)) == NULL)
		return NULL;
	b.cap = 16384;
	b.s[0] = '\0';

	family(&b, "messages_received_total", "counter",
	    "Messages received from SQS.");
	sample(&b, "messages_received_total", NULL, NULL, c.received);
	family(&b, "messages_total", "counter", "Messages handled, by event "
	    "type and outcome.");
	for (i = 0; i < METRICS_EV_N; i++)
		for (j = 0; j < METRICS_OUT_N; j++)
			put(&b, METRICS_PREFIX "messages_total{event=\"%s\","
			    "outcome=\"%s\"} %" PRIu64 "\n", event_names[i],
			    outcome_names[j], c.messages[i][j]);
	family(&b, "sqs_requests_total", "counter", "SQS API calls, by "
	    "action and outcome.");
	for (i = 0; i < METRICS_SQS_N; i++)
		for (j = 0; j < METRICS_SQS_OUT_N; j++)
			put(&b, METRICS_PREFIX "sqs_requests_total{action="
			    "\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
			    sqs_action_names[i], sqs_outcome_names[j],
			    c.sqs_requests[i][j]);
	counter1(&b, "sqs_deletes_total", "Messages deleted from SQS, by "
	    "outcome (retried: failed, tried again; failed: given up).",
	    "outcome", entry_names, c.deletes, METRICS_ENTRY_N);
	counter1(&b, "sqs_visibility_changes_total", "Visibility timeout "
	    "changes of messages, by outcome.", "outcome", entry_names,
	    c.visibility, METRICS_ENTRY_N);
	counter1(&b, "redis_errors_total", "Redis errors, by kind.", "kind",
	    redis_error_names, c.redis_errors, METRICS_REDIS_N);
	family(&b, "redis_primary_switches_total", "counter", "Times "
	    "Sentinel named a new Redis primary.");
	sample(&b, "redis_primary_switches_total", NULL, NULL,
	    c.redis_primary_switches);
	counter1(&b, "edge_refills_total", "Entitlement refills from the "
	    "Edge API, by outcome.", "outcome", edge_names, c.edge_refills,
	    METRICS_EDGE_N);
	counter1(&b, "aws_credential_refreshes_total", "AWS credential "
	    "refreshes, by outcome.", "outcome", refresh_names,
	    c.credential_refreshes, METRICS_REFRESH_N);
	family(&b, "messages_released_total", "counter", "Messages held "
	    "while a dependency was down, then released to SQS unwritten.");
	sample(&b, "messages_released_total", NULL, NULL, c.held_released);
	counter1(&b, "consumer_exits_total", "Consumer process exits, by "
	    "cause.", "cause", exit_names, mm->exits, METRICS_EXIT_N);
	family(&b, "consumer_restarts_total", "counter", "Consumer processes "
	    "restarted after an exit.");
	sample(&b, "consumer_restarts_total", NULL, NULL, mm->restarts);
	reloads[0] = mm->reloads;
	reloads[1] = mm->reload_failures;
	counter1(&b, "config_reloads_total", "Configuration reloads "
	    "(SIGHUP), by outcome.", "outcome", refresh_names, reloads, 2);

	gauge(&b, "consumers_configured", "Consumer processes the "
	    "configuration asks for.", (uint64_t)mm->consumers_configured);
	gauge(&b, "consumers_running", "Consumer processes alive.",
	    (uint64_t)mm->consumers_running);
	gauge(&b, "consumers_ready", "Consumer processes reporting ready.",
	    (uint64_t)mm->consumers_ready);
	gauge(&b, "ready", "1 when the service is ready (/readyz answers "
	    "200), else 0.", mm->ready ? 1 : 0);
	gauge(&b, "messages_in_hand", "Messages received and not yet "
	    "settled.", g.in_hand);
	gauge(&b, "messages_held", "Messages held while a dependency is "
	    "down.", g.held);
	gauge(&b, "sqs_receives_in_flight", "ReceiveMessage calls "
	    "outstanding.", g.receives_in_flight);
	family(&b, "aws_credentials_expiry_seconds", "gauge", "Seconds until "
	    "the nearest expiry of the AWS credentials in use (absent when "
	    "they do not expire).");
	if (expiry != 0) {
		put(&b, METRICS_PREFIX "aws_credentials_expiry_seconds ");
		put_ms(&b, (int64_t)(expiry - mm->now_ms));
		put(&b, "\n");
	}
	gauge(&b, "redis_connected", "1 when a consumer is connected to "
	    "Redis, else 0.", g.redis_connected);
	gauge(&b, "redis_primary_known", "1 when a consumer knows the Redis "
	    "primary, else 0.", g.redis_primary_known);
	family(&b, "start_time_seconds", "gauge", "Start time of the "
	    "service, seconds since the epoch.");
	put(&b, METRICS_PREFIX "start_time_seconds ");
	put_ms(&b, (int64_t)mm->start_time_ms);
	put(&b, "\n");
	put_build_info(&b);

	family(&b, "message_lag_seconds", "histogram", "Time from a "
	    "message's SentTimestamp to the acknowledgement of its write.");
	hist(&b, "message_lag_seconds", METRICS_H_LAG, NULL, NULL, &c.lag);
	family(&b, "message_processing_seconds", "histogram", "Time from a "
	    "message's receipt to its write.");
	hist(&b, "message_processing_seconds", METRICS_H_PROCESSING, NULL,
	    NULL, &c.processing);
	family(&b, "sqs_request_duration_seconds", "histogram", "Duration "
	    "of SQS API calls, by action.");
	for (i = 0; i < METRICS_SQS_N; i++)
		hist(&b, "sqs_request_duration_seconds", METRICS_H_SQS,
		    "action", sqs_action_names[i], &c.sqs[i]);
	family(&b, "redis_script_duration_seconds", "histogram", "Duration "
	    "of the Redis write scripts.");
	hist(&b, "redis_script_duration_seconds", METRICS_H_REDIS, NULL, NULL,
	    &c.redis);

	if (b.oom) {
		free(b.s);
		return NULL;
	}
	*len = b.len;
	return b.s;
}
