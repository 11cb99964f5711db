/* test_sqlite_mem.c: lib/sqlite_mem, SQLite's memory through a cache of
 * the blocks it freed. Through SQLite's own functions (sqlite3_malloc,
 * sqlite3_realloc, sqlite3_free), as SQLite itself calls them: what a
 * block holds survives every change of size, the cache keeps at most
 * RD_SQLITE_MEM_BYTES, and a thread that ends gives its blocks back.
 * Under AddressSanitizer the cache is not installed and only the first
 * test applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define CACHE_OFF 1
#endif

static void fill(unsigned char *p, size_t n, unsigned seed)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)(seed + i * 7);
}

static void assert_filled(const unsigned char *p, size_t n, unsigned seed)
{
        for (size_t i = 0; i < n; i++)
                assert_int_equal(p[i], (unsigned char)(seed + i * 7));
}

static void a_block_keeps_what_it_holds_whatever_its_size_becomes(void **state)
{
        /* small to larger small, to large, larger, back to small */
        static const int sizes[] = {24, 100, 1000, 5000, 70000, 300, 8};
        unsigned char *p = sqlite3_malloc(sizes[0]);
        int held = sizes[0];

        (void)state;
        assert_non_null(p);
        fill(p, (size_t)held, 3);
        for (size_t i = 1; i < sizeof sizes / sizeof sizes[0]; i++) {
                int keep = held < sizes[i] ? held : sizes[i];

                p = sqlite3_realloc(p, sizes[i]);
                assert_non_null(p);
                assert_true(sqlite3_msize(p) >= (sqlite3_uint64)sizes[i]);
                assert_filled(p, (size_t)keep, 3);
                fill(p, (size_t)sizes[i], 3);
                held = sizes[i];
        }
        sqlite3_free(p);
        sqlite3_free(NULL);
}

#ifndef CACHE_OFF
/* Bytes glibc has handed out and not had back (every thread's: main()
 * keeps them to one arena). */
static size_t in_use(void)
{
        return mallinfo2().uordblks;
}

static void a_freed_block_is_taken_again_for_the_same_size(void **state)
{
        void *p = sqlite3_malloc(700), *q;

        (void)state;
        assert_int_equal(sqlite3_msize(p), 704); /* sizes 16 bytes apart */
        sqlite3_free(p);
        q = sqlite3_malloc(690);
        assert_ptr_equal(q, p);
        sqlite3_free(q);
}

/* A burst that made SQLite hold much more than the cache keeps: all but
 * the cache's share goes back to malloc. */
static void the_cache_keeps_at_most_its_bytes(void **state)
{
        enum { N = 2000, SIZE = 4000 }; /* 8 MB */
        void **v = calloc(N, sizeof *v);
        size_t before, held, after;

        (void)state;
        assert_non_null(v);
        before = in_use();
        for (size_t i = 0; i < N; i++)
                assert_non_null(v[i] = sqlite3_malloc(SIZE));
        held = in_use();
        assert_true(held - before >= (size_t)N * SIZE);
        for (size_t i = 0; i < N; i++)
                sqlite3_free(v[i]);
        after = in_use();
        assert_true(after <= before + RD_SQLITE_MEM_BYTES);
        assert_true(after + (size_t)N * SIZE - RD_SQLITE_MEM_BYTES - 64 * 1024 <= held);
        free(v);
}

static void *use_and_end(void *arg)
{
        void *v[200];

        (void)arg;
        for (size_t i = 0; i < 200; i++)
                v[i] = sqlite3_malloc(200 + (int)i * 16);
        for (size_t i = 0; i < 200; i++)
                sqlite3_free(v[i]);
        return NULL;
}

static void a_thread_that_ends_gives_its_blocks_back(void **state)
{
        pthread_t t;
        size_t before = in_use();

        (void)state;
        assert_int_equal(pthread_create(&t, NULL, use_and_end, NULL), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        /* 200 blocks of 200 to 3,400 bytes were kept by it: none stays */
        assert_true(in_use() <= before + 4096);
}
#endif

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_block_keeps_what_it_holds_whatever_its_size_becomes),
#ifndef CACHE_OFF
                cmocka_unit_test(a_freed_block_is_taken_again_for_the_same_size),
                cmocka_unit_test(the_cache_keeps_at_most_its_bytes),
                cmocka_unit_test(a_thread_that_ends_gives_its_blocks_back),
#endif
        };

        mallopt(M_ARENA_MAX, 1); /* so that mallinfo2 counts the threads' blocks */
        /* before SQLite is first used, as rd_store_open does */
        assert_int_equal(rd_sqlite_mem_install(), 0);
        assert_int_equal(rd_sqlite_mem_install(), 0); /* again: nothing more */
        return cmocka_run_group_tests(tests, NULL, NULL);
}
