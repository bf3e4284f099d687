/*
 * timer.c - the broker's clock and timers: one min-heap of intrusive
 * timers (one per queue or exchange and purpose, never one per message),
 * the "next deadline" the server arms its single loop timer for, and the
 * run that fires what is due.  No event loop here: the server drives it.
 */
#include <stdlib.h>

#include "broker_int.h"

/* ---- clock ---------------------------------------------------------------------- */

void broker_set_clock(struct broker *b, uint64_t (*now_ms)(void *ctx), void *ctx)
{
    b->clock = now_ms;
    b->clock_ctx = ctx;
}

uint64_t broker_now_ms(const struct broker *b)
{
    return b->clock ? b->clock(b->clock_ctx) : clock_mono_ms();
}

void broker_set_timer_wakeup(struct broker *b, void (*fn)(void *ctx), void *ctx)
{
    b->timer_wakeup = fn;
    b->timer_wakeup_ctx = ctx;
}

/* ---- heap ------------------------------------------------------------------------- */

static void heap_set(struct broker *b, uint32_t i, struct broker_timer *t)
{
    b->timers[i] = t;
    t->slot = i + 1;
}

static void heap_up(struct broker *b, uint32_t i)
{
    struct broker_timer *t = b->timers[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (b->timers[p]->due_ms <= t->due_ms)
            break;
        heap_set(b, i, b->timers[p]);
        i = p;
    }
    heap_set(b, i, t);
}

static void heap_down(struct broker *b, uint32_t i)
{
    struct broker_timer *t = b->timers[i];
    uint32_t n = b->ntimers;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && b->timers[c + 1]->due_ms < b->timers[c]->due_ms)
            c++;
        if (t->due_ms <= b->timers[c]->due_ms)
            break;
        heap_set(b, i, b->timers[c]);
        i = c;
    }
    heap_set(b, i, t);
}

static void heap_remove_at(struct broker *b, uint32_t i)
{
    struct broker_timer *t = b->timers[i];
    t->slot = 0;
    struct broker_timer *last = b->timers[--b->ntimers];
    if (i == b->ntimers)
        return;
    heap_set(b, i, last);
    if (i > 0 && b->timers[(i - 1) / 2]->due_ms > last->due_ms)
        heap_up(b, i);
    else
        heap_down(b, i);
}

void broker_timer_arm(struct broker *b, struct broker_timer *t, uint64_t due_ms)
{
    t->gen = b->timer_gen;
    if (t->slot) {
        uint64_t old = t->due_ms;
        t->due_ms = due_ms;
        if (due_ms < old)
            heap_up(b, t->slot - 1);
        else if (due_ms > old)
            heap_down(b, t->slot - 1);
    } else {
        if (b->ntimers == b->timers_cap) {
            b->timers_cap = b->timers_cap ? b->timers_cap * 2 : 16;
            b->timers = xrealloc(b->timers, sizeof(*b->timers) * b->timers_cap);
        }
        t->due_ms = due_ms;
        b->timers[b->ntimers] = t;
        t->slot = b->ntimers + 1;
        b->ntimers++;
        heap_up(b, b->ntimers - 1);
    }
    if (due_ms < b->deadline_reported) {
        /* earlier than what the server armed for: tell it once */
        b->deadline_reported = due_ms;
        if (b->timer_wakeup)
            b->timer_wakeup(b->timer_wakeup_ctx);
    }
}

void broker_timer_cancel(struct broker *b, struct broker_timer *t)
{
    if (t->slot)
        heap_remove_at(b, t->slot - 1);
}

void broker_timers_free(struct broker *b)
{
    for (uint32_t i = 0; i < b->ntimers; i++)
        b->timers[i]->slot = 0;
    free(b->timers);
    b->timers = NULL;
    b->ntimers = b->timers_cap = 0;
}

/* ---- deadline and run ---------------------------------------------------------------- */

uint64_t broker_next_deadline_ms(struct broker *b)
{
    uint64_t d = b->ntimers ? b->timers[0]->due_ms : UINT64_MAX;
    b->deadline_reported = d;
    return d;
}

void broker_run_timers(struct broker *b, uint64_t now_ms)
{
    /* timers armed during this run belong to the next one */
    uint64_t gen = ++b->timer_gen;
    while (b->ntimers) {
        struct broker_timer *t = b->timers[0];
        if (t->due_ms > now_ms || t->gen == gen)
            break;
        heap_remove_at(b, 0);
        t->fire(t, now_ms);
    }
}
