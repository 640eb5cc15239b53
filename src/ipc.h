/*
 * ipc: the status channel between the master and one consumer, a
 * SOCK_SEQPACKET socketpair per child.  Messages are fixed-size, versioned
 * and serialised field by field (little-endian), so a short, long, foreign
 * or corrupt packet is detected instead of being read as a struct.
 */
#ifndef PCS_IPC_H
#define PCS_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define IPC_VERSION	2
#define IPC_MSG_SIZE	328	/* bytes on the wire: HELLO..STOP */
#define IPC_REASON_MAX	256	/* including the terminating NUL */
#define IPC_ID_MAX	128	/* a report's ids, including the NUL */
/* IPC_METRICS: a header, then every counter and gauge as a u64. */
#define IPC_METRICS_SIZE (16 + 8 * (METRICS_NCOUNTERS + METRICS_NGAUGES))
/* IPC_REPORT: a header, the two ids and the text. */
#define IPC_REPORT_SIZE	(16 + 2 * IPC_ID_MAX + IPC_REASON_MAX)

enum ipc_type {
	IPC_HELLO = 1,		/* child -> master: started */
	IPC_READY,		/* child -> master: can do its work */
	IPC_HEARTBEAT,		/* child -> master: alive */
	IPC_NOT_READY,		/* child -> master: cannot work, with reason */
	IPC_STOP,		/* master -> child: drain and exit */
	IPC_METRICS,		/* child -> master: its counters and gauges */
	IPC_REPORT,		/* child -> master: an error worth reporting */
	IPC_TYPE_MAX = IPC_REPORT
};

/* HELLO, READY, HEARTBEAT, NOT_READY and STOP: the status message. */

struct ipc_msg {
	uint8_t		type;		/* enum ipc_type */
	uint8_t		ready;		/* the child's readiness at sending */
	uint8_t		redis_ok;	/* Redis connection is up */
	uint8_t		sqs_ok;		/* last SQS call succeeded */
	uint32_t	pid;
	uint64_t	last_redis_ok_ms;	/* wall clock, epoch ms; 0: never */
	uint64_t	last_sqs_ok_ms;
	char		reason[IPC_REASON_MAX];	/* NOT_READY: why */
};

/* IPC_METRICS: what a consumer counted over its life, and its gauges. */
struct ipc_metrics {
	uint32_t		pid;
	struct metrics_counters	counters;
	struct metrics_gauges	gauges;
};

/*
 * IPC_REPORT kinds.  POISON: a message rejected as bad (text: the reason,
 * as logged); CREDENTIALS: SQS refused the credentials, or the chain
 * has none (STS refused the role...), once per episode; REDIS: sent by nobody (the master derives a long Redis outage
 * from the status messages); INTERNAL: out of memory or another internal
 * error worth reporting.
 */
enum ipc_report_kind {
	IPC_REPORT_POISON = 1,
	IPC_REPORT_CREDENTIALS,
	IPC_REPORT_REDIS,
	IPC_REPORT_INTERNAL,
	IPC_REPORT_KIND_MAX = IPC_REPORT_INTERNAL
};

struct ipc_report {
	uint32_t	pid;
	uint8_t		kind;			/* enum ipc_report_kind */
	char		sqs_message_id[IPC_ID_MAX];	/* "" when none */
	char		event_id[IPC_ID_MAX];	/* Stigg's messageId, or "" */
	char		text[IPC_REASON_MAX];	/* one line, no secret, no
						   message body */
};

/* What ipc_recv_any received: type says which member is filled. */
struct ipc_any {
	uint8_t			type;		/* enum ipc_type */
	struct ipc_msg		status;		/* HELLO..STOP */
	struct ipc_metrics	metrics;	/* IPC_METRICS */
	struct ipc_report	report;		/* IPC_REPORT */
};

/* Serialise m into buf (IPC_MSG_SIZE bytes). */
void	ipc_encode(const struct ipc_msg *m, unsigned char *buf);
/* Parse len bytes; -1 with err on a wrong size, version, type or reason. */
int	ipc_decode(struct ipc_msg *m, const unsigned char *buf, size_t len,
	    char *err, size_t errlen);
/* Serialise into buf (IPC_METRICS_SIZE, IPC_REPORT_SIZE bytes). */
void	ipc_encode_metrics(const struct ipc_metrics *m, unsigned char *buf);
void	ipc_encode_report(const struct ipc_report *r, unsigned char *buf);
/*
 * Parse len bytes of any type into out: -1 with err on a size that is
 * not the type's, a wrong version, an unknown type or kind, a flag that
 * is not 0 or 1, or a string that is not NUL-terminated.
 */
int	ipc_decode_any(struct ipc_any *out, const unsigned char *buf,
	    size_t len, char *err, size_t errlen);
const char *ipc_type_name(int type);
const char *ipc_report_kind_name(int kind);

/* Send one message on a nonblocking socket: 0, or -1 with errno. */
int	ipc_send(int fd, const struct ipc_msg *m);
/*
 * Receive one message: 1 got one, 0 EOF, -1 with errno (EAGAIN when
 * nothing is waiting), -2 malformed (err says why).
 */
int	ipc_recv(int fd, struct ipc_msg *m, char *err, size_t errlen);
/* Send the other messages, as ipc_send. */
int	ipc_send_metrics(int fd, const struct ipc_metrics *m);
int	ipc_send_report(int fd, const struct ipc_report *r);
/* Receive a message of any type, as ipc_recv. */
int	ipc_recv_any(int fd, struct ipc_any *out, char *err, size_t errlen);

#endif
