/*
 * An allocation that fails on cue, preloaded into the daemon by the
 * integration tests (LD_PRELOAD) to drive its out-of-memory paths with
 * real parts: a real answer, a real parse, then one failing allocation.
 *
 *   PCS_FAILALLOC_PREFIX=TEXT  a JSON text json-c parses that starts with
 *                              TEXT arms the failure: the next malloc,
 *                              calloc or realloc of the thread that parsed
 *                              it returns NULL (once per arming)
 *   PCS_FAILALLOC_COUNT=N      how many parses arm it (default 1); then
 *                              the program runs unhindered
 *
 * Each failure is told on stderr: "failalloc: failing an allocation of N
 * bytes after a parse of '<TEXT>...'" (TEXT cut to 60 bytes).  glibc lets a program replace malloc
 * and reach its own through __libc_malloc; not for an AddressSanitizer
 * build, whose runtime must be the first library loaded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json_tokener.h>

extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);

static __thread int	armed;
static int		remaining = -1;

static int
failing(size_t n)
{
	char line[128];
	int len;

	if (!armed)
		return 0;
	armed = 0;
	len = snprintf(line, sizeof(line), "failalloc: failing an allocation "
	    "of %zu bytes after a parse of '%.60s...'\n", n,
	    getenv("PCS_FAILALLOC_PREFIX"));
	if (len > 0 && (size_t)len < sizeof(line))
		(void)!write(2, line, (size_t)len);
	return 1;
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

struct json_object *
json_tokener_parse_ex(struct json_tokener *tok, const char *text, int len)
{
	static struct json_object *(*real)(struct json_tokener *,
	    const char *, int);
	const char *prefix = getenv("PCS_FAILALLOC_PREFIX"), *count;
	struct json_object *o;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "json_tokener_parse_ex");
	if (real == NULL)
		abort();
	o = real(tok, text, len);
	if (remaining < 0) {
		count = getenv("PCS_FAILALLOC_COUNT");
		remaining = count != NULL ? atoi(count) : 1;
	}
	if (o != NULL && prefix != NULL && remaining > 0 && len >= 0 &&
	    (size_t)len >= strlen(prefix) &&
	    memcmp(text, prefix, strlen(prefix)) == 0) {
		remaining--;
		armed = 1;
	}
	return o;
}
