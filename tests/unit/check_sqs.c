/*
 * Unit tests for the SQS and Edge API clients: the pure parts (answer
 * parsing, batch results, error classification, endpoint and URL
 * building) directly, plus argument checks and the network error paths
 * against a closed loopback port on a private libev loop.  And httpc's
 * signing and Date, and the clock-skew correction, against a child
 * process answering one request on a loopback port.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <ev.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "config.h"
#include "creds.h"
#include "edge.h"
#include "httpc.h"
#include "log.h"
#include "sigv4.h"
#include "sqs.h"

static enum sqs_status
classify(long status, const char *body, char *err, size_t errlen)
{
	return sqs_classify(status, body, body != NULL ? strlen(body) : 0,
	    err, errlen, "ReceiveMessage");
}

static int
parse(const char *body, struct sqs_message **m, size_t *n, char *err,
    size_t errlen)
{
	return sqs_parse_receive(body, strlen(body), m, n, err, errlen);
}

START_TEST(receive_messages)
{
	const char *body = "{\"Messages\":["
	    "{\"MessageId\":\"m-1\",\"ReceiptHandle\":\"rh/1+x==\","
	    "\"MD5OfBody\":\"x\",\"Body\":\"{\\\"a\\\":\\\"\\u00e9\\\"}\","
	    "\"Attributes\":{\"SentTimestamp\":\"1763150400123\","
	    "\"ApproximateReceiveCount\":\"3\",\"SenderId\":\"AID\"}},"
	    "{\"MessageId\":\"m-2\",\"ReceiptHandle\":\"rh2\",\"Body\":\"\","
	    "\"Attributes\":{\"SentTimestamp\":1763150400999,"
	    "\"ApproximateReceiveCount\":1}}]}  \n";
	struct sqs_message *m;
	size_t n;
	char err[256];

	ck_assert_int_eq(parse(body, &m, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(m[0].message_id, "m-1");
	ck_assert_str_eq(m[0].receipt_handle, "rh/1+x==");
	ck_assert_str_eq(m[0].body, "{\"a\":\"\xc3\xa9\"}");
	ck_assert_uint_eq(m[0].body_len, strlen("{\"a\":\"\xc3\xa9\"}"));
	ck_assert(m[0].sent_timestamp_ms == 1763150400123LL);
	ck_assert_int_eq(m[0].receive_count, 3);
	ck_assert_str_eq(m[1].message_id, "m-2");
	ck_assert_str_eq(m[1].body, "");
	ck_assert_uint_eq(m[1].body_len, 0);
	ck_assert(m[1].sent_timestamp_ms == 1763150400999LL);
	ck_assert_int_eq(m[1].receive_count, 1);
	sqs_messages_free(m, n);
}
END_TEST

START_TEST(receive_no_messages)
{
	static const char *const bodies[] = {
		"{}", "{\"Messages\":[]}", "{\"Messages\":null}", "", " \r\n",
		"{\"ResponseMetadata\":{\"RequestId\":\"x\"}}", NULL
	};
	struct sqs_message *m = (struct sqs_message *)1;
	size_t i, n = 99;
	char err[256];

	for (i = 0; bodies[i] != NULL; i++) {
		ck_assert_msg(parse(bodies[i], &m, &n, err, sizeof(err)) == 0,
		    "%s", bodies[i]);
		ck_assert_ptr_null(m);
		ck_assert_uint_eq(n, 0);
	}
}
END_TEST

START_TEST(receive_attributes_missing_or_odd)
{
	const char *body = "{\"Messages\":["
	    "{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\",\"Body\":\"b\"},"
	    "{\"MessageId\":\"b\",\"ReceiptHandle\":\"r\",\"Body\":\"b\","
	    "\"Attributes\":{}},"
	    "{\"MessageId\":\"c\",\"ReceiptHandle\":\"r\",\"Body\":\"b\","
	    "\"Attributes\":{\"SentTimestamp\":\"12x\","
	    "\"ApproximateReceiveCount\":\"-1\"}},"
	    "{\"MessageId\":\"d\",\"ReceiptHandle\":\"r\",\"Body\":\"b\","
	    "\"Attributes\":{\"SentTimestamp\":[1],"
	    "\"ApproximateReceiveCount\":\"99999999999999\"}},"
	    "{\"MessageId\":\"e\",\"ReceiptHandle\":\"r\",\"Body\":\"b\","
	    "\"Attributes\":null}]}";
	struct sqs_message *m;
	size_t i, n;
	char err[256];

	ck_assert_int_eq(parse(body, &m, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 5);
	for (i = 0; i < n; i++) {
		ck_assert(m[i].sent_timestamp_ms == 0);
		ck_assert_int_eq(m[i].receive_count, 0);
	}
	sqs_messages_free(m, n);
}
END_TEST

START_TEST(receive_malformed)
{
	static const char *const bodies[] = {
		"{", "{\"Messages\":[", "nul", "[1]", "\"x\"", "{} x",
		"{\"Messages\":[]}}", "<html>502</html>", NULL
	};
	struct sqs_message *m;
	size_t i, n;
	char err[256];

	for (i = 0; bodies[i] != NULL; i++) {
		err[0] = '\0';
		ck_assert_msg(parse(bodies[i], &m, &n, err, sizeof(err)) == -1,
		    "%s", bodies[i]);
		ck_assert_ptr_null(m);
		ck_assert_uint_eq(n, 0);
		ck_assert_msg(err[0] != '\0', "%s", bodies[i]);
	}
	ck_assert_int_eq(parse("{", &m, &n, err, sizeof(err)), -1);
	ck_assert_str_eq(err,
	    "malformed JSON: unexpected end of data at offset 1");
}
END_TEST

START_TEST(receive_wrong_types)
{
	static const struct {
		const char *body, *err;
	} cases[] = {
		{ "{\"Messages\":{}}", "Messages is not an array" },
		{ "{\"Messages\":[1]}", "Messages[0] is not an object" },
		{ "{\"Messages\":[{\"MessageId\":1,\"ReceiptHandle\":\"r\","
		    "\"Body\":\"b\"}]}",
		  "Messages[0]: MessageId is missing or not a string" },
		{ "{\"Messages\":[{\"MessageId\":\"\",\"ReceiptHandle\":\"r\","
		    "\"Body\":\"b\"}]}",
		  "Messages[0]: MessageId is missing or not a string" },
		{ "{\"Messages\":[{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\","
		    "\"Body\":\"b\"},{\"MessageId\":\"b\",\"Body\":\"b\"}]}",
		  "Messages[1]: ReceiptHandle is missing or not a string" },
		{ "{\"Messages\":[{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\","
		    "\"Body\":{}}]}",
		  "Messages[0]: Body is missing or not a string" },
		{ "{\"Messages\":[{\"MessageId\":\"a\","
		    "\"ReceiptHandle\":\"r\"}]}",
		  "Messages[0]: Body is missing or not a string" },
		{ "{\"Messages\":[{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\","
		    "\"Body\":\"b\",\"Attributes\":[]}]}",
		  "Messages[0]: Attributes is not an object" },
	};
	struct sqs_message *m;
	size_t i, n;
	char err[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(parse(cases[i].body, &m, &n, err,
		    sizeof(err)), -1);
		ck_assert_ptr_null(m);
		ck_assert_str_eq(err, cases[i].err);
	}
}
END_TEST

static int
batch(const char *body, struct sqs_entry_result *res, size_t n, char *err,
    size_t errlen)
{
	return sqs_parse_batch(body, strlen(body), res, n, err, errlen);
}

START_TEST(batch_all_ok)
{
	struct sqs_entry_result res[3];
	char err[256];

	ck_assert_int_eq(batch("{\"Successful\":[{\"Id\":\"2\"},{\"Id\":\"0\"},"
	    "{\"Id\":\"1\"}],\"Failed\":[]}", res, 3, err, sizeof(err)), 0);
	ck_assert_int_eq(res[0].ok, 1);
	ck_assert_int_eq(res[1].ok, 1);
	ck_assert_int_eq(res[2].ok, 1);
	ck_assert_int_eq(batch("{\"Successful\":[{\"Id\":\"0\"}]}", res, 1,
	    err, sizeof(err)), 0);
}
END_TEST

START_TEST(batch_failures)
{
	struct sqs_entry_result res[4];
	char err[256];

	ck_assert_int_eq(batch("{\"Successful\":[{\"Id\":\"0\"},"
	    "{\"Id\":\"2\"}],\"Failed\":[{\"Id\":\"1\",\"SenderFault\":true,"
	    "\"Code\":\"ReceiptHandleIsInvalid\",\"Message\":"
	    "\"The receipt handle \\\"x\\\" is not valid.\\nmore\"}]}",
	    res, 4, err, sizeof(err)), 2);
	ck_assert_int_eq(res[0].ok, 1);
	ck_assert_int_eq(res[1].ok, 0);
	ck_assert_int_eq(res[1].sender_fault, 1);
	ck_assert_str_eq(res[1].code, "ReceiptHandleIsInvalid");
	ck_assert_str_eq(res[1].message,
	    "The receipt handle \"x\" is not valid.");
	ck_assert_int_eq(res[2].ok, 1);
	/* Not in the answer at all: failed, not silently fine. */
	ck_assert_int_eq(res[3].ok, 0);
	ck_assert_str_eq(res[3].code, "");
	ck_assert_str_eq(res[3].message,
	    "no result for this entry in the answer");

	ck_assert_int_eq(batch("{\"Failed\":[{\"Id\":\"0\","
	    "\"SenderFault\":false,\"Code\":\"InternalError\"}]}", res, 1, err,
	    sizeof(err)), 1);
	ck_assert_int_eq(res[0].ok, 0);
	ck_assert_int_eq(res[0].sender_fault, 0);
	ck_assert_str_eq(res[0].code, "InternalError");
	ck_assert_str_eq(res[0].message, "");
}
END_TEST

