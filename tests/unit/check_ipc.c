/*
 * Unit tests for the status channel: encode/decode round trips of every
 * message type, and every way a message can be malformed (short, long,
 * foreign, unterminated); plus a real SOCK_SEQPACKET socketpair for
 * send/recv, EOF and oversized packets.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "ipc.h"

static struct ipc_msg
sample(void)
{
	struct ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = IPC_HEARTBEAT;
	m.ready = 1;
	m.redis_ok = 1;
	m.sqs_ok = 0;
	m.pid = 123456;
	m.last_redis_ok_ms = 1763150400123ULL;
	m.last_sqs_ok_ms = 0xfedcba9876543210ULL;
	strcpy(m.reason, "redis: connection lost");
	return m;
}

START_TEST(round_trip)
{
	struct ipc_msg in = sample(), out;
	unsigned char buf[IPC_MSG_SIZE];
	char err[128];

	ipc_encode(&in, buf);
	ck_assert_int_eq(ipc_decode(&out, buf, sizeof(buf), err, sizeof(err)), 0);
	ck_assert_int_eq(memcmp(&in, &out, sizeof(in)), 0);
}
END_TEST

START_TEST(layout_is_little_endian)
{
	struct ipc_msg in = sample();
	unsigned char buf[IPC_MSG_SIZE];

	ipc_encode(&in, buf);
	ck_assert_uint_eq(buf[0], IPC_VERSION);
	ck_assert_uint_eq(buf[1], IPC_HEARTBEAT);
	ck_assert_uint_eq(buf[8], 123456 & 0xff);
	ck_assert_uint_eq(buf[10], (123456 >> 16) & 0xff);
	ck_assert_uint_eq(buf[16], 0x7b);	/* 1763150400123 & 0xff */
	ck_assert_uint_eq(buf[24], 0x10);
	ck_assert_uint_eq(buf[31], 0xfe);
	/* Version 1's counters are gone: zero on the wire. */
	for (int i = 32; i < 72; i++)
		ck_assert_uint_eq(buf[i], 0);
}
END_TEST

START_TEST(long_reason_is_cut_and_terminated)
{
	struct ipc_msg in = sample(), out;
	unsigned char buf[IPC_MSG_SIZE];
	char err[128];

	memset(in.reason, 'x', sizeof(in.reason));	/* no NUL at all */
	ipc_encode(&in, buf);
	ck_assert_int_eq(ipc_decode(&out, buf, sizeof(buf), err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(out.reason), IPC_REASON_MAX - 1);
}
END_TEST

static void
expect_bad(const unsigned char *buf, size_t len, const char *want)
{
	struct ipc_msg out;
	char err[128] = "";

	ck_assert_int_eq(ipc_decode(&out, buf, len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'",
	    err, want);
}

START_TEST(short_and_long_rejected)
{
	struct ipc_msg in = sample();
	unsigned char buf[IPC_MSG_SIZE + 8];

	ipc_encode(&in, buf);
	expect_bad(buf, IPC_MSG_SIZE - 1, "bytes");
	expect_bad(buf, 0, "bytes");
	expect_bad(buf, IPC_MSG_SIZE + 1, "bytes");
}
END_TEST

START_TEST(version_rejected)
{
	struct ipc_msg in = sample();
	unsigned char buf[IPC_MSG_SIZE];

	ipc_encode(&in, buf);
	buf[0] = IPC_VERSION + 1;
	expect_bad(buf, sizeof(buf), "version");
}
END_TEST

START_TEST(type_rejected)
{
	struct ipc_msg in = sample();
	unsigned char buf[IPC_MSG_SIZE];

	ipc_encode(&in, buf);
	buf[1] = 0;
	expect_bad(buf, sizeof(buf), "type");
	buf[1] = IPC_TYPE_MAX + 1;
	expect_bad(buf, sizeof(buf), "type");
}
END_TEST

START_TEST(flag_rejected)
{
	struct ipc_msg in = sample();
	unsigned char buf[IPC_MSG_SIZE];

	ipc_encode(&in, buf);
	buf[3] = 2;
	expect_bad(buf, sizeof(buf), "flag");
}
END_TEST

START_TEST(unterminated_reason_rejected)
{
	struct ipc_msg in = sample();
	unsigned char buf[IPC_MSG_SIZE];

	ipc_encode(&in, buf);
	memset(buf + IPC_MSG_SIZE - IPC_REASON_MAX, 'y', IPC_REASON_MAX);
	expect_bad(buf, sizeof(buf), "reason");
}
END_TEST

START_TEST(socketpair_send_recv_eof)
{
	struct ipc_msg in = sample(), out;
	char err[128];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	ck_assert_int_eq(ipc_send(sv[0], &in), 0);
	ck_assert_int_eq(ipc_send(sv[0], &in), 0);
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), 1);
	ck_assert_int_eq(memcmp(&in, &out, sizeof(in)), 0);
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), 1);
	close(sv[0]);
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), 0);
	close(sv[1]);
}
END_TEST

