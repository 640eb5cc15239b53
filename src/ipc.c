/*
 * ipc: fixed-size, versioned messages on a SOCK_SEQPACKET socketpair.
 * SEQPACKET keeps message boundaries, so one recv is one message; the
 * receiver still checks the version, the type, the exact size of that
 * type, and that every string is NUL-terminated, and reports anything
 * else as malformed (the master then replaces that consumer).
 *
 * Wire layout, little-endian.  Every message starts with
 *   0 version  1 type
 * Status (HELLO, READY, HEARTBEAT, NOT_READY, STOP), IPC_MSG_SIZE bytes:
 *   2 ready  3 redis_ok  4 sqs_ok  5..7 zero
 *   8 pid (u32)  12 zero (u32)
 *   16 last_redis_ok_ms  24 last_sqs_ok_ms (u64 each)
 *   32..71 zero (version 1's counters; counters travel in IPC_METRICS)
 *   72 reason (IPC_REASON_MAX bytes, NUL-terminated, zero-padded)
 *   328 end
 * IPC_METRICS, IPC_METRICS_SIZE bytes:
 *   2..7 zero  8 pid (u32)  12 zero (u32)
 *   16 the counters, METRICS_NCOUNTERS u64 in the order of struct
 *      metrics_counters' members (arrays row by row; a histogram as its
 *      buckets, count, sum_us)
 *   16 + 8 * METRICS_NCOUNTERS the gauges, METRICS_NGAUGES u64, in the
 *      order of struct metrics_gauges
 * IPC_REPORT, IPC_REPORT_SIZE bytes:
 *   2 kind  3..7 zero  8 pid (u32)  12 zero (u32)
 *   16 sqs_message_id  144 event_id (IPC_ID_MAX bytes each)
 *   272 text (IPC_REASON_MAX bytes), every string NUL-terminated and
 *      zero-padded
 *   528 end
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
#define OFF_SQS_ID	16
#define OFF_EVENT_ID	(OFF_SQS_ID + IPC_ID_MAX)
#define OFF_TEXT	(OFF_EVENT_ID + IPC_ID_MAX)
/* The largest message, for the receive buffer. */
#define IPC_MAX_SIZE	IPC_METRICS_SIZE

_Static_assert(OFF_REASON + IPC_REASON_MAX <= IPC_MSG_SIZE,
    "IPC_MSG_SIZE too small for the layout");
_Static_assert(OFF_TEXT + IPC_REASON_MAX == IPC_REPORT_SIZE,
    "IPC_REPORT_SIZE does not match the layout");
_Static_assert(IPC_METRICS_SIZE >= IPC_MSG_SIZE &&
    IPC_METRICS_SIZE >= IPC_REPORT_SIZE, "IPC_MAX_SIZE is not the largest");
/*
 * counter_ptrs names every member of struct metrics_counters; a member
 * added to metrics.h and not there fails this.
 */
_Static_assert(sizeof(((struct metrics_counters *)0)->received) +
    sizeof(((struct metrics_counters *)0)->messages) +
    sizeof(((struct metrics_counters *)0)->sqs_requests) +
    sizeof(((struct metrics_counters *)0)->deletes) +
    sizeof(((struct metrics_counters *)0)->visibility) +
    sizeof(((struct metrics_counters *)0)->redis_errors) +
    sizeof(((struct metrics_counters *)0)->redis_primary_switches) +
    sizeof(((struct metrics_counters *)0)->edge_refills) +
    sizeof(((struct metrics_counters *)0)->credential_refreshes) +
    sizeof(((struct metrics_counters *)0)->held_released) +
    sizeof(((struct metrics_counters *)0)->lag) +
    sizeof(((struct metrics_counters *)0)->processing) +
    sizeof(((struct metrics_counters *)0)->sqs) +
    sizeof(((struct metrics_counters *)0)->redis) ==
    sizeof(struct metrics_counters),
    "struct metrics_counters has a member the channel does not carry");
_Static_assert(sizeof(struct metrics_hist) ==
    (METRICS_BUCKETS + 3) * sizeof(uint64_t),
    "struct metrics_hist has a member the channel does not carry");
