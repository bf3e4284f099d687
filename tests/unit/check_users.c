/*
 * check_users.c - issue 7's user store without sockets: the digests
 * against the FIPS 180-4 / RFC 1321 vectors, base64, RabbitMQ's password
 * hashes (hashes taken from RabbitMQ 3.10 and computed independently),
 * permission regex semantics, the checks' order and texts, vhost limits,
 * and definitions import / export round trips with a RabbitMQ 3.10 export.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "edad/access.h"
#include "edad/broker.h"
#include "edad/conf.h"
#include "edad/core.h"
#include "../../src/session/session_priv.h"

#ifndef EDAD_SRCDIR
#define EDAD_SRCDIR "."
#endif
#define FIXTURE EDAD_SRCDIR "/tests/fixtures/rabbitmq-3.10-definitions.json"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static struct edad_bytes B(const char *s)
{
    return bytes_from_cstr(s);
}

/* ---- digests ------------------------------------------------------------------------------ */

START_TEST(test_sha256_vectors)
{
    static const struct { const char *in; const char *out; } v[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
         "rlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    uint8_t d[32];
    char h[65];
    for (size_t i = 0; i < EDAD_ARRAY_LEN(v); i++) {
        hash_sha256(v[i].in, strlen(v[i].in), d);
        hex(d, 32, h);
        ck_assert_str_eq(h, v[i].out);
    }
    /* one million 'a' (crosses many blocks) */
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    hash_sha256(m, 1000000, d);
    hex(d, 32, h);
    ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* every length around the padding boundary gives a distinct digest */
    uint8_t prev[32] = {0};
    for (size_t n = 50; n < 70; n++) {
        hash_sha256(m, n, d);
        ck_assert(memcmp(d, prev, 32) != 0);
        memcpy(prev, d, 32);
    }
    hash_sha256(m, 55, d);
    hex(d, 32, h);
    ck_assert_str_eq(h, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    hash_sha256(m, 56, d);
    hex(d, 32, h);
    ck_assert_str_eq(h, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    free(m);
}
END_TEST

START_TEST(test_sha512_vectors)
{
    static const struct { const char *in; const char *out; } v[] = {
        {"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
        {"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
             "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
         "rlmnopqrsmnopqrstnopqrstu",
         "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
         "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"},
    };
    uint8_t d[64];
    char h[129];
    for (size_t i = 0; i < EDAD_ARRAY_LEN(v); i++) {
        hash_sha512(v[i].in, strlen(v[i].in), d);
        hex(d, 64, h);
        ck_assert_str_eq(h, v[i].out);
    }
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    hash_sha512(m, 1000000, d);
    hex(d, 64, h);
    ck_assert_str_eq(h, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                        "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
    free(m);
}
END_TEST

START_TEST(test_md5_vectors)
{
    static const struct { const char *in; const char *out; } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    uint8_t d[16];
    char h[33];
    for (size_t i = 0; i < EDAD_ARRAY_LEN(v); i++) {
        hash_md5(v[i].in, strlen(v[i].in), d);
        hex(d, 16, h);
        ck_assert_str_eq(h, v[i].out);
    }
}
END_TEST

START_TEST(test_base64)
{
    static const struct { const char *in; const char *out; } v[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    char out[64];
    uint8_t raw[64];
    size_t n;
    for (size_t i = 0; i < EDAD_ARRAY_LEN(v); i++) {
        ck_assert_uint_eq(base64_encode(v[i].in, strlen(v[i].in), out, sizeof(out)),
                          strlen(v[i].out));
        ck_assert_str_eq(out, v[i].out);
        ck_assert_int_eq(base64_decode(v[i].out, strlen(v[i].out), raw, sizeof(raw), &n), EDAD_OK);
        ck_assert_uint_eq(n, strlen(v[i].in));
        ck_assert(memcmp(raw, v[i].in, n) == 0);
    }
    ck_assert_uint_eq(base64_encode("foo", 3, out, 4), 0);     /* no room for the NUL */
    ck_assert_int_eq(base64_decode("Zm9", 3, raw, sizeof(raw), &n), EDAD_ERR_MALFORMED);
    ck_assert_int_eq(base64_decode("Zm=v", 4, raw, sizeof(raw), &n), EDAD_ERR_MALFORMED);
    ck_assert_int_eq(base64_decode("Zg==Zm9v", 8, raw, sizeof(raw), &n), EDAD_ERR_MALFORMED);
    ck_assert_int_eq(base64_decode("Zm*v", 4, raw, sizeof(raw), &n), EDAD_ERR_MALFORMED);
    ck_assert_int_eq(base64_decode("Zm9vYmFy", 8, raw, 5, &n), EDAD_ERR_NOSPACE);
}
END_TEST

/* ---- password hashes ------------------------------------------------------------------------ */

START_TEST(test_password_hashes)
{
    /* written by RabbitMQ 3.10.8 (rabbitmqctl add_user; export_definitions) */
    ck_assert(access_password_verify(ACCESS_HASH_SHA256,
                                     "QMt9gYf0JRcSiJHyo2Ma/0lb8s6JGhcTqc+3oSgPIDapn48S",
                                     B("guest")));
    ck_assert(access_password_verify(ACCESS_HASH_SHA256,
                                     "gBjlpni+2uHXo3NPPR0mMcLiGtGfdxFo+40K7FnLvLhZZXE7",
                                     B("alicepw")));
    ck_assert(!access_password_verify(ACCESS_HASH_SHA256,
                                      "gBjlpni+2uHXo3NPPR0mMcLiGtGfdxFo+40K7FnLvLhZZXE7",
                                      B("alicepW")));
    /* salt 0a1b2c3d, computed with Python's hashlib */
    const char *h512 = "ChssPUUZpoQNQQeyXbKaqxb6Jx69XFhhLG8zFnYDOcJEYOS61cz6UQcKQrhKszPVwIsKBW"
                       "hhYb1osiszG6CHzavvZEU=";
    ck_assert(access_password_verify(ACCESS_HASH_SHA512, h512, B("secret512")));
    ck_assert(!access_password_verify(ACCESS_HASH_SHA256, h512, B("secret512")));
    ck_assert(access_password_verify(ACCESS_HASH_MD5, "ChssPVHrNLbqehd2N4QwH3Tuu+E=",
                                     B("secretmd5")));
    ck_assert(!access_password_verify(ACCESS_HASH_MD5, "ChssPVHrNLbqehd2N4QwH3Tuu+E=", B("x")));
    /* no password, and garbage, never match */
    ck_assert(!access_password_verify(ACCESS_HASH_SHA256, "", B("")));
    ck_assert(!access_password_verify(ACCESS_HASH_SHA256, "not base64!", B("x")));

    /* edad's own: a fresh salt each time, both verify */
    char a[ACCESS_HASH_B64_MAX], b[ACCESS_HASH_B64_MAX];
    access_password_hash(ACCESS_HASH_SHA256, B("pw"), a, sizeof(a));
    access_password_hash(ACCESS_HASH_SHA256, B("pw"), b, sizeof(b));
    ck_assert_uint_eq(strlen(a), 48);   /* base64 of 4 + 32 bytes */
    ck_assert(access_password_verify(ACCESS_HASH_SHA256, a, B("pw")));
    ck_assert(access_password_verify(ACCESS_HASH_SHA256, b, B("pw")));
    ck_assert(!access_password_verify(ACCESS_HASH_SHA256, a, B("pw ")));
    access_password_hash(ACCESS_HASH_SHA512, B(""), a, sizeof(a));
    ck_assert(access_password_verify(ACCESS_HASH_SHA512, a, B("")));

    enum access_hash h;
    ck_assert(access_hash_parse("rabbit_password_hashing_sha512", &h) && h == ACCESS_HASH_SHA512);
    ck_assert(access_hash_parse("rabbit_password_hashing_md5", &h) && h == ACCESS_HASH_MD5);
    ck_assert(!access_hash_parse("rabbit_password_hashing_sha1", &h));
    ck_assert_str_eq(access_hash_name(ACCESS_HASH_SHA256), "rabbit_password_hashing_sha256");
}
END_TEST

/* ---- users and permissions ------------------------------------------------------------------- */

static struct broker *B0;
static int changes;

static void on_change(void *ctx, struct vhost *vh)
{
    EDAD_UNUSED(ctx);
    EDAD_UNUSED(vh);
    changes++;
}

static void setup(void)
{
    B0 = broker_new(NULL);
    changes = 0;
    struct broker_hooks h = {.definitions_changed = on_change};
    broker_set_hooks(B0, &h);
}

static void teardown(void)
{
    broker_free(B0);
    B0 = NULL;
}

static void put_user(const char *name, const char *pw, const char *tags)
{
    struct access_user_spec s = {.password = pw, .tags = tags};
    struct broker_err err;
    ck_assert_int_eq(access_user_put(B0, name, &s, &err), EDAD_OK);
}

START_TEST(test_users)
{
    ck_assert(!access_enabled(B0));
    put_user("alice", "pw", "management, monitoring,,custom");
    ck_assert(access_enabled(B0));
    ck_assert_int_ge(changes, 1);
    struct access_user_info u;
    ck_assert(access_user_get(B0, "alice", &u));
    ck_assert_uint_eq(u.ntags, 3);
    ck_assert_str_eq(u.tags[0], "management");
    ck_assert_str_eq(u.tags[1], "monitoring");
    ck_assert_str_eq(u.tags[2], "custom");
    ck_assert_str_eq(u.hashing_algorithm, "rabbit_password_hashing_sha256");
    ck_assert(access_user_has_tag(B0, "alice", "monitoring"));
    ck_assert(!access_user_has_tag(B0, "alice", "administrator"));
    ck_assert(access_authenticate(B0, B("alice"), B("pw")));
    ck_assert(!access_authenticate(B0, B("alice"), B("PW")));
    ck_assert(!access_authenticate(B0, B("alic"), B("pw")));
    ck_assert(!access_authenticate(B0, B("nobody"), B("pw")));

    /* update: tags only keeps the password; a new password replaces it */
    struct access_user_spec s = {.tags = "administrator"};
    ck_assert_int_eq(access_user_put(B0, "alice", &s, NULL), EDAD_OK);
    ck_assert(access_authenticate(B0, B("alice"), B("pw")));
    ck_assert(access_user_has_tag(B0, "alice", "administrator"));
    s = (struct access_user_spec){.password = "new"};
    ck_assert_int_eq(access_user_put(B0, "alice", &s, NULL), EDAD_OK);
    ck_assert(!access_authenticate(B0, B("alice"), B("pw")));
    ck_assert(access_authenticate(B0, B("alice"), B("new")));
    ck_assert(access_user_has_tag(B0, "alice", "administrator"));

    /* a user with a given hash (import); empty hash = no password login */
    s = (struct access_user_spec){.password_hash = "ChssPVHrNLbqehd2N4QwH3Tuu+E=",
                                  .hashing_algorithm = "rabbit_password_hashing_md5",
                                  .tags = ""};
    ck_assert_int_eq(access_user_put(B0, "old", &s, NULL), EDAD_OK);
    ck_assert(access_authenticate(B0, B("old"), B("secretmd5")));
    s = (struct access_user_spec){.password_hash = ""};
    ck_assert_int_eq(access_user_put(B0, "nopw", &s, NULL), EDAD_OK);
    ck_assert(!access_authenticate(B0, B("nopw"), B("")));
    ck_assert(access_user_exists(B0, B("nopw")));

    struct broker_err err;
    s = (struct access_user_spec){.password_hash = "abc", .hashing_algorithm = "sha3"};
    ck_assert_int_eq(access_user_put(B0, "bad", &s, &err), EDAD_ERR_INVALID);
    ck_assert(strstr(err.text, "unknown hashing_algorithm") != NULL);
    s = (struct access_user_spec){.password_hash = "a*c="};
    ck_assert_int_eq(access_user_put(B0, "bad", &s, &err), EDAD_ERR_INVALID);
    ck_assert_int_eq(access_user_put(B0, "", &s, &err), EDAD_ERR_INVALID);
    ck_assert(!access_user_get(B0, "bad", &u));

    ck_assert_int_eq(access_user_delete(B0, "alice"), EDAD_OK);
    ck_assert_int_eq(access_user_delete(B0, "alice"), EDAD_ERR_NOT_FOUND);
    ck_assert(!access_authenticate(B0, B("alice"), B("new")));
}
END_TEST

static edad_status check(const char *user, enum access_perm p, enum access_kind k,
                         const char *name, struct broker_err *err)
{
    return access_check(B0, user, "/", p, k, B(name), err);
}

START_TEST(test_permission_regex)
{
    struct broker_err err;
    /* before any user exists everything is allowed (no user store) */
    ck_assert_int_eq(check("x", ACCESS_CONFIGURE, ACCESS_QUEUE, "q", &err), EDAD_OK);
    broker_vhost_add(B0, "/");
    put_user("u", "pw", "");
    ck_assert_int_eq(access_permission_set(B0, "u", "/", "^cfg-", "amq\\.default|ex", "", &err),
                     EDAD_OK);
    /* unanchored search, as re:run */
    ck_assert_int_eq(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "cfg-1", &err), EDAD_OK);
    ck_assert_int_eq(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "x-cfg-1", &err),
                     EDAD_ERR_STATE);
    ck_assert_uint_eq(err.code, 403);
    ck_assert_str_eq(err.text, "ACCESS_REFUSED - access to queue 'x-cfg-1' in vhost '/' refused "
                               "for user 'u'");
    ck_assert_int_eq(check("u", ACCESS_WRITE, ACCESS_EXCHANGE, "my-exchange", &err), EDAD_OK);
    /* the default exchange is checked as amq.default */
    ck_assert_int_eq(check("u", ACCESS_WRITE, ACCESS_EXCHANGE, "", &err), EDAD_OK);
    /* "" matches nothing, not even "" */
    ck_assert_int_ne(check("u", ACCESS_READ, ACCESS_QUEUE, "", &err), EDAD_OK);
    ck_assert_int_ne(check("u", ACCESS_READ, ACCESS_QUEUE, "anything", &err), EDAD_OK);
    ck_assert_int_ne(check("u", ACCESS_READ, ACCESS_EXCHANGE, "", &err), EDAD_OK);
    ck_assert_str_eq(err.text, "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' "
                               "refused for user 'u'");
    /* cached answers stay right when asked again, for both kinds */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "cfg-1", &err), EDAD_OK);
        ck_assert_int_ne(check("u", ACCESS_CONFIGURE, ACCESS_EXCHANGE, "x-cfg-1", &err), EDAD_OK);
    }
    /* replacing the permissions drops what was cached */
    ck_assert_int_eq(access_permission_set(B0, "u", "/", "^x-", ".*", ".*", &err), EDAD_OK);
    ck_assert_int_ne(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "cfg-1", &err), EDAD_OK);
    ck_assert_int_eq(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "x-cfg-1", &err), EDAD_OK);
    /* anchored on both ends: exact names only */
    ck_assert_int_eq(access_permission_set(B0, "u", "/", "^(a|b)$", ".*", ".*", &err), EDAD_OK);
    ck_assert_int_eq(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "a", &err), EDAD_OK);
    ck_assert_int_ne(check("u", ACCESS_CONFIGURE, ACCESS_QUEUE, "ab", &err), EDAD_OK);
    /* a name longer than the cache holds */
    char longname[201];
    memset(longname, 'a', 200);
    longname[200] = '\0';
    ck_assert_int_eq(check("u", ACCESS_WRITE, ACCESS_QUEUE, longname, &err), EDAD_OK);
    /* no permissions in the vhost, or another user */
    ck_assert_int_ne(check("other", ACCESS_WRITE, ACCESS_QUEUE, "a", &err), EDAD_OK);
    ck_assert(access_vhost_allowed(B0, "u", "/"));
    ck_assert(!access_vhost_allowed(B0, "other", "/"));

    /* errors */
    ck_assert_int_eq(access_permission_set(B0, "u", "/", "(", ".*", ".*", &err), EDAD_ERR_INVALID);
    ck_assert(strstr(err.text, "invalid configure regex '('") != NULL);
    ck_assert_int_eq(access_permission_set(B0, "nobody", "/", ".*", ".*", ".*", &err),
                     EDAD_ERR_NOT_FOUND);
    ck_assert_int_eq(access_permission_set(B0, "u", "nope", ".*", ".*", ".*", &err),
                     EDAD_ERR_NOT_FOUND);
    /* the failed set left the old permissions */
    struct access_perm_info pi;
    ck_assert(access_permission_get(B0, "u", "/", &pi));
    ck_assert_str_eq(pi.configure, "^(a|b)$");

    ck_assert_int_eq(access_permission_clear(B0, "u", "/"), EDAD_OK);
    ck_assert_int_eq(access_permission_clear(B0, "u", "/"), EDAD_ERR_NOT_FOUND);
    ck_assert(!access_vhost_allowed(B0, "u", "/"));
}
END_TEST

