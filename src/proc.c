/*
 * proc: slot bookkeeping and the fork of a consumer.  Signals are blocked
 * across fork() so no handler of the master's runs in the child before
 * the child has put every disposition back to its default.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#ifdef HAVE_PRCTL
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

const char *
proc_state_name(enum proc_state s)
{
	static const char *const names[] = { "empty", "starting", "ready",
	    "not-ready", "draining", "backoff", "failed" };

	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "invalid";
	return names[s];
}

int
proc_alive(const struct proc *p)
{
	return p->pid > 0;
}

void
proc_move(struct ev_loop *loop, struct proc *dst, struct proc *src)
{
	int pending;

	dst->pid = src->pid;
	dst->state = src->state;
	dst->fd = src->fd;
	dst->cfg = src->cfg;
	dst->replace = src->replace;
	dst->retire = src->retire;
	dst->revert = src->revert;
	dst->started_ms = src->started_ms;
	dst->first_ready_ms = src->first_ready_ms;
	dst->last_msg_ms = src->last_msg_ms;
	dst->status = src->status;
	dst->metrics = src->metrics;
	dst->have_metrics = src->have_metrics;
	dst->hang_killed = src->hang_killed;
	/* A started watcher cannot move: stop it, start dst's own. */
	if (src->fd != -1) {
		ev_io_stop(loop, &src->io);
		ev_io_init(&dst->io, ev_cb(&src->io), src->fd, EV_READ);
		dst->io.data = dst;
		ev_io_start(loop, &dst->io);
	}
	if (src->pid > 0) {
		pending = ev_clear_pending(loop, &src->child);
		ev_child_stop(loop, &src->child);
		ev_child_init(&dst->child, ev_cb(&src->child), src->pid, 0);
		dst->child.data = dst;
		ev_child_start(loop, &dst->child);
		if (pending) {
			/* libev reaped it: its status is in the watcher. */
			dst->child.rpid = src->child.rpid;
			dst->child.rstatus = src->child.rstatus;
			ev_feed_event(loop, &dst->child, pending);
		}
	}
	src->pid = 0;
	src->state = PROC_EMPTY;
	src->fd = -1;
	src->replace = src->retire = src->revert = 0;
	src->first_ready_ms = 0;
	memset(&src->status, 0, sizeof(src->status));
	memset(&src->metrics, 0, sizeof(src->metrics));
	src->have_metrics = 0;
	src->hang_killed = 0;
}

static void
child_reset_signals(void)
{
	struct sigaction sa;
	sigset_t empty;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);	/* EINVAL for KILL/STOP */
	/*
	 * Until the consumer watches them: SIGUSR1 (log reopening, which the
	 * master forwards) and SIGHUP must not kill a consumer just forked.
	 */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGUSR1, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&empty);
	(void)sigprocmask(SIG_SETMASK, &empty, NULL);
}

int
proc_spawn(struct proc *p, proc_atfork_fn atfork, proc_child_fn child,
    void *arg, int keep_fd)
{
	int sv[2], keep[2], saved;
	sigset_t all, old;
	pid_t master = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if (util_set_nonblock(sv[0]) == -1) {
		saved = errno;
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return -1;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == -1) {
		saved = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return -1;
	}
	if (pid == 0) {
		/* Child. */
		if (atfork != NULL)
			atfork(arg);
		child_reset_signals();
#ifdef HAVE_PRCTL
		/* Die with the master; TERM lets the batch in hand finish. */
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		if (getppid() != master)
			_exit(0);	/* the master died before prctl */
		keep[0] = sv[1];
		keep[1] = keep_fd;
		util_close_fds_except(keep, keep_fd >= 0 ? 2 : 1);
		child(arg, p->slot, sv[1]);
		_exit(1);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	p->pid = pid;
	p->fd = sv[0];
	return 0;
}
