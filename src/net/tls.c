/*
 * tls.c - the TLS server side of the net layer: an OpenSSL context built
 * from the configured PEM files (TLS 1.2/1.3 only, forward-secret AEAD
 * ciphers, optional client-certificate verification), the bufferevent that
 * does the handshake for an accepted socket, handshake accounting, and the
 * client certificate's name for SASL EXTERNAL.  Everything above the
 * transport sees plain bytes.  Without OpenSSL it only reports that.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "net_priv.h"

#ifdef HAVE_OPENSSL

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* TLS 1.2 suites: ECDHE/DHE key exchange with AES-GCM or ChaCha20 only
   (TLS 1.3 suites are OpenSSL's defaults, all AEAD). */
#define TLS12_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

struct net_tls {
    SSL_CTX *ctx;
    uint64_t handshakes;
    uint64_t failures;
};

bool net_tls_available(void)
{
    return true;
}

/* The oldest queued OpenSSL error as text ("" when none); clears the queue. */
static const char *tls_err_text(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    unsigned long next;
    /* the first error is the root cause; drop what followed from it */
    while ((next = ERR_get_error()) != 0)
        ;
    if (e == 0) {
        snprintf(buf, len, "unknown error");
        return buf;
    }
    const char *r = ERR_reason_error_string(e);
    if (r)
        snprintf(buf, len, "%s", r);
    else
        ERR_error_string_n(e, buf, len);
    return buf;
}

/* The file must be readable: report errno before OpenSSL's vaguer text. */
static bool tls_file_readable(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
        return false;
    }
    fclose(fp);
    return true;
}

struct net_tls *net_tls_new(const struct net_tls_opts *o, char *err, size_t errlen)
{
    char why[256];
    struct net_tls *tls = xcalloc(1, sizeof(*tls));
    ERR_clear_error();
    tls->ctx = SSL_CTX_new(TLS_server_method());
    if (!tls->ctx) {
        snprintf(err, errlen, "cannot create a TLS context: %s", tls_err_text(why, sizeof(why)));
        goto fail;
    }
    int min = o->tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    int max = o->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(tls->ctx, min) ||
        !SSL_CTX_set_max_proto_version(tls->ctx, max) ||
        !SSL_CTX_set_cipher_list(tls->ctx, TLS12_CIPHERS)) {
        snprintf(err, errlen, "cannot configure TLS versions and ciphers: %s",
                 tls_err_text(why, sizeof(why)));
        goto fail;
    }
    SSL_CTX_set_options(tls->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                      SSL_OP_NO_RENEGOTIATION);
    /* idle connections give their 2 x 16 KiB record buffers back */
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char sid_ctx[] = "edad";
    SSL_CTX_set_session_id_context(tls->ctx, sid_ctx, sizeof(sid_ctx) - 1);

    if (!o->certfile || !o->keyfile) {
        snprintf(err, errlen, "a TLS listener needs ssl_options.certfile and "
                 "ssl_options.keyfile");
        goto fail;
    }
    if (!tls_file_readable("ssl_options.certfile", o->certfile, err, errlen))
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(tls->ctx, o->certfile) != 1) {
        snprintf(err, errlen, "ssl_options.certfile %s: cannot load a PEM certificate: %s",
                 o->certfile, tls_err_text(why, sizeof(why)));
        goto fail;
    }
    if (!tls_file_readable("ssl_options.keyfile", o->keyfile, err, errlen))
        goto fail;
    if (SSL_CTX_use_PrivateKey_file(tls->ctx, o->keyfile, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls->ctx) != 1) {
        bool mismatch = ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH;
        if (!mismatch) {
            snprintf(err, errlen, "ssl_options.keyfile %s: cannot load a PEM private key: %s",
                     o->keyfile, tls_err_text(why, sizeof(why)));
            goto fail;
        }
        snprintf(err, errlen, "ssl_options.keyfile %s does not match ssl_options.certfile "
                 "%s: %s", o->keyfile, o->certfile, tls_err_text(why, sizeof(why)));
        goto fail;
    }
    if (o->cacertfile) {
        if (!tls_file_readable("ssl_options.cacertfile", o->cacertfile, err, errlen))
            goto fail;
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->cacertfile);
        if (SSL_CTX_load_verify_locations(tls->ctx, o->cacertfile, NULL) != 1 || !names) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            snprintf(err, errlen, "ssl_options.cacertfile %s: cannot load PEM CA "
                     "certificates: %s", o->cacertfile, tls_err_text(why, sizeof(why)));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(tls->ctx, names);
    }
    if (o->verify_peer) {
        if (!o->cacertfile) {
            snprintf(err, errlen, "ssl_options.verify = verify_peer needs "
                     "ssl_options.cacertfile (the CAs client certificates are checked "
                     "against)");
            goto fail;
        }
        SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER |
                                         (o->fail_if_no_peer_cert
                                              ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    } else {
        SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_NONE, NULL);
    }
    return tls;

fail:
    net_tls_free(tls);
    return NULL;
}

void net_tls_free(struct net_tls *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);   /* reference-counted: open connections keep theirs */
    free(tls);
}

uint64_t net_tls_handshake_failures(const struct net_tls *tls)
{
    return tls ? tls->failures : 0;
}

uint64_t net_tls_handshakes(const struct net_tls *tls)
{
    return tls ? tls->handshakes : 0;
}