START_TEST(test_open_and_limits)
{
    struct broker_err err;
    broker_vhost_add(B0, "/");
    struct vhost *v = access_vhost_add(B0, "v");
    put_user("u", "pw", "");
    ck_assert_int_eq(access_permission_set(B0, "u", "v", ".*", ".*", ".*", &err), EDAD_OK);
    ck_assert_int_eq(access_check_open(B0, "u", B("v"), 0, &err), EDAD_OK);
    ck_assert_int_ne(access_check_open(B0, "u", B("/"), 0, &err), EDAD_OK);
    ck_assert_uint_eq(err.code, 530);
    ck_assert_str_eq(err.text, "NOT_ALLOWED - access to vhost '/' refused for user 'u'");
    ck_assert_int_ne(access_check_open(B0, "u", B("nope"), 0, &err), EDAD_OK);
    ck_assert_str_eq(err.text, "NOT_ALLOWED - vhost nope not found");

    struct access_limits l = {2, 1};
    ck_assert_int_eq(access_vhost_limits_set(B0, "v", &l), EDAD_OK);
    ck_assert_int_eq(access_vhost_limits_set(B0, "nope", &l), EDAD_ERR_NOT_FOUND);
    ck_assert_int_eq(access_check_open(B0, "u", B("v"), 1, &err), EDAD_OK);
    ck_assert_int_ne(access_check_open(B0, "u", B("v"), 2, &err), EDAD_OK);
    ck_assert_str_eq(err.text, "NOT_ALLOWED - access to vhost 'v' refused for user 'u': "
                               "connection limit (2) is reached");
    /* the limit comes before the permission check, as in RabbitMQ */
    ck_assert_int_ne(access_check_open(B0, "x", B("v"), 5, &err), EDAD_OK);
    ck_assert(strstr(err.text, "connection limit (2)") != NULL);

    /* max-queues applies to new queues only */
    ck_assert_int_eq(access_check_queue_declare(v, "u", B("q1"), NULL, &err), EDAD_OK);
    struct queue_declare d = {.name = B("q1")};
    ck_assert_int_eq(queue_declare(v, &d, NULL, &err), EDAD_OK);
    ck_assert_int_eq(access_check_queue_declare(v, "u", B("q1"), NULL, &err), EDAD_OK);
    ck_assert_int_ne(access_check_queue_declare(v, "u", B("q2"), NULL, &err), EDAD_OK);
    ck_assert_uint_eq(err.code, 406);
    ck_assert_str_eq(err.text, "PRECONDITION_FAILED - cannot declare queue 'q2': queue limit in "
                               "vhost 'v' (1) is reached");
    struct access_limits got;
    access_vhost_limits_get(B0, "v", &got);
    ck_assert(got.max_connections == 2 && got.max_queues == 1);
    /* 0 refuses everything */
    l = (struct access_limits){0, -1};
    ck_assert_int_eq(access_vhost_limits_set(B0, "v", &l), EDAD_OK);
    ck_assert_int_ne(access_check_open(B0, "u", B("v"), 0, &err), EDAD_OK);
    ck_assert_int_eq(access_check_queue_declare(v, "u", B("q2"), NULL, &err), EDAD_OK);
    l = (struct access_limits){-1, -1};
    ck_assert_int_eq(access_vhost_limits_set(B0, "v", &l), EDAD_OK);
    access_vhost_limits_get(B0, "v", &got);
    ck_assert(got.max_connections == -1 && got.max_queues == -1);

    /* deleting the vhost drops its permissions and limits */
    l = (struct access_limits){3, 3};
    access_vhost_limits_set(B0, "v", &l);
    ck_assert_int_eq(access_vhost_delete(B0, "v"), EDAD_OK);
    ck_assert_int_eq(access_vhost_delete(B0, "v"), EDAD_ERR_NOT_FOUND);
    ck_assert(!access_vhost_allowed(B0, "u", "v"));
    access_vhost_add(B0, "v");
    access_vhost_limits_get(B0, "v", &got);
    ck_assert(got.max_connections == -1);
    ck_assert(!access_vhost_allowed(B0, "u", "v"));
    /* deleting a user drops its permissions */
    ck_assert_int_eq(access_permission_set(B0, "u", "v", ".*", ".*", ".*", &err), EDAD_OK);
    ck_assert_int_eq(access_user_delete(B0, "u"), EDAD_OK);
    put_user("u", "pw", "");
    ck_assert(!access_vhost_allowed(B0, "u", "v"));
}
END_TEST

