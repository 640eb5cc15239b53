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
