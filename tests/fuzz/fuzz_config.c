/*
 * The configuration file (src/config.c): config_load reads the input as
 * the file (through a memfd, so that nothing is left on disk) with an
 * empty environment, and the lists and identifiers of the settings go
 * through their own parsers too.
 */
#include "autoconf.h"

#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static const char *
no_env(const char *name)
{
	(void)name;
	return NULL;
}

static int	fd = -1;
static char	path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct config_hostport hp[CONFIG_MAX_SENTINELS];
	char err[512], region[64], *s;
	size_t off = 0;
	ssize_t n;

	if (fd == -1) {
		if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) == -1)
			fuzz_fail("memfd_create");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1)
		fuzz_fail("ftruncate");
	while (off < size) {
		if ((n = pwrite(fd, data + off, size - off, (off_t)off)) <= 0)
			fuzz_fail("pwrite");
		off += (size_t)n;
	}
	if (config_load(&cfg, path, no_env, err, sizeof(err)) == 0)
		config_free(&cfg);
	else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
		fuzz_fail("config: failed without a reason");

	s = fuzz_string(data, size);
	(void)config_parse_sentinels(s, hp, CONFIG_MAX_SENTINELS, err,
	    sizeof(err));
	(void)config_region_from_host(s, region, sizeof(region));
	(void)config_check_role_arn(s);
	(void)config_check_session_name(s);
	(void)config_check_external_id(s);
	free(s);
	return 0;
}