START_TEST(socketpair_oversized_and_short_packets)
{
	unsigned char big[IPC_MSG_SIZE * 2];
	struct ipc_msg in = sample(), out;
	char err[128] = "", want[32];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ipc_encode(&in, big);
	ck_assert_int_eq(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), -2);
	snprintf(want, sizeof(want), "%zu bytes", sizeof(big));
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	ck_assert_int_eq(send(sv[0], big, 5, 0), 5);
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), -2);
	ck_assert_msg(strstr(err, "5 bytes") != NULL, "err: %s", err);
	/* The channel still works after garbage. */
	ck_assert_int_eq(ipc_send(sv[0], &in), 0);
	ck_assert_int_eq(ipc_recv(sv[1], &out, err, sizeof(err)), 1);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* Every counter and gauge a distinct value: the wire order shows. */
static struct ipc_metrics
sample_metrics(void)
{
	struct ipc_metrics m;
	uint64_t *c = (uint64_t *)&m.counters, *g = (uint64_t *)&m.gauges;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.pid = 4242;
	for (i = 0; i < METRICS_NCOUNTERS; i++)
		c[i] = 0x0100000000000000ULL * (i % 200) + i + 1;
	for (i = 0; i < METRICS_NGAUGES; i++)
		g[i] = 1000 + i;
	m.gauges.creds_expiry_ms = 1763150400123ULL;
	return m;
}

static struct ipc_report
sample_report(void)
{
	struct ipc_report r;

	memset(&r, 0, sizeof(r));
	r.pid = 4242;
	r.kind = IPC_REPORT_POISON;
	strcpy(r.sqs_message_id, "0f1e2d3c-aaaa-bbbb-cccc-000000000001");
	strcpy(r.event_id, "evt-123");
	strcpy(r.text, "not JSON: unexpected character at offset 0");
	return r;
}

