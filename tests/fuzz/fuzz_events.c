/*
 * Message bodies, events_parse (src/events.c): every value it renders for
 * the cache must be valid JSON, as the SDK parses it; and jdoc, its JSON
 * parser, must read the body as json-c does (fuzz_check_jdoc).
 */
#include "autoconf.h"

#include <string.h>

#include "events.h"
#include "fuzz.h"
#include "json.h"

void	fuzz_check_event(const struct event *ev);

void
fuzz_check_event(const struct event *ev)
{
	size_t i;

	fuzz_check_json(ev->entitlements_json, "events: entitlements_json");
	fuzz_check_json(ev->metadata_json, "events: metadata_json");
	fuzz_check_json(ev->usage_json, "events: usage_json");
	for (i = 0; i < ev->nusage; i++)
		fuzz_check_json(ev->usage[i].json, "events: usage[].json");
	if (memchr(ev->type, '\0', sizeof(ev->type)) == NULL ||
	    memchr(ev->message_id, '\0', sizeof(ev->message_id)) == NULL ||
	    memchr(ev->trace_id, '\0', sizeof(ev->trace_id)) == NULL)
		fuzz_fail("events: label not terminated");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event ev;
	char err[256];
	int r;

	fuzz_check_jdoc(data, size);
	r = events_parse((const char *)data, size, 1700000000000LL, &ev, err,
	    sizeof(err));
	if (r == 0) {
		if (ev.kind != EVENT_IGNORED && ev.kind != EVENT_INVALIDATE_ALL &&
		    ev.customer_id == NULL)
			fuzz_fail("events: no customer id");
		fuzz_check_event(&ev);
		events_free(&ev);
	} else if (r != -1 && r != EVENTS_NOMEM)
		fuzz_fail("events: unknown result");
	return 0;
}
