/*
 * Edge API answers, events_apply_edge (src/events.c), on a thin
 * notification of a customer and of a customer's resource; and jdoc on
 * the answer, against json-c (fuzz_check_jdoc).
 */
#include "autoconf.h"

#include <string.h>

#include "events.h"
#include "fuzz.h"
#include "json.h"

static const char *const thin[] = {
	"{\"type\":\"entitlements.updated\",\"messageId\":\"m-1\","
	    "\"customer\":{\"id\":\"globex\"},"
	    "\"entitlementsUpdatedAt\":\"2025-11-14T21:00:00Z\"}",
	"{\"type\":\"entitlements.updated\",\"messageId\":\"m-2\","
	    "\"customer\":{\"id\":\"globex\"},\"resource\":{\"id\":\"site-1\"},"
	    "\"entitlementsUpdatedAt\":\"2025-11-14T21:00:00Z\"}",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event ev;
	char err[256];
	size_t i, j;
	int r;

	fuzz_check_jdoc(data, size);
	for (i = 0; i < sizeof(thin) / sizeof(thin[0]); i++) {
		if (events_parse(thin[i], strlen(thin[i]), 1700000000000LL, &ev,
		    err, sizeof(err)) != 0 || ev.kind != EVENT_REFILL)
			fuzz_fail("edge: the thin event does not parse");
		r = events_apply_edge(&ev, (const char *)data, size, err,
		    sizeof(err));
		if (r == 0) {
			if (ev.kind != EVENT_ENTITLEMENTS)
				fuzz_fail("edge: kind not ENTITLEMENTS");
			fuzz_check_json(ev.entitlements_json,
			    "edge: entitlements_json");
			fuzz_check_json(ev.metadata_json, "edge: metadata_json");
			for (j = 0; j < ev.nusage; j++)
				fuzz_check_json(ev.usage[j].json,
				    "edge: usage[].json");
		} else if (r != -1 && r != EVENTS_NOMEM)
			fuzz_fail("edge: unknown result");
		events_free(&ev);
	}
	return 0;
}
