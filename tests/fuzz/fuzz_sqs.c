/*
 * SQS answers (src/sqs.c): a ReceiveMessage answer, a batch answer (for
 * one entry and for a full batch) and an error answer as sqs_classify and
 * sqs_classify_skew read it, each on every input; and jdoc, which reads
 * the first two, against json-c (fuzz_check_jdoc).
 */
#include "autoconf.h"

#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "sqs.h"

static void
receive(const uint8_t *data, size_t size)
{
	struct sqs_message *m = NULL;
	char err[256];
	size_t n = 0, i;

	if (sqs_parse_receive((const char *)data, size, &m, &n, err,
	    sizeof(err)) != 0)
		return;
	if (n > 0 && m == NULL)
		fuzz_fail("sqs: receive: n without messages");
	for (i = 0; i < n; i++) {
		if (m[i].body == NULL || strlen(m[i].body) > m[i].body_len)
			fuzz_fail("sqs: receive: body length");
		if (m[i].receipt_handle == NULL)
			fuzz_fail("sqs: receive: no receipt handle");
	}
	sqs_messages_free(m, n);
}

static void
batch(const uint8_t *data, size_t size, size_t n)
{
	struct sqs_entry_result res[SQS_MAX_BATCH];
	char err[256];
	size_t i;
	int failed, count = 0;

	memset(res, 0xa5, sizeof(res));
	failed = sqs_parse_batch((const char *)data, size, res, n, err,
	    sizeof(err));
	if (failed == -1)
		return;
	for (i = 0; i < n; i++) {
		if (res[i].ok != 0 && res[i].ok != 1)
			fuzz_fail("sqs: batch: ok neither 0 nor 1");
		if (!res[i].ok)
			count++;
		if (memchr(res[i].code, '\0', sizeof(res[i].code)) == NULL ||
		    memchr(res[i].message, '\0',
		    sizeof(res[i].message)) == NULL)
			fuzz_fail("sqs: batch: text not terminated");
	}
	if (failed != count)
		fuzz_fail("sqs: batch: failed count");
}

static void
classify(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 400, 403, 404, 429, 500, 503 };
	struct sqs_skew sk;
	char err[SQS_ERROR_MAX];
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		(void)sqs_classify(statuses[i], (const char *)data, size, err,
		    sizeof(err), "ReceiveMessage");
		memset(&sk, 0, sizeof(sk));
		sk.date = "Sun, 06 Nov 1994 08:49:37 GMT";
		sk.now = 784111777 + 600;
		(void)sqs_classify_skew(statuses[i], (const char *)data, size,
		    &sk, err, sizeof(err), "DeleteMessageBatch");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_check_jdoc(data, size);
	receive(data, size);
	batch(data, size, 1);
	batch(data, size, SQS_MAX_BATCH);
	classify(data, size);
	return 0;
}
