/*
 * check_edadctl.c - edadctl against a started edad, one test per command:
 * its tab-separated and JSON output, its effect seen through the API (or
 * a live AMQP client), and rabbitmqctl's exit codes (64 usage, 65 refused,
 * 69 unavailable, 77 not authorised).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctm.h"
#include "mt.h"

static struct mt_server srv;

static void setup(void)
{
    mt_start(&srv, NULL);
}

static void teardown(void)
{
    bool ours = !srv.s.external && srv.s.pid > 0;
    int status = harness_stop(&srv.s);
    /* a clean exit: sanitizer builds fail it on leaks and errors */
    if (ours)
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "edad should exit 0 on SIGTERM (status 0x%x)", status);
}

static char out[65536];

/*
 * Run edadctl with --port of our server, then the given arguments (each
 * single-quoted); stdout + stderr into out; returns the exit code.
 */
static int ctl(const char *first, ...)
{
    const char *bin = getenv("EDADCTL_BIN");
    char cmd[4096];
    int n = snprintf(cmd, sizeof(cmd), "'%s' --port %u", bin && *bin ? bin
                     : EDAD_TOP_BUILDDIR "/edadctl", srv.api_port);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        ck_assert_msg(strchr(a, '\'') == NULL, "no quotes in test arguments");
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " '%s'", a);
    }
    va_end(ap);
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, " 2>&1");
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    size_t len = fread(out, 1, sizeof(out) - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    ck_assert_msg(WIFEXITED(st), "edadctl did not exit normally: %s", cmd);
    return WEXITSTATUS(st);
}

#define CTL_OK(...)                                                                    \
    do {                                                                               \
        int rc_ = ctl(__VA_ARGS__, (const char *)NULL);                                \
        ck_assert_msg(rc_ == 0, "edadctl exit %d: %s", rc_, out);                      \
    } while (0)

#define CTL_RC(code, ...)                                                              \
    do {                                                                               \
        int rc_ = ctl(__VA_ARGS__, (const char *)NULL);                                \
        ck_assert_msg(rc_ == (code), "edadctl exit %d, expected %d: %s", rc_, (code), out); \
    } while (0)

static void has(const char *needle)
{
    ck_assert_msg(strstr(out, needle) != NULL, "output lacks '%s':\n%s", needle, out);
}

static void publish(const char *rk, const char *payload)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"properties\":{},\"routing_key\":\"%s\",\"payload\":\"%s\","
             "\"payload_encoding\":\"string\"}", rk, payload);
    json_decref(mt_api(&srv, "POST", "/api/exchanges/%2F/amq.default/publish", body, 200));
}

static json_int_t queue_messages(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/queues/%%2F/%s", name);
    json_t *q = mt_api(&srv, "GET", path, NULL, 200);
    json_int_t n = json_integer_value(json_object_get(q, "messages"));
    json_decref(q);
    return n;
}

START_TEST(test_usage_and_errors)
{
    CTL_RC(64, "--formatter", "xml", "status");
    CTL_RC(64, "no_such_command");
    CTL_RC(64, "purge_queue");
    CTL_RC(64, "--bogus-option", "status");
    int rc = ctl("--help", (const char *)NULL);
    ck_assert_int_eq(rc, 0);
    has("Usage: edadctl");
    CTL_RC(77, "--password", "wrong", "status");
    has("Login failed");
    CTL_RC(65, "purge_queue", "no-such-queue");
    /* a port nobody listens on: unavailable */
    char cmd[1024];
    const char *bin = getenv("EDADCTL_BIN");
    snprintf(cmd, sizeof(cmd), "'%s' --port 1 status >/dev/null 2>&1",
             bin && *bin ? bin : EDAD_TOP_BUILDDIR "/edadctl");
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 69);
}
END_TEST

START_TEST(test_status)
{
    CTL_OK("status");
    has("product_name\tedad\n");
    has("queues\t0\n");
    has("alarms\tnone\n");
    CTL_OK("--formatter", "json", "status");
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "product_name")), "edad");
    json_decref(j);
}
END_TEST

