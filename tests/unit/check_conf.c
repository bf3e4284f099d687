/*
 * check_conf.c - unit tests of the configuration layer (src/conf): the
 * defaults, every option type, bounds and syntax errors with file:line,
 * listener and loopback_users families, reload, and the shipped
 * conf/edad.conf (it must load cleanly and match the option table).
 * No sockets: conf only fills a struct.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edad/conf.h"

#ifndef EDAD_TOP_SRCDIR
#define EDAD_TOP_SRCDIR "."
#endif

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

/* Load text as file "t.conf"; returns the status, message in err. */
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

/* Whole file into a malloc'ed string, or NULL. */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0)
            break;
    }
    fclose(fp);
    buf[len] = '\0';
    return buf;
}

/* conf/edad.conf of the source tree (automake exports srcdir to tests). */
static void shipped_path(char *buf, size_t len)
{
    const char *dir = getenv("srcdir");
    snprintf(buf, len, "%s/conf/edad.conf", dir && *dir ? dir : EDAD_TOP_SRCDIR);
    if (access(buf, R_OK) != 0)
        snprintf(buf, len, "%s/conf/edad.conf", EDAD_TOP_SRCDIR);
}

/* ---- defaults ----------------------------------------------------------- */

START_TEST(defaults)
{
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_str_eq(cf.listeners[0].name, "default");
    ck_assert_str_eq(cf.listeners[0].host, "");
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
    ck_assert_str_eq(cf.default_user, "guest");
    ck_assert_str_eq(cf.default_pass, "guest");
    ck_assert_str_eq(cf.default_vhost, "/");
    ck_assert_ptr_nonnull(cf.loopback_users);
    ck_assert_str_eq(cf.loopback_users[0], "guest");
    ck_assert_ptr_null(cf.loopback_users[1]);
    ck_assert_uint_eq(cf.heartbeat, 60);
    ck_assert_uint_eq(cf.frame_max, 131072);
    ck_assert_uint_eq(cf.channel_max, 2047);
    ck_assert_uint_eq(cf.max_message_size, 134217728);
    ck_assert_uint_eq(cf.handshake_timeout, 10000);
    ck_assert_uint_eq(cf.connection_max, 0);
    ck_assert_uint_eq(cf.tcp_backlog, 128);
    ck_assert(cf.tcp_nodelay);
    ck_assert_int_eq(cf.log_level, EDAD_LOG_INFO);
    ck_assert(cf.log_console);
    ck_assert_ptr_null(cf.log_file);
    ck_assert_int_eq(cf.log_file_level, EDAD_LOG_INFO);
    ck_assert_str_eq(cf.data_dir, "/var/lib/edad");
    ck_assert_uint_eq(cf.output_high_water, 1048576);
    ck_assert(conf_is_loopback_user(&cf, "guest"));
    ck_assert(!conf_is_loopback_user(&cf, "alice"));
    ck_assert(!conf_is_loopback_user(&cf, NULL));
}
END_TEST

START_TEST(init_free_cycles)
{
    /* setup() initialised cf; free, re-init with changes, free twice */
    ck_load_ok("default_user = alice\nlog.file = /tmp/x.log\nloopback_users.bob = true\n");
    conf_free(&cf);
    ck_assert_ptr_null(cf.default_user);
    ck_assert_ptr_null(cf.loopback_users);
    ck_assert_ptr_null(cf.log_file);
    conf_free(&cf);   /* harmless */
    conf_init(&cf);
    ck_assert_str_eq(cf.default_user, "guest");
    ck_assert(conf_is_loopback_user(&cf, "guest"));
}
END_TEST

START_TEST(empty_text_changes_nothing)
{
    ck_load_ok("");
    ck_load_ok("\n\n   \n\t\n");
    ck_assert_uint_eq(cf.heartbeat, 60);
    ck_assert_uint_eq(cf.n_listeners, 1);
}
END_TEST

/* ---- every type --------------------------------------------------------- */

START_TEST(type_string)
{
    ck_load_ok("default_user = alice\ndefault_pass =  s3cret pass \ndefault_vhost = prod\n"
               "data_dir = /srv/edad data\n");
    ck_assert_str_eq(cf.default_user, "alice");
    ck_assert_str_eq(cf.default_pass, "s3cret pass");   /* trimmed, inner blank kept */
    ck_assert_str_eq(cf.default_vhost, "prod");
    ck_assert_str_eq(cf.data_dir, "/srv/edad data");
    ck_load_ok("default_pass = a=b==c\n");                 /* first '=' splits */
    ck_assert_str_eq(cf.default_pass, "a=b==c");
}
END_TEST

