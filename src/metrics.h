/*
 * metrics: what the daemon counts, and its Prometheus exposition.
 *
 * Counted where it happens (each consumer fills its own struct
 * metrics_counters and struct metrics_gauges), carried to the master in
 * the status channel's metrics message, summed there (per slot: what the
 * slot's earlier processes counted plus the live one's, so a counter never
 * goes backwards when a consumer restarts), and rendered by this module,
 * the only one that knows the text format (version 0.0.4).
 *
 * Every metric is named pcs_<what>[_<unit>][_total]; label values are a
 * closed set (the enums below), never anything a message carries, so the
 * number of series is fixed.  Pure: no I/O, no logging.
 */
#ifndef PCS_METRICS_H
#define PCS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_PREFIX		"pcs_"

/* label event: the kind of message (events.h), or unknown when unparsable */
enum metrics_event {
	METRICS_EV_ENTITLEMENTS,	/* "entitlements" */
	METRICS_EV_REFILL,		/* "refill": thin notification */
	METRICS_EV_USAGE,		/* "usage" */
	METRICS_EV_PURGE,		/* "purge" */
	METRICS_EV_INVALIDATE_ALL,	/* "invalidate_all" */
	METRICS_EV_OTHER,		/* "other": a type this daemon ignores */
	METRICS_EV_UNKNOWN,		/* "unknown": could not be parsed */
	METRICS_EV_N
};

/* label outcome of pcs_messages_total: what became of a message */
enum metrics_outcome {
	METRICS_OUT_APPLIED,		/* "applied": written (or purged) */
	METRICS_OUT_SKIPPED_OLDER,	/* "skipped_older": Redis had newer */
	METRICS_OUT_SKIPPED_UNCACHED,	/* "skipped_uncached": not cached */
	METRICS_OUT_IGNORED,		/* "ignored": nothing to do by design */
	METRICS_OUT_REJECTED,		/* "rejected": a bad message */
	METRICS_OUT_N
};

/* label action: the SQS API calls made */
enum metrics_sqs_action {
	METRICS_SQS_RECEIVE,		/* "ReceiveMessage" */
	METRICS_SQS_DELETE,		/* "DeleteMessageBatch" */
	METRICS_SQS_CHANGE,		/* "ChangeMessageVisibilityBatch" */
	METRICS_SQS_N
};

/* label outcome of pcs_sqs_requests_total: sqs.h's enum sqs_status */
enum metrics_sqs_outcome {
	METRICS_SQS_OK,			/* "ok" */
	METRICS_SQS_AUTH,		/* "auth" */
	METRICS_SQS_THROTTLED,		/* "throttled" */
	METRICS_SQS_SERVER,		/* "server_error" */
	METRICS_SQS_NETWORK,		/* "network_error" */
	METRICS_SQS_CLIENT,		/* "client_error" */
	METRICS_SQS_PROTOCOL,		/* "protocol_error" */
	METRICS_SQS_OUT_N
};

/* label outcome of the per-entry counters of the batch calls */
enum metrics_entry_outcome {
	METRICS_ENTRY_OK,		/* "ok" */
	METRICS_ENTRY_RETRIED,		/* "retried": failed, tried again */
	METRICS_ENTRY_FAILED,		/* "failed": given up (receipt gone) */
	METRICS_ENTRY_N
};

/* label kind of pcs_redis_errors_total */
enum metrics_redis_error {
	METRICS_REDIS_CONNECT,		/* "connect": connect, TLS, handshake */
	METRICS_REDIS_LOST,		/* "connection_lost" */
	METRICS_REDIS_TIMEOUT,		/* "timeout": no answer in time */
	METRICS_REDIS_REFUSING,		/* "refusing_writes": OOM, READONLY... */
	METRICS_REDIS_REPLY,		/* "error_reply": another error reply */
	METRICS_REDIS_N
};

/* label outcome of pcs_edge_refills_total */
enum metrics_edge_outcome {
	METRICS_EDGE_OK,		/* "ok" */
	METRICS_EDGE_NOT_FOUND,		/* "not_found": the customer is gone */
	METRICS_EDGE_FAILED,		/* "failed": 5xx, network, bad answer */
	METRICS_EDGE_UNAUTHORIZED,	/* "unauthorized": the API key */
	METRICS_EDGE_N
};

/* label outcome of pcs_aws_credential_refreshes_total */
enum metrics_refresh_outcome {
	METRICS_REFRESH_OK,		/* "ok" */
	METRICS_REFRESH_FAILED,		/* "failed" */
	METRICS_REFRESH_N
};

/* label cause of pcs_consumer_exits_total (counted by the master) */
enum metrics_exit_cause {
	METRICS_EXIT_NORMAL,		/* "normal": asked to stop, exited 0 */
	METRICS_EXIT_CRASH,		/* "crash": a signal or another status */
	METRICS_EXIT_HANG,		/* "hang_kill": killed as hung */
	METRICS_EXIT_CONFIG,		/* "config_error": not restarted */
	METRICS_EXIT_N
};

