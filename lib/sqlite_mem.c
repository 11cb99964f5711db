/* sqlite_mem.c: SQLite's memory through a cache of the blocks it freed
 * (sqlite_mem.h). SQLite calls these from whichever thread runs it,
 * serialised or not (SQLITE_CONFIG_MEMSTATUS), so each thread has lists
 * of its own; a block freed by another thread than the one that took it
 * goes to the lists of the thread that frees it. A thread's lists go back
 * to malloc when it ends. Under AddressSanitizer nothing is installed:
 * blocks reused here would hide a use after free from it. */
#include "sqlite_mem.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define RD_SQLITE_MEM_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RD_SQLITE_MEM_OFF 1
#endif
#endif

#ifndef RD_SQLITE_MEM_OFF

#define GRAIN 16 /* sizes kept are multiples of this, up to RD_SQLITE_MEM_MAX */
#define N_SIZES (RD_SQLITE_MEM_MAX / GRAIN)

/* Before each block: its usable size (16 bytes, so that the block keeps
 * malloc's alignment). */
struct head {
        size_t size;
        size_t unused;
};

struct free_block {
        struct free_block *next;
};

/* A thread's lists: blocks of (i + 1) * GRAIN bytes in first[i], n[i] of
 * them, BYTES in all. */
struct lists {
        struct free_block *first[N_SIZES];
        unsigned short n[N_SIZES];
        size_t bytes;
        bool registered; /* drained when the thread ends */
};

static _Thread_local struct lists mine;
static pthread_key_t drain_key;

static void drain(void *unused)
{
        (void)unused;
        for (size_t i = 0; i < N_SIZES; i++) {
                while (mine.first[i]) {
                        struct free_block *b = mine.first[i];

                        mine.first[i] = b->next;
                        free((struct head *)b - 1);
                }
                mine.n[i] = 0;
        }
        mine.bytes = 0;
        mine.registered = false; /* what is freed from now on goes to free */
}

static size_t rounded(int n)
{
        size_t s = n > 0 ? (size_t)n : 1;

        return s <= RD_SQLITE_MEM_MAX ? (s + GRAIN - 1) & ~(size_t)(GRAIN - 1)
                                      : (s + 7) & ~(size_t)7;
}

static void *from_malloc(size_t size)
{
        struct head *h = malloc(sizeof *h + size);

        if (!h)
                return NULL;
        h->size = size;
        return h + 1;
}

static void *mem_malloc(int n)
{
        size_t size = rounded(n);

        if (size <= RD_SQLITE_MEM_MAX) {
                size_t i = size / GRAIN - 1;
                struct free_block *b = mine.first[i];

                if (b) {
                        mine.first[i] = b->next;
                        mine.n[i]--;
                        mine.bytes -= size;
                        return b;
                }
                if (!mine.registered) /* the first block of this thread: kept from now on */
                        mine.registered = pthread_setspecific(drain_key, &mine) == 0;
        }
        return from_malloc(size);
}

static void mem_free(void *p)
{
        struct head *h = (struct head *)p - 1;

        if (h->size <= RD_SQLITE_MEM_MAX && mine.registered) {
                size_t i = h->size / GRAIN - 1;

                if (mine.n[i] < RD_SQLITE_MEM_KEEP && mine.bytes + h->size <= RD_SQLITE_MEM_BYTES) {
                        struct free_block *b = p;

                        b->next = mine.first[i];
                        mine.first[i] = b;
                        mine.n[i]++;
                        mine.bytes += h->size;
                        return;
                }
        }
        free(h);
}

static int mem_size(void *p)
{
        return p ? (int)((struct head *)p - 1)->size : 0;
}

static void *mem_realloc(void *p, int n)
{
        struct head *h = (struct head *)p - 1;
        size_t size = rounded(n);
        void *q;

        if (size <= h->size && (size > RD_SQLITE_MEM_MAX) == (h->size > RD_SQLITE_MEM_MAX))
                return p; /* it fits, and stays of its kind */
        if (size > RD_SQLITE_MEM_MAX && h->size > RD_SQLITE_MEM_MAX) {
                h = realloc(h, sizeof *h + size);
                if (!h)
                        return NULL;
                h->size = size;
                return h + 1;
        }
        q = mem_malloc(n);
        if (!q)
                return NULL;
        memcpy(q, p, h->size < size ? h->size : size);
        mem_free(p);
        return q;
}

static int mem_roundup(int n)
{
        return (int)rounded(n);
}

static int mem_init(void *unused)
{
        (void)unused;
        return SQLITE_OK;
}

static void mem_shutdown(void *unused)
{
        drain(unused);
}

static int installed;

static void install(void)
{
        static const sqlite3_mem_methods m = {
                mem_malloc,  mem_free, mem_realloc,  mem_size,
                mem_roundup, mem_init, mem_shutdown, NULL,
        };

        if (pthread_key_create(&drain_key, drain) != 0)
                installed = -ENOMEM;
        else if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK)
                installed = -EBUSY;
        else
                installed = 1;
}

#endif /* RD_SQLITE_MEM_OFF */

int rd_sqlite_mem_install(void)
{
#ifdef RD_SQLITE_MEM_OFF
        return 0;
#else
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        pthread_once(&once, install);
        return installed < 0 ? installed : 0;
#endif
}
