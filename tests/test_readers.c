/* test_readers.c: another process on the database (protocol.md "erase"
 * rev 2, daemon.md "Faults of the store"): a read transaction elsewhere (a
 * backup, `sqlite3`, a report) never makes the daemon wait: an erase is
 * answered at once with "wiped": false and the log is wiped once the
 * reader ends; a writer elsewhere makes a batch `unavailable` at once. */
#include "faults_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* Another process's connection to PATH, holding a read transaction (a
 * backup, `sqlite3`, a report): BEGIN, then a read. */
static sqlite3 *other_reader(const char *path)
{
        sqlite3 *db;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(
                sqlite3_exec(db, "BEGIN; SELECT count(*) FROM referrals", NULL, NULL, NULL),
                SQLITE_OK);
        return db;
}

static void end_other(sqlite3 *db)
{
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* What the daemon logs meanwhile: stderr into a file, and back. */
struct captured {
        char path[300];
        int saved;
};

static void capture_log(struct fx *f, struct captured *c)
{
        int fd;

        snprintf(c->path, sizeof c->path, "%s/log", f->dir);
        fflush(stderr);
        c->saved = dup(2);
        fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        dup2(fd, 2);
        close(fd);
}

/* Stop capturing; whether the log holds TEXT. */
static bool log_has(struct captured *c, const char *text)
{
        fflush(stderr);
        dup2(c->saved, 2);
        close(c->saved);
        return in_files(c->path, text);
}

static bool wiped(const json_t *reply)
{
        assert_true(json_is_true(json_object_get(reply, "ok")));
        assert_true(json_is_boolean(json_object_get(reply, "wiped")));
        return json_is_true(json_object_get(reply, "wiped"));
}

static json_t *erase(struct fx *f, int64_t now, const char *id)
{
        int64_t t = rd_mono_ms();
        json_t *rep = call(f, now, "{\"op\": \"erase\", \"id\": \"%s\"}", id);

        /* the reply never waits on the database lock */
        assert_true(rd_mono_ms() - t < 1000);
        return rep;
}

static void
an_erase_while_another_process_reads_is_answered_at_once_and_wiped_when_it_ends(void **state)
{
        struct fx *f = *state;
        const char *note = "private-note-of-base-0";
        struct captured log;
        sqlite3 *other;
        json_t *rep;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms()), -1); /* at start: nothing kept */
        rep = erase(f, T0 + HOUR, f->base[5]);
        assert_true(wiped(rep)); /* nobody else reads: gone at once */
        json_decref(rep);

        other = other_reader(f->path);
        capture_log(f, &log);
        rep = erase(f, T0 + HOUR, f->base[0]);
        assert_false(wiped(rep));
        json_decref(rep);
        assert_true(in_files(f->path, note));
        /* every other request is served as usual */
        rep = call(f, T0 + HOUR, "{\"op\": \"submit\", \"referral\": %s}",
                   referral_json("DURING", false, false, NULL));
        assert_true(json_is_true(json_object_get(rep, "ok")));
        json_decref(rep);
        /* erasing again answers the current state; an erase wiped before
         * says so */
        rep = erase(f, T0 + HOUR, f->base[0]);
        assert_false(wiped(rep));
        json_decref(rep);
        rep = erase(f, T0 + HOUR, f->base[5]);
        assert_true(wiped(rep));
        json_decref(rep);
        /* the loop tries again, never waiting, while the reader reads */
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 1000), 200);
        assert_true(in_files(f->path, note));
        end_other(other);
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 2000), -1);
        assert_true(log_has(&log, "another process holds a read transaction on the database"));
        assert_false(in_files(f->path, note));
        rep = erase(f, T0 + HOUR, f->base[0]);
        assert_true(wiped(rep));
        json_decref(rep);
}

static void retention_while_another_process_reads_wipes_when_it_ends(void **state)
{
        struct fx *f = *state;
        const char *note = "private-note-of-base-1";
        struct captured log;
        sqlite3 *other;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);
        rd_hub_set_retention(f->hub, 24 * 3600);
        json_decref(call(f, T0 + HOUR,
                         "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"closed\", "
                         "\"connector\": \"%s\"}",
                         f->base[1], f->base_conn[1]));
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms()), -1);
        other = other_reader(f->path);
        capture_log(f, &log);
        assert_int_equal(tick(f, T0 + HOUR + 2 * DAY), RD_TXN_COMMITTED);
        assert_true(in_files(f->path, note));
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 1000), 200);
        end_other(other);
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 2000), -1);
        assert_true(log_has(&log, "another process holds a read transaction on the database"));
        assert_false(in_files(f->path, note));
}

static void a_writer_elsewhere_makes_a_batch_unavailable_at_once_and_then_it_serves(void **state)
{
        struct fx *f = *state;
        struct req r = {.text = "{\"op\": \"ping\"}"};
        json_t *rep;
        sqlite3 *other;
        int64_t t;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);
        assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        t = rd_mono_ms();
        assert_int_equal(batch(f, &r, &rep, 1, T0 + HOUR), RD_TXN_FAILED);
        assert_true(rd_mono_ms() - t < 1000);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(rep, "error"), "code")),
                "unavailable");
        json_decref(rep);
        assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        json_decref(call(f, T0 + HOUR, "{\"op\": \"ping\"}"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(an_erase_while_another_process_reads_is_answered_at_once_and_wiped_when_it_ends),
                T(retention_while_another_process_reads_wipes_when_it_ends),
                T(a_writer_elsewhere_makes_a_batch_unavailable_at_once_and_then_it_serves),
        };
        rd_log_init(RD_LOG_CONSOLE);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
