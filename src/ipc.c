/*
 * ipc: fixed-size, versioned messages on a SOCK_SEQPACKET socketpair.
 * SEQPACKET keeps message boundaries, so one recv is one message; the
 * receiver still checks the exact size, the version, the type and that the
 * reason is a NUL-terminated string, and reports anything else as
 * malformed (the master then replaces that consumer).
 *
 * Wire layout, little-endian, IPC_MSG_SIZE bytes:
 *   0 version  1 type  2 ready  3 redis_ok  4 sqs_ok  5..7 zero
 *   8 pid (u32)  12 zero (u32)
 *   16 last_redis_ok_ms  24 last_sqs_ok_ms  32 received  40 applied
 *   48 ignored  56 rejected  64 errors (u64 each)
 *   72 reason (IPC_REASON_MAX bytes, NUL-terminated, zero-padded)
 *   328 end
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ipc.h"

#define OFF_U64		16
#define OFF_REASON	72

_Static_assert(OFF_REASON + IPC_REASON_MAX <= IPC_MSG_SIZE,
    "IPC_MSG_SIZE too small for the layout");

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void
ipc_encode(const struct ipc_msg *m, unsigned char *buf)
{
	const uint64_t u[] = { m->last_redis_ok_ms, m->last_sqs_ok_ms,
	    m->received, m->applied, m->ignored, m->rejected, m->errors };
	size_t i, rlen;

	memset(buf, 0, IPC_MSG_SIZE);
	buf[0] = IPC_VERSION;
	buf[1] = m->type;
	buf[2] = m->ready ? 1 : 0;
	buf[3] = m->redis_ok ? 1 : 0;
	buf[4] = m->sqs_ok ? 1 : 0;
	put32(buf + 8, m->pid);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		put64(buf + OFF_U64 + 8 * i, u[i]);
	rlen = strnlen(m->reason, IPC_REASON_MAX - 1);
	memcpy(buf + OFF_REASON, m->reason, rlen);
}

int
ipc_decode(struct ipc_msg *m, const unsigned char *buf, size_t len,
    char *err, size_t errlen)
{
	uint64_t *u[] = { &m->last_redis_ok_ms, &m->last_sqs_ok_ms,
	    &m->received, &m->applied, &m->ignored, &m->rejected, &m->errors };
	size_t i;

	if (len != IPC_MSG_SIZE) {
		snprintf(err, errlen, "message of %zu bytes, expected %d", len,
		    IPC_MSG_SIZE);
		return -1;
	}
	if (buf[0] != IPC_VERSION) {
		snprintf(err, errlen, "protocol version %u, expected %d",
		    buf[0], IPC_VERSION);
		return -1;
	}
	if (buf[1] < IPC_HELLO || buf[1] > IPC_TYPE_MAX) {
		snprintf(err, errlen, "unknown message type %u", buf[1]);
		return -1;
	}
	for (i = 2; i <= 4; i++)
		if (buf[i] > 1) {
			snprintf(err, errlen, "flag byte %zu is %u", i, buf[i]);
			return -1;
		}
	if (memchr(buf + OFF_REASON, '\0', IPC_REASON_MAX) == NULL) {
		snprintf(err, errlen, "reason is not terminated");
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->type = buf[1];
	m->ready = buf[2];
	m->redis_ok = buf[3];
	m->sqs_ok = buf[4];
	m->pid = get32(buf + 8);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		*u[i] = get64(buf + OFF_U64 + 8 * i);
	memcpy(m->reason, buf + OFF_REASON, IPC_REASON_MAX);
	return 0;
}

const char *
ipc_type_name(int type)
{
	static const char *const names[] = { "invalid", "hello", "ready",
	    "heartbeat", "not-ready", "stop" };

	if (type < 0 || type > IPC_TYPE_MAX)
		return "invalid";
	return names[type];
}

int
ipc_send(int fd, const struct ipc_msg *m)
{
	unsigned char buf[IPC_MSG_SIZE];
	ssize_t n;

	ipc_encode(m, buf);
	do
		n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n != (ssize_t)sizeof(buf)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
ipc_recv(int fd, struct ipc_msg *m, char *err, size_t errlen)
{
	/* One byte more than a message, so an oversized one shows as such. */
	unsigned char buf[IPC_MSG_SIZE + 1];
	ssize_t n;

	do
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0)
		return 0;
	if (ipc_decode(m, buf, (size_t)n > sizeof(buf) ? sizeof(buf) : (size_t)n,
	    err, errlen) == -1) {
		if ((size_t)n > sizeof(buf))
			snprintf(err, errlen, "message of %zd bytes, expected %d",
			    n, IPC_MSG_SIZE);
		return -2;
	}
	return 1;
}
