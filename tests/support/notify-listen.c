/*
 * notify-listen: stands in for systemd's notification socket in the
 * tests.  Binds a datagram socket at the path given and prints each
 * message it receives on one line, after the sender's pid as the kernel
 * tells it (SO_PASSCRED, as systemd checks NotifyAccess=): "PID message",
 * newlines inside a message becoming spaces; flushes at once; runs until
 * killed.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	struct sockaddr_un sun;
	char buf[4096];
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct ucred cred;
	ssize_t n, i;
	int fd, on = 1;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: notify-listen PATH\n");
		return 64;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, argv[1]);
	unlink(argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "notify-listen: %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf) - 1;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(fd, &mh, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		memset(&cred, 0, sizeof(cred));
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
		for (i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
		buf[n] = '\0';
		printf("%ld %s\n", (long)cred.pid, buf);
		fflush(stdout);
	}
}
