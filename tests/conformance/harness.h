/*
 * harness.h - runs edad for the conformance suites: a free 127.0.0.1 port, a
 * temporary conf and data dir, fork/exec of the daemon, a bounded wait until
 * it accepts connections, and a SIGTERM (then SIGKILL) stop that leaves no
 * process behind.  With EDAD_TEST_ADDR=host:port the suites use an already
 * running daemon instead, and tests that need their own configuration skip.
 * It does not speak AMQP (rawamqp.h and rabbitmq-c do).
 */
#ifndef EDAD_TESTS_HARNESS_H
#define EDAD_TESTS_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct harness_server {
    pid_t pid;            /* edad's pid; 0 when external or stopped */
    char host[64];        /* numeric address clients connect to */
    uint16_t port;
    char dir[512];        /* temp dir holding edad.conf and data/; "" if external */
    bool external;        /* EDAD_TEST_ADDR: not ours to start or stop */
};

/*
 * Call first in main(): creates the per-program temp root (removed by
 * harness_cleanup), and returns 77 (the automake SKIP code) when edad was
 * not built and EDAD_BIN is unset, 0 otherwise.
 */
int harness_init(const char *program);
/* Call last in main(): removes the temp root and everything below it. */
void harness_cleanup(void);

/* True when EDAD_TEST_ADDR points the suites at a running daemon. */
bool harness_external(void);

/*
 * Start edad with the generated conf plus extra_conf ("key = value" lines,
 * may be NULL) and wait until it accepts connections.  With EDAD_TEST_ADDR
 * set, fills in the external address instead (extra_conf must be NULL: use
 * HARNESS_NEEDS_OWN_SERVER first).  Aborts the current test on failure.
 */
void harness_start(struct harness_server *s, const char *extra_conf);

/* harness_start with extra command-line arguments after "-c CONF" (NULL-terminated). */
void harness_start_args(struct harness_server *s, const char *extra_conf,
                        const char *const *extra_args);

/*
 * Run edad with argv (argv[0] is ignored: the harness's binary is used) to
 * completion, stdout and stderr captured into out (NUL-terminated, cut at
 * outlen).  Returns the wait status; kills it and fails the test when it runs
 * longer than timeout_ms.
 */
int harness_exec(const char *const *argv, char *out, size_t outlen, int timeout_ms);

/* Write text to a new file in the per-test temp dir; returns its path (static). */
const char *harness_write_file(const char *name, const char *text);

/* Per-process scratch dir below the temp root (created on first use). */
const char *harness_scratch_dir(void);

/*
 * Stop: SIGTERM, wait up to 10 s, then SIGKILL.  Returns the wait status
 * (or 0 for an external or already stopped server).  Idempotent.
 */
int harness_stop(struct harness_server *s);

/*
 * Send sig and wait up to timeout_ms for edad to exit.  Returns true and
 * sets *status when it exited; the pid is then forgotten.
 */
bool harness_signal_wait(struct harness_server *s, int sig, int timeout_ms, int *status);

/* Number of open file descriptors of the daemon (-1 when unknown). */
int harness_fd_count(const struct harness_server *s);
/* Resident set size of the daemon in KiB (-1 when unknown). */
long harness_rss_kib(const struct harness_server *s);

/* Sleep for ms milliseconds (tests never assert on timing). */
void harness_sleep_ms(int ms);

/* Tests needing their own configuration or process skip with a message. */
#define HARNESS_NEEDS_OWN_SERVER()                                                        \
    do {                                                                                  \
        if (harness_external()) {                                                         \
            fprintf(stderr, "SKIP %s: needs its own edad (EDAD_TEST_ADDR is set)\n",      \
                    __func__);                                                            \
            return;                                                                       \
        }                                                                                 \
    } while (0)

/* Shared checked fixture: one default edad per test. */
extern struct harness_server harness_default;
void harness_setup_default(void);
void harness_teardown_default(void);

/* Exit status of srunner + harness_cleanup; use as `return harness_run(sr);`. */
int harness_run(SRunner *sr);

#endif