static struct broker_table one_arg(struct broker_arg *a, const char *key, const char *val)
{
    memset(a, 0, sizeof(*a));
    a->key = B(key);
    a->value.kind = BROKER_V_STRING;
    a->value.v.str = B(val);
    return (struct broker_table){1, a, EDAD_BYTES_NULL};
}

START_TEST(test_operation_checks)
{
    struct broker_err err;
    struct vhost *vh = broker_vhost_add(B0, "/");
    put_user("c", "pw", "");
    ck_assert_int_eq(access_permission_set(B0, "c", "/", "^c-", "^c-", "^c-", &err), EDAD_OK);
    struct broker_arg arg;

    /* alternate-exchange: read on the new exchange, write on the alternate */
    struct broker_table t = one_arg(&arg, "alternate-exchange", "amq.fanout");
    struct exchange_declare xd = {.name = B("c-x"), .type = B("fanout"), .args = &t};
    ck_assert_int_ne(access_check_exchange_declare(vh, "c", &xd, &err), EDAD_OK);
    ck_assert_str_eq(err.text, "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost '/' "
                               "refused for user 'c'");
    t = one_arg(&arg, "alternate-exchange", "c-ae");
    ck_assert_int_eq(access_check_exchange_declare(vh, "c", &xd, &err), EDAD_OK);
    /* passive declares and the default exchange are not checked here */
    xd.name = B("other");
    xd.passive = true;
    ck_assert_int_eq(access_check_exchange_declare(vh, "c", &xd, &err), EDAD_OK);
    xd.passive = false;
    ck_assert_int_ne(access_check_exchange_declare(vh, "c", &xd, &err), EDAD_OK);
    xd.name = B("");
    ck_assert_int_eq(access_check_exchange_declare(vh, "c", &xd, &err), EDAD_OK);
    /* an existing exchange's alternate is not checked again */
    struct exchange_declare plain = {.name = B("c-y"), .type = B("fanout")};
    ck_assert_int_eq(exchange_declare(vh, &plain, &err), EDAD_OK);
    t = one_arg(&arg, "alternate-exchange", "amq.fanout");
    xd.name = B("c-y");
    xd.args = &t;
    ck_assert_int_eq(access_check_exchange_declare(vh, "c", &xd, &err), EDAD_OK);

    /* x-dead-letter-exchange: write on it */
    t = one_arg(&arg, "x-dead-letter-exchange", "amq.fanout");
    ck_assert_int_ne(access_check_queue_declare(vh, "c", B("c-q"), &t, &err), EDAD_OK);
    ck_assert(strstr(err.text, "exchange 'amq.fanout'") != NULL);
    t = one_arg(&arg, "x-dead-letter-exchange", "c-dlx");
    ck_assert_int_eq(access_check_queue_declare(vh, "c", B("c-q"), &t, &err), EDAD_OK);
    ck_assert_int_ne(access_check_queue_declare(vh, "c", B("zz"), NULL, &err), EDAD_OK);
    ck_assert_str_eq(err.text, "ACCESS_REFUSED - access to queue 'zz' in vhost '/' refused for "
                               "user 'c'");

    /* bind: write on the destination first, then read on the source */
    ck_assert_int_ne(access_check_bind(vh, "c", true, B("work"), B("c-x"), &err), EDAD_OK);
    ck_assert(strstr(err.text, "queue 'work'") != NULL);
    ck_assert_int_ne(access_check_bind(vh, "c", true, B("c-q"), B("amq.direct"), &err), EDAD_OK);
    ck_assert(strstr(err.text, "exchange 'amq.direct'") != NULL);
    ck_assert_int_eq(access_check_bind(vh, "c", true, B("c-q"), B("c-x"), &err), EDAD_OK);
    /* a default-exchange source is the broker's 403, after the write check */
    ck_assert_int_eq(access_check_bind(vh, "c", true, B("c-q"), B(""), &err), EDAD_OK);
    ck_assert_int_ne(access_check_bind(vh, "c", false, B("amq.fanout"), B("c-x"), &err), EDAD_OK);
    ck_assert(strstr(err.text, "exchange 'amq.fanout'") != NULL);
    ck_assert_int_eq(access_check_bind(vh, "c", false, B("c-x2"), B("c-x"), &err), EDAD_OK);
}
END_TEST

