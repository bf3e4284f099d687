/*
 * check_api.c - the management HTTP API through real HTTP requests
 * against a started edad: authentication and errors in RabbitMQ's JSON
 * shape, every endpoint of issue 8's first part (overview, whoami, vhosts,
 * connections / channels / consumers with a live AMQP client, exchanges,
 * queues, bindings, publish, get, purge, pagination, aliveness, alarms),
 * access by user tag, and bad JSON answered with 400 rather than a crash.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    ck_assert_msg(s != NULL, "field %s missing or not a string", key);
    return s;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "field %s missing or not an integer", key);
    return json_integer_value(v);
}

static void expect_error(uint16_t port, const char *method, const char *path, const char *auth,
                         const char *body, int status, const char *error, const char *reason)
{
    struct mt_resp r;
    mt_http(port, method, path, auth, body, &r);
    ck_assert_msg(r.status == status, "%s %s: %d, expected %d (%s)", method, path, r.status,
                  status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: error body is not JSON: %s", method, path, r.body);
    ck_assert_str_eq(jstr(j, "error"), error);
    if (reason)
        ck_assert_msg(strstr(jstr(j, "reason"), reason) != NULL, "reason '%s' lacks '%s'",
                      jstr(j, "reason"), reason);
    json_decref(j);
    free(r.body);
}

/* ---- authentication and errors ---------------------------------------------------- */