START_TEST(test_list_queues)
{
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/lq", "{}", 201));
    publish("lq", "a");
    publish("lq", "b");
    CTL_OK("list_queues");
    has("name\tmessages\n");
    has("lq\t2\n");
    CTL_OK("-s", "list_queues", "name", "messages_ready", "consumers", "durable");
    ck_assert_str_eq(out, "lq\t2\t0\tfalse\n");
    CTL_OK("--formatter", "json", "list_queues", "name", "messages");
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(json_is_array(j), "not a JSON array: %s", out);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "name")), "lq");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "messages")), 2);
    json_decref(j);
    CTL_RC(65, "-p", "no-such-vhost", "list_queues");
}
END_TEST

START_TEST(test_list_exchanges_bindings)
{
    CTL_OK("list_exchanges");
    has("name\ttype\n");
    has("amq.topic\ttopic\n");
    has("\n\tdirect\n");   /* the default exchange, named "" */
    json_decref(mt_api(&srv, "PUT", "/api/exchanges/%2F/bx", "{\"type\":\"direct\"}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/bq", "{}", 201));
    json_decref(mt_api(&srv, "POST", "/api/bindings/%2F/e/bx/q/bq", "{\"routing_key\":\"k\"}",
                       201));
    CTL_OK("list_bindings");
    has("source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments\n");
    has("bx\texchange\tbq\tqueue\tk\t{}\n");
    has("\texchange\tbq\tqueue\tbq\t{}\n");   /* the default binding */
    CTL_OK("-s", "list_bindings", "source_name", "routing_key");
    has("bx\tk\n");
}
END_TEST

START_TEST(test_list_connections_consumers_close)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &srv.s, 1);
    ctm_send_queue_declare(&c, 1, "cq", 0, NULL);
    ct_expect_method(&c, &f, 1, 50, CTM_QUEUE_DECLARE_OK);
    raw_frame_free(&f);
    ctm_send_basic_consume(&c, 1, "cq", "ctl-tag", 0, NULL);
    ct_expect_method(&c, &f, 1, 60, CTM_BASIC_CONSUME_OK);
    raw_frame_free(&f);

    CTL_OK("list_connections");
    has("user\tpeer_host\tpeer_port\tstate\tname\n");
    has("guest\t127.0.0.1\t");
    has("\trunning\t");
    CTL_OK("-s", "list_connections", "name");
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(out, "\n"), out);
    ck_assert_msg(strstr(name, " -> ") != NULL, "connection name '%s'", name);

    CTL_OK("list_consumers");
    has("queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments\n");
    has("cq\t");
    has("\tctl-tag\ttrue\t0\ttrue\t{}\n");
    CTL_OK("list_channels");
    has("\tguest\t1\t0\n");

    CTL_OK("close_connection", name, "go away");
    ct_expect_connection_close(&c, 320, "CONNECTION_FORCED - go away", 0, 0);
    raw_close(&c);
    CTL_RC(65, "close_connection", "no such connection");
}
END_TEST

START_TEST(test_purge_delete_queue)
{
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/pq", "{}", 201));
    publish("pq", "a");
    publish("pq", "b");
    CTL_RC(65, "delete_queue", "pq", "--if-empty");
    has("not empty");
    CTL_OK("purge_queue", "pq");
    ck_assert_int_eq(queue_messages("pq"), 0);
    CTL_OK("delete_queue", "pq", "--if-empty");
    json_decref(mt_api(&srv, "GET", "/api/queues/%2F/pq", NULL, 404));
    CTL_RC(65, "delete_queue", "pq");
}
END_TEST