START_TEST(type_string_or_false)
{
    ck_load_ok("log.file = /var/log/edad/edad.log\n");
    ck_assert_str_eq(cf.log_file, "/var/log/edad/edad.log");
    ck_load_ok("log.file = false\n");
    ck_assert_ptr_null(cf.log_file);
}
END_TEST

START_TEST(type_uint)
{
    ck_load_ok("channel_max = 0\ntcp_listen_options.backlog = 4096\n"
               "max_message_size = 536870912\n");
    ck_assert_uint_eq(cf.channel_max, 0);
    ck_assert_uint_eq(cf.tcp_backlog, 4096);
    ck_assert_uint_eq(cf.max_message_size, 536870912);
    ck_load_ok("channel_max = 65535\n");
    ck_assert_uint_eq(cf.channel_max, 65535);
    ck_load_ok("channel_max = 007\n");
    ck_assert_uint_eq(cf.channel_max, 7);
}
END_TEST

START_TEST(type_uint_or_infinity)
{
    ck_load_ok("connection_max = 1000\nhandshake_timeout = 2500\n");
    ck_assert_uint_eq(cf.connection_max, 1000);
    ck_assert_uint_eq(cf.handshake_timeout, 2500);
    ck_load_ok("connection_max = infinity\nhandshake_timeout = infinity\n");
    ck_assert_uint_eq(cf.connection_max, 0);
    ck_assert_uint_eq(cf.handshake_timeout, 0);
    ck_load_ok("connection_max = 4294967295\n");
    ck_assert_uint_eq(cf.connection_max, 4294967295u);
}
END_TEST

START_TEST(type_seconds)
{
    ck_load_ok("heartbeat = 0\n");
    ck_assert_uint_eq(cf.heartbeat, 0);
    ck_load_ok("heartbeat = 580\n");
    ck_assert_uint_eq(cf.heartbeat, 580);
}
END_TEST

START_TEST(type_bytes_with_units)
{
    ck_load_ok("frame_max = 4096\n");
    ck_assert_uint_eq(cf.frame_max, 4096);
    ck_load_ok("frame_max = 128KB\n");
    ck_assert_uint_eq(cf.frame_max, 131072);
    ck_load_ok("frame_max = 1mb\n");
    ck_assert_uint_eq(cf.frame_max, 1048576);
    ck_load_ok("frame_max = 1GB\n");
    ck_assert_uint_eq(cf.frame_max, 1073741824);
    ck_load_ok("frame_max = 2147483647\n");
    ck_assert_uint_eq(cf.frame_max, 2147483647u);
    ck_load_ok("net.output_high_watermark = 64kb\n");
    ck_assert_uint_eq(cf.output_high_water, 65536);
    ck_load_ok("net.output_high_watermark = 1GB\n");
    ck_assert_uint_eq(cf.output_high_water, 1073741824);
}
END_TEST

START_TEST(type_bool)
{
    ck_load_ok("tcp_listen_options.nodelay = false\nlog.console = false\n");
    ck_assert(!cf.tcp_nodelay);
    ck_assert(!cf.log_console);
    ck_load_ok("tcp_listen_options.nodelay = true\nlog.console = true\n");
    ck_assert(cf.tcp_nodelay);
    ck_assert(cf.log_console);
}
END_TEST

START_TEST(type_loglevel)
{
    static const struct { const char *text; enum log_level lvl; } cases[] = {
        {"debug", EDAD_LOG_DEBUG}, {"info", EDAD_LOG_INFO},
        {"warning", EDAD_LOG_WARNING}, {"error", EDAD_LOG_ERROR},
        {"critical", EDAD_LOG_CRITICAL}, {"none", EDAD_LOG_NONE},
        /* RabbitMQ's extra levels */
        {"notice", EDAD_LOG_INFO}, {"alert", EDAD_LOG_CRITICAL},
        {"emergency", EDAD_LOG_CRITICAL},
    };
    char text[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "log.console.level = %s\nlog.file.level = %s\n",
                 cases[i].text, cases[i].text);
        ck_load_ok(text);
        ck_assert_int_eq(cf.log_level, cases[i].lvl);
        ck_assert_int_eq(cf.log_file_level, cases[i].lvl);
    }
    ck_load_err("log.console.level = verbose\n",
                "t.conf:1: log.console.level: 'verbose' is not a log level (debug, info, "
                "warning, error, critical or none)");
    ck_load_err("\nlog.file.level = INFO\n",
                "t.conf:2: log.file.level: 'INFO' is not a log level (debug, info, "
                "warning, error, critical or none)");
}
END_TEST

/* ---- errors carry file:line:reason --------------------------------------- */

