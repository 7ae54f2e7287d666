/* One Check runner per module. Runs the suite named by CK_RUN_SUITE (Check's own filter), or
 * all. Fails when nothing ran: a mistyped suite name must not pass silently. */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.inc"
#undef SUITE

int
main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed, ran;

#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.inc"
#undef SUITE
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	ran = srunner_ntests_run(sr);
	srunner_free(sr);
	if (ran == 0)
		return EXIT_FAILURE;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
