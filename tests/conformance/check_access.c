/*
 * check_access.c - issue 7 through real sockets with rabbitmq-c: logins
 * against the user store, vhost access (530), every permission refusal of
 * RabbitMQ's table with RabbitMQ 3.10's texts (403), vhost limits (530 at
 * connection.open, 406 at queue.declare), users surviving a restart, and
 * `edad --export-definitions`.  Users come from load_definitions, so every
 * test needs its own edad (they skip under EDAD_TEST_ADDR).  The expected
 * texts were taken from Debian's RabbitMQ 3.10.8 (tests/tools/with-rabbitmq.sh).
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static struct harness_server srv;

/* alice: administrator, everything on "/"; carol: ^c- names on "/" and all of
 * "lim"; dave: no permissions; "lim" allows 1 connection and 1 queue. */
static const char defs_json[] =
    "{\"rabbit_version\":\"3.10.8\","
    "\"users\":["
    "{\"name\":\"alice\",\"password_hash\":\"gBjlpni+2uHXo3NPPR0mMcLiGtGfdxFo+40K7FnLvLhZZXE7\","
    "\"hashing_algorithm\":\"rabbit_password_hashing_sha256\",\"tags\":[\"administrator\"],"
    "\"limits\":{}},"
    "{\"name\":\"carol\",\"password\":\"carolpw\",\"tags\":[]},"
    "{\"name\":\"dave\",\"password\":\"davepw\",\"tags\":\"management\"}],"
    "\"vhosts\":[{\"name\":\"/\"},{\"name\":\"lim\"}],"
    "\"permissions\":["
    "{\"user\":\"alice\",\"vhost\":\"/\",\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"},"
    "{\"user\":\"carol\",\"vhost\":\"/\",\"configure\":\"^c-.*\",\"write\":\"^c-.*\","
    "\"read\":\"^c-.*\"},"
    "{\"user\":\"carol\",\"vhost\":\"lim\",\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}],"
    "\"parameters\":[{\"vhost\":\"lim\",\"component\":\"vhost-limits\",\"name\":\"limits\","
    "\"value\":{\"max-connections\":1,\"max-queues\":1}}],"
    "\"policies\":[],"
    "\"queues\":[{\"name\":\"work\",\"vhost\":\"/\",\"durable\":true,\"auto_delete\":false,"
    "\"arguments\":{}}],"
    "\"exchanges\":[],\"bindings\":[]}";

/* "load_definitions = PATH" plus loopback_users = none (the path is static). */
static const char *defs_conf(void)
{
    static char conf[1200];
    const char *path = harness_write_file("defs.json", defs_json);
    snprintf(conf, sizeof(conf), "load_definitions = %s\nloopback_users = none\n", path);
    return conf;
}

static void start_with_defs(void)
{
    harness_start(&srv, defs_conf());
}

static void teardown(void)
{
    harness_stop(&srv);
}

/* Connect and log in; *r gets amqp_login's reply. */
static amqp_connection_state_t login(const char *vhost, const char *user, const char *pw,
                                     amqp_rpc_reply_t *r)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(c);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    amqp_set_handshake_timeout(c, &tv);
    amqp_set_rpc_timeout(c, &tv);
    ck_assert(amqp_socket_open_noblock(sock, srv.host, srv.port, &tv) == AMQP_STATUS_OK);
    *r = amqp_login(c, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, pw);
    return c;
}

static amqp_connection_state_t login_ok(const char *vhost, const char *user, const char *pw)
{
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = login(vhost, user, pw, &r);
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "login of %s to %s failed", user, vhost);
    return c;
}

