/*
 * The harnesses as plain programs, for make check: each file named, or,
 * with no argument, every file of tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regressions/<target>/ under $PCS_SRCDIR (FUZZ_TARGET is
 * the harness' name), goes through LLVMFuzzerTestOneInput once.  Exit 0
 * when every one went through (a harness aborts on a broken promise, the
 * sanitizer build reports the rest), 1 when a file cannot be read or no
 * file was found.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the harness"
#endif

static int
replay_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if ((buf = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				exit(1);
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* Exactly len bytes, as libFuzzer hands them: overreads show. */
	if ((buf = realloc(buf, len ? len : 1)) == NULL)
		exit(1);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order: the count, or -1. */
static int
replay_dir(const char *dir, int must_exist)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, path[4096];
	size_t n = 0, i;
	int rc = 0;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((names = realloc(names, (n + 1) * sizeof(*names))) == NULL ||
		    (names[n] = strdup(de->d_name)) == NULL)
			exit(1);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (replay_file(path) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc == -1 ? -1 : (int)n;
}

int
main(int argc, char **argv)
{
	const char *top = getenv("PCS_SRCDIR");
	char dir[4096];
	int i, n, total = 0, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_file(argv[i]) == -1)
				rc = 1;
		return rc;
	}
	if (top == NULL || *top == '\0')
		top = ".";
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top, FUZZ_TARGET);
	if ((n = replay_dir(dir, 1)) == -1)
		return 1;
	total += n;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", top,
	    FUZZ_TARGET);
	if ((n = replay_dir(dir, 0)) == -1)
		return 1;
	total += n;
	if (total == 0) {
		fprintf(stderr, "replay: %s: no input found\n", FUZZ_TARGET);
		return 1;
	}
	printf("%s: %d inputs replayed\n", FUZZ_TARGET, total);
	return 0;
}
