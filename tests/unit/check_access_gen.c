/*
 * check_access_gen.c - access_generation (goes with /tmp/hi-access.patch):
 * every change to users, permissions, limits or enablement moves it, so a
 * channel's remembered publish permission is rechecked; a check's result
 * follows the change.  Test code only.
 */
#include <check.h>

#include "check_broker_helpers.h"
#include "edad/access.h"

START_TEST(access_gen_moves_on_every_change)
{
    uint64_t g = access_generation(B);
    struct broker_err err;
    struct access_user_spec spec = {.password = "pw"};
    ck_assert_int_eq(access_user_put(B, "u", &spec, &err), EDAD_OK);
    ck_assert_uint_gt(access_generation(B), g);
    g = access_generation(B);
    ck_assert_int_eq(access_permission_set(B, "u", "/", ".*", ".*", ".*", &err), EDAD_OK);
    ck_assert_uint_gt(access_generation(B), g);
    ck_assert_int_eq(access_check(B, "u", "/", ACCESS_WRITE, ACCESS_EXCHANGE, S(""), &err),
                     EDAD_OK);
    /* revoke write: the same check now fails, and the generation moved */
    g = access_generation(B);
    ck_assert_int_eq(access_permission_set(B, "u", "/", ".*", "^nothing$", ".*", &err), EDAD_OK);
    ck_assert_uint_gt(access_generation(B), g);
    ck_assert_int_ne(access_check(B, "u", "/", ACCESS_WRITE, ACCESS_EXCHANGE, S(""), &err),
                     EDAD_OK);
    g = access_generation(B);
    ck_assert_int_eq(access_permission_clear(B, "u", "/"), EDAD_OK);
    ck_assert_uint_gt(access_generation(B), g);
    g = access_generation(B);
    struct access_limits l = {.max_connections = 5, .max_queues = -1};
    ck_assert_int_eq(access_vhost_limits_set(B, "/", &l), EDAD_OK);
    ck_assert_uint_gt(access_generation(B), g);
    g = access_generation(B);
    ck_assert_int_eq(access_user_delete(B, "u"), EDAD_OK);
    ck_assert_uint_gt(access_generation(B), g);
    g = access_generation(B);
    access_enable(B);
    ck_assert_uint_gt(access_generation(B), g);
    /* reads do not move it */
    g = access_generation(B);
    (void)access_check(B, "guest", "/", ACCESS_READ, ACCESS_QUEUE, S("q"), &err);
    ck_assert_uint_eq(access_generation(B), g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("access_gen");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, access_gen_moves_on_every_change);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