static void done(amqp_connection_state_t c)
{
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

static void check_text(amqp_bytes_t text, const char *want)
{
    char got[512];
    snprintf(got, sizeof(got), "%.*s", (int)text.len, (const char *)text.bytes);
    ck_assert_msg(strstr(got, want) != NULL, "reply text '%s' lacks '%s'", got, want);
}

/* The login was refused with connection.close code and a text containing want. */
static void expect_login_refused(const char *vhost, const char *user, const char *pw,
                                 uint16_t code, const char *want)
{
    amqp_rpc_reply_t r;
    amqp_connection_state_t c = login(vhost, user, pw, &r);
    ck_assert_msg(r.reply_type != AMQP_RESPONSE_NORMAL, "login of %s to %s succeeded", user,
                  vhost);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
        ck_assert_uint_eq(r.reply.id, AMQP_CONNECTION_CLOSE_METHOD);
        amqp_connection_close_t *cl = r.reply.decoded;
        ck_assert_uint_eq(cl->reply_code, code);
        check_text(cl->reply_text, want);
    } else {
        /* rabbitmq-c reports a refused login (403 at start-ok) as a library error */
        ck_assert_uint_eq(code, 403);
    }
    amqp_destroy_connection(c);
}

/* The last RPC on ch failed with channel.close code / text; answer close-ok. */
static void expect_channel_error(amqp_connection_state_t c, uint16_t ch, uint16_t code,
                                 const char *want)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_SERVER_EXCEPTION);
    ck_assert_uint_eq(r.reply.id, AMQP_CHANNEL_CLOSE_METHOD);
    amqp_channel_close_t *cl = r.reply.decoded;
    ck_assert_uint_eq(cl->reply_code, code);
    check_text(cl->reply_text, want);
    amqp_channel_close_ok_t ok = {0};
    amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
}

static void expect_ok(amqp_connection_state_t c, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "%s failed", what);
}

static amqp_table_t one_arg(amqp_table_entry_t *e, const char *key, const char *val)
{
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(val);
    return (amqp_table_t){1, e};
}

#define S(x) amqp_cstring_bytes(x)

/* ---- logins and vhost access ----------------------------------------------------------- */

START_TEST(test_logins)
{
    HARNESS_NEEDS_OWN_SERVER();
    start_with_defs();
    /* a hash written by RabbitMQ logs in; wrong passwords and unknown users do not */
    done(login_ok("/", "alice", "alicepw"));
    done(login_ok("/", "carol", "carolpw"));
    expect_login_refused("/", "alice", "wrong", 403, "Login was refused");
    expect_login_refused("/", "nobody", "x", 403, "Login was refused");
    /* load_definitions on a new node: no default user (RabbitMQ) */
    expect_login_refused("/", "guest", "guest", 403, "Login was refused");
    /* no permissions in the vhost: 530 at connection.open */
    expect_login_refused("/", "dave", "davepw", 530,
                         "NOT_ALLOWED - access to vhost '/' refused for user 'dave'");
    expect_login_refused("nope", "carol", "carolpw", 530, "vhost nope not found");
    /* a loopback_users entry still connects over loopback */
    harness_stop(&srv);
    char conf[1300];
    snprintf(conf, sizeof(conf), "%sloopback_users.carol = true\n", defs_conf());
    harness_start(&srv, conf);
    done(login_ok("/", "carol", "carolpw"));
}
END_TEST

/* ---- permissions ------------------------------------------------------------------------- */

