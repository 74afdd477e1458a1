/* Behaviour every transport shares. Built once, run once per scheme:
 *   test-conformance <scheme>
 * Cross-process cases really fork; every wait is bounded. */
#include "test-common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *scheme;

START_TEST(conf_roundtrip)
{
	ipc_channel *tx, *rx;
	char buf[16];

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	ck_assert_int_eq(ipc_send(tx, "hi", 3, 1000), 3);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 3);
	ck_assert_str_eq(buf, "hi");
	test_unpair(tx, rx);
}
END_TEST

static Suite *
conformance_suite(void)
{
	Suite *s = suite_create(scheme);
	TCase *tc = tcase_create("conformance");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, conf_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <scheme>\n", argv[0]);
		return 2;
	}
	scheme = argv[1];
	return test_run(conformance_suite());
}