START_TEST(bounds_errors)
{
    ck_load_err("# comment\n\nframe_max = 100\n",
                "t.conf:3: frame_max: 100 is below the minimum 4096");
    ck_assert_uint_eq(cf.frame_max, 131072);   /* unchanged */
    ck_load_err("frame_max = 0\n", "t.conf:1: frame_max: 0 is below the minimum 4096");
    ck_load_err("frame_max = 2GB\n",
                "t.conf:1: frame_max: 2GB is above the maximum 2147483647");
    ck_load_err("frame_max = 2147483648\n",
                "t.conf:1: frame_max: 2147483648 is above the maximum 2147483647");
    ck_load_err("channel_max = 65536\n",
                "t.conf:1: channel_max: 65536 is above the maximum 65535");
    ck_load_err("max_message_size = 536870913\n",
                "t.conf:1: max_message_size: 536870913 is above the maximum 536870912");
    ck_load_err("max_message_size = 0\n",
                "t.conf:1: max_message_size: 0 is below the minimum 1");
    ck_load_err("heartbeat = 65536\n",
                "t.conf:1: heartbeat: 65536 is above the maximum 65535");
    ck_load_err("connection_max = 0\n",
                "t.conf:1: connection_max: 0 is below the minimum 1 (use infinity for no limit)");
    ck_load_err("net.output_high_watermark = 1KB\n",
                "t.conf:1: net.output_high_watermark: 1KB is below the minimum 4096");
    ck_load_err("default_user = " /* 256 bytes */
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                "t.conf:1: default_user: value is longer than 255 bytes");
    ck_assert_str_eq(cf.default_user, "guest");
}
END_TEST

START_TEST(type_errors)
{
    ck_load_err("heartbeat = -1\n", "t.conf:1: heartbeat: '-1' is not a non-negative integer");
    ck_load_err("heartbeat = +5\n", "t.conf:1: heartbeat: '+5' is not a non-negative integer");
    ck_load_err("heartbeat = 1.5\n", "t.conf:1: heartbeat: '1.5' is not a non-negative integer");
    ck_load_err("heartbeat = 0x10\n", "t.conf:1: heartbeat: '0x10' is not a non-negative integer");
    ck_load_err("heartbeat =\n", "t.conf:1: heartbeat: '' is not a non-negative integer");
    ck_load_err("channel_max = 99999999999999999999999\n",
                "t.conf:1: channel_max: '99999999999999999999999' is not a non-negative integer");
    ck_load_err("max_message_size = 1MB\n",   /* RabbitMQ takes no units here */
                "t.conf:1: max_message_size: '1MB' is not a non-negative integer");
    ck_load_err("frame_max = 128 KB\n",
                "t.conf:1: frame_max: '128 KB' is not a size (an integer, optionally "
                "followed by KB, MB or GB)");
    ck_load_err("frame_max = 128KiB\n",
                "t.conf:1: frame_max: '128KiB' is not a size (an integer, optionally "
                "followed by KB, MB or GB)");
    ck_load_err("frame_max = 99999999999GB\n",
                "t.conf:1: frame_max: 99999999999GB is above the maximum 2147483647");
    ck_load_err("connection_max = unlimited\n",
                "t.conf:1: connection_max: 'unlimited' is neither an integer nor infinity");
    ck_load_err("tcp_listen_options.nodelay = yes\n",
                "t.conf:1: tcp_listen_options.nodelay: 'yes' is not true or false");
    ck_load_err("log.console = TRUE\n", "t.conf:1: log.console: 'TRUE' is not true or false");
    ck_load_err("default_user =   \n", "t.conf:1: default_user: value is empty");
    ck_load_err("log.file =\n", "t.conf:1: log.file: value is empty");
}
END_TEST

START_TEST(unknown_keys)
{
    ck_load_err("heartbeat = 10\nfoo = 1\n", "t.conf:2: unknown key 'foo'");
    ck_assert_uint_eq(cf.heartbeat, 10);   /* lines before the error applied */
    ck_load_err("Heartbeat = 10\n", "t.conf:1: unknown key 'Heartbeat'");
    ck_load_err("listeners.tcpx = 1\n", "t.conf:1: unknown key 'listeners.tcpx'");
    ck_load_err("listeners.tcp. = 1\n", "t.conf:1: unknown key 'listeners.tcp.'");
    ck_load_err("listeners = 1\n", "t.conf:1: unknown key 'listeners'");
    ck_load_err("log.console.levels = info\n", "t.conf:1: unknown key 'log.console.levels'");
    ck_load_err("frame max = 4096\n", "t.conf:1: unknown key 'frame max'");
    ck_load_err("tcp_listen_options.backlog.x = 1\n",
                "t.conf:1: unknown key 'tcp_listen_options.backlog.x'");
    ck_load_err("bad\001key = 1\n", "t.conf:1: unknown key 'bad?key'");
}
END_TEST