START_TEST(test_configure_permissions)
{
    HARNESS_NEEDS_OWN_SERVER();
    start_with_defs();
    amqp_connection_state_t c = login_ok("/", "carol", "carolpw");
    amqp_table_entry_t e;
    uint16_t ch = 1;

    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("zz"), 0, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "ACCESS_REFUSED - access to queue 'zz' in vhost '/' "
                                       "refused for user 'carol'");
    /* the generated name of a server-named queue is what is checked */
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S(""), 0, 0, 1, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to queue 'amq.gen-");
    /* the reserved prefix is refused first, by name */
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("amq.foo"), 0, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "queue name 'amq.foo' contains reserved prefix 'amq.*'");
    /* redeclaring an existing queue still needs configure */
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("work"), 0, 1, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to queue 'work' in vhost '/'");
    /* passive declares need nothing */
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("work"), 1, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "passive queue.declare");
    amqp_exchange_declare(c, ch, S("amq.direct"), S("direct"), 1, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "passive exchange.declare");
    /* dead-letter exchange: write on it */
    amqp_queue_declare(c, ch, S("c-q1"), 0, 0, 0, 0,
                       one_arg(&e, "x-dead-letter-exchange", "amq.fanout"));
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.fanout' in vhost '/' refused "
                                       "for user 'carol'");
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("c-q2"), 0, 0, 0, 0, one_arg(&e, "x-dead-letter-exchange", "c-x"));
    expect_ok(c, "queue.declare c-q2");
    /* alternate exchange: write on it */
    amqp_exchange_declare(c, ch, S("c-x2"), S("fanout"), 0, 0, 0, 0,
                          one_arg(&e, "alternate-exchange", "amq.fanout"));
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.fanout'");
    amqp_channel_open(c, ch);
    amqp_exchange_declare(c, ch, S("c-x"), S("fanout"), 0, 0, 0, 0,
                          one_arg(&e, "alternate-exchange", "c-ae"));
    expect_ok(c, "exchange.declare c-x");
    /* configure is checked before the reserved amq. exchange prefix */
    amqp_exchange_declare(c, ch, S("amq.foo"), S("fanout"), 0, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.foo' in vhost '/'");
    /* deletes */
    amqp_channel_open(c, ch);
    amqp_queue_delete(c, ch, S("work"), 0, 0);
    expect_channel_error(c, ch++, 403, "access to queue 'work' in vhost '/'");
    amqp_channel_open(c, ch);
    amqp_exchange_delete(c, ch, S("nope"), 0);
    expect_channel_error(c, ch++, 403, "access to exchange 'nope' in vhost '/'");
    amqp_channel_open(c, ch);
    amqp_exchange_delete(c, ch, S("amq.direct"), 0);
    expect_channel_error(c, ch++, 403, "amq.direct");
    amqp_channel_open(c, ch);
    amqp_queue_delete(c, ch, S("c-q2"), 0, 0);
    expect_ok(c, "queue.delete c-q2");
    done(c);
}
END_TEST