START_TEST(test_auth_and_errors)
{
    struct mt_resp r;
    char h[256];
    mt_http(srv.api_port, "GET", "/api/overview", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 401);
    ck_assert_ptr_nonnull(mt_header(&r, "www-authenticate", h, sizeof(h)));
    ck_assert_msg(strncmp(h, "Basic", 5) == 0, "WWW-Authenticate: %s", h);
    ck_assert_ptr_nonnull(mt_header(&r, "content-type", h, sizeof(h)));
    ck_assert_str_eq(h, "application/json");
    free(r.body);
    expect_error(srv.api_port, "GET", "/api/overview", NULL, NULL, 401, "not_authorized",
                 "Login failed");
    expect_error(srv.api_port, "GET", "/api/overview", "guest:wrong", NULL, 401,
                 "not_authorized", "Login failed");
    expect_error(srv.api_port, "GET", "/api/overview", "nobody:guest", NULL, 401,
                 "not_authorized", "Login failed");
    expect_error(srv.api_port, "GET", "/api/no-such-thing", "guest:guest", NULL, 404,
                 "Object Not Found", "Not Found");
    expect_error(srv.api_port, "GET", "/nothing-here", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    expect_error(srv.api_port, "GET", "/api/queues/no-such-vhost", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    expect_error(srv.api_port, "GET", "/api/queues/%2F/no-such-queue", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    mt_http(srv.api_port, "PATCH", "/api/queues/%2F", "guest:guest", NULL, &r);
    ck_assert_int_eq(r.status, 405);
    free(r.body);
    mt_http(srv.api_port, "POST", "/api/overview", "guest:guest", "{}", &r);
    ck_assert_int_eq(r.status, 405);
    free(r.body);
    /* a malformed %-escape is not a route */
    mt_http(srv.api_port, "GET", "/api/queues/%ZZ", "guest:guest", NULL, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);
}
END_TEST

START_TEST(test_overview_whoami)
{
    json_t *o = mt_api(&srv, "GET", "/api/overview", NULL, 200);
    ck_assert_str_eq(jstr(o, "product_name"), "edad");
    ck_assert_str_eq(jstr(o, "rates_mode"), "basic");
    jstr(o, "management_version");
    jstr(o, "node");
    json_t *ot = json_object_get(o, "object_totals");
    ck_assert_int_eq(jint(ot, "connections"), 0);
    ck_assert_int_eq(jint(ot, "queues"), 0);
    ck_assert_int_ge(jint(ot, "exchanges"), 6);
    json_t *qt = json_object_get(o, "queue_totals");
    ck_assert_int_eq(jint(qt, "messages"), 0);
    ck_assert(json_is_object(json_object_get(json_object_get(o, "message_stats"),
                                             "publish_details")));
    ck_assert(json_array_size(json_object_get(o, "exchange_types")) >= 4);
    ck_assert(json_array_size(json_object_get(o, "listeners")) >= 1);
    json_decref(o);

    json_t *w = mt_api(&srv, "GET", "/api/whoami", NULL, 200);
    ck_assert_str_eq(jstr(w, "name"), "guest");
    json_t *tags = json_object_get(w, "tags");
    ck_assert(json_is_array(tags));
    ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "administrator");
    json_decref(w);
}
END_TEST

START_TEST(test_bad_json)
{
    const char *bad[] = {"{bad", "[1,2]", "\"str\"", "{\"durable\": tru}", "{\"a\":1}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(srv.api_port, "PUT", "/api/queues/%2F/bj", "guest:guest", bad[i], 400,
                     "bad_request", NULL);
    expect_error(srv.api_port, "PUT", "/api/queues/%2F/bj", "guest:guest",
                 "{\"arguments\": [1]}", 400, "bad_request", NULL);
    expect_error(srv.api_port, "PUT", "/api/exchanges/%2F/bx", "guest:guest", "{bad", 400,
                 "bad_request", NULL);
    expect_error(srv.api_port, "POST", "/api/bindings/%2F/e/amq.direct/q/bj", "guest:guest",
                 "nope", 400, "bad_request", NULL);
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/bj", "{}", 201));
    expect_error(srv.api_port, "POST", "/api/queues/%2F/bj/get", "guest:guest",
                 "{\"ackmode\":\"ack_requeue_true\",\"encoding\":\"auto\"}", 400, "bad_request",
                 "count");
    expect_error(srv.api_port, "POST", "/api/queues/%2F/bj/get", "guest:guest",
                 "{\"count\":1,\"ackmode\":\"sometimes\",\"encoding\":\"auto\"}", 400,
                 "bad_request", "ackmode");
    expect_error(srv.api_port, "POST", "/api/exchanges/%2F/amq.default/publish", "guest:guest",
                 "{\"properties\":{},\"routing_key\":\"bj\",\"payload_encoding\":\"string\"}",
                 400, "bad_request", "payload");
    expect_error(srv.api_port, "POST", "/api/exchanges/%2F/amq.default/publish", "guest:guest",
                 "{\"properties\":{\"delivery_mode\":\"x\"},\"routing_key\":\"bj\","
                 "\"payload\":\"p\",\"payload_encoding\":\"string\"}",
                 400, "bad_request", "delivery_mode");
    expect_error(srv.api_port, "POST", "/api/exchanges/%2F/amq.default/publish", "guest:guest",
                 "{\"properties\":{},\"routing_key\":\"bj\",\"payload\":\"!!\","
                 "\"payload_encoding\":\"base64\"}",
                 400, "bad_request", "base64");
    /* still serving */
    json_decref(mt_api(&srv, "GET", "/api/overview", NULL, 200));
}
END_TEST

/* ---- queues ---------------------------------------------------------------------------- */

static void publish(const char *exchange, const char *rk, const char *payload, bool routed)
{
    char path[256], body[1024];
    snprintf(path, sizeof(path), "/api/exchanges/%%2F/%s/publish", exchange);
    snprintf(body, sizeof(body),
             "{\"properties\":{},\"routing_key\":\"%s\",\"payload\":\"%s\","
             "\"payload_encoding\":\"string\"}", rk, payload);
    json_t *j = mt_api(&srv, "POST", path, body, 200);
    ck_assert_msg(json_is_true(json_object_get(j, "routed")) == routed, "routed should be %d",
                  routed);
    json_decref(j);
}

START_TEST(test_queue_crud)
{
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/q1",
                       "{\"durable\":true,\"auto_delete\":false,"
                       "\"arguments\":{\"x-max-length\":10}}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/q1",
                       "{\"durable\":true,\"arguments\":{\"x-max-length\":10}}", 204));
    expect_error(srv.api_port, "PUT", "/api/queues/%2F/q1", "guest:guest",
                 "{\"durable\":false,\"arguments\":{\"x-max-length\":10}}", 400, "bad_request",
                 "inequivalent arg 'durable' for queue 'q1' in vhost '/'");
    expect_error(srv.api_port, "PUT", "/api/queues/%2F/amq.nope", "guest:guest", "{}", 401,
                 "not_authorized", "amq.nope");
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/with%20space%2Fslash", "{}", 201));
    publish("amq.default", "q1", "one", true);
    publish("amq.default", "q1", "two", true);

    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/q1", NULL, 200);
    ck_assert_str_eq(jstr(q, "name"), "q1");
    ck_assert_str_eq(jstr(q, "vhost"), "/");
    ck_assert(json_is_true(json_object_get(q, "durable")));
    ck_assert(json_is_false(json_object_get(q, "auto_delete")));
    ck_assert(json_is_false(json_object_get(q, "exclusive")));
    ck_assert_int_eq(jint(json_object_get(q, "arguments"), "x-max-length"), 10);
    ck_assert_int_eq(jint(q, "messages"), 2);
    ck_assert_int_eq(jint(q, "messages_ready"), 2);
    ck_assert_int_eq(jint(q, "messages_unacknowledged"), 0);
    ck_assert_int_eq(jint(q, "consumers"), 0);
    ck_assert_int_gt(jint(q, "memory"), 0);
    ck_assert_int_eq(jint(q, "message_bytes"), 6);
    json_t *ms = json_object_get(q, "message_stats");
    ck_assert_int_eq(jint(ms, "publish"), 2);
    ck_assert(json_is_number(json_object_get(json_object_get(ms, "publish_details"), "rate")));
    ck_assert(json_is_object(json_object_get(q, "messages_details")));
    ck_assert_str_eq(jstr(q, "type"), "classic");
    json_decref(q);

    q = mt_api(&srv, "GET", "/api/queues/%2F/with%20space%2Fslash", NULL, 200);
    ck_assert_str_eq(jstr(q, "name"), "with space/slash");
    json_decref(q);

    json_t *all = mt_api(&srv, "GET", "/api/queues", NULL, 200);
    ck_assert_int_eq(json_array_size(all), 2);
    json_decref(all);
    all = mt_api(&srv, "GET", "/api/queues/%2F", NULL, 200);
    ck_assert_int_eq(json_array_size(all), 2);
    json_decref(all);

    /* delete: if-empty refuses while messages wait */
    expect_error(srv.api_port, "DELETE", "/api/queues/%2F/q1?if-empty=true", "guest:guest",
                 NULL, 400, "bad_request", "not empty");
    json_decref(mt_api(&srv, "DELETE", "/api/queues/%2F/q1", NULL, 204));
    expect_error(srv.api_port, "GET", "/api/queues/%2F/q1", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    expect_error(srv.api_port, "DELETE", "/api/queues/%2F/q1", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
}
END_TEST

START_TEST(test_publish_get_purge)
{
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/pg", "{}", 201));
    json_t *j = mt_api(&srv, "POST", "/api/exchanges/%2F/amq.default/publish",
                       "{\"properties\":{\"delivery_mode\":2,\"content_type\":\"text/plain\","
                       "\"headers\":{\"h\":\"v\",\"n\":7},\"message_id\":\"m1\"},"
                       "\"routing_key\":\"pg\",\"payload\":\"hello world\","
                       "\"payload_encoding\":\"string\"}", 200);
    ck_assert(json_is_true(json_object_get(j, "routed")));
    json_decref(j);
    /* base64: "\x00\xff" is not a string */
    j = mt_api(&srv, "POST", "/api/exchanges/%2F/amq.default/publish",
               "{\"properties\":{},\"routing_key\":\"pg\",\"payload\":\"AP8=\","
               "\"payload_encoding\":\"base64\"}", 200);
    ck_assert(json_is_true(json_object_get(j, "routed")));
    json_decref(j);
    publish("amq.default", "nowhere", "x", false);
    expect_error(srv.api_port, "POST", "/api/exchanges/%2F/no-such-x/publish", "guest:guest",
                 "{\"properties\":{},\"routing_key\":\"a\",\"payload\":\"\","
                 "\"payload_encoding\":\"string\"}", 404, "Object Not Found", NULL);

    /* get with requeue: both come back, the queue keeps them */
    json_t *got = mt_api(&srv, "POST", "/api/queues/%2F/pg/get",
                         "{\"count\":5,\"ackmode\":\"ack_requeue_true\",\"encoding\":\"auto\","
                         "\"truncate\":50000}", 200);
    ck_assert_int_eq(json_array_size(got), 2);
    json_t *m0 = json_array_get(got, 0), *m1 = json_array_get(got, 1);
    ck_assert_str_eq(jstr(m0, "payload"), "hello world");
    ck_assert_str_eq(jstr(m0, "payload_encoding"), "string");
    ck_assert_int_eq(jint(m0, "payload_bytes"), 11);
    ck_assert_str_eq(jstr(m0, "routing_key"), "pg");
    ck_assert_str_eq(jstr(m0, "exchange"), "");
    ck_assert(json_is_false(json_object_get(m0, "redelivered")));
    ck_assert_int_eq(jint(m0, "message_count"), 1);
    json_t *props = json_object_get(m0, "properties");
    ck_assert_int_eq(jint(props, "delivery_mode"), 2);
    ck_assert_str_eq(jstr(props, "content_type"), "text/plain");
    ck_assert_str_eq(jstr(props, "message_id"), "m1");
    ck_assert_str_eq(jstr(json_object_get(props, "headers"), "h"), "v");
    ck_assert_int_eq(jint(json_object_get(props, "headers"), "n"), 7);
    ck_assert_str_eq(jstr(m1, "payload_encoding"), "base64");
    ck_assert_str_eq(jstr(m1, "payload"), "AP8=");
    json_decref(got);

    /* redelivered now; truncate; base64 asked for */
    got = mt_api(&srv, "POST", "/api/queues/%2F/pg/get",
                 "{\"count\":1,\"ackmode\":\"reject_requeue_true\",\"encoding\":\"base64\","
                 "\"truncate\":5}", 200);
    ck_assert_int_eq(json_array_size(got), 1);
    m0 = json_array_get(got, 0);
    ck_assert(json_is_true(json_object_get(m0, "redelivered")));
    ck_assert_str_eq(jstr(m0, "payload_encoding"), "base64");
    ck_assert_str_eq(jstr(m0, "payload"), "aGVsbG8=");     /* "hello" */
    ck_assert_int_eq(jint(m0, "payload_bytes"), 11);
    json_decref(got);

    /* ack_requeue_false takes one away */
    got = mt_api(&srv, "POST", "/api/queues/%2F/pg/get",
                 "{\"count\":1,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}", 200);
    ck_assert_int_eq(json_array_size(got), 1);
    json_decref(got);
    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/pg", NULL, 200);
    ck_assert_int_eq(jint(q, "messages"), 1);
    json_decref(q);

    publish("amq.default", "pg", "a", true);
    publish("amq.default", "pg", "b", true);
    json_decref(mt_api(&srv, "DELETE", "/api/queues/%2F/pg/contents", NULL, 204));
    q = mt_api(&srv, "GET", "/api/queues/%2F/pg", NULL, 200);
    ck_assert_int_eq(jint(q, "messages"), 0);
    json_decref(q);
    got = mt_api(&srv, "POST", "/api/queues/%2F/pg/get",
                 "{\"count\":3,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}", 200);
    ck_assert_int_eq(json_array_size(got), 0);
    json_decref(got);
    expect_error(srv.api_port, "DELETE", "/api/queues/%2F/nope/contents", "guest:guest", NULL,
                 404, "Object Not Found", NULL);
    struct mt_resp r;
    mt_http(srv.api_port, "GET", "/api/queues/%2F/pg/contents", "guest:guest", NULL, &r);
    ck_assert_int_eq(r.status, 405);
    free(r.body);
}
END_TEST

START_TEST(test_pagination)
{
    const char *names[] = {"pa", "pb", "pc", "pd", "pe", "pf", "zz-other"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/queues/%%2F/%s", names[i]);
        json_decref(mt_api(&srv, "PUT", path, "{}", 201));
    }
    json_t *p = mt_api(&srv, "GET", "/api/queues?page=2&page_size=3", NULL, 200);
    ck_assert_int_eq(jint(p, "page"), 2);
    ck_assert_int_eq(jint(p, "page_size"), 3);
    ck_assert_int_eq(jint(p, "page_count"), 3);
    ck_assert_int_eq(jint(p, "total_count"), 7);
    ck_assert_int_eq(jint(p, "filtered_count"), 7);
    ck_assert_int_eq(jint(p, "item_count"), 3);
    json_t *items = json_object_get(p, "items");
    ck_assert_str_eq(jstr(json_array_get(items, 0), "name"), "pd");
    json_decref(p);

    p = mt_api(&srv, "GET", "/api/queues?page=1&page_size=100&name=p", NULL, 200);
    ck_assert_int_eq(jint(p, "filtered_count"), 6);
    ck_assert_int_eq(jint(p, "total_count"), 7);
    json_decref(p);
    p = mt_api(&srv, "GET", "/api/queues?page=1&name=%5Ep%5Bab%5D%24&use_regex=true", NULL, 200);
    ck_assert_int_eq(jint(p, "filtered_count"), 2);
    json_decref(p);

    p = mt_api(&srv, "GET", "/api/queues?sort=name&sort_reverse=true", NULL, 200);
    ck_assert(json_is_array(p));
    ck_assert_str_eq(jstr(json_array_get(p, 0), "name"), "zz-other");
    json_decref(p);
    p = mt_api(&srv, "GET", "/api/queues/%2F?columns=name,messages", NULL, 200);
    ck_assert_int_eq(json_object_size(json_array_get(p, 0)), 2);
    json_decref(p);

    expect_error(srv.api_port, "GET", "/api/queues?page=9&page_size=3", "guest:guest", NULL,
                 400, "bad_request", "Page out of range");
    expect_error(srv.api_port, "GET", "/api/queues?page=1&page_size=501", "guest:guest", NULL,
                 400, "bad_request", "Page size");
    expect_error(srv.api_port, "GET", "/api/queues?page=x", "guest:guest", NULL, 400,
                 "bad_request", NULL);
    expect_error(srv.api_port, "GET", "/api/queues?page=1&name=(&use_regex=true", "guest:guest",
                 NULL, 400, "bad_request", NULL);
}
END_TEST

/* ---- exchanges and bindings ------------------------------------------------------------- */

static json_t *find_by(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        const char *v = json_string_value(json_object_get(it, key));
        if (v && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

START_TEST(test_exchanges)
{
    json_decref(mt_api(&srv, "PUT", "/api/exchanges/%2F/ex.t",
                       "{\"type\":\"topic\",\"durable\":true,\"auto_delete\":false,"
                       "\"internal\":false,\"arguments\":{}}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/exchanges/%2F/ex.t",
                       "{\"type\":\"topic\",\"durable\":true}", 204));
    expect_error(srv.api_port, "PUT", "/api/exchanges/%2F/ex.t", "guest:guest",
                 "{\"type\":\"direct\",\"durable\":true}", 400, "bad_request",
                 "inequivalent arg 'type'");
    expect_error(srv.api_port, "PUT", "/api/exchanges/%2F/ex.bad", "guest:guest",
                 "{\"type\":\"no-such-type\"}", 400, "bad_request", NULL);
    json_t *x = mt_api(&srv, "GET", "/api/exchanges/%2F/ex.t", NULL, 200);
    ck_assert_str_eq(jstr(x, "name"), "ex.t");
    ck_assert_str_eq(jstr(x, "type"), "topic");
    ck_assert_str_eq(jstr(x, "vhost"), "/");
    ck_assert(json_is_true(json_object_get(x, "durable")));
    ck_assert(json_is_false(json_object_get(x, "internal")));
    ck_assert(json_is_object(json_object_get(x, "arguments")));
    json_decref(x);
    x = mt_api(&srv, "GET", "/api/exchanges/%2F/amq.default", NULL, 200);
    ck_assert_str_eq(jstr(x, "name"), "");
    ck_assert_str_eq(jstr(x, "type"), "direct");
    json_decref(x);

    json_t *all = mt_api(&srv, "GET", "/api/exchanges", NULL, 200);
    ck_assert_ptr_nonnull(find_by(all, "name", ""));
    ck_assert_ptr_nonnull(find_by(all, "name", "amq.topic"));
    ck_assert_ptr_nonnull(find_by(all, "name", "ex.t"));
    json_decref(all);

    expect_error(srv.api_port, "DELETE", "/api/exchanges/%2F/amq.direct", "guest:guest", NULL,
                 401, "not_authorized", NULL);
    json_decref(mt_api(&srv, "DELETE", "/api/exchanges/%2F/ex.t", NULL, 204));
    expect_error(srv.api_port, "DELETE", "/api/exchanges/%2F/ex.t", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
}
END_TEST

START_TEST(test_bindings)
{
    json_decref(mt_api(&srv, "PUT", "/api/exchanges/%2F/bx", "{\"type\":\"topic\"}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/exchanges/%2F/bx2", "{\"type\":\"fanout\"}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/bq", "{}", 201));
    struct mt_resp r;
    mt_http(srv.api_port, "POST", "/api/bindings/%2F/e/bx/q/bq", "guest:guest",
            "{\"routing_key\":\"a.#\",\"arguments\":{}}", &r);
    ck_assert_int_eq(r.status, 201);
    char loc[512];
    ck_assert_ptr_nonnull(mt_header(&r, "location", loc, sizeof(loc)));
    ck_assert_msg(strstr(loc, "/api/bindings/%2F/e/bx/q/bq/a.%23") != NULL, "Location %s", loc);
    free(r.body);
    json_decref(mt_api(&srv, "POST", "/api/bindings/%2F/e/bx/e/bx2",
                       "{\"routing_key\":\"k\"}", 201));
    expect_error(srv.api_port, "POST", "/api/bindings/%2F/e/bx/q/nope", "guest:guest",
                 "{\"routing_key\":\"k\"}", 404, "not_found", "no queue 'nope'");
    expect_error(srv.api_port, "POST", "/api/bindings/%2F/e/amq.default/q/bq", "guest:guest",
                 "{\"routing_key\":\"k\"}", 401, "not_authorized", NULL);

    publish("bx", "a.b.c", "routed", true);
    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/bq", NULL, 200);
    ck_assert_int_eq(jint(q, "messages"), 1);
    json_decref(q);

    json_t *b = mt_api(&srv, "GET", "/api/bindings/%2F/e/bx/q/bq", NULL, 200);
    ck_assert_int_eq(json_array_size(b), 1);
    json_t *b0 = json_array_get(b, 0);
    ck_assert_str_eq(jstr(b0, "source"), "bx");
    ck_assert_str_eq(jstr(b0, "destination"), "bq");
    ck_assert_str_eq(jstr(b0, "destination_type"), "queue");
    ck_assert_str_eq(jstr(b0, "routing_key"), "a.#");
    ck_assert_str_eq(jstr(b0, "properties_key"), "a.%23");
    json_decref(b);

    json_t *all = mt_api(&srv, "GET", "/api/bindings/%2F", NULL, 200);
    /* the default exchange's binding of bq, bx -> bq, bx -> bx2 */
    ck_assert_int_eq(json_array_size(all), 3);
    json_decref(all);
    json_t *qb = mt_api(&srv, "GET", "/api/queues/%2F/bq/bindings", NULL, 200);
    ck_assert_int_eq(json_array_size(qb), 2);
    ck_assert_ptr_nonnull(find_by(qb, "source", ""));
    json_decref(qb);
    json_t *src = mt_api(&srv, "GET", "/api/exchanges/%2F/bx/bindings/source", NULL, 200);
    ck_assert_int_eq(json_array_size(src), 2);
    json_decref(src);
    json_t *dst = mt_api(&srv, "GET", "/api/exchanges/%2F/bx2/bindings/destination", NULL, 200);
    ck_assert_int_eq(json_array_size(dst), 1);
    json_decref(dst);

    json_t *one = mt_api(&srv, "GET", "/api/bindings/%2F/e/bx/q/bq/a.%23", NULL, 200);
    ck_assert_str_eq(jstr(one, "routing_key"), "a.#");
    json_decref(one);
    json_decref(mt_api(&srv, "DELETE", "/api/bindings/%2F/e/bx/q/bq/a.%23", NULL, 204));
    json_decref(mt_api(&srv, "DELETE", "/api/bindings/%2F/e/bx/e/bx2/k", NULL, 204));
    expect_error(srv.api_port, "DELETE", "/api/bindings/%2F/e/bx/q/bq/a.%23", "guest:guest",
                 NULL, 404, "Object Not Found", NULL);
    b = mt_api(&srv, "GET", "/api/bindings/%2F/e/bx/q/bq", NULL, 200);
    ck_assert_int_eq(json_array_size(b), 0);
    json_decref(b);
    publish("bx", "a.b.c", "dropped", false);
}
END_TEST

/* ---- vhosts and health ------------------------------------------------------------------ */

START_TEST(test_vhosts_health)
{
    json_t *v = mt_api(&srv, "GET", "/api/vhosts", NULL, 200);
    ck_assert_ptr_nonnull(find_by(v, "name", "/"));
    json_decref(v);
    v = mt_api(&srv, "GET", "/api/vhosts/%2F", NULL, 200);
    ck_assert_str_eq(jstr(v, "name"), "/");
    ck_assert_int_eq(jint(v, "messages"), 0);
    json_decref(v);
    expect_error(srv.api_port, "GET", "/api/vhosts/nope", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    json_t *a = mt_api(&srv, "GET", "/api/aliveness-test/%2F", NULL, 200);
    ck_assert_str_eq(jstr(a, "status"), "ok");
    json_decref(a);
    expect_error(srv.api_port, "GET", "/api/aliveness-test/nope", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    json_t *h = mt_api(&srv, "GET", "/api/health/checks/alarms", NULL, 200);
    ck_assert_str_eq(jstr(h, "status"), "ok");
    json_decref(h);
}
END_TEST

/* ---- connections, channels, consumers with a live client ------------------------------------ */

static json_t *get_list(const char *path)
{
    json_t *j = mt_api(&srv, "GET", path, NULL, 200);
    ck_assert(json_is_array(j));
    return j;
}

START_TEST(test_connections)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &srv.s, 1);
    ctm_send_queue_declare(&c, 1, "cq", 0, NULL);
    ct_expect_method(&c, &f, 1, 50, CTM_QUEUE_DECLARE_OK);
    raw_frame_free(&f);
    ctm_send_basic_consume(&c, 1, "cq", "my-tag", 0, NULL);
    ct_expect_method(&c, &f, 1, 60, CTM_BASIC_CONSUME_OK);
    raw_frame_free(&f);

    ctm_send_queue_declare(&c, 1, "exq", CTM_Q_EXCLUSIVE, NULL);
    ct_expect_method(&c, &f, 1, 50, CTM_QUEUE_DECLARE_OK);
    raw_frame_free(&f);
    /* the API acts on exclusive queues as their owner */
    json_t *xq = mt_api(&srv, "GET", "/api/queues/%2F/exq", NULL, 200);
    ck_assert(json_is_true(json_object_get(xq, "exclusive")));
    json_decref(xq);
    json_decref(mt_api(&srv, "DELETE", "/api/queues/%2F/exq/contents", NULL, 204));

    json_t *conns = get_list("/api/connections");
    ck_assert_int_eq(json_array_size(conns), 1);
    json_t *c0 = json_array_get(conns, 0);
    ck_assert_str_eq(jstr(c0, "user"), "guest");
    ck_assert_str_eq(jstr(c0, "vhost"), "/");
    ck_assert_str_eq(jstr(c0, "state"), "running");
    ck_assert_str_eq(jstr(c0, "protocol"), "AMQP 0-9-1");
    ck_assert_int_eq(jint(c0, "channels"), 1);
    ck_assert_str_eq(jstr(c0, "peer_host"), "127.0.0.1");
    ck_assert_int_eq(jint(c0, "port"), srv.s.port);
    char name[256];
    snprintf(name, sizeof(name), "%s", jstr(c0, "name"));
    ck_assert_msg(strstr(name, " -> ") != NULL, "connection name %s", name);
    json_decref(conns);

    json_t *chans = get_list("/api/channels");
    ck_assert_int_eq(json_array_size(chans), 1);
    json_t *ch = json_array_get(chans, 0);
    ck_assert_int_eq(jint(ch, "number"), 1);
    ck_assert_int_eq(jint(ch, "consumer_count"), 1);
    ck_assert_str_eq(jstr(json_object_get(ch, "connection_details"), "name"), name);
    json_decref(chans);

    json_t *cons = get_list("/api/consumers");
    ck_assert_int_eq(json_array_size(cons), 1);
    json_t *k = json_array_get(cons, 0);
    ck_assert_str_eq(jstr(k, "consumer_tag"), "my-tag");
    ck_assert_str_eq(jstr(json_object_get(k, "queue"), "name"), "cq");
    ck_assert(json_is_true(json_object_get(k, "ack_required")));
    json_decref(cons);
    cons = get_list("/api/consumers/%2F");
    ck_assert_int_eq(json_array_size(cons), 1);
    json_decref(cons);
    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/cq", NULL, 200);
    ck_assert_int_eq(jint(q, "consumers"), 1);
    json_decref(q);

    /* the connection by name: "127.0.0.1:p -> 127.0.0.1:q" %-encoded */
    char enc[512] = "/api/connections/";
    size_t n = strlen(enc);
    for (const char *p = name; *p; p++)
        n += (size_t)snprintf(enc + n, sizeof(enc) - n,
                              (*p == ' ' || *p == '>' || *p == ':') ? "%%%02X" : "%c",
                              (unsigned char)*p);
    json_t *one = mt_api(&srv, "GET", enc, NULL, 200);
    ck_assert_str_eq(jstr(one, "name"), name);
    json_decref(one);
    char chpath[600];
    snprintf(chpath, sizeof(chpath), "%s/channels", enc);
    json_t *cc = get_list(chpath);
    ck_assert_int_eq(json_array_size(cc), 1);
    json_decref(cc);

    json_decref(mt_api(&srv, "DELETE", enc, NULL, 204));
    ct_expect_connection_close(&c, 320, "CONNECTION_FORCED|Closed via management plugin", 0, 0);
    raw_close(&c);
    expect_error(srv.api_port, "DELETE", "/api/connections/no%20such", "guest:guest", NULL,
                 404, "Object Not Found", NULL);
}
END_TEST

/* ---- access by tag ---------------------------------------------------------------------------- */

static const char defs[] =
    "{\"users\":["
    "{\"name\":\"guest\",\"password\":\"guest\",\"tags\":\"administrator\"},"
    "{\"name\":\"mon\",\"password\":\"pw\",\"tags\":\"monitoring\"},"
    "{\"name\":\"mgr\",\"password\":\"pw\",\"tags\":\"management\"},"
    "{\"name\":\"plain\",\"password\":\"pw\",\"tags\":\"\"}],"
    "\"vhosts\":[{\"name\":\"/\"},{\"name\":\"other\"}],"
    "\"permissions\":["
    "{\"user\":\"guest\",\"vhost\":\"/\",\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"},"
    "{\"user\":\"guest\",\"vhost\":\"other\",\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"},"
    "{\"user\":\"mgr\",\"vhost\":\"/\",\"configure\":\"^mgr-\",\"write\":\".*\",\"read\":\".*\"},"
    "{\"user\":\"plain\",\"vhost\":\"/\",\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}]}";

START_TEST(test_access_by_tag)
{
    HARNESS_NEEDS_OWN_SERVER();
    harness_stop(&srv.s);
    char conf[1024];
    snprintf(conf, sizeof(conf), "load_definitions = %s\n", harness_write_file("defs.json", defs));
    mt_start(&srv, conf);
    uint16_t p = srv.api_port;
    expect_error(p, "GET", "/api/overview", "plain:pw", NULL, 401, "not_authorized",
                 "Not management user");
    expect_error(p, "GET", "/api/whoami", "mgr:wrong", NULL, 401, "not_authorized",
                 "Login failed");
    struct mt_resp r;
    mt_http(p, "GET", "/api/whoami", "mgr:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"management\"") != NULL, "%s", r.body);
    free(r.body);
    mt_http(p, "GET", "/api/whoami", "mon:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"monitoring\"") != NULL, "%s", r.body);
    free(r.body);

    /* management: only the vhosts it has permissions in */
    mt_http(p, "GET", "/api/vhosts", "mgr:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"other\"") == NULL, "%s", r.body);
    free(r.body);
    expect_error(p, "GET", "/api/queues/other", "mgr:pw", NULL, 401, "not_authorized", NULL);
    mt_http(p, "GET", "/api/exchanges", "mgr:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"vhost\":\"other\"") == NULL, "%s", r.body);
    free(r.body);
    /* monitoring sees every vhost */
    mt_http(p, "GET", "/api/vhosts", "mon:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"other\"") != NULL, "%s", r.body);
    free(r.body);

    /* resource permissions as over AMQP: configure ^mgr- */
    mt_http(p, "PUT", "/api/queues/%2F/mgr-q", "mgr:pw", "{}", &r);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    expect_error(p, "PUT", "/api/queues/%2F/other-q", "mgr:pw", "{}", 401, "not_authorized",
                 "access to queue 'other-q' in vhost '/' refused for user 'mgr'");
    mt_http(p, "PUT", "/api/queues/%2F/other-q", "guest:guest", "{}", &r);
    ck_assert_int_eq(r.status, 201);
    free(r.body);
    expect_error(p, "DELETE", "/api/queues/%2F/other-q", "mgr:pw", NULL, 401, "not_authorized",
                 "refused");
    /* monitoring has no vhost permissions: no declaring */
    expect_error(p, "PUT", "/api/queues/%2F/mon-q", "mon:pw", "{}", 401, "not_authorized",
                 NULL);
    /* closing someone else's connection is not for management users */
    expect_error(p, "DELETE", "/api/connections/x", "mgr:pw", NULL, 404, "Object Not Found",
                 NULL);
}
END_TEST