/* ---- definitions ---------------------------------------------------------------------------- */

static json_t *load_fixture(void)
{
    json_error_t je;
    json_t *j = json_load_file(FIXTURE, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", FIXTURE, je.text);
    return j;
}

START_TEST(test_import_rabbitmq_export)
{
    struct import_report r;
    char why[256];
    ck_assert_int_eq(broker_definitions_load_file(B0, FIXTURE, &r, why, sizeof(why)), EDAD_OK);
    ck_assert_uint_eq(r.failed, 0);
    ck_assert_uint_eq(r.users, 4);
    ck_assert_uint_eq(r.vhosts, 3);
    ck_assert_uint_eq(r.permissions, 4);
    ck_assert_uint_eq(r.exchanges, 3);
    ck_assert_uint_eq(r.queues, 3);
    ck_assert_uint_eq(r.bindings, 4);
    /* passwords set with rabbitmqctl log in unchanged */
    ck_assert(access_authenticate(B0, B("alice"), B("alicepw")));
    ck_assert(access_authenticate(B0, B("bob"), B("bobpw")));
    ck_assert(access_authenticate(B0, B("guest"), B("guest")));
    ck_assert(!access_authenticate(B0, B("nopass"), B("x")));
    ck_assert(access_user_has_tag(B0, "bob", "custom-tag"));
    ck_assert(access_user_has_tag(B0, "guest", "administrator"));
    struct access_perm_info p;
    ck_assert(access_permission_get(B0, "bob", "/", &p));
    ck_assert_str_eq(p.write, "amq\\.default|^bob-.*");
    ck_assert_str_eq(p.configure, "");
    struct access_limits l;
    access_vhost_limits_get(B0, "app1", &l);
    ck_assert(l.max_connections == 10 && l.max_queues == 20);
    struct vhost *app1 = broker_vhost_find(B0, B("app1"));
    ck_assert_ptr_nonnull(app1);
    struct broker_err err;
    struct queue *q = queue_lookup(app1, B("app1.orders"), NULL, &err);
    ck_assert_ptr_nonnull(q);
    struct queue_info qi;
    queue_get_info(q, &qi);
    ck_assert(qi.durable);
    ck_assert_ptr_nonnull(broker_table_get(qi.args, "x-dead-letter-exchange"));
    ck_assert_uint_eq(exchange_binding_count(exchange_find(app1, B("app1.events"))), 2);

    /* a missing file or broken JSON is an error with a reason */
    ck_assert_int_eq(broker_definitions_load_file(B0, "/nonexistent/defs.json", &r, why,
                                                  sizeof(why)), EDAD_ERR_INVALID);
    ck_assert(strstr(why, "/nonexistent/defs.json") != NULL);
}
END_TEST

/* Object members of a and b equal, ignoring key order and the version keys. */
static void assert_same_defs(json_t *a, json_t *b)
{
    static const char *const sections[] = {"users", "vhosts", "permissions", "parameters",
                                           "exchanges", "queues", "bindings"};
    for (size_t i = 0; i < EDAD_ARRAY_LEN(sections); i++) {
        json_t *x = json_object_get(a, sections[i]), *y = json_object_get(b, sections[i]);
        char *sx = json_dumps(x, JSON_SORT_KEYS), *sy = json_dumps(y, JSON_SORT_KEYS);
        ck_assert_msg(json_equal(x, y), "%s differ:\n%s\n%s", sections[i], sx, sy);
        free(sx);
        free(sy);
    }
}

START_TEST(test_export_round_trip)
{
    json_t *fix = load_fixture();
    struct import_report r;
    broker_definitions_import(B0, fix, &r);
    json_t *e1 = broker_definitions_export(B0);
    /* the same users, hashes and permissions RabbitMQ exported */
    ck_assert_uint_eq(json_array_size(json_object_get(e1, "users")), 4);
    ck_assert_uint_eq(json_array_size(json_object_get(e1, "permissions")), 4);
    json_t *u;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(fix, "users"), i, u) {
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(e1, "users"), k, v) {
            if (json_equal(json_object_get(u, "name"), json_object_get(v, "name"))) {
                ck_assert(json_equal(json_object_get(u, "password_hash"),
                                     json_object_get(v, "password_hash")));
                ck_assert(json_equal(json_object_get(u, "tags"), json_object_get(v, "tags")));
                seen++;
            }
        }
    }
    ck_assert_int_eq(seen, 4);
    json_t *params = json_object_get(e1, "parameters");
    ck_assert_uint_eq(json_array_size(params), 1);
    json_t *want = json_pack("{s:i, s:i}", "max-connections", 10, "max-queues", 20);
    ck_assert(json_equal(json_object_get(json_array_get(params, 0), "value"), want));
    json_decref(want);

    /* import the export into a new broker: the same export again */
    struct broker *b2 = broker_new(NULL);
    broker_definitions_import(b2, e1, &r);
    ck_assert_uint_eq(r.failed, 0);
    json_t *e2 = broker_definitions_export(b2);
    assert_same_defs(e1, e2);
    broker_free(b2);
    json_decref(e1);
    json_decref(e2);
    json_decref(fix);
}
END_TEST

