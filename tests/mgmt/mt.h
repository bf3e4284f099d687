/*
 * mt.h - helpers for the management suites: start edad (conformance
 * harness) with the management API and /metrics on free ports, and a tiny
 * HTTP/1.1 client of the tests' own (one request per connection, basic
 * auth) with the body parsed as JSON on request.  Nothing of edad's code
 * is linked: the client is independent of the server under test.
 */
#ifndef EDAD_TESTS_MT_H
#define EDAD_TESTS_MT_H

#include <jansson.h>
#include <stdint.h>

#include "harness.h"

struct mt_server {
    struct harness_server s;
    uint16_t api_port;
    uint16_t prom_port;
};

/* Start edad with both HTTP ports free and extra_conf (may be NULL). */
void mt_start(struct mt_server *m, const char *extra_conf);

struct mt_resp {
    int status;
    char headers[4096];          /* raw header block, lower-cased names */
    char *body;                  /* NUL-terminated, heap */
    size_t body_len;
};

/*
 * One request.  auth "user:pass" or NULL; body NULL for none.  Fails the
 * test when the server does not answer within 10 s.  Free r->body.
 */
void mt_http(uint16_t port, const char *method, const char *path, const char *auth,
             const char *body, struct mt_resp *r);
/* mt_http as guest, expecting status; returns the body parsed (NULL when empty). */
json_t *mt_api(const struct mt_server *m, const char *method, const char *path,
               const char *body, int expect_status);
/* A header's value (name lower-case) copied into buf, or NULL. */
const char *mt_header(const struct mt_resp *r, const char *name, char *buf, size_t len);

#endif