START_TEST(batch_unreadable)
{
	static const struct {
		const char *body, *err;
	} cases[] = {
		{ "", "empty answer" },
		{ "{\"Successful\":",
		  "malformed JSON: unexpected end of data at offset 14" },
		{ "[]", "answer is not a JSON object" },
		{ "{\"Successful\":{}}", "Successful is not an array" },
		{ "{\"Failed\":[\"0\"]}", "Failed[0] is not an object" },
		{ "{\"Successful\":[{\"Id\":\"3\"}]}",
		  "Successful[0]: Id is missing or not one we sent" },
		{ "{\"Successful\":[{\"Id\":\"01\"}]}",
		  "Successful[0]: Id is missing or not one we sent" },
		{ "{\"Successful\":[{\"Id\":\"-1\"}]}",
		  "Successful[0]: Id is missing or not one we sent" },
		{ "{\"Successful\":[{\"Id\":0}]}",
		  "Successful[0]: Id is missing or not one we sent" },
		{ "{\"Failed\":[{\"Id\":\"1\",\"Code\":5}]}",
		  "Failed[0]: Code or Message is not a string" },
	};
	struct sqs_entry_result res[3];
	size_t i;
	char err[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(batch(cases[i].body, res, 3, err,
		    sizeof(err)), -1);
		ck_assert_str_eq(err, cases[i].err);
	}
}
END_TEST

START_TEST(classify_ok)
{
	char err[256] = "untouched";

	ck_assert_int_eq(classify(200, "{}", err, sizeof(err)), SQS_OK);
	ck_assert_str_eq(err, "untouched");
	ck_assert_int_eq(classify(204, NULL, err, sizeof(err)), SQS_OK);
}
END_TEST

START_TEST(classify_auth)
{
	char err[512];

	ck_assert_int_eq(classify(403, "{\"__type\":\"com.amazon.coral.service"
	    "#InvalidClientTokenId\",\"message\":\"The security token included "
	    "in the request is invalid.\"}", err, sizeof(err)), SQS_AUTH);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 403 "
	    "InvalidClientTokenId: The security token included in the request "
	    "is invalid.");
	/* The canonical request after the first line break is dropped. */
	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazon.coral.service"
	    "#SignatureDoesNotMatch\",\"message\":\"The request signature does "
	    "not match.\\n\\nThe Canonical String for this request should have "
	    "been\\n'POST\\n/\\nx-amz-security-token:SECRETTOKEN'\"}", err,
	    sizeof(err)), SQS_AUTH);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 "
	    "SignatureDoesNotMatch: The request signature does not match.");
	ck_assert_int_eq(classify(403, NULL, err, sizeof(err)), SQS_AUTH);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 403");
	ck_assert_int_eq(classify(400, "{\"code\":\"ExpiredToken\"}", err,
	    sizeof(err)), SQS_AUTH);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 ExpiredToken");
	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazon.coral.service"
	    "#AccessDeniedException\",\"Message\":\"no\"}", err, sizeof(err)),
	    SQS_AUTH);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 "
	    "AccessDeniedException: no");
	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazon.coral.service"
	    "#UnrecognizedClientException\"}", err, sizeof(err)), SQS_AUTH);
	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazon.coral.service"
	    "#MissingAuthenticationTokenException\"}", err, sizeof(err)),
	    SQS_AUTH);
	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazon.coral.service"
	    "#IncompleteSignatureException\"}", err, sizeof(err)), SQS_AUTH);
}
END_TEST

START_TEST(classify_throttled)
{
	char err[512];

	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazon.coral."
	    "availability#ThrottlingException\",\"message\":\"Rate exceeded\"}",
	    err, sizeof(err)), SQS_THROTTLED);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 "
	    "ThrottlingException: Rate exceeded");
	ck_assert_int_eq(classify(400, "{\"__type\":\"RequestThrottled\"}", err,
	    sizeof(err)), SQS_THROTTLED);
	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazonaws.sqs"
	    "#OverLimit\"}", err, sizeof(err)), SQS_THROTTLED);
	ck_assert_int_eq(classify(429, "", err, sizeof(err)), SQS_THROTTLED);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 429");
	ck_assert_int_eq(classify(503, "{\"__type\":\"TooManyRequests"
	    "Exception\"}", err, sizeof(err)), SQS_THROTTLED);
}
END_TEST

/*
 * SQS answers OverLimit and RequestThrottled with HTTP 403: the code
 * decides, not the status, or a busy queue pauses the consumer for a
 * minute as if its credentials were wrong.
 */