/* ---- users, permissions, vhosts, definitions ------------------------------------------------- */

START_TEST(test_users_vhosts_definitions)
{
    uint16_t p = srv.api_port;
    json_decref(mt_api(&srv, "PUT", "/api/users/bob", "{\"password\":\"pw\",\"tags\":\"management\"}",
                       201));
    json_decref(mt_api(&srv, "PUT", "/api/users/bob",
                       "{\"password\":\"pw\",\"tags\":[\"management\"]}", 204));
    json_t *u = mt_api(&srv, "GET", "/api/users/bob", NULL, 200);
    ck_assert_str_eq(jstr(u, "name"), "bob");
    ck_assert_str_eq(jstr(u, "hashing_algorithm"), "rabbit_password_hashing_sha256");
    ck_assert(strlen(jstr(u, "password_hash")) > 0);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(u, "tags"), 0)),
                     "management");
    json_decref(u);
    json_t *all = mt_api(&srv, "GET", "/api/users", NULL, 200);
    ck_assert_ptr_nonnull(find_by(all, "name", "guest"));
    ck_assert_ptr_nonnull(find_by(all, "name", "bob"));
    json_decref(all);
    expect_error(p, "GET", "/api/users/nobody", "guest:guest", NULL, 404, "Object Not Found",
                 NULL);
    struct mt_resp r;
    mt_http(p, "GET", "/api/whoami", "bob:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    expect_error(p, "GET", "/api/users", "bob:pw", NULL, 401, "not_authorized",
                 "Not administrator user");
    expect_error(p, "GET", "/api/definitions", "bob:pw", NULL, 401, "not_authorized",
                 "Not administrator user");
    expect_error(p, "PUT", "/api/vhosts/bobs", "bob:pw", "{}", 401, "not_authorized", NULL);

    json_decref(mt_api(&srv, "PUT", "/api/vhosts/v2", NULL, 201));
    json_decref(mt_api(&srv, "PUT", "/api/vhosts/v2", "{}", 204));
    json_decref(mt_api(&srv, "GET", "/api/vhosts/v2", NULL, 200));
    /* bob has no permissions in v2 yet */
    expect_error(p, "GET", "/api/queues/v2", "bob:pw", NULL, 401, "not_authorized", NULL);
    json_decref(mt_api(&srv, "PUT", "/api/permissions/v2/bob",
                       "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/permissions/v2/bob",
                       "{\"configure\":\"^b\",\"write\":\".*\",\"read\":\".*\"}", 204));
    expect_error(p, "PUT", "/api/permissions/v2/bob", "guest:guest", "{\"configure\":\".*\"}",
                 400, "bad_request", NULL);
    expect_error(p, "PUT", "/api/permissions/v2/nobody", "guest:guest",
                 "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 404,
                 "Object Not Found", NULL);
    json_t *pm = mt_api(&srv, "GET", "/api/permissions/v2/bob", NULL, 200);
    ck_assert_str_eq(jstr(pm, "configure"), "^b");
    ck_assert_str_eq(jstr(pm, "vhost"), "v2");
    json_decref(pm);
    json_t *l = mt_api(&srv, "GET", "/api/users/bob/permissions", NULL, 200);
    ck_assert_int_eq(json_array_size(l), 1);
    json_decref(l);
    l = mt_api(&srv, "GET", "/api/vhosts/v2/permissions", NULL, 200);
    ck_assert_int_eq(json_array_size(l), 1);
    json_decref(l);
    l = mt_api(&srv, "GET", "/api/permissions", NULL, 200);
    ck_assert_int_ge(json_array_size(l), 2);
    json_decref(l);
    mt_http(p, "GET", "/api/queues/v2", "bob:pw", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);

    json_t *d = mt_api(&srv, "GET", "/api/definitions", NULL, 200);
    ck_assert(json_is_array(json_object_get(d, "users")));
    ck_assert(json_is_array(json_object_get(d, "vhosts")));
    ck_assert(json_is_array(json_object_get(d, "permissions")));
    ck_assert(json_is_array(json_object_get(d, "queues")));
    json_decref(d);
    json_decref(mt_api(&srv, "POST", "/api/definitions",
                       "{\"queues\":[{\"name\":\"dq\",\"vhost\":\"v2\",\"durable\":true,"
                       "\"auto_delete\":false,\"arguments\":{}}]}", 204));
    json_decref(mt_api(&srv, "GET", "/api/queues/v2/dq", NULL, 200));
    expect_error(p, "POST", "/api/definitions", "guest:guest", "{nope", 400, "bad_request",
                 NULL);

    json_decref(mt_api(&srv, "DELETE", "/api/permissions/v2/bob", NULL, 204));
    expect_error(p, "DELETE", "/api/permissions/v2/bob", "guest:guest", NULL, 404,
                 "Object Not Found", NULL);
    json_decref(mt_api(&srv, "DELETE", "/api/vhosts/v2", NULL, 204));
    expect_error(p, "GET", "/api/vhosts/v2", "guest:guest", NULL, 404, "Object Not Found", NULL);
    expect_error(p, "DELETE", "/api/vhosts/v2", "guest:guest", NULL, 404, "Object Not Found",
                 NULL);
    json_decref(mt_api(&srv, "DELETE", "/api/users/bob", NULL, 204));
    expect_error(p, "GET", "/api/whoami", "bob:pw", NULL, 401, "not_authorized", "Login failed");
    expect_error(p, "DELETE", "/api/users/bob", "guest:guest", NULL, 404, "Object Not Found",
                 NULL);
}
END_TEST

