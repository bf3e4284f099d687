/*
 * edadctl - manage a running edad through its management HTTP API, in the
 * spirit of rabbitmqctl: list queues, exchanges, bindings, connections,
 * consumers, users, vhosts and permissions; add / delete users and vhosts,
 * set tags and permissions; purge / delete queues; close connections;
 * export / import definitions.  Tab-separated output by default,
 * --formatter json on request.  Exit codes as rabbitmqctl's: 0 ok,
 * 64 usage, 65 the broker refused the request, 69 unavailable, 77 not
 * authorised.  A small HTTP/1.1 client of its own; links nothing of edad.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_UNAVAILABLE_ 69
#define EX_SOFTWARE_ 70
#define EX_NOPERM_ 77

struct ctl {
    const char *host, *port, *user, *password, *vhost;
    bool json, quiet, headers;
    int timeout_ms;
    const char *reason;          /* X-Reason header (close_connection) */
};

/* ---- HTTP ---------------------------------------------------------------------------- */

struct resp {
    int status;
    char *body;
    size_t len;
};

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64(const char *in, char *out)
{
    size_t len = strlen(in), n = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)in[i + 2];
        out[n++] = b64c[v >> 18 & 63];
        out[n++] = b64c[v >> 12 & 63];
        out[n++] = i + 1 < len ? b64c[v >> 6 & 63] : '=';
        out[n++] = i + 2 < len ? b64c[v & 63] : '=';
    }
    out[n] = '\0';
}

/* %-encode one path segment (everything but unreserved characters). */
static char *enc(const char *s)
{
    static char bufs[4][1024];
    static int k;
    char *out = bufs[k++ % 4];
    size_t n = 0;
    for (; *s && n + 4 < sizeof(bufs[0]); s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            out[n++] = (char)c;
        else
            n += (size_t)sprintf(out + n, "%%%02X", c);
    }
    out[n] = '\0';
    return out;
}

static int ctl_connect(const struct ctl *c)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(c->host, c->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* One request; false (with a message) when the API cannot be reached. */
static bool http(const struct ctl *c, const char *method, const char *path, const char *body,
                 struct resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = ctl_connect(c);
    if (fd < 0) {
        fprintf(stderr, "Error: cannot reach the management API at %s:%s: %s\n", c->host,
                c->port, strerror(errno ? errno : ECONNREFUSED));
        return false;
    }
    char cred[600], auth[900];
    snprintf(cred, sizeof(cred), "%s:%s", c->user, c->password);
    b64(cred, auth);
    size_t blen = body ? strlen(body) : 0;
    char *head = NULL;
    int hn = asprintf(&head,
                      "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
                      "Authorization: Basic %s\r\nUser-Agent: edadctl/%s\r\n%s%s%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, c->host, c->port, auth, PACKAGE_VERSION,
                      c->reason ? "X-Reason: " : "", c->reason ? c->reason : "",
                      c->reason ? "\r\n" : "", blen);
    bool ok = hn > 0 && send(fd, head, (size_t)hn, MSG_NOSIGNAL) == hn &&
              (!blen || send(fd, body, blen, MSG_NOSIGNAL) == (ssize_t)blen);
    free(head);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    while (ok && buf) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, c->timeout_ms) <= 0) {
            fprintf(stderr, "Error: no answer from %s:%s within %d ms\n", c->host, c->port,
                    c->timeout_ms);
            ok = false;
            break;
        }
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                ok = false;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    char *end = ok && buf ? (buf[len] = '\0', strstr(buf, "\r\n\r\n")) : NULL;
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        if (ok)
            fprintf(stderr, "Error: malformed answer from %s:%s\n", c->host, c->port);
        free(buf);
        return false;
    }
    r->len = len - (size_t)(end + 4 - buf);
    r->body = malloc(r->len + 1);
    memcpy(r->body, end + 4, r->len);
    r->body[r->len] = '\0';
    free(buf);
    return true;
}