START_TEST(test_import_variants)
{
    /* older exports: tags as a string, limits in the vhost entry; unknown sections */
    const char *text =
        "{\"users\":[{\"name\":\"old\",\"password_hash\":\"ChssPVHrNLbqehd2N4QwH3Tuu+E=\","
        "\"hashing_algorithm\":\"rabbit_password_hashing_md5\",\"tags\":\"administrator,x\"},"
        "{\"name\":\"bad\",\"password_hash\":\"x\",\"hashing_algorithm\":\"nope\"}],"
        "\"vhosts\":[{\"name\":\"v\",\"limits\":[[\"max-queues\",5]]}],"
        "\"permissions\":[{\"user\":\"old\",\"vhost\":\"v\",\"configure\":\".*\",\"write\":\"\","
        "\"read\":\"(\"},{\"user\":\"ghost\",\"vhost\":\"v\",\"configure\":\".*\","
        "\"write\":\".*\",\"read\":\".*\"}],"
        "\"parameters\":[{\"component\":\"federation-upstream\",\"vhost\":\"v\",\"name\":\"u\","
        "\"value\":{}}],\"policies\":[{\"name\":\"p\"}],\"global_parameters\":[]}";
    json_error_t je;
    json_t *defs = json_loads(text, 0, &je);
    ck_assert_ptr_nonnull(defs);
    struct import_report r;
    broker_definitions_import(B0, defs, &r);
    ck_assert_uint_eq(r.users, 1);
    ck_assert_uint_eq(r.permissions, 0);
    ck_assert_uint_eq(r.failed, 3);     /* bad user, bad regex, unknown user */
    ck_assert(access_authenticate(B0, B("old"), B("secretmd5")));
    ck_assert(access_user_has_tag(B0, "old", "x"));
    struct access_limits l;
    access_vhost_limits_get(B0, "v", &l);
    ck_assert(l.max_queues == 5 && l.max_connections == -1);
    /* md5 hashes are exported as they are (RabbitMQ does the same) */
    json_t *e = broker_definitions_export(B0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(e, "users"),
                                                                       0), "hashing_algorithm")),
                     "rabbit_password_hashing_md5");
    json_decref(e);
    json_decref(defs);
}
END_TEST

