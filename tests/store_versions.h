/* store_versions.h: the SQL that takes a database of this build's schema
 * back to an earlier schema version, for the tests of the migrations
 * (test_store.c, test_store_stats.c). Each undoes one step of
 * lib/store_sqlite_sql.c and the steps after it (BACK_TO_PG_*: of
 * lib/store_pg_sql.c). */
#ifndef RD_TEST_STORE_VERSIONS_H
#define RD_TEST_STORE_VERSIONS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_sqlite.h" /* sq_migrations: the released steps' SQL */

/* What schema version 11 took away, put back into the open database DB:
 * the trigger tallies_in, as the step 6 -> 7 made it. */
static inline void put_back_tallies_in(sqlite3 *db)
{
        const char *from = strstr(sq_migrations[6], "CREATE TRIGGER tallies_in ");
        const char *to = from ? strstr(from, "END;") : NULL;
        char *sql;

        assert_non_null(to);
        sql = strndup(from, (size_t)(to + 4 - from));
        assert_non_null(sql);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        free(sql);
}

/* Take the closed database at PATH back to version 10 (put_back_tallies_in). */
static inline void back_to_version_10(const char *path)
{
        sqlite3 *db;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        put_back_tallies_in(db);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 10", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* What schema version 10 added (events in a compact form), taken away
 * from the database at PATH: every event as the JSON text a read makes of
 * it, in body, and the column ev dropped. */
static inline void back_to_version_9(const char *path)
{
        struct rd_store *store;
        char errbuf[256];
        json_t *arr = json_array(), *ev;
        sqlite3 *db;
        sqlite3_stmt *st;
        size_t i;

        assert_int_equal(rd_store_open(path, false, &store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_events(store, 0, INT64_MAX, NULL, arr), 0);
        rd_store_close(store);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "UPDATE events SET body = ?2 WHERE seq = ?1"
                                            " AND body = ''",
                                            -1, &st, NULL),
                         SQLITE_OK);
        json_array_foreach(arr, i, ev)
        {
                char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

                assert_non_null(text);
                sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(ev, "seq")));
                sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
                assert_int_equal(sqlite3_step(st), SQLITE_DONE);
                sqlite3_reset(st);
                free(text);
        }
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_exec(db, "ALTER TABLE events DROP COLUMN ev", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        json_decref(arr);
}

/* Take the closed database at PATH back to version 9 (back_to_version_9,
 * put_back_tallies_in), then run SQL (one of the steps back below, then
 * the PRAGMA user_version of the version it reaches) on it. */
static inline void back_to(const char *path, const char *sql)
{
        sqlite3 *db;

        back_to_version_9(path);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        put_back_tallies_in(db);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

/* What schema version 9 added (the routing file by reference), taken
 * away again. */
#define BACK_TO_VERSION_8 "ALTER TABLE referrals DROP COLUMN rules_file;"

/* What schema version 8 changed (fewer indexes), undone: the indexes of
 * version 7 made again. */
#define BACK_TO_VERSION_7                                                                          \
        BACK_TO_VERSION_8                                                                          \
        "DROP INDEX referrals_window_due;"                                                         \
        "CREATE INDEX referrals_open ON referrals (status)"                                        \
        "  WHERE status = 1 OR status = 2 OR status = 4 OR status = 5;"                            \
        "CREATE INDEX referrals_at_risk_due ON referrals (start_by_ms)"                            \
        "  WHERE (status = 1 OR status = 2 OR status = 4) AND at_risk_fired = 0"                   \
        "  AND start_by_ms > 0;"                                                                   \
        "CREATE INDEX referrals_missed_due ON referrals (start_by_ms)"                             \
        "  WHERE (status = 1 OR status = 2 OR status = 4) AND missed_fired = 0"                    \
        "  AND start_by_ms > 0;"                                                                   \
        "CREATE INDEX audit_at ON audit (at_ms);"                                                  \
        "CREATE INDEX referrals_figures ON referrals (status, forward_to, received_ms,"            \
        "  first_offered_ms, started_ms, start_by_ms);"                                            \
        "CREATE INDEX referrals_missed ON referrals (start_by_ms) WHERE missed_fired = 1;"

/* What schema version 7 added (the figures' counts), taken away again. */
#define BACK_TO_VERSION_6                                                                          \
        BACK_TO_VERSION_7                                                                          \
        "DROP TRIGGER tallies_in; DROP TRIGGER tallies_out; DROP TRIGGER tallies_change;"          \
        "DROP TRIGGER forwards_in; DROP TRIGGER forwards_out; DROP TRIGGER forwards_change;"       \
        "DROP TRIGGER reasons_in; DROP TRIGGER reasons_out; DROP TRIGGER reasons_change;"          \
        "DROP TABLE tallies; DROP TABLE forward_counts; DROP TABLE reason_counts;"                 \
        "DROP INDEX referrals_waiting_since;"

/* What schema version 6 changed (the status lists as equalities) needs no
 * undoing: the step to version 6 makes those indexes anew. */
#define BACK_TO_VERSION_5 BACK_TO_VERSION_6

/* The PostgreSQL driver's schema (lib/store_pg_sql.c) taken back from
 * version 2 to version 1: what step 1 -> 2 added (the figures' counts)
 * taken away, the indexes it dropped made again. Run on the schema with
 * libpq, then "UPDATE rd_schema SET version = 1". */
#define BACK_TO_PG_VERSION_1                                                                       \
        "DROP FUNCTION tallies_follow() CASCADE; DROP FUNCTION forwards_follow() CASCADE;"         \
        "DROP FUNCTION reasons_follow() CASCADE; DROP FUNCTION tallies_of(referrals, bigint);"     \
        "DROP FUNCTION rd_duration_bucket(bigint);"                                                \
        "DROP TABLE tallies; DROP TABLE tally_deltas;"                                             \
        "DROP TABLE forward_counts; DROP TABLE reason_counts;"                                     \
        "DROP INDEX referrals_waiting_since; DROP INDEX referrals_window_due;"                     \
        "CREATE INDEX referrals_open ON referrals (status) WHERE status IN (1, 2, 4, 5);"          \
        "CREATE INDEX referrals_at_risk_due ON referrals (start_by_ms, rowid)"                     \
        "  WHERE status IN (1, 2, 4) AND at_risk_fired = 0 AND start_by_ms > 0;"                   \
        "CREATE INDEX referrals_missed_due ON referrals (start_by_ms, rowid)"                      \
        "  WHERE status IN (1, 2, 4) AND missed_fired = 0 AND start_by_ms > 0;"                    \
        "CREATE INDEX referrals_figures ON referrals (status, forward_to, received_ms,"            \
        "  first_offered_ms, started_ms, start_by_ms);"                                            \
        "CREATE INDEX referrals_missed ON referrals (start_by_ms) WHERE missed_fired = 1;"         \
        "CREATE INDEX audit_at ON audit (at_ms);"                                                  \
        "DROP INDEX events_referral;"                                                              \
        "CREATE INDEX events_referral ON events (referral) WHERE referral IS NOT NULL;"

#endif