START_TEST(syntax_errors)
{
    ck_load_err("heartbeat 10\n", "t.conf:1: syntax error: expected 'key = value'");
    ck_load_err("\n\n  = 10\n", "t.conf:3: syntax error: no key before '='");
    ck_load_err("heartbeat = 1\001\n",
                "t.conf:1: heartbeat: value contains a control character");
    /* a NUL byte ends a C string: see load_file_line_numbers */
}
END_TEST

START_TEST(comments_and_blanks)
{
    ck_load_ok("# a comment\n"
               "   # indented comment\n"
               "\t# tab-indented comment\n"
               "\n"
               "   \t  \n"
               "#heartbeat = 1\n"
               "  heartbeat   =    30   \n"
               "channel_max=100\n"
               "frame_max\t=\t8192\r\n"           /* CRLF */
               "default_pass = secret # not a comment\n"
               "default_vhost = /last");          /* no final newline */
    ck_assert_uint_eq(cf.heartbeat, 30);
    ck_assert_uint_eq(cf.channel_max, 100);
    ck_assert_uint_eq(cf.frame_max, 8192);
    ck_assert_str_eq(cf.default_pass, "secret # not a comment");
    ck_assert_str_eq(cf.default_vhost, "/last");
    /* a trailing comment is part of the value, so this is a bad integer */
    ck_load_err("heartbeat = 30 # seconds\n",
                "t.conf:1: heartbeat: '30 # seconds' is not a non-negative integer");
}
END_TEST

START_TEST(utf8_bom_is_skipped)
{
    ck_load_ok("\xEF\xBB\xBFheartbeat = 12\n");
    ck_assert_uint_eq(cf.heartbeat, 12);
    /* only at the very start */
    ck_load_err("heartbeat = 1\n\xEF\xBB\xBFheartbeat = 2\n",
                "t.conf:2: unknown key '???heartbeat'");
}
END_TEST

START_TEST(duplicate_key_last_wins)
{
    ck_load_ok("heartbeat = 10\nheartbeat = 20\n");
    ck_assert_uint_eq(cf.heartbeat, 20);
}
END_TEST

/* ---- listeners ---------------------------------------------------------- */

START_TEST(listener_port_only)
{
    ck_load_ok("listeners.tcp.default = 5673\n");
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_str_eq(cf.listeners[0].name, "default");
    ck_assert_str_eq(cf.listeners[0].host, "");
    ck_assert_uint_eq(cf.listeners[0].port, 5673);
}
END_TEST

START_TEST(listener_several)
{
    ck_load_ok("listeners.tcp.local = 127.0.0.1:5672\n"
               "listeners.tcp.other = 10.0.0.1:5673\n"
               "listeners.tcp.named = localhost:5674\n");
    /* the first listeners.tcp.<name> replaced the built-in default */
    ck_assert_uint_eq(cf.n_listeners, 3);
    ck_assert_str_eq(cf.listeners[0].name, "local");
    ck_assert_str_eq(cf.listeners[0].host, "127.0.0.1");
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
    ck_assert_str_eq(cf.listeners[1].name, "other");
    ck_assert_str_eq(cf.listeners[1].host, "10.0.0.1");
    ck_assert_uint_eq(cf.listeners[1].port, 5673);
    ck_assert_str_eq(cf.listeners[2].host, "localhost");
    /* same name replaces in place */
    ck_load_ok("listeners.tcp.other = 0.0.0.0:6000\n");
    ck_assert_uint_eq(cf.n_listeners, 3);
    ck_assert_str_eq(cf.listeners[1].host, "0.0.0.0");
    ck_assert_uint_eq(cf.listeners[1].port, 6000);
    /* a second file adds to what the first set (no default to replace) */
    ck_load_ok("listeners.tcp.default = 7000\n");
    ck_assert_uint_eq(cf.n_listeners, 4);
}
END_TEST

START_TEST(listener_limit)
{
    char text[64];
    for (int i = 0; i < CONF_MAX_LISTENERS; i++) {
        snprintf(text, sizeof(text), "listeners.tcp.l%d = %d\n", i, 6000 + i);
        ck_load_ok(text);
    }
    ck_assert_uint_eq(cf.n_listeners, CONF_MAX_LISTENERS);
    ck_load_ok("listeners.tcp.l3 = 7003\n");   /* replacing still works */
    ck_assert_uint_eq(cf.listeners[3].port, 7003);
    ck_load_err("listeners.tcp.one_too_many = 7100\n",
                "t.conf:1: listeners.tcp.one_too_many: too many listeners (at most 16)");
    ck_assert_uint_eq(cf.n_listeners, CONF_MAX_LISTENERS);
}
END_TEST