struct bufferevent *net_tls_bufferevent_new(struct net_tls *tls, struct event_base *base,
                                            evutil_socket_t fd)
{
    SSL *ssl = SSL_new(tls->ctx);
    if (!ssl)
        return NULL;
    /* BEV_OPT_CLOSE_ON_FREE: freeing the bufferevent frees ssl and closes fd */
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* a peer closing TCP without close_notify is an EOF, not an error */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void net_tls_handshake_done(struct net_tls *tls)
{
    tls->handshakes++;
}

/* Text of the bufferevent's OpenSSL errors, else of errno, else generic. */
static const char *tls_bev_reason(struct bufferevent *bev, char *buf, size_t len)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    unsigned long next;
    while ((next = bufferevent_get_openssl_error(bev)) != 0)
        ;
    if (e) {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(e, buf, len);
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (v != X509_V_OK) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, " (%s)", X509_verify_cert_error_string(v));
        }
    } else if (EVUTIL_SOCKET_ERROR()) {
        snprintf(buf, len, "%s", strerror(EVUTIL_SOCKET_ERROR()));
    } else {
        snprintf(buf, len, "connection closed during the TLS handshake");
    }
    return buf;
}

const char *net_tls_handshake_failed(struct net_tls *tls, struct bufferevent *bev,
                                     const char *peer)
{
    static char reason[320];
    char why[256];
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    BIO *rbio = ssl ? SSL_get_rbio(ssl) : NULL;
    if (rbio && BIO_number_read(rbio) == 0) {
        /* nothing ever arrived: a port probe, not a failed handshake */
        log_debug("TLS client %s closed before sending anything (health check?)", peer);
        return "connection closed before the TLS handshake";
    }
    tls->failures++;
    snprintf(reason, sizeof(reason), "TLS handshake failed: %s",
             tls_bev_reason(bev, why, sizeof(why)));
    log_warning("TLS client %s: %s (%" PRIu64 " failed TLS handshakes so far)", peer, reason,
                tls->failures);
    return reason;
}

const char *net_tls_error_reason(struct bufferevent *bev)
{
    static char reason[300];
    char why[256];
    snprintf(reason, sizeof(reason), "TLS error: %s", tls_bev_reason(bev, why, sizeof(why)));
    return reason;
}

enum net_peer_cert net_tls_peer_cert_name(struct bufferevent *bev, bool common_name,
                                          char *buf, size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl)
        return NET_PEER_CERT_NOT_TLS;
    X509 *cert = SSL_get_peer_certificate(ssl);
    if (!cert)
        return NET_PEER_CERT_NONE;
    enum net_peer_cert r = NET_PEER_CERT_OK;
    X509_NAME *subject = X509_get_subject_name(cert);
    if (SSL_get_verify_result(ssl) != X509_V_OK) {
        r = NET_PEER_CERT_NONE;
    } else if (common_name) {
        int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        X509_NAME_ENTRY *ent = i >= 0 ? X509_NAME_get_entry(subject, i) : NULL;
        unsigned char *utf8 = NULL;
        int n = ent ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent)) : -1;
        if (n <= 0) {
            r = NET_PEER_CERT_NO_NAME;
        } else {
            snprintf(buf, len, "%.*s", n, (const char *)utf8);
        }
        OPENSSL_free(utf8);
    } else {
        /* RFC 2253/4514 form, UTF-8 kept as is (RabbitMQ's form) */
        BIO *bio = BIO_new(BIO_s_mem());
        if (!bio || X509_NAME_print_ex(bio, subject, 0,
                                       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
            r = NET_PEER_CERT_NO_NAME;
        } else {
            char *data = NULL;
            long n = BIO_get_mem_data(bio, &data);
            if (n <= 0)
                r = NET_PEER_CERT_NO_NAME;
            else
                snprintf(buf, len, "%.*s", (int)n, data);
        }
        BIO_free(bio);
    }
    X509_free(cert);
    return r;
}

#else /* !HAVE_OPENSSL */

struct net_tls {
    int unused;
};

bool net_tls_available(void)
{
    return false;
}

struct net_tls *net_tls_new(const struct net_tls_opts *o, char *err, size_t errlen)
{
    EDAD_UNUSED(o);
    snprintf(err, errlen, "edad was built without TLS support (configure found no OpenSSL "
             "and libevent_openssl)");
    return NULL;
}

void net_tls_free(struct net_tls *tls)
{
    free(tls);
}

uint64_t net_tls_handshake_failures(const struct net_tls *tls)
{
    EDAD_UNUSED(tls);
    return 0;
}

uint64_t net_tls_handshakes(const struct net_tls *tls)
{
    EDAD_UNUSED(tls);
    return 0;
}

struct bufferevent *net_tls_bufferevent_new(struct net_tls *tls, struct event_base *base,
                                            evutil_socket_t fd)
{
    EDAD_UNUSED(tls);
    EDAD_UNUSED(base);
    EDAD_UNUSED(fd);
    return NULL;
}

void net_tls_handshake_done(struct net_tls *tls)
{
    EDAD_UNUSED(tls);
}

const char *net_tls_handshake_failed(struct net_tls *tls, struct bufferevent *bev,
                                     const char *peer)
{
    EDAD_UNUSED(tls);
    EDAD_UNUSED(bev);
    EDAD_UNUSED(peer);
    return "TLS unavailable";
}

const char *net_tls_error_reason(struct bufferevent *bev)
{
    EDAD_UNUSED(bev);
    return "TLS unavailable";
}

enum net_peer_cert net_tls_peer_cert_name(struct bufferevent *bev, bool common_name,
                                          char *buf, size_t len)
{
    EDAD_UNUSED(bev);
    EDAD_UNUSED(common_name);
    EDAD_UNUSED(buf);
    EDAD_UNUSED(len);
    return NET_PEER_CERT_NOT_TLS;
}

#endif /* HAVE_OPENSSL */