/* ---- hostile requests ----------------------------------------------------------------------- */

/* Send raw bytes, read whatever comes back until the server closes (or 5 s). */
static void raw_http(uint16_t port, const char *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    (void)!send(fd, data, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    char buf[4096];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0 || recv(fd, buf, sizeof(buf), 0) <= 0)
            break;
    }
    close(fd);
}

START_TEST(test_hostile_requests)
{
    static const char *const reqs[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /api/overview HTTP/9.9\r\n\r\n",
        "GET /api/overview HTTP/1.1\r\nAuthorization: Basic !!!!\r\n\r\n",
        "GET /api/overview HTTP/1.1\r\nAuthorization: Basic Z3Vlc3Q=\r\n\r\n",
        "GET /api/overview HTTP/1.1\r\nAuthorization: Basic Z3Vlc3QAOmd1ZXN0\r\n\r\n",
        "GET /api/queues/%2F/%00x HTTP/1.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n",
        "GET /api/queues/%2 HTTP/1.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n",
        "PUT /api/queues/%2F/x HTTP/1.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n"
        "Content-Length: 100\r\n\r\n{\"durable\"",
        "POST /api/definitions HTTP/1.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n"
        "Content-Length: 5\r\n\r\n\xff\xfe\x00{}",
        "POST /api/exchanges/%2F/amq.default/publish HTTP/1.1\r\n"
        "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nContent-Length: 9999999999999\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        raw_http(srv.api_port, reqs[i], strlen(reqs[i]));
    /* deep paths, many parameters, deep JSON */
    char big[70000];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET /api");
    while (n < 20000)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "/a");
    n += (size_t)snprintf(big + n, sizeof(big) - n, "?");
    while (n < 40000)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "k=v&");
    n += (size_t)snprintf(big + n, sizeof(big) - n,
                          " HTTP/1.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n");
    raw_http(srv.api_port, big, n);
    char *deep = malloc(200100);
    ck_assert(deep != NULL);
    size_t d = 0;
    d += (size_t)sprintf(deep, "{\"arguments\":");
    for (int i = 0; i < 50000; i++)
        deep[d++] = '[';
    deep[d] = '\0';
    struct mt_resp r;
    mt_http(srv.api_port, "PUT", "/api/queues/%2F/deep", "guest:guest", deep, &r);
    ck_assert_int_eq(r.status, 400);
    free(r.body);
    free(deep);
    mt_http(srv.api_port, "PUT", "/api/queues/%2F/nested", "guest:guest",
            "{\"arguments\":{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}}}}", &r);
    ck_assert_msg(r.status == 201 || r.status == 400, "status %d: %s", r.status, r.body);
    free(r.body);
    /* still serving, still correct */
    json_t *w = mt_api(&srv, "GET", "/api/whoami", NULL, 200);
    ck_assert_str_eq(jstr(w, "name"), "guest");
    json_decref(w);
    mt_http(srv.api_port, "HEAD", "/api/overview", "guest:guest", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.body_len, 0);
    free(r.body);
}
END_TEST

