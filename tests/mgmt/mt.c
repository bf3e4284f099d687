/*
 * mt.c - see mt.h.  The HTTP client sends "Connection: close" and reads
 * to end of stream, so framing is trivial; it checks Content-Length when
 * present.
 */
#include "mt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t mt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

void mt_start(struct mt_server *m, const char *extra_conf)
{
    m->api_port = mt_free_port();
    m->prom_port = mt_free_port();
    while (m->prom_port == m->api_port)
        m->prom_port = mt_free_port();
    char conf[2048];
    snprintf(conf, sizeof(conf), "management.tcp.port = %u\nprometheus.tcp.port = %u\n%s\n",
             m->api_port, m->prom_port, extra_conf ? extra_conf : "");
    harness_start(&m->s, conf);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const char *in, char *out)
{
    size_t len = strlen(in), n = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)(uint8_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (uint8_t)in[i + 2];
        out[n++] = b64[v >> 18 & 63];
        out[n++] = b64[v >> 12 & 63];
        out[n++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        out[n++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[n] = '\0';
}

static int mt_connect(uint16_t port)
{
    /* the listener opens a moment after the AMQP one: retry refused connects */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        harness_sleep_ms(20);
    }
    return -1;
}

void mt_http(uint16_t port, const char *method, const char *path, const char *auth,
             const char *body, struct mt_resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = mt_connect(port);
    ck_assert_msg(fd >= 0, "cannot connect to 127.0.0.1:%u: %s", port, strerror(errno));
    size_t blen = body ? strlen(body) : 0;
    char authh[600] = "";
    if (auth) {
        char enc[520];
        ck_assert(strlen(auth) < 380);
        b64_encode(auth, enc);
        snprintf(authh, sizeof(authh), "Authorization: Basic %s\r\n", enc);
    }
    char head[4096];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, port, authh, blen);
    ck_assert(hn > 0 && (size_t)hn < sizeof(head));
    ck_assert_int_eq(send(fd, head, (size_t)hn, MSG_NOSIGNAL), hn);
    if (blen)
        ck_assert_int_eq(send(fd, body, blen, MSG_NOSIGNAL), (ssize_t)blen);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ck_assert(buf != NULL);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, 10000);
        ck_assert_msg(pr > 0, "no HTTP answer to %s %s within 10 s", method, path);
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert(buf != NULL);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    ck_assert_msg(end != NULL, "malformed HTTP answer to %s %s: %s", method, path, buf);
    ck_assert_msg(sscanf(buf, "HTTP/1.%*d %d", &r->status) == 1, "bad status line: %.80s", buf);
    size_t hl = (size_t)(end - buf);
    if (hl >= sizeof(r->headers))
        hl = sizeof(r->headers) - 1;
    memcpy(r->headers, buf, hl);
    r->headers[hl] = '\0';
    /* lower-case the names */
    for (char *line = strstr(r->headers, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        for (char *c = line + 2; *c && *c != ':' && *c != '\r'; c++)
            *c = (char)tolower((unsigned char)*c);
    r->body_len = len - (size_t)(end + 4 - buf);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, end + 4, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
    char cl[32];
    if (mt_header(r, "content-length", cl, sizeof(cl)))
        ck_assert_msg((size_t)atol(cl) == r->body_len, "Content-Length %s but %zu bytes", cl,
                      r->body_len);
}

const char *mt_header(const struct mt_resp *r, const char *name, char *buf, size_t len)
{
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s:", name);
    const char *p = strstr(r->headers, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r");
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

json_t *mt_api(const struct mt_server *m, const char *method, const char *path,
               const char *body, int expect_status)
{
    struct mt_resp r;
    mt_http(m->api_port, method, path, "guest:guest", body, &r);
    ck_assert_msg(r.status == expect_status, "%s %s: status %d, expected %d; body %s", method,
                  path, r.status, expect_status, r.body);
    json_t *j = NULL;
    if (r.body_len) {
        json_error_t je;
        j = json_loads(r.body, 0, &je);
        ck_assert_msg(j != NULL, "%s %s: body is not JSON (%s): %s", method, path, je.text,
                      r.body);
    }
    free(r.body);
    return j;
}
