/*
 * events: the messages Stigg publishes to the queue (spec/events.md),
 * parsed and normalised into what the cache writer needs: ids, the
 * version (epoch ms) of the data, and the JSON values of the Redis layout
 * (spec/redis-layout.md) already rendered.  Pure: no I/O, no logging.
 */
#ifndef PCS_EVENTS_H
#define PCS_EVENTS_H

#include "metrics.h"
#include <stddef.h>
#include <stdint.h>

#define EVENTS_MAX_BODY		(256 * 1024)	/* larger bodies are rejected */
#define EVENTS_MAX_ID		1024		/* bytes in a customer/resource id */

enum event_kind {
	EVENT_IGNORED = 0,	/* acknowledged, counted, nothing written */
	EVENT_ENTITLEMENTS,	/* write customer, metadata and usage keys */
	EVENT_REFILL,		/* thin notification: fetch from the Edge API */
	EVENT_USAGE,		/* write one usage key, if the customer is cached */
	EVENT_PURGE,		/* remove the customer's (or resource's) keys */
	EVENT_INVALIDATE_ALL	/* remove every customer of the environment */
};

struct event_usage {
	char	*feature_id;
	char	*json;		/* {"currentUsage":..,"usagePeriodStart":..,"usagePeriodEnd":..} */
};

struct event {
	enum event_kind	 kind;
	char		 type[64];	/* the type as received, for logs */
	char		 message_id[128]; /* the event's messageId, "" if none */
	char		*customer_id;	/* all kinds but IGNORED, INVALIDATE_ALL */
	char		*resource_id;	/* NULL: customer-scoped */
	int64_t		 version_ms;	/* timestamp of the data (epoch ms) */

	/* EVENT_ENTITLEMENTS */
	char		*entitlements_json;	/* value of P:c_<id>[:r_<rid>] */
	char		*metadata_json;		/* {"accessDeniedReason":...} */
	struct event_usage *usage;		/* one per metered feature */
	size_t		 nusage;

	/* EVENT_USAGE: one usage key */
	char		*feature_id;
	char		*usage_json;
};

/* Returned by events_parse and events_apply_edge when memory ran out. */
#define EVENTS_NOMEM		(-2)

/*
 * Parse one SQS message body.  sent_timestamp_ms is the message's SQS
 * SentTimestamp (the version of last resort).  Returns 0 with *ev filled
 * (caller frees with events_free), or -1 when the message is bad (not
 * JSON, not an object, no type, a handled type without its customer id,
 * a field of the wrong JSON type, an unparsable date, a body over
 * EVENTS_MAX_BODY): err says why in one line, *ev holds nothing to free.
 * EVENTS_NOMEM (err "out of memory", perhaps after a prefix) when memory
 * ran out: not the message's fault, try it again later; *ev holds nothing
 * to free either.
 */
int	events_parse(const char *body, size_t len, int64_t sent_timestamp_ms,
	    struct event *ev, char *err, size_t errlen);

/*
 * Fill a REFILL event's entitlements from an Edge API answer
 * ({"data":{"entitlements":[...]}}); on success ev->kind becomes
 * EVENT_ENTITLEMENTS (an empty list too: the value {}, a cached denial).
 * -1 with err for an answer that is not of that form or carries a
 * non-empty "errors"; EVENTS_NOMEM when memory ran out.
 */
int	events_apply_edge(struct event *ev, const char *body, size_t len,
	    char *err, size_t errlen);

void	events_free(struct event *ev);
const char *events_kind_name(enum event_kind);
/* The label event of pcs_messages_total for a parsed message of kind. */
enum metrics_event events_metrics_event(enum event_kind kind);

/* Parse an ISO-8601 date or accept epoch ms: 0, or -1 if unparsable. */
int	events_parse_date(const char *s, int64_t *ms);

#endif