START_TEST(classify_throttled_403)
{
	static const char *const bodies[] = {
		"{\"__type\":\"com.amazonaws.sqs#OverLimit\",\"message\":"
		    "\"Too many messages in flight\"}",
		"{\"__type\":\"AWS.SimpleQueueService.OverLimit\"}",
		"{\"__type\":\"RequestThrottled\"}",
		"{\"code\":\"RequestThrottled\",\"message\":\"slow down\"}",
		"{\"Code\":\"ThrottlingException\"}",
		"{\"__type\":\"com.amazonaws.sqs#KmsThrottled\"}",
		"{\"__type\":\"RequestLimitExceeded\"}",
		"{\"__type\":\"SlowDown\"}",
		NULL
	};
	char err[512];
	size_t i;

	for (i = 0; bodies[i] != NULL; i++)
		ck_assert_msg(classify(403, bodies[i], err, sizeof(err)) ==
		    SQS_THROTTLED, "%s: %s", bodies[i], err);
	ck_assert_int_eq(classify(403, bodies[0], err, sizeof(err)),
	    SQS_THROTTLED);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 403 OverLimit: Too "
	    "many messages in flight");
	/* The batch actions are classified alike. */
	ck_assert_int_eq(sqs_classify(403, bodies[2], strlen(bodies[2]), err,
	    sizeof(err), "DeleteMessageBatch"), SQS_THROTTLED);
	ck_assert_str_eq(err, "sqs: DeleteMessageBatch: HTTP 403 "
	    "RequestThrottled");
	/* A 403 with an unknown code, or none, is still a credential error. */
	ck_assert_int_eq(classify(403, "{\"__type\":\"SomethingElse\"}", err,
	    sizeof(err)), SQS_AUTH);
	ck_assert_int_eq(classify(403, "<html>Forbidden</html>", err,
	    sizeof(err)), SQS_AUTH);
	/* A credential code with a throttling status is a credential error. */
	ck_assert_int_eq(classify(429, "{\"__type\":\"ExpiredToken\"}", err,
	    sizeof(err)), SQS_AUTH);
}
END_TEST

/*
 * What the settling of deletes and visibility changes retries: 5xx, a
 * timeout answered by HTTP, throttling.  Sender faults are not retried.
 */
START_TEST(classify_batch_retryable)
{
	static const char *const actions[] = {
		"DeleteMessageBatch", "ChangeMessageVisibilityBatch", NULL
	};
	static const struct {
		long status;
		const char *body;
		enum sqs_status want;
	} cases[] = {
		{ 500, "{\"__type\":\"InternalError\"}", SQS_SERVER },
		{ 502, "<html>Bad Gateway</html>", SQS_SERVER },
		{ 503, "", SQS_SERVER },
		{ 504, NULL, SQS_SERVER },
		{ 408, "", SQS_SERVER },
		{ 400, "{\"__type\":\"RequestTimeout\"}", SQS_SERVER },
		{ 400, "{\"__type\":\"ThrottlingException\"}", SQS_THROTTLED },
		{ 403, "{\"__type\":\"OverLimit\"}", SQS_THROTTLED },
		{ 400, "{\"__type\":\"AWS.SimpleQueueService."
		    "TooManyEntriesInBatchRequest\"}", SQS_CLIENT },
		{ 400, "{\"__type\":\"AWS.SimpleQueueService."
		    "BatchEntryIdsNotDistinct\"}", SQS_CLIENT },
	};
	char err[512];
	size_t a, i;

	for (a = 0; actions[a] != NULL; a++)
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			ck_assert_msg(sqs_classify(cases[i].status,
			    cases[i].body, cases[i].body != NULL ?
			    strlen(cases[i].body) : 0, err, sizeof(err),
			    actions[a]) == cases[i].want, "%s: %ld %s: %s",
			    actions[a], cases[i].status,
			    cases[i].body != NULL ? cases[i].body : "(none)",
			    err);
}
END_TEST

START_TEST(classify_server)
{
	char err[512];

	ck_assert_int_eq(classify(500, "{\"__type\":\"com.amazonaws.sqs"
	    "#InternalError\",\"message\":\"oops\"}", err, sizeof(err)),
	    SQS_SERVER);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 500 InternalError: "
	    "oops");
	ck_assert_int_eq(classify(502, "<html><body>Bad Gateway</body></html>",
	    err, sizeof(err)), SQS_SERVER);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 502");
	ck_assert_int_eq(classify(503, "{\"__type\":\"ServiceUnavailable\"}",
	    err, sizeof(err)), SQS_SERVER);
}
END_TEST

START_TEST(classify_client)
{
	char err[512];

	ck_assert_int_eq(classify(400, "{\"__type\":\"com.amazonaws.sqs"
	    "#QueueDoesNotExist\",\"message\":\"The specified queue does not "
	    "exist.\"}", err, sizeof(err)), SQS_CLIENT);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 "
	    "QueueDoesNotExist: The specified queue does not exist.");
	ck_assert_int_eq(classify(400, "{\"__type\":\"AWS.SimpleQueueService."
	    "NonExistentQueue\",\"Message\":\"gone\"}", err, sizeof(err)),
	    SQS_CLIENT);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 "
	    "NonExistentQueue: gone");
	ck_assert_int_eq(classify(404, "not json", err, sizeof(err)),
	    SQS_CLIENT);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 404");
	/* A code ends at an odd character; control characters become blanks. */
	ck_assert_int_eq(classify(400, "{\"__type\":\"Bad Code\","
	    "\"message\":\"a\\tb\"}", err, sizeof(err)), SQS_CLIENT);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 400 Bad: a b");
	/* The action is named. */
	ck_assert_int_eq(sqs_classify(400, "{}", 2, err, sizeof(err),
	    "DeleteMessageBatch"), SQS_CLIENT);
	ck_assert_str_eq(err, "sqs: DeleteMessageBatch: HTTP 400");
}
END_TEST

START_TEST(classify_protocol)
{
	char err[512];

	ck_assert_int_eq(classify(302, "", err, sizeof(err)), SQS_PROTOCOL);
	ck_assert_str_eq(err, "sqs: ReceiveMessage: HTTP 302 (unexpected "
	    "status)");
	ck_assert_int_eq(classify(0, NULL, err, sizeof(err)), SQS_PROTOCOL);
	ck_assert_str_eq(sqs_status_name(SQS_PROTOCOL), "protocol");
	ck_assert_str_eq(sqs_status_name(SQS_AUTH), "auth");
}
END_TEST

START_TEST(classify_long_message_one_line)
{
	char body[2048], err[512];
	size_t i;

	strcpy(body, "{\"__type\":\"X\",\"message\":\"");
	for (i = strlen(body); i < 1500; i++)
		body[i] = 'm';
	strcpy(body + i, "\"}");
	ck_assert_int_eq(classify(400, body, err, sizeof(err)), SQS_CLIENT);
	ck_assert_uint_eq(strlen(err), strlen("sqs: ReceiveMessage: HTTP 400 "
	    "X: ") + 200);
	ck_assert_ptr_null(strchr(err, '\n'));
	/* A small buffer is cut, and terminated. */
	ck_assert_int_eq(classify(400, body, err, 10), SQS_CLIENT);
	ck_assert_str_eq(err, "sqs: Rece");
}
END_TEST

START_TEST(endpoint)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/events",
		  "https://sqs.us-east-1.amazonaws.com/" },
		{ "http://127.0.0.1:9324/000000000000/q",
		  "http://127.0.0.1:9324/" },
		{ "HTTPS://Sqs.Example.com/1/q", "https://Sqs.Example.com/" },
		{ "https://host", "https://host/" },
		{ "http://host?x=1", "http://host/" },
		{ "https://[::1]:9324/0/q", "https://[::1]:9324/" },
		{ "https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com/1/q.fifo",
		  "https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com/" },
	};
	static const char *const bad[] = {
		"", "ftp://host/q", "sqs.us-east-1.amazonaws.com/1/q",
		"https:///1/q", "https://", "https://user:pw@host/1/q",
		"http://ho st/q", "https//host/q", "https://h:0/q",
		"http://[::1/q", "http://[::1]x/q", "https://h:/q", NULL
	};
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(sqs_endpoint(cases[i].url, buf, sizeof(buf)),
		    0);
		ck_assert_str_eq(buf, cases[i].want);
	}
	for (i = 0; bad[i] != NULL; i++)
		ck_assert_msg(sqs_endpoint(bad[i], buf, sizeof(buf)) == -1,
		    "%s", bad[i]);
	ck_assert_int_eq(sqs_endpoint(NULL, buf, sizeof(buf)), -1);
	/* "http://h/" needs 10 bytes. */
	ck_assert_int_eq(sqs_endpoint("http://h/q", buf, 9), -1);
	ck_assert_int_eq(sqs_endpoint("http://h/q", buf, 10), 0);
}
END_TEST

