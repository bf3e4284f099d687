/*
 * main.c - the edad command line: options, loading the configuration
 * (file, then -s overrides), process set-up (SIGPIPE, file limit, data
 * dir) and handing over to server.c.  Foreground only: systemd (or the
 * shell) supervises it.  No protocol or event-loop code here.
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
            "  -V, --version         print the version and exit\n"
            "  -h, --help            print this help and exit\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reopens the log file.\n",
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

/* A service should not be stopped by the default soft limit of 1024 fds. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rl.rlim_cur = rl.rlim_max < 1048576 ? rl.rlim_max : 1048576;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return;
    }
    log_debug("raised the open file limit from %llu to %llu", (unsigned long long)old,
              (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"test-config", no_argument, NULL, 't'},
        {"print-defaults", no_argument, NULL, 'D'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    char **sets = xcalloc((size_t)argc + 1, sizeof(*sets));
    size_t n_sets = 0;
    bool test_only = false;
    int rc = EX_OK_;
    struct edad_conf conf;
    struct edad_server *srv = NULL;
    char err[1024];

    conf_init(&conf);
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
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

    if (!config && access(DEFAULT_CONFIG, F_OK) == 0)
        config = DEFAULT_CONFIG;
    if (config && conf_load_file(&conf, config, err, sizeof(err)) != EDAD_OK) {
        fprintf(stderr, "edad: %s\n", err);
        rc = EX_CONFIG_;
        goto out;
    }
    for (size_t i = 0; i < n_sets; i++) {
        char *eq = strchr(sets[i], '=');
        if (!eq) {
            fprintf(stderr, "edad: --set %s: expected KEY=VALUE\n", sets[i]);
            rc = EX_CONFIG_;
            goto out;
        }
        *eq = '\0';
        char *key = sets[i], *value = eq + 1;
        /* trim blanks around the key and the value, as in a file */
        while (*key == ' ' || *key == '\t')
            key++;
        for (char *e = key + strlen(key); e > key && (e[-1] == ' ' || e[-1] == '\t');)
            *--e = '\0';
        while (*value == ' ' || *value == '\t')
            value++;
        if (conf_set(&conf, key, value, err, sizeof(err)) != EDAD_OK) {
            fprintf(stderr, "edad: --set %s=%s: %s\n", key, value, err);
            *eq = '=';
            rc = EX_CONFIG_;
            goto out;
        }
        *eq = '=';
    }
    if (test_only) {
        printf("edad: configuration %s is ok\n", config ? config : "(built-in defaults)");
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
    raise_nofile_limit();
    if (conf.data_dir && mkdir_p(conf.data_dir) != 0) {
        fprintf(stderr, "edad: cannot create data_dir %s: %s\n", conf.data_dir, strerror(errno));
        rc = EX_CANTCREAT_;
        goto out;
    }
    log_info("edad %s starting (config: %s, data_dir: %s)", PACKAGE_VERSION,
             config ? config : "built-in defaults", conf.data_dir ? conf.data_dir : "-");

    srv = server_new(&conf, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "edad: %s\n", err);
        rc = 1;
        goto out;
    }
    if (server_run(srv) != EDAD_OK)
        rc = 1;

out:
    server_free(srv);
    server_log_close();
    conf_free(&conf);
    free(sets);
    return rc;
}