START_TEST(test_seed_default)
{
    access_seed_default(B0, "guest", "guest", "/");
    ck_assert(access_authenticate(B0, B("guest"), B("guest")));
    ck_assert(access_user_has_tag(B0, "guest", "administrator"));
    ck_assert(access_vhost_allowed(B0, "guest", "/"));
    struct broker_err err;
    ck_assert_int_eq(access_check(B0, "guest", "/", ACCESS_CONFIGURE, ACCESS_QUEUE, B("any"),
                                  &err), EDAD_OK);
    /* a store without users is exported without a users section */
    struct broker *b2 = broker_new(NULL);
    broker_vhost_add(b2, "/");
    json_t *e = broker_definitions_export(b2);
    ck_assert_ptr_null(json_object_get(e, "users"));
    json_decref(e);
    /* an empty users section still means "a user store, with nobody in it" */
    json_t *empty = json_pack("{s:[]}", "users");
    struct import_report r;
    broker_definitions_import(b2, empty, &r);
    ck_assert(access_enabled(b2));
    ck_assert(!access_authenticate(b2, B("guest"), B("guest")));
    json_decref(empty);
    broker_free(b2);
}
END_TEST

/* Vhost limits hold even before any user exists (no user store). */
START_TEST(test_limits_without_users)
{
    struct vhost *vh = broker_vhost_add(B0, "v");
    struct access_limits l = {1, 0};
    ck_assert_int_eq(access_vhost_limits_set(B0, "v", &l), EDAD_OK);
    ck_assert(!access_enabled(B0));
    struct broker_err err;
    ck_assert_int_eq(access_check_open(B0, "anyone", B("v"), 0, &err), EDAD_OK);
    ck_assert_int_ne(access_check_open(B0, "anyone", B("v"), 1, &err), EDAD_OK);
    ck_assert_int_ne(access_check_queue_declare(vh, "anyone", B("q"), NULL, &err), EDAD_OK);
    ck_assert_uint_eq(err.code, 406);
    ck_assert_int_eq(access_check(B0, "anyone", "v", ACCESS_READ, ACCESS_QUEUE, B("q"), &err),
                     EDAD_OK);
}
END_TEST