START_TEST(listener_ipv6)
{
    ck_load_ok("listeners.tcp.v6 = ::1:5672\n"
               "listeners.tcp.v6b = [::1]:5673\n"
               "listeners.tcp.any6 = [::]:5674\n"
               "listeners.tcp.full = 2001:db8::7:5675\n");
    ck_assert_uint_eq(cf.n_listeners, 4);
    ck_assert_str_eq(cf.listeners[0].host, "::1");
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
    ck_assert_str_eq(cf.listeners[1].host, "::1");
    ck_assert_uint_eq(cf.listeners[1].port, 5673);
    ck_assert_str_eq(cf.listeners[2].host, "::");
    ck_assert_str_eq(cf.listeners[3].host, "2001:db8::7");
    ck_assert_uint_eq(cf.listeners[3].port, 5675);
}
END_TEST

START_TEST(listener_errors)
{
    static const char *const bad_addr[] = {
        "::1", "[::1]", "[127.0.0.1]:5672", "1.2.3.256:5672", ":5672",
        "[]:5672", "fe80::1%eth0:5672", "bad host:5672", "-x:5672", "a..b:5672",
    };
    char text[128], want[256];
    for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
        snprintf(text, sizeof(text), "listeners.tcp.x = %s\n", bad_addr[i]);
        ck_assert_int_eq(load(text), EDAD_ERR_INVALID);
        static const char prefix[] = "t.conf:1: listeners.tcp.x: '";
        ck_assert_msg(strncmp(err, prefix, sizeof(prefix) - 1) == 0, "%s: %s",
                      bad_addr[i], err);
    }
    ck_load_err("listeners.tcp.x = 0\n", "t.conf:1: listeners.tcp.x: port 0 is outside 1..65535");
    ck_load_err("listeners.tcp.x = 127.0.0.1:65536\n",
                "t.conf:1: listeners.tcp.x: port 65536 is outside 1..65535");
    snprintf(want, sizeof(want), "t.conf:1: listeners.tcp.x: 'abc' is not a listener (PORT, "
             "IPv4:PORT, IPv6:PORT or [IPv6]:PORT)");
    ck_load_err("listeners.tcp.x = abc\n", want);
    ck_load_err("listeners.tcp.bad.name = 1\n",
                "t.conf:1: listeners.tcp.bad.name: listener name 'bad.name' must be 1..63 "
                "letters, digits, '_' or '-'");
    ck_load_err("listeners.tcp = 5672\n",
                "t.conf:1: listeners.tcp: only 'none' is accepted here; set "
                "listeners.tcp.<name> = [host:]port to add a listener");
    /* errors leave the built-in default in place */
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
}
END_TEST

START_TEST(listeners_none)
{
    ck_load_ok("listeners.tcp = none\n");
    ck_assert_uint_eq(cf.n_listeners, 0);
    ck_load_ok("listeners.tcp.again = 127.0.0.1:5999\n");
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_uint_eq(cf.listeners[0].port, 5999);
    ck_load_ok("listeners.tcp = none\n");
    ck_assert_uint_eq(cf.n_listeners, 0);
}
END_TEST

/* ---- loopback_users ----------------------------------------------------- */

START_TEST(loopback_users_forms)
{
    ck_load_ok("loopback_users.guest = false\n");
    ck_assert(!conf_is_loopback_user(&cf, "guest"));
    ck_assert_ptr_nonnull(cf.loopback_users);
    ck_assert_ptr_null(cf.loopback_users[0]);

    ck_load_ok("loopback_users.alice = true\nloopback_users.bob = true\n"
               "loopback_users.alice = true\n");
    ck_assert(conf_is_loopback_user(&cf, "alice"));
    ck_assert(conf_is_loopback_user(&cf, "bob"));
    ck_assert_ptr_null(cf.loopback_users[2]);   /* no duplicate */
    ck_load_ok("loopback_users.alice = false\n");
    ck_assert(!conf_is_loopback_user(&cf, "alice"));
    ck_assert(conf_is_loopback_user(&cf, "bob"));

    ck_load_ok("loopback_users = none\n");
    ck_assert(!conf_is_loopback_user(&cf, "bob"));
    ck_assert_ptr_nonnull(cf.loopback_users);
    ck_assert_ptr_null(cf.loopback_users[0]);
    ck_load_ok("loopback_users.user.with.dots = true\n");
    ck_assert(conf_is_loopback_user(&cf, "user.with.dots"));
}
END_TEST

