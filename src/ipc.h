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

#define IPC_VERSION	1
#define IPC_MSG_SIZE	328	/* bytes on the wire, every message */
#define IPC_REASON_MAX	256	/* including the terminating NUL */

enum ipc_type {
	IPC_HELLO = 1,		/* child -> master: started */
	IPC_READY,		/* child -> master: can do its work */
	IPC_HEARTBEAT,		/* child -> master: alive, with counters */
	IPC_NOT_READY,		/* child -> master: cannot work, with reason */
	IPC_STOP,		/* master -> child: drain and exit */
	IPC_TYPE_MAX = IPC_STOP
};

struct ipc_msg {
	uint8_t		type;		/* enum ipc_type */
	uint8_t		ready;		/* the child's readiness at sending */
	uint8_t		redis_ok;	/* Redis connection is up */
	uint8_t		sqs_ok;		/* last SQS call succeeded */
	uint32_t	pid;
	uint64_t	last_redis_ok_ms;	/* wall clock, epoch ms; 0: never */
	uint64_t	last_sqs_ok_ms;
	uint64_t	received;	/* messages received from SQS */
	uint64_t	applied;	/* written to Redis and deleted */
	uint64_t	ignored;	/* acknowledged without effect */
	uint64_t	rejected;	/* bad messages */
	uint64_t	errors;		/* failed calls (SQS, Redis, Edge) */
	char		reason[IPC_REASON_MAX];	/* NOT_READY: why */
};

/* Serialise m into buf (IPC_MSG_SIZE bytes). */
void	ipc_encode(const struct ipc_msg *m, unsigned char *buf);
/* Parse len bytes; -1 with err on a wrong size, version, type or reason. */
int	ipc_decode(struct ipc_msg *m, const unsigned char *buf, size_t len,
	    char *err, size_t errlen);
const char *ipc_type_name(int type);

/* Send one message on a nonblocking socket: 0, or -1 with errno. */
int	ipc_send(int fd, const struct ipc_msg *m);
/*
 * Receive one message: 1 got one, 0 EOF, -1 with errno (EAGAIN when
 * nothing is waiting), -2 malformed (err says why).
 */
int	ipc_recv(int fd, struct ipc_msg *m, char *err, size_t errlen);

#endif