START_TEST(test_read_write_permissions)
{
    HARNESS_NEEDS_OWN_SERVER();
    start_with_defs();
    amqp_connection_state_t c = login_ok("/", "carol", "carolpw");
    uint16_t ch = 1;
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("c-q"), 0, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "queue.declare c-q");
    amqp_exchange_declare(c, ch, S("c-x"), S("fanout"), 0, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "exchange.declare c-x");
    /* bind: write on the queue, read on the exchange */
    amqp_queue_bind(c, ch, S("c-q"), S("c-x"), S("k"), amqp_empty_table);
    expect_ok(c, "queue.bind");
    amqp_queue_bind(c, ch, S("c-q"), S("amq.direct"), S("k"), amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.direct' in vhost '/'");
    amqp_channel_open(c, ch);
    amqp_queue_bind(c, ch, S("work"), S("c-x"), S("k"), amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to queue 'work' in vhost '/'");
    amqp_channel_open(c, ch);
    amqp_queue_bind(c, ch, S("c-q"), S(""), S("k"), amqp_empty_table);
    expect_channel_error(c, ch++, 403, "operation not permitted on the default exchange");
    amqp_channel_open(c, ch);
    amqp_exchange_bind(c, ch, S("amq.fanout"), S("c-x"), S("k"), amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.fanout' in vhost '/'");
    amqp_channel_open(c, ch);
    amqp_exchange_bind(c, ch, S("c-x"), S("amq.direct"), S("k"), amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.direct' in vhost '/'");
    amqp_channel_open(c, ch);
    amqp_queue_unbind(c, ch, S("c-q"), S("amq.direct"), S("k"), amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.direct'");
    /* read: purge, get, consume */
    amqp_channel_open(c, ch);
    amqp_queue_purge(c, ch, S("work"));
    expect_channel_error(c, ch++, 403, "access to queue 'work' in vhost '/' refused for user "
                                       "'carol'");
    amqp_channel_open(c, ch);
    amqp_basic_get(c, ch, S("work"), 1);
    expect_channel_error(c, ch++, 403, "access to queue 'work'");
    amqp_channel_open(c, ch);
    amqp_basic_consume(c, ch, S("work"), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to queue 'work'");
    /* write: the default exchange is amq.default; an absent exchange is 403 before 404 */
    amqp_channel_open(c, ch);
    amqp_basic_publish(c, ch, S(""), S("c-q"), 0, 0, NULL, S("x"));
    amqp_queue_declare(c, ch, S("c-q"), 1, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'amq.default' in vhost '/' refused "
                                       "for user 'carol'");
    amqp_channel_open(c, ch);
    amqp_basic_publish(c, ch, S("nope"), S("k"), 0, 0, NULL, S("x"));
    amqp_queue_declare(c, ch, S("c-q"), 1, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 403, "access to exchange 'nope' in vhost '/'");
    /* what is allowed works end to end */
    amqp_channel_open(c, ch);
    ck_assert_int_eq(amqp_basic_publish(c, ch, S("c-x"), S("k"), 0, 0, NULL, S("hello")),
                     AMQP_STATUS_OK);
    amqp_queue_purge(c, ch, S("c-q"));
    expect_ok(c, "queue.purge c-q");
    amqp_basic_publish(c, ch, S("c-x"), S("k"), 0, 0, NULL, S("again"));
    amqp_rpc_reply_t r = amqp_basic_get(c, ch, S("c-q"), 1);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    ck_assert_uint_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
    amqp_message_t msg;
    ck_assert_int_eq(amqp_read_message(c, ch, &msg, 0).reply_type, AMQP_RESPONSE_NORMAL);
    ck_assert_uint_eq(msg.body.len, 5);
    amqp_destroy_message(&msg);
    done(c);

    /* the administrator may do what carol may not */
    c = login_ok("/", "alice", "alicepw");
    amqp_channel_open(c, 1);
    amqp_queue_purge(c, 1, S("work"));
    expect_ok(c, "alice's queue.purge work");
    done(c);
}
END_TEST

/* ---- vhost limits ---------------------------------------------------------------------------- */

START_TEST(test_vhost_limits)
{
    HARNESS_NEEDS_OWN_SERVER();
    start_with_defs();
    amqp_connection_state_t c = login_ok("lim", "carol", "carolpw");
    expect_login_refused("lim", "carol", "carolpw", 530,
                         "NOT_ALLOWED - access to vhost 'lim' refused for user 'carol': "
                         "connection limit (1) is reached");
    /* other vhosts are not affected */
    done(login_ok("/", "carol", "carolpw"));
    uint16_t ch = 1;
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S("l1"), 0, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "first queue");
    amqp_queue_declare(c, ch, S("l1"), 0, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "redeclare");
    amqp_queue_declare(c, ch, S("l2"), 0, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 406, "PRECONDITION_FAILED - cannot declare queue 'l2': queue "
                                       "limit in vhost 'lim' (1) is reached");
    amqp_channel_open(c, ch);
    amqp_queue_declare(c, ch, S(""), 0, 0, 1, 0, amqp_empty_table);
    expect_channel_error(c, ch++, 406, "queue limit in vhost 'lim' (1) is reached");
    /* deleting makes room */
    amqp_channel_open(c, ch);
    amqp_queue_delete(c, ch, S("l1"), 0, 0);
    expect_ok(c, "queue.delete");
    amqp_queue_declare(c, ch, S("l2"), 0, 0, 0, 0, amqp_empty_table);
    expect_ok(c, "queue after delete");
    done(c);
    /* the connection is gone: another may open (the server may take a moment
     * to count the close, so retry for a while) */
    amqp_rpc_reply_t r = {0};
    for (int i = 0; i < 50; i++) {
        c = login("lim", "carol", "carolpw", &r);
        if (r.reply_type == AMQP_RESPONSE_NORMAL)
            break;
        amqp_destroy_connection(c);
        c = NULL;
        harness_sleep_ms(100);
    }
    ck_assert_ptr_nonnull(c);
    done(c);
}
END_TEST

/* ---- persistence and export ------------------------------------------------------------------ */

START_TEST(test_restart_and_export)
{
    HARNESS_NEEDS_OWN_SERVER();
    char data[600], conf[2600], out[600];
    snprintf(data, sizeof(data), "%s/persist-data", harness_scratch_dir());
    snprintf(out, sizeof(out), "%s/export.json", harness_scratch_dir());
    /* first start: users from load_definitions, stored in data_dir */
    snprintf(conf, sizeof(conf), "%sdata_dir = %s\n", defs_conf(), data);
    harness_start(&srv, conf);
    done(login_ok("/", "carol", "carolpw"));

    /* while edad runs, the export refuses to touch its data_dir */
    char arg[700], buf[4096];
    snprintf(arg, sizeof(arg), "data_dir=%s", data);
    const char *const argv[] = {"edad", "-s", arg, "--export-definitions", out, NULL};
    int status = harness_exec(argv, buf, sizeof(buf), 20000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "export ran: %s", buf);
    ck_assert_msg(strstr(buf, "--export-definitions") != NULL, "%s", buf);
    harness_stop(&srv);

    /* second start without load_definitions: the stored users are back,
     * and no default user appears on a node that has users */
    snprintf(conf, sizeof(conf), "loopback_users = none\ndata_dir = %s\n", data);
    harness_start(&srv, conf);
    done(login_ok("/", "carol", "carolpw"));
    done(login_ok("/", "alice", "alicepw"));
    expect_login_refused("/", "guest", "guest", 403, "Login was refused");
    expect_login_refused("/", "dave", "davepw", 530, "access to vhost '/' refused");
    amqp_connection_state_t c = login_ok("lim", "carol", "carolpw");
    expect_login_refused("lim", "carol", "carolpw", 530, "connection limit (1) is reached");
    done(c);
    harness_stop(&srv);

    /* stopped: the export writes RabbitMQ's format */
    status = harness_exec(argv, buf, sizeof(buf), 20000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "export failed: %s", buf);
    FILE *fp = fopen(out, "r");
    ck_assert_ptr_nonnull(fp);
    static char json[65536];
    size_t n = fread(json, 1, sizeof(json) - 1, fp);
    json[n] = '\0';
    fclose(fp);
    ck_assert(strstr(json, "\"users\"") && strstr(json, "\"permissions\""));
    ck_assert(strstr(json, "\"gBjlpni+2uHXo3NPPR0mMcLiGtGfdxFo+40K7FnLvLhZZXE7\""));
    ck_assert(strstr(json, "\"rabbit_password_hashing_sha256\""));
    ck_assert(strstr(json, "\"^c-.*\""));
    ck_assert(strstr(json, "\"vhost-limits\""));
    ck_assert(strstr(json, "\"work\""));

    /* and a new node loads that export unchanged */
    snprintf(conf, sizeof(conf), "loopback_users = none\nload_definitions = %s\n", out);
    harness_start(&srv, conf);
    done(login_ok("/", "carol", "carolpw"));
    expect_login_refused("/", "dave", "davepw", 530, "access to vhost '/' refused");
}
END_TEST

/* A definitions file exported by RabbitMQ 3.10.8, loaded unchanged. */
START_TEST(test_rabbitmq_export_loads)
{
    HARNESS_NEEDS_OWN_SERVER();
    harness_start(&srv, "loopback_users = none\nload_definitions = " EDAD_TOP_SRCDIR
                        "/tests/fixtures/rabbitmq-3.10-definitions.json\n");
    /* alice: configure ^app1\..* in app1, everything in staging, nothing in / */
    amqp_connection_state_t c = login_ok("app1", "alice", "alicepw");
    amqp_channel_open(c, 1);
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, S("app1.orders"), 1, 0, 0, 0,
                                                     amqp_empty_table);
    ck_assert_ptr_nonnull(ok);
    ck_assert_uint_eq(ok->message_count, 0);
    /* its arguments came along: redeclaring without them is inequivalent */
    amqp_queue_declare(c, 1, S("app1.orders"), 0, 1, 0, 0, amqp_empty_table);
    expect_channel_error(c, 1, 406, "inequivalent arg");
    amqp_channel_open(c, 2);
    amqp_queue_declare(c, 2, S("other"), 0, 0, 0, 0, amqp_empty_table);
    expect_channel_error(c, 2, 403, "access to queue 'other' in vhost 'app1' refused for user "
                                    "'alice'");
    /* the topic binding and alternate exchange route as in RabbitMQ */
    amqp_channel_open(c, 3);
    amqp_basic_publish(c, 3, S("app1.events"), S("order.new"), 0, 0, NULL, S("o1"));
    amqp_basic_publish(c, 3, S("app1.events"), S("nothing"), 0, 0, NULL, S("d1"));
    ok = amqp_queue_declare(c, 3, S("app1.dead"), 1, 0, 0, 0, amqp_empty_table);
    ck_assert_ptr_nonnull(ok);
    ck_assert_uint_eq(ok->message_count, 1);
    ok = amqp_queue_declare(c, 3, S("app1.orders"), 1, 0, 0, 0, amqp_empty_table);
    ck_assert_ptr_nonnull(ok);
    ck_assert_uint_eq(ok->message_count, 1);
    done(c);
    expect_login_refused("/", "alice", "alicepw", 530, "access to vhost '/' refused");
    done(login_ok("staging", "alice", "alicepw"));
    /* bob may write to the default exchange and bob-* only */
    c = login_ok("/", "bob", "bobpw");
    amqp_channel_open(c, 1);
    amqp_basic_publish(c, 1, S(""), S("work"), 0, 0, NULL, S("w"));
    amqp_basic_get(c, 1, S("work"), 1);
    expect_channel_error(c, 1, 403, "access to queue 'work' in vhost '/' refused for user 'bob'");
    done(c);
    /* RabbitMQ's guest, and a user without a password */
    done(login_ok("/", "guest", "guest"));
    expect_login_refused("/", "nopass", "", 403, "Login was refused");
}
END_TEST

START_TEST(test_default_user_first_start)
{
    HARNESS_NEEDS_OWN_SERVER();
    /* an empty data_dir and no load_definitions: guest/guest, administrator */
    harness_start(&srv, NULL);
    done(login_ok("/", "guest", "guest"));
    expect_login_refused("/", "guest", "nope", 403, "Login was refused");
    harness_stop(&srv);
    /* a broken load_definitions file stops the start with a reason */
    const char *bad = harness_write_file("bad.json", "{\"users\": [");
    char arg[700], buf[4096];
    snprintf(arg, sizeof(arg), "load_definitions=%s", bad);
    char data[600], darg[700];
    snprintf(data, sizeof(data), "%s/bad-data", harness_scratch_dir());
    snprintf(darg, sizeof(darg), "data_dir=%s", data);
    const char *const argv[] = {"edad", "-s", arg, "-s", darg, "-s", "listeners.tcp = none",
                                NULL};
    int status = harness_exec(argv, buf, sizeof(buf), 20000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "started: %s", buf);
    ck_assert_msg(strstr(buf, "cannot load definitions") != NULL, "%s", buf);
}
END_TEST

int main(void)
{
    int rc = harness_init("check_access");
    if (rc != 0)
        return rc;
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("access");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_logins);
    tcase_add_test(tc, test_configure_permissions);
    tcase_add_test(tc, test_read_write_permissions);
    tcase_add_test(tc, test_vhost_limits);
    tcase_add_test(tc, test_restart_and_export);
    tcase_add_test(tc, test_rabbitmq_export_loads);
    tcase_add_test(tc, test_default_user_first_start);
    suite_add_tcase(s, tc);
    return harness_run(srunner_create(s));
}