/* ---- durability of what the API did ------------------------------------------------------------- */

START_TEST(test_api_publish_survives_kill9)
{
    HARNESS_NEEDS_OWN_SERVER();
    harness_stop(&srv.s);
    char conf[1024];
    snprintf(conf, sizeof(conf), "data_dir = %s/apikill\n", harness_scratch_dir());
    mt_start(&srv, conf);
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/dur", "{\"durable\":true}", 201));
    for (int i = 0; i < 3; i++)
        json_decref(mt_api(&srv, "POST", "/api/exchanges/%2F/amq.default/publish",
                           "{\"properties\":{\"delivery_mode\":2},\"routing_key\":\"dur\","
                           "\"payload\":\"kept\",\"payload_encoding\":\"string\"}", 200));
    /* one taken away through the API: its ack is written too */
    json_decref(mt_api(&srv, "POST", "/api/queues/%2F/dur/get",
                       "{\"count\":1,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}",
                       200));
    int status;
    ck_assert(harness_signal_wait(&srv.s, SIGKILL, 10000, &status));
    mt_start(&srv, conf);
    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/dur", NULL, 200);
    ck_assert_int_eq(jint(q, "messages"), 2);
    json_decref(q);
}
END_TEST

/* ---- issue 8 polish: client properties, byte counters, live totals, vhost walk, paging -------- */

