/*
 * codec.c - the broker's window into messages: the codec the session
 * registers (application headers, basic properties, header rewrite) and
 * the scratch arena its answers live in during one routing step.  The
 * broker itself never decodes AMQP; without a codec a message looks as if
 * it had no headers and no properties.
 */
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "exchange_int.h"

void broker_set_codec(struct broker *b, const struct broker_codec *codec)
{
    if (codec)
        b->codec = *codec;
    else
        memset(&b->codec, 0, sizeof(b->codec));
}

void broker_codec_free(struct broker *b)
{
    /* sessions unregister their reply consumers before the broker goes;
     * whatever is left (tests) is freed here */
    for (uint32_t i = 0; i < hmap_capacity(&b->replies); i++) {
        void *r = b->replies.slots[i].item;
        if (r)
            free(r);
    }
    hmap_free(&b->replies);
    arena_free(&b->scratch);
}

const struct broker_table *codec_headers(struct broker *b, const struct message *m)
{
    if (!b->codec.headers)
        return NULL;
    return b->codec.headers(b->codec.ctx, m, &b->scratch);
}

bool codec_property(struct broker *b, const struct message *m, const char *name,
                    struct edad_bytes *out)
{
    if (!b->codec.property)
        return false;
    return b->codec.property(b->codec.ctx, m, name, &b->scratch, out);
}

void codec_reset(struct broker *b)
{
    arena_reset(&b->scratch);
}