/* The exit code for a finished request; prints the API's error. */
static int status_exit(const struct resp *r)
{
    if (r->status >= 200 && r->status < 300)
        return EX_OK_;
    json_t *j = json_loads(r->body, 0, NULL);
    const char *reason = json_string_value(json_object_get(j, "reason"));
    const char *error = json_string_value(json_object_get(j, "error"));
    fprintf(stderr, "Error: %s (HTTP %d%s%s)\n",
            reason && *reason ? reason : error ? error : "request failed", r->status,
            error ? ", " : "", error ? error : "");
    json_decref(j);
    if (r->status == 401 || r->status == 403)
        return EX_NOPERM_;
    return r->status >= 500 ? EX_SOFTWARE_ : EX_DATAERR_;
}

/* Request expecting no body of interest; returns the exit code. */
static int simple(const struct ctl *c, const char *method, const char *path, const char *body)
{
    struct resp r;
    if (!http(c, method, path, body, &r))
        return EX_UNAVAILABLE_;
    int rc = status_exit(&r);
    free(r.body);
    return rc;
}

/* GET as JSON; *rc gets the exit code, NULL on failure. */
static json_t *get_json(const struct ctl *c, const char *path, int *rc)
{
    struct resp r;
    if (!http(c, "GET", path, NULL, &r)) {
        *rc = EX_UNAVAILABLE_;
        return NULL;
    }
    *rc = status_exit(&r);
    json_t *j = NULL;
    if (*rc == EX_OK_) {
        json_error_t je;
        j = json_loads(r.body, 0, &je);
        if (!j) {
            fprintf(stderr, "Error: the API answered something that is not JSON: %s\n", je.text);
            *rc = EX_SOFTWARE_;
        }
    }
    free(r.body);
    return j;
}

/* ---- output ---------------------------------------------------------------------------- */

/* Field at a dotted path. */
static json_t *field(json_t *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_object_get(o, k);
    return o;
}

static void print_value(json_t *v)
{
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        for (const char *s = json_string_value(v); *s; s++) {
            if (*s == '\t')
                fputs("\\t", stdout);
            else if (*s == '\n')
                fputs("\\n", stdout);
            else if (*s == '\\')
                fputs("\\\\", stdout);
            else
                putchar(*s);
        }
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s)
        fputs(s, stdout);
    free(s);
}

/* A column: what the user typed and where it is in the API's objects. */
struct column {
    const char *name;
    const char *path;
};

static void print_table(const struct ctl *c, json_t *items, const struct column *cols,
                        size_t ncols)
{
    if (c->json) {
        json_t *out = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            json_t *o = json_object();
            for (size_t k = 0; k < ncols; k++) {
                json_t *v = field(it, cols[k].path);
                json_object_set(o, cols[k].name, v ? v : json_null());
            }
            json_array_append_new(out, o);
        }
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(out);
        return;
    }
    if (c->headers) {
        for (size_t k = 0; k < ncols; k++)
            printf("%s%s", k ? "\t" : "", cols[k].name);
        putchar('\n');
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        for (size_t k = 0; k < ncols; k++) {
            if (k)
                putchar('\t');
            print_value(field(it, cols[k].path));
        }
        putchar('\n');
    }
}

/* rabbitmqctl's column names that differ from the API's fields. */
static const struct column aliases[] = {
    {"source_name", "source"},
    {"destination_name", "destination"},
    {"destination_kind", "destination_type"},
    {"queue_name", "queue.name"},
    {"channel_pid", "channel_details.name"},
    {"pid", "name"},
    {"tags", "tags"},
};

static int list(const struct ctl *c, const char *path, int argc, char **argv,
                const struct column *defaults, size_t ndefaults)
{
    struct column cols[64];
    size_t ncols = 0;
    for (int i = 0; i < argc && ncols < 64; i++) {
        cols[ncols].name = argv[i];
        cols[ncols].path = argv[i];
        for (size_t k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++)
            if (strcmp(argv[i], aliases[k].name) == 0)
                cols[ncols].path = aliases[k].path;
        ncols++;
    }
    if (ncols == 0) {
        memcpy(cols, defaults, ndefaults * sizeof(*cols));
        ncols = ndefaults;
    }
    int rc;
    json_t *items = get_json(c, path, &rc);
    if (!items)
        return rc;
    if (!json_is_array(items)) {
        fprintf(stderr, "Error: the API did not answer with a list\n");
        json_decref(items);
        return EX_SOFTWARE_;
    }
    /* source_kind is always exchange in 0-9-1 */
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
        json_object_set_new(it, "source_kind", json_string("exchange"));
    print_table(c, items, cols, ncols);
    json_decref(items);
    return EX_OK_;
}