START_TEST(test_users_vhosts_permissions)
{
    CTL_OK("add_user", "carol", "secret");
    CTL_RC(65, "add_user", "carol", "again");
    CTL_OK("list_users");
    has("user\ttags\n");
    has("carol\t[]\n");
    has("guest\t[\"administrator\"]\n");
    CTL_OK("set_user_tags", "carol", "management", "monitoring");
    CTL_OK("-s", "list_users");
    has("carol\t[\"management\",\"monitoring\"]\n");
    /* carol logs in with her password, then a new one */
    struct mt_resp r;
    mt_http(srv.api_port, "GET", "/api/whoami", "carol:secret", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    CTL_OK("change_password", "carol", "newpw");
    mt_http(srv.api_port, "GET", "/api/whoami", "carol:secret", NULL, &r);
    ck_assert_int_eq(r.status, 401);
    free(r.body);
    mt_http(srv.api_port, "GET", "/api/whoami", "carol:newpw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "monitoring") != NULL, "tags kept: %s", r.body);
    free(r.body);

    CTL_OK("add_vhost", "v3");
    CTL_OK("list_vhosts");
    has("name\n");
    has("v3\n");
    CTL_OK("-p", "v3", "set_permissions", "carol", "^c", ".*", ".*");
    CTL_OK("-p", "v3", "list_permissions");
    has("user\tconfigure\twrite\tread\n");
    has("carol\t^c\t.*\t.*\n");
    CTL_OK("list_user_permissions", "carol");
    has("v3\t^c\t.*\t.*\n");
    CTL_OK("-p", "v3", "clear_permissions", "carol");
    CTL_OK("-s", "-p", "v3", "list_permissions");
    ck_assert_msg(strstr(out, "carol") == NULL, "%s", out);
    CTL_OK("delete_vhost", "v3");
    CTL_RC(65, "delete_vhost", "v3");
    CTL_OK("delete_user", "carol");
    CTL_RC(65, "delete_user", "carol");
    /* only administrators manage users */
    CTL_OK("add_user", "dave", "pw");
    CTL_OK("set_user_tags", "dave", "management");
    CTL_RC(77, "--user", "dave", "--password", "pw", "add_user", "eve", "pw");
}
END_TEST

START_TEST(test_definitions)
{
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/dq", "{\"durable\":true}", 201));
    char file[1024];
    snprintf(file, sizeof(file), "%s/defs.json", harness_scratch_dir());
    CTL_OK("export_definitions", file);
    json_error_t je;
    json_t *d = json_load_file(file, 0, &je);
    ck_assert_msg(d != NULL, "export is not JSON: %s", je.text);
    ck_assert(json_is_array(json_object_get(d, "queues")));
    ck_assert(json_is_array(json_object_get(d, "users")));
    /* rename the queue and import it back */
    json_t *q = json_array_get(json_object_get(d, "queues"), 0);
    json_object_set_new(q, "name", json_string("dq-imported"));
    ck_assert_int_eq(json_dump_file(d, file, 0), 0);
    json_decref(d);
    CTL_OK("import_definitions", file);
    json_decref(mt_api(&srv, "GET", "/api/queues/%2F/dq-imported", NULL, 200));
    FILE *fp = fopen(file, "w");
    ck_assert(fp != NULL);
    fputs("{not json", fp);
    fclose(fp);
    CTL_RC(65, "import_definitions", file);
    CTL_RC(65, "import_definitions", "/no/such/file");
}
END_TEST

int main(void)
{
    int rc = harness_init("check_edadctl");
    if (rc)
        return rc;
    Suite *s = suite_create("edadctl");
    TCase *tc = tcase_create("edadctl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_usage_and_errors);
    tcase_add_test(tc, test_status);
    tcase_add_test(tc, test_list_queues);
    tcase_add_test(tc, test_list_exchanges_bindings);
    tcase_add_test(tc, test_list_connections_consumers_close);
    tcase_add_test(tc, test_purge_delete_queue);
    tcase_add_test(tc, test_users_vhosts_permissions);
    tcase_add_test(tc, test_definitions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    return harness_run(sr);
}
