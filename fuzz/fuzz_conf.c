/*
 * fuzz_conf.c - libFuzzer target for the configuration parser: any bytes as
 * a conf file, then the reload and lookup paths over the result.  Checks
 * memory safety and leaks only (ASan/UBSan); it asserts nothing about which
 * inputs are valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edad/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct edad_conf c, live;
    char err[256];
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    log_set_level(EDAD_LOG_NONE);   /* reload warnings are expected noise */

    conf_init(&c);
    conf_load_string(&c, "fuzz.conf", text, err, sizeof(err));
    conf_init(&live);
    conf_apply_reloadable(&live, &c);
    conf_apply_reloadable(&live, &c);
    (void)conf_is_loopback_user(&c, "guest");
    /* the first line as a -s key=value override */
    char *eq = strchr(text, '=');
    if (eq) {
        char *nl = strchr(eq, '\n');
        if (nl)
            *nl = '\0';
        *eq = '\0';
        conf_set(&c, text, eq + 1, err, sizeof(err));
        (void)conf_key_is_reloadable(text);
    }
    conf_free(&live);
    conf_free(&c);
    free(text);
    return 0;
}
