/*
 * util: the few system helpers every module needs: clocks, file
 * descriptor flags, and EINTR-safe I/O.  Kept here so EINTR and CLOEXEC
 * are handled in one place.
 */
#ifndef PCS_UTIL_H
#define PCS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Wall clock, epoch milliseconds: for timestamps reported to humans. */
uint64_t	util_now_ms(void);
/* Monotonic clock, milliseconds: for every interval and deadline. */
uint64_t	util_mono_ms(void);

int	util_set_nonblock(int fd);
int	util_set_cloexec(int fd);

/* write(2) all of buf, retrying on EINTR and short writes: 0 or -1. */
int	util_write_all(int fd, const void *buf, size_t len);

/* Close every descriptor >= 3 except the nkeep listed in keep. */
void	util_close_fds_except(const int *keep, size_t nkeep);

/*
 * Format one error line into the caller's buffer (the pure modules' way of
 * reporting); nothing when err is NULL or errlen 0.
 */
void	util_set_err(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Describe a wait(2) status: "exited with status 3", "killed by signal 9 (Killed)". */
void	util_wait_status(int status, char *buf, size_t len);

#endif