START_TEST(loopback_users_replace_default)
{
    /* As RabbitMQ: naming any user replaces the built-in list {guest}. */
    ck_load_ok("loopback_users.monitor = true\n");
    ck_assert(conf_is_loopback_user(&cf, "monitor"));
    ck_assert(!conf_is_loopback_user(&cf, "guest"));
}
END_TEST

START_TEST(loopback_users_errors)
{
    ck_load_err("loopback_users.guest = maybe\n",
                "t.conf:1: loopback_users.guest: 'maybe' is not true or false");
    ck_load_err("loopback_users = guest\n",
                "t.conf:1: loopback_users: only 'none' is accepted here; set "
                "loopback_users.<user> = true|false for one user");
    ck_assert(conf_is_loopback_user(&cf, "guest"));   /* unchanged */
}
END_TEST

/* ---- conf_set (the -s overrides) ---------------------------------------- */

START_TEST(set_messages_have_no_file_line)
{
    ck_assert_int_eq(conf_set(&cf, "frame_max", "100", err, sizeof(err)), EDAD_ERR_INVALID);
    ck_assert_str_eq(err, "frame_max: 100 is below the minimum 4096");
    ck_assert_int_eq(conf_set(&cf, "nope", "1", err, sizeof(err)), EDAD_ERR_INVALID);
    ck_assert_str_eq(err, "unknown key 'nope'");
    ck_assert_int_eq(conf_set(&cf, " data_dir ", "  ./data ", err, sizeof(err)), EDAD_OK);
    ck_assert_str_eq(cf.data_dir, "./data");
    ck_assert_int_eq(conf_set(&cf, "listeners.tcp.default", "127.0.0.1:40000", NULL, 0),
                     EDAD_OK);
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_str_eq(cf.listeners[0].host, "127.0.0.1");
    ck_assert_uint_eq(cf.listeners[0].port, 40000);
    /* NULL err / tiny err buffers are fine */
    ck_assert_int_eq(conf_set(&cf, "heartbeat", "x", NULL, 0), EDAD_ERR_INVALID);
    char tiny[8];
    ck_assert_int_eq(conf_set(&cf, "heartbeat", "x", tiny, sizeof(tiny)), EDAD_ERR_INVALID);
    ck_assert_str_eq(tiny, "heartbe");
}
END_TEST

START_TEST(long_values_in_messages_are_clipped)
{
    char text[4200];
    memcpy(text, "heartbeat = ", 12);
    memset(text + 12, '9', 4000);
    strcpy(text + 4012, "x\n");
    ck_assert_int_eq(load(text), EDAD_ERR_INVALID);
    ck_assert(strlen(err) < 200);
    ck_assert_msg(strstr(err, "...") != NULL, "%s", err);
}
END_TEST

/* ---- files -------------------------------------------------------------- */

START_TEST(load_file_errors)
{
    ck_assert_int_eq(conf_load_file(&cf, "/nonexistent/edad.conf", err, sizeof(err)),
                     EDAD_ERR_IO);
    char want[256];
    snprintf(want, sizeof(want), "/nonexistent/edad.conf: %s", strerror(ENOENT));
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(conf_load_file(&cf, "/", err, sizeof(err)), EDAD_ERR_IO);
    ck_assert_msg(strncmp(err, "/: ", 3) == 0, "%s", err);
}
END_TEST

START_TEST(load_file_line_numbers)
{
    char path[] = "/tmp/check_conf_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *fp = fdopen(fd, "w");
    fputs("# edad\nheartbeat = 15\n\nframe_max = 4095\n", fp);
    fclose(fp);
    ck_assert_int_eq(conf_load_file(&cf, path, err, sizeof(err)), EDAD_ERR_INVALID);
    char want[256];
    snprintf(want, sizeof(want), "%s:4: frame_max: 4095 is below the minimum 4096", path);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(cf.heartbeat, 15);

    /* a NUL byte inside a line is reported, not silently cut */
    fp = fopen(path, "w");
    fwrite("heartbeat = 1\n\nchannel_max = 1\0 0\n", 1, 34, fp);
    fclose(fp);
    ck_assert_int_eq(conf_load_file(&cf, path, err, sizeof(err)), EDAD_ERR_INVALID);
    snprintf(want, sizeof(want), "%s:3: NUL byte in line", path);
    ck_assert_str_eq(err, want);
    unlink(path);
}
END_TEST