/* ---- commands ------------------------------------------------------------------------------ */

static int cmd_status(const struct ctl *c)
{
    int rc;
    json_t *o = get_json(c, "/api/overview", &rc);
    if (!o)
        return rc;
    if (c->json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
        return EX_OK_;
    }
    static const struct column rows[] = {
        {"product_name", "product_name"},
        {"product_version", "product_version"},
        {"node", "node"},
        {"connections", "object_totals.connections"},
        {"channels", "object_totals.channels"},
        {"exchanges", "object_totals.exchanges"},
        {"queues", "object_totals.queues"},
        {"consumers", "object_totals.consumers"},
        {"messages", "queue_totals.messages"},
        {"messages_ready", "queue_totals.messages_ready"},
        {"messages_unacknowledged", "queue_totals.messages_unacknowledged"},
        {"publish_rate", "message_stats.publish_details.rate"},
        {"deliver_get_rate", "message_stats.deliver_get_details.rate"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        printf("%s\t", rows[i].name);
        print_value(field(o, rows[i].path));
        putchar('\n');
    }
    json_decref(o);
    int arc;
    json_t *h = get_json(c, "/api/health/checks/alarms", &arc);
    printf("alarms\t%s\n", h ? "none" : "in effect");
    json_decref(h);
    return EX_OK_;
}

static char *json_body(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int put_json(const struct ctl *c, const char *method, const char *path, json_t *j)
{
    char *body = json_body(j);
    int rc = simple(c, method, path, body);
    free(body);
    return rc;
}

/* Comma-separated tags from argv. */
static json_t *tags_json(int argc, char **argv)
{
    json_t *a = json_array();
    for (int i = 0; i < argc; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

static int read_file(const char *path, char **out)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    if (!fp) {
        fprintf(stderr, "Error: cannot open %s: %s\n", path, strerror(errno));
        return EX_DATAERR_;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    if (fp != stdin)
        fclose(fp);
    if (!buf)
        return EX_SOFTWARE_;
    buf[len] = '\0';
    *out = buf;
    return EX_OK_;
}

static int cmd_export(const struct ctl *c, const char *file)
{
    int rc;
    json_t *d = get_json(c, "/api/definitions", &rc);
    if (!d)
        return rc;
    FILE *fp = strcmp(file, "-") == 0 ? stdout : fopen(file, "we");
    if (!fp) {
        fprintf(stderr, "Error: cannot write %s: %s\n", file, strerror(errno));
        json_decref(d);
        return EX_DATAERR_;
    }
    rc = json_dumpf(d, fp, JSON_INDENT(2)) == 0 && fputc('\n', fp) != EOF ? EX_OK_ : EX_DATAERR_;
    if (fp != stdout && fclose(fp) != 0)
        rc = EX_DATAERR_;
    json_decref(d);
    if (rc == EX_OK_ && !c->quiet && fp != stdout)
        fprintf(stderr, "Exported definitions to %s\n", file);
    return rc;
}

static int cmd_import(const struct ctl *c, const char *file)
{
    char *text = NULL;
    int rc = read_file(file, &text);
    if (rc != EX_OK_)
        return rc;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    if (!j) {
        fprintf(stderr, "Error: %s is not JSON: line %d: %s\n", file, je.line, je.text);
        return EX_DATAERR_;
    }
    return put_json(c, "POST", "/api/definitions", j);
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: edadctl [options] <command> [arguments]\n"
            "\n"
            "Options:\n"
            "  --host HOST           management API host (127.0.0.1; EDADCTL_HOST)\n"
            "  --port PORT           management API port (15672; EDADCTL_PORT)\n"
            "  --user USER           user (guest; EDADCTL_USER)\n"
            "  --password PASS       password (guest; EDADCTL_PASSWORD)\n"
            "  -p, --vhost VHOST     virtual host (/)\n"
            "  --formatter FMT       tsv (default) or json\n"
            "  -s, --no-table-headers  no header row in lists\n"
            "  -q, --quiet           no informational messages\n"
            "  -t, --timeout MS      wait at most MS for an answer (30000)\n"
            "\n"
            "Commands:\n"
            "  status\n"
            "  list_queues [column ...]        list_exchanges [column ...]\n"
            "  list_bindings [column ...]      list_connections [column ...]\n"
            "  list_consumers [column ...]     list_channels [column ...]\n"
            "  list_users  list_vhosts  list_permissions  list_user_permissions USER\n"
            "  add_user USER PASSWORD          delete_user USER\n"
            "  change_password USER PASSWORD   set_user_tags USER [TAG ...]\n"
            "  add_vhost VHOST                 delete_vhost VHOST\n"
            "  set_permissions USER CONF WRITE READ   clear_permissions USER\n"
            "  purge_queue QUEUE               delete_queue QUEUE [--if-empty] [--if-unused]\n"
            "  close_connection NAME [REASON]\n"
            "  export_definitions FILE         import_definitions FILE   (FILE - = stdio)\n"
            "\n"
            "Exit codes: 0 ok, 64 usage, 65 refused by the broker, 69 unavailable,\n"
            "77 not authorised.\n");
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

int main(int argc, char **argv)
{
    struct ctl c = {
        .host = env_or("EDADCTL_HOST", "127.0.0.1"),
        .port = env_or("EDADCTL_PORT", "15672"),
        .user = env_or("EDADCTL_USER", "guest"),
        .password = env_or("EDADCTL_PASSWORD", "guest"),
        .vhost = "/",
        .headers = true,
        .timeout_ms = 30000,
    };
    int i = 1;
    char *rest[64];
    int nrest = 0;
    bool if_empty = false, if_unused = false;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define OPTARG(var)                                                                  \
    do {                                                                             \
        if (!next) {                                                                 \
            fprintf(stderr, "Error: %s needs a value\n", a);                         \
            return EX_USAGE_;                                                        \
        }                                                                            \
        var = next;                                                                  \
        i++;                                                                         \
    } while (0)
        if (strcmp(a, "--host") == 0 || strcmp(a, "-H") == 0) {
            OPTARG(c.host);
        } else if (strcmp(a, "--port") == 0 || strcmp(a, "-P") == 0) {
            OPTARG(c.port);
        } else if (strcmp(a, "--user") == 0 || strcmp(a, "-u") == 0) {
            OPTARG(c.user);
        } else if (strcmp(a, "--password") == 0) {
            OPTARG(c.password);
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--vhost") == 0) {
            OPTARG(c.vhost);
        } else if (strcmp(a, "--formatter") == 0) {
            const char *f;
            OPTARG(f);
            if (strcmp(f, "json") == 0)
                c.json = true;
            else if (strcmp(f, "tsv") != 0 && strcmp(f, "table") != 0) {
                fprintf(stderr, "Error: unknown formatter %s (tsv or json)\n", f);
                return EX_USAGE_;
            }
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0) {
            const char *t;
            OPTARG(t);
            c.timeout_ms = atoi(t);
            if (c.timeout_ms <= 0) {
                fprintf(stderr, "Error: bad timeout %s\n", t);
                return EX_USAGE_;
            }
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            c.quiet = true;
        } else if (strcmp(a, "-s") == 0 || strcmp(a, "--no-table-headers") == 0) {
            c.headers = false;
        } else if (strcmp(a, "--if-empty") == 0) {
            if_empty = true;
        } else if (strcmp(a, "--if-unused") == 0) {
            if_unused = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EX_OK_;
        } else if (a[0] == '-' && a[1] && strcmp(a, "-") != 0) {
            fprintf(stderr, "Error: unknown option %s\n", a);
            usage(stderr);
            return EX_USAGE_;
        } else if (nrest < 64) {
            rest[nrest++] = argv[i];
        }
#undef OPTARG
    }
    if (nrest == 0) {
        usage(stderr);
        return EX_USAGE_;
    }
    const char *cmd = rest[0];
    int nargs = nrest - 1;
    char **args = rest + 1;
    char path[2048];
    const char *vh = enc(c.vhost);

#define NEED(n)                                                                       \
    do {                                                                              \
        if (nargs != (n)) {                                                           \
            fprintf(stderr, "Error: %s takes %d argument(s)\n", cmd, (n));            \
            usage(stderr);                                                            \
            return EX_USAGE_;                                                         \
        }                                                                             \
    } while (0)

    if (strcmp(cmd, "status") == 0) {
        NEED(0);
        return cmd_status(&c);
    }
    if (strcmp(cmd, "list_queues") == 0) {
        static const struct column d[] = {{"name", "name"}, {"messages", "messages"}};
        snprintf(path, sizeof(path), "/api/queues/%s", vh);
        return list(&c, path, nargs, args, d, 2);
    }
    if (strcmp(cmd, "list_exchanges") == 0) {
        static const struct column d[] = {{"name", "name"}, {"type", "type"}};
        snprintf(path, sizeof(path), "/api/exchanges/%s", vh);
        return list(&c, path, nargs, args, d, 2);
    }
    if (strcmp(cmd, "list_bindings") == 0) {
        static const struct column d[] = {
            {"source_name", "source"}, {"source_kind", "source_kind"},
            {"destination_name", "destination"}, {"destination_kind", "destination_type"},
            {"routing_key", "routing_key"}, {"arguments", "arguments"}};
        snprintf(path, sizeof(path), "/api/bindings/%s", vh);
        return list(&c, path, nargs, args, d, 6);
    }
    if (strcmp(cmd, "list_connections") == 0) {
        static const struct column d[] = {{"user", "user"}, {"peer_host", "peer_host"},
                                          {"peer_port", "peer_port"}, {"state", "state"},
                                          {"name", "name"}};
        return list(&c, "/api/connections", nargs, args, d, 5);
    }
    if (strcmp(cmd, "list_channels") == 0) {
        static const struct column d[] = {{"name", "name"}, {"user", "user"},
                                          {"consumer_count", "consumer_count"},
                                          {"messages_unacknowledged", "messages_unacknowledged"}};
        return list(&c, "/api/channels", nargs, args, d, 4);
    }
    if (strcmp(cmd, "list_consumers") == 0) {
        static const struct column d[] = {{"queue_name", "queue.name"},
                                          {"channel_pid", "channel_details.name"},
                                          {"consumer_tag", "consumer_tag"},
                                          {"ack_required", "ack_required"},
                                          {"prefetch_count", "prefetch_count"},
                                          {"active", "active"}, {"arguments", "arguments"}};
        snprintf(path, sizeof(path), "/api/consumers/%s", vh);
        return list(&c, path, nargs, args, d, 7);
    }
    if (strcmp(cmd, "list_users") == 0) {
        static const struct column d[] = {{"user", "name"}, {"tags", "tags"}};
        NEED(0);
        return list(&c, "/api/users", 0, args, d, 2);
    }
    if (strcmp(cmd, "list_vhosts") == 0) {
        static const struct column d[] = {{"name", "name"}};
        return list(&c, "/api/vhosts", nargs, args, d, 1);
    }
    if (strcmp(cmd, "list_permissions") == 0) {
        static const struct column d[] = {{"user", "user"}, {"configure", "configure"},
                                          {"write", "write"}, {"read", "read"}};
        NEED(0);
        snprintf(path, sizeof(path), "/api/vhosts/%s/permissions", vh);
        return list(&c, path, 0, args, d, 4);
    }
    if (strcmp(cmd, "list_user_permissions") == 0) {
        static const struct column d[] = {{"vhost", "vhost"}, {"configure", "configure"},
                                          {"write", "write"}, {"read", "read"}};
        NEED(1);
        snprintf(path, sizeof(path), "/api/users/%s/permissions", enc(args[0]));
        return list(&c, path, 0, args, d, 4);
    }
    if (strcmp(cmd, "add_user") == 0) {
        NEED(2);
        snprintf(path, sizeof(path), "/api/users/%s", enc(args[0]));
        /* rabbitmqctl add_user fails when the user exists */
        int rc;
        json_t *u = get_json(&c, path, &rc);
        if (u) {
            json_decref(u);
            fprintf(stderr, "Error: user '%s' already exists\n", args[0]);
            return EX_DATAERR_;
        }
        if (rc == EX_UNAVAILABLE_ || rc == EX_NOPERM_)
            return rc;
        return put_json(&c, "PUT", path, json_pack("{s:s, s:s}", "password", args[1], "tags", ""));
    }
    if (strcmp(cmd, "delete_user") == 0) {
        NEED(1);
        snprintf(path, sizeof(path), "/api/users/%s", enc(args[0]));
        return simple(&c, "DELETE", path, NULL);
    }
    if (strcmp(cmd, "change_password") == 0) {
        NEED(2);
        snprintf(path, sizeof(path), "/api/users/%s", enc(args[0]));
        int rc;
        json_t *u = get_json(&c, path, &rc);
        if (!u)
            return rc;
        json_t *body = json_pack("{s:s, s:O}", "password", args[1], "tags",
                                 json_object_get(u, "tags"));
        json_decref(u);
        return put_json(&c, "PUT", path, body);
    }
    if (strcmp(cmd, "set_user_tags") == 0) {
        if (nargs < 1) {
            fprintf(stderr, "Error: set_user_tags takes a user and tags\n");
            return EX_USAGE_;
        }
        snprintf(path, sizeof(path), "/api/users/%s", enc(args[0]));
        int rc;
        json_t *u = get_json(&c, path, &rc);
        if (!u)
            return rc;
        json_decref(u);
        /* no password: the user keeps its own */
        return put_json(&c, "PUT", path, json_pack("{s:o}", "tags", tags_json(nargs - 1, args + 1)));
    }
    if (strcmp(cmd, "add_vhost") == 0) {
        NEED(1);
        snprintf(path, sizeof(path), "/api/vhosts/%s", enc(args[0]));
        return simple(&c, "PUT", path, "{}");
    }
    if (strcmp(cmd, "delete_vhost") == 0) {
        NEED(1);
        snprintf(path, sizeof(path), "/api/vhosts/%s", enc(args[0]));
        return simple(&c, "DELETE", path, NULL);
    }
    if (strcmp(cmd, "set_permissions") == 0) {
        NEED(4);
        snprintf(path, sizeof(path), "/api/permissions/%s/%s", vh, enc(args[0]));
        return put_json(&c, "PUT", path, json_pack("{s:s, s:s, s:s}", "configure", args[1],
                                                   "write", args[2], "read", args[3]));
    }
    if (strcmp(cmd, "clear_permissions") == 0) {
        NEED(1);
        snprintf(path, sizeof(path), "/api/permissions/%s/%s", vh, enc(args[0]));
        return simple(&c, "DELETE", path, NULL);
    }
    if (strcmp(cmd, "purge_queue") == 0) {
        NEED(1);
        snprintf(path, sizeof(path), "/api/queues/%s/%s/contents", vh, enc(args[0]));
        return simple(&c, "DELETE", path, NULL);
    }
    if (strcmp(cmd, "delete_queue") == 0) {
        NEED(1);
        snprintf(path, sizeof(path), "/api/queues/%s/%s%s%s%s", vh, enc(args[0]),
                 if_empty || if_unused ? "?" : "", if_empty ? "if-empty=true" : "",
                 if_unused ? (if_empty ? "&if-unused=true" : "if-unused=true") : "");
        return simple(&c, "DELETE", path, NULL);
    }
    if (strcmp(cmd, "close_connection") == 0) {
        if (nargs < 1 || nargs > 2) {
            fprintf(stderr, "Error: close_connection takes a name and an optional reason\n");
            return EX_USAGE_;
        }
        snprintf(path, sizeof(path), "/api/connections/%s", enc(args[0]));
        if (nargs == 2) {
            if (strpbrk(args[1], "\r\n")) {
                fprintf(stderr, "Error: the reason must be one line\n");
                return EX_USAGE_;
            }
            c.reason = args[1];
        }
        return simple(&c, "DELETE", path, NULL);
    }
    if (strcmp(cmd, "export_definitions") == 0) {
        NEED(1);
        return cmd_export(&c, args[0]);
    }
    if (strcmp(cmd, "import_definitions") == 0) {
        NEED(1);
        return cmd_import(&c, args[0]);
    }
#undef NEED
    fprintf(stderr, "Error: unknown command %s\n", cmd);
    usage(stderr);
    return EX_USAGE_;
}
