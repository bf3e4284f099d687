/*
 * check_conf_tls.c - unit tests of the TLS and authentication-mechanism
 * options (issue 7) and the option types they brought to src/conf: a
 * second listener family (listeners.ssl, default none), CHOICE
 * (ssl_options.verify, ssl_cert_login_from), STRLIST (auth_mechanisms.<n>,
 * ssl_options.versions.<n>) and options without a default (the PEM files).
 * No sockets and no OpenSSL: conf only fills a struct.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edad/conf.h"

static struct edad_conf cf;
static char err[512];

static void setup(void)
{
    conf_init(&cf);
    err[0] = '\0';
}

static void teardown(void)
{
    conf_free(&cf);
}

static edad_status load(const char *text)
{
    err[0] = '\0';
    return conf_load_string(&cf, "t.conf", text, err, sizeof(err));
}

#define ck_load_ok(text) do { \
        edad_status st_ = load(text); \
        ck_assert_msg(st_ == EDAD_OK, "load failed: %s", err); \
    } while (0)

#define ck_load_err(text, msg) do { \
        ck_assert_int_eq(load(text), EDAD_ERR_INVALID); \
        ck_assert_str_eq(err, msg); \
    } while (0)

static size_t strlist_len(const struct conf_strlist *l)
{
    size_t n = 0;
    while (l->values && l->values[n])
        n++;
    return n;
}

START_TEST(defaults)
{
    ck_assert_uint_eq(cf.n_ssl_listeners, 0);
    ck_assert_ptr_null(cf.ssl_cacertfile);
    ck_assert_ptr_null(cf.ssl_certfile);
    ck_assert_ptr_null(cf.ssl_keyfile);
    ck_assert_uint_eq(cf.ssl_verify, CONF_SSL_VERIFY_NONE);
    ck_assert(!cf.ssl_fail_if_no_peer_cert);
    ck_assert_uint_eq(strlist_len(&cf.ssl_versions), 0);
    ck_assert_uint_eq(strlist_len(&cf.auth_mechanisms), 2);
    ck_assert_str_eq(cf.auth_mechanisms.values[0], "PLAIN");
    ck_assert_str_eq(cf.auth_mechanisms.values[1], "AMQPLAIN");
    ck_assert_uint_eq(cf.ssl_cert_login_from, CONF_CERT_LOGIN_DN);
    /* the TCP listener default is untouched by the second family */
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
}
END_TEST

START_TEST(ssl_listeners_are_their_own_family)
{
    ck_load_ok("listeners.ssl.default = 5671\nlisteners.ssl.local = 127.0.0.1:5681\n"
               "listeners.ssl.v6 = [::1]:5691\n");
    ck_assert_uint_eq(cf.n_ssl_listeners, 3);
    ck_assert_str_eq(cf.ssl_listeners[0].name, "default");
    ck_assert_str_eq(cf.ssl_listeners[0].host, "");
    ck_assert_uint_eq(cf.ssl_listeners[0].port, 5671);
    ck_assert_str_eq(cf.ssl_listeners[1].host, "127.0.0.1");
    ck_assert_str_eq(cf.ssl_listeners[2].host, "::1");
    ck_assert_uint_eq(cf.n_listeners, 1);          /* tcp keeps its default */
    ck_load_ok("listeners.ssl.local = 5682\n");    /* same name replaces */
    ck_assert_uint_eq(cf.n_ssl_listeners, 3);
    ck_assert_uint_eq(cf.ssl_listeners[1].port, 5682);
    ck_load_ok("listeners.ssl = none\n");
    ck_assert_uint_eq(cf.n_ssl_listeners, 0);
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_load_err("listeners.ssl.default = 0\n",
                "t.conf:1: listeners.ssl.default: port 0 is outside 1..65535");
    ck_load_err("listeners.ssl = 5671\n", "t.conf:1: listeners.ssl: only 'none' is accepted "
                "here; set listeners.ssl.<name> = [host:]port to add a listener");
}
END_TEST

START_TEST(pem_files_are_strings_without_default)
{
    ck_load_ok("ssl_options.cacertfile = /etc/edad/ca.pem\n"
               "ssl_options.certfile = /etc/edad/server.pem\n"
               "ssl_options.keyfile = /etc/edad/server.key\n");
    ck_assert_str_eq(cf.ssl_cacertfile, "/etc/edad/ca.pem");
    ck_assert_str_eq(cf.ssl_certfile, "/etc/edad/server.pem");
    ck_assert_str_eq(cf.ssl_keyfile, "/etc/edad/server.key");
    ck_load_err("ssl_options.keyfile =\n", "t.conf:1: ssl_options.keyfile: value is empty");
}
END_TEST

