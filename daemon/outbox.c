/* outbox.c: bytes held per connection, counted up on the loop's thread and
 * down in the free function of each message, on ZeroMQ's I/O thread. A
 * connection is looked up by its routing id in a tsearch tree and kept in
 * a list for the sweep; both only on the loop's thread. */
#include "outbox.h"

#include <errno.h>
#include <search.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"

/* A routing id; the first member of a connection, so that the tree
 * compares connections and a key on the stack alike. */
struct id {
        size_t len;
        const unsigned char *bytes;
};

struct rd_outbox_conn {
        struct id key;      /* points at id[] */
        atomic_size_t held; /* bytes of messages not yet freed */
        size_t budget;
        bool refusing; /* a reply did not fit: until half the budget is free again */
        struct rd_outbox_conn *next;
        unsigned char id[]; /* the ROUTER routing id */
};

struct rd_outbox {
        void *tree; /* of struct rd_outbox_conn, by routing id */
        struct rd_outbox_conn *all;
        size_t budget;
};

/* What a message's free function gives back, and to whom. */
struct charge {
        struct rd_outbox_conn *conn;
        size_t bytes;
};

static int by_id(const void *a, const void *b)
{
        const struct id *x = a, *y = b;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return memcmp(x->bytes, y->bytes, x->len);
}

int rd_outbox_new(size_t budget, struct rd_outbox **out)
{
        struct rd_outbox *box = calloc(1, sizeof *box);

        if (!box)
                return -ENOMEM;
        box->budget = budget;
        *out = box;
        return 0;
}

static void no_free(void *node)
{
        (void)node; /* the list owns the connections */
}

void rd_outbox_free(struct rd_outbox *box)
{
        if (!box)
                return;
        tdestroy(box->tree, no_free);
        while (box->all) {
                struct rd_outbox_conn *next = box->all->next;
                free(box->all);
                box->all = next;
        }
        free(box);
}

struct rd_outbox_conn *rd_outbox_conn(struct rd_outbox *box, const void *id, size_t len)
{
        struct id key = {.len = len, .bytes = id};
        struct rd_outbox_conn *c, **found;

        found = tfind(&key, &box->tree, by_id);
        if (found)
                return *found;
        c = calloc(1, sizeof *c + len);
        if (!c)
                return NULL;
        atomic_init(&c->held, 0);
        c->budget = box->budget;
        memcpy(c->id, id, len);
        c->key.len = len;
        c->key.bytes = c->id;
        if (!tsearch(c, &box->tree, by_id)) {
                free(c);
                return NULL;
        }
        c->next = box->all;
        box->all = c;
        return c;
}

size_t rd_outbox_held(const struct rd_outbox_conn *c)
{
        return atomic_load(&c->held);
}

int rd_outbox_full(struct rd_outbox_conn *c)
{
        size_t held = rd_outbox_held(c);

        if (c->refusing && held <= c->budget / 2)
                c->refusing = false; /* it reads again */
        return c->refusing || held + RD_REPLY_OVERHEAD > c->budget;
}

/* ZeroMQ is done with a message (on its I/O thread, or in zmq_msg_close):
 * give its bytes back. The count is the last thing touched: once it drops
 * to 0 the loop may free the connection. */
static void release(void *data, void *hint)
{
        struct charge *ch = hint;
        struct rd_outbox_conn *c = ch->conn;
        size_t bytes = ch->bytes;

        free(ch);
        free(data);
        atomic_fetch_sub(&c->held, bytes);
}

int rd_outbox_msg(struct rd_outbox_conn *c, char *text, size_t len, zmq_msg_t *msg)
{
        size_t bytes = len + RD_REPLY_OVERHEAD;
        struct charge *ch;

        if (rd_outbox_held(c) + bytes > c->budget) {
                c->refusing = true;
                free(text);
                return -ENOBUFS;
        }
        ch = malloc(sizeof *ch);
        if (!ch) {
                free(text);
                return -ENOMEM;
        }
        ch->conn = c;
        ch->bytes = bytes;
        atomic_fetch_add(&c->held, bytes);
        if (zmq_msg_init_data(msg, text, len, release, ch) < 0) {
                atomic_fetch_sub(&c->held, bytes);
                free(ch);
                free(text);
                return -ENOMEM;
        }
        return 0;
}

void rd_outbox_sweep(struct rd_outbox *box)
{
        struct rd_outbox_conn **p = &box->all;

        while (*p) {
                struct rd_outbox_conn *c = *p;
                /* only this thread adds to held: 0 stays 0 until it does */
                if (atomic_load(&c->held) == 0) {
                        tdelete(c, &box->tree, by_id);
                        *p = c->next;
                        free(c);
                } else {
                        p = &c->next;
                }
        }
}
