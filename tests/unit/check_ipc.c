/*
 * Unit tests for the status channel: encode/decode round trip, and every
 * way a message can be malformed; plus a real SOCK_SEQPACKET socketpair
 * for send/recv, EOF and oversized packets.
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
	m.received = 1;
	m.applied = 2;
	m.ignored = 3;
	m.rejected = 4;
	m.errors = UINT64_MAX;
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

START_TEST(type_names)
{
	ck_assert_str_eq(ipc_type_name(IPC_READY), "ready");
	ck_assert_str_eq(ipc_type_name(IPC_STOP), "stop");
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
	tcase_add_test(tc, type_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(ipc_suite());
}
