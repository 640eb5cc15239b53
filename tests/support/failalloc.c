/*
 * An allocation that fails on cue, preloaded into the daemon by the
 * integration tests (LD_PRELOAD) to drive its out-of-memory paths with
 * real parts: a real answer, a real parse, then one failing allocation.
 *
 *   PCS_FAILALLOC_SIZE=N   an allocation of exactly N bytes (malloc,
 *                          calloc or realloc) arms the failure: the next
 *                          allocation of the same thread returns NULL
 *                          (once per arming).  jdoc allocates a text's
 *                          length + 2 for its strings, then its nodes: a
 *                          test arms on the length of the text it sends.
 *   PCS_FAILALLOC_COUNT=N  how many allocations arm it (default 1); then
 *                          the program runs unhindered
 *
 * Each failure is told on stderr: "failalloc: failing an allocation of M
 * bytes after one of N".  glibc lets a program replace malloc and reach
 * its own through __libc_malloc; not for an AddressSanitizer build, whose
 * runtime must be the first library loaded.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);

static __thread int	armed;
static size_t		arm_size;
static int		remaining = -1;

/* Whether the allocation of n bytes fails; getenv allocates nothing. */
static int
failing(size_t n)
{
	const char *size, *count;
	char line[128];
	int len;

	if (remaining < 0) {
		size = getenv("PCS_FAILALLOC_SIZE");
		count = getenv("PCS_FAILALLOC_COUNT");
		arm_size = size != NULL ? strtoul(size, NULL, 10) : 0;
		remaining = count != NULL ? atoi(count) : 1;
	}
	if (armed) {
		armed = 0;
		len = snprintf(line, sizeof(line), "failalloc: failing an "
		    "allocation of %zu bytes after one of %zu\n", n, arm_size);
		if (len > 0 && (size_t)len < sizeof(line))
			(void)!write(2, line, (size_t)len);
		return 1;
	}
	if (arm_size != 0 && n == arm_size && remaining > 0) {
		remaining--;
		armed = 1;
	}
	return 0;
}

void *
malloc(size_t n)
{
	return failing(n) ? NULL : __libc_malloc(n);
}

void *
calloc(size_t k, size_t n)
{
	return failing(k * n) ? NULL : __libc_calloc(k, n);
}

void *
realloc(void *p, size_t n)
{
	return failing(n) ? NULL : __libc_realloc(p, n);
}
