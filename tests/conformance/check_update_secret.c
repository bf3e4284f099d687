/*
 * check_update_secret.c - connection.update-secret as a client sees it:
 * answered with update-secret-ok as RabbitMQ does for its internal user
 * database (the secret is taken, the connection and its channels keep
 * working), on channel 0 only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

static void send_update_secret(struct raw_conn *c, uint16_t ch, const char *secret,
                               const char *reason)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_longstr(&a, secret, (uint32_t)strlen(secret));
    raw_put_shortstr(&a, reason);
    ct_send_method(c, ch, RAW_CONNECTION, RAW_CONNECTION_UPDATE_SECRET, &a);
    raw_buf_free(&a);
}

START_TEST(test_update_secret_ok)
{
    struct raw_conn c;
    struct raw_frame f;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    send_update_secret(&c, 0, "guest", "token refresh");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_UPDATE_SECRET_OK);
    raw_frame_free(&f);
    /* the open channel still works */
    ctm_publish_str(&c, 1, "", q, "after-update");
    ctm_wait_count(&c, 1, q, 1);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "after-update");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* Twice in a row, with an empty reason: each answered. */
START_TEST(test_update_secret_repeated)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, S, 1);
    for (int i = 0; i < 2; i++) {
        send_update_secret(&c, 0, "guest", "");
        ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_UPDATE_SECRET_OK);
        raw_frame_free(&f);
    }
    raw_close(&c);
}
END_TEST

/* A connection-class method on a non-zero channel is a connection error (503). */
START_TEST(test_update_secret_on_channel_503)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    send_update_secret(&c, 1, "guest", "wrong channel");
    ct_expect_connection_close(&c, RAW_COMMAND_INVALID, "COMMAND_INVALID", -1, -1);
    raw_close(&c);
}
END_TEST

static Suite *update_secret_suite(void)
{
    Suite *s = suite_create("update_secret");
    TCase *tc = tcase_create("update_secret");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_update_secret_ok);
    tcase_add_test(tc, test_update_secret_repeated);
    tcase_add_test(tc, test_update_secret_on_channel_503);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_update_secret");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(update_secret_suite()));
}