static void
expect_bad_any(const unsigned char *buf, size_t len, const char *want)
{
	struct ipc_any out;
	char err[128] = "";

	ck_assert_int_eq(ipc_decode_any(&out, buf, len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'",
	    err, want);
}

START_TEST(metrics_round_trip)
{
	struct ipc_metrics in = sample_metrics();
	unsigned char buf[IPC_METRICS_SIZE];
	struct ipc_any out;
	char err[128];

	ipc_encode_metrics(&in, buf);
	ck_assert_int_eq(ipc_decode_any(&out, buf, sizeof(buf), err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(out.type, IPC_METRICS);
	ck_assert_int_eq(memcmp(&in, &out.metrics, sizeof(in)), 0);
	ck_assert_uint_eq(out.metrics.counters.redis.sum_us,
	    in.counters.redis.sum_us);
}
END_TEST

START_TEST(metrics_layout)
{
	struct ipc_metrics in = sample_metrics();
	unsigned char buf[IPC_METRICS_SIZE];
	uint64_t v;
	size_t i, j;

	ck_assert_uint_eq(IPC_METRICS_SIZE,
	    16 + 8 * (METRICS_NCOUNTERS + METRICS_NGAUGES));
	ipc_encode_metrics(&in, buf);
	ck_assert_uint_eq(buf[0], IPC_VERSION);
	ck_assert_uint_eq(buf[1], IPC_METRICS);
	ck_assert_uint_eq(buf[8], 4242 & 0xff);
	ck_assert_uint_eq(buf[9], 4242 >> 8);
	/* Counters then gauges, u64 little-endian, in the structs' order. */
	for (i = 0; i < METRICS_NCOUNTERS + METRICS_NGAUGES; i++) {
		v = 0;
		for (j = 0; j < 8; j++)
			v |= (uint64_t)buf[16 + 8 * i + j] << (8 * j);
		if (i < METRICS_NCOUNTERS)
			ck_assert_uint_eq(v,
			    ((uint64_t *)&in.counters)[i]);
		else
			ck_assert_uint_eq(v,
			    ((uint64_t *)&in.gauges)[i - METRICS_NCOUNTERS]);
	}
	/* The first counter is received, the last gauge primary_known. */
	ck_assert_uint_eq(buf[16], in.counters.received & 0xff);
	ck_assert_uint_eq(buf[IPC_METRICS_SIZE - 8],
	    in.gauges.redis_primary_known & 0xff);
}
END_TEST

START_TEST(report_round_trip)
{
	struct ipc_report in = sample_report();
	unsigned char buf[IPC_REPORT_SIZE];
	struct ipc_any out;
	char err[128];

	ck_assert_uint_eq(IPC_REPORT_SIZE, 528);
	ipc_encode_report(&in, buf);
	ck_assert_uint_eq(buf[1], IPC_REPORT);
	ck_assert_uint_eq(buf[2], IPC_REPORT_POISON);
	ck_assert_str_eq((char *)buf + 16, in.sqs_message_id);
	ck_assert_str_eq((char *)buf + 144, in.event_id);
	ck_assert_str_eq((char *)buf + 272, in.text);
	ck_assert_int_eq(ipc_decode_any(&out, buf, sizeof(buf), err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(out.type, IPC_REPORT);
	ck_assert_int_eq(memcmp(&in, &out.report, sizeof(in)), 0);
}
END_TEST

START_TEST(report_long_strings_cut)
{
	struct ipc_report in = sample_report();
	unsigned char buf[IPC_REPORT_SIZE];
	struct ipc_any out;
	char err[128];

	memset(in.sqs_message_id, 'a', sizeof(in.sqs_message_id));
	memset(in.event_id, 'b', sizeof(in.event_id));
	memset(in.text, 'c', sizeof(in.text));
	ipc_encode_report(&in, buf);
	ck_assert_int_eq(ipc_decode_any(&out, buf, sizeof(buf), err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(strlen(out.report.sqs_message_id), IPC_ID_MAX - 1);
	ck_assert_uint_eq(strlen(out.report.event_id), IPC_ID_MAX - 1);
	ck_assert_uint_eq(strlen(out.report.text), IPC_REASON_MAX - 1);
}
END_TEST

START_TEST(report_malformed)
{
	struct ipc_report in = sample_report();
	unsigned char buf[IPC_REPORT_SIZE];

	ipc_encode_report(&in, buf);
	buf[2] = 0;
	expect_bad_any(buf, sizeof(buf), "kind");
	buf[2] = IPC_REPORT_KIND_MAX + 1;
	expect_bad_any(buf, sizeof(buf), "kind");

	ipc_encode_report(&in, buf);
	memset(buf + 16, 'x', IPC_ID_MAX);
	expect_bad_any(buf, sizeof(buf), "id is not terminated");
	ipc_encode_report(&in, buf);
	memset(buf + 144, 'x', IPC_ID_MAX);
	expect_bad_any(buf, sizeof(buf), "id is not terminated");
	ipc_encode_report(&in, buf);
	memset(buf + 272, 'x', IPC_REASON_MAX);
	expect_bad_any(buf, sizeof(buf), "text is not terminated");
}
END_TEST

/* Each type's own size, and no other: a short or long one, or another's. */
START_TEST(any_sizes_per_type)
{
	unsigned char buf[IPC_METRICS_SIZE + 8];
	struct ipc_metrics mm = sample_metrics();
	struct ipc_report rr = sample_report();
	struct ipc_msg st = sample();

	memset(buf, 0, sizeof(buf));
	ipc_encode_metrics(&mm, buf);
	expect_bad_any(buf, IPC_METRICS_SIZE - 1, "bytes");
	expect_bad_any(buf, IPC_METRICS_SIZE + 1, "bytes");
	expect_bad_any(buf, IPC_MSG_SIZE, "metrics message of 328 bytes");
	expect_bad_any(buf, IPC_REPORT_SIZE, "bytes");

	memset(buf, 0, sizeof(buf));
	ipc_encode_report(&rr, buf);
	expect_bad_any(buf, IPC_REPORT_SIZE - 1, "bytes");
	expect_bad_any(buf, IPC_REPORT_SIZE + 1, "bytes");
	expect_bad_any(buf, IPC_MSG_SIZE, "bytes");

	memset(buf, 0, sizeof(buf));
	ipc_encode(&st, buf);
	expect_bad_any(buf, IPC_MSG_SIZE - 1, "bytes");
	expect_bad_any(buf, IPC_MSG_SIZE + 1, "bytes");
	expect_bad_any(buf, IPC_REPORT_SIZE, "bytes");
	expect_bad_any(buf, 1, "too short");
	expect_bad_any(buf, 0, "too short");
}
END_TEST

START_TEST(any_foreign_rejected)
{
	struct ipc_metrics mm = sample_metrics();
	struct ipc_msg st = sample();
	unsigned char buf[IPC_METRICS_SIZE];
	struct ipc_any out;
	char err[128];

	ipc_encode_metrics(&mm, buf);
	buf[0] = 1;		/* version 1: a consumer of the old build */
	expect_bad_any(buf, sizeof(buf), "version 1");
	buf[0] = IPC_VERSION;
	buf[1] = 0;
	expect_bad_any(buf, sizeof(buf), "type");
	buf[1] = IPC_TYPE_MAX + 1;
	expect_bad_any(buf, sizeof(buf), "type");
	/* Status messages go through the status checks. */
	ipc_encode(&st, buf);
	ck_assert_int_eq(ipc_decode_any(&out, buf, IPC_MSG_SIZE, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(out.type, IPC_HEARTBEAT);
	ck_assert_int_eq(memcmp(&st, &out.status, sizeof(st)), 0);
	buf[4] = 7;
	expect_bad_any(buf, IPC_MSG_SIZE, "flag");
	ipc_encode(&st, buf);
	memset(buf + IPC_MSG_SIZE - IPC_REASON_MAX, 'y', IPC_REASON_MAX);
	expect_bad_any(buf, IPC_MSG_SIZE, "reason");
	/* A metrics message is no status message for ipc_decode. */
	ipc_encode_metrics(&mm, buf);
	expect_bad(buf, IPC_MSG_SIZE, "type");
}
END_TEST

START_TEST(socketpair_recv_any)
{
	struct ipc_metrics mm = sample_metrics();
	struct ipc_report rr = sample_report();
	struct ipc_msg st = sample(), got;
	unsigned char big[IPC_METRICS_SIZE + 100];
	struct ipc_any out;
	char err[128] = "", want[32];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	ck_assert_int_eq(ipc_send(sv[0], &st), 0);
	ck_assert_int_eq(ipc_send_metrics(sv[0], &mm), 0);
	ck_assert_int_eq(ipc_send_report(sv[0], &rr), 0);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), 1);
	ck_assert_uint_eq(out.type, IPC_HEARTBEAT);
	ck_assert_int_eq(memcmp(&st, &out.status, sizeof(st)), 0);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), 1);
	ck_assert_uint_eq(out.type, IPC_METRICS);
	ck_assert_int_eq(memcmp(&mm, &out.metrics, sizeof(mm)), 0);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), 1);
	ck_assert_uint_eq(out.type, IPC_REPORT);
	ck_assert_int_eq(memcmp(&rr, &out.report, sizeof(rr)), 0);

	/* Larger than any message: its whole size is named. */
	memset(big, 0, sizeof(big));
	ipc_encode_metrics(&mm, big);
	ck_assert_int_eq(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), -2);
	snprintf(want, sizeof(want), "%zu bytes", sizeof(big));
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	/* One byte too many for a metrics message. */
	ck_assert_int_eq(send(sv[0], big, IPC_METRICS_SIZE + 1, 0),
	    (ssize_t)IPC_METRICS_SIZE + 1);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), -2);
	ck_assert_msg(strstr(err, "bytes") != NULL, "err: %s", err);
	/* The consumer's ipc_recv refuses what is not a status message. */
	ck_assert_int_eq(ipc_send_metrics(sv[0], &mm), 0);
	ck_assert_int_eq(ipc_recv(sv[1], &got, err, sizeof(err)), -2);
	/* Still usable, and EOF is 0. */
	ck_assert_int_eq(ipc_send_report(sv[0], &rr), 0);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), 1);
	close(sv[0]);
	ck_assert_int_eq(ipc_recv_any(sv[1], &out, err, sizeof(err)), 0);
	close(sv[1]);
}
END_TEST

