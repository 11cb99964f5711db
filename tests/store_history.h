/* store_history.h: a history longer than its limit, as get reads it
 * (store.h, rd_store_history), checked alike on each driver: test_store.c
 * (SQLite) and test_store_pg.c (PostgreSQL) make the history, this checks
 * what the store reads of it. */
#ifndef RD_TEST_STORE_HISTORY_H
#define RD_TEST_STORE_HISTORY_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>

#include "store.h"

/* The seq of each event in ARR, in a string ("3 4 5"). */
static inline const char *seqs_of(const json_t *arr, char *buf, size_t size)
{
        size_t i, at = 0;

        buf[0] = '\0';
        for (i = 0; i < json_array_size(arr) && at < size; i++)
                at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? " " : "",
                                       (long long)json_integer_value(
                                               json_object_get(json_array_get(arr, i), "seq")));
        return buf;
}

/* The referral ROWID of S has the events of seq 2 to 6 (and the event of
 * seq 1 is another's): each limit reads the newest, oldest first, and
 * counts the rest; a limit below 1 is refused. */
static inline void assert_history_limits(struct rd_store *s, int64_t rowid)
{
        static const struct {
                int64_t limit;
                const char *seqs;
                int64_t omitted;
        } cases[] = {
                {1, "6", 4},         {2, "5 6", 3},       {4, "3 4 5 6", 1},
                {5, "2 3 4 5 6", 0}, {6, "2 3 4 5 6", 0},
        };
        json_t *arr = json_array();
        int64_t omitted;
        char buf[64];

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                omitted = -1;
                json_array_clear(arr);
                assert_int_equal(rd_store_history(s, rowid, cases[i].limit, arr, &omitted), 0);
                assert_string_equal(seqs_of(arr, buf, sizeof buf), cases[i].seqs);
                assert_int_equal(omitted, cases[i].omitted);
        }
        omitted = -1;
        assert_int_equal(rd_store_history(s, rowid, 0, arr, &omitted), -EINVAL);
        assert_int_equal(omitted, -1);
        json_decref(arr);
}

#endif
