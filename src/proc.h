/*
 * proc: the master's process table, one slot per consumer, and the fork
 * that fills a slot.  The master's policy (when to spawn, when to kill)
 * lives in master.c; this module owns the slot's data and the mechanics
 * of creating a child with its status channel.
 */
#ifndef PCS_PROC_H
#define PCS_PROC_H

#include <sys/types.h>
#include <stdint.h>

#include <ev.h>

#include "backoff.h"
#include "ipc.h"

struct config;

enum proc_state {
	PROC_EMPTY = 0,		/* no process, none wanted */
	PROC_STARTING,		/* forked, not ready yet */
	PROC_READY,		/* reports ready */
	PROC_NOT_READY,		/* alive, reports it cannot work */
	PROC_DRAINING,		/* told to stop, not exited yet */
	PROC_BACKOFF,		/* exited, waiting to be restarted */
	PROC_FAILED		/* exited with a configuration error: not restarted */
};

struct proc {
	int		 slot;		/* 1-based, as logs show it */
	pid_t		 pid;		/* 0 when no process */
	enum proc_state	 state;
	int		 fd;		/* master's end of the channel, -1 if none */
	/*
	 * The configuration it runs, and runs again when it restarts; the
	 * master keeps it alive while the slot refers to it.
	 */
	const struct config *cfg;
	int		 replace;	/* stopping to be replaced (reload) */
	int		 retire;	/* stopping for good (fewer consumers) */
	int		 revert;	/* stopping: the outgoing one takes back */
	uint64_t	 started_ms;	/* monotonic */
	uint64_t	 first_ready_ms; /* monotonic, 0 until first ready */
	uint64_t	 last_msg_ms;	/* monotonic time of the last message */
	struct backoff	 backoff;
	struct ipc_msg	 status;	/* the last status message */
	struct ipc_metrics metrics;	/* the last metrics message */
	int		 have_metrics;	/* metrics holds one */
	/*
	 * What the slot's earlier processes counted: the slot's totals are
	 * base plus the live process's last metrics, so they never go
	 * backwards when a consumer restarts.
	 */
	struct metrics_counters base;
	unsigned	 restarts;	/* restarted after an exit */
	int		 hang_killed;	/* the master killed it as hung */
	int		 exited;	/* exit_status holds the last exit */
	int		 exit_status;	/* wait(2) status of the last exit */
	char		 last_error[IPC_REASON_MAX]; /* last reason, cleaned */
	ev_io		 io;		/* channel readable */
	ev_child	 child;		/* exit */
	ev_timer	 restart;	/* backoff timer */
	void		*owner;		/* the master */
};

/*
 * Hand src's running process (pid, channel, state and last reports, with
 * their watchers) to dst, which has none; src is left without one.  What
 * belongs to the slot (its totals, restarts, backoff, last exit) stays.
 * An exit already reaped but not yet dispatched goes with it.
 */
void	proc_move(struct ev_loop *loop, struct proc *dst, struct proc *src);

/* What the child runs; it must not return (it calls _exit). */
typedef void (*proc_child_fn)(void *arg, int slot, int fd);
/* Called in the child right after fork, before fds are closed. */
typedef void (*proc_atfork_fn)(void *arg);

const char *proc_state_name(enum proc_state);
/* Alive from the master's point of view: has a pid not reaped yet. */
int	proc_alive(const struct proc *p);

/*
 * Fork a child for slot p with a fresh SOCK_SEQPACKET socketpair.  In the
 * child: default signal handlers and mask, PR_SET_PDEATHSIG, every fd
 * but stdio, keep_fd and its channel closed, then atfork(arg) and
 * child(arg, slot, fd).  In the parent: p->pid, p->fd (nonblocking), 0;
 * or -1 with errno and nothing changed.
 */
int	proc_spawn(struct proc *p, proc_atfork_fn atfork, proc_child_fn child,
	    void *arg, int keep_fd);

#endif