START_TEST(type_names)
{
	ck_assert_str_eq(ipc_type_name(IPC_READY), "ready");
	ck_assert_str_eq(ipc_type_name(IPC_STOP), "stop");
	ck_assert_str_eq(ipc_type_name(IPC_METRICS), "metrics");
	ck_assert_str_eq(ipc_type_name(IPC_REPORT), "report");
	ck_assert_str_eq(ipc_report_kind_name(IPC_REPORT_POISON), "poison");
	ck_assert_str_eq(ipc_report_kind_name(IPC_REPORT_INTERNAL),
	    "internal");
	ck_assert_str_eq(ipc_report_kind_name(9), "invalid");
	ck_assert_str_eq(ipc_type_name(99), "invalid");
	ck_assert_str_eq(ipc_type_name(-1), "invalid");
}
END_TEST

static Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, layout_is_little_endian);
	tcase_add_test(tc, long_reason_is_cut_and_terminated);
	tcase_add_test(tc, short_and_long_rejected);
	tcase_add_test(tc, version_rejected);
	tcase_add_test(tc, type_rejected);
	tcase_add_test(tc, flag_rejected);
	tcase_add_test(tc, unterminated_reason_rejected);
	tcase_add_test(tc, socketpair_send_recv_eof);
	tcase_add_test(tc, socketpair_oversized_and_short_packets);
	tcase_add_test(tc, metrics_round_trip);
	tcase_add_test(tc, metrics_layout);
	tcase_add_test(tc, report_round_trip);
	tcase_add_test(tc, report_long_strings_cut);
	tcase_add_test(tc, report_malformed);
	tcase_add_test(tc, any_sizes_per_type);
	tcase_add_test(tc, any_foreign_rejected);
	tcase_add_test(tc, socketpair_recv_any);
	tcase_add_test(tc, type_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(ipc_suite());
}
