/*
 * main.c - the edad command line: options, loading the configuration
 * (file, then -s overrides; again on SIGHUP), process set-up (SIGPIPE,
 * file limit, data dir) and handing over to server.c.  Foreground only:
 * systemd (Type=notify) or the shell supervises it.  No protocol or
 * event-loop code here.  Exit codes: 0 clean stop, 1 runtime failure,
 * 64 usage, 73 cannot create the log file or data_dir, 78 configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "edad/conf.h"
#include "edad/server.h"
#include "edad/service.h"
#include "server_access.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_CANTCREAT_ 73
#define EX_CONFIG_ 78

#ifndef EDAD_SYSCONFDIR
#define EDAD_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG EDAD_SYSCONFDIR "/edad/edad.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: edad [OPTION]...\n"
            "edad, an AMQP 0-9-1 message broker, in the foreground.\n"
            "\n"
            "  -c, --config FILE     configuration file (default: %s if it exists,\n"
            "                        else built-in defaults)\n"
            "  -s, --set KEY=VALUE   override one option after the file (repeatable),\n"
            "                        e.g. -s data_dir=./data\n"
            "  -t, --test-config     check the configuration, print ok, exit\n"
            "      --print-defaults  print every option with its default and exit\n"
            "      --export-definitions FILE\n"
            "                        write the users, vhosts, permissions, exchanges,\n"
            "                        queues and bindings stored in data_dir to FILE\n"
            "                        (- for stdout) in RabbitMQ's JSON format, and exit;\n"
            "                        fails while edad runs on that data_dir\n"
            "  -V, --version         print the version and exit\n"
            "  -h, --help            print this help and exit\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop gracefully; SIGHUP re-reads the configuration\n"
            "(reloadable options) and reopens log.file.\n"
            "Exit status: 0 stopped cleanly, 1 runtime error, 64 usage error,\n"
            "73 cannot create log.file or data_dir, 78 configuration error.\n"
            "See edad(8) and edad.conf(5).\n",
            DEFAULT_CONFIG);
}

/* mkdir -p; 0 or -1 with errno. */
static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(buf, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Where the configuration comes from: a file (or none) and -s overrides. */
struct conf_source {
    const char *file;           /* NULL: built-in defaults */
    char **sets;                /* "KEY=VALUE" strings from argv */
    size_t n_sets;
    struct edad_conf *live;     /* the running configuration (for reload) */
};

/*
 * Fill c (conf_init'ed) from src: the file, then each override in order.
 * EDAD_ERR_INVALID / EDAD_ERR_IO with the reason in err.
 */
static edad_status conf_source_load(const struct conf_source *src, struct edad_conf *c,
                                    char *err, size_t errlen)
{
    edad_status st = EDAD_OK;
    if (src->file && (st = conf_load_file(c, src->file, err, errlen)) != EDAD_OK)
        return st;
    for (size_t i = 0; i < src->n_sets; i++) {
        char *eq = strchr(src->sets[i], '=');
        if (!eq) {
            snprintf(err, errlen, "--set %s: expected KEY=VALUE", src->sets[i]);
            return EDAD_ERR_INVALID;
        }
        size_t klen = (size_t)(eq - src->sets[i]);
        char *key = xmalloc(klen + 1);
        memcpy(key, src->sets[i], klen);
        key[klen] = '\0';
        char why[900];
        st = conf_set(c, key, eq + 1, why, sizeof(why));   /* conf_set trims */
        if (st != EDAD_OK)
            snprintf(err, errlen, "--set %s: %s", src->sets[i], why);
        free(key);
        if (st != EDAD_OK)
            return st;
    }
    return EDAD_OK;
}

/* SIGHUP (server_reload_fn): a fresh load, reloadable options applied. */
static edad_status conf_source_reload(void *ctx, char *err, size_t errlen)
{
    const struct conf_source *src = ctx;
    struct edad_conf fresh;
    conf_init(&fresh);
    edad_status st = conf_source_load(src, &fresh, err, errlen);
    if (st == EDAD_OK) {
        unsigned ignored = conf_apply_reloadable(src->live, &fresh);
        log_info("configuration reloaded from %s%s", src->file ? src->file : "built-in defaults",
                 ignored ? " (options that need a restart kept their running values)" : "");
    }
    conf_free(&fresh);
    return st;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"test-config", no_argument, NULL, 't'},
        {"print-defaults", no_argument, NULL, 'D'},
        {"export-definitions", required_argument, NULL, 'E'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct conf_source src = {0};
    char **sets = xcalloc((size_t)argc + 1, sizeof(*sets));
    size_t n_sets = 0;
    bool test_only = false;
    const char *export_path = NULL;
    int rc = EX_OK_;
    struct edad_conf conf;
    struct edad_server *srv = NULL;
    char err[1024];

    conf_init(&conf);
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            src.file = optarg;
            break;
        case 's':
            sets[n_sets++] = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'D':
            conf_print_defaults(stdout);
            goto out;
        case 'E':
            export_path = optarg;
            break;
        case 'V':
            printf("edad %s\n", PACKAGE_VERSION);
            goto out;
        case 'h':
            usage(stdout);
            goto out;
        default:
            usage(stderr);
            rc = EX_USAGE_;
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edad: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        rc = EX_USAGE_;
        goto out;
    }

    if (!src.file && access(DEFAULT_CONFIG, F_OK) == 0)
        src.file = DEFAULT_CONFIG;
    src.sets = sets;
    src.n_sets = n_sets;
    src.live = &conf;
    if (conf_source_load(&src, &conf, err, sizeof(err)) != EDAD_OK) {
        fprintf(stderr, "edad: %s\n", err);
        rc = EX_CONFIG_;
        goto out;
    }
    if (server_conf_check(&conf, err, sizeof(err)) != EDAD_OK) {
        fprintf(stderr, "edad: %s\n", err);
        rc = EX_CONFIG_;
        goto out;
    }
    if (test_only) {
        printf("edad: configuration %s is ok\n", src.file ? src.file : "(built-in defaults)");
        goto out;
    }
    if (export_path) {
        log_set_level(EDAD_LOG_WARNING);
        if (server_export_definitions(&conf, export_path, err, sizeof(err)) != EDAD_OK) {
            fprintf(stderr, "edad: --export-definitions: %s\n", err);
            rc = 1;
        }
        goto out;
    }

    signal(SIGPIPE, SIG_IGN);
    /* a file-size limit makes writes fail (EFBIG, handled) instead of killing us */
    signal(SIGXFSZ, SIG_IGN);
    if (server_log_open(&conf, err, sizeof(err)) != EDAD_OK) {
        fprintf(stderr, "edad: %s\n", err);
        rc = EX_CANTCREAT_;
        goto out;
    }
    service_raise_nofile_limit();
    if (conf.data_dir && mkdir_p(conf.data_dir) != 0) {
        fprintf(stderr, "edad: cannot create data_dir %s: %s\n", conf.data_dir, strerror(errno));
        rc = EX_CANTCREAT_;
        goto out;
    }
    log_info("edad %s starting (config: %s, data_dir: %s)", PACKAGE_VERSION,
             src.file ? src.file : "built-in defaults", conf.data_dir ? conf.data_dir : "-");

    srv = server_new(&conf, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "edad: %s\n", err);
        rc = 1;
        goto out;
    }
    server_set_reload(srv, conf_source_reload, &src);
    if (server_run(srv) != EDAD_OK)
        rc = 1;

out:
    if (srv) {
        server_free(srv);
        log_info("edad stopped");
    }
    server_log_close();
    conf_free(&conf);
    free(sets);
    return rc;
}
