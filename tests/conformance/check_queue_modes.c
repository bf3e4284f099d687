/*
 * check_queue_modes.c - x-queue-mode and x-queue-version as a client sees
 * them: accepted with RabbitMQ's values (lazy/default, 1/2) and no other
 * effect (current RabbitMQ ignores both), compared on redeclare, and
 * refused with 406 and RabbitMQ's text for other values or types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

static void frag(char *out, size_t len, const char *arg, const char *q, const char *why)
{
    snprintf(out, len, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/': %s",
             arg, q, why);
}

START_TEST(test_queue_mode_values_accepted)
{
    struct raw_conn c;
    struct ctm_in in;
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q1, sizeof(q1), "lazy");
    ctm_name(q2, sizeof(q2), "default-mode");
    cte_queue_declare(&c, 1, q1, CTM_Q_EXCLUSIVE, "S", "x-queue-mode", "lazy");
    cte_queue_declare(&c, 1, q2, CTM_Q_EXCLUSIVE, "S", "x-queue-mode", "default");
    /* a lazy queue is an ordinary queue */
    ctm_publish_str(&c, 1, "", q1, "lazy-message");
    ctm_wait_count(&c, 1, q1, 1);
    ck_assert(ctm_basic_get(&c, 1, q1, true, &in));
    ck_assert_str_eq((const char *)in.body, "lazy-message");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_queue_version_values_accepted)
{
    struct raw_conn c;
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q1, sizeof(q1), "cqv1");
    ctm_name(q2, sizeof(q2), "cqv2");
    cte_queue_declare(&c, 1, q1, CTM_Q_EXCLUSIVE, "I", "x-queue-version", 1);
    cte_queue_declare(&c, 1, q2, CTM_Q_EXCLUSIVE, "l", "x-queue-version", 2LL);
    raw_close(&c);
}
END_TEST

START_TEST(test_queue_mode_unknown_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], f[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "badmode");
    frag(f, sizeof(f), "x-queue-mode", q, "\"unsupported queue mode 'eager'\"");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, f, "S", "x-queue-mode",
                            "eager");
    frag(f, sizeof(f), "x-queue-mode", q, "{unacceptable_type,signedint}");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, f, "I", "x-queue-mode", 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_queue_version_unknown_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], f[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "badversion");
    frag(f, sizeof(f), "x-queue-version", q, "\"unsupported queue version '3'\"");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, f, "I", "x-queue-version", 3);
    snprintf(f, sizeof(f),
             "PRECONDITION_FAILED - invalid arg 'x-queue-version' for queue '%s' in vhost '/'|"
             "longstr", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, f, "S", "x-queue-version",
                            "2");
    raw_close(&c);
}
END_TEST

START_TEST(test_queue_mode_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], f[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "modeequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "S", "x-queue-mode", "lazy");
    snprintf(f, sizeof(f),
             "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue '%s' in vhost '/': "
             "received 'default' but current is 'lazy'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, f, "S",
                            "x-queue-mode", "default");
    raw_close(&c);
}
END_TEST

static Suite *queue_modes_suite(void)
{
    Suite *s = suite_create("queue_modes");
    TCase *tc = tcase_create("noop_arguments");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_queue_mode_values_accepted);
    tcase_add_test(tc, test_queue_version_values_accepted);
    tcase_add_test(tc, test_queue_mode_unknown_406);
    tcase_add_test(tc, test_queue_version_unknown_406);
    tcase_add_test(tc, test_queue_mode_redeclare_inequivalent_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_queue_modes");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(queue_modes_suite()));
}