/* ---- the session's login check ------------------------------------------------------------ */

START_TEST(test_auth_login)
{
    struct edad_conf conf;
    conf_init(&conf);
    struct session_server srv;
    memset(&srv, 0, sizeof(srv));
    srv.conf = &conf;
    srv.broker = B0;
    struct edad_bytes pw = B("guest"), upw = B("upw"), bad = B("nope");
    /* no user store yet: the configured user, loopback_users as configured */
    ck_assert_int_eq(auth_login(&srv, B("guest"), &pw, true), AUTH_OK);
    ck_assert_int_eq(auth_login(&srv, B("guest"), &pw, false), AUTH_LOOPBACK_ONLY);
    ck_assert_int_eq(auth_login(&srv, B("guest"), &bad, true), AUTH_BAD_CREDENTIALS);
    ck_assert_int_eq(auth_login(&srv, B("u"), &upw, true), AUTH_BAD_CREDENTIALS);
    /* with a store: its users only */
    broker_vhost_add(B0, "/");
    put_user("u", "upw", "");
    ck_assert_int_eq(auth_login(&srv, B("u"), &upw, false), AUTH_OK);
    ck_assert_int_eq(auth_login(&srv, B("u"), &bad, true), AUTH_BAD_CREDENTIALS);
    ck_assert_int_eq(auth_login(&srv, B("guest"), &pw, true), AUTH_BAD_CREDENTIALS);
    /* a mechanism without a password (EXTERNAL): the user must exist */
    ck_assert_int_eq(auth_login(&srv, B("u"), NULL, true), AUTH_OK);
    ck_assert_int_eq(auth_login(&srv, B("x"), NULL, true), AUTH_BAD_CREDENTIALS);
    /* loopback_users applies to every user listed, not only the default one */
    char err[128];
    ck_assert_int_eq(conf_set(&conf, "loopback_users.u", "true", err, sizeof(err)), EDAD_OK);
    ck_assert_int_eq(auth_login(&srv, B("u"), &upw, false), AUTH_LOOPBACK_ONLY);
    ck_assert_int_eq(auth_login(&srv, B("u"), &upw, true), AUTH_OK);
    ck_assert_int_eq(auth_login(&srv, B("u"), NULL, false), AUTH_LOOPBACK_ONLY);
    /* a wrong password is refused before the address is looked at */
    ck_assert_int_eq(auth_login(&srv, B("u"), &bad, false), AUTH_BAD_CREDENTIALS);
    conf_free(&conf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("digests");
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_sha512_vectors);
    tcase_add_test(tc, test_md5_vectors);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_password_hashes);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_users);
    tcase_add_test(tc, test_permission_regex);
    tcase_add_test(tc, test_open_and_limits);
    tcase_add_test(tc, test_operation_checks);
    tcase_add_test(tc, test_import_rabbitmq_export);
    tcase_add_test(tc, test_export_round_trip);
    tcase_add_test(tc, test_import_variants);
    tcase_add_test(tc, test_seed_default);
    tcase_add_test(tc, test_auth_login);
    tcase_add_test(tc, test_limits_without_users);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