START_TEST(choice_options)
{
    ck_load_ok("ssl_options.verify = verify_peer\nssl_cert_login_from = common_name\n"
               "ssl_options.fail_if_no_peer_cert = true\n");
    ck_assert_uint_eq(cf.ssl_verify, CONF_SSL_VERIFY_PEER);
    ck_assert_uint_eq(cf.ssl_cert_login_from, CONF_CERT_LOGIN_CN);
    ck_assert(cf.ssl_fail_if_no_peer_cert);
    ck_load_ok("ssl_options.verify = verify_none\n");
    ck_assert_uint_eq(cf.ssl_verify, CONF_SSL_VERIFY_NONE);
    ck_load_err("ssl_options.verify = true\n",
                "t.conf:1: ssl_options.verify: 'true' is not verify_none or verify_peer");
    ck_load_err("ssl_cert_login_from = subject_alternative_name\n",
                "t.conf:1: ssl_cert_login_from: 'subject_alternative_name' is not "
                "distinguished_name or common_name");
    ck_assert_uint_eq(cf.ssl_verify, CONF_SSL_VERIFY_NONE);   /* unchanged on error */
}
END_TEST

START_TEST(auth_mechanisms_list)
{
    /* the first member set replaces the default list; order is kept */
    ck_load_ok("auth_mechanisms.1 = EXTERNAL\nauth_mechanisms.2 = PLAIN\n");
    ck_assert_uint_eq(strlist_len(&cf.auth_mechanisms), 2);
    ck_assert_str_eq(cf.auth_mechanisms.values[0], "EXTERNAL");
    ck_assert_str_eq(cf.auth_mechanisms.values[1], "PLAIN");
    ck_assert_str_eq(cf.auth_mechanisms.names[1], "2");
    ck_load_ok("auth_mechanisms.1 = AMQPLAIN\n");       /* same member: replaced */
    ck_assert_uint_eq(strlist_len(&cf.auth_mechanisms), 2);
    ck_assert_str_eq(cf.auth_mechanisms.values[0], "AMQPLAIN");
    ck_load_ok("auth_mechanisms = none\nauth_mechanisms.x = PLAIN\n");
    ck_assert_uint_eq(strlist_len(&cf.auth_mechanisms), 1);
    ck_assert_str_eq(cf.auth_mechanisms.values[0], "PLAIN");
    ck_load_err("auth_mechanisms = PLAIN\n", "t.conf:1: auth_mechanisms: only 'none' is "
                "accepted here; set auth_mechanisms.<name> = VALUE for one entry");
}
END_TEST

START_TEST(versions_list)
{
    ck_load_ok("ssl_options.versions.1 = tlsv1.3\n");
    ck_assert_uint_eq(strlist_len(&cf.ssl_versions), 1);
    ck_assert_str_eq(cf.ssl_versions.values[0], "tlsv1.3");
    ck_load_ok("ssl_options.versions.2 = tlsv1.2\n");
    ck_assert_uint_eq(strlist_len(&cf.ssl_versions), 2);
}
END_TEST

START_TEST(reload_compares_and_copies_new_types)
{
    struct edad_conf fresh;
    conf_init(&fresh);
    ck_assert_int_eq(conf_load_string(&fresh, "f", "listeners.ssl.default = 5671\n"
                                      "auth_mechanisms.1 = EXTERNAL\n"
                                      "ssl_options.verify = verify_peer\n", err, sizeof(err)),
                     EDAD_OK);
    /* none of them is reloadable: three options need a restart */
    ck_assert_uint_eq(conf_apply_reloadable(&cf, &fresh), 3);
    ck_assert_uint_eq(cf.n_ssl_listeners, 0);
    ck_assert_str_eq(cf.auth_mechanisms.values[0], "PLAIN");
    ck_assert_uint_eq(conf_apply_reloadable(&cf, &cf), 0);
    conf_free(&fresh);
}
END_TEST

START_TEST(print_defaults_shows_lists_and_unset)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(fp);
    conf_print_defaults(fp);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "\nlisteners.ssl.<name>\n"));
    ck_assert_ptr_nonnull(strstr(buf, "default: listeners.ssl = none\n"));
    ck_assert_ptr_nonnull(strstr(buf, "default: auth_mechanisms.1 = PLAIN\n"));
    ck_assert_ptr_nonnull(strstr(buf, "default: auth_mechanisms.2 = AMQPLAIN\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nssl_options.certfile\n"));
    ck_assert_ptr_nonnull(strstr(buf, "default: not set\n"));
    ck_assert_ptr_nonnull(strstr(buf, "bounds: verify_none|verify_peer\n"));
    ck_assert_ptr_null(strstr(buf, "(null)"));
    free(buf);
    /* the shipped file's lines parse back to the defaults (commented out) */
    fp = open_memstream(&buf, &len);
    conf_print_conf(fp);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(buf, "\n# listeners.ssl = none\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\n# auth_mechanisms.1 = PLAIN\n# auth_mechanisms.2 = "
                                      "AMQPLAIN\n"));
    free(buf);
    ck_load_ok("listeners.ssl = none\nauth_mechanisms.1 = PLAIN\nauth_mechanisms.2 = AMQPLAIN\n"
               "ssl_options.versions = none\n");
}
END_TEST

static Suite *conf_tls_suite(void)
{
    Suite *s = suite_create("conf_tls");
    TCase *tc = tcase_create("conf_tls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, ssl_listeners_are_their_own_family);
    tcase_add_test(tc, pem_files_are_strings_without_default);
    tcase_add_test(tc, choice_options);
    tcase_add_test(tc, auth_mechanisms_list);
    tcase_add_test(tc, versions_list);
    tcase_add_test(tc, reload_compares_and_copies_new_types);
    tcase_add_test(tc, print_defaults_shows_lists_and_unset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
