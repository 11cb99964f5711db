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
#include <sqlite3.h>

/* Run SQL (one of the steps back below, then the PRAGMA user_version of
 * the version it reaches) on the closed database at PATH. */
static inline void back_to(const char *path, const char *sql)
{
        sqlite3 *db;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
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