START_TEST(load_file_too_large)
{
    char path[] = "/tmp/check_conf_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *fp = fdopen(fd, "w");
    static char line[1024];
    memset(line, '#', sizeof(line) - 1);
    line[sizeof(line) - 2] = '\n';
    for (int i = 0; i < 1100; i++)
        fputs(line, fp);
    fclose(fp);
    ck_assert_int_eq(conf_load_file(&cf, path, err, sizeof(err)), EDAD_ERR_INVALID);
    ck_assert_msg(strstr(err, "not a configuration file") != NULL, "%s", err);
    unlink(path);
}
END_TEST

START_TEST(shipped_conf_loads)
{
    char path[4096];
    shipped_path(path, sizeof(path));
    edad_status st = conf_load_file(&cf, path, err, sizeof(err));
    ck_assert_msg(st == EDAD_OK, "%s", err);
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_str_eq(cf.listeners[0].name, "default");
    ck_assert_str_eq(cf.listeners[0].host, "127.0.0.1");
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
    ck_assert_str_eq(cf.data_dir, "/var/lib/edad");
    /* everything else is at its default */
    struct edad_conf def;
    conf_init(&def);
    ck_assert_uint_eq(cf.heartbeat, def.heartbeat);
    ck_assert_uint_eq(cf.frame_max, def.frame_max);
    ck_assert_str_eq(cf.default_user, def.default_user);
    ck_assert(conf_is_loopback_user(&cf, "guest"));
    conf_free(&def);
}
END_TEST

START_TEST(shipped_conf_matches_table)
{
    char path[4096];
    shipped_path(path, sizeof(path));
    char *shipped = slurp(path);
    ck_assert_msg(shipped != NULL, "cannot read %s", path);
    char *gen = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&gen, &len);
    conf_print_conf(fp);
    fclose(fp);
    ck_assert_msg(strcmp(shipped, gen) == 0,
                  "%s is out of date with src/conf/options.def: run `make regen-conf`", path);
    free(shipped);
    free(gen);
}
END_TEST

START_TEST(shipped_conf_lists_every_option)
{
    /* Uncommenting every "# key = default" line reproduces the defaults. */
    char *gen = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&gen, &len);
    conf_print_conf(fp);
    fclose(fp);
    size_t n = 0;
    for (char *p = gen; (p = strstr(p, "\n# ")) != NULL; p++) {
        char *eol = strchr(p + 1, '\n');
        char line[512];
        size_t l = eol ? (size_t)(eol - (p + 3)) : strlen(p + 3);
        ck_assert_uint_lt(l, sizeof(line));
        memcpy(line, p + 3, l);
        line[l] = '\0';
        char *eq = strstr(line, " = ");
        if (!eq || memchr(line, ' ', (size_t)(eq - line)))
            continue;   /* prose in the header */
        *eq = '\0';
        ck_assert_msg(conf_set(&cf, line, eq + 3, err, sizeof(err)) == EDAD_OK, "%s", err);
        n++;
    }
    ck_assert_uint_ge(n, 19);
    ck_assert_uint_eq(cf.n_listeners, 1);
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
    ck_assert_uint_eq(cf.output_high_water, 1048576);
    free(gen);
}
END_TEST

/* ---- printing and reload ------------------------------------------------ */

START_TEST(print_defaults_lists_everything)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    conf_print_defaults(fp);
    fclose(fp);
    static const char *const keys[] = {
        "\nlisteners.tcp.<name>\n", "\ntcp_listen_options.backlog\n",
        "\ntcp_listen_options.nodelay\n", "\nconnection_max\n", "\nhandshake_timeout\n",
        "\nnet.output_high_watermark  (edad)\n", "\nheartbeat\n", "\nframe_max\n",
        "\nchannel_max\n", "\nmax_message_size\n", "\ndefault_user\n", "\ndefault_pass\n",
        "\ndefault_vhost\n", "\nloopback_users.<user>\n", "\nlog.console\n",
        "\nlog.console.level\n", "\nlog.file\n", "\nlog.file.level\n",
        "\ndata_dir  (edad)\n",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ck_assert_msg(strstr(out, keys[i]) != NULL, "missing %s", keys[i]);
    ck_assert(strstr(out, "    default: listeners.tcp.default = 5672\n"));
    ck_assert(strstr(out, "\nframe_max\n    type: integer (bytes), KB/MB/GB suffix allowed\n"
                          "    default: 131072\n    bounds: 4096..2147483647\n"
                          "    reloadable: yes\n"));
    free(out);
}
END_TEST

START_TEST(reload_applies_reloadable_only)
{
    struct edad_conf fresh;
    conf_init(&fresh);
    ck_assert_int_eq(conf_load_string(&fresh, "new.conf",
                                      "heartbeat = 30\n"
                                      "log.file = /tmp/edad.log\n"
                                      "log.console.level = debug\n"
                                      "loopback_users.ops = true\n"
                                      "data_dir = /elsewhere\n"
                                      "listeners.tcp.default = 127.0.0.1:5999\n",
                                      err, sizeof(err)), EDAD_OK);
    char *log = NULL;
    size_t loglen = 0;
    FILE *logfp = open_memstream(&log, &loglen);
    log_set_stream(logfp);
    unsigned ignored = conf_apply_reloadable(&cf, &fresh);
    log_set_stream(NULL);
    fclose(logfp);
    ck_assert_uint_eq(ignored, 2);   /* data_dir, listeners */
    ck_assert_msg(strstr(log, "[warning] conf: listeners.tcp changed; restart edad to apply it\n"),
                  "%s", log);
    ck_assert_msg(strstr(log, "[warning] conf: data_dir changed; restart edad to apply it\n"),
                  "%s", log);
    ck_assert_ptr_null(strstr(log, "heartbeat"));
    free(log);
    ck_assert_uint_eq(cf.heartbeat, 30);
    ck_assert_str_eq(cf.log_file, "/tmp/edad.log");
    ck_assert_int_eq(cf.log_level, EDAD_LOG_DEBUG);
    ck_assert(conf_is_loopback_user(&cf, "ops"));
    ck_assert(!conf_is_loopback_user(&cf, "guest"));
    ck_assert_str_eq(cf.data_dir, "/var/lib/edad");
    ck_assert_uint_eq(cf.listeners[0].port, 5672);
    conf_free(&fresh);   /* live owns its own copies */
    ck_assert_str_eq(cf.log_file, "/tmp/edad.log");

    /* and back: log.file = false frees the string */
    conf_init(&fresh);
    ck_assert_uint_eq(conf_apply_reloadable(&cf, &fresh), 0);
    ck_assert_ptr_null(cf.log_file);
    ck_assert(conf_is_loopback_user(&cf, "guest"));
    ck_assert_uint_eq(conf_apply_reloadable(&cf, &fresh), 0);   /* idempotent */
    conf_free(&fresh);
}
END_TEST

START_TEST(reloadable_keys)
{
    ck_assert(conf_key_is_reloadable("heartbeat"));
    ck_assert(conf_key_is_reloadable("log.console.level"));
    ck_assert(conf_key_is_reloadable("loopback_users.bob"));
    ck_assert(!conf_key_is_reloadable("data_dir"));
    ck_assert(!conf_key_is_reloadable("listeners.tcp.default"));
    ck_assert(!conf_key_is_reloadable("listeners.tcp"));
    ck_assert(!conf_key_is_reloadable("no.such.key"));
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, init_free_cycles);
    tcase_add_test(tc, empty_text_changes_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("types");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, type_string);
    tcase_add_test(tc, type_string_or_false);
    tcase_add_test(tc, type_uint);
    tcase_add_test(tc, type_uint_or_infinity);
    tcase_add_test(tc, type_seconds);
    tcase_add_test(tc, type_bytes_with_units);
    tcase_add_test(tc, type_bool);
    tcase_add_test(tc, type_loglevel);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bounds_errors);
    tcase_add_test(tc, type_errors);
    tcase_add_test(tc, unknown_keys);
    tcase_add_test(tc, syntax_errors);
    tcase_add_test(tc, comments_and_blanks);
    tcase_add_test(tc, utf8_bom_is_skipped);
    tcase_add_test(tc, duplicate_key_last_wins);
    tcase_add_test(tc, set_messages_have_no_file_line);
    tcase_add_test(tc, long_values_in_messages_are_clipped);
    suite_add_tcase(s, tc);

    tc = tcase_create("listeners");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, listener_port_only);
    tcase_add_test(tc, listener_several);
    tcase_add_test(tc, listener_limit);
    tcase_add_test(tc, listener_ipv6);
    tcase_add_test(tc, listener_errors);
    tcase_add_test(tc, listeners_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("loopback_users");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, loopback_users_forms);
    tcase_add_test(tc, loopback_users_replace_default);
    tcase_add_test(tc, loopback_users_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, load_file_errors);
    tcase_add_test(tc, load_file_line_numbers);
    tcase_add_test(tc, load_file_too_large);
    tcase_add_test(tc, shipped_conf_loads);
    tcase_add_test(tc, shipped_conf_matches_table);
    tcase_add_test(tc, shipped_conf_lists_every_option);
    suite_add_tcase(s, tc);

    tc = tcase_create("print_reload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, print_defaults_lists_everything);
    tcase_add_test(tc, reload_applies_reloadable_only);
    tcase_add_test(tc, reloadable_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