START_TEST(edge_url_encoding)
{
	static const char base[] = "https://edge.api.stigg.io";
	char buf[512];

	ck_assert_int_eq(edge_url(base, "customer-1", NULL, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "https://edge.api.stigg.io/v1/c/customer-1/"
	    "entitlements.json");
	ck_assert_int_eq(edge_url("https://edge.api.stigg.io//", "c", "",
	    buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "https://edge.api.stigg.io/v1/c/c/"
	    "entitlements.json");
	ck_assert_int_eq(edge_url(base, "a:b*c?d[e]\\f g", NULL, buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "https://edge.api.stigg.io/v1/c/"
	    "a%3Ab%2Ac%3Fd%5Be%5D%5Cf%20g/entitlements.json");
	ck_assert_int_eq(edge_url(base, "../x/%41#", "r/1%", buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "https://edge.api.stigg.io/v1/c/"
	    "..%2Fx%2F%2541%23/entitlements.json?resourceId=r%2F1%25");
	/* UTF-8 byte by byte; unreserved characters as they are. */
	ck_assert_int_eq(edge_url(base, "J\xc3\xbcrgen-\xe2\x82\xac",
	    "Aa0-._~+&=", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "https://edge.api.stigg.io/v1/c/"
	    "J%C3%BCrgen-%E2%82%AC/entitlements.json?"
	    "resourceId=Aa0-._~%2B%26%3D");
	ck_assert_int_eq(edge_url("http://127.0.0.1:8080/prefix", "c", "r",
	    buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "http://127.0.0.1:8080/prefix/v1/c/c/"
	    "entitlements.json?resourceId=r");
}
END_TEST

START_TEST(edge_url_limits)
{
	static const char want[] = "http://h/v1/c/%20/entitlements.json";
	char buf[64];

	ck_assert_int_eq(edge_url("http://h", "", NULL, buf, sizeof(buf)), -1);
	ck_assert_int_eq(edge_url("http://h", NULL, NULL, buf, sizeof(buf)),
	    -1);
	ck_assert_int_eq(edge_url(NULL, "c", NULL, buf, sizeof(buf)), -1);
	ck_assert_int_eq(edge_url("http://h", " ", NULL, buf, sizeof(want)),
	    0);
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(edge_url("http://h", " ", NULL, buf,
	    sizeof(want) - 1), -1);
	ck_assert_int_eq(edge_url("http://h", " ", "x", buf, sizeof(want)),
	    -1);
}
END_TEST

/* A loop, a client, and a loopback port nobody listens on. */
struct fixture {
	struct ev_loop	*loop;
	struct httpc	*hc;
	ev_timer	 guard;
	int		 port;
	int		 done;
	int		 status;
	int		 attempts;
	char		 err[SQS_ERROR_MAX];
	struct creds_plan *plan;
	struct creds	*creds;
};

static void
on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);	/* bound, never listened: connects are refused */
	return port;
}

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(f->loop);
	f->hc = httpc_new(f->loop, 4);
	ck_assert_ptr_nonnull(f->hc);
	f->port = closed_port();
	ev_timer_init(&f->guard, on_guard, 10., 0.);
	ev_timer_start(f->loop, &f->guard);
	f->status = -1;
}

static void
fixture_run(struct fixture *f)
{
	while (!f->done && ev_is_active(&f->guard))
		ev_run(f->loop, EVRUN_ONCE);
	ck_assert_int_eq(f->done, 1);
}

static void
on_creds_state(void *arg, int ok, const char *reason)
{
	(void)arg;
	(void)ok;
	(void)reason;
}

/*
 * A provider of static keys (current at once) for f, or, with akid
 * NULL, one running a credential_process that has no credentials yet.
 */
static struct creds *
fixture_creds(struct fixture *f, const char *akid, const char *secret,
    const char *token)
{
	static char conf[64];
	struct config cfg;
	char err[256];
	FILE *fp;
	int fd;

	memset(&cfg, 0, sizeof(cfg));
	cfg.aws_region = (char *)"us-east-1";
	cfg.aws_access_key_id = (char *)akid;
	cfg.aws_secret_access_key = (char *)secret;
	cfg.aws_session_token = (char *)token;
	if (akid == NULL) {
		snprintf(conf, sizeof(conf), "/tmp/check_sqs.XXXXXX");
		ck_assert_int_ge(fd = mkstemp(conf), 0);
		ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
		fputs("[default]\ncredential_process = exit 1\n", fp);
		ck_assert_int_eq(fclose(fp), 0);
		cfg.aws_config_file = conf;
	}
	ck_assert_int_eq(creds_plan(&cfg, &f->plan, err, sizeof(err)), 0);
	if (akid == NULL)
		unlink(conf);
	f->creds = creds_new(f->loop, f->hc, &cfg, f->plan, on_creds_state, f,
	    err, sizeof(err));
	ck_assert_ptr_nonnull(f->creds);
	return f->creds;
}

static void
fixture_free(struct fixture *f)
{
	ev_timer_stop(f->loop, &f->guard);
	creds_free(f->creds);
	creds_plan_free(f->plan);
	httpc_free(f->hc);
	ev_loop_destroy(f->loop);
}

START_TEST(sqs_new_checks)
{
	static const struct {
		const char *url, *region, *err;
	} cases[] = {
		{ "ftp://h/1/q", "us-east-1",
		  "sqs: queue URL must start with http:// or https://" },
		{ "https://h/", "us-east-1",
		  "sqs: queue URL has no path after the host" },
		{ "https://h", "us-east-1",
		  "sqs: queue URL has no path after the host" },
		{ "https://h/1/q\r\nX: y", "us-east-1",
		  "sqs: queue URL contains a space, a control character or a "
		  "non-ASCII byte" },
		/* The rules -t applies (url_parse); no password shown. */
		{ "https://AKIA:s3cr3t@h/1/q", "us-east-1",
		  "sqs: queue URL must not carry a user name or password" },
		{ "https://h:0/1/q", "us-east-1",
		  "sqs: queue URL has a port that is not a number from 1 to "
		  "65535" },
		{ "https://h/1/q?s3cr3t", "us-east-1",
		  "sqs: queue URL must not have a query or fragment" },
		{ "http://[::g]:9324/0/q", "us-east-1",
		  "sqs: queue URL has a host in brackets that is not an IPv6 "
		  "address" },
		{ "https://h/1/q", "",
		  "sqs: region must be a name like us-east-1" },
		{ "https://h/1/q", "us:east",
		  "sqs: region must be a name like us-east-1" },
	};
	struct fixture f;
	struct sqs *s;
	char err[256];
	size_t i;

	fixture_init(&f);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = sqs_new(f.hc, cases[i].url, cases[i].region, NULL, err,
		    sizeof(err));
		ck_assert_ptr_null(s);
		ck_assert_str_eq(err, cases[i].err);
		/* No secret in the error line. */
		ck_assert_ptr_null(strstr(err, "s3cr3t"));
	}
	s = sqs_new(f.hc, "https://sqs.us-east-1.amazonaws.com/1/q",
	    "us-east-1", fixture_creds(&f, "AKIA", "s3cr3t", "tok"), err,
	    sizeof(err));
	ck_assert_ptr_nonnull(s);
	sqs_free(s);
	s = sqs_new(f.hc, "http://127.0.0.1:9324/0/q", "elasticmq", NULL, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(sqs_receive(s, 11, 20, 30, (sqs_receive_fn)NULL,
	    NULL, err, sizeof(err)));
	ck_assert_ptr_null(sqs_delete_batch(s, NULL, 0,
	    (sqs_batch_fn)NULL, NULL, err, sizeof(err)));
	sqs_free(s);
	fixture_free(&f);
}
END_TEST

static void
on_receive(void *arg, enum sqs_status st, const char *err,
    struct sqs_message *msgs, size_t n)
{
	struct fixture *f = arg;

	f->done = 1;
	f->status = (int)st;
	snprintf(f->err, sizeof(f->err), "%s", err);
	ck_assert_ptr_null(msgs);
	ck_assert_uint_eq(n, 0);
}

START_TEST(sqs_network_error)
{
	struct fixture f;
	struct sqs *s;
	char url[128], err[256], want[64];

	fixture_init(&f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/000000000000/q",
	    f.port);
	s = sqs_new(f.hc, url, "us-east-1", fixture_creds(&f, "AKIDEXAMPLE",
	    "s3cr3t-key", NULL), err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(sqs_receive(s, 10, 1, 30, on_receive, &f, err,
	    sizeof(err)));
	fixture_run(&f);
	ck_assert_int_eq(f.status, SQS_NETWORK);
	snprintf(want, sizeof(want), "sqs: ReceiveMessage: ");
	ck_assert_msg(strncmp(f.err, want, strlen(want)) == 0, "%s", f.err);
	ck_assert_ptr_null(strstr(f.err, "s3cr3t"));
	ck_assert_ptr_null(strchr(f.err, '\n'));
	sqs_free(s);
	fixture_free(&f);
}
END_TEST

static void
on_batch(void *arg, enum sqs_status st, const char *err,
    const struct sqs_entry_result *res, size_t n)
{
	struct fixture *f = arg;

	f->done = 1;
	f->status = (int)st;
	snprintf(f->err, sizeof(f->err), "%s", err);
	ck_assert_ptr_null(res);
	ck_assert_uint_eq(n, 0);
}

/* No answer to a batch is SQS_NETWORK, which settling retries. */
START_TEST(sqs_batch_network_error)
{
	struct sqs_entry e[2] = { { "rh-1", 0 }, { "rh-2", 30 } };
	struct fixture f;
	struct sqs *s;
	char url[128], err[256];

	fixture_init(&f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/000000000000/q",
	    f.port);
	s = sqs_new(f.hc, url, "us-east-1", fixture_creds(&f, "AKIDEXAMPLE",
	    "s3cr3t-key", NULL), err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(sqs_delete_batch(s, e, 2, on_batch, &f, err,
	    sizeof(err)));
	fixture_run(&f);
	ck_assert_int_eq(f.status, SQS_NETWORK);
	ck_assert_msg(strncmp(f.err, "sqs: DeleteMessageBatch: ", 25) == 0,
	    "%s", f.err);
	f.done = 0;
	ck_assert_ptr_nonnull(sqs_change_visibility_batch(s, e, 2, on_batch,
	    &f, err, sizeof(err)));
	fixture_run(&f);
	ck_assert_int_eq(f.status, SQS_NETWORK);
	ck_assert_msg(strncmp(f.err, "sqs: ChangeMessageVisibilityBatch: ",
	    35) == 0, "%s", f.err);
	ck_assert_ptr_null(strstr(f.err, "s3cr3t"));
	sqs_free(s);
	fixture_free(&f);
}
END_TEST

static void
on_edge(void *arg, const struct edge_result *r)
{
	struct fixture *f = arg;

	f->done = 1;
	f->status = r->ok;
	f->attempts = r->attempts;
	snprintf(f->err, sizeof(f->err), "%s",
	    r->error != NULL ? r->error : "");
}

START_TEST(edge_without_key)
{
	struct fixture f;
	struct edge *e;
	char err[256];

	fixture_init(&f);
	ck_assert_ptr_null(edge_new(f.loop, f.hc, "ftp://x", "k", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "edge: API URL must start with http:// or "
	    "https://");
	ck_assert_ptr_null(edge_new(f.loop, f.hc, "https://u:s3cr3t@x", "k",
	    err, sizeof(err)));
	ck_assert_str_eq(err, "edge: API URL must not carry a user name or "
	    "password");
	ck_assert_ptr_null(edge_new(f.loop, f.hc, "https://x/?k", "k", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "edge: API URL must not have a query or "
	    "fragment");
	ck_assert_ptr_null(edge_new(f.loop, f.hc, "https://x:65536", "k", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "edge: API URL has a port that is not a number "
	    "from 1 to 65535");
	/* A base path is fine, and so is an IPv6 host. */
	e = edge_new(f.loop, f.hc, "http://[::1]:8080/edge/", "k", err,
	    sizeof(err));
	ck_assert_ptr_nonnull(e);
	edge_free(e);
	e = edge_new(f.loop, f.hc, "https://edge.api.stigg.io", NULL, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(edge_fetch(e, "c", NULL, on_edge, &f, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "edge: SERVER_API_KEY is not set");
	edge_free(e);
	e = edge_new(f.loop, f.hc, "https://edge.api.stigg.io", "", err,
	    sizeof(err));
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(edge_fetch(e, "c", NULL, on_edge, &f, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "edge: SERVER_API_KEY is not set");
	edge_free(e);
	ck_assert_int_eq(f.done, 0);
	fixture_free(&f);
}
END_TEST

START_TEST(edge_network_error_retried)
{
	struct fixture f;
	struct edge *e;
	char base[64], err[256];

	fixture_init(&f);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", f.port);
	e = edge_new(f.loop, f.hc, base, "api-key-secret", err, sizeof(err));
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(edge_fetch(e, "cust 1", "r", on_edge, &f, err,
	    sizeof(err)));
	fixture_run(&f);
	ck_assert_int_eq(f.status, 0);
	ck_assert_int_eq(f.attempts, EDGE_ATTEMPTS);
	snprintf(err, sizeof(err), "edge: GET %s/v1/c/cust%%201/"
	    "entitlements.json?resourceId=r: ", base);
	ck_assert_msg(strncmp(f.err, err, strlen(err)) == 0, "%s", f.err);
	ck_assert_ptr_nonnull(strstr(f.err, "(3 attempts)"));
	ck_assert_ptr_null(strstr(f.err, "api-key-secret"));
	edge_free(e);
	fixture_free(&f);
}
END_TEST

/* What a one-request server answers. */
struct answer {
	const char	*status;	/* "400 Bad Request" */
	const char	*headers;	/* more "Name: value\r\n" lines */
	const char	*body;
	int		 date_ahead;	/* Date so many s ahead; 0: none */
	int		 capture;	/* where the request goes, or -1 */
};

/* Read a request whole: its head, then Content-Length bytes. */
static size_t
read_request(int c, char *req, size_t size)
{
	const char *end, *cl;
	size_t len = 0, want = 0;
	ssize_t n;

	while (len + 1 < size && (n = read(c, req + len, size - 1 - len)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
		if ((end = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		if (want == 0) {
			cl = strcasestr(req, "\r\nContent-Length:");
			want = (size_t)(end + 4 - req) + (cl != NULL &&
			    cl < end ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (len >= want)
			break;
	}
	req[len] = '\0';
	return len;
}

/*
 * A child process answering one HTTP request on a loopback port as a
 * says; the port is returned, the child reaped by the caller.
 */
static int
serve(const struct answer *a, pid_t *pid)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char req[8192], head[512], date[64];
	time_t t;
	size_t n;
	int fd, c;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		if ((c = accept(fd, NULL, NULL)) == -1)
			_exit(1);
		n = read_request(c, req, sizeof(req));
		if (a->capture != -1 && write(a->capture, req, n) == -1)
			_exit(1);
		date[0] = '\0';
		if (a->date_ahead != 0) {
			t = time(NULL) + a->date_ahead;
			strftime(date, sizeof(date), "Date: %a, %d %b %Y "
			    "%H:%M:%S GMT\r\n", gmtime(&t));
		}
		snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%s%s"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    a->status, date, a->headers != NULL ? a->headers : "",
		    strlen(a->body));
		if (write(c, head, strlen(head)) == -1 ||
		    write(c, a->body, strlen(a->body)) == -1)
			_exit(1);
		close(c);
		_exit(0);
	}
	close(fd);
	return ntohs(sin.sin_port);
}

/* A status 400 with body, the request not kept. */
static int
one_answer(const char *body, pid_t *pid)
{
	struct answer a = { "400 Bad Request", NULL, body, 0, -1 };

	return serve(&a, pid);
}

/*
 * A 4xx body quoted in the error: one line, the API key redacted where
 * it is whole and where the quote cuts it.
 */
START_TEST(edge_body_redacted)
{
	static const char key[] = "api-key-secret-0123456789";
	struct fixture f;
	struct edge *e;
	char body[512], base[64], err[256];
	pid_t pid;
	int n, status;

	/* The key whole, then again from byte 110: the quote ends at 120. */
	n = snprintf(body, sizeof(body), "{\"error\":\n\"bad key %s\",", key);
	memset(body + n, ' ', 105 - (size_t)n);
	snprintf(body + 105, sizeof(body) - 105, "\"k\":\"%s\"}", key);
	ck_assert_int_eq(strstr(body + 100, key) - body, 110);
	fixture_init(&f);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d",
	    one_answer(body, &pid));
	e = edge_new(f.loop, f.hc, base, key, err, sizeof(err));
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(edge_fetch(e, "c", NULL, on_edge, &f, err,
	    sizeof(err)));
	fixture_run(&f);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(f.status, 0);
	ck_assert_int_eq(f.attempts, 1);
	snprintf(err, sizeof(err), "edge: GET %s/v1/c/c/entitlements.json: "
	    "HTTP 400: {\"error\": \"bad key [redacted]\",", base);
	ck_assert_msg(strncmp(f.err, err, strlen(err)) == 0, "%s", f.err);
	ck_assert_msg(strstr(f.err, "\"k\":\"[redacted]") != NULL, "%s", f.err);
	ck_assert_ptr_null(strstr(f.err, "api-key"));
	ck_assert_ptr_null(strchr(f.err, '\n'));
	edge_free(e);
	fixture_free(&f);
}
END_TEST

/* Read all of fd (closed) into buf, NUL-terminated. */
static void
read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/*
 * The head lines of the request req called name: how many, and the
 * first one's value in val.
 */
static int
header_lines(const char *req, const char *name, char *val, size_t len)
{
	const char *p = req, *v, *eol;
	size_t nlen = strlen(name);
	int count = 0;

	val[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL && strncmp(p, "\r\n\r\n", 4)) {
		p += 2;
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != ':' ||
		    count++ > 0)
			continue;
		for (v = p + nlen + 1; *v == ' '; v++)
			;
		eol = strstr(v, "\r\n");
		snprintf(val, len, "%.*s", (int)(eol - v), v);
	}
	return count;
}

/* An X-Amz-Date value as a time. */
static time_t
amz_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	ck_assert_msg(strptime(s, "%Y%m%dT%H%M%SZ", &tm) != NULL, "%s", s);
	return timegm(&tm);
}

static void
on_http(void *arg, const struct httpc_result *r)
{
	struct fixture *f = arg;

	f->done = 1;
	f->status = (int)r->status;
	snprintf(f->err, sizeof(f->err), "%s", r->date != NULL ? r->date :
	    "(none)");
}

/*
 * A request signed by httpc (by curl, or with own_signer by sigv4_sign)
 * with the signing clock offset seconds ahead: each signing header once,
 * the time the signing clock's, the signature sigv4_sign's for the
 * request as it came, the answer's Date passed on.
 */
static void
check_signed_request(int own_signer, long offset)
{
	static const char *const headers[] = {
		"Content-Type: application/x-amz-json-1.0",
		"X-Amz-Target: AmazonSQS.ReceiveMessage", NULL
	};
	struct answer a = { "200 OK", "Date: Fri, 14 Nov 2025 20:05:12 GMT\r\n",
	    "{}", 0, -1 };
	char url[64], req[8192], date[32], auth[512], tok[64], host[64];
	char hostline[80], err[256];
	const char *sh[] = { headers[0], headers[1], hostline, NULL };
	struct httpc_request hr = {
		.method = "POST", .url = url, .headers = headers,
		.body = "{}", .body_len = 2, .timeout_ms = 5000,
		.sigv4_region = "us-east-1", .sigv4_service = "sqs",
		.access_key_id = "AKIDEXAMPLE", .secret_key = "s3cr3t-key",
		.session_token = "tok-s3cr3t-0123", .own_signer = own_signer
	};
	/* The same request as it came, to be signed again. */
	struct sigv4_request sr = {
		.method = "POST", .url = "http://127.0.0.1/", .headers = sh,
		.body = "{}", .body_len = 2, .region = "us-east-1",
		.service = "sqs", .access_key_id = "AKIDEXAMPLE",
		.secret_key = "s3cr3t-key", .session_token = "tok-s3cr3t-0123"
	};
	struct sigv4_signature sig;
	struct fixture f;
	time_t before, after, t;
	pid_t pid;
	int p[2], status;

	ck_assert_int_eq(pipe(p), 0);
	a.capture = p[1];
	fixture_init(&f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", serve(&a, &pid));
	close(p[1]);
	sigv4_set_offset(offset);
	before = time(NULL);
	ck_assert_ptr_nonnull(httpc_start(f.hc, &hr, on_http, &f));
	after = time(NULL);
	fixture_run(&f);
	read_all(p[0], req, sizeof(req));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	fixture_free(&f);
	sigv4_set_offset(0);

	ck_assert_int_eq(f.status, 200);
	ck_assert_str_eq(f.err, "Fri, 14 Nov 2025 20:05:12 GMT");
	/* One each: libcurl 7.86 to 8.2 would send a second X-Amz-Date. */
	ck_assert_int_eq(header_lines(req, "X-Amz-Date", date, sizeof(date)),
	    1);
	ck_assert_int_eq(header_lines(req, "Authorization", auth, sizeof(auth)),
	    1);
	ck_assert_int_eq(header_lines(req, "X-Amz-Security-Token", tok,
	    sizeof(tok)), 1);
	ck_assert_str_eq(tok, "tok-s3cr3t-0123");
	ck_assert_int_eq(header_lines(req, "Host", host, sizeof(host)), 1);
	/* "127.0.0.1:<port>", from between "http://" and the last '/'. */
	ck_assert_int_eq(strlen(host), strlen(url) - 8);
	ck_assert_int_eq(strncmp(host, url + 7, strlen(host)), 0);
	ck_assert_ptr_null(strstr(req, "s3cr3t-key"));
	t = amz_time(date);
	ck_assert_msg(t >= before + offset && t <= after + offset,
	    "X-Amz-Date %s, offset %ld", date, offset);

	snprintf(hostline, sizeof(hostline), "Host: %s", host);
	sr.when = t;
	ck_assert_msg(sigv4_sign(&sr, &sig, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(auth, sig.lines[2] + strlen("Authorization: "));
	ck_assert_ptr_nonnull(strstr(auth, "SignedHeaders=content-type;host;"
	    "x-amz-date;x-amz-security-token;x-amz-target, "));
	sigv4_signature_free(&sig);
}

START_TEST(httpc_signs_at_the_signing_clock)
{
	check_signed_request(1, 0);
	check_signed_request(1, 3600);
	check_signed_request(1, -312);
	/* Whichever signer the libcurl loaded gets: the same request. */
	check_signed_request(0, 0);
	check_signed_request(0, 3600);
}
END_TEST

/* No Date, or one too long to be IMF-fixdate: none passed on. */
START_TEST(httpc_date_absent)
{
	static const char *const heads[] = {
		"", "Date: Fri, 14 Nov 2025 20:05:12 GMT, and then a great "
		"deal more than any date needs\r\n", NULL
	};
	struct answer a = { "200 OK", NULL, "", 0, -1 };
	struct httpc_request hr;
	struct fixture f;
	char url[64];
	pid_t pid;
	int i, status;

	for (i = 0; heads[i] != NULL; i++) {
		a.headers = heads[i];
		fixture_init(&f);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/",
		    serve(&a, &pid));
		memset(&hr, 0, sizeof(hr));
		hr.method = "GET";
		hr.url = url;
		hr.timeout_ms = 5000;
		ck_assert_ptr_nonnull(httpc_start(f.hc, &hr, on_http, &f));
		fixture_run(&f);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_int_eq(f.status, 200);
		ck_assert_str_eq(f.err, "(none)");
		fixture_free(&f);
	}
}
END_TEST

/* Credentials only with a region, a region only with credentials. */
START_TEST(httpc_signing_arguments)
{
	struct httpc_request hr;
	struct fixture f;

	fixture_init(&f);
	memset(&hr, 0, sizeof(hr));
	hr.method = "GET";
	hr.url = "http://127.0.0.1:1/";
	hr.timeout_ms = 5000;
	hr.access_key_id = "AKIDEXAMPLE";
	hr.secret_key = "s3cr3t-key";
	errno = 0;
	ck_assert_ptr_null(httpc_start(f.hc, &hr, on_http, &f));
	ck_assert_int_eq(errno, EINVAL);
	hr.access_key_id = hr.secret_key = NULL;
	hr.session_token = "tok";
	ck_assert_ptr_null(httpc_start(f.hc, &hr, on_http, &f));
	ck_assert_int_eq(errno, EINVAL);
	hr.session_token = NULL;
	hr.sigv4_region = "us-east-1";
	hr.sigv4_service = "sqs";
	hr.access_key_id = "AKIDEXAMPLE";
	ck_assert_ptr_null(httpc_start(f.hc, &hr, on_http, &f));
	ck_assert_int_eq(errno, EINVAL);
	/* A request sigv4_sign refuses (a header of its own). */
	{
		static const char *const own[] = { "X-Amz-Date: 1", NULL };

		hr.secret_key = "s3cr3t-key";
		hr.headers = own;
		hr.own_signer = 1;
		ck_assert_ptr_null(httpc_start(f.hc, &hr, on_http, &f));
		ck_assert_int_eq(errno, EINVAL);
	}
	ck_assert_int_eq(f.done, 0);
	fixture_free(&f);
}
END_TEST

/* No credentials yet: a request fails at once, with the provider's why. */
START_TEST(sqs_without_credentials)
{
	struct sqs_entry e[1] = { { "rh-1", 0 } };
	struct fixture f;
	struct sqs *s;
	char err[SQS_ERROR_MAX];

	fixture_init(&f);
	s = sqs_new(f.hc, "http://127.0.0.1:9/000000000000/q", "us-east-1",
	    fixture_creds(&f, NULL, NULL, NULL), err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(sqs_receive(s, 10, 1, 30, on_receive, &f, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "sqs: ReceiveMessage: no AWS credentials to "
	    "sign with: aws: credentials: none fetched yet");
	ck_assert_ptr_null(sqs_delete_batch(s, e, 1, on_batch, &f, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "sqs: DeleteMessageBatch: no AWS credentials to "
	    "sign with: aws: credentials: none fetched yet");
	ck_assert_int_eq(f.done, 0);
	sqs_free(s);
	fixture_free(&f);
}
END_TEST

#define SKEW_EXPIRED	"{\"__type\":\"com.amazon.coral.service" \
	"#SignatureDoesNotMatch\",\"message\":\"Signature expired: " \
	"20251114T200000Z is now earlier than 20251114T200512Z " \
	"(20251114T201012Z - 5 min.)\"}"
/* 2025-11-14T20:05:12Z, SQS' time in SKEW_DATE. */
#define SKEW_SERVER	((time_t)1763150712)
#define SKEW_DATE	"Fri, 14 Nov 2025 20:05:12 GMT"

START_TEST(classify_skew)
{
	static const struct {
		long status;
		const char *body, *date;
		time_t now;
		enum sqs_status want;
		long offset;		/* when corrected */
		int corrected;
	} cases[] = {
		/* Our clock 312 s behind SQS', then 312 s ahead. */
		{ 403, SKEW_EXPIRED, SKEW_DATE, SKEW_SERVER - 312, SQS_SERVER,
		  312, 1 },
		{ 400, "{\"__type\":\"InvalidSignatureException\",\"message\":"
		  "\"Signature not yet current: 20251114T201024Z is still "
		  "later than 20251114T201012Z (20251114T200512Z + 5 min.)\"}",
		  SKEW_DATE, SKEW_SERVER + 312, SQS_SERVER, -312, 1 },
		/* 400 RequestExpired was a client error; now it is retried. */
		{ 400, "{\"__type\":\"RequestExpired\"}", SKEW_DATE,
		  SKEW_SERVER - 900, SQS_SERVER, 900, 1 },
		{ 403, "{\"Code\":\"RequestTimeTooSkewed\"}", SKEW_DATE,
		  SKEW_SERVER, SQS_SERVER, 0, 1 },
		/* No Date, or none to read: the clock cannot be helped. */
		{ 403, SKEW_EXPIRED, NULL, SKEW_SERVER, SQS_AUTH, 0, 0 },
		{ 403, SKEW_EXPIRED, "Fri, 14 Nov 2025 20:05:12 UTC",
		  SKEW_SERVER, SQS_AUTH, 0, 0 },
		{ 400, "{\"__type\":\"RequestExpired\"}", NULL, SKEW_SERVER,
		  SQS_AUTH, 0, 0 },
		/* Not a clock: classified as ever, the Date left alone. */
		{ 403, "{\"__type\":\"SignatureDoesNotMatch\",\"message\":"
		  "\"The request signature we calculated does not match.\"}",
		  SKEW_DATE, SKEW_SERVER - 312, SQS_AUTH, 0, 0 },
		{ 403, "{\"__type\":\"OverLimit\"}", SKEW_DATE,
		  SKEW_SERVER - 312, SQS_THROTTLED, 0, 0 },
		{ 200, "{}", SKEW_DATE, SKEW_SERVER - 312, SQS_OK, 0, 0 },
		{ 500, "{\"__type\":\"RequestTimeTooSkewed\"}", SKEW_DATE,
		  SKEW_SERVER - 312, SQS_SERVER, 0, 0 },
	};
	struct sqs_skew sk;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&sk, 0, sizeof(sk));
		sk.date = cases[i].date;
		sk.now = cases[i].now;
		sk.offset = 99;
		sk.corrected = 7;
		ck_assert_msg(sqs_classify_skew(cases[i].status, cases[i].body,
		    strlen(cases[i].body), &sk, err, sizeof(err),
		    "ReceiveMessage") == cases[i].want, "%zu: %s", i, err);
		ck_assert_msg(sk.corrected == cases[i].corrected, "%zu", i);
		ck_assert_int_eq(sk.offset, cases[i].corrected ?
		    cases[i].offset : 99);
	}
	/* The error line is sqs_classify's. */
	memset(&sk, 0, sizeof(sk));
	sk.date = SKEW_DATE;
	sk.now = SKEW_SERVER - 312;
	ck_assert_int_eq(sqs_classify_skew(403, SKEW_EXPIRED,
	    strlen(SKEW_EXPIRED), &sk, err, sizeof(err), "DeleteMessageBatch"),
	    SQS_SERVER);
	ck_assert_str_eq(err, "sqs: DeleteMessageBatch: HTTP 403 "
	    "SignatureDoesNotMatch: Signature expired: 20251114T200000Z is now "
	    "earlier than 20251114T200512Z (20251114T201012Z - 5 min.)");
	/* Without a Date to go by, sqs_classify says auth. */
	ck_assert_int_eq(classify(403, SKEW_EXPIRED, err, sizeof(err)),
	    SQS_AUTH);
}
END_TEST

/* A ReceiveMessage answered by a; the request in req when capture. */
static void
receive_once(struct answer *a, char *req, size_t reqlen, struct fixture *f)
{
	struct sqs *s;
	char url[128], err[256];
	pid_t pid;
	int p[2] = { -1, -1 }, status;

	if (req != NULL) {
		ck_assert_int_eq(pipe(p), 0);
		a->capture = p[1];
	}
	fixture_init(f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/000000000000/q",
	    serve(a, &pid));
	if (req != NULL)
		close(p[1]);
	s = sqs_new(f->hc, url, "us-east-1", fixture_creds(f, "AKIDEXAMPLE",
	    "s3cr3t-key", NULL), err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(sqs_receive(s, 10, 0, 30, on_receive, f, err,
	    sizeof(err)));
	fixture_run(f);
	if (req != NULL)
		read_all(p[0], req, reqlen);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	sqs_free(s);
	fixture_free(f);
}

/* Count the lines of the file at path that hold s. */
static int
count_in_file(const char *path, const char *s)
{
	char line[1024];
	FILE *fp;
	int n = 0;

	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, s) != NULL)
			n++;
	fclose(fp);
	return n;
}

/*
 * SQS says "Signature expired" with its Date 312 s ahead of ours: the
 * answer is retried (SQS_SERVER), the signing clock follows SQS', that
 * is logged once, and the next request is signed at SQS' time.
 */
START_TEST(sqs_follows_the_clock_of_sqs)
{
	struct answer skew = { "403 Forbidden", NULL, SKEW_EXPIRED, 312, -1 };
	struct answer ok = { "200 OK", NULL, "{}", 0, -1 };
	struct fixture f;
	char logpath[] = "/tmp/check_sqs.log.XXXXXX", req[8192], date[32];
	time_t before, t;
	long off;
	int fd;

	ck_assert_int_ge(fd = mkstemp(logpath), 0);
	close(fd);
	ck_assert_int_eq(log_open(logpath), 0);
	ck_assert_int_eq(sigv4_offset(), 0);

	receive_once(&skew, NULL, 0, &f);
	ck_assert_int_eq(f.status, SQS_SERVER);
	ck_assert_msg(strncmp(f.err, "sqs: ReceiveMessage: HTTP 403 "
	    "SignatureDoesNotMatch: Signature expired: ", 71) == 0, "%s",
	    f.err);
	/* Date's second, and ours when the answer came: 311 or 312. */
	off = sigv4_offset();
	ck_assert_msg(off >= 310 && off <= 312, "offset %ld", off);
	ck_assert_int_eq(count_in_file(logpath, "s behind SQS's; signing "
	    "with SQS's time"), 1);

	before = time(NULL);
	receive_once(&ok, req, sizeof(req), &f);
	ck_assert_int_eq(f.status, SQS_OK);
	ck_assert_int_eq(header_lines(req, "X-Amz-Date", date, sizeof(date)),
	    1);
	t = amz_time(date);
	ck_assert_msg(t >= before + off && t <= time(NULL) + off, "%s", date);

	/* The same correction again: applied, not logged again. */
	receive_once(&skew, NULL, 0, &f);
	ck_assert_int_eq(f.status, SQS_SERVER);
	ck_assert_int_eq(count_in_file(logpath, "behind SQS's"), 1);

	/* NTP fixed our clock: SQS' Date agrees with ours again. */
	skew.date_ahead = 1;
	sigv4_set_offset(600);
	skew.body = "{\"__type\":\"SignatureDoesNotMatch\",\"message\":"
	    "\"Signature not yet current: x\"}";
	receive_once(&skew, NULL, 0, &f);
	ck_assert_int_eq(f.status, SQS_SERVER);
	ck_assert_msg(labs(sigv4_offset()) <= 1, "%ld", sigv4_offset());
	ck_assert_int_eq(count_in_file(logpath, "aws: the clock agrees with "
	    "SQS's again; signing with it"), 1);
	ck_assert_int_eq(log_open(NULL), 0);
	unlink(logpath);
	sigv4_set_offset(0);
}
END_TEST

/*
 * An answer quoting what the request was signed with: the secret and
 * the session token redacted, and the credentials refused as expired.
 */
START_TEST(sqs_expired_token_redacted)
{
	static const char body[] = "{\"__type\":\"com.amazon.coral.service#"
	    "ExpiredTokenException\",\"message\":\"The security token "
	    "t0k3n-session-value for s3cr3t-key-value has expired\"}";
	struct fixture f;
	struct sqs *s;
	char url[128], err[256];
	pid_t pid;
	int status;

	fixture_init(&f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/000000000000/q",
	    one_answer(body, &pid));
	s = sqs_new(f.hc, url, "us-east-1", fixture_creds(&f, "AKIDEXAMPLE",
	    "s3cr3t-key-value", "t0k3n-session-value"), err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(sqs_receive(s, 10, 1, 30, on_receive, &f, err,
	    sizeof(err)));
	fixture_run(&f);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(f.status, SQS_AUTH);
	ck_assert_str_eq(f.err, "sqs: ReceiveMessage: HTTP 400 "
	    "ExpiredTokenException: The security token [redacted] for "
	    "[redacted] has expired");
	sqs_free(s);
	fixture_free(&f);
}
END_TEST

static Suite *
sqs_suite(void)
{
	Suite *s = suite_create("sqs");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, receive_messages);
	tcase_add_test(tc, receive_no_messages);
	tcase_add_test(tc, receive_attributes_missing_or_odd);
	tcase_add_test(tc, receive_malformed);
	tcase_add_test(tc, receive_wrong_types);
	tcase_add_test(tc, batch_all_ok);
	tcase_add_test(tc, batch_failures);
	tcase_add_test(tc, batch_unreadable);
	tcase_add_test(tc, classify_ok);
	tcase_add_test(tc, classify_auth);
	tcase_add_test(tc, classify_throttled);
	tcase_add_test(tc, classify_throttled_403);
	tcase_add_test(tc, classify_batch_retryable);
	tcase_add_test(tc, classify_server);
	tcase_add_test(tc, classify_client);
	tcase_add_test(tc, classify_protocol);
	tcase_add_test(tc, classify_long_message_one_line);
	tcase_add_test(tc, endpoint);
	tcase_add_test(tc, edge_url_encoding);
	tcase_add_test(tc, edge_url_limits);
	tcase_add_test(tc, sqs_new_checks);
	tcase_add_test(tc, sqs_without_credentials);
	tcase_add_test(tc, sqs_expired_token_redacted);
	tcase_add_test(tc, sqs_network_error);
	tcase_add_test(tc, sqs_batch_network_error);
	tcase_add_test(tc, edge_without_key);
	tcase_add_test(tc, edge_network_error_retried);
	tcase_add_test(tc, edge_body_redacted);
	tcase_add_test(tc, httpc_signs_at_the_signing_clock);
	tcase_add_test(tc, httpc_date_absent);
	tcase_add_test(tc, httpc_signing_arguments);
	tcase_add_test(tc, classify_skew);
	tcase_add_test(tc, sqs_follows_the_clock_of_sqs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(sqs_suite());
}
