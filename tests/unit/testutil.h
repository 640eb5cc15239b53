/*
 * testutil: what every Check unit test shares: run one suite and turn its
 * result into the exit status the automake test driver reads.
 */
#ifndef PCS_TESTUTIL_H
#define PCS_TESTUTIL_H

#include <check.h>

static inline int
testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif
