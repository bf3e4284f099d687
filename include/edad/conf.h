/*
 * conf.h - edad's configuration: RabbitMQ's rabbitmq.conf "key = value"
 * format and key names where RabbitMQ has the key, plus edad's own keys.
 * Every option is declared once in src/conf/options.def (name, type,
 * default, bounds, reloadable flag, help); the parser, `edad
 * --print-defaults` and conf/edad.conf all follow that table.  Knows
 * nothing about sockets or the event loop: it only fills a struct.
 */
#ifndef EDAD_CONF_H
#define EDAD_CONF_H

#include "edad/core.h"

#define CONF_MAX_LISTENERS 16

struct conf_listener {
    char name[64];        /* the part after listeners.tcp. ("default") */
    char host[256];       /* numeric IPv4/IPv6 address or host name; "" = all;
                             IPv6 is stored without brackets ("::1") */
    uint16_t port;
};

/* Ordered list family (auth_mechanisms.<name> = VALUE): values in the order
   their names were first set; names[i] is the member that set values[i].
   Both NULL-terminated (never NULL after conf_init). */
struct conf_strlist {
    char **names;
    char **values;
};

/* CHOICE options: which word list an option takes (its max in options.def);
   the field holds the index of the word in that list. */
enum conf_choice_set {
    CONF_CHOICES_SSL_VERIFY,      /* verify_none | verify_peer */
    CONF_CHOICES_CERT_LOGIN,      /* distinguished_name | common_name */
};
enum conf_ssl_verify { CONF_SSL_VERIFY_NONE, CONF_SSL_VERIFY_PEER };
enum conf_cert_login { CONF_CERT_LOGIN_DN, CONF_CERT_LOGIN_CN };

struct edad_conf {
    /* listeners.tcp.<name> = [host:]port; listeners.tcp = none clears them */
    struct conf_listener listeners[CONF_MAX_LISTENERS];
    unsigned n_listeners;

    char *default_user;         /* default_user (guest) */
    char *default_pass;         /* default_pass (guest) */
    char *default_vhost;        /* default_vhost (/) */
    char *load_definitions;     /* users and access (issue 7): load_definitions
                                   file path, NULL (false) = none */
    char **loopback_users;      /* loopback_users.<user> = true|false, or = none;
                                   NULL-terminated list, default {"guest"} */

    uint32_t heartbeat;         /* seconds, 0 disables; default 60 */
    uint32_t frame_max;         /* bytes, 4096..; default 131072 */
    uint16_t channel_max;       /* default 2047; 0 means 65535 on the wire */
    uint64_t max_message_size;  /* bytes; default 134217728 */
    uint32_t handshake_timeout; /* ms; default 10000; 0 = none ("infinity") */
    uint32_t connection_max;    /* 0 = unlimited (RabbitMQ "infinity") */
    uint32_t tcp_backlog;       /* tcp_listen_options.backlog; default 128 */
    bool tcp_nodelay;           /* tcp_listen_options.nodelay; default true */

    enum log_level log_level;   /* log.console.level (info) */
    bool log_console;           /* log.console (true) */
    char *log_file;             /* log.file: path or NULL (false) */
    enum log_level log_file_level; /* log.file.level (info) */

    char *data_dir;             /* edad: data_dir, default "/var/lib/edad" */
    bool store_sync;            /* edad: store.sync; default true */
    uint32_t store_segment_size; /* edad: store.segment_size bytes; default 8 MiB */
    uint32_t store_idle_reclaim_ms; /* edad: store.idle_reclaim_ms; default 1000 */
    uint64_t store_paging_threshold; /* edad: store.paging_threshold bytes per durable
                                        queue; default 16 MiB, 0 never pages (paging) */
    uint32_t output_high_water; /* edad: net.output_high_watermark bytes; default 1 MiB */
    char *net_io_threads;       /* edad: net.io_threads: "0", "1" or "auto" (default) */

    /* TLS and authentication mechanisms (issue 7, src/net/tls.c, sasl.c) */
    struct conf_listener ssl_listeners[CONF_MAX_LISTENERS]; /* listeners.ssl.<name>;
                                   default none */
    unsigned n_ssl_listeners;
    char *ssl_cacertfile;       /* ssl_options.cacertfile (not set) */
    char *ssl_certfile;         /* ssl_options.certfile (not set) */
    char *ssl_keyfile;          /* ssl_options.keyfile (not set) */
    unsigned ssl_verify;        /* ssl_options.verify: enum conf_ssl_verify (verify_none) */
    bool ssl_fail_if_no_peer_cert; /* ssl_options.fail_if_no_peer_cert (false) */
    struct conf_strlist ssl_versions; /* ssl_options.versions.<n>: tlsv1.2, tlsv1.3;
                                   empty = both */
    struct conf_strlist auth_mechanisms; /* auth_mechanisms.<n> (PLAIN, AMQPLAIN) */
    unsigned ssl_cert_login_from; /* enum conf_cert_login (distinguished_name) */

    /* Resource alarms (issue 7, src/server_alarm.c): the strings are parsed
       and checked at start (RabbitMQ's fractions and information units) */
    char *vm_memory_relative;   /* vm_memory_high_watermark.relative ("0.4") */
    char *vm_memory_absolute;   /* vm_memory_high_watermark.absolute (not set) */
    char *disk_free_absolute;   /* disk_free_limit.absolute ("50MB") */
    char *disk_free_relative;   /* disk_free_limit.relative (not set) */
    uint32_t alarm_check_interval; /* edad: alarms.check_interval ms; default 1000 */

    /* management (H8): the HTTP API and the Prometheus endpoint */
    uint32_t management_port;   /* management.tcp.port (15672); 0 = off */
    char *management_ip;        /* management.tcp.ip (127.0.0.1) */
    uint32_t prometheus_port;   /* prometheus.tcp.port (15692); 0 = off */
    char *prometheus_ip;        /* prometheus.tcp.ip (127.0.0.1) */

    /* Private to conf.c: bit i set while option i, a family such as
       listeners.tcp.<name>, still holds its built-in default (the first
       key of the family that is set replaces the default, as in RabbitMQ). */
    uint64_t family_defaulted;
};

/* Fill *c with every option's default (heap strings; conf_free releases). */
void conf_init(struct edad_conf *c);
/* Release every heap string and list; *c may be conf_init'ed again. */
void conf_free(struct edad_conf *c);

/*
 * Parse a file on top of the current values.  On failure returns
 * EDAD_ERR_INVALID (or EDAD_ERR_IO when it can't be read) and writes
 * "FILE:LINE: reason" into err.  Unknown keys and out-of-bounds or
 * ill-typed values are errors.  Comments start with '#'.
 * Comments are whole lines only (a '#' after a value is part of it).
 * Parsing stops at the first error; *c may then hold the values set
 * before it and must still be released with conf_free.  err may be NULL.
 */
edad_status conf_load_file(struct edad_conf *c, const char *path, char *err, size_t errlen);
/* Same, from a string (for tests and fuzzing); name is used in messages. */
edad_status conf_load_string(struct edad_conf *c, const char *name, const char *text,
                             char *err, size_t errlen);
/* Apply one key = value pair (used by the parser and by -s overrides).
   Key and value are trimmed.  On failure returns EDAD_ERR_INVALID, leaves
   the option unchanged and writes "key: reason" (no file:line) into err. */
edad_status conf_set(struct edad_conf *c, const char *key, const char *value,
                     char *err, size_t errlen);
/* Print the option table: each key, type, default, bounds and help. */
void conf_print_defaults(FILE *out);
/* Print the shipped conf/edad.conf (every option commented with its
   default and help); `make regen-conf` writes the file with it. */
void conf_print_conf(FILE *out);
/* Print the man page edad.conf(5) (roff) from the same table; `make
   regen-man` writes man/edad.conf.5 with it. */
void conf_print_man(FILE *out);
/* True when user must connect from loopback only. */
bool conf_is_loopback_user(const struct edad_conf *c, const char *user);
/*
 * SIGHUP: copy every option marked reloadable from fresh (a newly loaded
 * conf) into live, deep-copying strings and lists.  Other options keep
 * live's value; each one whose value differs is logged at warning level
 * ("restart edad to apply") and counted.  Returns that count.
 */
unsigned conf_apply_reloadable(struct edad_conf *live, const struct edad_conf *fresh);
/* Whether the option named key (e.g. "heartbeat", "listeners.tcp.x") is
   reloadable; false for unknown keys. */
bool conf_key_is_reloadable(const char *key);

#endif
