/*
 * edad-check-store - offline verifier of an edad data directory, in the
 * spirit of redis-check-aof: opens the store read-only (refusing while edad
 * runs), verifies every record checksum as recovery would, and prints the
 * queues, their live message counts, segments, bytes and damage.  It never
 * modifies the directory.  Exit status: 0 clean, 1 damage found, 2 unusable.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edad/store.h"

struct ctx {
    bool verbose;
    uint64_t queues, messages, segments, bytes, damaged, dropped;
    bool damage;
};

static void print_name(const char *label, struct edad_bytes b)
{
    printf("%s'", label);
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = b.ptr[i];
        if (c == '\'' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\'');
}

static void print_segment(void *arg, const struct store_segment_info *si)
{
    (void)arg;
    printf("    msgs.%010u: %llu bytes, %llu record(s), %llu live%s%s", si->id,
           (unsigned long long)si->bytes, (unsigned long long)si->records,
           (unsigned long long)si->live, si->footer ? ", closed" : ", open (no footer)",
           si->live == 0 ? ", fully acked" : "");
    if (si->damaged_records || si->dropped_bytes)
        printf(", DAMAGE: %llu bad record(s), %llu byte(s) unreadable",
               (unsigned long long)si->damaged_records, (unsigned long long)si->dropped_bytes);
    putchar('\n');
}

static bool print_queue(void *arg, struct qstore *qs)
{
    struct ctx *c = arg;
    struct qstore_stats s;
    qstore_get_stats(qs, &s);
    print_name("queue ", qstore_name(qs));
    print_name(" in vhost ", qstore_vhost(qs));
    printf(": %llu message(s), %llu segment(s), %llu bytes", (unsigned long long)s.messages,
           (unsigned long long)s.segments, (unsigned long long)s.disk_bytes);
    if (s.delivered_set)
        printf(", delivered up to seq %llu", (unsigned long long)s.delivered_mark);
    if (s.damaged_records || s.dropped_bytes)
        printf(", DAMAGE: %llu bad record(s), %llu byte(s) unreadable",
               (unsigned long long)s.damaged_records, (unsigned long long)s.dropped_bytes);
    if (s.mark_damaged)
        printf(", DAMAGE: unreadable delivered mark");
    printf("\n    %s\n", qstore_dir(qs));
    if (c->verbose)
        qstore_foreach_segment(qs, print_segment, c);
    c->queues++;
    c->messages += s.messages;
    c->segments += s.segments;
    c->bytes += s.disk_bytes;
    if (s.mark_damaged)
        c->damage = true;
    return true;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: edad-check-store [-v] DATA_DIR\n"
               "Verify an edad data directory offline (edad must not be running on it).\n"
               "  -v  list every segment file\n"
               "Exit status: 0 clean, 1 damage found, 2 unusable.\n");
}

int main(int argc, char **argv)
{
    struct ctx c = {0};
    int opt;
    while ((opt = getopt(argc, argv, "vh")) != -1) {
        switch (opt) {
        case 'v': c.verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    log_set_level(EDAD_LOG_WARNING);   /* damage details go to stderr */

    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = argv[optind];
    o.read_only = true;
    o.sync = false;
    struct store *st = NULL;
    char err[512] = "";
    edad_status rc = store_open(&o, &st, err, sizeof(err));
    if (rc != EDAD_OK) {
        fprintf(stderr, "edad-check-store: %s\n", err[0] ? err : edad_strerror(rc));
        return 2;
    }
    printf("data directory %s\n", store_data_dir(st));

    json_t *defs = NULL;
    rc = store_definitions_read(st, &defs, err, sizeof(err));
    if (rc == EDAD_OK) {
        printf("definitions.json: ok");
        static const char *keys[] = {"vhosts", "exchanges", "queues", "bindings", "users"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            json_t *a = json_object_get(defs, keys[i]);
            if (json_is_array(a))
                printf(", %zu %s", json_array_size(a), keys[i]);
        }
        putchar('\n');
        json_decref(defs);
    } else if (rc == EDAD_ERR_NOT_FOUND) {
        printf("definitions.json: none\n");
    } else {
        printf("definitions.json: DAMAGE: %s\n", err);
        c.damage = true;
    }

    store_foreach_queue(st, print_queue, &c);
    struct store_stats s;
    store_get_stats(st, &s);
    if (s.damaged_records || s.dropped_bytes || s.unreadable_queues)
        c.damage = true;
    printf("total: %llu queue(s), %llu message(s), %llu segment(s), %llu bytes; "
           "%llu damaged record(s), %llu byte(s) unreadable, %llu unreadable queue dir(s); "
           "checked in %.3f s\n",
           (unsigned long long)c.queues, (unsigned long long)c.messages,
           (unsigned long long)c.segments, (unsigned long long)c.bytes,
           (unsigned long long)s.damaged_records, (unsigned long long)s.dropped_bytes,
           (unsigned long long)s.unreadable_queues, (double)s.recovery_us / 1e6);
    printf("%s\n", c.damage ? "DAMAGE FOUND (edad would skip it and start)" : "clean");
    store_close(st);
    return c.damage ? 1 : 0;
}