/*
 * The histograms.  Every one has METRICS_BUCKETS finite upper bounds
 * (its own, in metrics.c) and the +Inf bucket; the bounds are in seconds.
 */
enum metrics_hist_kind {
	METRICS_H_LAG,		/* pcs_message_lag_seconds: now minus the
				   message's SentTimestamp when its write is
				   acknowledged */
	METRICS_H_PROCESSING,	/* pcs_message_processing_seconds: received
				   to applied */
	METRICS_H_SQS,		/* pcs_sqs_request_duration_seconds{action} */
	METRICS_H_REDIS,	/* pcs_redis_script_duration_seconds */
	METRICS_H_KIND_N
};
#define METRICS_BUCKETS		16

struct metrics_hist {
	uint64_t	bucket[METRICS_BUCKETS + 1];	/* not cumulative; last
							   is +Inf */
	uint64_t	count;
	uint64_t	sum_us;		/* microseconds */
};

/*
 * A consumer's counters, cumulative over its life.  Only uint64_t
 * members: the struct is carried as an array of METRICS_NCOUNTERS values.
 */
struct metrics_counters {
	uint64_t	received;		/* pcs_messages_received_total */
	uint64_t	messages[METRICS_EV_N][METRICS_OUT_N];
	uint64_t	sqs_requests[METRICS_SQS_N][METRICS_SQS_OUT_N];
	uint64_t	deletes[METRICS_ENTRY_N];	/* pcs_sqs_deletes_total */
	uint64_t	visibility[METRICS_ENTRY_N];
					/* pcs_sqs_visibility_changes_total */
	uint64_t	redis_errors[METRICS_REDIS_N];
	uint64_t	redis_primary_switches;	/* Sentinel: the primary moved */
	uint64_t	edge_refills[METRICS_EDGE_N];
	uint64_t	credential_refreshes[METRICS_REFRESH_N];
	uint64_t	held_released;		/* held, then released unwritten */
	struct metrics_hist lag;
	struct metrics_hist processing;
	struct metrics_hist sqs[METRICS_SQS_N];
	struct metrics_hist redis;
};
#define METRICS_NCOUNTERS	(sizeof(struct metrics_counters) / sizeof(uint64_t))

/* A consumer's gauges, as of its last report. */
struct metrics_gauges {
	uint64_t	in_hand;		/* pcs_messages_in_hand */
	uint64_t	held;			/* pcs_messages_held */
	uint64_t	receives_in_flight;	/* pcs_sqs_receives_in_flight */
	uint64_t	creds_expiry_ms;	/* wall clock; 0: never expire */
	uint64_t	redis_connected;	/* 0 or 1 */
	uint64_t	redis_primary_known;	/* 0 or 1 */
};
#define METRICS_NGAUGES		(sizeof(struct metrics_gauges) / sizeof(uint64_t))

/* What the master knows besides the consumers' reports. */
struct metrics_master {
	int		consumers_configured;	/* pcs_consumers_configured */
	int		consumers_running;	/* pcs_consumers_running */
	int		consumers_ready;	/* pcs_consumers_ready */
	int		ready;			/* pcs_ready: /readyz's answer */
	uint64_t	exits[METRICS_EXIT_N];	/* pcs_consumer_exits_total */
	uint64_t	restarts;		/* pcs_consumer_restarts_total */
	uint64_t	reloads;		/* pcs_config_reloads_total{ok} */
	uint64_t	reload_failures;	/* pcs_config_reloads_total{failed} */
	uint64_t	start_time_ms;		/* pcs_start_time_seconds */
	uint64_t	now_ms;			/* wall clock, for expiry gauges */
};

/* Add one observation (seconds; negative counts as 0). */
void	metrics_observe(struct metrics_hist *h, enum metrics_hist_kind kind,
	    double seconds);
/* dst += src, value by value. */
void	metrics_add(struct metrics_counters *dst,
	    const struct metrics_counters *src);
/* The label values, as rendered. */
const char *metrics_event_name(enum metrics_event);
const char *metrics_outcome_name(enum metrics_outcome);
const char *metrics_sqs_action_name(enum metrics_sqs_action);
/*
 * src as a label value of the text format (backslash, double quote and
 * line feed escaped) in dst, of size bytes, NUL-terminated: 0, or -1 when
 * it was cut to fit (2 * strlen(src) + 1 bytes always fit).
 */
int	metrics_escape_label(char *dst, size_t size, const char *src);

/*
 * Render the exposition: every family with its # HELP and # TYPE, every
 * series even when 0, counters summed over the slots given, gauges
 * summed over the live ones (live[i] 0: slot i's gauges are left out;
 * the credentials' expiry is the nearest one), pcs_build_info with the
 * version and the versions of the libraries it runs with (hiredis,
 * libcurl, OpenSSL, json-c, libev: asked of each library, not I/O).
 * Returns a malloc'd NUL-terminated text (*len its length) or NULL when
 * memory ran out.
 */
char	*metrics_render(const struct metrics_master *mm,
	    const struct metrics_counters *counters, size_t ncounters,
	    const struct metrics_gauges *gauges, const int *live,
	    size_t ngauges, size_t *len);

#endif
