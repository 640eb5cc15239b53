/*
 * The libFuzzer harnesses (tests/fuzz/fuzz_<target>.c): each defines
 * LLVMFuzzerTestOneInput, handing the input to the pure parsers of one
 * kind of outside input.  Built with clang's -fsanitize=fuzzer they are
 * fuzzers (scripts/fuzz.sh); linked with replay.c by any compiler they
 * are programs that run files through the same function (make check
 * replays the corpus and every crash found, tests/fuzz/regressions/).
 * A harness aborts when a parser breaks a promise of its header (an
 * answer it accepted is not what it said); the sanitizers catch the rest.
 */
#ifndef PCS_FUZZ_H
#define PCS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a NUL-terminated string (cut at its first NUL); never NULL. */
char	*fuzz_string(const uint8_t *data, size_t size);
/* Abort with a line on stderr: a parser broke its promise. */
void	 fuzz_fail(const char *what) __attribute__((noreturn));

#endif