_Static_assert(METRICS_NGAUGES == 6,
    "struct metrics_gauges has a member the channel does not carry");

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
	const uint64_t u[] = { m->last_redis_ok_ms, m->last_sqs_ok_ms };
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
	uint64_t *u[] = { &m->last_redis_ok_ms, &m->last_sqs_ok_ms };
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
	if (buf[1] < IPC_HELLO || buf[1] > IPC_STOP) {
		snprintf(err, errlen, "unknown status message type %u", buf[1]);
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

/*
 * Every counter of c, in wire order (see the layout): METRICS_NCOUNTERS
 * pointers into c, member by member, so the wire does not depend on the
 * struct's padding or the host's byte order.
 */
static void
counter_ptrs(struct metrics_counters *c, uint64_t **p)
{
	struct metrics_hist *h[METRICS_SQS_N + 3];
	size_t n = 0, i, j, k, nh = 0;

	p[n++] = &c->received;
	for (i = 0; i < METRICS_EV_N; i++)
		for (j = 0; j < METRICS_OUT_N; j++)
			p[n++] = &c->messages[i][j];
	for (i = 0; i < METRICS_SQS_N; i++)
		for (j = 0; j < METRICS_SQS_OUT_N; j++)
			p[n++] = &c->sqs_requests[i][j];
	for (i = 0; i < METRICS_ENTRY_N; i++)
		p[n++] = &c->deletes[i];
	for (i = 0; i < METRICS_ENTRY_N; i++)
		p[n++] = &c->visibility[i];
	for (i = 0; i < METRICS_REDIS_N; i++)
		p[n++] = &c->redis_errors[i];
	p[n++] = &c->redis_primary_switches;
	for (i = 0; i < METRICS_EDGE_N; i++)
		p[n++] = &c->edge_refills[i];
	for (i = 0; i < METRICS_REFRESH_N; i++)
		p[n++] = &c->credential_refreshes[i];
	p[n++] = &c->held_released;
	h[nh++] = &c->lag;
	h[nh++] = &c->processing;
	for (i = 0; i < METRICS_SQS_N; i++)
		h[nh++] = &c->sqs[i];
	h[nh++] = &c->redis;
	for (k = 0; k < nh; k++) {
		for (i = 0; i < METRICS_BUCKETS + 1; i++)
			p[n++] = &h[k]->bucket[i];
		p[n++] = &h[k]->count;
		p[n++] = &h[k]->sum_us;
	}
}

static void
gauge_ptrs(struct metrics_gauges *g, uint64_t **p)
{
	p[0] = &g->in_hand;
	p[1] = &g->held;
	p[2] = &g->receives_in_flight;
	p[3] = &g->creds_expiry_ms;
	p[4] = &g->redis_connected;
	p[5] = &g->redis_primary_known;
}

void
ipc_encode_metrics(const struct ipc_metrics *m, unsigned char *buf)
{
	struct ipc_metrics copy = *m;
	uint64_t *c[METRICS_NCOUNTERS], *g[METRICS_NGAUGES];
	size_t i;

	counter_ptrs(&copy.counters, c);
	gauge_ptrs(&copy.gauges, g);
	memset(buf, 0, IPC_METRICS_SIZE);
	buf[0] = IPC_VERSION;
	buf[1] = IPC_METRICS;
	put32(buf + 8, m->pid);
	for (i = 0; i < METRICS_NCOUNTERS; i++)
		put64(buf + 16 + 8 * i, *c[i]);
	for (i = 0; i < METRICS_NGAUGES; i++)
		put64(buf + 16 + 8 * (METRICS_NCOUNTERS + i), *g[i]);
}

static void
decode_metrics(struct ipc_metrics *m, const unsigned char *buf)
{
	uint64_t *c[METRICS_NCOUNTERS], *g[METRICS_NGAUGES];
	size_t i;

	memset(m, 0, sizeof(*m));
	counter_ptrs(&m->counters, c);
	gauge_ptrs(&m->gauges, g);
	m->pid = get32(buf + 8);
	for (i = 0; i < METRICS_NCOUNTERS; i++)
		*c[i] = get64(buf + 16 + 8 * i);
	for (i = 0; i < METRICS_NGAUGES; i++)
		*g[i] = get64(buf + 16 + 8 * (METRICS_NCOUNTERS + i));
}

/* A string cut to fit its field, terminated and zero-padded. */
static void
put_string(unsigned char *p, const char *s, size_t size)
{
	memcpy(p, s, strnlen(s, size - 1));
}

void
ipc_encode_report(const struct ipc_report *r, unsigned char *buf)
{
	memset(buf, 0, IPC_REPORT_SIZE);
	buf[0] = IPC_VERSION;
	buf[1] = IPC_REPORT;
	buf[2] = r->kind;
	put32(buf + 8, r->pid);
	put_string(buf + OFF_SQS_ID, r->sqs_message_id, IPC_ID_MAX);
	put_string(buf + OFF_EVENT_ID, r->event_id, IPC_ID_MAX);
	put_string(buf + OFF_TEXT, r->text, IPC_REASON_MAX);
}

static int
decode_report(struct ipc_report *r, const unsigned char *buf, char *err,
    size_t errlen)
{
	if (buf[2] < IPC_REPORT_POISON || buf[2] > IPC_REPORT_KIND_MAX) {
		snprintf(err, errlen, "unknown report kind %u", buf[2]);
		return -1;
	}
	if (memchr(buf + OFF_SQS_ID, '\0', IPC_ID_MAX) == NULL ||
	    memchr(buf + OFF_EVENT_ID, '\0', IPC_ID_MAX) == NULL) {
		snprintf(err, errlen, "report id is not terminated");
		return -1;
	}
	if (memchr(buf + OFF_TEXT, '\0', IPC_REASON_MAX) == NULL) {
		snprintf(err, errlen, "report text is not terminated");
		return -1;
	}
	memset(r, 0, sizeof(*r));
	r->kind = buf[2];
	r->pid = get32(buf + 8);
	memcpy(r->sqs_message_id, buf + OFF_SQS_ID, IPC_ID_MAX);
	memcpy(r->event_id, buf + OFF_EVENT_ID, IPC_ID_MAX);
	memcpy(r->text, buf + OFF_TEXT, IPC_REASON_MAX);
	return 0;
}

int
ipc_decode_any(struct ipc_any *out, const unsigned char *buf, size_t len,
    char *err, size_t errlen)
{
	size_t want;

	if (len < 2) {
		snprintf(err, errlen, "message of %zu bytes, too short", len);
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
	want = buf[1] == IPC_METRICS ? IPC_METRICS_SIZE :
	    buf[1] == IPC_REPORT ? IPC_REPORT_SIZE : IPC_MSG_SIZE;
	if (len != want) {
		snprintf(err, errlen, "%s message of %zu bytes, expected %zu",
		    ipc_type_name(buf[1]), len, want);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->type = buf[1];
	if (buf[1] == IPC_METRICS) {
		decode_metrics(&out->metrics, buf);
		return 0;
	}
	if (buf[1] == IPC_REPORT)
		return decode_report(&out->report, buf, err, errlen);
	return ipc_decode(&out->status, buf, len, err, errlen);
}

const char *
ipc_type_name(int type)
{
	static const char *const names[] = { "invalid", "hello", "ready",
	    "heartbeat", "not-ready", "stop", "metrics", "report" };

	if (type < 0 || type > IPC_TYPE_MAX)
		return "invalid";
	return names[type];
}

const char *
ipc_report_kind_name(int kind)
{
	static const char *const names[] = { "invalid", "poison",
	    "credentials", "redis", "internal" };

	if (kind < 0 || kind > IPC_REPORT_KIND_MAX)
		return "invalid";
	return names[kind];
}

static int
send_buf(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	do
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n != (ssize_t)len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
ipc_send(int fd, const struct ipc_msg *m)
{
	unsigned char buf[IPC_MSG_SIZE];

	ipc_encode(m, buf);
	return send_buf(fd, buf, sizeof(buf));
}

int
ipc_send_metrics(int fd, const struct ipc_metrics *m)
{
	unsigned char buf[IPC_METRICS_SIZE];

	ipc_encode_metrics(m, buf);
	return send_buf(fd, buf, sizeof(buf));
}

int
ipc_send_report(int fd, const struct ipc_report *r)
{
	unsigned char buf[IPC_REPORT_SIZE];

	ipc_encode_report(r, buf);
	return send_buf(fd, buf, sizeof(buf));
}

/*
 * One packet into buf (size bytes, one more than the largest message
 * expected, so an oversized one shows as such): its full length, 0 on
 * EOF, -1 with errno.  MSG_TRUNC: the length is the packet's, even past
 * size.
 */
static ssize_t
recv_buf(int fd, unsigned char *buf, size_t size)
{
	ssize_t n;

	do
		n = recv(fd, buf, size, MSG_DONTWAIT | MSG_TRUNC);
	while (n == -1 && errno == EINTR);
	return n;
}

int
ipc_recv(int fd, struct ipc_msg *m, char *err, size_t errlen)
{
	unsigned char buf[IPC_MSG_SIZE + 1];
	ssize_t n;

	if ((n = recv_buf(fd, buf, sizeof(buf))) <= 0)
		return n == 0 ? 0 : -1;
	if (ipc_decode(m, buf, (size_t)n > sizeof(buf) ? sizeof(buf) : (size_t)n,
	    err, errlen) == -1) {
		if ((size_t)n > sizeof(buf))
			snprintf(err, errlen, "message of %zd bytes, expected %d",
			    n, IPC_MSG_SIZE);
		return -2;
	}
	return 1;
}

int
ipc_recv_any(int fd, struct ipc_any *out, char *err, size_t errlen)
{
	unsigned char buf[IPC_MAX_SIZE + 1];
	ssize_t n;

	if ((n = recv_buf(fd, buf, sizeof(buf))) <= 0)
		return n == 0 ? 0 : -1;
	if ((size_t)n > sizeof(buf)) {
		snprintf(err, errlen, "message of %zd bytes, more than any",
		    n);
		return -2;
	}
	if (ipc_decode_any(out, buf, (size_t)n, err, errlen) == -1)
		return -2;
	return 1;
}