static double metric_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = text; l && *l;) {
        if (strncmp(l, name, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
        const char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : NULL;
    }
    ck_abort_msg("metric %s missing", name);
    return 0;
}

static char *fetch_metrics(void)
{
    struct mt_resp r;
    mt_http(srv.prom_port, "GET", "/metrics", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    return r.body;
}

START_TEST(test_connection_props_and_bytes)
{
    struct raw_conn c;
    ct_open_channel(&c, &srv.s, 1);
    json_t *conns = get_list("/api/connections");
    ck_assert_int_eq(json_array_size(conns), 1);
    json_t *c0 = json_array_get(conns, 0);
    /* start-ok's client properties, as RabbitMQ shows them */
    json_t *cp = json_object_get(c0, "client_properties");
    ck_assert(json_is_object(cp));
    ck_assert_str_eq(jstr(cp, "product"), "edad-conformance");
    ck_assert_str_eq(jstr(cp, "platform"), "C");
    json_t *caps = json_object_get(cp, "capabilities");
    ck_assert(json_is_object(caps));
    ck_assert(json_is_true(json_object_get(caps, "basic.nack")));
    ck_assert(json_is_true(json_object_get(caps, "authentication_failure_close")));
    /* the handshake so far: protocol header, start-ok, tune-ok, open, channel.open */
    json_int_t recv = jint(c0, "recv_oct"), sent = jint(c0, "send_oct");
    ck_assert_msg(recv > 8 + 4 * 12, "recv_oct %lld", (long long)recv);
    ck_assert_msg(sent > 0, "send_oct %lld", (long long)sent);
    ck_assert_int_ge(jint(c0, "recv_cnt"), 1);
    json_decref(conns);

    /* more input counts */
    struct raw_frame f;
    ctm_send_queue_declare(&c, 1, "bytes-q", 0, NULL);
    ct_expect_method(&c, &f, 1, 50, CTM_QUEUE_DECLARE_OK);
    raw_frame_free(&f);
    conns = get_list("/api/connections");
    json_int_t recv2 = jint(json_array_get(conns, 0), "recv_oct");
    ck_assert_msg(recv2 > recv, "recv_oct %lld after %lld", (long long)recv2, (long long)recv);
    json_decref(conns);

    /* the totals cover open connections ... */
    json_t *ov = mt_api(&srv, "GET", "/api/overview", NULL, 200);
    ck_assert_int_ge(jint(ov, "recv_oct"), recv2);
    ck_assert_int_ge(jint(ov, "send_oct"), sent);
    json_decref(ov);
    char *text = fetch_metrics();
    ck_assert(strstr(text, "# TYPE edad_bytes_received_total counter") != NULL);
    ck_assert(strstr(text, "# TYPE edad_bytes_sent_total counter") != NULL);
    ck_assert(metric_value(text, "edad_bytes_received_total") >= (double)recv2);
    ck_assert(metric_value(text, "edad_bytes_sent_total") >= (double)sent);
    free(text);

    /* ... and closed ones (counters, not gauges) */
    raw_close(&c);
    size_t open = 1;
    for (int i = 0; i < 1000 && open; i++) {
        conns = get_list("/api/connections");
        open = json_array_size(conns);
        json_decref(conns);
        if (open)
            usleep(10000);
    }
    ck_assert_uint_eq(open, 0);
    text = fetch_metrics();
    ck_assert(metric_value(text, "edad_connections_received_bytes") == 0);
    ck_assert(metric_value(text, "edad_bytes_received_total") >= (double)recv2);
    ck_assert(metric_value(text, "edad_bytes_sent_total") >= (double)sent);
    free(text);
    ov = mt_api(&srv, "GET", "/api/overview", NULL, 200);
    ck_assert_int_ge(jint(ov, "recv_oct"), recv2);
    json_decref(ov);
}
END_TEST

START_TEST(test_overview_counters_live)
{
    /* right after start the sampler has at most one sample: counters must
       still be the live values, only the rates wait for two samples */
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/live-q", "{}", 201));
    publish("amq.default", "live-q", "one", true);
    publish("amq.default", "live-q", "two", true);
    publish("amq.default", "live-q", "three", true);
    json_t *got = mt_api(&srv, "POST", "/api/queues/%2F/live-q/get",
                         "{\"count\":1,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}",
                         200);
    ck_assert_int_eq(json_array_size(got), 1);
    json_decref(got);
    json_t *ov = mt_api(&srv, "GET", "/api/overview", NULL, 200);
    json_t *ms = json_object_get(ov, "message_stats");
    ck_assert(json_is_object(ms));
    ck_assert_int_eq(jint(ms, "publish"), 3);
    ck_assert_int_eq(jint(ms, "get"), 1);
    ck_assert_int_eq(jint(ms, "deliver_get"), 1);
    ck_assert(json_is_object(json_object_get(ms, "publish_details")));
    json_t *qt = json_object_get(ov, "queue_totals");
    ck_assert_int_eq(jint(qt, "messages_ready"), 2);
    json_decref(ov);
    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/live-q", NULL, 200);
    ck_assert_int_eq(jint(json_object_get(q, "message_stats"), "publish"), 3);
    json_decref(q);
}
END_TEST

START_TEST(test_vhost_walk_and_paging_fields)
{
    /* every vhost is walked, in name order */
    json_decref(mt_api(&srv, "PUT", "/api/vhosts/zz-last", NULL, 201));
    json_decref(mt_api(&srv, "PUT", "/api/vhosts/aa-first", NULL, 201));
    static const char perm[] = "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}";
    json_decref(mt_api(&srv, "PUT", "/api/permissions/zz-last/guest", perm, 201));
    json_decref(mt_api(&srv, "PUT", "/api/permissions/aa-first/guest", perm, 201));
    json_decref(mt_api(&srv, "PUT", "/api/queues/zz-last/qz", "{}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/queues/aa-first/qa", "{}", 201));
    json_t *v = get_list("/api/vhosts");
    ck_assert_int_eq(json_array_size(v), 3);
    ck_assert_str_eq(jstr(json_array_get(v, 0), "name"), "/");
    ck_assert_str_eq(jstr(json_array_get(v, 1), "name"), "aa-first");
    ck_assert_str_eq(jstr(json_array_get(v, 2), "name"), "zz-last");
    json_decref(v);
    json_t *qs = get_list("/api/queues");
    ck_assert_int_eq(json_array_size(qs), 2);
    ck_assert_ptr_nonnull(find_by(qs, "name", "qa"));
    ck_assert_ptr_nonnull(find_by(qs, "name", "qz"));
    json_decref(qs);
    json_t *ov = mt_api(&srv, "GET", "/api/overview", NULL, 200);
    ck_assert_int_eq(jint(json_object_get(ov, "object_totals"), "queues"), 2);
    json_decref(ov);
    json_decref(mt_api(&srv, "DELETE", "/api/vhosts/aa-first", NULL, 204));
    qs = get_list("/api/queues");
    ck_assert_int_eq(json_array_size(qs), 1);
    json_decref(qs);

    /* RabbitMQ's paging fields: nothing is paged out in a small queue */
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/pf", "{}", 201));
    publish("amq.default", "pf", "hello", true);
    json_t *q = mt_api(&srv, "GET", "/api/queues/%2F/pf", NULL, 200);
    ck_assert_int_eq(jint(q, "messages_paged_out"), 0);
    ck_assert_int_eq(jint(q, "message_bytes_paged_out"), 0);
    ck_assert_int_eq(jint(q, "messages_ram"), 1);
    ck_assert_int_eq(jint(q, "message_bytes_ram"), 5);
    ck_assert_int_ge(jint(q, "memory"), 5);
    json_decref(q);
}
END_TEST

int main(void)
{
    int rc = harness_init("check_api");
    if (rc)
        return rc;
    Suite *s = suite_create("mgmt_api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_auth_and_errors);
    tcase_add_test(tc, test_overview_whoami);
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_queue_crud);
    tcase_add_test(tc, test_publish_get_purge);
    tcase_add_test(tc, test_pagination);
    tcase_add_test(tc, test_exchanges);
    tcase_add_test(tc, test_bindings);
    tcase_add_test(tc, test_vhosts_health);
    tcase_add_test(tc, test_connections);
    tcase_add_test(tc, test_access_by_tag);
    tcase_add_test(tc, test_users_vhosts_definitions);
    tcase_add_test(tc, test_hostile_requests);
    tcase_add_test(tc, test_api_publish_survives_kill9);
    tcase_add_test(tc, test_connection_props_and_bytes);
    tcase_add_test(tc, test_overview_counters_live);
    tcase_add_test(tc, test_vhost_walk_and_paging_fields);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    return harness_run(sr);
}
